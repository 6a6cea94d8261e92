"""Pass 1: stream one shard and compute every per-document signal into a work file.

The work file (one parquet per shard, written atomically) is the shard's completion marker: a
resumed run skips shards that have one. It holds no text, only row positions, ids and signals.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from detectors.dedup import exact_key
from detectors.minhash import sign
from hygiene.config import CleanConfig
from hygiene.io import columns as C
from hygiene.io.atomic import ParquetSink, atomic_path
from hygiene.io.jsonl import unify
from hygiene.io.shards import QuarantinedRow, Shard, read_batches, row_json
from hygiene.progress import Progress

__all__ = ["Scorer", "ShardSignals", "score_shard", "read_signals", "quarantine_table", "oriented_score", "STATISTICS"]

STATISTICS = ("likelihood", "log_rank", "entropy", "fast_detectgpt")

# Column names inside work files.
ROW, ID, SCORE, KEY, SIGNATURE = "row", "id", "score", "exact_key", "signature"


class Scorer(Protocol):
    """What the pipeline needs from a detector: every statistic of a batch from one model pass."""

    name: str

    def statistics(self, texts: list[str]) -> dict[str, np.ndarray]: ...


@dataclass(frozen=True)
class ShardSignals:
    """Signals of one shard's valid rows, in row order."""

    table: pa.Table  # ROW, ID, SCORE, statistics, n_tokens, truncated, KEY, SIGNATURE
    schema: pa.Schema  # union of the shard's record schemas (JSONL batches may differ)


def quarantine_table(shard: Shard, rows: list[QuarantinedRow]) -> pa.Table:
    return pa.table(
        {
            C.Q_SOURCE: pa.array([str(shard.path)] * len(rows), pa.string()),
            C.Q_ROW: pa.array([q.row for q in rows], pa.int64()),
            C.Q_ERROR: pa.array([q.error for q in rows], pa.string()),
            C.Q_RAW: pa.array([q.raw for q in rows], pa.binary()),
        }
    )


def oriented_score(stats: dict[str, np.ndarray], statistic: str) -> np.ndarray:
    """The deciding statistic turned so that higher always means more machine-like."""
    from detectors.zeroshot import SCORE_SIGN

    return SCORE_SIGN[statistic] * np.asarray(stats[statistic], dtype=np.float64)


def _signals_batch(batch_rows, ids, texts, stats, score, minhash_config) -> pa.Table:
    data = {
        ROW: pa.array(batch_rows, pa.int64()),
        ID: pa.array(ids, pa.string()),
        SCORE: pa.array(score, pa.float64()),
        **{name: pa.array(np.asarray(stats[name], dtype=np.float64)) for name in STATISTICS},
        "n_tokens": pa.array(np.asarray(stats["n_tokens"], dtype=np.int32)),
        "truncated": pa.array(np.asarray(stats["truncated"], dtype=bool)),
        KEY: pa.array(exact_key(texts), pa.uint64()),
    }
    if minhash_config is not None:
        signatures = sign(texts, minhash_config)
        flat = pa.array(signatures.reshape(-1), pa.uint32())
        data[SIGNATURE] = pa.FixedSizeListArray.from_arrays(flat, signatures.shape[1])
    return pa.table(data)


def score_shard(
    shard: Shard,
    scorer: Scorer,
    config: CleanConfig,
    minhash_config,
    signals_path: Path,
    quarantine_path: Path,
    progress: Progress,
) -> dict[str, float]:
    """Score every valid row of `shard`; rows that cannot be scored go to quarantine. Returns timings."""
    timings = {"read": 0.0, "detector": 0.0, "minhash": 0.0}
    schema: pa.Schema | None = None
    quarantined: list[QuarantinedRow] = []
    signals = ParquetSink(signals_path)
    try:
        t0 = time.perf_counter()
        for batch in read_batches(shard, config.text_column, config.id_column, config.batch_rows):
            timings["read"] += time.perf_counter() - t0
            quarantined.extend(batch.quarantined)
            if batch.texts:
                schema = unify(schema, batch.table.schema)  # a type clash widens the column to text
                t1 = time.perf_counter()
                stats = scorer.statistics(batch.texts)
                timings["detector"] += time.perf_counter() - t1
                score = oriented_score(stats, config.detector.statistic)
                ok = np.isfinite(score)
                for i in np.flatnonzero(~ok):  # e.g. a one-token document: nothing to predict
                    quarantined.append(
                        QuarantinedRow(int(batch.rows[i]), "could not be scored (too short)", row_json(batch.table, i))
                    )
                keep = np.flatnonzero(ok)
                t2 = time.perf_counter()
                signals.write(_signals_batch(
                    batch.rows[keep], [batch.ids[i] for i in keep], [batch.texts[i] for i in keep],
                    {k: np.asarray(v)[keep] for k, v in stats.items()}, score[keep], minhash_config,
                ))
                timings["minhash"] += time.perf_counter() - t2
            progress.advance(len(batch.rows) + len(batch.quarantined))
            t0 = time.perf_counter()
        if signals.rows == 0:  # still write the file: it marks the shard as done
            signals.write(_signals_batch(np.zeros(0, np.int64), [], [], _empty_stats(), np.zeros(0), minhash_config))
        with ParquetSink(quarantine_path) as sink:
            sink.write(quarantine_table(shard, sorted(quarantined, key=lambda q: q.row)))
        with atomic_path(_schema_path(signals_path)) as tmp:
            tmp.write_bytes((schema or pa.schema([])).serialize().to_pybytes())
    except BaseException:
        signals.abort()
        raise
    signals.close()  # last: its presence marks the shard as scored
    return timings


def _schema_path(signals_path: Path) -> Path:
    return signals_path.with_suffix(".schema")


def _empty_stats() -> dict[str, np.ndarray]:
    stats = {name: np.zeros(0) for name in STATISTICS}
    stats.update(n_tokens=np.zeros(0, np.int32), truncated=np.zeros(0, bool))
    return stats


def read_signals(path: Path) -> ShardSignals:
    schema = pa.ipc.read_schema(pa.py_buffer(_schema_path(path).read_bytes()))
    return ShardSignals(table=pq.read_table(path), schema=schema)
