"""The global steps: exact and near deduplication over every row of the corpus.

Each has two stages (see :mod:`.step`): ``collect`` keeps a batch's keys or signatures, then one call on
the decision table (every row, in collection order) decides. The in-memory stages here hold the
collected arrays; a disk-backed or distributed implementation keeps the same two calls.

Decision columns: ``cluster`` (index of the row kept for this row's cluster, itself when alone),
``duplicate_of`` (the exact original, or the cluster's kept row; -1 when none) and ``similarity``
(verified Jaccard to the cluster, 1.0 for exact copies, NaN when alone), beside ``reason``.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa

from hygiene.io import columns as C

from .step import REASON, StepStats, kept_rows, set_reason
from .steps import KEY, SIGNATURE

if TYPE_CHECKING:
    from detectors.dedup import DedupConfig, NearDuplicates

__all__ = ["CLUSTER", "DUPLICATE_OF", "SIMILARITY", "ExactDedup", "NearDedup", "decision_table"]

CLUSTER, DUPLICATE_OF, SIMILARITY = "cluster", "duplicate_of", "similarity"


def decision_table(n: int, columns: dict[str, pa.Array] | None = None) -> pa.Table:
    """Every row kept, alone in its cluster; ``columns`` (e.g. the score) ride along."""
    return pa.table({
        **(columns or {}),
        REASON: pa.nulls(n, pa.string()),
        CLUSTER: pa.array(np.arange(n, dtype=np.int64)),
        DUPLICATE_OF: pa.array(np.full(n, -1, dtype=np.int64)),
        SIMILARITY: pa.array(np.full(n, np.nan, dtype=np.float32)),
    })


def _numpy(table: pa.Table, name: str) -> np.ndarray:
    return table.column(name).to_numpy(zero_copy_only=False).copy()


def _replace(table: pa.Table, **arrays: np.ndarray) -> pa.Table:
    for name, values in arrays.items():
        table = table.set_column(table.schema.get_field_index(name), name, pa.array(values))
    return table


class ExactDedup:
    """Removes rows whose exact key an earlier row has (``exact_duplicate``), pointing at that first row."""

    name = "exact_dedup"

    def __init__(self) -> None:
        self.stats = StepStats(self.name)
        self._keys: list[np.ndarray] = []

    def collect(self, batch: pa.Table) -> None:
        self._keys.append(batch.column(KEY).to_numpy(zero_copy_only=False))

    def __call__(self, table: pa.Table) -> pa.Table:
        from detectors.dedup import exact_duplicates

        start, rows_in = time.perf_counter(), kept_rows(table)
        keys = np.concatenate(self._keys) if self._keys else np.zeros(0, np.uint64)
        if len(keys) != table.num_rows:
            raise ValueError(f"collected {len(keys)} keys for {table.num_rows} rows")
        exact_of = exact_duplicates(keys) if len(keys) else np.zeros(0, np.int64)
        table = set_reason(table, exact_of >= 0, C.EXACT_DUPLICATE)
        fired = _is(table, C.EXACT_DUPLICATE)
        cluster, duplicate_of, similarity = (_numpy(table, c) for c in (CLUSTER, DUPLICATE_OF, SIMILARITY))
        cluster[fired] = duplicate_of[fired] = exact_of[fired]
        similarity[fired] = 1.0
        table = _replace(table, **{CLUSTER: cluster, DUPLICATE_OF: duplicate_of, SIMILARITY: similarity})
        self.stats.add(rows_in, kept_rows(table), time.perf_counter() - start)
        return table


def _is(table: pa.Table, reason: str) -> np.ndarray:
    import pyarrow.compute as pc

    return pc.fill_null(pc.equal(table.column(REASON), reason), False).to_numpy(zero_copy_only=False)


class NearDedup:
    """MinHash LSH candidates -> verified pairs -> clusters over the rows that are not exact copies.

    This one holds every signature in memory; :class:`~.dedup_disk.DiskNearDedup` finds the same clusters
    with partitioned files on disk (bounded memory): both override only :meth:`collect` and
    :meth:`near_duplicates`.

    Each cluster keeps its first row that no earlier filter removed (so a machine-written original never
    takes its human-written near-copy down with it); its other kept rows become ``near_duplicate``.
    Exact copies join their original's cluster.
    """

    name = "near_dedup"

    def __init__(self, config: DedupConfig) -> None:
        self.config = config
        self.stats = StepStats(self.name)
        self._signatures: list[np.ndarray] = []
        self.candidates = self.verified = 0

    def collect(self, batch: pa.Table) -> None:
        column = batch.column(SIGNATURE).combine_chunks()
        flat = column.flatten().to_numpy(zero_copy_only=False)
        self._signatures.append(flat.reshape(len(column), self.config.minhash.num_perm))

    def near_duplicates(self, unique: np.ndarray, n: int) -> NearDuplicates:
        """Clusters among the rows ``unique`` (the rows of ``n`` that are not exact copies), numbered 0.."""
        from detectors.dedup import find_near_duplicates

        perm = self.config.minhash.num_perm
        signatures = np.concatenate(self._signatures) if self._signatures else np.zeros((0, perm), np.uint32)
        if len(signatures) != n:
            raise ValueError(f"collected {len(signatures)} signatures for {n} rows")
        return find_near_duplicates(signatures[unique], self.config)

    def __call__(self, table: pa.Table) -> pa.Table:
        start, rows_in = time.perf_counter(), kept_rows(table)
        n = table.num_rows
        copy = _is(table, C.EXACT_DUPLICATE)
        kept = table.column(REASON).is_null().to_numpy(zero_copy_only=False)
        cluster, duplicate_of, similarity = (_numpy(table, c) for c in (CLUSTER, DUPLICATE_OF, SIMILARITY))
        unique = np.flatnonzero(~copy)
        near_dup = np.zeros(n, dtype=bool)
        if len(unique) > 1:
            near = self.near_duplicates(unique, n)
            self.candidates, self.verified = near.n_candidates, near.n_verified
            component = unique[near.cluster]  # global index of each unique row's component label
            # Representative: the first member still kept (else the first member).
            candidate = np.where(kept[unique], unique, n)
            first_kept = np.full(n + 1, n, dtype=np.int64)
            np.minimum.at(first_kept, component, candidate)
            rep = np.where(first_kept[component] < n, first_kept[component], component)
            cluster[unique] = rep
            in_cluster = np.bincount(component, minlength=n)[component] > 1
            similarity[unique[in_cluster]] = near.similarity[in_cluster]
            dup = unique[(rep != unique) & kept[unique]]
            near_dup[dup] = True
            duplicate_of[dup] = cluster[dup]
        cluster[copy] = cluster[duplicate_of[copy]]  # exact copies join their original's cluster
        table = _replace(set_reason(table, near_dup, C.NEAR_DUPLICATE),
                         **{CLUSTER: cluster, DUPLICATE_OF: duplicate_of, SIMILARITY: similarity})
        self.stats.add(rows_in, kept_rows(table), time.perf_counter() - start)
        return table
