"""A detector trained on the four GPT-3.5/4 sets (+ human-only extras, worst-domain threshold), tested on each
base-model set: the base-model side of benchmarks/RESULTS.md's table I, which leave-one-set-out among the GPT
sets does not measure. Training rows sharing the test set's articles are dropped, as everywhere.

    nice -n 10 .venv/bin/python benchmarks/detect_gpt_head_on_base.py [--fpr 0.05 0.025] [--base-rows 400]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "benchmarks")]

from detect_features import (  # noqa: E402
    BASE_SETS,
    GPT_SETS,
    Bench,
    build_reference,
    candidate,
    evaluate,
    train_and_threshold,
)

from detectors.features import families_contexts  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--candidates", nargs="+", default=["likelihood", "head:zeroshot+dist",
                                                             "head:zeroshot+dist+ref"])
    parser.add_argument("--fpr", nargs="+", type=float, default=[0.05, 0.025])
    parser.add_argument("--extra", nargs="*", default=["wikitext2_valid", "package_docs", "package_docstrings"])
    parser.add_argument("--reference", default="wikitext-valid+packages+docstrings")
    parser.add_argument("--base-rows", type=int, default=400)
    args = parser.parse_args(argv)
    extra = tuple(args.extra)
    families = sorted({f for name in args.candidates for f in candidate(name).families})
    bench = Bench([*GPT_SETS, *BASE_SETS, *extra], build_reference(args.reference), families_contexts(families),
                  args.base_rows)
    for name in args.candidates:
        for fpr in args.fpr:
            cells = []
            for test in BASE_SETS:
                keys = set(bench.data[test]["keys"].tolist())
                score_fn, thr = train_and_threshold(bench, candidate(name), list(GPT_SETS), keys, fpr, extra,
                                                    "worst-domain")
                r = evaluate(score_fn(test), bench.data[test]["labels"], thr)
                cells.append(f"{test} AUROC {r['auroc']:.3f} FPR {r['fpr']:.3f} TPR {r['tpr']:.3f}")
            print(f"{name} (worst-domain, {fpr:.1%}): " + " | ".join(cells), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
