"""Every report page in a real browser (Debian's chromium driven by Playwright): self-contained, no script,
nothing fetched, no page wider than the window, every chart drawn at a readable size.

The clean report comes from a real pipeline run whose detector is a stand-in (a score from word
lengths): the page's layout does not depend on which model scored, and the real LM's runs are covered
by tests/test_pipeline.py. Screenshots of every page land in $REPORT_SCREENSHOTS when it is set.
"""

from __future__ import annotations

import json
import os
import random
import shutil
from importlib import resources
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from test_risk_report import _assessment

from collapse_eval.config import load_collapse_config
from collapse_eval.report import write_report as write_collapse_report
from hygiene.config import CleanConfig
from hygiene.pipeline import run
from hygiene.risk.report import write_risk_report

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run", "--disable-sync"]

sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright (the driver only)")
pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium (installed by .ci/run)")


_STATISTICS = ("likelihood", "log_rank", "entropy", "fast_detectgpt")  # what a zero-shot detector returns


class _WordLengthScorer:
    """Mean word length as the statistic for every detector column: cheap, deterministic, spread out."""

    name = "word-length"

    def statistics(self, texts: list[str]) -> dict[str, np.ndarray]:
        mean = np.array([-np.mean([len(w) for w in t.split()] or [0]) for t in texts])
        return {**{s: mean for s in _STATISTICS}, "n_tokens": np.array([len(t.split()) for t in texts]),
                "truncated": np.zeros(len(texts), bool)}


def _clean_page(root: Path) -> Path:
    rng = random.Random(0)
    words = ["".join(rng.choices("etaoinshrdlucmfwyp", k=rng.randint(2, 11))) for _ in range(900)]
    docs = [" ".join(rng.choices(words, k=rng.randint(40, 120))).capitalize() + "." for _ in range(300)]
    near = docs[7].split()
    near[4] = "zebra"
    pq.write_table(pa.table({"text": docs[:150] + [docs[3].upper(), " ".join(near), None]}), root / "a.parquet")
    pq.write_table(pa.table({"text": docs[150:] + [docs[160], docs[161]]}), root / "b.parquet")
    result = run([root / "a.parquet", root / "b.parquet"], root / "clean", CleanConfig(threshold=-6.0),
                 scorer=_WordLengthScorer())
    return result.report


@pytest.fixture(scope="module")
def pages(tmp_path_factory):
    root = tmp_path_factory.mktemp("pages")
    data = resources.files("collapse_eval") / "data"
    collapse = write_collapse_report(root / "collapse.html", json.loads((data / "cpu_small_results.json").read_text()),
                                     json.loads((data / "cpu_small_summary.json").read_text()),
                                     load_collapse_config(preset="cpu-small"))
    _, few = write_risk_report(root / "risk-few", _assessment(0.02))
    _, many = write_risk_report(root / "risk-many", _assessment(0.6))
    return {"clean": _clean_page(root), "risk-few-machine": few, "risk-mostly-machine": many, "collapse": collapse}


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield browser
        browser.close()


@pytest.mark.parametrize("width", [1280, 720])
@pytest.mark.parametrize("name", ["clean", "risk-few-machine", "risk-mostly-machine", "collapse"])
def test_report_page_in_the_browser(pages, browser, name, width):
    path = pages[name]
    assert "<script" not in path.read_text()
    context = browser.new_context(viewport={"width": width, "height": 900}, java_script_enabled=False)
    page = context.new_page()
    requests, problems = [], []
    page.on("request", lambda r: requests.append(r.url))
    page.on("console", lambda m: problems.append(m.text))
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.goto(path.resolve().as_uri())
    page.wait_for_load_state("load")
    assert requests == [path.resolve().as_uri()], requests  # nothing fetched: no CDN, no font, no image
    assert not problems, problems
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"{name} is {overflow} px wider than a {width} px window"
    charts = page.locator("svg.chart")
    assert charts.count() >= 3
    for i in range(charts.count()):
        box = charts.nth(i).bounding_box()
        assert box["width"] >= 200 and box["height"] >= 120, (name, i, box)
        assert box["x"] >= 0 and box["x"] + box["width"] <= width, (name, i, box)
    where = os.environ.get("REPORT_SCREENSHOTS")
    if where:
        Path(where).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(where) / f"{name}-{width}.png"), full_page=True)
    context.close()
