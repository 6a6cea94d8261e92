"""Read a chart back from its SVG: tick labels with their pixel positions, and the plotted artists' pixels.

With the value of two ticks and their pixel positions, any pixel maps back to a data value, so a test
can ask what a reader sees: where the curve ends, how tall a bar reads, whether the top tick covers
the data. Works on the SVG that hygiene.reporting.charts writes (matplotlib, text as <text>).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

__all__ = ["Axis", "ChartReading", "svgs_in"]

NS = {"svg": "http://www.w3.org/2000/svg", "xlink": "http://www.w3.org/1999/xlink"}


def svgs_in(page: str) -> list[str]:
    """The inline <svg> charts of an HTML page."""
    return re.findall(r"<svg\b.*?</svg>", page, flags=re.S)


def _label_value(text: str) -> float | None:
    """A numeric tick label's value; None for a category name."""
    text = text.replace("\u2212", "-").replace(",", "").strip()
    if not re.fullmatch(r"-?\d+(?:\.\d+)?%?", text):
        return None
    value = float(text.rstrip("%"))
    return value / 100 if text.endswith("%") else value


@dataclass(frozen=True)
class Axis:
    ticks: list[tuple[float, float]]  # (value, pixel), in drawing order

    labels: list[str] = field(default_factory=list)  # every tick label as written (categories included)

    @property
    def values(self) -> list[float]:
        return [v for v, _ in self.ticks]

    @property
    def step(self) -> float:
        values = sorted(self.values)
        return min(b - a for a, b in zip(values, values[1:]))

    def labels_match_positions(self, tolerance_px: float = 0.5) -> bool:
        """Every tick label's value sits where the axis's scale puts it (no label off its tick)."""
        return all(abs(self.pixel(v) - p) <= tolerance_px for v, p in self.ticks)

    def value(self, pixel: float) -> float:
        """The data value at `pixel`, from the two outermost ticks (a linear axis)."""
        (v0, p0), (v1, p1) = min(self.ticks), max(self.ticks)
        return v0 + (pixel - p0) * (v1 - v0) / (p1 - p0)

    def pixel(self, value: float) -> float:
        (v0, p0), (v1, p1) = min(self.ticks), max(self.ticks)
        return p0 + (value - v0) * (p1 - p0) / (v1 - v0)


def _points(d: str) -> list[tuple[float, float]]:
    numbers = [float(n) for n in re.findall(r"-?\d+(?:\.\d+)?(?:e-?\d+)?", d)]
    return list(zip(numbers[0::2], numbers[1::2]))


class ChartReading:
    def __init__(self, svg: str) -> None:
        self.root = ET.fromstring(svg)
        self.label = self.root.get("aria-label", "")
        self.x = self._axis("xtick", 0)
        self.y = self._axis("ytick", 1)

    def _group(self, gid: str):
        return self.root.find(f".//svg:g[@id='{gid}']", NS)

    def _axis(self, prefix: str, coordinate: int) -> Axis:
        ticks, labels = [], []
        for group in self.root.iter(f"{{{NS['svg']}}}g"):
            if not re.fullmatch(prefix + r"_\d+", group.get("id", "")):
                continue
            use = group.find(".//svg:use", NS)
            text = " ".join("".join(t.itertext()) for t in group.findall(".//svg:text", NS))
            labels.append(text)
            pixel = float(use.get("x" if coordinate == 0 else "y"))
            value = _label_value(text)
            if value is not None:
                ticks.append((value, pixel))
        return Axis(ticks, labels)

    def ids(self, prefix: str) -> list[str]:
        return [g.get("id") for g in self.root.iter(f"{{{NS['svg']}}}g") if g.get("id", "").startswith(prefix)]

    def series(self, gid: str) -> list[tuple[float, float]]:
        """The data points of a line (values, read back through the ticks)."""
        group = self._group(gid)
        assert group is not None, f"no artist {gid!r} in chart {self.label!r}"
        uses = group.findall(".//svg:use", NS)
        if uses:  # markers: <use x= y=> for each point (the <path> is the marker's shape)
            pixels = [(float(u.get("x")), float(u.get("y"))) for u in uses]
        else:
            pixels = _points(group.find(".//svg:path", NS).get("d"))
        return [(self.x.value(px), self.y.value(py)) for px, py in pixels]

    def bar_heights(self) -> list[float]:
        """Each bar's top, as a value on the y axis (bars are `bar-<i>` groups)."""
        out = []
        for gid in sorted(self.ids("bar-"), key=lambda g: int(g.split("-")[1])):
            ys = [py for _, py in _points(self._group(gid).find(".//svg:path", NS).get("d"))]
            out.append(self.y.value(min(ys)))
        return out
