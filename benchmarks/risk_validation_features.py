"""The machine-share estimate across domains with a feature detector's scores (token cache, no forward pass).

The protocol of the first cross-domain table of benchmarks/RESULTS.md (risk_validation.py at 3b9fb7b): the
labelled reference comes from the xsum (news) sets, corpora are mixed from the writing (stories) sets at
0, 10, 30, 50 and 90 % machine; every repeat splits each set's rows afresh into a reference half and a pool
half, so the reference's own sampling error is measured too. Scores: ``likelihood`` recomputed from the
cached raw pass, or a learned candidate of benchmarks/detect_features.py trained on the *reference* side's
sets only (plus ``--extra`` human-only sets; threshold by ``--rule``), so the corpus is text of a domain
the detector never saw. ``--base-rows`` caps the base-model sets as detect_features.py does.
The estimator is :func:`hygiene.risk.prevalence.estimate_prevalence` as `hygiene risk` runs it.

    nice -n 10 .venv/bin/python benchmarks/risk_validation_features.py --candidate likelihood head:zeroshot+dist+ref
    # the opt-in directory's training (RESULTS.md issue 15, table G):
    ... --candidate head:zeroshot+dist --extra wikitext2_valid package_docs package_docstrings \
        --rule worst-domain --base-rows 400
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "benchmarks")]

from detect_corpora import HUMAN_DOMAINS, detect_sets  # noqa: E402
from detect_features import (  # noqa: E402
    REFERENCES,
    Bench,
    build_reference,
    candidate,
    train_and_threshold,
    use_second_scorer,
)

from hygiene.risk.prevalence import estimate_prevalence  # noqa: E402

FRACTIONS = (0.0, 0.1, 0.3, 0.5, 0.9)
REFERENCE_SIDE, CORPUS_SIDE = "xsum", "writing"


def scores_by_set(bench: Bench, candidate, train_sets: list[str], fpr: float, extra: tuple[str, ...],
                  rule: str = "pooled", trained=None):
    """Per shared set: human and machine scores of a detector trained on ``train_sets``; and its threshold
    (``trained``: a (score function, threshold) pair already fitted on them)."""
    score_fn, threshold = trained or train_and_threshold(bench, candidate, train_sets, set(), fpr, extra, rule)
    sets = {}
    for name in bench.sets:
        if name in HUMAN_DOMAINS or name in extra:
            continue
        score, labels = score_fn(name), bench.data[name]["labels"]
        ok = np.isfinite(score)
        sets[name] = {"human": score[ok & (labels == 0)], "machine": score[ok & (labels == 1)]}
    return sets, threshold


def split(sets: dict, rng: np.random.Generator) -> dict:
    """Each set's human and machine scores at random into a reference half and a pool half."""
    halves = {}
    for name, classes in sets.items():
        for cls, values in classes.items():
            values = rng.permutation(values)
            half = len(values) // 2
            halves[name, "ref", cls], halves[name, "pool", cls] = values[:half], values[half:]
    return halves


def gather(halves: dict, side: str, part: str, cls: str) -> np.ndarray:
    return np.concatenate([v for (name, p, c), v in halves.items() if name.startswith(side) and (p, c) == (part, cls)])


def cross_domain(sets: dict, size: int, repeats: int, threshold: float, seed: int):
    rng = np.random.default_rng(seed)
    pairs: dict[float, list] = {f: [] for f in FRACTIONS}
    for _ in range(repeats):
        halves = split(sets, rng)
        ref_h, ref_m = gather(halves, REFERENCE_SIDE, "ref", "human"), gather(halves, REFERENCE_SIDE, "ref", "machine")
        pool_h, pool_m = gather(halves, CORPUS_SIDE, "pool", "human"), gather(halves, CORPUS_SIDE, "pool", "machine")
        n = min(size, len(pool_h), len(pool_m))
        for fraction in FRACTIONS:
            k = round(fraction * n)
            corpus = np.concatenate([rng.choice(pool_m, k, replace=False), rng.choice(pool_h, n - k, replace=False)])
            estimate = estimate_prevalence(corpus, ref_h, ref_m, threshold, bootstrap=400, fit_replicates=100,
                                           seed=int(rng.integers(1 << 31)))
            pairs[fraction].append((k / n, estimate))
    rows = []
    for fraction, found in pairs.items():
        truth = np.array([t for t, _ in found])
        point = np.array([e.fraction for _, e in found])
        error = np.abs(point - truth)
        rows.append((fraction, point.mean(), error.mean(), error.max(),
                     np.mean([e.low <= t <= e.high for t, e in found]), np.mean([e.high - e.low for _, e in found])))
    return n, len(ref_h), len(ref_m), rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--candidate", nargs="+", default=["likelihood"],
                        help="zero-shot features or heads of detect_features.py, or experts:CHAT,BASE,OFFSET_FPR "
                             "(the two-expert detector of detect_experts.py; it trains with its own extras)")
    parser.add_argument("--size", type=int, default=400)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--fpr", type=float, default=0.05)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--extra", nargs="*", default=[], help="human-only training sets (e.g. wikitext2_valid)")
    parser.add_argument("--rule", choices=["pooled", "worst-group", "worst-domain"], default="pooled",
                        help="threshold rule on the training human rows' out-of-fold scores (detect_features.py)")
    parser.add_argument("--base-rows", type=int, default=0,
                        help="first N rows of each base-model set at most (0 = every cached row; default 0)")
    parser.add_argument("--second", action="append", default=[], metavar="NAME=PATH",
                        help="a second scorer (as detect_features.py --second): its families as NAME.family")
    parser.add_argument("--reference", choices=REFERENCES, default="wikitext-valid",
                        help="human text of the reference-model families (default %(default)s)")
    args = parser.parse_args(argv)
    for spec in args.second:
        use_second_scorer(spec)
    start = time.perf_counter()
    bench = Bench([*detect_sets(), *args.extra], build_reference(args.reference), base_rows=args.base_rows,
                  second_reference=args.reference)
    train = [s for s in bench.sets if s.startswith(REFERENCE_SIDE)]
    for name in args.candidate:
        trained = None
        if name.startswith("experts:"):  # experts:CHAT,BASE,OFFSET_FPR (benchmarks/detect_experts.py)
            from detect_experts import experts

            chat, base, offset = name.removeprefix("experts:").split(",")
            pair = experts(bench, candidate(chat), candidate(base), train, set(), float(offset))
            trained = (pair.score, pair.threshold)
        sets, threshold = scores_by_set(bench, None if trained else candidate(name), train, args.fpr,
                                        tuple(args.extra), args.rule, trained)
        size, n_h, n_m, rows = cross_domain(sets, args.size, args.repeats, threshold, args.seed)
        print(f"### {name}, cross-domain: corpora of {size} stories docs; reference {n_h} human + {n_m} machine "
              f"news scores; detector trained on {', '.join(train + list(args.extra))}; rule {args.rule}, "
              f"threshold {threshold:.4f}\n")
        print("| true fraction | mean estimate | mean abs error | max abs error | CI covers truth | mean CI width |\n"
              "|---|---|---|---|---|---|")
        for truth, mean, mae, worst, covered, width in rows:
            print(f"| {truth:.2f} | {mean:.3f} | {mae:.3f} | {worst:.3f} | {covered:.0%} | {width:.3f} |")
        print(f"\nmean abs error at 10-90 %: {np.mean([r[2] for r in rows[1:]]):.3f}\n", flush=True)
    print(f"wall time {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
