"""Shard discovery, validation and streaming reads (parquet and JSON Lines, optionally gzip).

A shard is read in record batches so memory stays bounded whatever its size. Every record ends up
either in a batch's valid rows (with its text decoded and an id) or in its quarantine list with
the error and its original bytes; nothing is dropped silently. Blank JSONL lines are not records.
"""

from __future__ import annotations

import gzip
import json
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from hygiene.errors import ShardError

__all__ = [
    "ShardError",
    "Shard",
    "ShardBatch",
    "QuarantinedRow",
    "discover",
    "open_shards",
    "validate",
    "read_batches",
    "count_rows",
    "SHARD_SUFFIXES",
    "row_json",
]

SHARD_SUFFIXES = (".parquet", ".jsonl", ".jsonl.gz", ".ndjson", ".ndjson.gz")
_JSONL_PEEK_LINES = 100  # how far validation looks for a parseable record
_TEXT_TYPES = (pa.string(), pa.large_string(), pa.binary(), pa.large_binary())




@dataclass(frozen=True)
class Shard:
    path: Path
    format: Literal["parquet", "jsonl"]
    name: str  # unique among the inputs of one run; names the output files

    @property
    def compressed(self) -> bool:
        return self.path.name.endswith(".gz")


@dataclass(frozen=True)
class QuarantinedRow:
    row: int
    error: str
    raw: bytes  # the original record: the JSONL line, or the parquet row as JSON


@dataclass
class ShardBatch:
    rows: np.ndarray  # int64 positions of the valid records within the shard
    texts: list[str]
    ids: list[str]
    table: pa.Table  # the valid records with all their columns, the id column guaranteed
    quarantined: list[QuarantinedRow] = field(default_factory=list)


def _shard_format(path: Path) -> Literal["parquet", "jsonl"] | None:
    name = path.name.lower()
    if name.endswith(".parquet"):
        return "parquet"
    if any(name.endswith(s) for s in SHARD_SUFFIXES[1:]):
        return "jsonl"
    return None


def _stem(path: Path) -> str:
    name = path.name
    for suffix in sorted(SHARD_SUFFIXES, key=len, reverse=True):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return path.stem


def discover(inputs: Sequence[str | Path]) -> list[Shard]:
    """Expand files and directories (searched recursively) into shards with unique names."""
    if not inputs:
        raise ShardError("no input shards given")
    paths: list[Path] = []
    for raw in inputs:
        path = Path(raw)
        if not path.exists():
            raise ShardError(f"input not found: {path}")
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.is_file() and _shard_format(p))
            if not found:
                raise ShardError(
                    f"directory holds no shards: {path} (looked for {', '.join(SHARD_SUFFIXES)})"
                )
            paths.extend(found)
        elif _shard_format(path) is None:
            raise ShardError(f"unsupported shard format: {path} (expected {', '.join(SHARD_SUFFIXES)})")
        else:
            paths.append(path)
    seen: set[Path] = set()
    shards: list[Shard] = []
    names: set[str] = set()
    for path in paths:
        resolved = path.resolve()
        if resolved in seen:
            raise ShardError(f"input given twice: {path}")
        seen.add(resolved)
        name, k = _stem(path), 1
        while name in names:  # two inputs named alike in different folders
            k += 1
            name = f"{_stem(path)}-{k}"
        names.add(name)
        shards.append(Shard(path=path, format=_shard_format(path), name=name))  # type: ignore[arg-type]
    return shards


def open_shards(inputs: Sequence[str | Path], text_column: str) -> list[Shard]:
    """`discover` then `validate` every shard: all input errors surface before any work starts."""
    shards = discover(inputs)
    for shard in shards:
        validate(shard, text_column)
    return shards


def validate(shard: Shard, text_column: str) -> None:
    """Fail fast, before anything is written, on a shard that cannot be read at all."""
    if shard.format == "parquet":
        schema = _parquet_file(shard.path).schema_arrow
        if text_column not in schema.names:
            raise ShardError(
                f"{shard.path}: no text column {text_column!r} (columns: {', '.join(schema.names)}); "
                "use --text-column"
            )
        if schema.field(text_column).type not in _TEXT_TYPES:
            raise ShardError(
                f"{shard.path}: text column {text_column!r} has type {schema.field(text_column).type}, "
                "expected string"
            )
        return
    for _, line in zip(range(_JSONL_PEEK_LINES), _jsonl_lines(shard)):
        try:
            record = json.loads(line[1])
        except ValueError:
            continue
        if isinstance(record, dict):
            if text_column not in record:
                raise ShardError(
                    f"{shard.path}: no text column {text_column!r} in the first record "
                    f"(fields: {', '.join(map(str, record))}); use --text-column"
                )
            return
    raise ShardError(f"{shard.path}: no JSON object found in its first {_JSONL_PEEK_LINES} lines")


def count_rows(shard: Shard) -> int:
    """Records in the shard (parquet: from the footer; JSONL: non-blank lines)."""
    if shard.format == "parquet":
        return _parquet_file(shard.path).metadata.num_rows
    return sum(1 for _ in _jsonl_lines(shard))


def read_batches(
    shard: Shard,
    text_column: str = "text",
    id_column: str = "id",
    batch_rows: int = 1024,
    schema: pa.Schema | None = None,
) -> Iterator[ShardBatch]:
    """Stream a shard as batches of valid records plus their quarantined neighbours.

    `schema` (JSONL only) makes every batch share one schema, as the union computed by a previous
    pass; without it each JSONL batch infers its own.
    """
    if batch_rows < 1:
        raise ValueError(f"batch_rows must be >= 1, got {batch_rows}")
    if shard.format == "parquet":
        yield from _read_parquet(shard, text_column, id_column, batch_rows)
    else:
        yield from _read_jsonl(shard, text_column, id_column, batch_rows, schema)


# --- parquet -------------------------------------------------------------------------------------


def _parquet_file(path: Path) -> pq.ParquetFile:
    try:
        return pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as exc:
        raise ShardError(f"{path}: not a readable parquet file ({exc})") from exc


def _read_parquet(shard: Shard, text_column: str, id_column: str, batch_rows: int) -> Iterator[ShardBatch]:
    start = 0
    try:
        for record_batch in _parquet_file(shard.path).iter_batches(batch_size=batch_rows):
            table = pa.Table.from_batches([record_batch])
            # Decode ourselves: parquet does not guarantee valid UTF-8 in string columns.
            raw = table.column(text_column).cast(pa.binary()).to_pylist()
            yield _make_batch(shard, table, raw, start, text_column, id_column, row_json)
            start += table.num_rows
    except (pa.ArrowException, OSError) as exc:
        raise ShardError(f"{shard.path}: parquet data unreadable after row {start} ({exc})") from exc


def row_json(table: pa.Table, i: int) -> bytes:
    """One row as JSON bytes: how a quarantined parquet row keeps all its fields."""
    record = {name: table.column(name)[i].as_py() for name in table.column_names}
    return json.dumps(record, default=repr, ensure_ascii=False).encode()


# --- JSON Lines ----------------------------------------------------------------------------------


def _jsonl_lines(shard: Shard) -> Iterator[tuple[int, bytes]]:
    """(record index, line bytes) for each non-blank line."""
    opener = gzip.open if shard.compressed else open
    row = 0
    try:
        with opener(shard.path, "rb") as handle:
            for line in handle:
                line = line.rstrip(b"\r\n")
                if line.strip():
                    yield row, line
                    row += 1
    except (OSError, EOFError, zlib.error) as exc:
        raise ShardError(f"{shard.path}: unreadable after record {row} ({exc})") from exc


def _read_jsonl(
    shard: Shard, text_column: str, id_column: str, batch_rows: int, schema: pa.Schema | None
) -> Iterator[ShardBatch]:
    pending: list[tuple[int, bytes]] = []
    for item in _jsonl_lines(shard):
        pending.append(item)
        if len(pending) == batch_rows:
            yield _jsonl_batch(shard, pending, text_column, id_column, schema)
            pending = []
    if pending:
        yield _jsonl_batch(shard, pending, text_column, id_column, schema)


def _jsonl_batch(
    shard: Shard,
    lines: list[tuple[int, bytes]],
    text_column: str,
    id_column: str,
    schema: pa.Schema | None,
) -> ShardBatch:
    records, rows, quarantined = [], [], []
    for row, line in lines:
        try:
            record = json.loads(line.decode("utf-8"))
        except UnicodeDecodeError as exc:
            quarantined.append(QuarantinedRow(row, f"not valid UTF-8 ({exc.reason} at byte {exc.start})", line))
            continue
        except ValueError as exc:
            quarantined.append(QuarantinedRow(row, f"malformed JSON ({exc})", line))
            continue
        if not isinstance(record, dict):
            quarantined.append(QuarantinedRow(row, f"record is a JSON {type(record).__name__}, not an object", line))
            continue
        if text_column not in record:
            quarantined.append(QuarantinedRow(row, f"missing text column {text_column!r}", line))
            continue
        text, error = _decode_text(record[text_column])
        if error is not None:
            quarantined.append(QuarantinedRow(row, error, line))
            continue
        record[text_column] = text
        records.append(record)
        rows.append(row)
    try:
        table = pa.Table.from_pylist(records, schema=schema)
    except (pa.ArrowException, TypeError) as exc:
        raise ShardError(f"{shard.path}: records near row {lines[0][0]} have inconsistent field types ({exc})") from exc
    if text_column not in table.column_names:  # only when no record survived
        table = table.append_column(text_column, pa.array([], pa.string()))
    batch = _make_batch(shard, table, [r[text_column] for r in records], None, text_column, id_column, None, rows)
    batch.quarantined = quarantined
    return batch


# --- shared --------------------------------------------------------------------------------------


def _decode_text(value: object) -> tuple[str | None, str | None]:
    """(text, None) for a usable document, (None, error) otherwise."""
    if value is None:
        return None, "text is null"
    if isinstance(value, bytes):
        try:
            value = value.decode("utf-8")
        except UnicodeDecodeError as exc:
            return None, f"text is not valid UTF-8 ({exc.reason} at byte {exc.start})"
    if not isinstance(value, str):
        return None, f"text is a {type(value).__name__}, not a string"
    if not value.strip():
        return None, "text is empty"
    return value, None


def _make_batch(shard, table, raw_text, start, text_column, id_column, raw_of, rows=None) -> ShardBatch:
    """Split decoded records from unusable ones and guarantee the id column.

    JSONL batches arrive already validated (`raw_of` None); parquet rows are checked here.
    """
    positions = np.arange(start, start + table.num_rows) if rows is None else np.asarray(rows, dtype=np.int64)
    keep, texts, quarantined = [], [], []
    for i, value in enumerate(raw_text):
        text, error = _decode_text(value)
        if error is None:
            keep.append(i)
            texts.append(text)
        else:
            quarantined.append(QuarantinedRow(int(positions[i]), error, raw_of(table, i)))
    if len(keep) < table.num_rows:
        table = table.take(pa.array(keep, pa.int64()))
    positions = positions[keep].astype(np.int64)
    if table.column(text_column).type != pa.string():
        table = table.set_column(
            table.schema.get_field_index(text_column), text_column, pa.array(texts, pa.string())
        )
    created = [f"{shard.name}:{row}" for row in positions]
    if id_column in table.column_names:
        given = table.column(id_column).to_pylist()
        ids = [str(v) if v is not None else c for v, c in zip(given, created)]
        if None in given and pa.types.is_string(table.schema.field(id_column).type):
            # Missing ids are created, as for a shard without the column; every pass agrees on them.
            index = table.schema.get_field_index(id_column)
            table = table.set_column(index, id_column, pa.array(ids, pa.string()))
    else:
        ids = created
        table = table.append_column(id_column, pa.array(created, pa.string()))
    return ShardBatch(rows=positions, texts=texts, ids=ids, table=table, quarantined=quarantined)
