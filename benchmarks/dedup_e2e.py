"""`hygiene clean --detector none` end to end beside the same read -> dedup -> write built on datasketch.

    python benchmarks/dedup_e2e.py --docs 100000 --out .cache/dedup-e2e
    python benchmarks/dedup_e2e.py --docs 1000000 --shards 8 --no-datasketch --dedup-engine disk

1. Generates a corpus at run time (not timed): ``--docs`` documents of ~200 words drawn from a Zipf-weighted
   random vocabulary (pseudo-words, no real text), of which ``--near-share`` are near-duplicates: a copy of
   an earlier document with one edit (1-5 % of words replaced, a 10-word span deleted, or 10 random words
   inserted). Written as ``--shards`` parquet files with ``id`` and ``text`` columns.
2. Runs each pipeline as its own child process, one after the other, measuring wall time from spawn to exit
   and the child's peak RSS (``os.wait4``):
   - ours: ``hygiene clean SHARDS --out OUT --detector none --quiet`` (exact + near dedup, kept/removed
     parquet, manifest, report);
   - datasketch: read the shards with pyarrow, exact dedup on the normalised text's hash, shingle each
     document (the same normalisation and character 5-grams), ``MinHash.bulk`` per 1,000 documents (128
     permutations, seed 1, MurmurHash3 of each shingle: the same signatures as ours), ``MinHashLSH`` with
     the same 25 x 5 bands;
     each document in order is a duplicate when a candidate it collides with has estimated Jaccard >= 0.55,
     then is inserted; kept / removed rows are written per shard as parquet (zstd).
3. Compares the removed ids of both and against the injected copies, and prints one JSON line.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def generate(out: Path, docs: int, shards: int, near_share: float, seed: int) -> dict:
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    letters = np.array(list("aeioubcdfghklmnprstvwxyz"))
    vocab = ["".join(rng.choice(letters, rng.integers(3, 10))) for _ in range(20_000)]
    weights = 1.0 / np.arange(1, len(vocab) + 1) ** 1.05
    weights /= weights.sum()
    n_near = int(docs * near_share)
    lengths = rng.integers(180, 221, docs - n_near)
    words = rng.choice(len(vocab), lengths.sum(), p=weights)
    texts, start = [], 0
    for n in lengths:
        texts.append(" ".join(vocab[w] for w in words[start:start + n]))
        start += n
    # Each copy gets a sort key after its original's, so it lands at a random position behind it.
    keys = list(range(len(texts)))
    source_of: dict[int, int] = {}
    for _ in range(n_near):
        source = int(rng.integers(len(lengths)))
        tokens = texts[source].split()
        kind = rng.integers(3)
        if kind == 0:  # replace 1-5 % of the words
            for i in rng.choice(len(tokens), max(1, int(len(tokens) * rng.uniform(0.01, 0.05))), replace=False):
                tokens[i] = vocab[int(rng.integers(len(vocab)))]
        elif kind == 1:  # delete a 10-word span
            at = int(rng.integers(len(tokens) - 10))
            del tokens[at:at + 10]
        else:  # insert 10 random words
            at = int(rng.integers(len(tokens)))
            tokens[at:at] = [vocab[int(i)] for i in rng.integers(len(vocab), size=10)]
        source_of[len(texts)] = source
        keys.append(float(rng.uniform(source + 0.5, len(lengths))))
        texts.append(" ".join(tokens))
    final = sorted(range(len(texts)), key=keys.__getitem__)
    position = {doc: i for i, doc in enumerate(final)}
    ids = [f"doc-{i:07d}" for i in range(len(final))]
    original_of = {ids[position[copy]]: ids[position[source]] for copy, source in source_of.items()}
    out.mkdir(parents=True, exist_ok=True)
    per = -(-len(final) // shards)
    for s in range(shards):
        part = final[s * per:(s + 1) * per]
        table = pa.table({"id": [ids[position[d]] for d in part], "text": [texts[d] for d in part]})
        pq.write_table(table, out / f"part-{s:03d}.parquet", compression="zstd")
    words_per_doc = float(np.mean([len(texts[d].split()) for d in final[:2000]]))
    meta = {"docs": len(final), "near_copies": n_near, "shards": shards, "seed": seed,
            "mean_words": round(words_per_doc, 1), "copies": original_of}
    (out / "truth.json").write_text(json.dumps(meta))
    return meta


def datasketch_pipeline(shard_dir: Path, out: Path, threshold: float = 0.55, bands: int = 25, rows: int = 5) -> None:
    """The read -> dedup -> write pipeline a datasketch user writes (run in its own process)."""
    import hashlib

    import mmh3
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq
    from datasketch import MinHash, MinHashLSH

    from detectors.minhash import normalize, shingles  # the same normalisation and char 5-grams as ours

    def hashfunc(data: bytes) -> int:
        return mmh3.hash(data, 0, signed=False)

    shards = sorted(shard_dir.glob("part-*.parquet"))
    tables = [pq.read_table(p) for p in shards]
    texts = [t for table in tables for t in table.column("text").to_pylist()]
    ids = [i for table in tables for i in table.column("id").to_pylist()]
    seen, removed = set(), {}
    for i, text in enumerate(texts):  # exact duplicates: hash of the normalised text
        key = hashlib.blake2b(normalize(text).encode(), digest_size=8).digest()
        if key in seen:
            removed[i] = "exact_duplicate"
        seen.add(key)
    unique = [i for i in range(len(texts)) if i not in removed]
    lsh = MinHashLSH(threshold=threshold, num_perm=128, params=(bands, rows))
    inserted = {}
    for start in range(0, len(unique), 1000):  # shingle lists of 1,000 documents at a time, not all at once
        chunk = unique[start:start + 1000]
        signatures = MinHash.bulk([shingles(texts[i]) for i in chunk], num_perm=128, seed=1, hashfunc=hashfunc)
        for i, m in zip(chunk, signatures):
            if any(m.jaccard(inserted[key]) >= threshold for key in lsh.query(m)):
                removed[i] = "near_duplicate"
            lsh.insert(i, m)
            inserted[i] = m
    (out / "kept").mkdir(parents=True, exist_ok=True)
    (out / "removed").mkdir(parents=True, exist_ok=True)
    start = 0
    for path, table in zip(shards, tables):
        span = range(start, start + table.num_rows)
        start += table.num_rows
        drop = pa.array([i in removed for i in span])
        pq.write_table(table.filter(pc.invert(drop)), out / "kept" / path.name, compression="zstd")
        gone = table.filter(drop)
        gone = gone.append_column("reason", pa.array([removed[i] for i in span if i in removed], pa.string()))
        pq.write_table(gone, out / "removed" / path.name, compression="zstd")
    (out / "removed.json").write_text(json.dumps({ids[i]: r for i, r in removed.items()}))


def _tree_rss(pid: int) -> int:
    """Proportional resident bytes (PSS: a shared page counts once in all) of a process and its descendants
    (Ray's raylet, GCS, workers and the shared-memory object store are descendants)."""
    import psutil

    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0
    total = 0
    for p in procs:
        try:
            total += p.memory_full_info().pss
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            pass
    return total


def measure(cmd: list[str]) -> dict:
    """Wall seconds and peak RSS of one child process (``os.wait4``), and the peak of the summed PSS of its
    whole process tree, sampled every 0.2 s (what a multi-process engine such as Ray holds in all)."""
    import threading

    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)},
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peak, done = [0], threading.Event()

    def sample() -> None:
        while not done.wait(0.2):
            peak[0] = max(peak[0], _tree_rss(proc.pid))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    done.set()
    sampler.join()
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"{cmd} failed: {proc.stderr.read().decode()[-2000:]}")
    return {"wall_s": round(wall, 2), "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
            "peak_tree_pss_mb": round(peak[0] / 2**20, 1)}


def removed_ours(out: Path) -> dict[str, str]:
    import pyarrow.parquet as pq

    found = {}
    for path in sorted((out / "removed").glob("*.parquet")):
        table = pq.read_table(path, columns=["id", "hygiene_reason"])
        found.update(zip(table.column("id").to_pylist(), table.column("hygiene_reason").to_pylist()))
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=100_000)
    parser.add_argument("--shards", type=int, default=4)
    parser.add_argument("--near-share", type=float, default=0.05)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=REPO / ".cache" / "dedup-e2e")
    parser.add_argument("--dedup-engine", choices=["auto", "memory", "disk"], help="ours: --dedup-engine")
    parser.add_argument("--engine", choices=["local", "ray"], default="local",
                        help="ours: --engine (ray: a local Ray cluster with this machine's CPUs)")
    parser.add_argument("--no-datasketch", action="store_true", help="run ours only (1M: datasketch takes hours)")
    parser.add_argument("--datasketch-worker", nargs=2, type=Path, metavar=("SHARDS", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.datasketch_worker:
        datasketch_pipeline(*args.datasketch_worker)
        return
    corpus = args.out / f"corpus-{args.docs}-{args.seed}"
    if not (corpus / "truth.json").exists():
        generate(corpus, args.docs, args.shards, args.near_share, args.seed)
    truth = json.loads((corpus / "truth.json").read_text())
    ours_out = args.out / f"ours-{args.docs}-{args.engine}-{args.dedup_engine or 'auto'}"
    theirs_out = args.out / "datasketch"
    for path in (ours_out, theirs_out):
        subprocess.run(["rm", "-rf", str(path)], check=True)
    python = sys.executable
    engine = ["--engine", args.engine, *(["--dedup-engine", args.dedup_engine] if args.dedup_engine else [])]
    ours = measure([python, "-m", "hygiene_cli", "clean", str(corpus), "--out", str(ours_out), "--detector", "none",
                    "--quiet", *engine])
    a = removed_ours(ours_out)
    copies = set(truth["copies"])
    manifest = json.loads((ours_out / "manifest.json").read_text())
    mine = {**ours, "docs_per_s": round(truth["docs"] / ours["wall_s"]), "removed": len(a),
            "removed_by_reason": manifest["counts"]["removed_by_reason"], "injected_found": len(copies & set(a)),
            "near_dedup": manifest.get("near_dedup"), "steps": manifest["steps"], "timings_s": manifest["timings_s"],
            "removed_digest": hashlib.sha256("\n".join(sorted(f"{k} {v}" for k, v in a.items())).encode()).hexdigest()}
    if args.no_datasketch:
        print(json.dumps({"docs": truth["docs"], "near_copies_injected": truth["near_copies"],
                          "mean_words": truth["mean_words"], "ours": mine}))
        return
    theirs = measure([python, str(Path(__file__).resolve()), "--datasketch-worker", str(corpus), str(theirs_out)])
    b = json.loads((theirs_out / "removed.json").read_text())
    result = {
        "docs": truth["docs"], "near_copies_injected": truth["near_copies"], "mean_words": truth["mean_words"],
        "ours": mine,
        "datasketch": {**theirs, "docs_per_s": round(truth["docs"] / theirs["wall_s"]), "removed": len(b),
                       "injected_found": len(copies & set(b))},
        "speedup": round(theirs["wall_s"] / ours["wall_s"], 2),
        "same_removed": set(a) == set(b),
        "only_ours": sorted(set(a) - set(b))[:20], "only_datasketch": sorted(set(b) - set(a))[:20],
        "n_only_ours": len(set(a) - set(b)), "n_only_datasketch": len(set(b) - set(a)),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
