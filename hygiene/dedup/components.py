"""Connected components of verified near-duplicate edges, with a cluster-size cap.

A union-find over the rows that have at least one verified edge (not over the whole corpus: a
row without an edge is its own cluster and costs nothing). Edges are fed in a fixed order, and a
union that would make a cluster larger than ``max_cluster`` rows is skipped, so a chain of
near-duplicates (a~b, b~c, c~d, ...) can never grow into one giant cluster whose far end has
nothing in common with its representative. Without a cap (or when it never binds) the labels are
exactly the connected components, each labelled by its smallest row, whatever the edge order.
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["CappedUnionFind"]

_NO_CAP = np.iinfo(np.int64).max


@njit(cache=True, nogil=True)
def _find(parent, x):
    while parent[x] != x:
        parent[x] = parent[parent[x]]  # path halving
        x = parent[x]
    return x


@njit(cache=True, nogil=True)
def _union_edges(parent, size, a, b, cap):
    """Union a[t]-b[t] in order; the smaller index becomes the root. Returns unions refused by the cap."""
    refused = 0
    for t in range(a.shape[0]):
        ra = _find(parent, a[t])
        rb = _find(parent, b[t])
        if ra == rb:
            continue
        if size[ra] + size[rb] > cap:
            refused += 1
            continue
        if rb < ra:
            ra, rb = rb, ra
        parent[rb] = ra
        size[ra] += size[rb]
    return refused


@njit(cache=True, nogil=True)
def _flatten(parent):
    for x in range(parent.shape[0]):
        parent[x] = _find(parent, x)


class CappedUnionFind:
    """Union-find over a fixed sorted set of rows (``nodes``); the root of a set is its smallest row.

    Memory is ~24 bytes per node (row, parent, size), i.e. per row that has a verified edge.
    """

    def __init__(self, nodes: np.ndarray, max_cluster: int | None = None):
        if max_cluster is not None and (not isinstance(max_cluster, int) or max_cluster < 2):
            raise ValueError(f"max_cluster must be an int >= 2 or None, got {max_cluster!r}")
        self.nodes = np.asarray(nodes, dtype=np.int64)
        if len(self.nodes) > 1 and not np.all(self.nodes[1:] > self.nodes[:-1]):
            raise ValueError("nodes must be sorted and unique")
        self.max_cluster = max_cluster
        self._parent = np.arange(len(self.nodes), dtype=np.int64)
        self._size = np.ones(len(self.nodes), dtype=np.int64)
        self.refused = 0  # unions skipped because of the cap

    def _index(self, rows: np.ndarray) -> np.ndarray:
        rows = np.asarray(rows, dtype=np.int64)
        idx = np.searchsorted(self.nodes, rows)
        inside = np.minimum(idx, len(self.nodes) - 1)
        if len(rows) and (idx.max() >= len(self.nodes) or np.any(self.nodes[inside] != rows)):
            raise ValueError("an edge names a row that is not a node")
        return idx

    def union(self, i: np.ndarray, j: np.ndarray) -> None:
        """Join the edges (i[t], j[t]) in order."""
        cap = _NO_CAP if self.max_cluster is None else self.max_cluster
        self.refused += int(_union_edges(self._parent, self._size, self._index(i), self._index(j), cap))

    def labels(self) -> np.ndarray:
        """Per node: the smallest row of its cluster (int64)."""
        _flatten(self._parent)
        return self.nodes[self._parent]

    def largest(self) -> int:
        """Rows in the largest cluster (0 when there are no nodes)."""
        _flatten(self._parent)
        return int(np.bincount(self._parent).max()) if len(self._parent) else 0
