"""The kernels' buffer built from Arrow's buffers equals the one built from Python strings."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from detectors.minhash import MinHashConfig, encode, sign, text_keys
from hygiene.pipeline.text_bytes import encode_column

TEXTS = [
    "Plain ASCII text,  with   spaces\tand CAPS.",
    "",
    "Ｆｕｌｌｗｉｄｔｈ ＡＳＣＩＩ and ligature ﬁ",  # NFKC changes these
    "Straße İstanbul ΣΊΣΥΦΟΣ",  # casefold beyond ASCII
    "   ",
    "line\u2028separator\u00a0nbsp",
    "emoji 🙂 and combining e\u0301",
]


def _same(encoded, expected) -> None:
    assert np.array_equal(encoded.offsets, expected.offsets)
    assert np.array_equal(encoded.fold, expected.fold)
    assert encoded.buf.tobytes() == expected.buf.tobytes()
    assert encoded.buf.flags.writeable


@pytest.mark.parametrize("kind", ["string", "large_string", "sliced", "chunked", "dictionary"])
def test_encode_column_equals_encode(kind: str) -> None:
    texts = TEXTS * 3
    if kind == "string":
        column, expected = pa.array(texts), texts
    elif kind == "large_string":
        column, expected = pa.array(texts, pa.large_string()), texts
    elif kind == "sliced":
        column, expected = pa.array(texts).slice(4, 9), texts[4:13]
    elif kind == "chunked":
        column, expected = pa.chunked_array([pa.array(texts[:5]), pa.array(texts[5:]).slice(2)]), texts[:5] + texts[7:]
    else:
        column, expected = pa.array(texts).dictionary_encode(), texts
    _same(encode_column(column), encode(expected))
    assert np.array_equal(text_keys(encode_column(column)), text_keys(expected))
    config = MinHashConfig()
    assert np.array_equal(sign(encode_column(column), config), sign(expected, config))


def test_all_ascii_and_all_empty_columns() -> None:
    _same(encode_column(pa.array(["a b", "C  d"])), encode(["a b", "C  d"]))
    _same(encode_column(pa.array(["", ""])), encode(["", ""]))
    _same(encode_column(pa.array([], pa.string())), encode([]))


def test_a_null_is_named() -> None:
    with pytest.raises(TypeError, match=r"texts\[1\] is NoneType"):
        encode_column(pa.array(["a", None]))
