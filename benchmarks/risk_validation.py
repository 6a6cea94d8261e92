"""Does `hygiene risk` recover a known machine fraction? Corpora mixed at run time from ../shared/data/detect.

Every row of the detect sets is scored once by the default detector (cached, see calibrate_default.py).
For every repeat each set's rows are split afresh into a *reference* half (labelled scores the estimator
is given) and a *pool* half; corpora of ``--size`` documents are drawn from the pool at machine fractions
0, 10, 30, 50 and 90 %, ``--repeats`` times each, and the estimate is compared with the truth. Scenarios:

- ``all sets``: reference and pool both from all seven sets (disjoint rows);
- ``GPT-3.5/4``: only the four chat-model sets;
- ``cross-domain``: reference from the xsum (news) sets, corpus from the writing (stories) sets: what a
  reference from another domain does to the estimate.

    .venv/bin/python benchmarks/risk_validation.py [--size 1000] [--repeats 20]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmarks.calibrate_default import CACHE_DIR, DATA_DIR, set_statistics  # noqa: E402
from detectors.calibration import default_calibration  # noqa: E402
from detectors.zeroshot import SCORE_SIGN, ZeroShotDetector  # noqa: E402
from hygiene.risk.prevalence import estimate_prevalence  # noqa: E402

FRACTIONS = (0.0, 0.1, 0.3, 0.5, 0.9)
SCENARIOS = {
    "all sets": (lambda name: True, lambda name: True),
    "GPT-3.5/4": (lambda name: "gpt-" in name, lambda name: "gpt-" in name),
    "cross-domain": (lambda name: name.startswith("xsum"), lambda name: name.startswith("writing")),
}


def load_scores(statistic: str) -> dict[str, dict[str, np.ndarray]]:
    """Per set: the human and machine scores (higher = more machine-like)."""
    detector = ZeroShotDetector(statistic=statistic, max_tokens=512)
    sets = {}
    for path in sorted(DATA_DIR.glob("*.jsonl")):
        stats = set_statistics(path, detector, CACHE_DIR)
        score, label = SCORE_SIGN[statistic] * stats[statistic], stats["labels"]
        sets[path.stem] = {"human": score[label == 0], "machine": score[label == 1]}
    return sets


def split(sets, rng: np.random.Generator) -> dict[str, dict[str, np.ndarray]]:
    """Each set's rows at random into a reference half and a pool half."""
    halves = {}
    for name, classes in sets.items():
        halves[name] = {}
        for cls, values in classes.items():
            values = rng.permutation(values)
            half = len(values) // 2
            halves[name][f"ref_{cls}"], halves[name][f"pool_{cls}"] = values[:half], values[half:]
    return halves


def gather(halves, keep, key: str) -> np.ndarray:
    return np.concatenate([parts[key] for name, parts in halves.items() if keep(name)])


def run_scenario(sets, ref_keep, pool_keep, size: int, repeats: int, threshold: float, seed: int):
    """Every repeat draws a fresh reference/pool split, so the reference's sampling error is measured too."""
    rng = np.random.default_rng(seed)
    estimates = {fraction: [] for fraction in FRACTIONS}
    for _ in range(repeats):
        halves = split(sets, rng)
        ref_h, ref_m = gather(halves, ref_keep, "ref_human"), gather(halves, ref_keep, "ref_machine")
        pool_h, pool_m = gather(halves, pool_keep, "pool_human"), gather(halves, pool_keep, "pool_machine")
        size = min(size, len(pool_h), len(pool_m))
        for fraction in FRACTIONS:
            n_machine = round(fraction * size)
            corpus = np.concatenate([rng.choice(pool_m, n_machine, replace=False),
                                     rng.choice(pool_h, size - n_machine, replace=False)])
            estimate = estimate_prevalence(corpus, ref_h, ref_m, threshold, bootstrap=400,
                                           seed=int(rng.integers(1 << 31)))
            estimates[fraction].append((n_machine / size, estimate))
    rows = []
    for fraction, pairs in estimates.items():
        truth = np.array([t for t, _ in pairs])
        point = np.array([e.fraction for _, e in pairs])
        error = np.abs(point - truth)
        rows.append((fraction, point.mean(), error.mean(), error.max(),
                     np.mean([e.low <= t <= e.high for t, e in pairs]), np.mean([e.high - e.low for _, e in pairs]),
                     np.mean([e.flagged_share for _, e in pairs]), np.mean([e.adjusted_count for _, e in pairs])))
    return size, len(ref_h), len(ref_m), rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=1000, help="documents per mixed corpus (default: 1000)")
    parser.add_argument("--repeats", type=int, default=20, help="corpora per fraction (default: 20)")
    parser.add_argument("--statistic", default="likelihood")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if not DATA_DIR.is_dir():
        parser.error(f"{DATA_DIR} not found: this benchmark needs ../shared/data/detect")
    start = time.perf_counter()
    threshold = default_calibration().threshold
    sets = load_scores(args.statistic)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=REPO)
    print(f"commit {commit.stdout.strip()}, statistic {args.statistic}, threshold {threshold:.4f} (shipped), "
          f"{args.repeats} corpora per fraction, 95 % bootstrap CIs (400 resamples)\n")
    for name, (ref_keep, pool_keep) in SCENARIOS.items():
        size, n_h, n_m, rows = run_scenario(sets, ref_keep, pool_keep, args.size, args.repeats, threshold,
                                            args.seed)
        print(f"### {name}: corpora of {size} docs; reference {n_h} human + {n_m} machine scores\n")
        print("| true fraction | mean estimate | mean abs error | max abs error | CI covers truth | mean CI width "
              "| raw flagged share | adjusted count |")
        print("|---|---|---|---|---|---|---|---|")
        for truth, mean, mae, worst, covered, width, flagged, acc in rows:
            print(f"| {truth:.2f} | {mean:.3f} | {mae:.3f} | {worst:.3f} | {covered:.0%} | {width:.3f} "
                  f"| {flagged:.3f} | {acc:.3f} |")
        print()
    print(f"wall time {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
