"""Pass 2: corpus-wide keep/remove decisions from the per-row signals of every shard.

Filters apply in order, each row removed by the first that fires (DataTrove-style):
1. exact duplicates of an earlier row (normalised-text hash) → `exact_duplicate`;
2. score at or above the calibrated threshold → `machine_generated`;
3. near-duplicates among the rest: each verified MinHash cluster keeps its first row that is not
   machine-generated → the others are `near_duplicate`.
Keeping a cluster's first *human-looking* row, not its first row, means a machine-written
original never takes its human-written near-copy down with it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from detectors.dedup import DedupConfig, exact_duplicates, find_near_duplicates
from hygiene.io import columns as C

__all__ = ["Decisions", "decide"]


@dataclass(frozen=True)
class Decisions:
    reason: np.ndarray  # object: None (kept) or one of columns.REASONS
    machine: np.ndarray  # bool: score >= threshold
    cluster: np.ndarray  # int64: index of the row kept for this row's cluster (itself when alone)
    duplicate_of: np.ndarray  # int64: the exact original, or the cluster's kept row; -1 if none
    similarity: np.ndarray  # float32: verified Jaccard within the cluster, 1.0 for exact copies, NaN alone

    def counts(self) -> dict[str, int]:
        return {reason: int(np.sum(self.reason == reason)) for reason in C.REASONS}


def decide(
    keys: np.ndarray,
    signatures: np.ndarray | None,
    scores: np.ndarray,
    threshold: float,
    *,
    remove_machine: bool,
    exact: bool,
    dedup: DedupConfig | None,
) -> Decisions:
    n = len(scores)
    index = np.arange(n, dtype=np.int64)
    reason = np.full(n, None, dtype=object)
    machine = np.asarray(scores) >= threshold
    cluster = index.copy()
    duplicate_of = np.full(n, -1, dtype=np.int64)
    similarity = np.full(n, np.nan, dtype=np.float32)

    exact_of = exact_duplicates(keys) if exact else np.full(n, -1, dtype=np.int64)
    is_copy = exact_of >= 0
    reason[is_copy] = C.EXACT_DUPLICATE
    if remove_machine:
        reason[~is_copy & machine] = C.MACHINE_GENERATED

    unique = np.flatnonzero(~is_copy)
    if dedup is not None and signatures is not None and len(unique) > 1:
        near = find_near_duplicates(signatures[unique], dedup)
        component = unique[near.cluster]  # global index of each unique row's component label
        # Representative: the first member that survives the machine filter (else the first member).
        candidate = np.where(reason[unique] == None, unique, n)  # noqa: E711 (elementwise on objects)
        first_kept = np.full(n + 1, n, dtype=np.int64)
        np.minimum.at(first_kept, component, candidate)
        rep = np.where(first_kept[component] < n, first_kept[component], component)
        cluster[unique] = rep
        in_cluster = np.bincount(component, minlength=n)[component] > 1
        similarity[unique[in_cluster]] = near.similarity[in_cluster]
        dup = unique[(rep != unique) & (reason[unique] == None)]  # noqa: E711
        reason[dup] = C.NEAR_DUPLICATE
        duplicate_of[dup] = cluster[dup]

    # Exact copies join their original's cluster and point at the original itself.
    cluster[is_copy] = cluster[exact_of[is_copy]]
    duplicate_of[is_copy] = exact_of[is_copy]
    similarity[is_copy] = 1.0
    return Decisions(reason, machine, cluster, duplicate_of, similarity)
