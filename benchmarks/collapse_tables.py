"""Markdown tables for benchmarks/RESULTS.md from a `hygiene collapse` run directory (results.json, summary.json).

    .venv/bin/python benchmarks/collapse_tables.py RUN_DIR
"""

from __future__ import annotations

import argparse
import json
import math
from collections import defaultdict
from pathlib import Path

import numpy as np

from collapse_eval.collapse import bootstrap_ci


def _ci(values: list[float], digits: int = 1) -> str:
    vals = np.array([v for v in values if v is not None and math.isfinite(v)], dtype=float)
    if not len(vals):
        return "–"
    est, lo, hi = bootstrap_ci(vals, np.mean, n_boot=2000)
    return f"{est:.{digits}f} [{lo:.{digits}f}, {hi:.{digits}f}]"


def tables(run: Path) -> str:
    rows = json.loads((run / "results.json").read_text())
    summary = json.loads((run / "summary.json").read_text())
    by: dict[str, dict[int, list[dict]]] = defaultdict(lambda: defaultdict(list))
    for r in rows:
        by[r["condition"]][r["generation"]].append(r)
    gens = sorted({r["generation"] for r in rows})
    out = []
    panels = [("perplexity", 1, "Held-out perplexity"), ("perplexity_ratio", 3, "Perplexity / gen 0"),
              ("distinct_2", 3, "distinct-2 of samples"), ("self_bleu4", 3, "self-BLEU-4"),
              ("vendi", 1, "Vendi score (MiniLM)"), ("hull_volume", 3, "3-D PCA hull volume"),
              ("synthetic_fraction", 3, "Synthetic share of training rows")]
    for metric, digits, title in panels:
        out.append(f"\n{title}, mean over seeds [95 % bootstrap CI]:\n")
        out.append("| condition | " + " | ".join(f"gen {g}" for g in gens) + " |")
        out.append("|---|" + "---:|" * len(gens))
        for cond in sorted(by):
            cells = [_ci([r.get(metric) for r in by[cond].get(g, [])], digits) for g in gens]
            out.append(f"| {cond} | " + " | ".join(cells) + " |")
    out.append("\nFilter precision / recall / AUROC on the pool (filtered arm), mean over seeds [CI]:\n")
    out.append("| condition | generation | precision | recall | AUROC |")
    out.append("|---|---:|---:|---:|---:|")
    for cond in sorted(c for c in by if c.startswith("filtered")):
        for g in gens[1:]:
            rs = by[cond].get(g, [])
            out.append(f"| {cond} | {g} | {_ci([r['filter_precision'] for r in rs], 3)} | "
                       f"{_ci([r['filter_recall'] for r in rs], 3)} | {_ci([r['filter_auroc'] for r in rs], 3)} |")
    fmt = lambda c: f"{c['mean']:.2f} [{c['low']:.2f}, {c['high']:.2f}]" if c else "–"
    out.append(f"\nCollapse generation ({summary['definition']}):\n")
    out.append("| condition | seeds | collapse generation | censored chains | perplexity rise at last gen |")
    out.append("|---|---:|---:|---:|---:|")
    for cond, v in summary["conditions"].items():
        out.append(f"| {cond} | {len(v['seeds'])} | {fmt(v['collapse_generation'])} | {v['censored']} | "
                   f"{fmt(v['ppl_rise_last'])} |")
    out.append("\nDelay (paired bootstrap over seeds):\n")
    out.append("| mode | human share | T | filtered / unfiltered | oracle / unfiltered | detector delay / oracle delay "
               "| detector rise cut / oracle rise cut |")
    out.append("|---|---:|---:|---:|---:|---:|---:|")
    for c in summary["comparisons"]:
        out.append(f"| {c['mode']} | {c['human_share']:.2f} | {c['temperature']:g} | "
                   f"{fmt(c.get('delay_ratio_filtered'))} | {fmt(c.get('delay_ratio_oracle'))} | "
                   f"{fmt(c.get('detector_delay_fraction_of_oracle'))} | "
                   f"{fmt(c.get('detector_rise_reduction_fraction_of_oracle'))} |")
    return "\n".join(out)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path)
    print(tables(parser.parse_args().run))
