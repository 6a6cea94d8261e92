"""MinHash signatures: bit-identity with datasketch 2.0 (affine32), hashing, normalisation, config."""

from __future__ import annotations

import functools
import itertools
import random
import subprocess
import sys

import mmh3
import numpy as np
import pytest
from datasketch import MinHash
from hypothesis import given, settings
from hypothesis import strategies as st

from detectors.minhash import (
    MinHashConfig,
    hash_shingles,
    normalize,
    permutations,
    shingle_hash,
    shingles,
    sign,
    text_key,
    text_keys,
)

# Every str.isspace() character, so the kernel's whitespace handling is checked against str.split().
SPACES = [chr(c) for c in range(0x110000) if chr(c).isspace()]
# Characters whose NFKC or casefold changes length or script: ligatures, fullwidth, final sigma,
# sharp s, dotted I, combining marks, Hangul jamo, and 4-byte UTF-8 (emoji, Deseret capitals).
SPECIAL = list("ﬁﬃＡｂＣΣσςßẞİıΐǅ\u0301\u0308\u1100\u1161\u11a8éÉñÑ😀👍🏽\U00010400\U00010428ŉ℃½²")
WORDS = ["the", "The", "THE", "a", "cat", "Straße", "ΟΔΟΣ", "город", "東京", "naïve", "CAFÉ", "x", "😀"]


def random_doc(rng: random.Random) -> str:
    kind = rng.random()
    if kind < 0.04:
        return ""
    if kind < 0.08:
        return "".join(rng.choice(SPACES) for _ in range(rng.randint(1, 5)))
    if kind < 0.14:
        return rng.choice(WORDS)
    n_words = rng.randint(2, 12) if kind < 0.4 else rng.randint(13, 300) if kind < 0.97 else rng.randint(800, 2500)
    parts = []
    for _ in range(n_words):
        r = rng.random()
        if r < 0.6:
            letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
            word = "".join(rng.choice(letters) for _ in range(rng.randint(1, 9)))
        elif r < 0.85:
            word = rng.choice(WORDS)
        else:
            word = "".join(rng.choice(SPECIAL) for _ in range(rng.randint(1, 4)))
        parts.append(word)
        parts.append(rng.choice(SPACES) if rng.random() < 0.1 else " " * rng.randint(1, 2))
    return ("  " if rng.random() < 0.2 else "") + "".join(parts)


@pytest.fixture(scope="module")
def docs() -> list[str]:
    rng = random.Random(20240601)
    return ["", " \t\n", "word", "two words", "😀"] + [random_doc(rng) for _ in range(995)]


CONFIGS = [
    MinHashConfig(),
    MinHashConfig(shingle="word", ngram=5),
    MinHashConfig(num_perm=64, seed=42, shingle="char", ngram=3),
    MinHashConfig(num_perm=200, seed=7, shingle="word", ngram=1),
]


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: f"{c.shingle}{c.ngram}-p{c.num_perm}-s{c.seed}")
def test_bit_identical_to_datasketch(docs: list[str], config: MinHashConfig) -> None:
    ours = sign(docs, config)
    assert ours.shape == (len(docs), config.num_perm) and ours.dtype == np.uint32
    hashfunc = functools.lru_cache(maxsize=None)(shingle_hash)  # same function, memoised for speed
    for i, text in enumerate(docs):
        m = MinHash(config.num_perm, seed=config.seed, hashfunc=hashfunc)
        m.update_batch(shingles(text, config))
        assert m.hashvalues.dtype == np.uint32
        np.testing.assert_array_equal(ours[i], m.hashvalues, err_msg=f"doc {i}: {text[:80]!r}")


@pytest.mark.parametrize("config", CONFIGS[:2])
def test_hash_shingles_matches_reference(docs: list[str], config: MinHashConfig) -> None:
    values, offsets = hash_shingles(docs, config)
    assert values.dtype == np.uint32 and offsets.dtype == np.int64 and len(offsets) == len(docs) + 1
    for i, text in enumerate(docs):
        expected = [mmh3.hash(s, 0, signed=False) for s in shingles(text, config)]
        assert values[offsets[i] : offsets[i + 1]].tolist() == expected, f"doc {i}"


def test_permutations_match_datasketch() -> None:
    for num_perm, seed in [(128, 1), (7, 0), (256, 2**32 - 1)]:
        a, b = permutations(num_perm, seed)
        ref = MinHash(num_perm, seed=seed).permutations
        np.testing.assert_array_equal(a, ref[0])
        np.testing.assert_array_equal(b, ref[1])
        assert a.dtype == b.dtype == np.uint32 and np.all(a & 1)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=80))
def test_shingle_hash_equals_mmh3(data: bytes) -> None:
    assert shingle_hash(data) == mmh3.hash(data, 0, signed=False)


def test_shingle_hash_known_values() -> None:
    assert shingle_hash(b"") == 0
    assert shingle_hash(b"hello") == mmh3.hash(b"hello", 0, signed=False) == 613153351


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("  Hello   World \n", "hello world"),
        ("ﬁne ＡＢＣ", "fine abc"),
        ("Straße ΟΔΟΣ", "strasse οδοσ"),
        ("a\u00a0b\u2028c\x85d\u3000e\u1680f\x1fg", "a b c d e f g"),
        ("\t\n ", ""),
        ("e\u0301", "é"),
    ],
)
def test_normalize(text: str, expected: str) -> None:
    assert normalize(text) == expected


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.text(max_size=60), st.text(alphabet=st.sampled_from(SPACES + SPECIAL + list("aBc ")),
                                                            max_size=40)), max_size=8))
def test_text_keys_match_the_reference(texts: list[str]) -> None:
    keys = text_keys(texts)
    assert keys.dtype == np.uint64 and keys.tolist() == [text_key(t) for t in texts]
    for a, b in itertools.combinations(range(len(texts)), 2):  # equal after normalisation <=> equal key
        assert (keys[a] == keys[b]) == (normalize(texts[a]) == normalize(texts[b]))


def test_text_key_known_values() -> None:
    assert text_key("") == 0  # MurmurHash64A of no bytes with seed 0
    assert text_key("  Hello   World ") == text_key("hello world") != text_key("hello worle")


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(alphabet=st.sampled_from(SPACES + SPECIAL + list("aBc ")), max_size=40), max_size=8))
def test_kernel_normalisation_matches_reference(texts: list[str]) -> None:
    # With ngram 64 every short text is a single shingle: the hash of its normalised bytes.
    config = MinHashConfig(shingle="word", ngram=64)
    values, offsets = hash_shingles(texts, config)
    for i, text in enumerate(texts):
        norm = normalize(text).encode("utf-8")
        expected = [shingle_hash(norm)] if norm else []
        assert values[offsets[i] : offsets[i + 1]].tolist() == expected


def test_kernel_casefold_covers_every_code_point() -> None:
    # Every code point that str.casefold changes, plus a stride through the rest (surrogates
    # cannot be encoded), each between ASCII letters: one whole-text shingle per doc.
    changed = [cp for cp in range(0x80, 0x110000) if not 0xD800 <= cp <= 0xDFFF and chr(cp).casefold() != chr(cp)]
    assert max(changed) < 0x20000  # the kernel's table stops there
    sample = [cp for cp in range(0x80, 0x110000, 97) if not 0xD800 <= cp <= 0xDFFF]
    texts = [f"A{chr(cp)}b{chr(cp)}" for cp in changed + sample]
    values, offsets = hash_shingles(texts, MinHashConfig(shingle="word", ngram=64))
    expected = [shingle_hash(normalize(t).encode("utf-8")) for t in texts]
    assert np.diff(offsets).tolist() == [1] * len(texts)
    assert values.tolist() == expected


def test_shingles_reference() -> None:
    word3 = MinHashConfig(shingle="word", ngram=3)
    assert shingles("A b  C d", word3) == [b"a b c", b"b c d"]
    assert shingles("one two", word3) == [b"one two"]
    assert shingles("  ", word3) == []
    char3 = MinHashConfig(shingle="char", ngram=3)
    assert shingles("Ab😀d", char3) == ["ab😀".encode(), "b😀d".encode()]
    assert shingles("ab", char3) == [b"ab"]


def test_empty_docs_give_empty_minhash() -> None:
    sig = sign(["", "   ", "\u2028\t"], MinHashConfig(num_perm=32))
    assert np.all(sig == 0xFFFFFFFF)
    np.testing.assert_array_equal(sig[0], MinHash(32).hashvalues)
    assert sign([], MinHashConfig(num_perm=16)).shape == (0, 16)


def test_deterministic_and_batch_independent(docs: list[str]) -> None:
    config = MinHashConfig(num_perm=64)
    batch = sign(docs[:200], config)
    np.testing.assert_array_equal(batch, sign(docs[:200], config))
    np.testing.assert_array_equal(batch[::-1], sign(docs[:200][::-1], config))
    for i in (0, 7, 150):
        np.testing.assert_array_equal(batch[i], sign([docs[i]], config)[0])
    assert not np.array_equal(batch[5:], sign(docs[5:200], MinHashConfig(num_perm=64, seed=2)))


def test_normalisation_equivalent_texts_share_signatures() -> None:
    sig = sign(["The  Cat\tsat on the MAT", "the cat sat on the mat "], MinHashConfig())
    np.testing.assert_array_equal(sig[0], sig[1])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"num_perm": 0}, "num_perm must be in"),
        ({"seed": -1}, "seed must be in"),
        ({"seed": 2**32}, "seed must be in"),
        ({"shingle": "byte"}, "shingle must be 'word' or 'char'"),
        ({"ngram": 0}, "ngram must be in"),
    ],
)
def test_config_validation(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        MinHashConfig(**kwargs)


def test_config_type_errors() -> None:
    with pytest.raises(TypeError, match="num_perm must be an int"):
        MinHashConfig(num_perm=1.5)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="ngram must be an int"):
        MinHashConfig(ngram=True)


def test_bad_texts() -> None:
    with pytest.raises(TypeError, match="not a single str"):
        sign("abc")
    with pytest.raises(TypeError, match=r"texts\[1\] is bytes"):
        sign(["ok", b"bytes"])  # type: ignore[list-item]


def test_import_has_no_side_effects() -> None:
    code = (
        "import sys, detectors.minhash as m\n"
        "assert 'mmh3' not in sys.modules and 'fastapi' not in sys.modules and 'tqdm' not in sys.modules\n"
        "assert not m._sign_kernel.signatures, 'compiled at import'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=str(__import__("pathlib").Path(__file__).parents[1]))
