"""The shared dedup-index backend: a Redis server that many workers can read.

Layout under a key prefix ``P`` (several indexes can share a server):

- ``P:meta``: the index meta as JSON;
- ``P:b:<n>``: hash of bucket keys (8 bytes) -> their rows (packed int64), ``n`` = top ``bucket_bits``
  bits of the key; small hashes use Redis's compact listpack encoding, one top-level key per
  bucket would cost ~60 bytes of overhead each;
- ``P:s:<block>``: signatures of rows ``block*1024 .. +1023`` packed in one string (SETRANGE);
- ``P:parent``: hash row -> cluster parent; ``P:x:<n>``: hash normalised-text hash -> first row.

A commit is one MULTI/EXEC transaction; appending rows to buckets runs as server-side scripts in it
(thousands of fields per call, packed into a few binary arguments), so concurrent writers never lose
each other's rows.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import numpy as np

from hygiene.dedup.storage import DedupIndexError, IndexStorage, IndexUpdate

__all__ = ["RedisStorage"]

_BLOCK = 1024  # signatures per string
_CHUNK = 16384  # hash fields per script call
# Scripts take packed arrays (one argument each, so the client packs a few large strings, not one
# argument per field): ARGV[1] = uint32 index into KEYS per field, ARGV[2] = 8-byte fields,
# ARGV[3] = 8-byte values. mode 'append' appends each value to its field; 'setnx' sets absent fields.
# (Grouping each hash's fields into one HMGET/HSET was measured slower: hashes hold few fields.)
_SET_FIELDS = """
local idx, fields, values, mode = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
for i = 0, #fields / 8 - 1 do
  local key = KEYS[struct.unpack('<I4', idx, 4 * i + 1)]
  local f = string.sub(fields, 8 * i + 1, 8 * i + 8)
  local v = string.sub(values, 8 * i + 1, 8 * i + 8)
  if mode == 'append' then
    redis.call('HSET', key, f, (redis.call('HGET', key, f) or '') .. v)
  else
    redis.call('HSETNX', key, f, v)
  end
end
return 0
"""
# Returns {uint32 byte length per field, the values concatenated}; a missing field has length 0.
_GET_FIELDS = """
local idx, fields = ARGV[1], ARGV[2]
local lengths, values = {}, {}
for i = 0, #fields / 8 - 1 do
  local key = KEYS[struct.unpack('<I4', idx, 4 * i + 1)]
  local v = redis.call('HGET', key, string.sub(fields, 8 * i + 1, 8 * i + 8)) or ''
  lengths[i + 1] = struct.pack('<I4', #v)
  values[i + 1] = v
end
return {table.concat(lengths), table.concat(values)}
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
        self._set = client.register_script(_SET_FIELDS)
        self._get = client.register_script(_GET_FIELDS)
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

    def _chunks(self, kind: str, keys: np.ndarray) -> Iterator[tuple[list[str], bytes, bytes, np.ndarray]]:
        """Per script call: hash names, packed uint32 hash index and 8-byte field per key, positions.

        Keys are taken in hash order, so a call names each hash it touches once.
        """
        keys = np.ascontiguousarray(keys, dtype=np.uint64)
        top = (keys >> self._shift).astype(np.int64)
        order = np.argsort(top, kind="stable")
        for start in range(0, len(keys), _CHUNK):
            part = order[start : start + _CHUNK]
            names, index = np.unique(top[part], return_inverse=True)
            packed = (index + 1).astype("<u4").tobytes()
            yield [self._key(kind, n) for n in names.tolist()], packed, keys[part].astype("<u8").tobytes(), part

    def _set_fields(self, pipe: Any, kind: str, keys: np.ndarray, values: np.ndarray, mode: str) -> None:
        values = np.ascontiguousarray(values, dtype="<i8")
        for names, index, fields, part in self._chunks(kind, keys):
            self._set(keys=names, args=[index, fields, values[part].tobytes(), mode], client=pipe)

    def _get_fields(self, kind: str, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Each key's stored int64 values: (values concatenated in key order, count per key)."""
        pipe = self._r.pipeline(transaction=False)
        parts = []
        for names, index, fields, part in self._chunks(kind, keys):
            self._get(keys=names, args=[index, fields], client=pipe)
            parts.append(part)
        replies = pipe.execute()
        if not replies:
            return np.empty(0, np.int64), np.zeros(len(keys), np.int64)
        order = np.concatenate(parts)
        counts_in_order = np.concatenate([np.frombuffer(r[0], dtype="<u4") for r in replies]).astype(np.int64) // 8
        values_in_order = np.frombuffer(b"".join(r[1] for r in replies), dtype="<i8").astype(np.int64)
        counts = np.empty(len(keys), np.int64)
        counts[order] = counts_in_order
        starts = np.empty(len(keys), np.int64)
        starts[order] = np.cumsum(counts_in_order) - counts_in_order
        # back to key order: key k's values are values_in_order[starts[k] : starts[k] + counts[k]]
        step = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
        return values_in_order[np.repeat(starts, counts) + step], counts

    def meta(self) -> dict[str, Any] | None:
        raw = self._r.get(self._key("meta"))
        return json.loads(raw) if raw else None

    def commit(self, update: IndexUpdate) -> None:
        pipe = self._r.pipeline(transaction=True)
        bands = update.band_keys.shape[1] if update.band_keys.ndim == 2 else 0
        keys = np.ascontiguousarray(update.band_keys.reshape(-1), dtype=np.uint64)
        rows = np.repeat(np.asarray(update.rows, dtype=np.int64), bands)
        self._set_fields(pipe, "b", keys, rows, "append")
        sig = np.ascontiguousarray(update.signatures, dtype=np.uint32)
        row_bytes = sig.shape[1] * 4 if sig.ndim == 2 else 0
        for k, row in enumerate(np.asarray(update.rows, dtype=np.int64).tolist()):
            pipe.setrange(self._key("s", row // _BLOCK), (row % _BLOCK) * row_bytes, sig[k].tobytes())
        if len(update.parent_rows):
            pipe.hset(self._key("parent"), mapping=dict(zip(update.parent_rows.tolist(), update.parents.tolist())))
        # setnx: the first row with a text stays its original
        self._set_fields(pipe, "x", update.exact_keys, update.exact_rows, "setnx")
        pipe.set(self._key("meta"), json.dumps(update.meta))
        pipe.execute()

    def bucket_rows(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        rows, counts = self._get_fields("b", keys)
        pos = np.repeat(np.arange(len(counts)), counts)
        order = np.lexsort((rows, pos))
        return pos[order], rows[order]

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
        rows, counts = self._get_fields("x", keys)
        out = np.full(len(counts), -1, dtype=np.int64)
        out[counts > 0] = rows
        return out

    def size_bytes(self) -> int:
        names = list(self._r.scan_iter(match=f"{self.prefix}:*", count=10_000))
        pipe = self._r.pipeline(transaction=False)
        for name in names:
            pipe.memory_usage(name, samples=0)
        return int(sum(v or 0 for v in pipe.execute()))

    def close(self) -> None:
        self._r.close()
