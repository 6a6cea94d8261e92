"""The HTML report of a collapse run: metric-vs-generation panels and two tables (template: templates/).

Each line is one chain condition, the mean over seeds, with a shaded 95 % bootstrap band over seeds.
"""

from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from hygiene.reporting import charts, write_page

from .config import CollapseConfig

__all__ = ["PANELS", "write_report"]

TEMPLATES = Path(__file__).resolve().parent / "templates"
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
_PANEL_SIZE = (3.9, 2.5)  # three across a wide page


def _mean_band(values: np.ndarray, n_boot: int, seed: int = 0, level: float = 0.95) -> tuple[float, float, float]:
    """The mean over seeds and its percentile bootstrap band (all resamples drawn at once)."""
    mean = float(values.mean())
    if len(values) < 2:
        return mean, mean, mean
    draws = values[np.random.default_rng(seed).integers(0, len(values), (n_boot, len(values)))].mean(axis=1)
    low, high = np.percentile(draws, [100 * (1 - level) / 2, 100 * (1 + level) / 2])
    return mean, float(low), float(high)


def _lines(rows: list[dict[str, Any]], key: str, colors: dict[str, str], n_boot: int) -> list[charts.Line]:
    """Per condition: the mean over seeds at each generation and its bootstrap band."""
    series: dict[str, dict[int, list[float]]] = defaultdict(lambda: defaultdict(list))
    for r in rows:
        value = r.get(key, math.nan)
        if value is not None and math.isfinite(value):
            series[r["condition"]][r["generation"]].append(float(value))
    lines = []
    for cond, gens in sorted(series.items()):
        xs, mean, low, high = [], [], [], []
        for g in sorted(gens):
            est, a, b = _mean_band(np.array(gens[g]), n_boot)
            xs.append(g), mean.append(est), low.append(a), high.append(b)
        lines.append(charts.Line(cond, xs, mean, low=low, high=high, color=colors[cond], markers=True))
    return lines


def _panels(rows: list[dict[str, Any]], colors: dict[str, str], n_boot: int, rise: float) -> list[dict[str, str]]:
    panels = []
    for key, title in PANELS:
        reference = charts.Marker(1 + rise, f"collapse line (+{rise:.0%})") if key == "perplexity_ratio" else None
        svg = charts.lines(_lines(rows, key, colors, n_boot), title=title, xlabel="generation", ylabel="",
                           reference=reference, legend=False, size=_PANEL_SIZE)
        panels.append({"key": key, "title": title, "svg": svg,
                       "note": "dashed: the collapse line" if reference else ""})
    return panels


def write_report(path: Path, rows: list[dict[str, Any]], summary: dict[str, Any], config: CollapseConfig) -> Path:
    conditions = sorted({r["condition"] for r in rows})
    colors = {c: charts.PALETTE[i % len(charts.PALETTE)] for i, c in enumerate(conditions)}
    return write_page(
        path, "collapse.html", search=(TEMPLATES,),
        config=config, summary=summary, colors=colors,
        panels=_panels(rows, colors, config.collapse.bootstrap, config.collapse.ppl_rise),
    )
