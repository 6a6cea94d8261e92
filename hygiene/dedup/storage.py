"""Where a persistent dedup index keeps its state: one small interface, one backend per file.

In the spirit of datasketch's ``Storage``: the index (``hygiene.dedup.index``) holds the logic and
talks to a backend only through these few bulk calls, so the embedded SQLite file and a Redis
server shared by many workers behave the same. A backend stores, per indexed row:

- its LSH band keys (bucket key -> rows in that bucket),
- its MinHash signature (to verify a new document against it without re-signing the old one),
- its cluster parent when it is not its own cluster's representative,
- and, per normalised-text hash, the first row that had it (exact duplicates).

``commit`` applies one ``IndexUpdate`` atomically: after a crash the index holds every update
before it and nothing of the one that failed.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

import numpy as np

from hygiene.errors import HygieneError

__all__ = ["DedupIndexError", "IndexStorage", "IndexUpdate", "open_storage", "redact_location"]


class DedupIndexError(HygieneError, ValueError):
    """The dedup index cannot be used with these settings, or is unreachable."""

    code = "dedup_index"


@dataclass(frozen=True)
class IndexUpdate:
    """Everything one batch adds to the index."""

    meta: dict[str, Any]  # replaces the stored meta (n_docs moves forward)
    rows: np.ndarray  # int64 (n,): rows whose keys and signatures are added
    band_keys: np.ndarray  # uint64 (n, bands)
    signatures: np.ndarray  # uint32 (n, num_perm)
    parent_rows: np.ndarray  # int64: rows whose cluster parent is set ...
    parents: np.ndarray  # int64: ... to these rows (always smaller)
    exact_keys: np.ndarray  # uint64: normalised-text hashes seen for the first time ...
    exact_rows: np.ndarray  # int64: ... at these rows


class IndexStorage(ABC):
    """Bulk reads and one atomic write; arrays in, arrays out."""

    @abstractmethod
    def meta(self) -> dict[str, Any] | None:
        """The stored meta (settings, n_docs), or None for an empty index."""

    @abstractmethod
    def commit(self, update: IndexUpdate) -> None:
        """Apply ``update`` atomically."""

    @abstractmethod
    def bucket_rows(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Rows in the buckets of ``keys`` (uint64, unique): (position in keys, row), sorted by both."""

    @abstractmethod
    def signatures(self, rows: np.ndarray) -> np.ndarray:
        """(len(rows), num_perm) uint32 signatures of indexed rows."""

    @abstractmethod
    def parents(self, rows: np.ndarray) -> np.ndarray:
        """Stored cluster parent of each row, the row itself where none is stored."""

    @abstractmethod
    def exact_rows(self, keys: np.ndarray) -> np.ndarray:
        """First row with each normalised-text hash (uint64 keys), -1 where unseen."""

    @abstractmethod
    def size_bytes(self) -> int:
        """Bytes the index takes in its store (file size, or the server's memory for it)."""

    def close(self) -> None:  # noqa: B027 (optional hook)
        """Release connections or files."""

    def __enter__(self) -> IndexStorage:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_storage(location: str) -> IndexStorage:
    """A backend from a location: ``redis://host:port/db[?prefix=name]``, else a SQLite file path."""
    if location.startswith(("redis://", "rediss://", "unix://")):
        from hygiene.dedup.redis_storage import RedisStorage

        return RedisStorage.from_url(location)
    from hygiene.dedup.sqlite_storage import SQLiteStorage

    return SQLiteStorage(location)


_SECRET_OPTIONS = {"password", "username"}


def redact_location(location: str) -> str:
    """``location`` fit for a manifest or a message: a Redis URL's credentials (``user:password@`` or a
    ``password=`` option) become ``***``; a file path is returned as given."""
    from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

    if not location.startswith(("redis://", "rediss://", "unix://")):
        return location
    parts = urlsplit(location)
    netloc = parts.netloc
    if "@" in netloc:
        netloc = "***@" + netloc.rsplit("@", 1)[1]
    options = parse_qsl(parts.query, keep_blank_values=True)
    query = [(k, "***" if k.lower() in _SECRET_OPTIONS else v) for k, v in options]
    return urlunsplit(parts._replace(netloc=netloc, query=urlencode(query, safe="*")))
