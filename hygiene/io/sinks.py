"""Output shard files in the format a run asks for: parquet, or JSON Lines (plain, gzip or zstd).

Every sink appends Arrow tables and makes its file appear atomically on ``close()``; a sink that got no
row writes no file at all (an empty shard file breaks readers such as Hugging Face ``datasets``), so
callers count rows with ``sink.rows``, never by looking for the file. In JSON Lines, binary values are
written as base64 text (JSON has no bytes), dates and times in ISO 8601, NaN and infinities as null.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import math
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal, Protocol

import pyarrow as pa

from .atomic import AtomicFile, ParquetSink, _naming
from .columns import OUTPUT_FORMATS

__all__ = ["OutputFormat", "OUTPUT_FORMATS", "Sink", "JsonlSink", "output_path", "output_suffix", "open_sink"]

OutputFormat = Literal["parquet", "jsonl", "jsonl.gz", "jsonl.zst"]
_CODECS = {"jsonl": None, "jsonl.gz": "gzip", "jsonl.zst": "zstd"}


class Sink(Protocol):
    path: Path
    rows: int

    def write(self, table: pa.Table) -> None: ...

    def close(self) -> None: ...

    def abort(self) -> None: ...


def output_suffix(fmt: str) -> str:
    if fmt not in OUTPUT_FORMATS:
        raise ValueError(f"unknown output format {fmt!r} (expected one of {', '.join(OUTPUT_FORMATS)})")
    return "." + fmt


def output_path(folder: Path, name: str, fmt: str) -> Path:
    """The file of shard `name` (which may hold folders: a/b/x) under `folder`."""
    return folder / f"{name}{output_suffix(fmt)}"


class _NonEmptyParquet:
    """A parquet sink that ignores empty tables, so a shard part without rows leaves no file (nor folder)."""

    def __init__(self, path: Path):
        self.path, self.rows = path, 0
        self._sink: ParquetSink | None = None

    def write(self, table: pa.Table) -> None:
        if table.num_rows:
            self._sink = self._sink or ParquetSink(self.path)  # creates the folder
            self._sink.write(table)
            self.rows = self._sink.rows

    def close(self) -> None:
        if self._sink is not None:
            self._sink.close()

    def abort(self) -> None:
        if self._sink is not None:
            self._sink.abort()

    def __enter__(self) -> _NonEmptyParquet:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.abort() if exc_type else self.close()


def _plain(value: Any) -> Any:
    """A value from ``Table.to_pylist`` as something ``json`` writes (recursively)."""
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dt.date | dt.time | dt.datetime):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, Decimal):
        return str(value)
    return value


def _line(record: dict[str, Any]) -> bytes:
    try:
        text = json.dumps(record, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError):  # bytes, dates, NaN...: the slower, general conversion
        text = json.dumps(_plain(record), ensure_ascii=False, allow_nan=False, default=str)
    return text.encode("utf-8") + b"\n"


class JsonlSink(AtomicFile):
    """Append tables as JSON Lines (one object per row), optionally compressed; atomic like ParquetSink."""

    def __init__(self, path: Path, codec: str | None = None):
        super().__init__(path)
        self.codec = codec

    def write(self, table: pa.Table) -> None:
        if not table.num_rows:
            return
        try:
            if self._handle is None:
                raw = pa.OSFile(str(self._create()), "wb")
                self._handle = pa.CompressedOutputStream(raw, self.codec) if self.codec else raw
            for batch in table.to_batches(max_chunksize=4096):
                self._handle.write(b"".join(_line(r) for r in batch.to_pylist()))
        except OSError as exc:
            raise _naming(exc, self.path) from exc
        self.rows += table.num_rows


def open_sink(folder: Path, name: str, fmt: str) -> Sink:
    """A sink for shard `name` under `folder` in format `fmt`; it writes a file only if it gets rows."""
    path = output_path(folder, name, fmt)
    if fmt == "parquet":
        return _NonEmptyParquet(path)
    return JsonlSink(path, _CODECS[fmt])
