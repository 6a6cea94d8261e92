"""Fit the collapse-horizon model of `hygiene risk` on a collapse_eval run and ship it.

    .venv/bin/python benchmarks/fit_horizon.py RUN_DIR [--mode replace] [--out collapse_eval/data/horizon_model.json]

RUN_DIR is a finished `hygiene collapse` output (results.json, config.json). The fitted file records the run
(preset, seeds, arms, generations) in ``source``; see hygiene/horizon.py for the model.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from hygiene.horizon import HORIZON_FILE, fit_horizon  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run", type=Path, help="collapse_eval output directory")
    parser.add_argument("--mode", default="replace", choices=["replace", "accumulate"])
    parser.add_argument("--out", type=Path, default=REPO / "collapse_eval" / "data" / HORIZON_FILE)
    args = parser.parse_args(argv)
    rows = json.loads((args.run / "results.json").read_text())
    config = json.loads((args.run / "config.json").read_text())
    rise = config["collapse"]["ppl_rise"]
    arms = sorted({r["arm"] for r in rows})
    source = (f"collapse_eval preset {config.get('name')!r}: seeds {sorted({r['seed'] for r in rows})}, arms {arms}, "
              f"generations 0-{max(r['generation'] for r in rows)}, human shares "
              f"{sorted({r['human_share'] for r in rows})}, temperatures {sorted({r['temperature'] for r in rows})}")
    model = fit_horizon(rows, rise=rise, mode=args.mode, source=source)
    model.to_json(args.out)
    print(f"beta {model.beta:.4f} [{model.beta_low:.4f}, {model.beta_high:.4f}] from {model.n_rows} rows, "
          f"{model.seeds} seeds; residual sd {model.residual_sd:.3f} -> {args.out}")
    for share in (0.1, 0.3, 0.5, 0.9):
        p = model.predict(share)
        print(f"  synthetic share {share:.0%}: collapse at {p['generations']:.1f} generations "
              f"({p['low']:.1f}-{p['high']:.1f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
