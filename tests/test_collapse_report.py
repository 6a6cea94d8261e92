"""The collapse report drawn from the shipped CPU run: one SVG panel per metric, axes that match the data."""

from __future__ import annotations

import json
import re
from importlib import resources

import pytest
from chart_reading import ChartReading, svgs_in

from collapse_eval.config import load_collapse_config
from collapse_eval.report import PANELS, write_report


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    data = resources.files("collapse_eval") / "data"
    rows = json.loads((data / "cpu_small_results.json").read_text())
    summary = json.loads((data / "cpu_small_summary.json").read_text())
    path = write_report(tmp_path_factory.mktemp("collapse") / "report.html", rows, summary,
                        load_collapse_config(preset="cpu-small"))
    return path.read_text(), rows, summary


def test_one_panel_per_metric_and_no_image_or_script(page):
    html, _, _ = page
    assert len(svgs_in(html)) == len(PANELS)
    assert "data:image" not in html and "<script" not in html and "http://" not in html.replace(
        "http://www.w3.org", "")


def test_perplexity_ratio_panel_axes_cover_the_data_and_the_collapse_line(page):
    html, rows, summary = page
    chart = ChartReading(svgs_in(html)[[k for k, _ in PANELS].index("perplexity_ratio")])
    (_, y0), (_, y1) = chart.series("marker-reference")
    assert y0 == y1 == pytest.approx(1 + summary["ppl_rise"], abs=0.002)
    # the mean of each condition at each generation reads back from the drawn line
    for cond in sorted({r["condition"] for r in rows})[:3]:
        slug = re.sub(r"[^a-z0-9]+", "-", cond.lower()).strip("-")
        drawn = dict(chart.series(f"series-{slug}"))
        for g in range(5):
            values = [r["perplexity_ratio"] for r in rows if r["condition"] == cond and r["generation"] == g]
            x = min(drawn, key=lambda v: abs(v - g))
            assert drawn[x] == pytest.approx(sum(values) / len(values), abs=0.003)
    assert max(chart.y.values) >= max(r["perplexity_ratio"] for r in rows) - 1e-9


def test_tables_write_words_not_nan(page):
    html, _, summary = page
    text = re.sub(r"<svg\b.*?</svg>", "", html, flags=re.S)
    assert not re.search(r"\b(nan|inf|None)\b", text)
    never = [c for c, v in summary["conditions"].items() if v["censored"] == len(v["seeds"])]
    assert never and text.count("none within 4 generations") == len(never)
