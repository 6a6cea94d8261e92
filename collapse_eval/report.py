"""The HTML report of a collapse run: one figure of metric-vs-generation panels and two small tables.

Each line is one chain condition, the mean over seeds, with a shaded 95 % bootstrap band over seeds.
"""

from __future__ import annotations

import base64
import html
import io
import math
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from hygiene.io.atomic import atomic_path

from .collapse import bootstrap_ci
from .config import CollapseConfig

__all__ = ["PANELS", "write_report"]

PANELS = [
    ("perplexity", "held-out perplexity"),
    ("perplexity_ratio", "perplexity / generation 0"),
    ("distinct_2", "distinct-2 of samples"),
    ("self_bleu4", "self-BLEU-4 of samples"),
    ("vendi", "Vendi score (MiniLM)"),
    ("hull_volume", "3-D PCA hull volume (equal n)"),
    ("repetition_rate", "repetition rate (seq-rep-4)"),
    ("synthetic_fraction", "synthetic share of training rows"),
    ("filter_recall", "filter recall (removed synthetic)"),
]


def _figure(rows: list[dict[str, Any]], n_boot: int, rise: float) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    series: dict[str, dict[int, dict[int, dict[str, Any]]]] = defaultdict(lambda: defaultdict(dict))
    for r in rows:
        series[r["condition"]][r["generation"]][r["seed"]] = r
    fig, axes = plt.subplots(3, 3, figsize=(13, 10.5))
    palette = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    colors = {cond: palette[i % len(palette)] for i, cond in enumerate(sorted(series))}
    for ax, (key, title) in zip(axes.flat, PANELS):
        for cond, gens in sorted(series.items()):
            xs, mean, lo, hi = [], [], [], []
            for g in sorted(gens):
                vals = np.array([gens[g][s].get(key, math.nan) for s in gens[g]], dtype=float)
                vals = vals[np.isfinite(vals)]
                if not len(vals):
                    continue
                est, a, b = bootstrap_ci(vals, np.mean, n_boot=min(n_boot, 500))
                xs.append(g), mean.append(est), lo.append(a), hi.append(b)
            if xs:
                ax.plot(xs, mean, marker="o", ms=3, label=cond, color=colors[cond])
                ax.fill_between(xs, lo, hi, color=colors[cond], alpha=0.15)
        if key == "perplexity_ratio":
            ax.axhline(1 + rise, color="grey", ls="--", lw=0.8)
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("generation", fontsize=8)
        ax.tick_params(labelsize=8)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=min(4, len(labels)), fontsize=8)
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def _fmt(ci: dict[str, float] | None, digits: int = 2) -> str:
    if not ci:
        return "–"
    return f"{ci['mean']:.{digits}f} [{ci['low']:.{digits}f}, {ci['high']:.{digits}f}]"


def _table(header: list[str], body: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    rows = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in body)
    return f"<table><tr>{head}</tr>{rows}</table>"


def write_report(path: Path, rows: list[dict[str, Any]], summary: dict[str, Any], config: CollapseConfig) -> Path:
    png = _figure(rows, config.collapse.bootstrap, config.collapse.ppl_rise)
    conds = _table(
        ["condition", "seeds", "last gen", "collapse generation (95% CI)", "censored", "ppl rise at last gen"],
        [[c, str(len(v["seeds"])), str(v["last_generation"]), _fmt(v["collapse_generation"]), str(v["censored"]),
          _fmt(v["ppl_rise_last"], 3)] for c, v in summary["conditions"].items()])
    comps = _table(
        ["mode", "human share", "T", "delay filtered/unfiltered", "delay oracle/unfiltered",
         "detector delay / oracle delay", "detector rise cut / oracle cut"],
        [[c["mode"], f"{c['human_share']:.2f}", f"{c['temperature']:g}", _fmt(c.get("delay_ratio_filtered")),
          _fmt(c.get("delay_ratio_oracle")), _fmt(c.get("detector_delay_fraction_of_oracle")),
          _fmt(c.get("detector_rise_reduction_fraction_of_oracle"))] for c in summary["comparisons"]])
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>collapse_eval: {html.escape(config.name)}</title>
<style>body{{font-family:sans-serif;max-width:1250px;margin:2em auto}}table{{border-collapse:collapse;margin:1em 0}}
td,th{{border:1px solid #ccc;padding:3px 8px;font-size:13px}}</style></head><body>
<h1>Model collapse: {html.escape(config.name)}</h1>
<p>{len(config.seeds)} seed(s), {config.generations} generations after the human-trained generation 0; every
generation of every arm trains on exactly {config.train.budget_tokens:,} tokens for the same number of steps.
{html.escape(summary['definition'])}. Lines: mean over seeds; bands: 95 % bootstrap over seeds.</p>
<img src="data:image/png;base64,{png}" style="width:100%">
<h2>Collapse generation per condition</h2>{conds}
<h2>How much filtering buys</h2>{comps}
<p>Delays involving censored chains (never collapsed within the run) are lower bounds. Hull volumes are
comparable only within a seed's pooled PCA basis and at equal n.</p></body></html>"""
    with atomic_path(path) as tmp:
        tmp.write_text(page)
    return path
