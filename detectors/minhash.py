"""MinHash signatures, bit-identical to datasketch 2.0's default "affine32" scheme.

datasketch pre-mixes each 32-bit shingle hash with the MurmurHash3 finalizer (fmix32) and then
applies ``a_k * h + b_k`` in uint32 arithmetic (``a_k`` odd). We reproduce its parameters exactly
(``np.random.RandomState(seed)``, same draws in the same order) and its input hash is ours:
MurmurHash3_x86_32 (seed 0) of each shingle's UTF-8 bytes. So, for any text,
``sign([text], cfg)[0]`` equals the ``hashvalues`` of ``datasketch.MinHash(cfg.num_perm,
seed=cfg.seed, hashfunc=shingle_hash)`` updated with ``shingles(text, cfg)``.

The fast path encodes a batch into one byte buffer (Python does only NFKC, and only for non-ASCII
docs) and runs one fused numba kernel per document, in parallel over documents: casefold,
whitespace/ASCII-case normalisation, shingle boundaries, murmur3, the fmix pre-mix and the running
minimum over permutations. No Python runs per shingle and no shingles x permutations temporary is
built; JIT compilation happens on first use (cached on disk by numba), never at import.
"""

from __future__ import annotations

import functools
import struct
import sys
import unicodedata
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
from llvmlite import ir
from numba import njit, prange, types
from numba.extending import intrinsic

from detectors.dedup_config import MinHashConfig

_MAX_U32 = 0xFFFFFFFF

__all__ = [
    "Encoded",
    "MinHashConfig",
    "encode",
    "hash_shingles",
    "normalize",
    "permutations",
    "shingle_hash",
    "shingles",
    "sign",
    "text_key",
    "text_keys",
]



def normalize(text: str) -> str:
    """NFKC, casefold, collapse whitespace runs to one space, strip (the reference; ``sign``
    computes the same bytes in its kernel)."""
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def shingles(text: str, config: MinHashConfig | None = None) -> list[bytes]:
    """Reference (pure Python) shingling of the normalised text into UTF-8 byte strings."""
    cfg = config or MinHashConfig()
    norm = normalize(text)
    if not norm:
        return []
    units = norm.split(" ") if cfg.shingle == "word" else list(norm)
    sep = " " if cfg.shingle == "word" else ""
    n = cfg.ngram
    if len(units) < n:
        return [norm.encode("utf-8")]
    return [sep.join(units[i : i + n]).encode("utf-8") for i in range(len(units) - n + 1)]


def _rotl32(x: int, r: int) -> int:
    return ((x << r) | (x >> (32 - r))) & _MAX_U32


def _fmix32_py(h: int) -> int:
    h ^= h >> 16
    h = (h * 0x85EBCA6B) & _MAX_U32
    h ^= h >> 13
    h = (h * 0xC2B2AE35) & _MAX_U32
    return h ^ (h >> 16)


def shingle_hash(data: bytes) -> int:
    """MurmurHash3_x86_32 of ``data`` with seed 0, unsigned (pure Python; datasketch ``hashfunc``)."""
    c1, c2 = 0xCC9E2D51, 0x1B873593
    h = 0
    nblocks = len(data) // 4
    for k in struct.unpack_from(f"<{nblocks}I", data):
        k = _rotl32((k * c1) & _MAX_U32, 15) * c2 & _MAX_U32
        h = (_rotl32(h ^ k, 13) * 5 + 0xE6546B64) & _MAX_U32
    tail = data[nblocks * 4 :]
    if tail:
        k = int.from_bytes(tail, "little")
        h ^= _rotl32((k * c1) & _MAX_U32, 15) * c2 & _MAX_U32
    return _fmix32_py(h ^ len(data))


def permutations(num_perm: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The uint32 ``(a, b)`` of datasketch ``MinHash._init_permutations`` for scheme affine32."""
    gen = np.random.RandomState(seed)
    # Same draws, order and dtype as datasketch: a = 2 * U[0, 2^31) + 1 (odd), then b = U[0, 2^32).
    a = gen.randint(0, 1 << 31, num_perm, dtype=np.uint32) * np.uint32(2) + np.uint32(1)
    b = gen.randint(0, 1 << 32, num_perm, dtype=np.uint32)
    return a, b


def text_key(text: str) -> int:
    """Reference (pure Python) exact-duplicate key: MurmurHash64A (seed 0) of the normalised text's UTF-8
    bytes; ``text_keys`` computes the same in its kernel."""
    mask, m = 0xFFFFFFFFFFFFFFFF, 0xC6A4A7935BD1E995
    data = normalize(text).encode("utf-8")
    h = (len(data) * m) & mask
    blocks = len(data) // 8
    for i in range(blocks):
        k = (int.from_bytes(data[8 * i : 8 * i + 8], "little") * m) & mask
        k = ((k ^ (k >> 47)) * m) & mask
        h = ((h ^ k) * m) & mask
    if len(data) % 8:
        h = ((h ^ int.from_bytes(data[8 * blocks :], "little")) * m) & mask
    h = ((h ^ (h >> 47)) * m) & mask
    return h ^ (h >> 47)


# ---- numba kernels. 32-bit hash arithmetic is written as np.uint32(...) of each step: numba widens
# small ints to 64 bits, and truncating every step lets LLVM use 32-bit (vector) instructions.
_U32 = np.uint32
_C1, _C2, _N1 = _U32(0xCC9E2D51), _U32(0x1B873593), _U32(0xE6546B64)
_F1, _F2 = _U32(0x85EBCA6B), _U32(0xC2B2AE35)


@njit(cache=True, nogil=True)
def _fmix32(h):
    h = _U32(h ^ (h >> _U32(16)))
    h = _U32(h * _F1)
    h = _U32(h ^ (h >> _U32(13)))
    h = _U32(h * _F2)
    return _U32(h ^ (h >> _U32(16)))


@njit(cache=True, nogil=True)
def _mix_k(k):
    k = _U32(k * _C1)
    return _U32(_U32(_U32(k << _U32(15)) | (k >> _U32(17))) * _C2)


@njit(cache=True, nogil=True)
def _mix_h(h, k):
    h = _U32(h ^ _mix_k(k))
    h = _U32(_U32(h << _U32(13)) | (h >> _U32(19)))
    return _U32(_U32(h * _U32(5)) + _N1)


if sys.byteorder == "little":

    @intrinsic
    def _load_u32(typingctx, arr, idx):
        """Unaligned little-endian uint32 load at arr[idx:idx + 4] (one instruction on x86/ARM)."""

        def codegen(context, builder, signature, args):
            data = context.make_array(signature.args[0])(context, builder, args[0]).data
            ptr = builder.bitcast(builder.gep(data, [args[1]]), ir.IntType(32).as_pointer())
            return builder.load(ptr, align=1)

        return types.uint32(arr, idx), codegen

else:  # pragma: no cover - no big-endian CI

    @njit(cache=True, nogil=True)
    def _load_u32(buf, p):
        return _U32(_U32(buf[p]) | (_U32(buf[p + 1]) << _U32(8)) | (_U32(buf[p + 2]) << _U32(16))
                    | (_U32(buf[p + 3]) << _U32(24)))


@njit(cache=True, nogil=True)
def _murmur3_32(buf, start, end):
    h = _U32(0)
    p = start
    for _ in range((end - start) >> 2):
        h = _mix_h(h, _load_u32(buf, p))
        p += 4
    tail = end - p
    if end - start >= 4:
        # Branch-free tail: the slice's last 4 bytes shifted so only the tail remains (a 64-bit
        # shift by 32 leaves 0, and mixing 0 is a no-op, as murmur3 skips an empty tail).
        k = _U32(np.uint64(_load_u32(buf, end - 4)) >> np.uint64(32 - 8 * tail))
    else:
        k = _U32(0)
        for t in range(tail):
            k = _U32(k | (_U32(buf[p + t]) << _U32(8 * t)))
    return _fmix32(_U32(h ^ _mix_k(k) ^ _U32(end - start)))


@njit(cache=True, nogil=True)
def _ascii_char_hashes(buf, start, end, n, out):
    """murmur3 of every n-byte window of an ASCII doc (size >= n), computed window-parallel.

    All windows have the same length, so each murmur3 step runs as a loop over windows that LLVM
    vectorizes; words[j] is the little-endian uint32 at byte j, zero-padded past the end.
    """
    size = end - start
    count = size - n + 1
    words = np.zeros(size + 1, np.uint32)
    for j in range(size - 3):
        words[j] = _U32(_U32(buf[start + j]) | (_U32(buf[start + j + 1]) << _U32(8))
                        | (_U32(buf[start + j + 2]) << _U32(16)) | (_U32(buf[start + j + 3]) << _U32(24)))
    for j in range(max(size - 3, 0), size):
        for t in range(end - start - j):
            words[j] = _U32(words[j] | (_U32(buf[start + j + t]) << _U32(8 * t)))
    for i in range(count):
        out[i] = _U32(0)
    blocks = n >> 2
    for blk in range(blocks):
        for i in range(count):
            out[i] = _mix_h(out[i], words[4 * blk + i])
    mask = _U32((1 << (8 * (n & 3))) - 1)
    for i in range(count):
        out[i] = _fmix32(_U32(out[i] ^ _mix_k(_U32(words[4 * blocks + i] & mask)) ^ _U32(n)))
    return count


_FOLD_LIMIT = 0x20000  # no code point at or above this changes under str.casefold (tested)


@functools.cache
def _fold_table() -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """str.casefold of every non-ASCII code point that it changes, for the kernels.

    Returns (index: code point -> entry or -1, entry offsets, UTF-8 bytes, max byte growth).
    Built once per process on first use (~20 ms), never at import.
    """
    index = np.full(_FOLD_LIMIT, -1, dtype=np.int32)
    offsets = [0]
    data = bytearray()
    growth = 1
    for cp in range(0x80, _FOLD_LIMIT):
        char = chr(cp)
        folded = char.casefold() if not 0xD800 <= cp <= 0xDFFF else char
        if folded != char:
            index[cp] = len(offsets) - 1
            data += folded.encode("utf-8")
            offsets.append(len(data))
            growth = max(growth, -(-len(folded.encode("utf-8")) // len(char.encode("utf-8"))))
    return index, np.array(offsets, dtype=np.int64), np.frombuffer(bytes(data), dtype=np.uint8), growth


@njit(cache=True, nogil=True)
def _casefold_into(src, start, end, index, entry, data, dst):
    """str.casefold of valid UTF-8 src[start:end] into dst (ASCII is left to normalisation)."""
    w = 0
    r = start
    while r < end:
        c = src[r]
        if c < 0x80:
            dst[w] = c
            w += 1
            r += 1
            continue
        size = 4 if c >= 0xF0 else 3 if c >= 0xE0 else 2
        cp = np.int64(c & (0x07 if size == 4 else 0x0F if size == 3 else 0x1F))
        for t in range(1, size):
            cp = (cp << 6) | (src[r + t] & 0x3F)
        j = index[cp] if cp < index.shape[0] else -1
        if j >= 0:
            for q in range(entry[j], entry[j + 1]):
                dst[w] = data[q]
                w += 1
        else:
            for t in range(size):
                dst[w] = src[r + t]
                w += 1
        r += size
    return w


@njit(cache=True, nogil=True)
def _prepare(buf, offsets, fold, i, index, entry, data, growth):
    """Doc i as (array, start, end) after casefold (non-ASCII docs, into a private buffer) and
    normalisation in place."""
    start = offsets[i]
    end = offsets[i + 1]
    arr = buf
    if fold[i]:
        arr = np.empty(growth * (end - start), np.uint8)
        end = _casefold_into(buf, start, end, index, entry, data, arr)
        start = 0
    return arr, start, _normalize_inplace(arr, start, end)


@njit(cache=True, nogil=True)
def _space_len(buf, p, end):
    """Byte length of the str.isspace() character at p that survives NFKC, else 0."""
    c = buf[p]
    if c == 32 or 9 <= c <= 13 or 28 <= c <= 31:
        return 1
    if c == 0xC2 and p + 1 < end and buf[p + 1] == 0x85:  # U+0085
        return 2
    if p + 2 < end:
        c1, c2 = buf[p + 1], buf[p + 2]
        if c == 0xE1 and c1 == 0x9A and c2 == 0x80:  # U+1680
            return 3
        if c == 0xE2 and c1 == 0x80 and (c2 == 0xA8 or c2 == 0xA9):  # U+2028, U+2029
            return 3
    return 0


def _ascii_table() -> np.ndarray:
    table = np.arange(256, dtype=np.uint8)
    table[65:91] += 32  # ASCII lowercase
    table[[9, 10, 11, 12, 13, 28, 29, 30, 31]] = 32  # ASCII characters that str.isspace() accepts
    return table


_TABLE = _ascii_table()


@njit(cache=True, nogil=True)
def _normalize_inplace(buf, start, end):
    """Collapse whitespace, strip and lowercase ASCII in buf[start:end]; return the new end.

    Input is NFKC+casefolded (or pure ASCII, where both are ASCII lowercase), so this completes
    ``normalize``. Writes never overtake reads, so it is safe in place. Branch-free per byte
    except for the lead bytes of the multi-byte spaces, which are rare.
    """
    w = start
    r = start
    prev_space = True  # drops leading spaces
    while r < end:
        c = buf[r]
        if c == 0xC2 or c == 0xE1 or c == 0xE2:
            n = _space_len(buf, r, end)
            if n:
                if not prev_space:
                    buf[w] = 32
                    w += 1
                prev_space = True
                r += n
                continue
        t = _TABLE[c]
        space = t == 32
        buf[w] = t
        w += 1 - (space & prev_space)
        prev_space = space
        r += 1
    if w > start and buf[w - 1] == 32:  # at most one trailing space is left
        w -= 1
    return w


@njit(cache=True, nogil=True)
def _shingle_hashes(buf, start, end, word_mode, n, out):
    """Write the murmur3 hash of every shingle of normalised buf[start:end] to out; return count."""
    if end == start:
        return 0
    if not word_mode and end - start >= n:
        high = 0
        for p in range(start, end):
            high |= buf[p]
        if high < 0x80:  # ASCII: every char n-gram is n bytes
            return _ascii_char_hashes(buf, start, end, n, out)
    # Collect unit starts without branches: word i spans [bounds[i], bounds[i + 1] - 1) (the
    # space excluded), char i spans [bounds[i], bounds[i + 1]).
    bounds = np.empty(end - start + 2, np.int64)
    units = 0
    gap = 0
    if word_mode:
        bounds[0] = start
        units = 1
        for p in range(start, end):
            bounds[units] = p + 1
            units += buf[p] == 32
        bounds[units] = end + 1  # one past the virtual space after the last word
        gap = 1
    else:
        for p in range(start, end):
            bounds[units] = p
            units += (buf[p] & 0xC0) != 0x80  # a UTF-8 lead byte starts a char
        bounds[units] = end
    if units < n:  # fewer than n units: the whole text is the one shingle
        out[0] = _murmur3_32(buf, start, end)
        return 1
    for i in range(units - n + 1):
        out[i] = _murmur3_32(buf, bounds[i], bounds[i + n] - gap)
    return units - n + 1


@njit(parallel=True, cache=True, nogil=True)
def _sign_kernel(buf, offsets, fold, index, entry, data, growth, word_mode, n, a, b, out):
    for i in prange(offsets.shape[0] - 1):
        arr, start, end = _prepare(buf, offsets, fold, i, index, entry, data, growth)
        hashes = np.empty(end - start, np.uint32)
        m = _shingle_hashes(arr, start, end, word_mode, n, hashes)
        for j in range(m):
            hashes[j] = _fmix32(hashes[j])  # datasketch's affine32 pre-mix
        # Permutation-outer min-reduction over the doc's hashes: uint32 operands (the wraparound is
        # the modulo) and no stores in the inner loop, so LLVM vectorizes it.
        for k in range(a.shape[0]):
            ak = a[k]
            bk = b[k]
            lo = out[i, k]
            for j in range(m):
                lo = min(lo, _U32(ak * hashes[j] + bk))
            out[i, k] = lo


@njit(parallel=True, cache=True, nogil=True)
def _hash_kernel(buf, offsets, fold, index, entry, data, growth, word_mode, n, out, counts):
    # Doc i writes its hashes at out[growth * offsets[i]:], room for its folded bytes.
    for i in prange(offsets.shape[0] - 1):
        arr, start, end = _prepare(buf, offsets, fold, i, index, entry, data, growth)
        counts[i] = _shingle_hashes(arr, start, end, word_mode, n, out[growth * offsets[i] :])


_U64 = np.uint64
_M64, _R64 = _U64(0xC6A4A7935BD1E995), _U64(47)


@njit(cache=True, nogil=True)
def _key64(buf, start, end):
    """MurmurHash64A (seed 0) of buf[start:end]."""
    h = _U64(_U64(end - start) * _M64)
    p = start
    for _ in range((end - start) >> 3):
        k = _U64(_U64(_load_u32(buf, p)) | (_U64(_load_u32(buf, p + 4)) << _U64(32)))
        k = _U64(k * _M64)
        k = _U64(_U64(k ^ (k >> _R64)) * _M64)
        h = _U64(_U64(h ^ k) * _M64)
        p += 8
    if end > p:
        k = _U64(0)
        for t in range(end - p):
            k = _U64(k | (_U64(buf[p + t]) << _U64(8 * t)))
        h = _U64(_U64(h ^ k) * _M64)
    h = _U64(_U64(h ^ (h >> _R64)) * _M64)
    return _U64(h ^ (h >> _R64))


@njit(parallel=True, cache=True, nogil=True)
def _key_kernel(buf, offsets, fold, index, entry, data, growth, out):
    for i in prange(offsets.shape[0] - 1):
        arr, start, end = _prepare(buf, offsets, fold, i, index, entry, data, growth)
        out[i] = _key64(arr, start, end)


class Encoded(NamedTuple):
    """Texts ready for the kernels: one writable uint8 buffer of their UTF-8 bytes (NFKC already applied to
    the non-ASCII ones), int64 offsets (text i is ``buf[offsets[i]:offsets[i + 1]]``) and which texts still
    need casefolding (the non-ASCII ones). The kernels normalise ``buf`` in place: one use per ``Encoded``."""

    buf: np.ndarray
    offsets: np.ndarray
    fold: np.ndarray


def encode(texts: Sequence[str]) -> Encoded:
    """``texts`` as :class:`Encoded`. ASCII texts are copied as is (NFKC is the identity there and casefold
    is ASCII lowercasing, which normalisation does); the rest get NFKC here and casefold in the kernel."""
    if isinstance(texts, str):
        raise TypeError("texts must be a sequence of str, not a single str")
    try:
        ascii_flags = [t.isascii() for t in texts]
        parts = [
            t.encode("ascii") if flag else unicodedata.normalize("NFKC", t).encode("utf-8")
            for t, flag in zip(texts, ascii_flags)
        ]
    except (AttributeError, TypeError):
        bad = next((i for i, t in enumerate(texts) if not isinstance(t, str)), None)
        if bad is None:
            raise
        raise TypeError(f"texts[{bad}] is {type(texts[bad]).__name__}, expected str") from None
    offsets = np.zeros(len(parts) + 1, dtype=np.int64)
    np.cumsum(np.fromiter(map(len, parts), dtype=np.int64, count=len(parts)), out=offsets[1:])
    buf = np.frombuffer(bytearray().join(parts), dtype=np.uint8)  # one copy, writable
    return Encoded(buf, offsets, ~np.array(ascii_flags, dtype=bool))


def _encoded(texts: Sequence[str] | Encoded) -> Encoded:
    return texts if isinstance(texts, Encoded) else encode(texts)


def sign(texts: Sequence[str] | Encoded, config: MinHashConfig | None = None) -> np.ndarray:
    """MinHash signatures, shape (len(texts), num_perm), dtype uint32; empty texts give all 0xFFFFFFFF."""
    cfg = config or MinHashConfig()
    a, b = permutations(cfg.num_perm, cfg.seed)
    buf, offsets, fold = _encoded(texts)
    out = np.full((len(fold), cfg.num_perm), _MAX_U32, dtype=np.uint32)
    if len(fold):
        _sign_kernel(buf, offsets, fold, *_fold_table(), cfg.shingle == "word", cfg.ngram, a, b, out)
    return out


def text_keys(texts: Sequence[str] | Encoded) -> np.ndarray:
    """Exact-duplicate keys (uint64): ``text_key`` of each text, normalised and hashed in one parallel kernel."""
    buf, offsets, fold = _encoded(texts)
    out = np.zeros(len(fold), dtype=np.uint64)
    if len(fold):
        _key_kernel(buf, offsets, fold, *_fold_table(), out)
    return out


def hash_shingles(texts: Sequence[str], config: MinHashConfig | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Shingle hashes of all texts as (uint32 values, int64 offsets): doc i is values[off[i]:off[i+1]].

    Equals ``[shingle_hash(s) for s in shingles(text, config)]`` per text, in shingle order.
    """
    cfg = config or MinHashConfig()
    buf, offsets, fold = encode(texts)
    table = _fold_table()
    growth = table[3]
    flat = np.empty(growth * len(buf), dtype=np.uint32)
    counts = np.zeros(len(fold), dtype=np.int64)
    if len(fold):
        _hash_kernel(buf, offsets, fold, *table, cfg.shingle == "word", cfg.ngram, flat, counts)
    # Doc i wrote counts[i] hashes at growth * offsets[i]; gather them contiguously.
    new_offsets = np.zeros_like(offsets)
    np.cumsum(counts, out=new_offsets[1:])
    starts = np.repeat(growth * offsets[:-1] - new_offsets[:-1], counts)
    return flat[np.arange(new_offsets[-1]) + starts], new_offsets
