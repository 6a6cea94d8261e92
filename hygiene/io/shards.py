"""Shard discovery, validation and streaming reads (parquet and JSON Lines, optionally gzip).

This module finds and checks shards and assembles JSON Lines batches; parquet is read by
`hygiene.io.parquet_rows`, JSON lines are split and parsed by `hygiene.io.jsonl`, and both build their
batches with `hygiene.io.records`.

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
from itertools import islice
from pathlib import Path
from typing import Any, Literal

import pyarrow as pa
import pyarrow.parquet as pq

from hygiene.errors import ShardError
from hygiene.io import columns as C

from .jsonl import GZIP_MAGIC, Gap, build_table, lines, parse_record
from .parquet_rows import parquet_file, parquet_problems, read_parquet
from .records import UNREADABLE, QuarantinedRow, Shard, ShardBatch, decode_text, is_text_type, make_batch, row_json

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
    "unreadable_ranges",
    "is_run_dir",
    "SHARD_SUFFIXES",
    "UNREADABLE",
    "row_json",
]

SHARD_SUFFIXES = (".parquet", ".jsonl", ".jsonl.gz", ".ndjson", ".ndjson.gz")
_JSONL_PEEK_LINES = 100  # how far validation looks for records with the text field
_ARROW_ERRORS = (pa.ArrowException, TypeError, ValueError, OverflowError, RecursionError)


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
    """True for a directory a corpus-hygiene run writes into: it holds the run's marker, or (a finished run
    whose work folder is gone) a manifest that carries it."""
    if (path / C.WORK_DIR / C.RUN_MARKER).is_file():
        return True
    if not (path / C.MANIFEST).is_file():
        return False
    try:
        run = json.loads((path / C.MANIFEST).read_text(encoding="utf-8")).get("run")
    except (OSError, ValueError, AttributeError):
        return False
    return isinstance(run, dict) and run.get("format") == C.RUN_FORMAT


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
    paths: list[tuple[Path, str]] = []  # each shard and its name: its path under the folder searched, no suffix
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
            paths.extend((f, (f.parent / _stem(f)).relative_to(path).as_posix()) for f in found)
        elif _shard_format(path) is None:
            raise ShardError(f"unsupported shard format: {path} (expected {', '.join(SHARD_SUFFIXES)})")
        else:
            paths.append((path, _stem(path)))
    seen: set[Path] = set()
    shards: list[Shard] = []
    names: set[str] = set()
    for path, stem in paths:
        resolved = path.resolve()
        if resolved in seen:
            raise ShardError(f"input given twice: {path}")
        seen.add(resolved)
        name, k = stem, 1
        while name in names:  # two inputs named alike (two folders searched, or files given by path)
            k += 1
            name = f"{stem}-{k}"
        names.add(name)
        shards.append(Shard(path=path, format=_shard_format(path), name=name))  # type: ignore[arg-type]
    return shards


def open_shards(inputs: Sequence[str | Path], text_column: str, exclude: str | Path | None = None) -> list[Shard]:
    """`discover` then `validate` every shard: all input errors surface before any work starts."""
    shards = discover(inputs, exclude)
    for shard in shards:
        validate(shard, text_column)
    return shards


def validate(shard: Shard, text_column: str) -> None:
    """Fail fast, before anything is written, on a shard that cannot be read at all or has no text column.

    Record-level problems (a broken line, a record without the text field) are not errors here: they are
    quarantined when the shard is read.
    """
    if shard.format == "parquet":
        schema = parquet_file(shard.path).schema_arrow
        if text_column not in schema.names:
            raise ShardError(f"{shard.path}: no text column {text_column!r} (columns: {', '.join(schema.names)})",
                             setting="text_column")
        if not is_text_type(schema.field(text_column).type):
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
        return parquet_file(shard.path).metadata.num_rows
    return sum(1 for _ in _jsonl_items(shard))


def unreadable(shard: Shard) -> list[str]:
    """Why parts of the shard cannot be read (empty when all of it can). Reads every byte: for uploads."""
    if shard.format == "jsonl":
        return [item.error for item in _jsonl_items(shard) if isinstance(item, Gap)]
    return parquet_problems(shard.path)


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
        yield from read_parquet(shard, text_column, id_column, batch_rows)
    else:
        yield from _read_jsonl(shard, text_column, id_column, batch_rows, schema)


def unreadable_parts(quarantine: Path) -> list[dict[str, Any]]:
    """The unreadable parts recorded in a shard's quarantine file, as row ranges with their reason."""
    if not quarantine.exists():
        return []
    table = pq.read_table(quarantine, columns=[C.Q_ROW, C.Q_ERROR])
    return unreadable_ranges(table.column(C.Q_ROW).to_pylist(), table.column(C.Q_ERROR).to_pylist())


def unreadable_ranges(rows: Sequence[int], errors: Sequence[str]) -> list[dict[str, Any]]:
    """Quarantined rows (positions and errors, in row order) -> the unreadable parts among them, as ranges."""
    parts: list[dict[str, Any]] = []
    for row, error in zip(rows, errors):
        if not error.startswith(UNREADABLE):
            continue
        error = error.removeprefix(UNREADABLE)
        if parts and parts[-1]["error"] == error and parts[-1]["last_row"] == row - 1:
            parts[-1]["last_row"] = row
        else:
            parts.append({"first_row": row, "last_row": row, "error": error})
    return parts


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
                text, error = decode_text(record[text_column])
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
    batch = make_batch(shard, table, texts, first, text_column, id_column, None, rows)
    batch.quarantined = quarantined
    return batch


