"""Shard discovery, validation and streaming reads (parquet and JSON Lines, optionally gzip).

A shard is read in record batches so memory stays bounded whatever its size. Every record ends up
either in a batch's valid rows (with its text decoded and an id) or in its quarantine list with
the error and its original bytes; nothing is dropped silently. Blank JSONL lines are not records.

What cannot be read at all is quarantined too, with no bytes and an error starting with
:data:`UNREADABLE` that names the part: the rows of a parquet row group past a corrupt page (one
quarantine row per lost row: the footer says how many), or the rest of a JSONL file past a cut or corrupt
gzip stream (one quarantine row: how many records it held is unknown). Everything before it is processed.

Discovery never takes a run's outputs as inputs: hidden files and folders, and folders that hold a
corpus-hygiene run (they have ``.work/run.json``), are skipped when a directory is searched.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from hygiene.errors import ShardError
from hygiene.io import columns as C

from .jsonl import GZIP_MAGIC, Gap, as_text, build_table, lines, parse_record

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
    "unreadable",
    "unreadable_parts",
    "is_run_dir",
    "SHARD_SUFFIXES",
    "UNREADABLE",
    "row_json",
]

SHARD_SUFFIXES = (".parquet", ".jsonl", ".jsonl.gz", ".ndjson", ".ndjson.gz")
UNREADABLE = "unreadable part: "  # how the quarantine error of a part that could not be read begins
_JSONL_PEEK_LINES = 100  # how far validation looks for records with the text field
_ARROW_ERRORS = (pa.ArrowException, TypeError, ValueError, OverflowError, RecursionError)


@dataclass(frozen=True)
class Shard:
    path: Path
    format: Literal["parquet", "jsonl"]
    name: str  # unique among the inputs of one run; names the output files

    @property
    def compressed(self) -> bool:
        return self.path.name.lower().endswith(".gz")


@dataclass(frozen=True)
class QuarantinedRow:
    row: int
    error: str
    raw: bytes | None  # the original record (the JSONL line, or the parquet row as JSON); None: unreadable


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


def is_run_dir(path: Path) -> bool:
    """True for a directory a corpus-hygiene run writes into (it holds the run's marker)."""
    return (path / C.WORK_DIR / C.RUN_MARKER).is_file()


def _search(root: Path, exclude: Path | None) -> list[Path]:
    """Shard files under `root`, sorted; hidden entries, run directories and `exclude` are not entered.

    Symlinked files are taken, symlinked directories are not entered (as `Path.rglob`).
    """
    found: list[Path] = []
    for folder, dirs, files in os.walk(root):
        here = Path(folder)
        dirs[:] = [d for d in dirs if not d.startswith(".") and not is_run_dir(here / d)
                   and (exclude is None or (here / d).resolve() != exclude)]
        found.extend(here / f for f in files
                     if not f.startswith(".") and _shard_format(here / f) and (here / f).is_file())
    return sorted(found)


def discover(inputs: Sequence[str | Path], exclude: str | Path | None = None) -> list[Shard]:
    """Expand files and directories (searched recursively) into shards with unique names.

    `exclude` is the run's output directory: an input inside it is refused, a search never enters it.
    """
    if not inputs:
        raise ShardError("no input shards given")
    out = Path(exclude).resolve() if exclude is not None else None
    paths: list[Path] = []
    for raw in inputs:
        path = Path(raw)
        if not path.exists():
            raise ShardError(f"input not found: {path}")
        if out is not None and path.resolve().is_relative_to(out):
            raise ShardError(f"input {path} lies inside the output directory {exclude}; a run never reads "
                             "what it writes")
        if path.is_dir():
            if is_run_dir(path):
                raise ShardError(f"{path} is a corpus-hygiene output directory; its outputs are not read as "
                                 f"inputs (name its {C.KEPT_DIR}/ folder to read the kept rows)")
            found = _search(path, out)
            if not found:
                raise ShardError(
                    f"directory holds no shards: {path} (looked for {', '.join(SHARD_SUFFIXES)}; hidden "
                    "files and run output directories are skipped)"
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


def open_shards(inputs: Sequence[str | Path], text_column: str, exclude: str | Path | None = None) -> list[Shard]:
    """`discover` then `validate` every shard: all input errors surface before any work starts."""
    shards = discover(inputs, exclude)
    for shard in shards:
        validate(shard, text_column)
    return shards


def _is_text_type(t: pa.DataType) -> bool:
    if pa.types.is_dictionary(t):
        t = t.value_type
    return any(check(t) for check in (pa.types.is_string, pa.types.is_large_string, pa.types.is_binary,
                                      pa.types.is_large_binary, pa.types.is_string_view, pa.types.is_binary_view))


def validate(shard: Shard, text_column: str) -> None:
    """Fail fast, before anything is written, on a shard that cannot be read at all or has no text column.

    Record-level problems (a broken line, a record without the text field) are not errors here: they are
    quarantined when the shard is read.
    """
    if shard.format == "parquet":
        schema = _parquet_file(shard.path).schema_arrow
        if text_column not in schema.names:
            raise ShardError(f"{shard.path}: no text column {text_column!r} (columns: {', '.join(schema.names)})",
                             setting="text_column")
        if not _is_text_type(schema.field(text_column).type):
            raise ShardError(
                f"{shard.path}: text column {text_column!r} has type {schema.field(text_column).type}, "
                "expected string", setting="text_column"
            )
        return
    if shard.compressed:
        with _open(shard.path) as handle:
            head = handle.read(2)
        if head and head != GZIP_MAGIC:
            raise ShardError(f"{shard.path}: not gzip-compressed (the name ends in .gz)")
    fields: dict[str, None] = {}
    seen = 0
    for item in islice(_jsonl_items(shard), _JSONL_PEEK_LINES):
        if isinstance(item, Gap):
            break
        seen += 1
        try:
            record = json.loads(item[1].decode("utf-8", "replace"))
        except (ValueError, RecursionError):
            continue
        if isinstance(record, dict):
            if text_column in record:
                return
            fields.update(dict.fromkeys(map(str, record)))
    if fields:
        raise ShardError(f"{shard.path}: none of its first {seen} records has a text field {text_column!r} "
                         f"(fields: {', '.join(list(fields)[:20])})", setting="text_column")
    if seen:
        raise ShardError(f"{shard.path}: no JSON object in its first {seen} lines; not JSON Lines")


def count_rows(shard: Shard) -> int:
    """Records in the shard (parquet: from the footer; JSONL: non-blank lines, plus one per unreadable part)."""
    if shard.format == "parquet":
        return _parquet_file(shard.path).metadata.num_rows
    return sum(1 for _ in _jsonl_items(shard))


def unreadable(shard: Shard) -> list[str]:
    """Why parts of the shard cannot be read (empty when all of it can). Reads every byte: for uploads."""
    if shard.format == "jsonl":
        return [item.error for item in _jsonl_items(shard) if isinstance(item, Gap)]
    problems = []
    pf = _parquet_file(shard.path)
    for group in range(pf.metadata.num_row_groups):
        try:
            for _ in pf.iter_batches(batch_size=1 << 16, row_groups=[group]):
                pass
        except (pa.ArrowException, OSError, MemoryError) as exc:
            problems.append(f"row group {group}: {exc}")
    return problems


def read_batches(
    shard: Shard,
    text_column: str = "text",
    id_column: str = "id",
    batch_rows: int = 1024,
    schema: pa.Schema | None = None,
) -> Iterator[ShardBatch]:
    """Stream a shard as batches of valid records plus their quarantined neighbours.

    `schema` (JSONL only) makes every batch share one schema, as the union computed by a previous
    pass (`hygiene.io.jsonl.unify`); without it each JSONL batch infers its own.
    """
    if batch_rows < 1:
        raise ValueError(f"batch_rows must be >= 1, got {batch_rows}")
    if shard.format == "parquet":
        yield from _read_parquet(shard, text_column, id_column, batch_rows)
    else:
        yield from _read_jsonl(shard, text_column, id_column, batch_rows, schema)


def unreadable_parts(quarantine: Path) -> list[dict[str, Any]]:
    """The unreadable parts recorded in a shard's quarantine file, as row ranges with their reason."""
    if not quarantine.exists():
        return []
    table = pq.read_table(quarantine, columns=[C.Q_ROW, C.Q_ERROR])
    parts: list[dict[str, Any]] = []
    for row, error in zip(table.column(C.Q_ROW).to_pylist(), table.column(C.Q_ERROR).to_pylist()):
        if not error.startswith(UNREADABLE):
            continue
        error = error.removeprefix(UNREADABLE)
        if parts and parts[-1]["error"] == error and parts[-1]["last_row"] == row - 1:
            parts[-1]["last_row"] = row
        else:
            parts.append({"first_row": row, "last_row": row, "error": error})
    return parts


# --- parquet -------------------------------------------------------------------------------------


def _parquet_file(path: Path) -> pq.ParquetFile:
    try:
        # Pages written with a CRC are checked: a flipped byte is a lost page, not a silently changed text.
        return pq.ParquetFile(path, page_checksum_verification=True)
    except (pa.ArrowException, OSError) as exc:
        raise ShardError(f"{path}: not a readable parquet file ({exc})") from exc


def _text_bytes(column: pa.ChunkedArray) -> list[bytes | None]:
    # Decode ourselves: parquet does not guarantee valid UTF-8 in string columns.
    return column.cast(pa.binary()).to_pylist()


def _read_parquet(shard: Shard, text_column: str, id_column: str, batch_rows: int) -> Iterator[ShardBatch]:
    pf = _parquet_file(shard.path)
    start = 0
    for group in range(pf.metadata.num_row_groups):
        n = pf.metadata.row_group(group).num_rows
        done, error = 0, None
        batches = pf.iter_batches(batch_size=batch_rows, row_groups=[group])
        while True:
            try:
                record_batch = next(batches, None)
            except (pa.ArrowException, OSError, MemoryError) as exc:  # a corrupt page: the rest of the group
                error = str(exc)
                break
            if record_batch is None:
                break
            table = pa.Table.from_batches([record_batch])
            yield _make_batch(shard, table, _text_bytes(table.column(text_column)), start + done, text_column,
                              id_column, row_json)
            done += table.num_rows
        if done < n:
            lo, hi = start + done, start + n
            why = f"{UNREADABLE}row group {group} (rows {lo}-{hi - 1}): {error or f'read {done} of its {n} rows'}"
            empty = pf.schema_arrow.empty_table()
            for chunk in range(lo, hi, batch_rows):
                batch = _make_batch(shard, empty, [], chunk, text_column, id_column, row_json)
                batch.quarantined = [QuarantinedRow(r, why, None) for r in range(chunk, min(chunk + batch_rows, hi))]
                yield batch
        start += n


def row_json(table: pa.Table, i: int) -> bytes:
    """One row as JSON bytes: how a quarantined parquet row keeps all its fields."""
    record = {name: _value(table.column(name), i) for name in table.column_names}
    return json.dumps(record, default=repr, ensure_ascii=False).encode("utf-8", "backslashreplace")


def _value(column: pa.ChunkedArray, i: int) -> Any:
    try:
        return column[i].as_py()
    except (UnicodeDecodeError, pa.ArrowException, ValueError, OverflowError):  # e.g. invalid UTF-8 in a string
        return column.cast(pa.binary())[i].as_py() if _is_text_type(column.type) else repr(column[i])


# --- JSON Lines ----------------------------------------------------------------------------------


def _open(path: Path):
    try:
        return open(path, "rb")
    except OSError as exc:
        raise ShardError(f"{path}: cannot be read ({exc.strerror or exc})") from exc


def _jsonl_items(shard: Shard) -> Iterator[tuple[int, bytes] | Gap]:
    _open(shard.path).close()  # an unopenable file is the shard's error, not a record's
    yield from lines(shard.path, shard.compressed)


def _read_jsonl(
    shard: Shard, text_column: str, id_column: str, batch_rows: int, schema: pa.Schema | None
) -> Iterator[ShardBatch]:
    pending: list[tuple[int, bytes] | Gap] = []
    for item in _jsonl_items(shard):
        pending.append(item)
        if len(pending) == batch_rows:
            yield _jsonl_batch(shard, pending, text_column, id_column, schema)
            pending = []
    if pending:
        yield _jsonl_batch(shard, pending, text_column, id_column, schema)


def _jsonl_batch(
    shard: Shard,
    items: list[tuple[int, bytes] | Gap],
    text_column: str,
    id_column: str,
    schema: pa.Schema | None,
) -> ShardBatch:
    records, rows, texts, quarantined = [], [], [], []
    for item in items:
        if isinstance(item, Gap):
            quarantined.append(QuarantinedRow(item.row, UNREADABLE + item.error, None))
            continue
        row, line = item
        record, error = parse_record(line)
        text = None
        if record is not None:
            if text_column not in record:
                error = f"missing text column {text_column!r}"
            else:
                text, error = _decode_text(record[text_column])
        if error is not None:
            quarantined.append(QuarantinedRow(row, error, line))
            continue
        record[text_column] = text
        records.append(record)
        rows.append(row)
        texts.append(text)
    try:
        table = build_table(records, schema)
    except _ARROW_ERRORS as exc:  # only with a schema from an earlier pass over the same file
        raise ShardError(f"{shard.path}: records near row {rows[0]} do not fit the column types found when the "
                         f"shard was first read ({exc}); was the file changed during the run?") from exc
    if text_column not in table.column_names:  # only when no record survived
        table = table.append_column(text_column, pa.array([], pa.string()))
    first = rows[0] if rows else 0
    batch = _make_batch(shard, table, texts, first, text_column, id_column, None, rows)
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


def _id_values(column: pa.ChunkedArray) -> list[str | None]:
    """Given ids as text: strings as they are (invalid UTF-8 escaped), other values as JSON (1 -> "1")."""
    try:
        values = column.to_pylist()
    except UnicodeDecodeError:
        values = column.cast(pa.binary()).to_pylist()  # bytes: decoded below
    return [v.decode("utf-8", "backslashreplace") if isinstance(v, bytes) else as_text(v) for v in values]


def _make_batch(shard, table, raw_text, start, text_column, id_column, raw_of, rows=None) -> ShardBatch:
    """Split decoded records from unusable ones and guarantee the id column.

    JSONL batches arrive already validated (`raw_of` None); parquet rows are checked here.
    """
    positions = np.arange(start, start + table.num_rows) if rows is None else np.asarray(rows, dtype=np.int64)
    keep, texts, quarantined = [], [], []
    if raw_of is None:  # validated by the caller
        keep, texts = list(range(len(raw_text))), list(raw_text)
    for i, value in enumerate(raw_text if raw_of is not None else ()):
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
        given = _id_values(table.column(id_column))
        ids = [v if v is not None else c for v, c in zip(given, created)]
        if None in given and pa.types.is_string(table.schema.field(id_column).type):
            # Missing ids are created, as for a shard without the column; every pass agrees on them.
            index = table.schema.get_field_index(id_column)
            table = table.set_column(index, id_column, pa.array(ids, pa.string()))
    else:
        ids = created
        table = table.append_column(id_column, pa.array(created, pa.string()))
    return ShardBatch(rows=positions, texts=texts, ids=ids, table=table, quarantined=quarantined)
