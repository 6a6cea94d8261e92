"""Disk-backed global near-dedup: equal to the in-memory path where no cap binds, capped chains,
determinism, and the work directory's contract."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from dedup_support import near_duplicate_signatures, near_duplicate_texts

from detectors.dedup import DedupConfig, find_near_duplicates
from detectors.minhash import sign
from hygiene.dedup.partitioned import (
    DedupWorkDirError,
    DiskDedup,
    DiskDedupResult,
)


def run_disk(tmp: Path, sig: np.ndarray, config: DedupConfig, *, batch: int, partitions: int,
             max_cluster: int | None, **kw) -> DiskDedupResult:
    dedup = DiskDedup(tmp, config, partitions=partitions, max_cluster=max_cluster, **kw)
    for start in range(0, len(sig), batch):
        rows = dedup.add(sig[start : start + batch])
        assert rows.tolist() == list(range(start, min(start + batch, len(sig))))
    return dedup.run()


def assert_same(result: DiskDedupResult, sig: np.ndarray, config: DedupConfig) -> None:
    ref = find_near_duplicates(sig, config)
    got = result.to_near_duplicates()
    np.testing.assert_array_equal(got.cluster, ref.cluster)
    np.testing.assert_array_equal(got.duplicate_of, ref.duplicate_of)
    np.testing.assert_array_equal(got.similarity, ref.similarity)
    assert (got.n_candidates, got.n_verified) == (ref.n_candidates, ref.n_verified)
    assert result.n_duplicates == int((ref.duplicate_of >= 0).sum()) > 0
    assert result.refused_unions == 0


@pytest.mark.parametrize(("partitions", "batch"), [(1, 5000), (7, 1234), (64, 999)])
def test_equals_in_memory_on_signatures(tmp_path: Path, partitions: int, batch: int) -> None:
    sig = near_duplicate_signatures(5000, copies=900, edit=0.3, seed=partitions)
    config = DedupConfig()
    result = run_disk(tmp_path / "w", sig, config, batch=batch, partitions=partitions, max_cluster=None)
    assert_same(result, sig, config)
    assert result.largest_cluster >= 3  # copies of copies: clusters beyond pairs were exercised


@pytest.mark.parametrize("config", [DedupConfig(), DedupConfig(threshold=0.8, max_bucket=2)],
                         ids=["default", "small-buckets"])
def test_equals_in_memory_on_texts(tmp_path: Path, config: DedupConfig) -> None:
    texts = near_duplicate_texts(600, seed=3)
    sig = sign(texts, config.minhash)
    assert_same(run_disk(tmp_path / "w", sig, config, batch=250, partitions=5, max_cluster=None), sig, config)


def test_partition_tasks_in_any_order(tmp_path: Path) -> None:
    """The candidate and verify stages are independent per-partition tasks (what the Ray engine runs in
    parallel): run backwards, in separate calls per stage, the result is the in-memory one."""
    sig = near_duplicate_signatures(3000, copies=500, edit=0.3, seed=11)
    config = DedupConfig()
    calls = []

    def backwards(fn, args):
        calls.append((fn.__name__, len(args)))
        return [fn(*a) for a in reversed(args)][::-1]

    result = run_disk(tmp_path / "w", sig, config, batch=700, partitions=6, max_cluster=None, map_tasks=backwards)
    assert calls == [("write_candidates", 6), ("write_edges", 6)]
    assert_same(result, sig, config)


def chain(n_links: int, seed: int) -> np.ndarray:
    """Each signature redraws 20 % of the previous one's values: neighbours ~0.8 similar, ends ~0."""
    rng = np.random.default_rng(seed)
    rows = [rng.integers(0, 2**32, 128, dtype=np.uint64).astype(np.uint32)]
    for _ in range(n_links - 1):
        nxt = rows[-1].copy()
        redraw = rng.choice(128, 26, replace=False)
        nxt[redraw] = rng.integers(0, 2**32, 26, dtype=np.uint64).astype(np.uint32)
        rows.append(nxt)
    return np.stack(rows)


def test_cluster_cap_breaks_chains(tmp_path: Path) -> None:
    sig = np.concatenate((chain(12, seed=1), near_duplicate_signatures(300, copies=0, edit=0, seed=2)))
    config = DedupConfig()
    uncapped = run_disk(tmp_path / "a", sig, config, batch=100, partitions=3, max_cluster=None)
    assert uncapped.largest_cluster == 12  # one chain: its far end is nothing like its representative
    assert uncapped.to_near_duplicates().similarity[11] < config.threshold
    capped = run_disk(tmp_path / "b", sig, config, batch=100, partitions=3, max_cluster=4)
    near = capped.to_near_duplicates()
    sizes = np.bincount(near.cluster)
    assert capped.largest_cluster == sizes.max() <= 4 and capped.refused_unions > 0
    assert np.all(near.cluster[12:] == np.arange(12, len(sig)))  # unrelated rows untouched
    # Rows still join in (i, j) order: the first four links form the first cluster.
    assert near.cluster[:4].tolist() == [0, 0, 0, 0] and near.cluster[4] == 4


def test_deterministic_across_partitions_and_batches(tmp_path: Path) -> None:
    sig = near_duplicate_signatures(3000, copies=1500, edit=0.35, seed=9)  # dense: the cap binds
    results = [
        run_disk(tmp_path / str(k), sig, DedupConfig(), batch=b, partitions=p, max_cluster=5)
        for k, (p, b) in enumerate([(1, 3000), (4, 700), (16, 128), (4, 700)])
    ]
    assert results[0].refused_unions > 0
    tables = [r.read() for r in results]
    assert all(t.equals(tables[0]) for t in tables[1:])


def test_work_dir_contract(tmp_path: Path) -> None:
    sig = near_duplicate_signatures(400, copies=80, edit=0.2, seed=4)
    work = tmp_path / "w"
    result = run_disk(work, sig, DedupConfig(), batch=400, partitions=4, max_cluster=None)
    assert sorted(p.name for p in work.iterdir()) == ["duplicates.parquet", "edges", "manifest.json", "signatures.u32"]
    loaded = DiskDedupResult.load(work)
    assert loaded == result
    table = result.read()
    assert table.column_names == ["row", "duplicate_of", "similarity"]
    rows = table["row"].to_numpy()
    assert np.all(np.diff(rows) > 0) and np.all(table["duplicate_of"].to_numpy() < rows)
    with pytest.raises(DedupWorkDirError, match="not empty"):
        DiskDedup(work)
    with pytest.raises(DedupWorkDirError, match="no finished dedup run"):
        DiskDedupResult.load(tmp_path)
    kept = run_disk(tmp_path / "k", sig, DedupConfig(), batch=400, partitions=4, max_cluster=None,
                    keep_intermediate=True)
    assert (kept.work_dir / "keys").is_dir() and (kept.work_dir / "pairs").is_dir()
    assert kept.disk_bytes >= (kept.work_dir / "signatures.u32").stat().st_size == 400 * 128 * 4


def test_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="verify='estimated'"):
        DiskDedup(tmp_path / "a", DedupConfig(verify="exact"))
    with pytest.raises(ValueError, match="partitions"):
        DiskDedup(tmp_path / "b", partitions=0)
    with pytest.raises(ValueError, match="max_cluster"):
        DiskDedup(tmp_path / "c", max_cluster=1)
    dedup = DiskDedup(tmp_path / "d")
    with pytest.raises(ValueError, match=r"shape \(n, 128\)"):
        dedup.add(np.zeros((3, 64), np.uint32))
    empty = dedup.run()
    assert empty.n_docs == 0 and empty.n_duplicates == 0 and empty.read().num_rows == 0


def test_pair_partitions_follow_the_corpus(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """More pair partitions than key partitions (large corpora) give the same result."""
    import hygiene.dedup.partitioned as partitioned

    monkeypatch.setattr(partitioned, "ROWS_PER_PAIR_PARTITION", 97)
    sig = near_duplicate_signatures(3000, copies=600, edit=0.3, seed=12)
    result = run_disk(tmp_path / "w", sig, DedupConfig(), batch=1000, partitions=2, max_cluster=None)
    assert len(list((tmp_path / "w" / "edges").iterdir())) > 20
    assert_same(result, sig, DedupConfig())
