"""Fit the collapse-horizon model of `hygiene risk` on collapse_eval runs and ship it.

    .venv/bin/python benchmarks/fit_horizon.py RUN_DIR... [--mode replace] [--out hygiene/risk/data/horizon_model.json]

Each RUN_DIR is a finished `hygiene collapse` output (results.json, config.json) with the same collapse
definition; the fitted file records the runs in ``source``. The model is in hygiene/risk/horizon.py.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from hygiene.risk.horizon import HORIZON_FILE, fit_horizon  # noqa: E402


def describe(rows: list[dict], config: dict) -> str:
    shares = sorted({round(r["synthetic_fraction"], 2) for r in rows if r["generation"] >= 1})
    return (f"collapse_eval preset {config.get('name')!r} (model {config['model']['n_layer']} layers x "
            f"{config['model']['n_embd']}, {config['train']['budget_tokens']} tokens per generation): seeds "
            f"{sorted({r['seed'] for r in rows})}, arms {sorted({r['arm'] for r in rows})}, generations 0-"
            f"{max(r['generation'] for r in rows)}, pool human shares {sorted({r['human_share'] for r in rows})}, "
            f"synthetic training shares {shares[0]}-{shares[-1]}, temperatures "
            f"{sorted({r['temperature'] for r in rows})}")


def load_runs(runs: list[Path]) -> tuple[list[dict], float, str]:
    rows, rises, sources = [], set(), []
    for run in runs:
        run_rows = json.loads((run / "results.json").read_text())
        config = json.loads((run / "config.json").read_text())
        rises.add(config["collapse"]["ppl_rise"])
        # seeds of different runs are different chains
        rows += [{**r, "seed": f"{run.name}/{r['seed']}"} for r in run_rows]
        sources.append(describe(run_rows, config))
    if len(rises) != 1:
        sys.exit(f"runs define collapse differently (ppl_rise {sorted(rises)}); fit them separately")
    return rows, rises.pop(), "; ".join(sources)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", type=Path, nargs="+", help="collapse_eval output directories")
    parser.add_argument("--mode", default="replace", choices=["replace", "accumulate"])
    parser.add_argument("--out", type=Path, default=REPO / "hygiene" / "risk" / "data" / HORIZON_FILE)
    args = parser.parse_args(argv)
    rows, rise, source = load_runs(args.runs)
    model = fit_horizon(rows, rise=rise, mode=args.mode, source=source)
    model.to_json(args.out)
    print(f"A {model.amplitude:.4f}, gamma {model.exponent:.3f}, tau {model.tau:.3f} from {model.n_rows} rows, "
          f"{model.seeds} chains' seeds; residual sd {model.residual_sd:.3f} -> {args.out}")
    for share in (0.1, 0.3, 0.5, 0.7, 0.9, 1.0):
        p = model.predict(share)
        print(f"  synthetic share {share:.0%}: collapse at {p['generations']:.1f} generations "
              f"({p['low']:.1f}-{p['high']:.1f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
