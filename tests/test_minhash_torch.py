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
from detectors.minhash_torch import (
    _as_int32,
    _fmix32_int32,
    _fmix32_int64,
    _mul32,
    _wrapping_ok,
    permute_min,
    sign_torch,
)


@pytest.fixture(scope="module")
def docs() -> list[str]:
    rng = random.Random(77)
    return ["", " \t\n", "word", "two words", "😀"] + [random_doc(rng) for _ in range(395)]


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: f"{c.shingle}{c.ngram}-p{c.num_perm}-s{c.seed}")
def test_bit_identical_on_cpu(docs: list[str], config: MinHashConfig) -> None:
    ours = sign_torch(docs, config)
    assert ours.dtype == np.uint32 and ours.shape == (len(docs), config.num_perm)
    np.testing.assert_array_equal(ours, sign(docs, config))


@pytest.mark.parametrize("exact_int64", [False, True], ids=["int32-wrapping", "int64-exact"])
def test_both_paths_and_chunks_split_documents(docs: list[str], exact_int64: bool) -> None:
    assert _wrapping_ok("cpu")  # so the default CPU path is the int32 one tested above
    config = MinHashConfig(num_perm=64)
    values, offsets = hash_shingles(docs[:120], config)
    expected = sign(docs[:120], config)
    for cells in (64 * 997, 64 * 10_007):  # chunk edges fall inside documents
        got = permute_min(values, offsets, config, chunk_cells=cells, exact_int64=exact_int64)
        np.testing.assert_array_equal(got, expected)


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
    np.testing.assert_array_equal(_fmix32_int64(torch.from_numpy(x.astype(np.int64))).numpy(), ref.astype(np.int64))
    np.testing.assert_array_equal(_fmix32_int32(_as_int32(h)).numpy().view(np.uint32), ref)


def test_empty_input() -> None:
    assert sign_torch([], MinHashConfig(num_perm=16)).shape == (0, 16)
    assert np.all(sign_torch(["", "  "], MinHashConfig(num_perm=8)) == 0xFFFFFFFF)


@pytest.mark.gpu
def test_bit_identical_on_gpu(docs: list[str]) -> None:
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    assert _wrapping_ok("cuda")
    for config in CONFIGS:
        values, offsets = hash_shingles(docs, config)
        for exact_int64 in (False, True):
            got = permute_min(values, offsets, config, device="cuda", exact_int64=exact_int64)
            np.testing.assert_array_equal(got, sign(docs, config))
    big = docs * 50
    sign_torch(big[:100], device="cuda")
    torch.cuda.synchronize()
    t = time.perf_counter()
    sign_torch(big, device="cuda")
    torch.cuda.synchronize()
    print(f"sign_torch on cuda: {len(big) / (time.perf_counter() - t):,.0f} docs/s ({len(big)} docs)")
