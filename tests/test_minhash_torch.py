"""MinHash in torch: bit-identical to the numba kernel (hence to datasketch) on CPU torch; the same on a
GPU when there is one (marked `gpu`)."""

from __future__ import annotations

import random
import time

import numpy as np
import pytest
import torch
from test_minhash import CONFIGS, random_doc

from detectors.minhash import MinHashConfig, hash_shingles, sign
from detectors.minhash_torch import _fmix32, _mul32, permute_min, sign_torch


@pytest.fixture(scope="module")
def docs() -> list[str]:
    rng = random.Random(77)
    return ["", " \t\n", "word", "two words", "😀"] + [random_doc(rng) for _ in range(395)]


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: f"{c.shingle}{c.ngram}-p{c.num_perm}-s{c.seed}")
def test_bit_identical_on_cpu(docs: list[str], config: MinHashConfig) -> None:
    ours = sign_torch(docs, config)
    assert ours.dtype == np.uint32 and ours.shape == (len(docs), config.num_perm)
    np.testing.assert_array_equal(ours, sign(docs, config))


def test_chunks_split_documents(docs: list[str]) -> None:
    config = MinHashConfig(num_perm=64)
    values, offsets = hash_shingles(docs[:120], config)
    expected = sign(docs[:120], config)
    for cells in (64 * 997, 64 * 10_007):  # chunk edges fall inside documents
        np.testing.assert_array_equal(permute_min(values, offsets, config, chunk_cells=cells), expected)


def test_32_bit_arithmetic_is_exact() -> None:
    rng = np.random.default_rng(0)
    x = rng.integers(0, 2**32, 10_000, dtype=np.uint64)
    y = rng.integers(0, 2**32, 10_000, dtype=np.uint64)
    x[:4], y[:4] = [0, 2**32 - 1, 2**32 - 1, 1], [2**32 - 1, 2**32 - 1, 0, 2**32 - 1]
    got = _mul32(torch.from_numpy(x.astype(np.int64)), torch.from_numpy(y.astype(np.int64))).numpy()
    np.testing.assert_array_equal(got, (x.astype(np.uint32) * y.astype(np.uint32)).astype(np.int64))
    h = x.astype(np.uint32)
    ref = h ^ (h >> np.uint32(16))
    ref = ref * np.uint32(0x85EBCA6B)
    ref ^= ref >> np.uint32(13)
    ref = ref * np.uint32(0xC2B2AE35)
    ref ^= ref >> np.uint32(16)
    np.testing.assert_array_equal(_fmix32(torch.from_numpy(x.astype(np.int64))).numpy(), ref.astype(np.int64))


def test_empty_input() -> None:
    assert sign_torch([], MinHashConfig(num_perm=16)).shape == (0, 16)
    assert np.all(sign_torch(["", "  "], MinHashConfig(num_perm=8)) == 0xFFFFFFFF)


@pytest.mark.gpu
def test_bit_identical_on_gpu(docs: list[str]) -> None:
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    for config in CONFIGS:
        np.testing.assert_array_equal(sign_torch(docs, config, device="cuda"), sign(docs, config))
    big = docs * 50
    sign_torch(big[:100], device="cuda")
    torch.cuda.synchronize()
    t = time.perf_counter()
    sign_torch(big, device="cuda")
    torch.cuda.synchronize()
    print(f"sign_torch on cuda: {len(big) / (time.perf_counter() - t):,.0f} docs/s ({len(big)} docs)")
