"""LSH banding of MinHash signatures: band parameters, band keys and candidate pairs.

Everything is batch and vectorized: keys are hashed per band with numpy, and candidates come from
one stable sort per band, so there is no per-document Python loop (the Python loops are over
bands and rows only).
"""

from __future__ import annotations

import numpy as np

__all__ = ["DEFAULT_MAX_BUCKET", "band_keys", "bucket_pairs", "candidate_pairs", "optimal_bands"]

# Bounds the pairs generated per bucket member; see candidate_pairs.
DEFAULT_MAX_BUCKET = 256

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xFF51AFD7ED558CCD)
_MIX2 = np.uint64(0xC4CEB9FE1A85EC53)
_S33 = np.uint64(33)


def optimal_bands(
    threshold: float, num_perm: int, fp_weight: float = 0.5, fn_weight: float = 0.5
) -> tuple[int, int]:
    """(bands, rows) with bands*rows <= num_perm minimising fp_weight*FP + fn_weight*FN.

    FP = integral over s in [0, threshold] of P(candidate | Jaccard s) = 1 - (1 - s^r)^b, FN = integral
    over [threshold, 1] of 1 - P: the objective of datasketch's ``_optimal_param``. The integrands
    are polynomials of degree <= num_perm, so Gauss-Legendre with num_perm/2 + 1 nodes is exact
    (up to rounding); ties keep the first (b, r) in (b, then r) order, like datasketch.
    """
    if not 0.0 < threshold < 1.0:
        raise ValueError(f"threshold must be in (0, 1), got {threshold}")
    if not isinstance(num_perm, int) or num_perm < 2:
        raise ValueError(f"num_perm must be an int >= 2, got {num_perm!r}")
    if fp_weight < 0 or fn_weight < 0 or fp_weight + fn_weight <= 0:
        raise ValueError(f"weights must be >= 0 with a positive sum, got {fp_weight}, {fn_weight}")
    b = np.concatenate([np.full(num_perm // k, k) for k in range(1, num_perm + 1)]).astype(np.float64)
    r = np.concatenate([np.arange(1, num_perm // k + 1) for k in range(1, num_perm + 1)]).astype(np.float64)
    x, w = np.polynomial.legendre.leggauss(min(num_perm // 2 + 1, 512))
    lo_s, lo_w = threshold * (x + 1) / 2, w * threshold / 2
    hi_s, hi_w = threshold + (1 - threshold) * (x + 1) / 2, w * (1 - threshold) / 2
    error = np.empty(len(b))
    for chunk in range(0, len(b), 4096):  # bounds the (pairs x nodes) temporaries
        bc, rc = b[chunk : chunk + 4096, None], r[chunk : chunk + 4096, None]
        fp = (1 - (1 - lo_s**rc) ** bc) @ lo_w
        fn = ((1 - hi_s**rc) ** bc) @ hi_w
        error[chunk : chunk + 4096] = fp_weight * fp + fn_weight * fn
    best = int(np.argmin(error))
    return int(b[best]), int(r[best])


def _fmix64(h: np.ndarray) -> np.ndarray:
    h ^= h >> _S33
    h *= _MIX1
    h ^= h >> _S33
    h *= _MIX2
    h ^= h >> _S33
    return h


def band_keys(signatures: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """(N, bands) uint64: a 64-bit hash of each band's ``rows`` signature values.

    Equal bands always give equal keys; unequal bands collide with probability ~2^-64, which only
    adds a candidate that verification then rejects.
    """
    sig = np.asarray(signatures)
    if sig.ndim != 2 or sig.dtype != np.uint32:
        raise ValueError(f"signatures must be a 2-D uint32 array, got {sig.dtype} with shape {sig.shape}")
    if bands < 1 or rows < 1:
        raise ValueError(f"bands and rows must be >= 1, got bands={bands}, rows={rows}")
    if bands * rows > sig.shape[1]:
        raise ValueError(f"bands*rows = {bands * rows} exceeds num_perm = {sig.shape[1]}")
    block = sig[:, : bands * rows].reshape(sig.shape[0], bands, rows)
    # Seed with the band number so equal values in different bands do not share a key.
    h = np.broadcast_to(np.arange(1, bands + 1, dtype=np.uint64) * _GOLDEN, block.shape[:2]).copy()
    for j in range(rows):
        h ^= block[:, :, j]
        h = _fmix64(h)
    return h


def bucket_pairs(column: np.ndarray, max_bucket: int) -> np.ndarray:
    """Codes i*N + j (i < j, positions in ``column``) of the pairs sharing a key, capped as in
    ``candidate_pairs``. Public for the disk-backed dedup, which runs it on one key partition."""
    n = len(column)
    order = np.argsort(column, kind="stable")  # stable: members of a bucket stay in index order
    keys = column[order]
    starts = np.flatnonzero(np.concatenate(([True], keys[1:] != keys[:-1])))
    ends = np.append(starts[1:], n)
    run_end = np.repeat(ends, np.diff(np.append(starts, n)))
    later = np.minimum(run_end - np.arange(n) - 1, max_bucket)  # partners of each sorted position
    pos = np.flatnonzero(later)
    cnt = later[pos]
    if not len(pos):
        return np.empty(0, dtype=np.int64)
    left = np.repeat(pos, cnt)
    step = np.arange(len(left)) - np.repeat(np.cumsum(cnt) - cnt, cnt) + 1
    return order[left].astype(np.int64) * n + order[left + step]


def candidate_pairs(keys: np.ndarray, max_bucket: int = DEFAULT_MAX_BUCKET) -> np.ndarray:
    """Unique (M, 2) int64 pairs (i < j, sorted) of rows sharing a key in at least one band.

    Inside a bucket (sorted by row index) each member is paired with the next ``max_bucket``
    members, so buckets of up to max_bucket + 1 rows give all their pairs and a bucket of m > that
    gives ~m*max_bucket instead of m^2/2 pairs, while staying connected (each member links to its
    successor). Exact duplicates should be removed first, so such buckets are rare.
    """
    k = np.asarray(keys)
    if k.ndim != 2 or k.shape[1] < 1:
        raise ValueError(f"keys must be 2-D (N, bands) with bands >= 1, got shape {k.shape}")
    if not isinstance(max_bucket, int) or max_bucket < 1:
        raise ValueError(f"max_bucket must be an int >= 1, got {max_bucket!r}")
    n = k.shape[0]
    if n < 2:
        return np.empty((0, 2), dtype=np.int64)
    codes = np.concatenate([bucket_pairs(k[:, band], max_bucket) for band in range(k.shape[1])])
    codes.sort()  # sort + neighbour mask: numpy 2.x's default np.unique is hash-based, ~100x slower
    codes = codes[np.concatenate(([True], codes[1:] != codes[:-1]))] if len(codes) else codes
    return np.stack((codes // n, codes % n), axis=1)
