"""The report charts' axes match their data: ticks cover the data by at most one step, values read back."""

from __future__ import annotations

import math

import numpy as np
import pytest
from chart_reading import ChartReading

from hygiene.reporting import charts


def _top_tick_fits(axis, maximum: float) -> None:
    assert axis.labels_match_positions(), axis.ticks
    top = max(axis.values)
    assert top >= maximum - 1e-9, (top, maximum)
    assert top - maximum <= axis.step + 1e-9, (top, maximum, axis.step)


@pytest.mark.parametrize("maximum", [2, 5, 7, 19, 23, 101, 1234])
def test_bars_read_their_values(maximum):
    values = [maximum, 2, 1]
    chart = ChartReading(charts.bars(["2", "3", "5"], values, title="clusters", xlabel="size", ylabel="clusters"))
    assert chart.bar_heights() == pytest.approx(values, abs=maximum * 0.002)
    _top_tick_fits(chart.y, maximum)
    assert min(chart.y.values) == 0
    assert all(float(v).is_integer() for v in chart.y.values)  # counts: no tick at 2.5 clusters
    assert [float(v) for v in chart.x.values] == [2, 3, 5]  # one labelled bar per cluster size


def test_a_single_category_is_one_narrow_bar_not_the_full_width():
    chart = ChartReading(charts.bars(["2"], [2], title="one size", xlabel="size", ylabel="clusters"))
    assert chart.bar_heights() == pytest.approx([2], abs=0.005)
    width = chart.root.get("viewBox").split()[2]
    assert float(width) < 300  # sized to its bars


def test_cluster_sizes_group_a_long_tail():
    sizes = {str(k): 1 for k in range(2, 40)} | {"2": 50, "250": 2}
    chart = ChartReading(charts.cluster_sizes(sizes, title="sizes"))
    assert chart.x.labels == ["2", "3", "4", "5-9", "10-99", "100-999"]
    assert chart.bar_heights() == pytest.approx([50, 1, 1, 5, 30, 2], abs=0.1)


def test_roc_ends_at_one_one_and_the_axes_are_the_unit_square():
    fpr, tpr = [0.0, 0.02, 0.1, 0.4, 1.0], [0.0, 0.5, 0.8, 0.95, 1.0]
    chart = ChartReading(charts.roc(fpr, tpr, title="roc", operating_point=(0.1, 0.8)))
    points = chart.series("series-roc")
    assert points[-1] == pytest.approx((1.0, 1.0), abs=0.002)
    assert points[0] == pytest.approx((0.0, 0.0), abs=0.002)
    assert [p[1] for p in points] == pytest.approx(tpr, abs=0.002)
    assert (min(chart.y.values), max(chart.y.values)) == (0, 1)
    assert (min(chart.x.values), max(chart.x.values)) == (0, 1)
    assert chart.series("marker-operating-point") == [pytest.approx((0.1, 0.8), abs=0.002)]


@pytest.mark.parametrize("seed", range(4))
def test_histogram_axes_cover_the_counts_and_the_threshold_sits_where_it_is(seed):
    rng = np.random.default_rng(seed)
    counts = rng.integers(0, 10 ** (seed + 1), 40).tolist()
    edges = np.linspace(-4.3, -0.7, 41).tolist()
    chart = ChartReading(charts.histogram(edges, counts, title=f"h{seed}", xlabel="score",
                                          threshold=charts.Marker(-2.2, "threshold")))
    assert chart.bar_heights() == pytest.approx(counts, abs=max(counts) * 0.002)
    _top_tick_fits(chart.y, max(counts))
    (x0, _), (x1, _) = chart.series("marker-threshold")
    assert x0 == x1 == pytest.approx(-2.2, abs=0.01)
    assert min(chart.x.values) >= edges[0] and max(chart.x.values) <= edges[-1]


def test_shares_histogram_with_reference_lines_reads_in_percent():
    edges = np.linspace(0, 1, 11).tolist()
    corpus = [0.05, 0.1, 0.2, 0.3, 0.1, 0.05, 0.05, 0.05, 0.05, 0.05]
    human = [0.1, 0.25, 0.3, 0.2, 0.1, 0.05, 0, 0, 0, 0]
    centres = [e + 0.05 for e in edges[:-1]]
    chart = ChartReading(charts.histogram(edges, corpus, title="shares", xlabel="score", ylabel="share",
                                          overlays=[charts.Line("human", centres, human)], percent=True))
    assert chart.bar_heights() == pytest.approx(corpus, abs=0.002)
    steps = chart.series("series-human")  # drawn as steps: a flat segment over each bin's centre
    flat = [(a[0], b[0], a[1]) for a, b in zip(steps, steps[1:]) if abs(a[1] - b[1]) < 1e-9]
    at_centres = [next(y for x0, x1, y in flat if x0 - 1e-6 <= c <= x1 + 1e-6) for c in centres]
    assert at_centres == pytest.approx(human, abs=0.002)
    _top_tick_fits(chart.y, 0.3)
    labels = "".join(chart.root.itertext())
    assert "%" in labels


@pytest.mark.parametrize("top", [0.075, 0.0375, 0.3, 0.012, 0.0009])
def test_percent_labels_are_exact_at_every_step(top):
    edges = np.linspace(0, 1, 5).tolist()
    chart = ChartReading(charts.histogram(edges, [top / 3, top, top / 2, 0], title=f"p{top}", xlabel="x",
                                          percent=True))
    _top_tick_fits(chart.y, top)
    assert chart.bar_heights()[1] == pytest.approx(top, rel=0.01)


def test_lines_with_bands_and_a_reference_line():
    gens = list(range(6))
    rise = [1.0, 1.05, 1.11, 1.14, 1.16, 1.17]
    low, high = [r - 0.02 for r in rise], [r + 0.03 for r in rise]
    chart = ChartReading(charts.lines([charts.Line("as is", gens, rise, low=low, high=high)], title="ppl",
                                      xlabel="generation", ylabel="ratio",
                                      reference=charts.Marker(1.1, "collapse")))
    points = chart.series("series-as-is")
    assert [x for x, _ in points] == pytest.approx(gens, abs=0.01)
    assert [y for _, y in points] == pytest.approx(rise, abs=0.002)
    _top_tick_fits(chart.y, max(high))
    assert min(chart.y.values) <= min(low) and min(low) - min(chart.y.values) <= chart.y.step
    assert all(float(v).is_integer() for v in chart.x.values)  # generations
    (_, y0), (_, y1) = chart.series("marker-reference")
    assert y0 == y1 == pytest.approx(1.1, abs=0.002)


def test_roc_sampled_at_quantiles_still_runs_from_corner_to_corner():
    fpr, tpr = [0.9, 0.5, 0.1, 0.02], [1.0, 0.97, 0.7, 0.3]  # cuts from the lowest score upwards
    points = ChartReading(charts.roc(fpr, tpr, title="roc")).series("series-roc")
    assert points[0] == pytest.approx((0, 0), abs=0.002) and points[-1] == pytest.approx((1, 1), abs=0.002)
    assert [x for x, _ in points] == sorted(x for x, _ in points)


def test_nothing_to_draw_gives_no_chart():
    assert charts.histogram([], [], title="t", xlabel="x") == ""
    assert charts.bars([], [], title="t", xlabel="x", ylabel="y") == ""
    assert charts.lines([charts.Line("nan", [0, 1], [math.nan, math.nan])], title="t", xlabel="x", ylabel="y") == ""


def test_charts_in_one_page_have_distinct_ids():
    import re

    a = charts.bars(["a"], [1], title="first", xlabel="x", ylabel="y")
    b = charts.bars(["a"], [1], title="second", xlabel="x", ylabel="y")
    defs = lambda svg: set(re.findall(r'<(?:path|clipPath) id="([^"]+)"', svg))  # noqa: E731
    assert defs(a) and not defs(a) & defs(b)
