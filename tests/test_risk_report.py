"""The risk report drawn from a real assessment's pieces (no LM): words for infinity, the caveat beside
the grade, and charts whose axes match the numbers in risk.json."""

from __future__ import annotations

import html
import json
import math
import re

import numpy as np
import pytest
from chart_reading import ChartReading, svgs_in

from hygiene.risk.assess import _score_distribution
from hygiene.risk.horizon import load_horizon_model
from hygiene.risk.integrity import integrity
from hygiene.risk.prevalence import estimate_prevalence
from hygiene.risk.report import model_origin, write_risk_report


def _assessment(fraction: float, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    human, machine = rng.normal(-4, 0.6, 400), rng.normal(-2.5, 0.6, 400)
    k = round(fraction * 600)
    corpus = np.concatenate([rng.normal(-2.5, 0.6, k), rng.normal(-4, 0.6, 600 - k)])
    prevalence = estimate_prevalence(corpus, human, machine, -3.2, bootstrap=200, seed=seed)
    model = load_horizon_model()
    result = {
        "corpus": {"shards": ["a.parquet", "b.parquet"], "rows": 620, "quarantined": 20, "readable": 600},
        "sampling": {"machine_fraction": {"documents": 600, "of": 600, "sampled": False}},
        "detector": {"statistic": "likelihood", "model": "SmolLM2-135M", "max_tokens": 64,
                     "threshold": {"value": -3.2, "source": "config"}, "reference": "labelled shards: ref.parquet"},
        "machine_fraction": prevalence.to_dict(),
        "score_distribution": _score_distribution(corpus, human, machine),
        "duplicates": {"documents": 600, "exact_duplicate_rate": 0.01, "near_duplicate_rate": 0.02,
                       "duplicate_rate": 0.03, "clusters": 7, "cluster_sizes": {"2": 5, "3": 2},
                       "largest_cluster": 3},
        "diversity": {"corpus": {"distinct_2": 0.8, "vendi": math.nan},
                      "reference": {"distinct_2": 0.82, "vendi": math.nan},
                      "ratio": {"distinct_2": 0.8 / 0.82, "vendi": math.nan}},
        "horizon": model.predict_clean_vs_raw(prevalence),
    }
    result["integrity"] = integrity(result, target_generations=10, horizon_model=model)
    return result


@pytest.fixture(scope="module", params=[0.02, 0.6], ids=["few-machine", "mostly-machine"])
def report(request, tmp_path_factory):
    result = _assessment(request.param)
    json_path, html_path = write_risk_report(tmp_path_factory.mktemp("risk"), result)
    return result, json.loads(json_path.read_text()), html_path.read_text()


def _text(page: str) -> str:
    return re.sub(r"<[^>]+>", " ", re.sub(r"<svg\b.*?</svg>|<style>.*?</style>", "", page, flags=re.S))


def test_numbers_read_as_words(report):
    result, _, page = report
    text = _text(page)
    assert not re.search(r"\b(inf|nan|NaN|None|Infinity)\b", text), re.findall(r".{40}\b(?:inf|nan)\b.{40}", text)
    if math.isinf(result["horizon"]["raw"]["generations"]):
        assert "no collapse predicted" in text
    assert "not measured" in text  # the Vendi score without embeddings
    assert f"{100 * result['machine_fraction']['fraction']:.1f} %" in text


def test_the_caveat_sits_beside_the_grade_and_names_its_source_once(report):
    result, _, page = report
    verdict = html.unescape(re.search(r'<section class="verdict">(.*?)</section>', page, flags=re.S).group(1))
    assert f">{result['integrity']['grade']}<" in verdict
    assert "How far to trust the grade" in verdict and "GPT-2" in verdict
    origin = model_origin(result["horizon"]["model"])
    assert origin in verdict and origin.count("cpu-small") == 1


def test_charts_match_the_json(report):
    _, data, page = report
    by_label = {ChartReading(svg).label: ChartReading(svg) for svg in svgs_in(page)}
    scores = next(c for label, c in by_label.items() if label.startswith("Detector scores"))
    dist = data["score_distribution"]
    assert scores.bar_heights() == pytest.approx(dist["corpus"], abs=0.002)
    top = max(dist["corpus"] + dist["human_reference"] + dist["machine_reference"])
    assert top <= max(scores.y.values) <= top + scores.y.step
    (x, _), _ = scores.series("marker-threshold")
    assert x == pytest.approx(data["machine_fraction"]["threshold"], abs=0.01)

    roc = next(c for label, c in by_label.items() if label.startswith("Detector error rates"))
    curve = roc.series("series-roc")
    assert curve[-1] == pytest.approx((1, 1), abs=0.002) and curve[0] == pytest.approx((0, 0), abs=0.002)
    machine = data["machine_fraction"]
    assert roc.series("marker-operating-point")[0] == pytest.approx((machine["fpr"], machine["tpr"]), abs=0.003)

    clusters = next(c for label, c in by_label.items() if label.startswith("Near-duplicate clusters"))
    assert clusters.x.labels == ["2", "3"] and clusters.bar_heights() == pytest.approx([5, 2], abs=0.01)

    horizon = next(c for label, c in by_label.items() if label.startswith("Predicted held-out perplexity"))
    model = load_horizon_model()
    as_is = horizon.series(next(g for g in horizon.ids("series-") if g.startswith("series-as-is")))
    expected = model.curve(data["horizon"]["raw"]["synthetic_share"], 15)
    assert [y for _, y in as_is] == pytest.approx(expected, abs=0.003)
    (_, line), _ = horizon.series("marker-reference")
    assert line == pytest.approx(1 + model.rise, abs=0.002)
    assert max(horizon.y.values) >= 1 + model.rise
