"""Pass 2: corpus-wide keep/remove decisions from the per-row signals of every shard.

Filters apply in order, each row removed by the first that fires (DataTrove-style):
1. exact duplicates of an earlier row (normalised-text hash) → `exact_duplicate`;
2. score at or above the calibrated threshold → `machine_generated` (no detector: no such filter);
3. near-duplicates among the rest: each verified MinHash cluster keeps its first row that is not
   machine-generated → the others are `near_duplicate`.
Keeping a cluster's first *human-looking* row, not its first row, means a machine-written
original never takes its human-written near-copy down with it.

The filters are steps (:mod:`.dedup`, :mod:`.steps`) over one decision table; :func:`decision_steps`
lists them for a job, :func:`decide` runs them over arrays.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa

from hygiene.io import columns as C

from .dedup import CLUSTER, DUPLICATE_OF, SIMILARITY, ExactDedup, NearDedup, decision_table
from .step import REASON, run_steps
from .steps import KEY, MACHINE, SCORE, SIGNATURE, MachineFilter

if TYPE_CHECKING:
    from detectors.dedup import DedupConfig
    from hygiene.dedup.partitioned import TaskMap

__all__ = ["Decisions", "decide", "decision_steps"]


@dataclass(frozen=True)
class Decisions:
    reason: np.ndarray  # object: None (kept) or one of columns.REASONS
    machine: np.ndarray  # bool: score >= threshold (all False without a detector)
    cluster: np.ndarray  # int64: index of the row kept for this row's cluster (itself when alone)
    duplicate_of: np.ndarray  # int64: the exact original, or the cluster's kept row; -1 if none
    similarity: np.ndarray  # float32: verified Jaccard within the cluster, 1.0 for exact copies, NaN alone

    def counts(self) -> dict[str, int]:
        return {reason: int(np.sum(self.reason == reason)) for reason in C.REASONS}

    @classmethod
    def from_table(cls, table: pa.Table) -> Decisions:
        n = table.num_rows
        machine = (table.column(MACHINE).to_numpy(zero_copy_only=False) if MACHINE in table.column_names
                   else np.zeros(n, dtype=bool))
        return cls(
            reason=np.asarray(table.column(REASON).to_pylist(), dtype=object).reshape(n),
            machine=np.asarray(machine, dtype=bool),
            cluster=table.column(CLUSTER).to_numpy(),
            duplicate_of=table.column(DUPLICATE_OF).to_numpy(),
            similarity=table.column(SIMILARITY).to_numpy(zero_copy_only=False),
        )


def decision_steps(threshold: float | None, *, remove_machine: bool, exact: bool, dedup: DedupConfig | None,
                   disk: Path | None = None, partitions: int | None = None, map_tasks: TaskMap | None = None):
    """The filters of pass 2, in order: exact dedup, the machine filter (when there is a threshold, i.e.
    a detector), near dedup (in memory, or on disk under ``disk`` with ``partitions`` key partitions, its
    per-partition stages run by ``map_tasks``).
    Global steps still need their keys / signatures collected."""
    steps: list = []
    if exact:
        steps.append(ExactDedup())
    if threshold is not None:
        steps.append(MachineFilter(threshold, remove=remove_machine))
    if dedup is not None and disk is not None:
        from .dedup_disk import DiskNearDedup

        steps.append(DiskNearDedup(dedup, disk, exact=exact, partitions=partitions, map_tasks=map_tasks))
    elif dedup is not None:
        steps.append(NearDedup(dedup))
    return steps


def decide(
    keys: np.ndarray,
    signatures: np.ndarray | None,
    scores: np.ndarray | None,
    threshold: float | None,
    *,
    remove_machine: bool,
    exact: bool,
    dedup: DedupConfig | None,
) -> Decisions:
    """Decisions for rows given as arrays (``scores``/``threshold`` None: no detector)."""
    n = len(keys)
    steps = decision_steps(threshold if scores is not None else None, remove_machine=remove_machine, exact=exact,
                           dedup=dedup if signatures is not None else None)
    batch = {KEY: pa.array(np.asarray(keys, dtype=np.uint64))}
    if signatures is not None:
        sig = np.ascontiguousarray(signatures, dtype=np.uint32)
        batch[SIGNATURE] = pa.FixedSizeListArray.from_arrays(pa.array(sig.reshape(-1)), sig.shape[1])
    for step in steps:
        if hasattr(step, "collect"):
            step.collect(pa.table(batch))
    extra = {SCORE: pa.array(np.asarray(scores, dtype=np.float64))} if scores is not None else None
    return Decisions.from_table(run_steps(steps, decision_table(n, extra)))
