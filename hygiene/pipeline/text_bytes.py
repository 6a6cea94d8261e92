"""A text column's bytes for the MinHash and exact-key kernels, taken from Arrow's buffers.

``detectors.minhash.encode`` builds the kernels' buffer from Python strings; a batch read from a shard is
already one UTF-8 buffer. Here only the non-ASCII rows become Python strings (for NFKC, which Arrow does not
have); everything else is one copy of the column's data, so no ``str`` per row is made or encoded.
"""

from __future__ import annotations

import unicodedata

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from detectors.minhash import Encoded, encode

__all__ = ["encode_column"]


def encode_column(column: pa.Array | pa.ChunkedArray) -> Encoded:
    """``column``'s texts as the kernels' :class:`~detectors.minhash.Encoded` (the same bytes as
    ``encode(column.to_pylist())``). Nulls and non-string columns go through ``encode``, whose error names
    the offending row."""
    array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if pa.types.is_dictionary(array.type):
        array = array.dictionary_decode()
    if array.null_count or not (pa.types.is_string(array.type) or pa.types.is_large_string(array.type)):
        return encode(array.to_pylist())
    non_ascii = pc.invert(pc.string_is_ascii(array))
    if pc.any(non_ascii).as_py():
        normalized = [unicodedata.normalize("NFKC", t) for t in array.filter(non_ascii).to_pylist()]
        array = pc.replace_with_mask(array, non_ascii, pa.array(normalized, array.type))
    array = array.cast(pa.large_string())
    offsets = np.frombuffer(array.buffers()[1], np.int64, len(array) + 1, array.offset * 8)
    data = array.buffers()[2]
    size = int(offsets[-1] - offsets[0])
    buf = (np.frombuffer(data, np.uint8, size, int(offsets[0])).copy() if size
           else np.zeros(0, np.uint8))  # a copy: the kernels normalise in place
    return Encoded(buf, offsets - offsets[0], non_ascii.to_numpy(zero_copy_only=False).astype(bool))
