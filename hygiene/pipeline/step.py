"""The step contract: small stages over Arrow batches of documents, each counting what it did.

- A **step** takes a batch (a ``pa.Table``, one row per document) and returns the same rows with columns
  added. It does no I/O and keeps no state but its counters; a model it needs is loaded on first use,
  so a step can be built, pickled and shipped to a worker before anything heavy happens (a Ray Data
  ``map_batches(step, batch_format="pyarrow")`` stage runs the same object the local engine runs).
- A **filter** is a step whose columns are a decision and its reason: it sets :data:`REASON` on the rows
  it removes, and a row an earlier filter removed keeps the earlier reason (filters apply in order,
  first one wins). Its counts are the rows still kept before and after it.
- A **global step** (exact and near dedup) needs the whole corpus: :meth:`GlobalStep.collect` takes
  each batch's keys or signatures, then one call on the decision table of every row (in collection
  order) decides. The two stages stay separable so that collecting can happen in parallel and
  deciding behind a shuffle or on disk, with the same contract.

Every step's :class:`StepStats` (rows in, rows out, seconds) lands in the run's manifest and report.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import ClassVar, Protocol, runtime_checkable

import numpy as np
import pyarrow as pa

__all__ = ["REASON", "StepStats", "Step", "Filter", "GlobalStep", "run_steps", "merge_stats", "kept_rows"]

REASON = "reason"  # why a row is removed; null while it is kept (every filter writes this column)


@dataclass
class StepStats:
    step: str
    rows_in: int = 0
    rows_out: int = 0
    seconds: float = 0.0

    def add(self, rows_in: int, rows_out: int, seconds: float) -> None:
        self.rows_in += rows_in
        self.rows_out += rows_out
        self.seconds += seconds

    def merge(self, other: StepStats) -> StepStats:
        """Counts of the same step over two parts of the corpus (two shards, two workers)."""
        if other.step != self.step:
            raise ValueError(f"cannot merge stats of {other.step!r} into {self.step!r}")
        return StepStats(self.step, self.rows_in + other.rows_in, self.rows_out + other.rows_out,
                         self.seconds + other.seconds)

    def as_dict(self) -> dict[str, object]:
        return {**asdict(self), "seconds": round(self.seconds, 4)}


def merge_stats(parts: Iterable[Sequence[StepStats]]) -> list[StepStats]:
    """Per-step totals over parts that each hold stats for the steps in the same order."""
    total: dict[str, StepStats] = {}
    for stats in parts:
        for s in stats:
            total[s.step] = total[s.step].merge(s) if s.step in total else StepStats(**asdict(s))
    return list(total.values())


def kept_rows(batch: pa.Table) -> int:
    """Rows no filter has removed yet."""
    return batch.num_rows if REASON not in batch.column_names else batch.column(REASON).null_count


class Step:
    """A per-batch step. Subclasses set ``name`` and implement :meth:`apply`."""

    name: ClassVar[str] = "step"

    def __init__(self) -> None:
        self.stats = StepStats(self.name)

    def __call__(self, batch: pa.Table) -> pa.Table:
        start, rows_in = time.perf_counter(), self.rows_in(batch)
        out = self.apply(batch)
        self.stats.add(rows_in, self.rows_out(out), time.perf_counter() - start)
        return out

    def apply(self, batch: pa.Table) -> pa.Table:
        raise NotImplementedError

    def rows_in(self, batch: pa.Table) -> int:
        return batch.num_rows

    def rows_out(self, batch: pa.Table) -> int:
        return batch.num_rows

    def __getstate__(self) -> dict:
        # A loaded model is not shipped to a worker: the worker loads its own on first use.
        return {k: None if k.startswith("_loaded") else v for k, v in self.__dict__.items()}


class Filter(Step):
    """A step that removes rows with ``reason``; subclasses implement :meth:`flags` (and may add columns)."""

    reason: ClassVar[str] = "removed"

    def flags(self, batch: pa.Table) -> np.ndarray:
        """Bool per row: this filter would remove the row."""
        raise NotImplementedError

    def apply(self, batch: pa.Table) -> pa.Table:
        return set_reason(batch, self.flags(batch), self.reason)

    def rows_in(self, batch: pa.Table) -> int:
        return kept_rows(batch)

    def rows_out(self, batch: pa.Table) -> int:
        return kept_rows(batch)


def set_reason(batch: pa.Table, remove: np.ndarray, reason: str) -> pa.Table:
    """``batch`` with ``reason`` on the rows of ``remove`` that no earlier filter removed."""
    import pyarrow.compute as pc

    current = batch.column(REASON) if REASON in batch.column_names else pa.nulls(batch.num_rows, pa.string())
    fire = pc.and_(pa.array(np.asarray(remove, dtype=bool)), pc.is_null(current))
    updated = pc.if_else(fire, pa.scalar(reason, pa.string()), current)
    if REASON in batch.column_names:
        return batch.set_column(batch.schema.get_field_index(REASON), REASON, updated)
    return batch.append_column(REASON, updated)


@runtime_checkable
class GlobalStep(Protocol):
    """A step over the whole corpus: ``collect`` each batch, then call it once on the decision table."""

    name: str
    stats: StepStats

    def collect(self, batch: pa.Table) -> None: ...

    def __call__(self, table: pa.Table) -> pa.Table: ...


def run_steps(steps: Sequence[Step | GlobalStep], batch: pa.Table) -> pa.Table:
    """Apply ``steps`` in order (a global step here: its deciding call, after collection)."""
    for step in steps:
        batch = step(batch)
    return batch
