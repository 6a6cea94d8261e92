"""Pass 1: stream one shard through the per-batch steps and keep every row's signals in a work file.

The work file (one parquet per shard, written atomically) is the shard's completion marker: a
resumed run skips shards that have one. It holds no text, only row positions, ids and the columns
the steps added (score and statistics, exact key, MinHash signature). Beside it: the union schema of
the shard's records (JSONL batches may differ; an id column the reader created is not in it), the steps'
counts for the shard, and what went to quarantine (how many rows, which parts were unreadable): the
quarantine output file exists only when it has rows, so it cannot be what a later pass counts.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from hygiene.config import CleanConfig
from hygiene.io import columns as C
from hygiene.io.atomic import ParquetSink, atomic_path, write_json
from hygiene.io.jsonl import unify
from hygiene.io.shards import QuarantinedRow, Shard, row_json, unreadable_ranges
from hygiene.io.sinks import Sink
from hygiene.progress import Progress

from .step import Step, StepStats
from .steps import ID, ROW, TEXT, UNSCORED
from .stream import SignalBatch, signal_batches

# Runs per-batch steps over a stream of batches elsewhere (the Ray engine), yielding them in order.
BatchMapper = Callable[[Iterator[SignalBatch], Sequence[Step]], Iterator[SignalBatch]]

__all__ = ["BatchMapper", "ShardSignals", "score_shard", "read_signals", "read_step_stats", "read_quarantine_info",
           "quarantine_table"]

@dataclass(frozen=True)
class ShardSignals:
    """Signals of one shard's valid rows, in row order."""

    table: pa.Table  # ROW, ID and the steps' columns (no text)
    schema: pa.Schema  # union of the shard's record schemas (JSONL batches may differ)


def quarantine_table(shard: Shard, rows: list[QuarantinedRow]) -> pa.Table:
    return pa.table(
        {
            C.Q_SOURCE: pa.array([shard.source] * len(rows), pa.string()),
            C.Q_ROW: pa.array([q.row for q in rows], pa.int64()),
            C.Q_ERROR: pa.array([q.error for q in rows], pa.string()),
            C.Q_RAW: pa.array([q.raw for q in rows], pa.binary()),
        }
    )


def score_shard(
    shard: Shard,
    steps: list[Step],
    config: CleanConfig,
    signals_path: Path,
    quarantine: Sink,
    progress: Progress,
    mapper: BatchMapper | None = None,
) -> list[StepStats]:
    """Run ``steps`` over every valid row of ``shard``; rows the detector cannot score go to quarantine.

    ``mapper`` runs the steps elsewhere (the Ray engine): it takes the shard's batches as read and yields
    them, in order, with the steps' columns added and the steps' stats counted; None: here, batch by batch.
    Returns the counts of reading and of each step for this shard (also stored beside the work file).
    """
    for step in steps:
        step.stats = StepStats(step.name)
    read = StepStats("read")
    schema: pa.Schema | None = None
    quarantined: list[QuarantinedRow] = []
    # Work files hold numbers that neither a dictionary nor zstd shrink (signatures): both only cost time.
    signals = ParquetSink(signals_path, compression="none", use_dictionary=False)
    if mapper is None:
        items = signal_batches([shard], config, steps, progress=progress, read=read)
    else:
        items = mapper(signal_batches([shard], config, progress=progress, read=read), steps)
    try:
        for item in items:
            quarantined.extend(item.batch.quarantined)
            table = item.signals
            if not table.num_rows:
                continue
            given = item.batch.table.schema
            if item.batch.created_id:  # the input's own columns only: outputs keep exactly those
                given = given.remove(given.get_field_index(config.id_column))
            schema = unify(schema, given)  # a type clash widens the column to text
            if UNSCORED in table.column_names:  # e.g. a one-token document: nothing to predict
                reasons = table.column(UNSCORED)
                for i in np.flatnonzero(reasons.is_valid().to_numpy(zero_copy_only=False)):
                    quarantined.append(QuarantinedRow(int(item.batch.rows[i]), reasons[i].as_py(),
                                                      row_json(item.batch.table, int(i))))
                table = table.filter(reasons.is_null()).drop_columns([UNSCORED])
            signals.write(table.drop_columns([TEXT]))
        if signals.rows == 0:  # still write the file: it marks the shard as done
            signals.write(pa.table({ROW: pa.array([], pa.int64()), ID: pa.array([], pa.string())}))
        quarantined.sort(key=lambda q: q.row)
        with quarantine:  # no file when nothing is quarantined
            quarantine.write(quarantine_table(shard, quarantined))
        write_json(_quarantine_path(signals_path), {
            "rows": len(quarantined),
            "unreadable": unreadable_ranges([q.row for q in quarantined], [q.error for q in quarantined])})
        with atomic_path(_schema_path(signals_path)) as tmp:
            tmp.write_bytes((schema or pa.schema([])).serialize().to_pybytes())
        stats = [read, *(step.stats for step in steps)]
        with atomic_path(_stats_path(signals_path)) as tmp:
            tmp.write_text(json.dumps([asdict(s) for s in stats]))
    except BaseException:
        signals.abort()
        raise
    signals.close()  # last: its presence marks the shard as scored
    return stats


def _schema_path(signals_path: Path) -> Path:
    return signals_path.with_suffix(".schema")


def _quarantine_path(signals_path: Path) -> Path:
    return signals_path.with_suffix(".quarantine.json")


def read_quarantine_info(signals_path: Path) -> dict:
    """{"rows": quarantined rows, "unreadable": [row ranges that could not be read]} of a scored shard."""
    return json.loads(_quarantine_path(signals_path).read_text())


def _stats_path(signals_path: Path) -> Path:
    return signals_path.with_suffix(".steps.json")


def read_signals(path: Path, columns: Sequence[str] | None = None, *, exclude: Sequence[str] = ()) -> ShardSignals:
    """A shard's work file: ``columns`` of it that it has (None: all), less ``exclude``."""
    schema = pa.ipc.read_schema(pa.py_buffer(_schema_path(path).read_bytes()))
    if columns is not None or exclude:
        names = pq.ParquetFile(path).schema_arrow.names
        columns = [c for c in (names if columns is None else columns) if c in names and c not in exclude]
    return ShardSignals(table=pq.read_table(path, columns=columns), schema=schema)


def read_step_stats(path: Path) -> list[StepStats]:
    """The counts a finished shard's pass 1 stored (none for work files written before they were kept)."""
    stats = _stats_path(path)
    return [StepStats(**s) for s in json.loads(stats.read_text())] if stats.exists() else []
