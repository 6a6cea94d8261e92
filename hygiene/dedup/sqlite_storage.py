"""The embedded dedup-index backend: one SQLite file on disk (the default).

SQLite gives atomic commits that survive a crash (write-ahead log) with nothing to install or run.
Bulk reads go through a temporary table of the query values joined with the indexed table, one
statement per call. uint64 hashes are stored as the int64 with the same bits.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import numpy as np

from hygiene.dedup.storage import DedupIndexError, IndexStorage, IndexUpdate

__all__ = ["SQLiteStorage"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS buckets (key INTEGER NOT NULL, row INTEGER NOT NULL, PRIMARY KEY (key, row)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS signatures (row INTEGER PRIMARY KEY, sig BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS parents (row INTEGER PRIMARY KEY, parent INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS exact (key INTEGER PRIMARY KEY, row INTEGER NOT NULL) WITHOUT ROWID;
CREATE TEMP TABLE IF NOT EXISTS query (pos INTEGER PRIMARY KEY, value INTEGER NOT NULL);
"""


def _signed(keys: np.ndarray) -> list[int]:
    return np.ascontiguousarray(keys, dtype=np.uint64).view(np.int64).tolist()


class SQLiteStorage(IndexStorage):
    """Index state in the SQLite file at ``path`` (created with its folder if missing)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = sqlite3.connect(self.path, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.executescript(_SCHEMA)
        except sqlite3.DatabaseError as exc:
            raise DedupIndexError(f"{self.path} is not a usable dedup index: {exc}") from exc

    def meta(self) -> dict[str, Any] | None:
        row = self._db.execute("SELECT value FROM meta WHERE name = 'meta'").fetchone()
        return json.loads(row[0]) if row else None

    def commit(self, update: IndexUpdate) -> None:
        bands = update.band_keys.shape[1] if update.band_keys.ndim == 2 else 0
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            keys = np.ascontiguousarray(update.band_keys.reshape(-1), dtype=np.uint64).view(np.int64)
            order = np.argsort(keys, kind="stable")  # B-tree inserts in key order touch each page once
            db.executemany(
                "INSERT OR IGNORE INTO buckets VALUES (?, ?)",
                zip(keys[order].tolist(), np.repeat(update.rows, bands)[order].tolist()),
            )
            sig = np.ascontiguousarray(update.signatures, dtype=np.uint32)
            db.executemany(
                "INSERT OR REPLACE INTO signatures VALUES (?, ?)",
                ((int(r), sig[k].tobytes()) for k, r in enumerate(update.rows)),
            )
            db.executemany(
                "INSERT OR REPLACE INTO parents VALUES (?, ?)",
                zip(update.parent_rows.tolist(), update.parents.tolist()),
            )
            db.executemany(
                "INSERT OR IGNORE INTO exact VALUES (?, ?)",
                zip(_signed(update.exact_keys), update.exact_rows.tolist()),
            )
            db.execute("INSERT OR REPLACE INTO meta VALUES ('meta', ?)", (json.dumps(update.meta),))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def _join(self, values: list[int], select: str) -> list[tuple]:
        """Rows of ``select`` (which reads the temp table ``query(pos, value)``) for these values."""
        db = self._db
        db.execute("BEGIN")  # one transaction: each autocommitted insert would be its own (~40 us)
        try:
            db.execute("DELETE FROM query")
            db.executemany("INSERT INTO query VALUES (?, ?)", enumerate(values))
            return db.execute(select).fetchall()
        finally:
            db.execute("COMMIT")

    def bucket_rows(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        found = self._join(
            _signed(keys),
            "SELECT q.pos, b.row FROM query q JOIN buckets b ON b.key = q.value ORDER BY q.pos, b.row",
        )
        pairs = np.array(found, dtype=np.int64).reshape(-1, 2)
        return pairs[:, 0], pairs[:, 1]

    def signatures(self, rows: np.ndarray) -> np.ndarray:
        rows = np.asarray(rows, dtype=np.int64)
        found = self._join(
            rows.tolist(), "SELECT q.pos, s.sig FROM query q JOIN signatures s ON s.row = q.value ORDER BY q.pos"
        )
        if len(found) != len(rows):
            raise DedupIndexError(f"{len(rows) - len(found)} of the requested rows have no signature in {self.path}")
        blob = b"".join(sig for _, sig in found)
        return np.frombuffer(blob, dtype=np.uint32).reshape(len(rows), -1).copy()

    def parents(self, rows: np.ndarray) -> np.ndarray:
        rows = np.asarray(rows, dtype=np.int64)
        out = rows.copy()
        found = self._join(rows.tolist(), "SELECT q.pos, p.parent FROM query q JOIN parents p ON p.row = q.value")
        if found:
            pos, parent = np.array(found, dtype=np.int64).T
            out[pos] = parent
        return out

    def exact_rows(self, keys: np.ndarray) -> np.ndarray:
        out = np.full(len(keys), -1, dtype=np.int64)
        found = self._join(_signed(keys), "SELECT q.pos, e.row FROM query q JOIN exact e ON e.key = q.value")
        if found:
            pos, row = np.array(found, dtype=np.int64).T
            out[pos] = row
        return out

    def size_bytes(self) -> int:
        self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return self.path.stat().st_size

    def close(self) -> None:
        self._db.close()
