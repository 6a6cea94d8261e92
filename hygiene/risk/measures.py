"""Collapse metrics as pure functions of texts, word counts or embeddings (no models, no I/O).

Words are whitespace tokens (WikiText is pre-tokenized). Conventions:
- distinct-n: unique n-grams / all n-grams, pooled over the sample set;
- self-BLEU-4: mean over samples of BLEU-4 (uniform weights, brevity penalty from the closest other
  length) of each sample against all the others as references; clipped counts are computed for every
  sample at once from the per-n-gram top-2 counts, so the cost is O(total n-grams log), not O(n^2);
  zero matches get `smoothing` pseudo-matches (0 = plain BLEU, 0.1 = Chen & Cherry's method 1);
- Zipf exponent: minus the least-squares slope of log frequency on log rank;
- repetition rate: mean over samples of 1 - unique 4-grams / 4-grams within the sample (seq-rep-4);
- Vendi score: exp(entropy of the eigenvalues of the cosine kernel / n): 1 for identical items, n for
  orthogonal ones; PCA hull volume: volume of the convex hull of points already projected to 3-D.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np
from scipy.spatial import ConvexHull

__all__ = ["words", "distinct_n", "self_bleu", "zipf_exponent", "repetition_rate", "vendi_score",
           "pca_basis", "hull_volume", "text_metrics"]


def words(texts: Sequence[str]) -> list[list[str]]:
    return [t.split() for t in texts]


def _ngrams(tokens: list[str], n: int) -> list[tuple[str, ...]]:
    return [tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1)]


def distinct_n(tokenized: Sequence[Sequence[str]], n: int) -> float:
    grams = [g for toks in tokenized for g in _ngrams(list(toks), n)]
    return len(set(grams)) / len(grams) if grams else float("nan")


def _ngram_table(tokenized: Sequence[Sequence[str]], n: int) -> tuple[np.ndarray, np.ndarray]:
    """(row, n-gram id) of every n-gram occurrence."""
    ids: dict[tuple[str, ...], int] = {}
    rows, cols = [], []
    for r, toks in enumerate(tokenized):
        for g in _ngrams(list(toks), n):
            rows.append(r)
            cols.append(ids.setdefault(g, len(ids)))
    return np.asarray(rows, dtype=np.int64), np.asarray(cols, dtype=np.int64)


def _clipped_matches(rows: np.ndarray, cols: np.ndarray, n_docs: int) -> tuple[np.ndarray, np.ndarray]:
    """Per document: n-gram matches clipped by the max count in any *other* document, and n-gram total."""
    total = np.bincount(rows, minlength=n_docs).astype(float)
    if len(rows) == 0:
        return np.zeros(n_docs), total
    n_cols = int(cols.max()) + 1
    pair, count = np.unique(rows * n_cols + cols, return_counts=True)
    r, c = pair // n_cols, pair % n_cols
    order = np.lexsort((-count, c))  # per n-gram, documents by descending count
    r, c, count = r[order], c[order], count[order]
    first = np.r_[True, c[1:] != c[:-1]]
    top1 = np.zeros(n_cols, dtype=np.int64)
    top1_row = np.full(n_cols, -1, dtype=np.int64)
    top1[c[first]], top1_row[c[first]] = count[first], r[first]
    second = np.r_[False, first[:-1]] & ~first
    top2 = np.zeros(n_cols, dtype=np.int64)
    top2[c[second]] = count[second]
    best_other = np.where(top1_row[c] == r, top2[c], top1[c])
    matches = np.bincount(r, weights=np.minimum(count, best_other), minlength=n_docs)
    return matches, total


def self_bleu(tokenized: Sequence[Sequence[str]], max_n: int = 4, smoothing: float = 0.1) -> float:
    """Mean BLEU-`max_n` of each sample against all others; needs at least two samples."""
    n_docs = len(tokenized)
    if n_docs < 2:
        raise ValueError("self-BLEU needs at least two texts")
    log_p = np.zeros(n_docs)
    valid = np.ones(n_docs, dtype=bool)
    for n in range(1, max_n + 1):
        matches, total = _clipped_matches(*_ngram_table(tokenized, n), n_docs)
        valid &= total > 0
        smoothed = np.where(matches > 0, matches, smoothing)
        with np.errstate(divide="ignore", invalid="ignore"):
            log_p += np.log(np.where(total > 0, smoothed / np.maximum(total, 1), 1.0)) / max_n
    lengths = np.array([len(t) for t in tokenized], dtype=float)
    gap = np.abs(lengths[None, :] - lengths[:, None]) + np.eye(n_docs) * 1e18
    gap += lengths[None, :] * 1e-9  # ties go to the shorter reference
    ref = lengths[np.argmin(gap, axis=1)]
    with np.errstate(divide="ignore"):
        bp = np.where(lengths > ref, 1.0, np.exp(1.0 - ref / np.maximum(lengths, 1)))
    scores = np.where(valid, bp * np.exp(log_p), 0.0)
    return float(scores.mean())


def zipf_exponent(counts: Sequence[int] | np.ndarray) -> float:
    freq = np.sort(np.asarray(counts, dtype=float))[::-1]
    freq = freq[freq > 0]
    if len(freq) < 3:
        return float("nan")
    slope = np.polyfit(np.log(np.arange(1, len(freq) + 1)), np.log(freq), 1)[0]
    return float(-slope)


def repetition_rate(tokenized: Sequence[Sequence[str]], n: int = 4) -> float:
    rates = [1 - len(set(g)) / len(g) for g in (_ngrams(list(t), n) for t in tokenized) if g]
    return float(np.mean(rates)) if rates else float("nan")


def vendi_score(embeddings: np.ndarray) -> float:
    x = np.asarray(embeddings, dtype=np.float64)
    x = x / np.linalg.norm(x, axis=1, keepdims=True)
    eig = np.linalg.svd(x / np.sqrt(len(x)), compute_uv=False) ** 2  # nonzero eigenvalues of K/n
    eig = eig[eig > 1e-12]
    return float(np.exp(-np.sum(eig * np.log(eig))))


def pca_basis(pooled: np.ndarray, dims: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """(mean, components) of a PCA fitted on pooled points; project with (x - mean) @ components.T."""
    mean = pooled.mean(0)
    components = np.linalg.svd(pooled - mean, full_matrices=False)[2][:dims]
    return mean, components


def hull_volume(points: np.ndarray) -> float:
    return float(ConvexHull(points).volume) if len(points) > points.shape[1] else float("nan")


def text_metrics(texts: Sequence[str]) -> dict[str, float]:
    tok = words(texts)
    counts = Counter(w for t in tok for w in t)
    return {
        "distinct_1": distinct_n(tok, 1),
        "distinct_2": distinct_n(tok, 2),
        "distinct_3": distinct_n(tok, 3),
        "self_bleu4": self_bleu(tok),
        "zipf_exponent": zipf_exponent(list(counts.values())),
        "vocab_size": float(len(counts)),
        "mean_length": float(np.mean([len(t) for t in tok])),
        "repetition_rate": repetition_rate(tok),
    }
