"""Does `hygiene risk` recover a known machine fraction, also when the corpus's generator or domain is not in
the reference? Corpora mixed at run time from ../shared/data/detect, scores from the cache.

Every row of the detect sets is scored once by the default detector, all statistics of the one forward pass
kept (benchmarks/risk_scores.py). For every repeat the distinct texts are split afresh into a reference half
and a pool half, and corpora of known machine share are drawn, ``--repeats`` per share, in three scenarios:

- ``in-domain``: reference and corpus from all sets (disjoint texts);
- ``leave-one-generator-out``: each generator family in turn is missing from the reference (every one of
  its rows may go into corpora), the corpus is that generator's text plus human text of its domains;
- ``leave-one-domain-out``: each domain (xsum news / writing stories) in turn is missing from the reference
  (human and machine), the corpus is that domain's text.

Each corpus gets the full estimate (point, sampling interval, reported interval, fit check) and the grade
`hygiene risk` would give it if nothing else were wrong with it (no duplicates, diversity not scored, the
horizon model at the estimated share): the most favourable case for grade A.

    .venv/bin/python benchmarks/risk_validation.py [--repeats 10] [--statistics likelihood] [--pooled]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
for path in (REPO, REPO / "benchmarks"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from risk_scores import DATA_DIR, ROWS_PER_SET, LabelledRows, load_rows, load_shipped_rows  # noqa: E402

from hygiene.risk.prevalence import PrevalenceEstimate, SourceLabels, prepare_reference  # noqa: E402

FRACTIONS = (0.0, 0.1, 0.3, 0.4, 0.7)
SCENARIOS = ("in-domain", "leave-one-generator-out", "leave-one-domain-out")
MIN_CORPUS = 100
OUT_DIR = REPO / ".cache" / "risk-validation"


@dataclass(frozen=True)
class Unit:
    """One reference / pool arrangement of a scenario (a held-out generator or domain, or none)."""

    scenario: str
    name: str
    ref_human: np.ndarray  # row indices
    ref_machine: np.ndarray
    pool_human: np.ndarray
    pool_machine: np.ndarray


def split_half(rows: LabelledRows, rng: np.random.Generator) -> np.ndarray:
    """True for rows in the reference half; copies of one text (shared human rows) stay together."""
    keys, inverse = np.unique(rows.key, return_inverse=True)
    return (rng.permutation(len(keys)) < len(keys) // 2)[inverse]


def units(rows: LabelledRows, half: np.ndarray, scenarios: tuple[str, ...]) -> Iterator[Unit]:
    human, machine = rows.label == 0, rows.label == 1
    idx = lambda mask: np.flatnonzero(mask)
    if "in-domain" in scenarios:
        yield Unit("in-domain", "all sets", idx(human & half), idx(machine & half), idx(human & ~half),
                   idx(machine & ~half))
    if "leave-one-generator-out" in scenarios:
        for g in np.unique(rows.generator[machine]):
            held = machine & (rows.generator == g)
            domains = np.unique(rows.domain[held])
            yield Unit("leave-one-generator-out", str(g), idx(human & half), idx(machine & ~held),
                       idx(human & ~half & np.isin(rows.domain, domains)), idx(held))
    if "leave-one-domain-out" in scenarios:
        for d in np.unique(rows.domain):
            inside = rows.domain == d
            yield Unit("leave-one-domain-out", str(d), idx(human & ~inside), idx(machine & ~inside),
                       idx(human & inside), idx(machine & inside))


def corpus_size(unit: Unit, size: int) -> int:
    return min(size, len(unit.pool_human), int(len(unit.pool_machine) / max(FRACTIONS)))


def grade(estimate: PrevalenceEstimate, horizon_model) -> dict:
    """The integrity block `hygiene risk` would write for a corpus with nothing else wrong with it."""
    from hygiene.risk.integrity import integrity

    result = {"machine_fraction": estimate.to_dict(), "duplicates": {"duplicate_rate": 0.0}, "diversity": {},
              "horizon": horizon_model.predict_clean_vs_raw(estimate),
              "detector": {"reference": "shipped: validation"}}
    return integrity(result, target_generations=10, horizon_model=horizon_model)


def run(rows: LabelledRows, statistics: tuple[str, ...], *, by_source: bool, components: bool,
        scenarios: tuple[str, ...], repeats: int, size: int, bootstrap: int, fit_replicates: int, seed: int,
        log=print) -> list[dict]:
    from detectors.calibration import default_calibration
    from hygiene.risk.horizon import load_horizon_model

    threshold = default_calibration().threshold  # of the likelihood: the first statistic must be it
    horizon_model = load_horizon_model()
    features = rows.features(statistics)
    rng = np.random.default_rng(seed)
    records = []
    for repeat in range(repeats):
        half = split_half(rows, rng)
        for unit in units(rows, half, scenarios):
            tags = SourceLabels(rows.domain[unit.ref_human], rows.domain[unit.ref_machine],
                                rows.generator[unit.ref_machine]) if by_source else None
            reference = prepare_reference(features[unit.ref_human], features[unit.ref_machine], tags,
                                          components=components)
            n = corpus_size(unit, size)
            if n < MIN_CORPUS:
                log(f"skipped {unit.scenario} {unit.name}: its pool holds corpora of {n} documents only")
                continue
            for fraction in FRACTIONS:
                k = round(fraction * n)
                corpus = np.concatenate([rng.choice(unit.pool_machine, k, replace=False),
                                         rng.choice(unit.pool_human, n - k, replace=False)])
                est = reference.estimate(features[corpus], threshold, bootstrap=bootstrap,
                                         fit_replicates=fit_replicates, seed=int(rng.integers(1 << 31)))
                score = grade(est, horizon_model)
                records.append({
                    "scenario": unit.scenario, "unit": unit.name, "repeat": repeat, "size": n, "truth": k / n,
                    "fraction": fraction, "estimate": est.fraction, "low": est.low, "high": est.high,
                    "sampling_low": est.sampling_low, "sampling_high": est.sampling_high,
                    "fit_p": est.fit["p_value"], "fit_fires": est.fit["fires"], "grade": score["grade"],
                    "score": score["score"],
                })
        log(f"repeat {repeat + 1}/{repeats} done ({len(records)} corpora)")
    return records


def _rate(values) -> str:
    return f"{np.mean(values):.0%}" if len(values) else "-"


def summary_table(records: list[dict]) -> str:
    """One row per scenario and true share, the held-out units pooled (each unit equally often)."""
    lines = ["| scenario | true share | corpora | docs | mean estimate | mean abs error | max abs error "
             "| sampling CI covers | reported CI covers | mean reported CI | fit check fires | grade A | "
             "grade withheld |", "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for scenario in SCENARIOS:
        for fraction in FRACTIONS:
            rs = [r for r in records if r["scenario"] == scenario and r["fraction"] == fraction]
            if not rs:
                continue
            truth = np.array([r["truth"] for r in rs])
            est = np.array([r["estimate"] for r in rs])
            err = np.abs(est - truth)
            sizes = sorted({r["size"] for r in rs})
            lines.append(
                f"| {scenario} | {fraction:.1f} | {len(rs)} | {'/'.join(map(str, sizes))} | {est.mean():.3f} "
                f"| {err.mean():.3f} | {err.max():.3f} "
                f"| {_rate([r['sampling_low'] <= r['truth'] <= r['sampling_high'] for r in rs])} "
                f"| {_rate([r['low'] <= r['truth'] <= r['high'] for r in rs])} "
                f"| {np.mean([r['low'] for r in rs]):.2f}-{np.mean([r['high'] for r in rs]):.2f} "
                f"| {_rate([r['fit_fires'] for r in rs])} | {_rate([r['grade'] == 'A' for r in rs])} "
                f"| {_rate([r['grade'] is None for r in rs])} |")
    return "\n".join(lines)


def unit_table(records: list[dict], scenario: str) -> str:
    """Per held-out unit: mean abs error / reported CI coverage / fit-check fire rate at each share."""
    shares = [f for f in FRACTIONS if f > 0]
    head = "| held out | " + " | ".join(f"{f:.1f}: MAE / covers / fires" for f in shares) + " |"
    lines = [head, "|---|" + "---|" * len(shares)]
    for unit in sorted({r["unit"] for r in records if r["scenario"] == scenario}):
        cells = []
        for fraction in shares:
            rs = [r for r in records if r["scenario"] == scenario and r["unit"] == unit and r["fraction"] == fraction]
            err = np.mean([abs(r["estimate"] - r["truth"]) for r in rs])
            cells.append(f"{err:.3f} / {_rate([r['low'] <= r['truth'] <= r['high'] for r in rs])} / "
                         f"{_rate([r['fit_fires'] for r in rs])}")
        lines.append(f"| {unit} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def acceptance(records: list[dict]) -> list[str]:
    """Issue 16's acceptance, checked on the leave-one-generator-out corpora."""
    out = []
    logo = [r for r in records if r["scenario"] == "leave-one-generator-out"]
    for fraction in (0.1, 0.4, 0.7):
        rs = [r for r in logo if r["fraction"] == fraction]
        if not rs:
            continue
        mae = np.mean([abs(r["estimate"] - r["truth"]) for r in rs])
        covers = np.mean([r["low"] <= r["truth"] <= r["high"] for r in rs])
        fires = np.mean([r["fit_fires"] for r in rs])
        out.append(f"share {fraction:.1f}: MAE {mae:.3f} ({'<=' if mae <= 0.05 else '>'} 0.05); reported interval "
                   f"covers {covers:.0%}; fit check fires on {fires:.0%}")
    off = [r for r in logo if r["fraction"] in (0.1, 0.4, 0.7) and abs(r["estimate"] - r["truth"]) > 0.05]
    if off:
        out.append(f"of these corpora {len(off)} are off by more than 0.05: the interval covers "
                   f"{np.mean([r['low'] <= r['truth'] <= r['high'] for r in off]):.0%} of them, the fit check fires "
                   f"on {np.mean([r['fit_fires'] for r in off]):.0%}")
    inside = [r for r in records if r["scenario"] == "in-domain"]
    if inside:
        out.append(f"fit check on in-domain corpora (the reference explains them): fires on "
                   f"{np.mean([r['fit_fires'] for r in inside]):.1%} of {len(inside)}")
    high = [r for r in records if r["truth"] >= 0.3]
    graded_a = sum(r["grade"] == "A" for r in high)
    out.append(f"corpora with a true share >= 30 %: {len(high)}, graded A: {graded_a}")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=400, help="documents per corpus, at most (default: 400)")
    parser.add_argument("--repeats", type=int, default=10, help="reference/pool splits (default: 10)")
    parser.add_argument("--statistics", nargs="+", default=["likelihood"],
                        help="statistics of the one forward pass; the first must be likelihood (default: likelihood)")
    parser.add_argument("--untagged", action="store_true",
                        help="ignore the reference's source tags: sampling interval only (the old estimator)")
    parser.add_argument("--components", action="store_true",
                        help="one mixture component per source (domain, generator) instead of one per class")
    parser.add_argument("--all-rows", action="store_true",
                        help=f"every row of the sets (default: the first {ROWS_PER_SET} of each, as cached)")
    parser.add_argument("--scored-only", action="store_true",
                        help="use the rows scored so far and leave the rest out (the output lists rows per set)")
    parser.add_argument("--scenarios", nargs="+", default=list(SCENARIOS), choices=SCENARIOS)
    parser.add_argument("--bootstrap", type=int, default=400)
    parser.add_argument("--fit-replicates", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if not DATA_DIR.is_dir():
        parser.error(f"{DATA_DIR} not found: this benchmark needs ../shared/data/detect")
    if args.statistics[0] != "likelihood":
        parser.error("the first statistic must be likelihood (the threshold's)")
    start = time.perf_counter()
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=REPO)
    rows_per_set = None if args.all_rows else ROWS_PER_SET
    if args.statistics == ["likelihood"] and not args.scored_only:  # the shipped reference has these: no cache
        rows = load_shipped_rows(rows_per_set=rows_per_set)
    else:
        rows = load_rows(rows_per_set=rows_per_set, drop_missing=args.scored_only)
    records = run(rows, tuple(args.statistics), by_source=not args.untagged, components=args.components,
                  scenarios=tuple(args.scenarios),
                  repeats=args.repeats, size=args.size, bootstrap=args.bootstrap,
                  fit_replicates=args.fit_replicates, seed=args.seed,
                  log=lambda line: print(line, file=sys.stderr, flush=True))
    flags = [("-scored", args.scored_only), ("-untagged", args.untagged), ("-components", args.components),
             ("-all-rows", args.all_rows)]
    variant = "+".join(args.statistics) + "".join(tag for tag, on in flags if on) + f"-n{args.size}" + \
        ("" if len(args.scenarios) == len(SCENARIOS) else "-" + "-".join(args.scenarios))
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    (OUT_DIR / f"{variant}.json").write_text(json.dumps(records))
    selection = "all" if args.all_rows else f"first {ROWS_PER_SET}"
    print(f"commit {commit.stdout.strip()}, {len(rows.label)} rows ({selection} of each set), "
          f"statistics {', '.join(args.statistics)}, "
          f"{'untagged' if args.untagged else 'generator-tagged'} reference, "
          f"{'components per source' if args.components else 'two-class mixture'}, {args.repeats} splits, "
          f"bootstrap {args.bootstrap}, fit-check replicates {args.fit_replicates}\n")
    if args.scored_only:
        sets, counts = np.unique(rows.set_name, return_counts=True)
        print("rows used: " + ", ".join(f"{name} {count}" for name, count in zip(sets, counts)) + "\n")
    print(summary_table(records) + "\n")
    for scenario in SCENARIOS[1:]:
        if scenario in args.scenarios:
            print(f"{scenario}, per held-out source:\n\n{unit_table(records, scenario)}\n")
    print("\n".join(acceptance(records)))
    print(f"\nwall time {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
