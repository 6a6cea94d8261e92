"""JSON Lines: the lines of a plain or gzip file, one record parsed at a time, records built into Arrow tables.

Reading never stops at a bad record. A line that is not a usable record is returned with the reason; a
stretch of the file that cannot be read at all (a truncated or corrupt gzip stream, an I/O error) ends the
lines with a :class:`Gap` naming the byte range, so the caller can record it and keep what came before.
A UTF-8 byte-order mark at the start of the file is not part of the first record.

Fields are typed per column. When a field's values do not share one Arrow type (``1`` in one record and
``"s"`` in another, an object then a list), or hold an object with no fields (``{}``, which parquet cannot
store), the column is *widened* to text rather than a record dropped: strings stay as they are, every other
value becomes its JSON text, and the field's metadata lists the JSON kinds it held (:func:`widened_columns`),
which the run's manifest reports.
"""

from __future__ import annotations

import json
import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

__all__ = ["Gap", "lines", "parse_record", "build_table", "unify", "widened_columns", "as_text", "GZIP_MAGIC"]

GZIP_MAGIC = b"\x1f\x8b"
_BOM = b"\xef\xbb\xbf"
_READ = 1 << 20  # bytes read from the file at a time
_FEED = 1 << 16  # compressed bytes fed to zlib at a time
_STEP = 256  # ... and when a damaged piece is replayed: the precision of a corrupt range's start
_OUT = 1 << 22  # most decompressed bytes per zlib call: a small file that inflates hugely stays bounded
_SURROGATE = re.compile(r"\\u[dD][89a-fA-F]")  # a \ud800-\udfff escape; json.loads pairs valid ones
_DECODER = json.JSONDecoder()
_JSON_SPACE = " \t\n\r"  # the whitespace JSON allows around a value
_WIDENED = b"hygiene.widened"  # field metadata: the JSON kinds a widened column held
_INEXACT = b"hygiene.inexact"  # field metadata: an integer column holding a value a double cannot hold exactly
_EXACT_LIMIT = 2**53
_ARROW_ERRORS = (pa.ArrowException, TypeError, ValueError, OverflowError)


@dataclass(frozen=True)
class Gap:
    """A part of the file that could not be read; how many records it held is unknown."""

    row: int  # the index its first record would have had
    start: int  # first unreadable byte of the file (compressed bytes for gzip)
    error: str


# --- lines ---------------------------------------------------------------------------------------


def _plain_blocks(handle, size: int) -> Iterator[bytes | Gap]:
    offset = 0
    while True:
        try:
            block = handle.read(_READ)
        except OSError as exc:
            yield Gap(0, offset, f"bytes {offset}-{size} unreadable ({exc.strerror or exc})")
            return
        if not block:
            return
        offset += len(block)
        yield block


class _Inflater:
    """zlib over concatenated gzip members, with the state copyable so a damaged piece can be replayed."""

    def __init__(self) -> None:
        self.z, self.in_member = zlib.decompressobj(wbits=31), False

    def copy(self) -> _Inflater:
        twin = _Inflater()
        twin.z, twin.in_member = self.z.copy(), self.in_member
        return twin

    def feed(self, data: bytes) -> list[bytes]:
        """Decompressed output of `data`; zlib.error when it is damaged."""
        out = []
        while data:
            self.in_member = True
            out.append(self.z.decompress(data, _OUT))
            if self.z.eof:  # a member ended; another may follow (concatenated .gz files)
                data = self.z.unused_data
                self.z, self.in_member = zlib.decompressobj(wbits=31), False
                if not data.strip(b"\0"):  # zero padding after the last member, as gzip allows
                    data = b""
            else:
                data = self.z.unconsumed_tail
        return out


def _gzip_blocks(handle, size: int) -> Iterator[bytes | Gap]:
    """Decompressed blocks of every gzip member; a Gap where the stream is cut or damaged.

    Pieces are fed to zlib in _FEED bytes; a damaged piece is replayed from the state before it in
    _STEP bytes, so what decodes before the damage is kept (what decodes wrongly is caught only by the
    member's CRC at its end: such records are as the stream gave them, quarantined when they do not parse).
    """
    inflate, offset = _Inflater(), 0
    for block in _plain_blocks(handle, size):
        if isinstance(block, Gap):  # the file itself could not be read on
            yield block
            return
        for lo in range(0, len(block), _FEED):
            piece, before = block[lo : lo + _FEED], inflate.copy()
            try:
                yield from inflate.feed(piece)
                continue
            except zlib.error:
                inflate = before
            for k in range(0, len(piece), _STEP):
                try:
                    yield from inflate.feed(piece[k : k + _STEP])
                except zlib.error as exc:
                    at = offset + lo + k
                    yield Gap(0, at, f"gzip data corrupt in compressed bytes {at}-{size} ({exc})")
                    return
        offset += len(block)
    if inflate.in_member:
        yield Gap(0, size, f"gzip stream cut short: the file ends at byte {size} inside a compressed "
                           "member, so the records it still held are missing")


def lines(path: Path, compressed: bool) -> Iterator[tuple[int, bytes] | Gap]:
    """(record index, line bytes) for each non-blank line, then a Gap if the file could not be read to its end.

    Opening the file is the caller's concern (an OSError there means the shard is unreadable as a whole).
    A line cut off by a Gap is still a record: its bytes are kept (and quarantined if they are broken).
    """
    size = path.stat().st_size
    row, carry, first = 0, [], True

    def record(line: bytes) -> bytes | None:
        nonlocal first
        if first:
            line, first = line.removeprefix(_BOM), False
        line = line.rstrip(b"\r")
        return line if line.strip() else None

    with open(path, "rb") as handle:
        for block in (_gzip_blocks if compressed else _plain_blocks)(handle, size):
            if isinstance(block, Gap):
                if (line := record(b"".join(carry))) is not None:
                    yield row, line
                    row += 1
                yield Gap(row, block.start, block.error)
                return
            parts = block.split(b"\n")
            if len(parts) == 1:
                carry.append(block)
                continue
            parts[0] = b"".join(carry) + parts[0]
            carry = [parts.pop()]
            for part in parts:
                if (line := record(part)) is not None:
                    yield row, line
                    row += 1
    if (line := record(b"".join(carry))) is not None:
        yield row, line


# --- records -------------------------------------------------------------------------------------


def parse_record(line: bytes) -> tuple[dict[str, Any] | None, str | None]:
    """(record, None) for a JSON object whose every string is encodable as UTF-8, else (None, why)."""
    try:
        decoded = line.decode("utf-8")
    except UnicodeDecodeError as exc:
        return None, f"not valid UTF-8 ({exc.reason} at byte {exc.start})"
    text = decoded.strip(_JSON_SPACE)
    try:
        record, end = _DECODER.raw_decode(text)  # json.loads without its two whitespace regex passes
        if end != len(text):
            raise json.JSONDecodeError("Extra data", text, end)
    except RecursionError:
        return None, "malformed JSON (nested too deeply to parse)"
    except ValueError as exc:
        return None, f"malformed JSON ({exc})"
    if not isinstance(record, dict):
        return None, f"record is a JSON {type(record).__name__}, not an object"
    if (b"\\ud" in line or b"\\uD" in line) and _SURROGATE.search(decoded):
        for key, value in record.items():
            try:
                json.dumps([key, value], ensure_ascii=False).encode("utf-8")
            except UnicodeEncodeError as exc:
                bad = exc.object[exc.start : exc.end].encode("unicode_escape").decode()
                return None, f"field {key!r} holds a lone surrogate escape ({bad}), which is not valid Unicode text"
            except RecursionError:
                return None, "malformed JSON (nested too deeply to parse)"
    return record, None


def as_text(value: Any) -> str | None:
    """A value of a widened column: strings as they are, anything else as its JSON text."""
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=str)


def _kind(value: Any) -> str | None:
    kinds = {bool: "boolean", int: "integer", float: "number", str: "string", dict: "object", list: "array"}
    return None if value is None else kinds.get(type(value), type(value).__name__)


def _type_kind(t: pa.DataType) -> str | None:
    if pa.types.is_null(t):
        return None
    checks = (("boolean", pa.types.is_boolean), ("integer", pa.types.is_integer), ("number", pa.types.is_floating),
              ("string", lambda t: pa.types.is_string(t) or pa.types.is_large_string(t)),
              ("object", pa.types.is_struct), ("array", lambda t: pa.types.is_list(t) or pa.types.is_large_list(t)))
    return next((name for name, check in checks if check(t)), str(t))


def _storable(t: pa.DataType) -> bool:
    """False for a type parquet cannot store: an object with no fields (`{}`), at any depth."""
    if pa.types.is_struct(t):
        return t.num_fields > 0 and all(_storable(t.field(i).type) for i in range(t.num_fields))
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        return _storable(t.value_type)
    return True


def _is_widened(field: pa.Field) -> bool:
    return bool(field.metadata) and _WIDENED in field.metadata


def _kinds(field: pa.Field) -> set[str]:
    if _is_widened(field):
        return set(field.metadata[_WIDENED].decode().split(","))
    kind = _type_kind(field.type)
    return {kind} if kind else set()


def _widened(name: str, kinds: set[str]) -> pa.Field:
    return pa.field(name, pa.string(), metadata={_WIDENED: ",".join(sorted(kinds)).encode()})


def build_table(records: list[dict[str, Any]], schema: pa.Schema | None = None) -> pa.Table:
    """Records as a table with every field any of them has (absent = null).

    Without `schema` each column's type is inferred and a column whose values share no type is widened.
    With `schema` (the union of earlier batches, see :func:`unify`) every batch gets exactly those columns.
    Raises pyarrow's error when a value does not fit the given schema.
    """
    if schema is not None:
        arrays = []
        for field in schema:
            values = [r.get(field.name) for r in records]
            arrays.append(pa.array([as_text(v) for v in values] if _is_widened(field) else values, field.type))
        return pa.Table.from_arrays(arrays, schema=schema)
    fields, arrays = [], []
    for name in dict.fromkeys(key for record in records for key in record):
        values = [r.get(name) for r in records]
        try:
            array = pa.array(values)
            field = pa.field(name, array.type)
            if not _storable(array.type):
                raise TypeError("an object with no fields")
            if pa.types.is_integer(array.type) and any(v is not None and abs(v) > _EXACT_LIMIT for v in values):
                field = field.with_metadata({_INEXACT: b"1"})  # must not later merge into a float column
        except _ARROW_ERRORS:
            array = pa.array([as_text(v) for v in values], pa.string())
            field = _widened(name, {k for k in map(_kind, values) if k})
        fields.append(field)
        arrays.append(array)
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields))


def _merge(a: pa.Field, b: pa.Field) -> pa.Field:
    if a.equals(b, check_metadata=True):
        return a
    if a.type.equals(b.type) and not _is_widened(a) and not _is_widened(b):
        return a.with_metadata({**(a.metadata or {}), **(b.metadata or {})})
    inexact = any(f.metadata and _INEXACT in f.metadata for f in (a, b))
    mixes_in_floats = inexact and {"integer", "number"} <= _kinds(a) | _kinds(b)
    if not _is_widened(a) and not _is_widened(b) and not mixes_in_floats:
        try:
            return pa.unify_schemas([pa.schema([a]), pa.schema([b])], promote_options="permissive").field(0)
        except _ARROW_ERRORS + (NotImplementedError,):
            pass
    return _widened(a.name, _kinds(a) | _kinds(b))


def unify(current: pa.Schema | None, new: pa.Schema) -> pa.Schema:
    """One schema for two batches: fields of both, types promoted where Arrow can, widened to text otherwise."""
    if current is None:
        return new
    fields = {f.name: f for f in current}
    for field in new:
        fields[field.name] = _merge(fields[field.name], field) if field.name in fields else field
    return pa.schema(list(fields.values()))


def widened_columns(schema: pa.Schema) -> dict[str, list[str]]:
    """{column: JSON kinds it held} for every column widened to text."""
    return {f.name: sorted(_kinds(f)) for f in schema if _is_widened(f)}
