"""Atomic writes: a file appears complete under its final name or not at all (temp file + rename)."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from hashlib import sha256
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

__all__ = ["atomic_path", "ParquetSink", "write_json", "file_sha256", "remove_tree"]


def _temporary(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    return path.with_name(f".{path.name}.tmp-{os.getpid()}")


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary sibling of `path`; rename it over `path` only if the block succeeds."""
    tmp = _temporary(path)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


class ParquetSink:
    """Append tables to a parquet file that appears under its name only on `close()`.

    The schema is fixed by the first write (or given up front). A sink that never saw a table
    nor a schema leaves no file; `abort()` leaves nothing behind.
    """

    def __init__(self, path: Path, schema: pa.Schema | None = None, **options: Any):
        self.path = path
        self.rows = 0
        self._schema = schema
        self._options = {"compression": "zstd", **options}  # ParquetWriter options
        self._tmp = _temporary(path)
        self._writer: pq.ParquetWriter | None = None

    def _open(self) -> pq.ParquetWriter:
        if self._writer is None:
            self._writer = pq.ParquetWriter(self._tmp, self._schema, **self._options)
        return self._writer

    def write(self, table: pa.Table) -> None:
        self._schema = self._schema or table.schema
        self._open().write_table(table.cast(self._schema) if table.schema != self._schema else table)
        self.rows += table.num_rows

    def close(self) -> None:
        if self._schema is None:
            return
        self._open().close()
        os.replace(self._tmp, self.path)

    def abort(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self._tmp.unlink(missing_ok=True)

    def __enter__(self) -> ParquetSink:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.abort() if exc_type else self.close()


def write_json(path: Path, obj: Any) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=False, default=str) + "\n")


def file_sha256(path: Path, chunk: int = 1 << 20) -> str:
    digest = sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def remove_tree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
