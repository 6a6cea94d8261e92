"""Near-duplicate verification and clustering on top of MinHash + LSH, and exact-duplicate keys.

Pipeline: ``sign`` -> ``band_keys`` -> ``candidate_pairs`` -> ``verify`` (estimated or exact
Jaccard, so LSH false positives never reach the clusters) -> ``cluster`` (connected components).
The kept document of each cluster is its lowest row index, i.e. the first occurrence.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numba import njit, prange
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from detectors.dedup_config import DedupConfig
from detectors.lsh import band_keys, candidate_pairs
from detectors.minhash import MinHashConfig, hash_shingles, text_keys

__all__ = [
    "DedupConfig",
    "NearDuplicates",
    "cluster",
    "estimated_jaccard",
    "exact_duplicates",
    "exact_jaccard",
    "exact_key",
    "find_near_duplicates",
    "verify",
]

@dataclass(frozen=True)
class NearDuplicates:
    """Per-row result of ``find_near_duplicates`` (arrays of length N) plus pair counts.

    ``similarity`` is the Jaccard of the row to its cluster's representative, with the estimator
    used for verification (1.0 for kept rows). Chained clusters can hold rows whose similarity to
    the representative is below the threshold: that value exposes them.
    """

    cluster: np.ndarray  # int64: index of the kept representative (own index when kept)
    duplicate_of: np.ndarray  # int64: -1 for kept rows, else the representative's index
    similarity: np.ndarray  # float32
    n_candidates: int
    n_verified: int


def _sorted_unique(x: np.ndarray) -> np.ndarray:
    # Sort + neighbour mask: numpy 2.x's default np.unique is hash-based and ~100x slower on ints.
    x = np.sort(x, axis=None)
    return x[np.concatenate(([True], x[1:] != x[:-1]))] if len(x) else x


def _check_pairs(pairs: np.ndarray, n: int) -> np.ndarray:
    p = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    if len(p) and (p.min() < 0 or p.max() >= n):
        raise ValueError(f"pair indices must be in [0, {n}), got [{p.min()}, {p.max()}]")
    return p


@njit(parallel=True, cache=True, nogil=True)
def _equal_fraction(sig, pairs, out):
    for t in prange(pairs.shape[0]):
        a, b = sig[pairs[t, 0]], sig[pairs[t, 1]]
        equal = 0
        for k in range(sig.shape[1]):
            equal += a[k] == b[k]
        out[t] = equal / sig.shape[1]


def _estimated(pairs: np.ndarray, signatures: np.ndarray) -> np.ndarray:
    # float64 so that comparisons with a threshold are exact at k / num_perm boundaries.
    sig = np.ascontiguousarray(signatures, dtype=np.uint32)
    p = _check_pairs(pairs, len(sig))
    sim = np.empty(len(p), dtype=np.float64)
    if len(p):
        _equal_fraction(sig, np.ascontiguousarray(p), sim)
    return sim


def estimated_jaccard(pairs: np.ndarray, signatures: np.ndarray) -> np.ndarray:
    """Fraction of equal signature values per pair (float32), the MinHash Jaccard estimate."""
    return _estimated(pairs, signatures).astype(np.float32)


def verify(
    pairs: np.ndarray, signatures: np.ndarray, threshold: float
) -> tuple[np.ndarray, np.ndarray]:
    """Keep pairs whose estimated Jaccard is >= threshold; returns (pairs_kept, similarity float32)."""
    if not 0.0 <= threshold <= 1.0:
        raise ValueError(f"threshold must be in [0, 1], got {threshold}")
    p = _check_pairs(pairs, len(signatures))
    sim = _estimated(p, signatures)
    keep = sim >= threshold
    return p[keep], sim[keep].astype(np.float32)


@njit(parallel=True, cache=True, nogil=True)
def _sorted_set_jaccard(values, offsets, pairs, out):
    for t in prange(pairs.shape[0]):
        i, j = pairs[t, 0], pairs[t, 1]
        p, pe = offsets[i], offsets[i + 1]
        q, qe = offsets[j], offsets[j + 1]
        inter = 0
        while p < pe and q < qe:
            if values[p] == values[q]:
                inter += 1
                p += 1
                q += 1
            elif values[p] < values[q]:
                p += 1
            else:
                q += 1
        union = (offsets[i + 1] - offsets[i]) + (offsets[j + 1] - offsets[j]) - inter
        out[t] = 1.0 if union == 0 else inter / union  # two empty texts are identical


def _exact(pairs: np.ndarray, texts: Sequence[str], config: MinHashConfig | None) -> np.ndarray:
    p = _check_pairs(pairs, len(texts))
    out = np.empty(len(p), dtype=np.float64)
    if not len(p):
        return out
    docs = _sorted_unique(p)
    values, offsets = hash_shingles([texts[d] for d in docs], config)
    # Sort each document's hashes and drop repeats: doc id in the high bits keeps docs apart.
    doc_of = np.repeat(np.arange(len(docs), dtype=np.uint64), np.diff(offsets))
    combined = _sorted_unique((doc_of << np.uint64(32)) | values.astype(np.uint64))
    counts = np.bincount((combined >> np.uint64(32)).astype(np.int64), minlength=len(docs))
    set_offsets = np.concatenate(([0], np.cumsum(counts)))
    set_values = (combined & np.uint64(0xFFFFFFFF)).astype(np.uint32)
    _sorted_set_jaccard(set_values, set_offsets, np.searchsorted(docs, p), out)
    return out


def exact_jaccard(
    pairs: np.ndarray, texts: Sequence[str], config: MinHashConfig | None = None
) -> np.ndarray:
    """Jaccard of the shingle-hash sets (float32) of each pair; 1.0 for two empty texts."""
    return _exact(pairs, texts, config).astype(np.float32)


def cluster(n: int, pairs: np.ndarray) -> np.ndarray:
    """Connected-component labels (int64) where each label is the component's smallest row index."""
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    p = _check_pairs(pairs, n)
    graph = coo_matrix((np.ones(len(p), dtype=np.int8), (p[:, 0], p[:, 1])), shape=(n, n))
    n_components, labels = connected_components(graph, directed=False)
    smallest = np.full(n_components, n, dtype=np.int64)
    np.minimum.at(smallest, labels, np.arange(n, dtype=np.int64))
    return smallest[labels]


def find_near_duplicates(
    signatures: np.ndarray, config: DedupConfig | None = None, texts: Sequence[str] | None = None
) -> NearDuplicates:
    """LSH candidates -> verified pairs -> clusters; keeps the lowest row index of each cluster."""
    cfg = config or DedupConfig()
    sig = np.asarray(signatures)
    if sig.ndim != 2 or sig.shape[1] != cfg.minhash.num_perm:
        raise ValueError(f"signatures must have shape (N, {cfg.minhash.num_perm}), got {sig.shape}")
    if cfg.verify == "exact" and (texts is None or len(texts) != len(sig)):
        raise ValueError("verify='exact' needs texts, one per signature row")
    n = len(sig)

    def jaccard(pairs: np.ndarray) -> np.ndarray:
        if cfg.verify == "exact" and texts is not None:
            return _exact(pairs, texts, cfg.minhash)
        return _estimated(pairs, sig)

    bands, rows = cfg.banding()
    candidates = candidate_pairs(band_keys(sig, bands, rows), cfg.max_bucket)
    kept = candidates[jaccard(candidates) >= cfg.threshold]
    labels = cluster(n, kept)
    rows_idx = np.arange(n, dtype=np.int64)
    dup = np.flatnonzero(labels != rows_idx)
    similarity = np.ones(n, dtype=np.float32)
    similarity[dup] = jaccard(np.stack((labels[dup], dup), axis=1))
    return NearDuplicates(
        cluster=labels,
        duplicate_of=np.where(labels == rows_idx, -1, labels),
        similarity=similarity,
        n_candidates=len(candidates),
        n_verified=len(kept),
    )


def exact_key(texts: Sequence[str]) -> np.ndarray:
    """uint64 key per text: MurmurHash64A of the normalised text's UTF-8 bytes (``minhash.text_keys``:
    normalised and hashed in the MinHash kernels' parallel code, no Python per text beyond encoding)."""
    return text_keys(texts)


def exact_duplicates(keys: np.ndarray) -> np.ndarray:
    """int64 per row: -1 for a key's first occurrence, else the index of that first occurrence."""
    k = np.asarray(keys)
    if k.ndim != 1:
        raise ValueError(f"keys must be 1-D, got shape {k.shape}")
    _, first, inverse = np.unique(k, return_index=True, return_inverse=True)
    firsts = first[inverse.reshape(-1)].astype(np.int64)
    return np.where(firsts == np.arange(len(k)), -1, firsts)
