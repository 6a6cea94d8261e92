"""Near-dedup at scale: in-memory vs disk-backed global dedup, and the incremental index.

A synthetic corpus is generated at run time, batch by batch (documents are a pure function of their
row, so no corpus is ever held): ~200 Zipf-distributed pseudo-words per document, and a fraction
``--dup-rate`` of documents are near-duplicates of an earlier original (2-8 % of words replaced).
Each mode runs in its own process and reports its peak RSS (ru_maxrss), so run one mode per call:

    python benchmarks/dedup_scale.py --mode memory --docs 100000
    python benchmarks/dedup_scale.py --mode disk --docs 1000000 --work-dir /tmp/dd
    python benchmarks/dedup_scale.py --mode index --docs 100000 --index /tmp/ix.sqlite
    python benchmarks/dedup_scale.py --mode index --docs 100000 --index redis://127.0.0.1:6379/0
    python benchmarks/dedup_scale.py --mode torch-minhash --docs 20000   # torch vs numba signing

Prints one JSON object: timings per stage, docs/s, peak RSS, duplicates found against injected,
and a digest of the (row, duplicate_of) pairs so that two modes' results can be compared.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import shutil
import subprocess
import time
from pathlib import Path

import numba
import numpy as np

from detectors.dedup import DedupConfig, find_near_duplicates
from detectors.minhash import sign

_M1, _M2, _GOLD = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB), np.uint64(0x9E3779B97F4A7C15)


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser: a counter-based random number per input (uint64 arithmetic wraps)."""
    with np.errstate(over="ignore"):
        x = (x + _GOLD) * np.uint64(1)
        x = (x ^ (x >> np.uint64(30))) * _M1
        x = (x ^ (x >> np.uint64(27))) * _M2
        return x ^ (x >> np.uint64(31))


def _uniform(seed: int, key: np.ndarray | int, salt: int) -> np.ndarray:
    """A uniform [0, 1) number per key, independent across (seed, salt) streams."""
    stream = _mix(np.asarray([seed * 1_000_003 + salt], dtype=np.uint64))[0]
    h = _mix(np.asarray(key, dtype=np.uint64) ^ stream)
    return (h >> np.uint64(11)).astype(np.float64) / float(1 << 53)


class SyntheticCorpus:
    """Row r's text is a pure function of (seed, r): any batch can be made alone, in any order."""

    def __init__(self, n_docs: int, words: int = 200, dup_rate: float = 0.1, seed: int = 0, vocab: int = 50_000):
        self.n_docs, self.words, self.dup_rate, self.seed = n_docs, words, dup_rate, seed
        rng = np.random.default_rng(seed)
        letters = np.array(list("etaoinshrdlucmfwypvbgkjqxz"))
        lengths = rng.integers(2, 11, vocab)
        self.vocab = np.array(["".join(rng.choice(letters, n)) for n in lengths], dtype=object)
        weights = 1.0 / np.arange(1, vocab + 1) ** 1.05
        cdf = np.cumsum(weights) / weights.sum()
        self.inverse_cdf = np.searchsorted(cdf, (np.arange(1 << 20) + 0.5) / (1 << 20))  # word of each u-bin

    def origins(self, rows: np.ndarray) -> np.ndarray:
        """The original each row copies (itself for an original): an earlier original, else itself."""
        rows = np.asarray(rows, dtype=np.int64)
        is_dup = (_uniform(self.seed, rows, 1) < self.dup_rate) & (rows > 0)
        origin = rows.copy()
        for attempt in range(4):  # an earlier row that is itself an original
            cand = np.minimum((_uniform(self.seed, rows, 2 + attempt) * rows).astype(np.int64), np.maximum(rows - 1, 0))
            cand_dup = (_uniform(self.seed, cand, 1) < self.dup_rate) & (cand > 0)
            take = is_dup & (origin == rows) & ~cand_dup
            origin[take] = cand[take]
        return origin

    def _words(self, origin: np.ndarray, salt: int) -> np.ndarray:
        t = np.arange(self.words, dtype=np.int64)
        u = _uniform(self.seed, origin[:, None] * self.words + t[None, :], 100 + salt)
        return self.inverse_cdf[(u * (1 << 20)).astype(np.int64)]

    def batch(self, start: int, stop: int) -> tuple[list[str], np.ndarray]:
        rows = np.arange(start, stop, dtype=np.int64)
        origin = self.origins(rows)
        ids = self._words(origin, 0)
        dup = origin != rows
        rate = 0.02 + 0.06 * _uniform(self.seed, rows, 9)[:, None]
        edit = dup[:, None] & (_uniform(self.seed, rows[:, None] * self.words + np.arange(self.words), 10) < rate)
        ids = np.where(edit, self._words(rows, 1), ids)
        return [" ".join(r) for r in self.vocab[ids].tolist()], origin


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def digest(rows: np.ndarray, reps: np.ndarray) -> str:
    h = hashlib.sha256(np.asarray(rows, np.int64).tobytes() + np.asarray(reps, np.int64).tobytes())
    return h.hexdigest()[:16]


def signed_batches(corpus: SyntheticCorpus, batch: int, timings: dict[str, float]):
    cfg = DedupConfig().minhash
    for start in range(0, corpus.n_docs, batch):
        t = time.perf_counter()
        texts, origin = corpus.batch(start, min(start + batch, corpus.n_docs))
        timings["generate"] += time.perf_counter() - t
        t = time.perf_counter()
        sig = sign(texts, cfg)
        timings["sign"] += time.perf_counter() - t
        yield start, sig, origin


def run_memory(corpus: SyntheticCorpus, args: argparse.Namespace) -> dict:
    timings = {"generate": 0.0, "sign": 0.0}
    sig_all = np.empty((corpus.n_docs, 128), np.uint32)
    injected = 0
    for start, sig, origin in signed_batches(corpus, args.batch, timings):
        sig_all[start : start + len(sig)] = sig
        injected += int((origin != np.arange(start, start + len(sig))).sum())
    t = time.perf_counter()
    near = find_near_duplicates(sig_all, DedupConfig())
    timings["dedup"] = time.perf_counter() - t
    rows = np.flatnonzero(near.duplicate_of >= 0)
    return {"injected": injected, "duplicates": len(rows), "candidates": near.n_candidates,
            "verified": near.n_verified, "digest": digest(rows, near.duplicate_of[rows]), "timings": timings}


def run_disk(corpus: SyntheticCorpus, args: argparse.Namespace) -> dict:
    from hygiene.dedup.partitioned import DiskDedup

    work = Path(args.work_dir)
    shutil.rmtree(work, ignore_errors=True)
    max_cluster = None if args.max_cluster <= 0 else args.max_cluster
    dedup = DiskDedup(work, DedupConfig(), partitions=args.partitions, max_cluster=max_cluster)
    timings = {"generate": 0.0, "sign": 0.0}
    injected = 0
    for start, sig, origin in signed_batches(corpus, args.batch, timings):
        dedup.add(sig)
        injected += int((origin != np.arange(start, start + len(sig))).sum())
    t = time.perf_counter()
    result = dedup.run()
    timings["dedup_run"] = time.perf_counter() - t
    timings.update({f"stage_{k}": v for k, v in result.timings.items()})
    timings["dedup"] = timings["dedup_run"] + result.timings["add"]
    table = result.read()
    return {"injected": injected, "duplicates": result.n_duplicates, "candidates": result.n_candidates,
            "verified": result.n_verified, "refused_unions": result.refused_unions,
            "largest_cluster": result.largest_cluster, "disk_bytes": result.disk_bytes,
            "partitions": args.partitions, "max_cluster": max_cluster,
            "digest": digest(table["row"].to_numpy(), table["duplicate_of"].to_numpy()), "timings": timings}


def run_index(corpus: SyntheticCorpus, args: argparse.Namespace) -> dict:
    from hygiene.dedup.index import DedupIndex
    from hygiene.dedup.storage import open_storage

    if not args.index.startswith("redis") and Path(args.index).exists():
        Path(args.index).unlink()
    timings = {"generate": 0.0, "sign": 0.0, "dedup": 0.0}
    storage = open_storage(args.index)
    if args.index.startswith("redis"):
        storage._r.flushdb()  # a benchmark database: start empty
    index = DedupIndex(storage, DedupConfig())
    rows_all, reps_all, injected = [], [], 0
    for start, sig, origin in signed_batches(corpus, args.batch, timings):
        t = time.perf_counter()
        result = index.update(sig)
        timings["dedup"] += time.perf_counter() - t
        dup = result.duplicate_of >= 0
        rows_all.append(result.rows[dup])
        reps_all.append(result.duplicate_of[dup])
        injected += int((origin != np.arange(start, start + len(sig))).sum())
    size = storage.size_bytes()
    rows, reps = np.concatenate(rows_all), np.concatenate(reps_all)
    return {"injected": injected, "duplicates": len(rows), "index": args.index.split("?")[0].split("://")[0],
            "index_bytes": size, "index_bytes_per_doc": round(size / corpus.n_docs, 1),
            "digest": digest(rows, reps), "timings": timings}


def run_torch_minhash(corpus: SyntheticCorpus, args: argparse.Namespace) -> dict:
    from detectors.minhash import hash_shingles
    from detectors.minhash_torch import permute_min, sign_torch

    texts, _ = corpus.batch(0, corpus.n_docs)
    cfg = DedupConfig().minhash
    sign(texts[:100]), sign_torch(texts[:100])  # warm-up (JIT, torch)
    expected = sign(texts, cfg)
    timings = {}
    for name, fn in [
        ("numba_sign", lambda: sign(texts, cfg)),
        ("hash_shingles_only", lambda: hash_shingles(texts, cfg)),
        ("torch_cpu_sign_int32", lambda: sign_torch(texts, cfg)),
        ("torch_cpu_sign_int64", lambda: permute_min(*hash_shingles(texts, cfg), cfg, exact_int64=True)),
    ]:
        t = time.perf_counter()
        out = fn()
        timings[name] = time.perf_counter() - t
        if name.startswith("torch"):
            assert np.array_equal(out, expected), f"{name}: signatures differ"
    return {"timings": timings, "docs_per_s": {k: round(corpus.n_docs / v) for k, v in timings.items()}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mode", choices=["memory", "disk", "index", "torch-minhash"], required=True)
    ap.add_argument("--docs", type=int, default=100_000)
    ap.add_argument("--words", type=int, default=200)
    ap.add_argument("--dup-rate", type=float, default=0.1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--batch", type=int, default=10_000, help="documents generated and signed at once")
    ap.add_argument("--partitions", type=int, default=64)
    ap.add_argument("--max-cluster", type=int, default=1000, help="cluster-size cap (disk mode); <= 0: none")
    ap.add_argument("--work-dir", default=".cache/dedup-scale")
    ap.add_argument("--index", default=".cache/dedup-index.sqlite", help="SQLite path or redis:// URL")
    args = ap.parse_args()
    corpus = SyntheticCorpus(args.docs, args.words, args.dup_rate, args.seed)
    load = os.getloadavg()[0]
    t = time.perf_counter()
    out = {"memory": run_memory, "disk": run_disk, "index": run_index, "torch-minhash": run_torch_minhash}[
        args.mode](corpus, args)
    wall = time.perf_counter() - t
    if args.mode == "disk":
        shutil.rmtree(args.work_dir, ignore_errors=True)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    dedup_s = out["timings"].get("dedup")
    print(json.dumps({
        "mode": args.mode, "docs": args.docs, "words": args.words, "dup_rate": args.dup_rate, "wall_s": round(wall, 1),
        "docs_per_s": round(args.docs / wall), "dedup_docs_per_s": round(args.docs / dedup_s) if dedup_s else None,
        "peak_rss_mb": round(peak_rss_mb()), "numba_threads": numba.get_num_threads(), "cpus": os.cpu_count(),
        "load_before": round(load, 2), "commit": commit,
        **{k: (round(v, 2) if isinstance(v, float) else v) for k, v in out.items() if k != "timings"},
        "timings": {k: round(v, 2) for k, v in out["timings"].items()},
    }))


if __name__ == "__main__":
    main()
