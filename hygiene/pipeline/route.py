"""Pass 3: re-read one shard and route each scored row to kept/ or removed/ (or scored/ for `score`).

Rows keep every original column with its original type (a `large_string` text stays one); kept rows gain
nothing unless asked (`add_id`: the id column, `annotate_kept`: the annotations), removed and scored rows
gain the id column (duplicates point at ids) and the `hygiene_*` annotation columns. The output files of a
shard appear atomically, only those with rows; then a marker with the shard's counts is written.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from hygiene.config import CleanConfig
from hygiene.io import columns as C
from hygiene.io.atomic import write_json
from hygiene.io.parquet_rows import parquet_file
from hygiene.io.shards import Shard
from hygiene.io.sinks import open_sink
from hygiene.progress import Progress

from .decide import Decisions
from .examples import TextCapture
from .scoring import ShardSignals
from .steps import ID, KEY, N_TOKENS, P_MACHINE, ROW, SCORE, SIGNATURE, TRUNCATED
from .stream import signal_batches

__all__ = ["annotations", "route_shard"]

_NOT_STATISTICS = (ROW, ID, SCORE, P_MACHINE, KEY, SIGNATURE, N_TOKENS, TRUNCATED)


def annotations(signals: ShardSignals, decisions: Decisions, span: slice, ids: np.ndarray) -> pa.Table:
    """The `hygiene_*` columns for one shard's scored rows (`span` of the global decision arrays).

    The detector's columns appear when there is a detector: score, flag, P(machine) when it brings a
    calibration, every statistic it computed, token counts; the dedup columns always."""
    t = signals.table
    dup = decisions.duplicate_of[span]
    columns: dict[str, pa.Array] = {}
    if SCORE in t.column_names:
        columns[C.SCORE] = t.column(SCORE)
        columns[C.MACHINE] = pa.array(decisions.machine[span])
        if P_MACHINE in t.column_names:
            columns[C.P_MACHINE] = t.column(P_MACHINE)
        columns.update({C.statistic_column(n): t.column(n) for n in t.column_names if n not in _NOT_STATISTICS})
        columns[C.N_TOKENS] = t.column(N_TOKENS)
        columns[C.TRUNCATED] = t.column(TRUNCATED)
    return pa.table(
        {
            **columns,
            C.CLUSTER: pa.array(ids[decisions.cluster[span]], pa.string()),
            C.DUPLICATE_OF: pa.array(np.where(dup >= 0, ids[np.maximum(dup, 0)], None), pa.string()),
            C.SIMILARITY: pa.array(decisions.similarity[span], pa.float32(), from_pandas=True),
            C.REASON: pa.array(decisions.reason[span], pa.string()),
        }
    )


def _annotate(table: pa.Table, extra: pa.Table) -> pa.Table:
    # Annotations from an earlier run of this tool are replaced, not duplicated.
    table = table.drop_columns([c for c in table.column_names if c.startswith(C.PREFIX)])
    for name in extra.column_names:
        table = table.append_column(name, extra.column(name))
    return table


def _restore(table: pa.Table, original: pa.Schema, id_column: str | None) -> pa.Table:
    """`table` with the input's columns in the input's order and types (plus `id_column` when given)."""
    names = [n for n in original.names if n in table.column_names]
    if id_column is not None and id_column not in names:
        names.append(id_column)
    table = table.select(names)
    for i, name in enumerate(names):
        if name in original.names:
            want = original.field(name).type
            if table.schema.field(i).type != want:  # the reader decodes the text column to string
                table = table.set_column(i, original.field(name), table.column(i).cast(want))
    return table


def route_shard(
    shard: Shard,
    signals: ShardSignals,
    extra: pa.Table,
    config: CleanConfig,
    out: Path,
    marker: Path,
    *,
    mode: str,
    annotate_kept: bool,
    progress: Progress,
    capture: TextCapture | None = None,
) -> dict[str, int]:
    rows = signals.table.column(ROW).to_numpy()
    kept_reason = pc.is_null(extra.column(C.REASON)).to_numpy(zero_copy_only=False)
    schema = signals.schema if shard.format == "jsonl" else None
    original = signals.schema if shard.format == "jsonl" else parquet_file(shard.path).schema_arrow
    fmt, ids = config.output_format, config.id_column
    kept_id = ids if config.add_id or annotate_kept else None
    if mode == "score":
        sinks = {"scored": open_sink(out / C.SCORED_DIR, shard.name, fmt)}
    else:
        sinks = {"kept": open_sink(out / C.KEPT_DIR, shard.name, fmt),
                 "removed": open_sink(out / C.REMOVED_DIR, shard.name, fmt)}
    try:
        for item in signal_batches([shard], config, progress=progress, schema=schema):
            batch = item.batch
            scored = np.isin(batch.rows, rows)  # rows quarantined at scoring time are not here
            where = np.searchsorted(rows, batch.rows[scored])
            table = batch.table.filter(pa.array(scored))
            if capture is not None:  # the report's example documents, while their text is in hand
                capture.offer(batch.ids, batch.texts)
            ann = extra.take(pa.array(where, pa.int64()))
            if mode == "score":
                sinks["scored"].write(_annotate(_restore(table, original, ids), ann))
            else:
                keep = pa.array(kept_reason[where])
                kept = _restore(table.filter(keep), original, kept_id)
                sinks["kept"].write(_annotate(kept, ann.filter(keep)) if annotate_kept else kept)
                drop = pc.invert(keep)
                sinks["removed"].write(_annotate(_restore(table.filter(drop), original, ids), ann.filter(drop)))
    except BaseException:
        for sink in sinks.values():
            sink.abort()
        raise
    for sink in sinks.values():
        sink.close()
    counts = {name: sink.rows for name, sink in sinks.items()}
    if capture is not None:
        capture.save(marker.with_suffix(".examples.json"))
    write_json(marker, counts)
    return counts
