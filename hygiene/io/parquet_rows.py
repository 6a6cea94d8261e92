"""Parquet shards read row group by row group: a corrupt page loses the rest of its group, never the file."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from hygiene.errors import ShardError

from .records import UNREADABLE, QuarantinedRow, Shard, ShardBatch, make_batch, row_json

__all__ = ["parquet_file", "read_parquet", "parquet_problems"]

_READ_ERRORS = (pa.ArrowException, OSError, MemoryError)


def parquet_file(path: Path) -> pq.ParquetFile:
    try:
        # Pages written with a CRC are checked: a flipped byte is a lost page, not a silently changed text.
        return pq.ParquetFile(path, page_checksum_verification=True)
    except (pa.ArrowException, OSError) as exc:
        raise ShardError(f"{path}: not a readable parquet file ({exc})") from exc


def _text_bytes(column: pa.ChunkedArray) -> list[bytes | None]:
    # Decode ourselves: parquet does not guarantee valid UTF-8 in string columns.
    return column.cast(pa.binary()).to_pylist()


def read_parquet(shard: Shard, text_column: str, id_column: str, batch_rows: int) -> Iterator[ShardBatch]:
    """Batches of the file's rows; the rows of a row group past a page that cannot be read are quarantined
    without bytes (the footer says how many there are), and the next group is read as usual."""
    pf = parquet_file(shard.path)
    start = 0
    for group in range(pf.metadata.num_row_groups):
        n = pf.metadata.row_group(group).num_rows
        done, error = 0, None
        batches = pf.iter_batches(batch_size=batch_rows, row_groups=[group])
        while True:
            try:
                record_batch = next(batches, None)
            except _READ_ERRORS as exc:  # a corrupt page: the rest of the group
                error = str(exc)
                break
            if record_batch is None:
                break
            table = pa.Table.from_batches([record_batch])
            yield make_batch(shard, table, _text_bytes(table.column(text_column)), start + done, text_column,
                              id_column, row_json)
            done += table.num_rows
        if done < n:
            lo, hi = start + done, start + n
            why = f"{UNREADABLE}row group {group} (rows {lo}-{hi - 1}): {error or f'read {done} of its {n} rows'}"
            empty = pf.schema_arrow.empty_table()
            for chunk in range(lo, hi, batch_rows):
                batch = make_batch(shard, empty, [], chunk, text_column, id_column, row_json)
                batch.quarantined = [QuarantinedRow(r, why, None) for r in range(chunk, min(chunk + batch_rows, hi))]
                yield batch
        start += n


def parquet_problems(path: Path) -> list[str]:
    """Why row groups of the file cannot be read (empty when all can): every page is decoded."""
    problems = []
    pf = parquet_file(path)
    for group in range(pf.metadata.num_row_groups):
        try:
            for _ in pf.iter_batches(batch_size=1 << 16, row_groups=[group]):
                pass
        except _READ_ERRORS as exc:
            problems.append(f"row group {group}: {exc}")
    return problems
