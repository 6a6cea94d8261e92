"""Does the horizon model predict collapse on a mix it has not seen? Leave-one-mix-out over collapse_eval runs.

For every condition (arm x pool human share x temperature, pooled over runs and seeds) whose training data
holds synthetic text, the model is refitted on all *other* conditions, and its predicted collapse generation
at this condition's synthetic share is set beside the collapse generation observed in each seed's chain
(collapse_eval's definition, interpolated; a chain that never crosses is censored, shown as "> G").

    .venv/bin/python benchmarks/horizon_check.py RUN_DIR...
"""

from __future__ import annotations

import math
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmarks.fit_horizon import load_runs  # noqa: E402
from collapse_eval.collapse import collapse_generation  # noqa: E402
from hygiene.risk.horizon import fit_horizon  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    runs = [Path(p) for p in (argv if argv is not None else sys.argv[1:])]
    if not runs:
        sys.exit(__doc__)
    rows, rise, _ = load_runs(runs)
    rows = [r for r in rows if r["mode"] == "replace"]
    by_condition = defaultdict(list)
    for r in rows:
        by_condition[r["condition"]].append(r)  # one mix, pooled over runs: every seed of it is left out
    print(f"collapse = held-out perplexity >= {1 + rise:.2f} x generation 0\n")
    print("| condition | synthetic share | predicted collapse generation (95 % CI) | observed per seed "
          "| within 1 generation |")
    print("|---|---|---|---|---|")
    for condition, own in sorted(by_condition.items()):
        trained = [r["synthetic_fraction"] for r in own if r["generation"] >= 1]
        share = float(np.mean(trained)) if trained else 0.0
        if share < 0.05:
            continue
        others = [r for r in rows if r["condition"] != condition]
        model = fit_horizon(others, rise=rise, source="leave-one-out", bootstrap=100)
        p = model.predict(share)
        chains = defaultdict(dict)
        for r in own:
            chains[r["seed"]][r["generation"]] = r["perplexity_ratio"]
        last = max(r["generation"] for r in own)
        observed = [collapse_generation([g[i] for i in sorted(g)], rise) for g in chains.values()]
        shown = ", ".join(f"{o:.1f}" if math.isfinite(o) else f"> {last}" for o in observed)
        finite_pred = math.isfinite(p["generations"])
        hits = []
        for o in observed:
            if math.isfinite(o):
                hits.append(finite_pred and abs(o - p["generations"]) <= 1)
            else:  # censored: right when the prediction is past the run too (or never)
                hits.append(not finite_pred or p["generations"] > last - 1)
        predicted = "never" if not finite_pred else f"{p['generations']:.1f}"
        interval = f"{p['low']:.1f}-{p['high']:.1f}".replace("inf", "never")
        print(f"| {condition} | {share:.2f} | {predicted} ({interval}) | {shown} "
              f"| {sum(hits)}/{len(hits)} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
