"""The one shard -> batch -> signals loop; every command that reads or scores shards goes through it.

`clean`/`score` (pass 1), `calibrate`, `eval-detector` and `risk` read shards with
:func:`signal_batches`: each shard in record batches of ``config.batch_rows`` (unreadable records ride
along in ``batch.quarantined``), each batch turned into a documents table and run through the steps
the caller asked for. Texts already in memory (risk's sample) go through :func:`text_signals`.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from hygiene.config import CleanConfig
from hygiene.errors import ShardError
from hygiene.io.shards import Shard, ShardBatch, read_batches
from hygiene.progress import NullProgress, Progress

from .step import Step, StepStats, run_steps
from .steps import documents

__all__ = ["SignalBatch", "signal_batches", "text_signals", "labels_of", "check_label_column"]


@dataclass
class SignalBatch:
    shard: Shard
    batch: ShardBatch  # the records as read: valid rows (all columns), quarantined rows
    signals: pa.Table  # the valid rows' documents (row, id, text) and every column the steps added

    @property
    def records(self) -> int:
        return len(self.batch.rows) + len(self.batch.quarantined)


def signal_batches(
    shards: Sequence[Shard],
    config: CleanConfig,
    steps: Sequence[Step] = (),
    *,
    progress: Progress | None = None,
    read: StepStats | None = None,
    schema: pa.Schema | None = None,
) -> Iterator[SignalBatch]:
    """Stream ``shards`` batch by batch through ``steps`` (skipped for a batch with no valid row).

    ``progress`` advances by the records of each batch once the consumer is done with it; ``read`` counts
    the records read and the seconds spent reading (not in the steps or the consumer).
    """
    progress = progress or NullProgress()
    for shard in shards:
        batches = read_batches(shard, config.text_column, config.id_column, config.batch_rows, schema)
        while True:
            start = time.perf_counter()
            batch = next(batches, None)
            if batch is None:
                break
            table = documents(batch.rows, batch.ids, batch.table.column(config.text_column))
            if read is not None:
                read.add(len(batch.rows) + len(batch.quarantined), len(batch.rows), time.perf_counter() - start)
            if table.num_rows:
                table = run_steps(steps, table)
            item = SignalBatch(shard, batch, table)
            yield item
            progress.advance(item.records)


def text_signals(step: Step, texts: Sequence[str], batch_rows: int, progress: Progress | None = None,
                 engine: str = "local", ray_address: str | None = None) -> pa.Table:
    """``step`` over texts held in memory, ``batch_rows`` at a time (documents get their list position as row;
    no texts: an empty documents table, the step not called). ``engine="ray"``: the batches as Ray Data
    stages (see :mod:`.ray_engine`)."""
    progress = progress or NullProgress()
    batches = []
    for start in range(0, len(texts), batch_rows):
        chunk = list(texts[start:start + batch_rows])
        rows = np.arange(start, start + len(chunk), dtype=np.int64)
        batches.append(documents(rows, [str(r) for r in rows], chunk))
    if engine == "ray" and batches:
        from .ray_engine import RayEngine

        with RayEngine(ray_address) as ray:
            parts = ray.map_tables(batches, [step])
        progress.advance(len(texts))
    else:
        parts = []
        for batch in batches:
            parts.append(step(batch))
            progress.advance(batch.num_rows)
    return pa.concat_tables(parts) if parts else documents(np.zeros(0, np.int64), [], [])


def labels_of(item: SignalBatch, column: str, *, required: bool) -> np.ndarray:
    """The 0 (human) / 1 (machine) label of each valid row; without the column every row is human unless
    ``required``. A label that is not 0 or 1 is an error naming the shard and row."""
    table = item.batch.table
    if column not in table.column_names:
        if required:
            raise ShardError(f"{item.shard.path}: no label column {column!r} (0 = human, 1 = machine)")
        return np.zeros(table.num_rows, dtype=np.int64)
    values = table.column(column).to_pylist()
    for row, value in zip(item.batch.rows, values):
        if isinstance(value, bool) or not isinstance(value, int | float) or value not in (0, 1):
            raise ShardError(f"{item.shard.path} row {row}: label {value!r} is not 0 (human) or 1 (machine)")
    return np.asarray(values, dtype=np.int64)


def check_label_column(shards: Sequence[Shard], text_column: str, column: str) -> None:
    """Before any scoring: each labelled shard's first records carry the label column (read without a model),
    so a missing column fails at once instead of after the first batch has been scored."""
    for shard in shards:
        first = next(read_batches(shard, text_column, batch_rows=64), None)
        if first is not None and first.table.num_rows and column not in first.table.column_names:
            raise ShardError(f"{shard.path}: no label column {column!r} (0 = human, 1 = machine)",
                             setting="label_column")
