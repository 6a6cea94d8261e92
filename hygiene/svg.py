"""Small inline-SVG charts for self-contained HTML reports (no JavaScript, no external files)."""

from __future__ import annotations

import html
import math
from collections.abc import Sequence

__all__ = ["chart", "Series"]

WIDTH, HEIGHT, PAD = 640, 260, 48
COLORS = ("#2e86c1", "#c0392b", "#27ae60", "#8e44ad", "#d68910")


class Series:
    """One thing to draw: ``kind`` "line" (points joined) or "bars" (one bar per x, width ``bar_width``)."""

    def __init__(self, name: str, xs: Sequence[float], ys: Sequence[float], *, kind: str = "line",
                 color: str | None = None, dashed: bool = False, bar_width: float | None = None) -> None:
        self.name, self.kind, self.color, self.dashed, self.bar_width = name, kind, color, dashed, bar_width
        self.points = [(float(x), float(y)) for x, y in zip(xs, ys) if math.isfinite(x) and math.isfinite(y)]


def _fmt(v: float) -> str:
    return f"{v:.3g}"


def chart(title: str, series: Sequence[Series], *, xlabel: str, ylabel: str,
          vline: tuple[float, str] | None = None, hline: tuple[float, str] | None = None,
          y_from_zero: bool = True) -> str:
    """An SVG chart with axes, min/max tick labels, a legend, and optional reference lines."""
    points = [p for s in series for p in s.points]
    if not points:
        return f"<p>{html.escape(title)}: nothing to plot.</p>"
    xs = [x for x, _ in points] + ([vline[0]] if vline else [])
    ys = [y for _, y in points] + ([hline[0]] if hline else []) + ([0.0] if y_from_zero else [])
    x0, x1, y0, y1 = min(xs), max(xs), min(ys), max(ys)
    x1, y1 = (x1 if x1 > x0 else x0 + 1), (y1 if y1 > y0 else y0 + 1)
    sx = lambda v: PAD + (v - x0) / (x1 - x0) * (WIDTH - 2 * PAD)  # noqa: E731
    sy = lambda v: HEIGHT - PAD - (v - y0) / (y1 - y0) * (HEIGHT - 2 * PAD)  # noqa: E731
    parts = [f'<line x1="{PAD}" y1="{HEIGHT - PAD}" x2="{WIDTH - PAD}" y2="{HEIGHT - PAD}" stroke="#444"/>',
             f'<line x1="{PAD}" y1="{PAD / 2}" x2="{PAD}" y2="{HEIGHT - PAD}" stroke="#444"/>']
    for i, s in enumerate(series):
        color = s.color or COLORS[i % len(COLORS)]
        if s.kind == "bars":
            width = s.bar_width or 1.0
            for x, y in s.points:
                left, right = sx(x), sx(x + width)
                parts.append(f'<rect x="{left:.1f}" y="{sy(max(y, y0)):.1f}" width="{max(right - left - 1, 1):.1f}" '
                             f'height="{max(sy(y0) - sy(max(y, y0)), 0):.1f}" fill="{color}" opacity="0.6">'
                             f"<title>{html.escape(s.name)}: {_fmt(x)}: {_fmt(y)}</title></rect>")
        else:
            path = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in s.points)
            dash = ' stroke-dasharray="5,3"' if s.dashed else ""
            parts.append(f'<polyline points="{path}" fill="none" stroke="{color}" stroke-width="2"{dash}>'
                         f"<title>{html.escape(s.name)}</title></polyline>")
        parts.append(f'<rect x="{WIDTH - PAD - 150}" y="{PAD / 2 + 16 * i - 9}" width="10" height="10" '
                     f'fill="{color}"/><text x="{WIDTH - PAD - 136}" y="{PAD / 2 + 16 * i}" font-size="11">'
                     f"{html.escape(s.name)}</text>")
    if vline:
        x = sx(vline[0])
        parts.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{PAD / 2}" y2="{HEIGHT - PAD}" stroke="#000" '
                     f'stroke-dasharray="4"/><text x="{x + 4:.1f}" y="{PAD / 2 + 10}" font-size="11">'
                     f"{html.escape(vline[1])}</text>")
    if hline:
        y = sy(hline[0])
        parts.append(f'<line x1="{PAD}" x2="{WIDTH - PAD}" y1="{y:.1f}" y2="{y:.1f}" stroke="#000" '
                     f'stroke-dasharray="4"/><text x="{PAD + 4}" y="{y - 4:.1f}" font-size="11">'
                     f"{html.escape(hline[1])}</text>")
    parts += [
        f'<text x="{PAD}" y="{HEIGHT - PAD + 14}" font-size="11">{_fmt(x0)}</text>',
        f'<text x="{WIDTH - PAD}" y="{HEIGHT - PAD + 14}" font-size="11" text-anchor="end">{_fmt(x1)}</text>',
        f'<text x="{PAD - 4}" y="{HEIGHT - PAD}" font-size="11" text-anchor="end">{_fmt(y0)}</text>',
        f'<text x="{PAD - 4}" y="{PAD / 2 + 8}" font-size="11" text-anchor="end">{_fmt(y1)}</text>',
        f'<text x="{WIDTH / 2}" y="{HEIGHT - 12}" font-size="12" text-anchor="middle">{html.escape(xlabel)}</text>',
        f'<text x="14" y="{HEIGHT / 2}" font-size="12" text-anchor="middle" '
        f'transform="rotate(-90 14 {HEIGHT / 2})">{html.escape(ylabel)}</text>',
    ]
    return (f'<figure><svg role="img" aria-label="{html.escape(title)}" width="{WIDTH}" height="{HEIGHT}" '
            f'xmlns="http://www.w3.org/2000/svg">{"".join(parts)}</svg>'
            f"<figcaption>{html.escape(title)}</figcaption></figure>")
