"""LSH banding, candidate pairs, verification, clustering, exact duplicates and end-to-end quality."""

from __future__ import annotations

import itertools
import random
import re
from pathlib import Path

import numpy as np
import pytest
from datasketch.lsh import _optimal_param
from hypothesis import given, settings
from hypothesis import strategies as st

from detectors.dedup import (
    DedupConfig,
    cluster,
    estimated_jaccard,
    exact_duplicates,
    exact_jaccard,
    exact_key,
    find_near_duplicates,
    verify,
)
from detectors.lsh import band_keys, candidate_pairs, optimal_bands
from detectors.minhash import MinHashConfig, hash_shingles, sign

WIKITEXT = Path(__file__).resolve().parents[2] / "shared" / "data" / "text" / "wikitext-2" / "valid.txt"


# ---- optimal_bands -------------------------------------------------------------------------------


@pytest.mark.parametrize("threshold", [0.2, 0.5, 0.55, 0.7, 0.8, 0.9])
@pytest.mark.parametrize(("num_perm", "weights"), [(128, (0.5, 0.5)), (64, (0.3, 0.7)), (200, (0.9, 0.1))])
def test_optimal_bands_matches_datasketch(threshold: float, num_perm: int, weights: tuple[float, float]) -> None:
    assert optimal_bands(threshold, num_perm, *weights) == _optimal_param(threshold, num_perm, *weights)


@pytest.mark.parametrize(
    ("args", "message"),
    [((0.0, 128), "threshold must be in"), ((1.0, 128), "threshold must be in"),
     ((0.5, 1), "num_perm must be an int >= 2"), ((0.5, 128, -0.1, 0.5), "weights must be")],
)
def test_optimal_bands_validation(args: tuple, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        optimal_bands(*args)


# ---- band keys and candidate pairs ---------------------------------------------------------------


def brute_force_pairs(sig: np.ndarray, bands: int, rows: int) -> set[tuple[int, int]]:
    out = set()
    for i, j in itertools.combinations(range(len(sig)), 2):
        for b in range(bands):
            if np.array_equal(sig[i, b * rows : (b + 1) * rows], sig[j, b * rows : (b + 1) * rows]):
                out.add((i, j))
                break
    return out


@st.composite
def signature_sets(draw: st.DrawFn) -> tuple[np.ndarray, int, int]:
    bands, rows = draw(st.integers(1, 4)), draw(st.integers(1, 3))
    n = draw(st.integers(0, 40))
    values = draw(st.lists(st.integers(0, 2), min_size=n * bands * rows, max_size=n * bands * rows))
    sig = np.array(values, dtype=np.uint32).reshape(n, bands * rows)
    for _ in range(draw(st.integers(0, 3)) if n >= 2 else 0):  # plant exact duplicate rows
        i, j = draw(st.integers(0, n - 1)), draw(st.integers(0, n - 1))
        sig[j] = sig[i]
    return sig, bands, rows


@settings(max_examples=150, deadline=None)
@given(signature_sets())
def test_candidate_pairs_are_exactly_the_band_collisions(data: tuple[np.ndarray, int, int]) -> None:
    sig, bands, rows = data
    pairs = candidate_pairs(band_keys(sig, bands, rows), max_bucket=10_000)
    assert pairs.dtype == np.int64 and pairs.shape[1] == 2
    assert np.all(pairs[:, 0] < pairs[:, 1])
    assert len({tuple(p) for p in pairs.tolist()}) == len(pairs)  # unique
    assert pairs.tolist() == sorted(pairs.tolist())
    assert {tuple(p) for p in pairs.tolist()} == brute_force_pairs(sig, bands, rows)
    for i, j in itertools.combinations(range(len(sig)), 2):  # identical rows always meet
        if np.array_equal(sig[i], sig[j]):
            assert (i, j) in {tuple(p) for p in pairs.tolist()}


@settings(max_examples=60, deadline=None)
@given(st.integers(2, 60), st.integers(1, 8))
def test_max_bucket_pairs_each_member_with_next_members(size: int, max_bucket: int) -> None:
    sig = np.zeros((size, 4), dtype=np.uint32)  # one bucket holding every row, in every band
    pairs = candidate_pairs(band_keys(sig, 2, 2), max_bucket=max_bucket)
    expected = [(i, j) for i in range(size) for j in range(i + 1, min(size, i + 1 + max_bucket))]
    assert pairs.tolist() == [list(p) for p in expected]
    assert np.all(cluster(size, pairs) == 0)  # the bucket stays connected


def test_band_keys_shape_and_validation() -> None:
    sig = np.arange(24, dtype=np.uint32).reshape(3, 8)
    keys = band_keys(sig, 4, 2)
    assert keys.shape == (3, 4) and keys.dtype == np.uint64
    np.testing.assert_array_equal(band_keys(sig[[1]], 4, 2), keys[[1]])
    same = np.zeros((1, 4), dtype=np.uint32)
    assert len(set(band_keys(same, 2, 2)[0].tolist())) == 2  # equal bands, different band index
    with pytest.raises(ValueError, match="exceeds num_perm"):
        band_keys(sig, 5, 2)
    with pytest.raises(ValueError, match="2-D uint32"):
        band_keys(sig.astype(np.int64), 4, 2)
    with pytest.raises(ValueError, match="max_bucket"):
        candidate_pairs(keys, max_bucket=0)
    assert candidate_pairs(keys[:1]).shape == (0, 2)


# ---- verification and clustering -----------------------------------------------------------------


def test_verify_threshold_is_inclusive() -> None:
    base = np.arange(100, dtype=np.uint32)
    sig = np.stack([base, base.copy(), base.copy(), base.copy()])
    sig[1, :20] += 1000  # similarity 0.8
    sig[2, :21] += 1000  # 0.79
    sig[3, :] += 1000  # 0.0
    pairs = np.array([[0, 1], [0, 2], [0, 3]])
    np.testing.assert_allclose(estimated_jaccard(pairs, sig), [0.8, 0.79, 0.0], atol=1e-6)
    kept, sim = verify(pairs, sig, 0.8)
    assert kept.tolist() == [[0, 1]] and sim.dtype == np.float32 and sim[0] == pytest.approx(0.8)
    for k in range(101):  # exactly k/100 equal values is kept at threshold k/100 (no float32 rounding)
        other = base.copy()
        other[k:] += 1000
        assert len(verify(np.array([[0, 1]]), np.stack([base, other]), k / 100)[0]) == 1, k
    with pytest.raises(ValueError, match="pair indices"):
        verify(np.array([[0, 4]]), sig, 0.5)


def union_find_labels(n: int, edges: list[tuple[int, int]]) -> list[int]:
    parent = list(range(n))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for i, j in edges:
        a, b = find(i), find(j)
        parent[max(a, b)] = min(a, b)  # the root is always the smallest index
    return [find(i) for i in range(n)]


@settings(max_examples=150, deadline=None)
@given(st.integers(1, 50).flatmap(
    lambda n: st.tuples(st.just(n), st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), max_size=80))))
def test_cluster_is_connected_components_labelled_by_smallest_index(data: tuple[int, list]) -> None:
    n, edges = data
    labels = cluster(n, np.array(edges, dtype=np.int64).reshape(-1, 2))
    assert labels.dtype == np.int64
    assert labels.tolist() == union_find_labels(n, edges)


def test_find_near_duplicates_keeps_lowest_index() -> None:
    rng = np.random.default_rng(0)
    base = rng.integers(0, 2**32, size=(3, 128), dtype=np.uint32)
    sig = base[[0, 1, 0, 1, 2, 0]].copy()
    sig[5, :10] = 7  # still ~0.92 similar to row 0
    res = find_near_duplicates(sig, DedupConfig(threshold=0.8))
    assert res.cluster.tolist() == [0, 1, 0, 1, 4, 0]
    assert res.duplicate_of.tolist() == [-1, -1, 0, 1, -1, 0]
    assert res.similarity.dtype == np.float32
    np.testing.assert_allclose(res.similarity, [1, 1, 1, 1, 1, 118 / 128], atol=1e-6)
    assert res.n_verified == 4 and res.n_candidates >= 4


def test_find_near_duplicates_exact_verification() -> None:
    texts = ["the quick brown fox jumps over the lazy dog " * 4, "an unrelated sentence about tea " * 4]
    texts += [texts[0].replace("lazy", "lazy old", 1), "The QUICK brown fox  jumps over the lazy dog " * 4]
    cfg = DedupConfig(verify="exact")
    res = find_near_duplicates(sign(texts, cfg.minhash), cfg, texts=texts)
    assert res.duplicate_of.tolist() == [-1, -1, 0, 0]
    assert res.similarity[3] == 1.0 and 0.55 <= res.similarity[2] < 1.0
    with pytest.raises(ValueError, match="needs texts"):
        find_near_duplicates(sign(texts, cfg.minhash), cfg)


def test_exact_jaccard_matches_python_sets() -> None:
    rng = random.Random(1)
    words = ["alpha", "beta", "gamma", "delta", "eps", "zeta"]
    texts = [" ".join(rng.choice(words) for _ in range(rng.randint(0, 30))) for _ in range(40)]
    config = MinHashConfig(shingle="word", ngram=2)
    values, offsets = hash_shingles(texts, config)
    sets = [set(values[offsets[i] : offsets[i + 1]].tolist()) for i in range(len(texts))]
    pairs = np.array(list(itertools.combinations(range(len(texts)), 2)))
    expected = [len(sets[i] & sets[j]) / len(sets[i] | sets[j]) if sets[i] | sets[j] else 1.0 for i, j in pairs]
    np.testing.assert_allclose(exact_jaccard(pairs, texts, config), expected, rtol=1e-6)


def test_exact_duplicates() -> None:
    keys = exact_key(["Hello  World", "other", "hello world\n", "HELLO WORLD", "other", ""])
    assert keys.dtype == np.uint64
    assert exact_duplicates(keys).tolist() == [-1, -1, 0, 0, 1, -1]
    assert exact_duplicates(np.array([], dtype=np.uint64)).tolist() == []


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"threshold": 0.0}, "threshold must be in"), ({"bands": 4}, "given together"),
     ({"bands": 20, "rows": 7}, "exceeds num_perm"), ({"verify": "maybe"}, "verify must be"),
     ({"max_bucket": 0}, "max_bucket must be"), ({"fp_weight": -1.0}, "weights must be")],
)
def test_dedup_config_validation(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        DedupConfig(**kwargs)


# ---- near-duplicate quality ----------------------------------------------------------------------


def sentences(text: str) -> list[str]:
    return [s for s in re.split(r"(?<=[.!?]) ", text) if s]


def edit(doc: str, rng: random.Random, vocab: list[str], pool: list[str]) -> str:
    """1-5 % of words substituted or chars edited, or one sentence inserted or deleted."""
    kind, rate = rng.choice(["word", "char", "insert", "delete"]), rng.uniform(0.01, 0.05)
    sents = sentences(doc)
    if kind == "word" or (kind == "delete" and len(sents) < 2):
        words = doc.split()
        for i in rng.sample(range(len(words)), max(1, round(rate * len(words)))):
            words[i] = rng.choice(vocab)
        return " ".join(words)
    if kind == "char":
        chars = list(doc)
        for _ in range(max(1, round(rate * len(chars)))):
            i, op = rng.randrange(len(chars)), rng.random()
            if op < 1 / 3:
                chars[i] = rng.choice("abcdefghij ,.")
            elif op < 2 / 3:
                chars.insert(i, rng.choice("abcdefghij ,."))
            else:
                del chars[i]
        return "".join(chars)
    if kind == "insert":
        sents.insert(rng.randint(0, len(sents)), rng.choice(sentences(rng.choice(pool))))
    else:
        del sents[rng.randrange(len(sents))]
    return " ".join(sents)


def precision_recall(paragraphs: list[str], originals: list[str], seed: int) -> tuple[float, float]:
    rng = random.Random(seed)
    vocab = sorted({w for p in paragraphs for w in p.split()})
    used = set(originals)
    docs, group = [], []
    for g, orig in enumerate(originals):
        for text in [orig] + [edit(orig, rng, vocab, paragraphs) for _ in range(rng.randint(1, 2))]:
            docs.append(text)
            group.append(g)
    for p in paragraphs:
        if p not in used:
            docs.append(p)
            group.append(len(group) + len(originals))
    order = list(range(len(docs)))
    rng.shuffle(order)
    docs, grp = [docs[i] for i in order], np.array([group[i] for i in order])
    cfg = DedupConfig()
    dup = find_near_duplicates(sign(docs, cfg.minhash), cfg).duplicate_of
    _, first = np.unique(grp, return_index=True)
    should = np.ones(len(docs), dtype=bool)
    should[first] = False
    correct = (dup >= 0) & (grp[np.maximum(dup, 0)] == grp)
    return correct.sum() / max((dup >= 0).sum(), 1), correct.sum() / should.sum()


def generated_paragraphs(n: int, seed: int) -> list[str]:
    """Sentences of Zipf-distributed pseudo-words: needs no data files."""
    rng = np.random.default_rng(seed)
    letters = np.array(list("etaoinshrdlucmfwypvbgkjqxz"))
    vocab = ["".join(rng.choice(letters, size=rng.integers(2, 9))) for _ in range(6000)]
    out = []
    for _ in range(n):
        sents = []
        for _ in range(rng.integers(6, 14)):
            ranks = np.minimum(rng.zipf(1.3, size=rng.integers(6, 22)), len(vocab)) - 1
            sents.append(" ".join(vocab[r] for r in ranks).capitalize() + ".")
        out.append(" ".join(sents))
    return out


def test_quality_on_generated_near_duplicates() -> None:
    paragraphs = generated_paragraphs(900, seed=5)
    precision, recall = precision_recall(paragraphs, paragraphs[:300], seed=5)
    assert precision >= 0.99, precision
    assert recall >= 0.95, recall


@pytest.mark.skipif(not WIKITEXT.exists(), reason=f"needs wikitext-2 at {WIKITEXT} (shared data mount absent)")
def test_quality_on_wikitext_near_duplicates() -> None:
    lines = WIKITEXT.read_text(encoding="utf-8").splitlines()
    paragraphs = [s for s in (line.strip() for line in lines) if s and not s.startswith("=") and len(s.split()) >= 20]
    rng = random.Random(11)
    originals = rng.sample([p for p in paragraphs if len(p.split()) >= 100], 400)
    precision, recall = precision_recall(paragraphs, originals, seed=11)
    assert precision >= 0.99, precision
    assert recall >= 0.95, recall
