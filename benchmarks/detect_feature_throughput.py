"""CPU cost of the feature detectors against likelihood alone, in the same run on the same documents.

Methods, interleaved and repeated (best of ``--repeats`` kept, the least disturbed on a shared machine):

- ``likelihood``: :class:`ZeroShotDetector` (one raw pass, the shipped default's path);
- ``raw features``: :class:`TokenScorer` with the raw context + features ``zeroshot,dist`` (+ ``ref``);
- ``raw + chat features``: both contexts + features ``zeroshot,dist,chat,cross`` (+ ``ref``);
- a trained model directory (``--model-dir``), end to end through :func:`detectors.learned.load_trained` (an
  experts directory loads its second scorer too, so its cost includes that model's pass).

    nice -n 10 .venv/bin/python benchmarks/detect_feature_throughput.py --docs 48 --repeats 3
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "benchmarks")]

from detect_corpora import load_set  # noqa: E402

from detectors.features import compute_features, sentence_ends  # noqa: E402
from detectors.lm import load_causal_lm  # noqa: E402
from detectors.tokens import TokenScorer  # noqa: E402
from detectors.zeroshot import ZeroShotDetector  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--docs", type=int, default=48)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--set", default="xsum_gpt-3.5-turbo")
    parser.add_argument("--model-dir", type=Path, default=None)
    parser.add_argument("--no-chat", action="store_true", help="leave out the two-pass (raw + chat) method")
    args = parser.parse_args(argv)
    texts = load_set(args.set)[0][: args.docs]
    lm = load_causal_lm()
    boundary = sentence_ends(lm.tokenizer)
    zs = ZeroShotDetector(lm)
    raw = TokenScorer(lm, contexts=("raw",))
    both = TokenScorer(lm, contexts=("raw", "chat"))
    methods = {
        "likelihood (ZeroShotDetector, all 5 statistics)": lambda: zs.statistics(texts),
        "raw pass + zeroshot,dist features": lambda: compute_features(raw.arrays(texts), ("zeroshot", "dist"),
                                                                     boundary=boundary),
    }
    if not args.no_chat:
        methods["raw + chat passes + zeroshot,dist,chat,cross features"] = lambda: compute_features(
            both.arrays(texts), ("zeroshot", "dist", "chat", "cross"), boundary=boundary)
    if args.model_dir is not None:
        from detectors.learned import load_trained
        from hygiene.detector import trained_meta

        scorer = trained_meta(args.model_dir)["features"].get("scorer")
        trained = load_trained(args.model_dir, lm=lm if scorer == lm.name else None)  # else it loads its own
        methods[f"trained model {args.model_dir.name} (end to end)"] = lambda: trained.score(texts)
    n_tokens = sum(min(len(ids), 512) for ids in lm.tokenizer(texts, add_special_tokens=False)["input_ids"])
    zs.statistics(texts[:2])  # warm-up (thread pools, first-call allocations)
    both.arrays(texts[:2])
    best = dict.fromkeys(methods, float("inf"))
    for _ in range(args.repeats):
        for name, run in methods.items():
            start = time.perf_counter()
            run()
            best[name] = min(best[name], time.perf_counter() - start)
    base = best[next(iter(methods))]
    print(f"{len(texts)} docs of {args.set}, {n_tokens} tokens; best of {args.repeats} interleaved runs; torch "
          f"{torch.__version__}, {torch.get_num_threads()} threads, {lm.device}, float32\n")
    print("| method | seconds | docs/s | tokens/s | cost vs likelihood |\n|---|---|---|---|---|")
    for name, seconds in best.items():
        print(f"| {name} | {seconds:.1f} | {len(texts) / seconds:.2f} | {n_tokens / seconds:.0f} | "
              f"{seconds / base:.2f}x |")
    arrays = both.arrays(texts[:8])
    families = [("zeroshot", "dist", "chat", "cross")]
    if args.model_dir is not None and hasattr(trained, "config"):  # an experts directory has one per expert
        families.append(trained.config.families)
    for chosen in families:
        feature_only = time.perf_counter()
        for _ in range(20):
            compute_features(arrays, chosen, boundary=boundary,
                             reference=getattr(trained, "reference", None) if args.model_dir is not None else None)
        per_doc = (time.perf_counter() - feature_only) / 20 / 8
        print(f"\nfeature arithmetic alone for {','.join(chosen)} (numpy, from the per-token arrays): "
              f"{per_doc * 1e3:.2f} ms per document")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
