"""What a shard read yields: valid records with their texts and ids, and quarantined ones with the reason.

Shared by the parquet and JSON Lines readers (`hygiene.io.parquet_rows`, `hygiene.io.shards`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pyarrow as pa

from .jsonl import as_text

__all__ = ["Shard", "QuarantinedRow", "ShardBatch", "UNREADABLE", "is_text_type", "decode_text", "make_batch",
           "row_json"]

UNREADABLE = "unreadable part: "  # how the quarantine error of a part that could not be read begins


@dataclass(frozen=True)
class Shard:
    path: Path
    format: Literal["parquet", "jsonl"]
    name: str  # unique among the inputs of one run; names the output files
    shown_as: str | None = None  # how outputs name the file (a server: relative to its data root); None: its path

    @property
    def source(self) -> str:
        """The file as the run's outputs name it (the quarantine's source column)."""
        return self.shown_as if self.shown_as is not None else str(self.path)

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
    created_id: bool = False  # the id column is not the input's: the reader made it (SHARD:ROW)


def is_text_type(t: pa.DataType) -> bool:
    if pa.types.is_dictionary(t):
        t = t.value_type
    return any(check(t) for check in (pa.types.is_string, pa.types.is_large_string, pa.types.is_binary,
                                      pa.types.is_large_binary, pa.types.is_string_view, pa.types.is_binary_view))


def decode_text(value: object) -> tuple[str | None, str | None]:
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


def make_batch(shard, table, raw_text, start, text_column, id_column, raw_of, rows=None) -> ShardBatch:
    """Split decoded records from unusable ones and guarantee the id column.

    JSONL batches arrive already validated (`raw_of` None); parquet rows are checked here.
    """
    positions = np.arange(start, start + table.num_rows) if rows is None else np.asarray(rows, dtype=np.int64)
    keep, texts, quarantined = [], [], []
    if raw_of is None:  # validated by the caller
        keep, texts = list(range(len(raw_text))), list(raw_text)
    for i, value in enumerate(raw_text if raw_of is not None else ()):
        text, error = decode_text(value)
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
    given_columns = table.column_names
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
    return ShardBatch(rows=positions, texts=texts, ids=ids, table=table, quarantined=quarantined,
                      created_id=id_column not in given_columns)


def row_json(table: pa.Table, i: int) -> bytes:
    """One row as JSON bytes: how a quarantined parquet row keeps all its fields."""
    record = {name: _value(table.column(name), i) for name in table.column_names}
    return json.dumps(record, default=repr, ensure_ascii=False).encode("utf-8", "backslashreplace")


def _value(column: pa.ChunkedArray, i: int) -> Any:
    try:
        return column[i].as_py()
    except (UnicodeDecodeError, pa.ArrowException, ValueError, OverflowError):  # e.g. invalid UTF-8 in a string
        return column.cast(pa.binary())[i].as_py() if is_text_type(column.type) else repr(column[i])
