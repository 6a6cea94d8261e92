"""Atomic writes: a file appears complete under its final name or not at all (temp file + rename).

A temporary file is the final name with a leading dot and the writer's process id (``.NAME.tmp-PID``), so
the leftovers of a killed process can be told apart from files still being written
(:func:`stale_temporaries`). A write that fails (a full disk) raises an OSError that names the file being
written and leaves no temporary file behind.
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from hashlib import sha256
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

__all__ = [
    "atomic_path", "AtomicFile", "ParquetSink", "write_json", "file_sha256", "remove_tree", "temporaries",
    "stale_temporaries",
]

_TEMP = re.compile(r"^\.(?P<name>.+)\.tmp-(?P<pid>\d+)$")


def _temporary(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    return path.with_name(f".{path.name}.tmp-{os.getpid()}")


def _naming(exc: OSError, path: Path) -> OSError:
    """`exc` with the file it concerns (pyarrow's write errors and plain write() errors name none)."""
    if exc.filename is not None:
        return exc
    return OSError(exc.errno or errno.EIO, f"cannot write: {exc.strerror or exc}", str(path))


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary sibling of `path`; rename it over `path` only if the block succeeds."""
    tmp = _temporary(path)
    try:
        yield tmp
        os.replace(tmp, path)
    except OSError as exc:
        raise _naming(exc, path) from exc
    finally:
        tmp.unlink(missing_ok=True)


class AtomicFile:
    """The life of one output file: written to a temporary sibling, renamed over `path` on `close()`, removed
    on `abort()` (even when the disk is full). Subclasses open `_handle` (a writer or stream with `close()`)
    when there is something to write; with no handle `close()` writes no file."""

    def __init__(self, path: Path):
        self.path = path
        self.rows = 0
        self._tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")  # the folder is made on first write
        self._handle: Any = None

    def _create(self) -> Path:
        """The temporary file's path, its folder made: call before opening `_handle`."""
        return _temporary(self.path)

    def _finishing(self) -> Any:
        """The handle `close()` finishes (None: no file). Parquet opens one to write a schema-only file."""
        return self._handle

    def close(self) -> None:
        handle = self._finishing()
        if handle is None:
            return
        try:
            handle.close()
            self._handle = None
            os.replace(self._tmp, self.path)
        except OSError as exc:
            self.abort()
            raise _naming(exc, self.path) from exc

    def abort(self) -> None:
        try:
            if self._handle is not None:
                self._handle.close()
        except (OSError, pa.ArrowException):
            pass  # a full disk fails the final flush too; the temporary file goes all the same
        finally:
            self._handle = None
            self._tmp.unlink(missing_ok=True)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.abort() if exc_type else self.close()


class ParquetSink(AtomicFile):
    """Append tables to a parquet file that appears under its name only on `close()`.

    The schema is fixed by the first write (or given up front). A sink that never saw a table
    nor a schema leaves no file; `abort()` leaves nothing behind, even when the disk is full.
    Pages carry a CRC, so a reader can tell a damaged page from data.
    """

    def __init__(self, path: Path, schema: pa.Schema | None = None, **options: Any):
        super().__init__(path)
        self._schema = schema
        self._options = {"compression": "zstd", "write_page_checksum": True, **options}  # ParquetWriter's
        self._create()

    def _open(self) -> pq.ParquetWriter:
        if self._handle is None:
            self._handle = pq.ParquetWriter(self._create(), self._schema, **self._options)
        return self._handle

    def _finishing(self) -> pq.ParquetWriter | None:
        return None if self._schema is None else self._open()

    def write(self, table: pa.Table) -> None:
        self._schema = self._schema or table.schema
        try:
            self._open().write_table(table.cast(self._schema) if table.schema != self._schema else table)
        except OSError as exc:
            raise _naming(exc, self.path) from exc
        self.rows += table.num_rows


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


def temporaries(folder: Path, names: Collection[str] | None = None) -> list[Path]:
    """Temporary files in `folder` (of final names in `names`, when given), whoever writes them."""
    if not folder.is_dir():
        return []
    found = []
    for path in folder.iterdir():
        match = _TEMP.match(path.name)
        if match and (names is None or match["name"] in names) and path.is_file():
            found.append(path)
    return found


def _alive(pid: int) -> bool:
    if pid == os.getpid():  # not ours in flight: callers look before writing (and a restarted container
        return False  # often gets the pid its killed predecessor had)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def stale_temporaries(folder: Path, names: Collection[str] | None = None) -> list[Path]:
    """Temporary files in `folder` whose writer is no longer running: what kill -9 leaves behind."""
    return [p for p in temporaries(folder, names) if not _alive(int(_TEMP.match(p.name)["pid"]))]
