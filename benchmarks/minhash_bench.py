"""MinHash throughput (ours vs datasketch 2.0) and near-duplicate quality (precision/recall).

Speed (default): docs of ~150 words cut from wikitext-2 valid.txt (generated text if absent),
same num_perm for every method, numba JIT warmed up first, bit-identity checked on a sample.

    python benchmarks/minhash_bench.py --docs 20000 --num-perm 128 --threads 2

Quality (--quality): 1-5 %-edited copies of wikitext paragraphs (word substitutions, char
edits, a sentence inserted from another paragraph or deleted) mixed with all other paragraphs;
prints precision/recall of find_near_duplicates over shingle kinds and thresholds.

    python benchmarks/minhash_bench.py --quality --seeds 3,4,5,6
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import re
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import mmh3
import numba
import numpy as np
from datasketch import MinHash

from detectors.dedup import DedupConfig, find_near_duplicates
from detectors.minhash import MinHashConfig, shingle_hash, shingles, sign

WIKITEXT = Path(__file__).resolve().parents[2] / "shared" / "data" / "text" / "wikitext-2" / "valid.txt"


def _mmh3_hash(b: bytes) -> int:
    return mmh3.hash(b, 0, signed=False)


def generated_words(n: int, seed: int) -> list[str]:
    """Zipf-distributed pseudo-words: a stand-in for real text when wikitext is absent."""
    rng = np.random.default_rng(seed)
    letters = np.array(list("etaoinshrdlucmfwypvbgkjqxz"))
    vocab = ["".join(rng.choice(letters, size=rng.integers(1, 10))) for _ in range(20000)]
    ranks = np.minimum(rng.zipf(1.2, size=n), len(vocab)) - 1
    return [vocab[r] for r in ranks]


def load_docs(n_docs: int, words_per_doc: int = 150, seed: int = 0) -> tuple[list[str], str]:
    if WIKITEXT.exists():
        words = WIKITEXT.read_text(encoding="utf-8").split()
        source = f"{WIKITEXT} (random {words_per_doc}-word windows)"
    else:
        words = generated_words(2_000_000, seed)
        source = f"generated Zipf pseudo-words ({WIKITEXT} absent)"
    rng = np.random.default_rng(seed)
    starts = rng.integers(0, len(words) - words_per_doc, size=n_docs)
    return [" ".join(words[s : s + words_per_doc]) for s in starts], source


def best_of(fns: dict[str, Callable[[], object]], repeats: int) -> dict[str, float]:
    """Best wall time per function; repeats are interleaved so load from other processes hits all alike."""
    best = dict.fromkeys(fns, float("inf"))
    for _ in range(repeats):
        for name, fn in fns.items():
            t = time.perf_counter()
            fn()
            best[name] = min(best[name], time.perf_counter() - t)
    return best


def bench_speed(docs: list[str], num_perm: int, shingle: str, repeats: int) -> list[tuple[str, str, float]]:
    cfg = MinHashConfig(num_perm=num_perm, shingle=shingle, ngram=5)  # type: ignore[arg-type]
    n = len(docs)
    sign(docs[:100], cfg)  # JIT warm-up (compiles, or loads numba's cache)
    ours = sign(docs, cfg)
    shingled = [shingles(d, cfg) for d in docs]
    hashed = [[_mmh3_hash(s) for s in doc] for doc in shingled]
    kw = {"num_perm": num_perm, "seed": cfg.seed}

    def per_doc() -> None:
        for doc in shingled:
            m = MinHash(hashfunc=_mmh3_hash, **kw)
            m.update_batch(doc)

    t = best_of(
        {
            "ours": lambda: sign(docs, cfg),
            "shingling": lambda: [shingles(d, cfg) for d in docs],
            "bulk_mmh3": lambda: MinHash.bulk(shingled, hashfunc=_mmh3_hash, **kw),
            "bulk_pre": lambda: MinHash.bulk(hashed, hashfunc=int, **kw),  # int: a C call, cheapest
            "per_doc": per_doc,
        },
        repeats,
    )
    sub = shingled[: max(1, n // 20)]  # the pure-Python hash is slow: time 5 % of the docs
    bulk_py_s = best_of({"py": lambda: MinHash.bulk(sub, hashfunc=shingle_hash, **kw)}, 1)["py"] * n / len(sub)

    sample = list(range(0, n, max(1, n // 200)))
    ref = MinHash.bulk([shingled[i] for i in sample], hashfunc=_mmh3_hash, **kw)
    mismatches = sum(not np.array_equal(m.hashvalues, ours[i]) for m, i in zip(ref, sample))
    print(f"[{shingle} 5-grams] bit-identity vs datasketch on {len(sample)} sampled docs: {mismatches} mismatches")
    if mismatches:
        raise SystemExit("signatures differ from datasketch")

    return [
        ("ours `sign()`", "end to end from text (normalise, shingle, hash, permute)", t["ours"]),
        ("datasketch `MinHash.bulk`, hashfunc=mmh3", "shingle bytes pre-built (excluded)", t["bulk_mmh3"]),
        ("datasketch `MinHash.bulk`, precomputed 32-bit hashes", "shingles and hashes excluded", t["bulk_pre"]),
        ("datasketch `MinHash()` + `update_batch` per doc, mmh3", "shingle bytes pre-built (excluded)",
         t["per_doc"]),
        ("datasketch `MinHash.bulk`, hashfunc=`shingle_hash` (pure Python)",
         f"shingles pre-built; timed on {len(sub)} docs", bulk_py_s),
        ("datasketch end to end: Python `shingles()` + bulk mmh3", "shingle building included",
         t["shingling"] + t["bulk_mmh3"]),
    ]


def print_speed_table(rows: list[tuple[str, str, float]], n: int, shingle: str) -> None:
    ours = n / rows[0][2]
    print(f"\n**{shingle} 5-grams**\n")
    print("| method | timed | docs/s | ours ÷ method |")
    print("|---|---|---:|---:|")
    for name, timed, seconds in rows:
        rate = n / seconds
        print(f"| {name} | {timed} | {rate:,.0f} | {ours / rate:.1f}× |")


# ---- quality -------------------------------------------------------------------------------------


def sentences(text: str) -> list[str]:
    return [s for s in re.split(r"(?<=[.!?]) ", text) if s]


def edit(doc: str, rng: random.Random, vocab: list[str], pool: list[str]) -> tuple[str, str]:
    """One random near-duplicate edit: 1-5 % of words or chars, or one sentence in/out."""
    kind = rng.choice(["word", "char", "sent_ins", "sent_del"])
    rate = rng.uniform(0.01, 0.05)
    sents = sentences(doc)
    if kind == "sent_del" and len(sents) < 2:
        kind = "word"
    if kind == "word":
        words = doc.split()
        for i in rng.sample(range(len(words)), max(1, round(rate * len(words)))):
            words[i] = rng.choice(vocab)
        return " ".join(words), kind
    if kind == "char":
        chars = list(doc)
        for _ in range(max(1, round(rate * len(chars)))):
            i, op = rng.randrange(len(chars)), rng.random()
            if op < 1 / 3:
                chars[i] = rng.choice("abcdefghijklmnopqrstuvwxyz ,.'")
            elif op < 2 / 3:
                chars.insert(i, rng.choice("abcdefghijklmnopqrstuvwxyz ,.'"))
            elif len(chars) > 1:
                del chars[i]
        return "".join(chars), kind
    if kind == "sent_ins":
        sents.insert(rng.randint(0, len(sents)), rng.choice(sentences(rng.choice(pool))))
    else:
        del sents[rng.randrange(len(sents))]
    return " ".join(sents), kind


def near_dup_set(paragraphs: list[str], seed: int, n_orig: int = 500, min_words: int = 100):
    """Originals (>= min_words) with 1-2 edited copies each, plus every other paragraph, shuffled."""
    rng = random.Random(seed)
    big = [p for p in paragraphs if len(p.split()) >= min_words]
    rng.shuffle(big)
    originals = big[:n_orig]
    used = set(originals)
    vocab = sorted({w for p in paragraphs for w in p.split()})
    docs, group, kinds = [], [], []
    for g, orig in enumerate(originals):
        docs.append(orig), group.append(g), kinds.append("orig")
        for _ in range(rng.randint(1, 2)):
            text, kind = edit(orig, rng, vocab, paragraphs)
            docs.append(text), group.append(g), kinds.append(kind)
    for p in paragraphs:
        if p not in used:
            docs.append(p), group.append(len(group)), kinds.append("unrelated")
    order = list(range(len(docs)))
    rng.shuffle(order)
    return [docs[i] for i in order], np.array([group[i] for i in order]), np.array([kinds[i] for i in order])


def score(duplicate_of: np.ndarray, group: np.ndarray) -> tuple[float, float]:
    """Row-level: a dropped row is right when its representative is from the same group."""
    _, first = np.unique(group, return_index=True)
    should = np.ones(len(group), dtype=bool)
    should[first] = False
    flagged = duplicate_of >= 0
    correct = flagged & (group[np.maximum(duplicate_of, 0)] == group)
    return correct.sum() / max(flagged.sum(), 1), correct.sum() / should.sum()


def bench_quality(seeds: list[int]) -> None:
    if not WIKITEXT.exists():
        raise SystemExit(f"--quality needs {WIKITEXT}")
    paragraphs = [
        line.strip() for line in WIKITEXT.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.strip().startswith("=") and len(line.split()) >= 20
    ]
    sets = [near_dup_set(paragraphs, s) for s in seeds]
    copies = [int(((kinds != "orig") & (kinds != "unrelated")).sum()) for _, _, kinds in sets]
    print(f"{len(seeds)} sets (seeds {seeds}) of {[len(s[0]) for s in sets]} docs, "
          f"{copies} of them edited copies")
    print("\n| shingles | threshold | bands×rows | precision (min over sets) | recall (min) | "
          "recall: word / char / +sentence / −sentence (min) |")
    print("|---|---:|---:|---:|---:|---|")
    default = DedupConfig()
    grid = [("char", 5, t) for t in (0.45, 0.5, 0.55, 0.6, 0.65, 0.7, 0.8)]
    grid += [("char", 4, 0.55), ("char", 6, 0.55), ("word", 5, 0.5), ("word", 5, 0.8),
             ("word", 2, 0.5), ("word", 1, 0.6)]
    for shingle, ngram, threshold in grid:
        cfg = DedupConfig(minhash=MinHashConfig(shingle=shingle, ngram=ngram), threshold=threshold)  # type: ignore[arg-type]
        results = []
        for docs, group, kinds in sets:
            dup = find_near_duplicates(sign(docs, cfg.minhash), cfg).duplicate_of
            _, first = np.unique(group, return_index=True)
            should = np.ones(len(group), dtype=bool)
            should[first] = False  # a copy that comes first in its group is rightly kept
            right = (dup >= 0) & (group[np.maximum(dup, 0)] == group)
            per_kind = [float(right[should & (kinds == k)].mean()) for k in ("word", "char", "sent_ins", "sent_del")]
            results.append((*score(dup, group), per_kind))
        p = min(r[0] for r in results)
        r = min(r[1] for r in results)
        kinds_min = " / ".join(f"{min(x[2][k] for x in results):.3f}" for k in range(4))
        mark = " **(default)**" if cfg == default else ""
        b, rw = cfg.banding()
        print(f"| {shingle} {ngram}-grams{mark} | {threshold} | {b}×{rw} | {p:.4f} | {r:.4f} | {kinds_min} |")


def machine() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        model = next(line.split(":", 1)[1].strip() for line in out.splitlines() if line.startswith("Model name"))
    except (OSError, subprocess.CalledProcessError, StopIteration):
        model = platform.processor() or "unknown CPU"
    return f"{model}, {os.cpu_count()} logical CPUs"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--docs", type=int, default=20000)
    ap.add_argument("--num-perm", type=int, default=128)
    ap.add_argument("--threads", type=int, default=numba.config.NUMBA_NUM_THREADS)
    ap.add_argument("--shingle", choices=["char", "word", "both"], default="both")
    ap.add_argument("--repeats", type=int, default=3, help="best-of repeats for ours")
    ap.add_argument("--quality", action="store_true", help="near-duplicate precision/recall instead of speed")
    ap.add_argument("--seeds", default="3,4,5,6", help="data seeds for --quality")
    args = ap.parse_args()
    if args.quality:
        bench_quality([int(s) for s in args.seeds.split(",")])
        return
    numba.set_num_threads(args.threads)
    docs, source = load_docs(args.docs)
    print(f"data: {source}; {len(docs)} docs, num_perm={args.num_perm}, numba threads={args.threads}, "
          f"best of {args.repeats} interleaved repeats; machine: {machine()}; "
          f"load average before start: {os.getloadavg()[0]:.2f}")
    for shingle in (["char", "word"] if args.shingle == "both" else [args.shingle]):
        rows = bench_speed(docs, args.num_perm, shingle, args.repeats)
        print_speed_table(rows, len(docs), shingle)


if __name__ == "__main__":
    main()
