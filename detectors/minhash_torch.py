"""MinHash signatures in torch (on a GPU when given one), bit-identical to ``detectors.minhash.sign``.

The shingle hashes come from the CPU kernel (``hash_shingles``: normalisation, shingling,
murmur3), which is cheap next to the rest; datasketch's fmix32 pre-mix, the affine32
permutations ``a * h + b mod 2^32`` and the per-document minimum run in torch on ``device``, in
chunks of shingles so that the (shingles x permutations) intermediate stays within a budget.

torch has no full uint32 arithmetic, so values live in int64 and each 32-bit product is built from
16-bit halves of one factor, which never overflows: with a = a_hi * 2^16 + a_lo,
``a * h mod 2^32 = (a_lo * h + ((a_hi * h) mod 2^16) * 2^16) mod 2^32`` (each product < 2^48).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from detectors.dedup_config import MinHashConfig
from detectors.minhash import hash_shingles, permutations

__all__ = ["permute_min", "sign_torch"]

_MASK = 0xFFFFFFFF
_LOW16 = 0xFFFF
# int64 cells of the (shingles x permutations) intermediate per chunk; a few of them live at once.
DEFAULT_CHUNK_CELLS = 1 << 24  # 128 MiB each


def _mul32(a: torch.Tensor | int, h: torch.Tensor) -> torch.Tensor:
    """(a * h) mod 2^32 for int64 tensors (or an int a) holding values in [0, 2^32)."""
    lo = a & _LOW16
    hi = a >> 16
    return (lo * h + (((hi * h) & _LOW16) << 16)) & _MASK


def _fmix32(h: torch.Tensor) -> torch.Tensor:
    h = h ^ (h >> 16)
    h = _mul32(0x85EBCA6B, h)
    h = h ^ (h >> 13)
    h = _mul32(0xC2B2AE35, h)
    return h ^ (h >> 16)


@torch.inference_mode()
def permute_min(
    values: np.ndarray,
    offsets: np.ndarray,
    config: MinHashConfig | None = None,
    device: str | torch.device = "cpu",
    chunk_cells: int = DEFAULT_CHUNK_CELLS,
) -> np.ndarray:
    """Signatures from shingle hashes (``hash_shingles`` output): uint32 (len(offsets) - 1, num_perm)."""
    cfg = config or MinHashConfig()
    offsets = np.asarray(offsets, dtype=np.int64)
    n_docs = len(offsets) - 1
    a_np, b_np = permutations(cfg.num_perm, cfg.seed)
    a = torch.from_numpy(a_np.astype(np.int64)).to(device)
    b = torch.from_numpy(b_np.astype(np.int64)).to(device)
    a_lo, a_hi = a & _LOW16, a >> 16
    out = torch.full((n_docs, cfg.num_perm), _MASK, dtype=torch.int64, device=device)
    doc_of = np.repeat(np.arange(n_docs, dtype=np.int64), np.diff(offsets))
    step = max(1, chunk_cells // cfg.num_perm)
    for start in range(0, len(values), step):
        h = _fmix32(torch.from_numpy(np.asarray(values[start : start + step], dtype=np.int64)).to(device))[:, None]
        permuted = (a_lo * h + (((a_hi * h) & _LOW16) << 16) + b) & _MASK  # _mul32 inlined for all a at once
        index = torch.from_numpy(doc_of[start : start + step]).to(device)[:, None].expand_as(permuted)
        out.scatter_reduce_(0, index, permuted, reduce="amin")  # a doc split across chunks is fine
    return out.cpu().numpy().astype(np.uint32)


def sign_torch(
    texts: Sequence[str],
    config: MinHashConfig | None = None,
    device: str | torch.device = "cpu",
    chunk_cells: int = DEFAULT_CHUNK_CELLS,
) -> np.ndarray:
    """Same as ``detectors.minhash.sign(texts, config)``, with the permutation step on ``device``."""
    cfg = config or MinHashConfig()
    values, offsets = hash_shingles(texts, cfg)
    return permute_min(values, offsets, cfg, device, chunk_cells)
