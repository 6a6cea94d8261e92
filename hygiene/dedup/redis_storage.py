"""The shared dedup-index backend: a Redis server that many workers can read.

Layout under a key prefix ``P`` (several indexes can share a server):

- ``P:meta``: the index meta as JSON;
- ``P:b:<n>``: hash of bucket keys (8 bytes) -> their rows (packed int64), ``n`` = top ``bucket_bits``
  bits of the key; small hashes use Redis's compact listpack encoding, one top-level key per
  bucket would cost ~60 bytes of overhead each;
- ``P:s:<block>``: signatures of rows ``block*1024 .. +1023`` packed in one string (SETRANGE);
- ``P:parent``: hash row -> cluster parent; ``P:x:<n>``: hash normalised-text hash -> first row.

A commit is one MULTI/EXEC transaction; appending rows to a bucket runs as a server-side script in
it, so concurrent writers never lose each other's rows.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import numpy as np

from hygiene.dedup.storage import DedupIndexError, IndexStorage, IndexUpdate

__all__ = ["RedisStorage"]

_BLOCK = 1024  # signatures per string
# Append each ARGV value to the field before it: ARGV = field1, value1, field2, value2, ...
_APPEND_FIELDS = """
for i = 1, #ARGV, 2 do
  local old = redis.call('HGET', KEYS[1], ARGV[i]) or ''
  redis.call('HSET', KEYS[1], ARGV[i], old .. ARGV[i + 1])
end
return 0
"""


def _redis():
    try:
        import redis
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("the Redis dedup index needs the redis client: pip install 'corpus-hygiene[redis]'") from exc
    return redis


class RedisStorage(IndexStorage):
    """Index state on a Redis server, under ``prefix``."""

    def __init__(self, client: Any, prefix: str = "hygiene-dedup", bucket_bits: int = 16):
        if not 1 <= bucket_bits <= 32:
            raise ValueError(f"bucket_bits must be in [1, 32], got {bucket_bits}")
        self._r = client
        self.prefix = prefix
        self._shift = np.uint64(64 - bucket_bits)
        self._append = client.register_script(_APPEND_FIELDS)
        try:
            client.ping()
        except _redis().RedisError as exc:
            raise DedupIndexError(f"cannot reach the Redis dedup index: {exc}") from exc

    @classmethod
    def from_url(cls, url: str) -> RedisStorage:
        """``redis://host:port/db?prefix=name``; the other query options go to the client."""
        parts = urlsplit(url)
        query = parse_qs(parts.query)
        prefix = query.pop("prefix", ["hygiene-dedup"])[0]
        clean = urlunsplit(parts._replace(query=urlencode(query, doseq=True)))
        return cls(_redis().Redis.from_url(clean), prefix=prefix)

    def _key(self, *parts: object) -> str:
        return ":".join((self.prefix, *map(str, parts)))

    def _groups(self, keys: np.ndarray) -> dict[int, np.ndarray]:
        """Positions of ``keys`` per hash (top bits of the key)."""
        top = (np.asarray(keys, dtype=np.uint64) >> self._shift).astype(np.int64)
        if not len(top):
            return {}
        order = np.argsort(top, kind="stable")
        bounds = np.flatnonzero(np.concatenate(([True], top[order][1:] != top[order][:-1], [True])))
        return {int(top[order[a]]): order[a:b] for a, b in zip(bounds[:-1], bounds[1:])}

    def meta(self) -> dict[str, Any] | None:
        raw = self._r.get(self._key("meta"))
        return json.loads(raw) if raw else None

    def commit(self, update: IndexUpdate) -> None:
        pipe = self._r.pipeline(transaction=True)
        bands = update.band_keys.shape[1] if update.band_keys.ndim == 2 else 0
        keys = np.ascontiguousarray(update.band_keys.reshape(-1), dtype=np.uint64)
        rows = np.repeat(np.asarray(update.rows, dtype=np.int64), bands)
        for top, pos in self._groups(keys).items():
            args: list[bytes] = []
            for p in pos:
                args += (keys[p].tobytes(), rows[p].tobytes())
            self._append(keys=[self._key("b", top)], args=args, client=pipe)
        sig = np.ascontiguousarray(update.signatures, dtype=np.uint32)
        row_bytes = sig.shape[1] * 4 if sig.ndim == 2 else 0
        for k, row in enumerate(np.asarray(update.rows, dtype=np.int64).tolist()):
            pipe.setrange(self._key("s", row // _BLOCK), (row % _BLOCK) * row_bytes, sig[k].tobytes())
        if len(update.parent_rows):
            pipe.hset(self._key("parent"), mapping=dict(zip(update.parent_rows.tolist(), update.parents.tolist())))
        exact = np.ascontiguousarray(update.exact_keys, dtype=np.uint64)
        for top, pos in self._groups(exact).items():
            for p in pos:
                pipe.hsetnx(self._key("x", top), exact[p].tobytes(), int(update.exact_rows[p]))
        pipe.set(self._key("meta"), json.dumps(update.meta))
        pipe.execute()

    def bucket_rows(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        keys = np.ascontiguousarray(keys, dtype=np.uint64)
        groups = self._groups(keys)
        pipe = self._r.pipeline(transaction=False)
        for top, pos in groups.items():
            pipe.hmget(self._key("b", top), [keys[p].tobytes() for p in pos])
        positions, rows = [], []
        for pos, values in zip(groups.values(), pipe.execute()):
            for p, value in zip(pos, values):
                if value:
                    found = np.frombuffer(value, dtype=np.int64)
                    positions.append(np.full(len(found), p, dtype=np.int64))
                    rows.append(found)
        if not rows:
            return np.empty(0, np.int64), np.empty(0, np.int64)
        pos_all, rows_all = np.concatenate(positions), np.concatenate(rows)
        order = np.lexsort((rows_all, pos_all))
        return pos_all[order], rows_all[order]

    def signatures(self, rows: np.ndarray) -> np.ndarray:
        rows = np.asarray(rows, dtype=np.int64)
        meta = self.meta() or {}
        num_perm = int(meta.get("num_perm", 0))
        row_bytes = 4 * num_perm
        pipe = self._r.pipeline(transaction=False)
        for row in rows.tolist():
            start = (row % _BLOCK) * row_bytes
            pipe.getrange(self._key("s", row // _BLOCK), start, start + row_bytes - 1)
        values = pipe.execute()
        missing = sum(len(v) != row_bytes for v in values)
        if missing or (len(rows) and not num_perm):
            raise DedupIndexError(f"{missing} of the requested rows have no signature under prefix {self.prefix!r}")
        return np.frombuffer(b"".join(values), dtype=np.uint32).reshape(len(rows), num_perm).copy()

    def parents(self, rows: np.ndarray) -> np.ndarray:
        rows = np.asarray(rows, dtype=np.int64)
        if not len(rows):
            return rows.copy()
        values = self._r.hmget(self._key("parent"), rows.tolist())
        return np.array([int(v) if v is not None else r for r, v in zip(rows.tolist(), values)], dtype=np.int64)

    def exact_rows(self, keys: np.ndarray) -> np.ndarray:
        keys = np.ascontiguousarray(keys, dtype=np.uint64)
        out = np.full(len(keys), -1, dtype=np.int64)
        groups = self._groups(keys)
        pipe = self._r.pipeline(transaction=False)
        for top, pos in groups.items():
            pipe.hmget(self._key("x", top), [keys[p].tobytes() for p in pos])
        for pos, values in zip(groups.values(), pipe.execute()):
            for p, value in zip(pos, values):
                if value is not None:
                    out[p] = int(value)
        return out

    def size_bytes(self) -> int:
        names = list(self._r.scan_iter(match=f"{self.prefix}:*", count=10_000))
        pipe = self._r.pipeline(transaction=False)
        for name in names:
            pipe.memory_usage(name, samples=0)
        return int(sum(v or 0 for v in pipe.execute()))

    def close(self) -> None:
        self._r.close()
