"""Peak memory of one `ZeroShotDetector.statistics` call, with and without a token budget per model batch.

Each setting runs in a fresh process: load the default scorer LM, score one short text (so start-up
allocations are counted before), then score DOCS texts of about TOKENS tokens each and report the growth of
peak resident memory (ru_maxrss) and the time. With batch_size >= DOCS and no budget, every text shares one
forward pass; `--batch-tokens` caps texts x padded window per pass.

    python benchmarks/batch_memory.py --docs 32 --tokens 512 --batch-size 32 --budgets 0 16384 4096
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

WORDS = "river stone market winter signal garden copper lantern orbit meadow harbor violet thunder canvas".split()


def _child(docs: int, tokens: int, batch_size: int, batch_tokens: int | None) -> dict:
    import random

    from detectors.lm import load_causal_lm
    from detectors.zeroshot import ZeroShotDetector

    detector = ZeroShotDetector(load_causal_lm(device="cpu"), max_tokens=tokens, batch_size=batch_size,
                                batch_tokens=batch_tokens)
    detector.statistics(["A short warm-up sentence."])
    rng = random.Random(0)
    texts = [" ".join(rng.choices(WORDS, k=tokens)) for _ in range(docs)]  # one token per word or more: cut
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    stats = detector.statistics(texts)
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"batch_tokens": batch_tokens, "growth_mib": round((peak - base) / 1024, 1), "seconds": round(seconds, 1),
            "tokens_scored": int(stats["n_tokens"].sum())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=32)
    parser.add_argument("--tokens", type=int, default=512)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--budgets", type=int, nargs="+", default=[0, 16384, 4096], help="0 = no budget")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        print(json.dumps(_child(args.docs, args.tokens, args.batch_size, args.child or None)))
        return
    for budget in args.budgets:
        cmd = [sys.executable, __file__, "--docs", str(args.docs), "--tokens", str(args.tokens),
               "--batch-size", str(args.batch_size), "--child", str(budget)]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]
        print(f"docs {args.docs} x {args.tokens} tokens, batch_size {args.batch_size}: {out}")


if __name__ == "__main__":
    main()
