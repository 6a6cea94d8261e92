"""Persistent dedup index, both backends (SQLite file, real redis-server): a batch checked against
the index gets the decisions of deduplicating everything so far together; commits are atomic."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from dedup_support import near_duplicate_signatures, near_duplicate_texts, redis_server

from detectors.dedup import DedupConfig, exact_duplicates, exact_key, find_near_duplicates
from detectors.minhash import sign
from hygiene.dedup.index import DedupIndex, IndexResult
from hygiene.dedup.storage import DedupIndexError, IndexStorage, IndexUpdate, open_storage


@pytest.fixture(params=["sqlite", "redis"])
def location(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Where an index lives; every `open_storage(location)` is a new connection to the same index."""
    if request.param == "sqlite":
        yield str(tmp_path / "index" / "dedup.sqlite")
    else:
        with redis_server(tmp_path) as url:
            yield url + "?prefix=test"


def together(signatures: np.ndarray, keys: np.ndarray, config: DedupConfig) -> dict[str, np.ndarray]:
    """The one-shot decisions: exact copies first, then near-duplicates among the rest (the pipeline's order)."""
    exact_of = exact_duplicates(keys)
    unique = np.flatnonzero(exact_of < 0)
    near = find_near_duplicates(signatures[unique], config)
    n = len(keys)
    cluster, duplicate_of = np.full(n, -1), np.full(n, -1)
    similarity = np.full(n, np.nan, np.float32)
    cluster[unique] = unique[near.cluster]
    duplicate_of[unique] = np.where(near.duplicate_of >= 0, unique[near.duplicate_of], -1)
    similarity[unique] = near.similarity
    return {"exact_of": exact_of, "cluster": cluster, "duplicate_of": duplicate_of, "similarity": similarity}


def assert_matches(result: IndexResult, expected: dict[str, np.ndarray], start: int) -> None:
    for name, want in expected.items():
        np.testing.assert_array_equal(getattr(result, name), want[start : start + len(result.rows)], err_msg=name)


def test_shard_after_shard_equals_together(location: str) -> None:
    """Acceptance at the dedup level: B after A (index kept, reopened) = A + B together."""
    texts = near_duplicate_texts(400, seed=11)
    config = DedupConfig()
    sig, keys = sign(texts, config.minhash), exact_key(texts)
    half = len(texts) // 2
    with open_storage(location) as storage:
        a = DedupIndex(storage, config).update(sig[:half], keys[:half])
    with open_storage(location) as storage:  # a later job, a new connection
        index = DedupIndex(storage, config)
        assert index.n_docs == half
        b = index.update(sig[half:], keys[half:])
    expected = together(sig, keys, config)
    assert_matches(a, expected, 0)  # no B document joins two of A's clusters here, so A's stay too
    assert_matches(b, expected, half)
    assert b.rows.tolist() == list(range(half, len(texts)))
    # B's near-duplicates of A were found (not just B's among themselves), and its exact copies of A.
    assert np.any((b.duplicate_of >= 0) & (b.duplicate_of < half))
    assert np.any((b.exact_of >= 0) & (b.exact_of < half))


def test_every_batch_equals_everything_so_far(location: str) -> None:
    sig = near_duplicate_signatures(3000, copies=700, edit=0.3, seed=5)
    keys = np.random.default_rng(5).integers(0, 2**63, 3000, dtype=np.uint64)
    keys[2500:2600] = keys[100:200]  # exact copies across batches
    keys[1210:1220] = keys[1200:1210]  # and inside one
    sig[2500:2600], sig[1210:1220] = sig[100:200], sig[1200:1210]
    config = DedupConfig()
    with open_storage(location) as storage:
        index = DedupIndex(storage, config)
        for start in range(0, 3000, 700):
            result = index.update(sig[start : start + 700], keys[start : start + 700])
            end = start + len(result.rows)
            assert_matches(result, together(sig[:end], keys[:end], config), start)
        assert index.n_docs == 3000 and storage.size_bytes() > 3000 * 512


def test_bucket_cap_matches_in_memory(location: str) -> None:
    """Buckets larger than max_bucket + 1 pair each member with the next max_bucket only, in both paths."""
    base = near_duplicate_signatures(1, copies=0, edit=0, seed=1)
    rng = np.random.default_rng(2)
    sig = np.repeat(base, 40, axis=0)
    for k in range(1, 40):  # 40 variants that share most bands
        sig[k, rng.choice(128, 3, replace=False)] = rng.integers(0, 2**32, 3, dtype=np.uint64).astype(np.uint32)
    keys = np.arange(40, dtype=np.uint64)
    config = DedupConfig(max_bucket=3)
    with open_storage(location) as storage:
        index = DedupIndex(storage, config)
        results = [index.update(sig[s : s + 10], keys[s : s + 10]) for s in range(0, 40, 10)]
    expected = together(sig, keys, config)
    for k, result in enumerate(results):
        prefix = together(sig[: 10 * (k + 1)], keys[: 10 * (k + 1)], config)
        assert_matches(result, prefix, 10 * k)
    assert np.all(expected["duplicate_of"][1:] == 0)


def test_bridge_between_old_clusters_is_remembered(location: str) -> None:
    rng = np.random.default_rng(7)
    one, two = rng.integers(0, 2**32, (2, 128), dtype=np.uint64).astype(np.uint32)
    bridge = np.concatenate((one[:64], two[64:]))  # ~0.5 like either, they are ~0 alike
    config = DedupConfig(threshold=0.45)
    a = np.stack((one, one, two, two))  # A: clusters {0, 1} and {2, 3}
    c = two[None, :]  # C: a copy of cluster {2, 3}
    with open_storage(location) as storage:
        index = DedupIndex(storage, config)
        assert index.update(a).cluster.tolist() == [0, 0, 2, 2]
        assert index.update(bridge[None, :]).cluster.tolist() == [0]  # B joins both
        result = index.update(c)
    # Together, all of A+B+C is one cluster kept at row 0; C learns that from the stored merge.
    assert together(np.concatenate((a, bridge[None, :], c)), np.arange(6, dtype=np.uint64), config)["cluster"][5] == 0
    assert result.cluster.tolist() == [0] and result.duplicate_of.tolist() == [0]


def test_settings_are_checked(location: str) -> None:
    with open_storage(location) as storage:
        DedupIndex(storage, DedupConfig()).update(near_duplicate_signatures(20, 0, 0, seed=1))
    with open_storage(location) as storage, pytest.raises(DedupIndexError, match=r"threshold: index 0.55, now 0.7"):
        DedupIndex(storage, DedupConfig(threshold=0.7))
    with open_storage(location) as storage:
        with pytest.raises(ValueError, match=r"shape \(n, 128\)"):
            DedupIndex(storage, DedupConfig()).update(np.zeros((2, 64), np.uint32))
        with pytest.raises(ValueError, match="verify='estimated'"):
            DedupIndex(storage, DedupConfig(verify="exact"))


def test_failed_commit_leaves_nothing(location: str) -> None:
    with open_storage(location) as storage:
        keys = np.array([[11, 12], [13, 14]], dtype=np.uint64)
        broken = IndexUpdate(
            meta={"n_docs": 2, "unserialisable": object()}, rows=np.array([0, 1]), band_keys=keys,
            signatures=np.zeros((2, 4), np.uint32), parent_rows=np.array([1]), parents=np.array([0]),
            exact_keys=np.array([5], np.uint64), exact_rows=np.array([0]),
        )
        with pytest.raises(TypeError):
            storage.commit(broken)
        assert storage.meta() is None
        assert len(storage.bucket_rows(keys.reshape(-1))[0]) == 0
        assert storage.exact_rows(np.array([5], np.uint64)).tolist() == [-1]
        assert storage.parents(np.array([1])).tolist() == [1]


def test_storage_round_trip(location: str) -> None:
    with open_storage(location) as storage:
        assert isinstance(storage, IndexStorage)
        keys = np.array([[2**64 - 1, 7], [7, 2**63]], dtype=np.uint64)  # full uint64 range, a shared bucket
        sig = np.arange(8, dtype=np.uint32).reshape(2, 4) + np.uint32(2**32 - 8)
        storage.commit(IndexUpdate(
            meta={"n_docs": 5, "num_perm": 4}, rows=np.array([3, 4]), band_keys=keys, signatures=sig,
            parent_rows=np.array([4]), parents=np.array([3]),
            exact_keys=np.array([2**64 - 2], np.uint64), exact_rows=np.array([3]),
        ))
        assert storage.meta() == {"n_docs": 5, "num_perm": 4}
        pos, rows = storage.bucket_rows(np.array([7, 2**64 - 1, 99, 2**63], dtype=np.uint64))
        assert list(zip(pos.tolist(), rows.tolist())) == [(0, 3), (0, 4), (1, 3), (3, 4)]
        np.testing.assert_array_equal(storage.signatures(np.array([4, 3, 4])), sig[[1, 0, 1]])
        assert storage.parents(np.array([4, 3, 9])).tolist() == [3, 3, 9]
        assert storage.exact_rows(np.array([2**64 - 2, 1], np.uint64)).tolist() == [3, -1]
