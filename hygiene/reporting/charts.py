"""Every chart of every report: matplotlib (Agg, imported on first use) rendered to inline SVG strings.

Axes are set from the data, never guessed: the value axis runs from a tick at or below the smallest
plotted value to the first tick at or above the largest (so the top tick is never more than one step
above the data, and nothing is drawn above the top tick); the ROC square is exactly [0, 1] x [0, 1].
Reference lines (a threshold, the collapse line) are named in the legend, which sits outside the plot
area so it covers neither the data nor a label. Text stays text in the SVG (searchable, selectable,
drawn in the page's own sans-serif font), and each plotted artist carries an id (`series-*`, `bar-*`,
`marker-*`) so tests can read values back from the pixels.
"""

from __future__ import annotations

import io
import math
import re
from collections.abc import Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

__all__ = ["Line", "Marker", "COLORS", "PALETTE", "histogram", "roc", "bars", "cluster_sizes", "lines"]

COLORS = {
    "corpus": "#2e86c1", "flagged": "#c0392b", "human": "#27ae60", "machine": "#c0392b", "reference": "#555555",
    "cleaned": "#2e86c1", "raw": "#c0392b",
}
PALETTE = ("#2e86c1", "#c0392b", "#27ae60", "#8e44ad", "#d68910", "#17a589", "#7f8c8d", "#2c3e50")
_SIZE = (6.6, 3.0)  # inches; at 72 pt per inch the SVG is 475 x 216 pt before CSS scaling
_STYLE = {
    "svg.fonttype": "none",  # <text> elements, not glyph outlines
    "font.family": "sans-serif",
    "font.sans-serif": ["DejaVu Sans", "Liberation Sans", "Arial", "Helvetica"],
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "axes.grid.axis": "y",
    "grid.color": "#e3e3e3",
    "axes.axisbelow": True,
    "legend.frameon": False,
    "axes.formatter.useoffset": False,
}


@dataclass(frozen=True)
class Line:
    """A plotted line, optionally with a shaded band (`low`..`high`) around it."""

    label: str
    x: Sequence[float]
    y: Sequence[float]
    low: Sequence[float] | None = None
    high: Sequence[float] | None = None
    color: str | None = None
    dashed: bool = False
    markers: bool = False


@dataclass(frozen=True)
class Marker:
    """A reference line at `value` (vertical on a histogram, horizontal on a line chart), named in the legend."""

    value: float
    label: str


def _finite(*values: float) -> list[float]:
    return [float(v) for v in values if v is not None and math.isfinite(float(v))]


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "x"


@contextmanager
def _figure(title: str):
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    with matplotlib.rc_context({**_STYLE, "svg.hashsalt": _slug(title)}):
        fig, ax = plt.subplots(figsize=_SIZE, layout="constrained")
        try:
            yield fig, ax
        finally:
            plt.close(fig)


def _value_axis(ax, values: Sequence[float], *, from_zero: bool, integer: bool = False, percent: bool = False) -> None:
    """Limits and ticks of the y axis: bracket the data with ticks, the top one at most a step above it."""
    from matplotlib.ticker import MaxNLocator, PercentFormatter

    data = _finite(*values) or [0.0]
    lo, hi = (min(0.0, min(data)) if from_zero else min(data)), max(data)
    if hi <= lo:
        hi = lo + (1.0 if integer or lo == 0 else abs(lo) * 0.1)
    ticks = list(MaxNLocator(nbins=5, integer=integer, steps=[1, 2, 2.5, 5, 10]).tick_values(lo, hi))
    fuzz = 1e-9 * (ticks[-1] - ticks[0])  # 0.30000000000000004 covers 0.3
    top = min(t for t in ticks if t >= hi - fuzz)  # the first tick at or above the data, at most a step above
    bottom = max(t for t in ticks if t <= lo + fuzz)
    ticks = [t for t in ticks if bottom <= t <= top]
    ax.set_ylim(ticks[0], ticks[-1])
    ax.set_yticks(ticks)
    if percent:  # as few decimals as write every tick exactly (a 2.5 % step needs one: 7.5 %, not 8 %)
        decimals = next(d for d in range(4) if all(abs(round(100 * t, d) - 100 * t) < 1e-6 for t in ticks) or d == 3)
        ax.yaxis.set_major_formatter(PercentFormatter(xmax=1.0, decimals=decimals))


def _legend(fig, ax) -> None:
    handles, labels = ax.get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, loc="outside upper center", ncols=min(len(handles), 4), fontsize=8)


def _svg(fig, title: str) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None, "Format": None, "Type": None})
    text = buf.getvalue()
    text = text[text.index("<svg"):]
    label = title.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;")
    return text.replace("<svg ", f'<svg role="img" aria-label="{label}" class="chart" ', 1)


def histogram(
    edges: Sequence[float],
    counts: Sequence[float],
    *,
    title: str,
    xlabel: str,
    ylabel: str = "documents",
    threshold: Marker | None = None,
    overlays: Sequence[Line] = (),
    label: str = "documents",
    percent: bool = False,
) -> str:
    """Bars over bins `edges` (len(counts) + 1); bins whose centre is at or above `threshold` in red."""
    if not len(counts):
        return ""
    with _figure(title) as (fig, ax):
        lefts, widths = edges[:-1], [b - a for a, b in zip(edges[:-1], edges[1:])]
        centres = [a + w / 2 for a, w in zip(lefts, widths)]
        above = [threshold is not None and c >= threshold.value for c in centres]
        colors = [COLORS["flagged"] if a else COLORS["corpus"] for a in above]
        patches = ax.bar(lefts, counts, width=widths, align="edge", color=colors, alpha=0.75, linewidth=0)
        for i, patch in enumerate(patches):
            patch.set_gid(f"bar-{i}")
        from matplotlib.patches import Patch

        if threshold is not None and any(above) and not all(above):
            handles = [Patch(color=COLORS["corpus"], alpha=0.75, label=f"{label}, below the threshold"),
                       Patch(color=COLORS["flagged"], alpha=0.75, label=f"{label}, at or above it")]
        else:
            handles = [Patch(color=COLORS["corpus"], alpha=0.75, label=label)]
        for line in overlays:  # per-bin values: drawn as steps over the bins, not as a zigzag between centres
            drawn, = ax.plot(line.x, line.y, color=line.color, lw=1.6, label=line.label, drawstyle="steps-mid",
                             ls="--" if line.dashed else "-")
            drawn.set_gid(f"series-{_slug(line.label)}")
        if threshold is not None:
            vline = ax.axvline(threshold.value, color="black", ls="--", lw=1, label=threshold.label)
            vline.set_gid("marker-threshold")
        ax.set_xlim(edges[0], edges[-1])
        _value_axis(ax, [*counts, *(v for line in overlays for v in line.y)], from_zero=True,
                    integer=not percent and all(float(c).is_integer() for c in counts), percent=percent)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        h, labels = ax.get_legend_handles_labels()
        fig.legend([*handles, *h], [*(p.get_label() for p in handles), *labels], loc="outside upper center",
                   ncols=min(len(handles) + len(h), 3), fontsize=8)
        return _svg(fig, title)


def roc(fpr: Sequence[float], tpr: Sequence[float], *, title: str, label: str = "detector",
        operating_point: tuple[float, float] | None = None, operating_label: str = "threshold") -> str:
    """A ROC curve on the exact unit square, the chance diagonal, and the threshold's (FPR, TPR).

    Every ROC curve runs from (0, 0) (a threshold above every score) to (1, 1) (below every score);
    points sampled at score quantiles may miss either end, so the ends are added where missing."""
    pairs = sorted(zip(fpr, tpr))
    if pairs[0] != (0, 0):
        pairs.insert(0, (0.0, 0.0))
    if pairs[-1] != (1, 1):
        pairs.append((1.0, 1.0))
    fpr, tpr = [f for f, _ in pairs], [t for _, t in pairs]
    with _figure(title) as (fig, ax):
        fig.set_size_inches(4.6, 4.0)
        ax.plot([0, 1], [0, 1], color="#999999", ls=":", lw=1, label="chance")
        curve, = ax.plot(fpr, tpr, color=COLORS["corpus"], lw=2, label=label, clip_on=False, zorder=3)
        curve.set_gid("series-roc")
        if operating_point is not None:
            point, = ax.plot([operating_point[0]], [operating_point[1]], "o", color="black", ms=5,
                             label=operating_label, clip_on=False, zorder=4)
            point.set_gid("marker-operating-point")
        ticks = [0, 0.2, 0.4, 0.6, 0.8, 1.0]
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_xticks(ticks)
        ax.set_yticks(ticks)
        ax.set_aspect("equal")
        ax.grid(True, axis="both")
        ax.set_xlabel("false-positive rate (human text flagged)")
        ax.set_ylabel("true-positive rate (machine text flagged)")
        # below the diagonal is where a useful detector never goes: the legend covers nothing there
        ax.legend(loc="lower right", fontsize=8, frameon=True, framealpha=0.9, edgecolor="#dddddd")
        return _svg(fig, title)


def bars(categories: Sequence[str], values: Sequence[float], *, title: str, xlabel: str, ylabel: str,
         colors: Sequence[str] | None = None) -> str:
    """One bar per category, its value written on it; the value axis is integer when the values are."""
    if not len(values):
        return ""
    with _figure(title) as (fig, ax):
        fig.set_size_inches(max(3.6, min(6.6, 1.2 + 0.75 * len(values))), 2.8)
        positions = list(range(len(values)))
        patches = ax.bar(positions, values, width=0.6, color=list(colors) if colors else COLORS["corpus"],
                         alpha=0.85, linewidth=0)
        for i, patch in enumerate(patches):
            patch.set_gid(f"bar-{i}")
        integer = all(float(v).is_integer() for v in values)
        ax.bar_label(patches, labels=[f"{int(v):,}" if integer else f"{v:.3g}" for v in values], padding=2,
                     fontsize=8)
        ax.set_xticks(positions, [str(c) for c in categories])
        ax.set_xlim(-0.6, len(values) - 0.4)
        _value_axis(ax, values, from_zero=True, integer=integer)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        return _svg(fig, title)


def cluster_sizes(sizes: Mapping[str | int, int], *, title: str, max_bars: int = 12) -> str:
    """Duplicate clusters per size (documents in the cluster); past `max_bars` sizes, sizes are grouped
    (2, 3, 4, 5-9, 10-99, 100-999, ...) so that a long tail stays readable."""
    pairs = sorted((int(k), int(v)) for k, v in sizes.items())
    groups: dict[str, int] = {}
    for size, n in pairs:
        if len(pairs) <= max_bars or size < 5:
            label = str(size)
        else:
            low = 5 if size < 10 else 10 ** int(math.log10(size))
            label = f"{low}-{9 if size < 10 else 10 * low - 1}"
        groups[label] = groups.get(label, 0) + n
    return bars(list(groups), list(groups.values()), title=title, xlabel="documents in the cluster",
                ylabel="clusters")


def lines(series: Sequence[Line], *, title: str, xlabel: str, ylabel: str, reference: Marker | None = None,
          from_zero: bool = False, integer_x: bool = True, legend: bool = True, size: tuple[float, float] | None = None
          ) -> str:
    """Lines over a shared x axis, each with an optional shaded band, and an optional horizontal reference."""
    drawn = [s for s in series if _finite(*s.y)]
    if not drawn:
        return ""
    from matplotlib.ticker import MaxNLocator

    with _figure(title) as (fig, ax):
        if size:
            fig.set_size_inches(*size)
        values: list[Any] = []
        for i, s in enumerate(drawn):
            color = s.color or PALETTE[i % len(PALETTE)]
            if s.low is not None and s.high is not None:
                band = ax.fill_between(s.x, s.low, s.high, color=color, alpha=0.15, linewidth=0)
                band.set_gid(f"band-{_slug(s.label)}")
                values += [*s.low, *s.high]
            line, = ax.plot(s.x, s.y, color=color, lw=1.8, ls="--" if s.dashed else "-", label=s.label,
                            marker="o" if s.markers else None, ms=3)
            line.set_gid(f"series-{_slug(s.label)}")
            values += list(s.y)
        if reference is not None:
            hline = ax.axhline(reference.value, color="black", ls="--", lw=1, label=reference.label)
            hline.set_gid("marker-reference")
            values.append(reference.value)
        xs = _finite(*(x for s in drawn for x in s.x))
        ax.set_xlim(min(xs), max(xs) if max(xs) > min(xs) else min(xs) + 1)
        if integer_x:
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        _value_axis(ax, values, from_zero=from_zero)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        if legend:
            _legend(fig, ax)
        return _svg(fig, title)
