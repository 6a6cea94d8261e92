"""MinHash signatures in torch (on a GPU when given one), bit-identical to ``detectors.minhash.sign``.

The shingle hashes come from the CPU kernel (``hash_shingles``: normalisation, shingling,
murmur3); datasketch's fmix32 pre-mix, the affine32 permutations ``a * h + b mod 2^32`` and the
per-document minimum run in torch on ``device``, in chunks of shingles so that the
(shingles x permutations) intermediate stays within a budget.

torch has no usable uint32 arithmetic, so the 32-bit words are held as int32 with the same bits:
multiplication and addition wrap modulo 2^32 (the hardware does; C++ calls signed overflow
undefined, so ``_wrapping_ok`` checks it once per device against numpy's uint32 and otherwise
uses the exact int64 path below); right shifts are masked to be logical; and flipping the top bit
maps unsigned order onto signed order, so ``amin`` finds the unsigned minimum. The int64 path
builds each 32-bit product from 16-bit halves of one factor (``_mul32``: every product < 2^48).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np
import torch

from detectors.dedup_config import MinHashConfig
from detectors.minhash import hash_shingles, permutations

__all__ = ["permute_min", "sign_torch"]

_MASK = 0xFFFFFFFF
_LOW16 = 0xFFFF
_TOP = -(1 << 31)  # int32 with only the top bit set
DEFAULT_CHUNK_CELLS = 1 << 24  # (shingles x permutations) cells per chunk; a few such tensors live at once


def _as_int32(x: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(x, dtype=np.uint32).view(np.int32))


def _mul32(a: torch.Tensor | int, h: torch.Tensor) -> torch.Tensor:
    """(a * h) mod 2^32 for int64 tensors (or an int a) holding values in [0, 2^32), exactly."""
    lo = a & _LOW16
    hi = a >> 16
    return (lo * h + (((hi * h) & _LOW16) << 16)) & _MASK


def _fmix32_int64(h: torch.Tensor) -> torch.Tensor:
    h = h ^ (h >> 16)
    h = _mul32(0x85EBCA6B, h)
    h = h ^ (h >> 13)
    h = _mul32(0xC2B2AE35, h)
    return h ^ (h >> 16)


def _fmix32_int32(h: torch.Tensor) -> torch.Tensor:
    h = h ^ ((h >> 16) & 0xFFFF)  # >> on int32 is arithmetic: mask it to a logical shift
    h = h * _as_int32(np.array(0x85EBCA6B)).to(h.device)
    h = h ^ ((h >> 13) & 0x7FFFF)
    h = h * _as_int32(np.array(0xC2B2AE35)).to(h.device)
    return h ^ ((h >> 16) & 0xFFFF)


@functools.cache
def _wrapping_ok(device_type: str) -> bool:
    """Whether int32 multiply-add wraps modulo 2^32 on this kind of device (checked, not assumed)."""
    rng = np.random.default_rng(0)
    x, y, z = (rng.integers(0, 1 << 32, 4096, dtype=np.uint64).astype(np.uint32) for _ in range(3))
    x[:3], y[:3] = [_MASK, _MASK, 1 << 31], [_MASK, 2, 1 << 31]
    got = (_as_int32(x).to(device_type) * _as_int32(y).to(device_type) + _as_int32(z).to(device_type)).cpu()
    return bool(np.array_equal(got.numpy().view(np.uint32), x * y + z))


@torch.inference_mode()
def permute_min(
    values: np.ndarray,
    offsets: np.ndarray,
    config: MinHashConfig | None = None,
    device: str | torch.device = "cpu",
    chunk_cells: int = DEFAULT_CHUNK_CELLS,
    exact_int64: bool | None = None,
) -> np.ndarray:
    """Signatures from shingle hashes (``hash_shingles`` output): uint32 (len(offsets) - 1, num_perm).

    ``exact_int64`` forces (True) or forbids (False) the int64 path; by default it is used only
    where int32 arithmetic does not wrap.
    """
    cfg = config or MinHashConfig()
    device = torch.device(device)
    wide = not _wrapping_ok(device.type) if exact_int64 is None else exact_int64
    offsets = np.asarray(offsets, dtype=np.int64)
    n_docs = len(offsets) - 1
    a_np, b_np = permutations(cfg.num_perm, cfg.seed)
    doc_of = np.repeat(np.arange(n_docs, dtype=np.int64), np.diff(offsets))
    step = max(1, chunk_cells // cfg.num_perm)
    if wide:
        a = torch.from_numpy(a_np.astype(np.int64)).to(device)
        b = torch.from_numpy(b_np.astype(np.int64)).to(device)
        a_lo, a_hi = a & _LOW16, a >> 16
        out = torch.full((n_docs, cfg.num_perm), _MASK, dtype=torch.int64, device=device)
    else:
        a, b = _as_int32(a_np).to(device), _as_int32(b_np).to(device)
        out = torch.full((n_docs, cfg.num_perm), _MASK ^ (1 << 31), dtype=torch.int32, device=device)
    for start in range(0, len(values), step):
        chunk = values[start : start + step]
        if wide:
            h = _fmix32_int64(torch.from_numpy(np.asarray(chunk, dtype=np.int64)).to(device))[:, None]
            permuted = (a_lo * h + (((a_hi * h) & _LOW16) << 16) + b) & _MASK  # _mul32 for all a at once
        else:
            h = _fmix32_int32(_as_int32(chunk).to(device))[:, None]
            permuted = (h * a + b) ^ _TOP  # top bit flipped: signed order = unsigned order
        index = torch.from_numpy(doc_of[start : start + step]).to(device)[:, None].expand_as(permuted)
        out.scatter_reduce_(0, index, permuted, reduce="amin")  # a doc split across chunks is fine
    result = out.cpu().numpy()
    return result.astype(np.uint32) if wide else (result ^ np.int32(_TOP)).view(np.uint32)


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
