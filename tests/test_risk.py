"""hygiene risk: prevalence estimation, horizon model, integrity score, and the command end to end."""

from __future__ import annotations

import json
import math
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from hygiene.risk.assess import _Reservoir, _store
from hygiene.risk.horizon import HorizonModel, fit_horizon, synthetic_share_after_cleaning
from hygiene.risk.integrity import integrity
from hygiene.risk.prevalence import PrevalenceError, adjusted_count, estimate_prevalence, mixture_fraction

DETECT = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "detect"


def _mix(rng, fraction: float, n: int = 2000):
    human, machine = rng.normal(0, 1, 1500), rng.normal(2, 1, 1500)
    k = round(fraction * n)
    corpus = np.concatenate([rng.normal(2, 1, k), rng.normal(0, 1, n - k)])
    return corpus, human, machine


@pytest.mark.parametrize("fraction", [0.0, 0.1, 0.3, 0.5, 0.9])
def test_prevalence_recovers_known_fractions(fraction):
    corpus, human, machine = _mix(np.random.default_rng(int(fraction * 100)), fraction)
    est = estimate_prevalence(corpus, human, machine, threshold=1.64, bootstrap=300)
    assert abs(est.fraction - fraction) <= 0.05
    assert est.low - 0.01 <= fraction <= est.high + 0.01
    assert est.low <= est.fraction <= est.high


def test_flagged_share_is_biased_and_the_correction_is_not():
    corpus, human, machine = _mix(np.random.default_rng(7), 0.5)
    est = estimate_prevalence(corpus, human, machine, threshold=1.64, bootstrap=200)
    assert est.flagged_share < 0.40  # a naive count misses most of the machine half
    assert abs(est.adjusted_count - 0.5) < 0.06 and abs(est.fraction - 0.5) < 0.05


def test_prevalence_refuses_too_little_data():
    rng = np.random.default_rng(0)
    with pytest.raises(PrevalenceError, match="at least 50"):
        estimate_prevalence(rng.normal(size=49), rng.normal(size=100), rng.normal(size=100), 0.0)
    with pytest.raises(PrevalenceError, match="machine reference"):
        estimate_prevalence(rng.normal(size=100), rng.normal(size=100), rng.normal(size=5), 0.0)
    with pytest.raises(PrevalenceError, match="at least 50"):  # NaN scores do not count
        estimate_prevalence(np.full(100, np.nan), rng.normal(size=100), rng.normal(size=100), 0.0)


def test_adjusted_count_and_mixture_edges():
    assert adjusted_count(0.05, 0.8, 0.05) == 0.0
    assert adjusted_count(0.425, 0.8, 0.05) == pytest.approx(0.5)
    assert math.isnan(adjusted_count(0.3, 0.05, 0.05))
    rng = np.random.default_rng(1)
    assert mixture_fraction(rng.normal(2, 1, 500), rng.normal(0, 1, 500), rng.normal(2, 1, 500)) > 0.95


def test_reservoir_is_uniform_and_bounded():
    rng = np.random.default_rng(0)
    hits = np.zeros(100)
    for _ in range(300):
        reservoir, held = _Reservoir(10, rng), []
        for start in range(0, 100, 7):  # batches of 7, like shards read in record batches
            items = list(range(start, min(start + 7, 100)))
            _store(held, *reservoir.offer(len(items)), items)
        assert len(held) == 10 and len(set(held)) == 10
        hits[held] += 1
    # each item is kept with probability 0.1: 30 of 300 draws expected; a biased sampler misses this wide band
    assert hits.min() > 10 and hits.max() < 55
    assert hits[:50].sum() == pytest.approx(hits[50:].sum(), rel=0.15)


def test_horizon_fit_recovers_parameters_and_predicts():
    rng = np.random.default_rng(0)
    truth = (0.4, 1.3, 1.5)
    rows = [{"mode": "replace", "seed": seed, "generation": g, "synthetic_fraction": s,
             "perplexity_ratio": math.exp(truth[0] * s ** truth[1] * (1 - math.exp(-g / truth[2]))
                                          + rng.normal(0, 0.005))}
            for seed in range(3) for s in (0.0, 0.3, 0.6, 0.9) for g in range(6)]
    model = fit_horizon(rows, rise=0.15, source="synthetic", bootstrap=50)
    assert model.amplitude == pytest.approx(0.4, rel=0.1) and model.exponent == pytest.approx(1.3, rel=0.1)
    assert model.tau == pytest.approx(1.5, rel=0.1) and len(model.draws) == 50
    # plateau 0.4 * 0.3**1.3 = 0.084 < log(1.15): a 30 % synthetic mix never collapses; 90 % does, early
    assert model.generations(0.0) == math.inf and model.generations(0.3) == math.inf
    expected = -1.5 * math.log(1 - math.log(1.15) / (0.4 * 0.9 ** 1.3))
    assert model.generations(0.9) == pytest.approx(expected, rel=0.1)
    p = model.predict(0.9, 0.85, 0.95)
    assert p["low"] < p["generations"] < p["high"]
    share = model.max_share(10)
    assert model.generations(share * 0.99) >= 10 > model.generations(min(share * 1.05, 1.0))
    assert model.curve(0.9, 3)[0] == 1.0 and model.curve(0.9, 3)[3] > model.curve(0.9, 3)[1]
    with pytest.raises(ValueError, match="accumulate"):
        fit_horizon(rows, rise=0.15, mode="accumulate", source="synthetic")


def test_synthetic_share_after_cleaning():
    assert synthetic_share_after_cleaning(0.5, 1.0, 0.0) == 0.0
    assert synthetic_share_after_cleaning(0.5, 0.0, 0.0) == 0.5
    # 50 % machine, 80 % caught, 10 % of human lost: 10 machine left of 10 + 45 kept
    assert synthetic_share_after_cleaning(0.5, 0.8, 0.1) == pytest.approx(10 / 55)


def _result(fraction: float, dup: float, ratio: dict | None, generations: float) -> dict:
    diversity = {"corpus": {}, **({"ratio": ratio} if ratio else {})}
    return {
        "machine_fraction": {"fraction": fraction, "low": fraction, "high": fraction, "threshold": 0.0,
                             "tpr": 0.8, "fpr": 0.05},
        "duplicates": {"duplicate_rate": dup},
        "diversity": diversity,
        "horizon": {"raw": {"generations": generations, "synthetic_share": fraction},
                    "cleaned": {"generations": generations * 2, "synthetic_share": fraction / 2}},
        "detector": {"reference": "labelled shards: x"},
    }


def test_integrity_score_follows_its_documented_formula():
    model = HorizonModel("replace", 0.4, 1.3, 1.5, (), 0.15, 10, 3, 0.01, "test")
    clean = integrity(_result(0.0, 0.0, {"distinct_2": 1.0, "vendi": 1.0}, math.inf), target_generations=10,
                      horizon_model=model)
    assert clean["score"] == 100.0 and clean["grade"] == "A" and not clean["reasons"]
    bad = integrity(_result(0.6, 0.3, {"distinct_2": 0.5, "vendi": 0.7}, 2.0), target_generations=10,
                    horizon_model=model)
    expected = 0.35 * 40 + 0.30 * 20 + 0.20 * 70 + 0.15 * 60
    assert bad["score"] == pytest.approx(expected, abs=0.05) and bad["grade"] == "D"  # 43: D is 40-55
    assert len(bad["reasons"]) == 4
    no_reference = integrity(_result(0.0, 0.0, None, math.inf), target_generations=10, horizon_model=model)
    assert no_reference["components"]["diversity"] is None and no_reference["score"] == 100.0
    assert any("diversity not scored" in r for r in no_reference["reasons"])


def _detect_rows(name: str) -> list[dict]:
    return [json.loads(line) for line in (DETECT / name).open(encoding="utf-8") if line.strip()]


@pytest.fixture(scope="module")
def risk_run(tmp_path_factory):
    if not DETECT.is_dir():
        pytest.skip(f"{DETECT} not found: the end-to-end risk test mixes a corpus from ../shared/data/detect")
    tmp = tmp_path_factory.mktemp("risk")
    rows = _detect_rows("xsum_gpt-3.5-turbo.jsonl") + _detect_rows("writing_gpt-3.5-turbo.jsonl")
    human, machine = [r for r in rows if r["label"] == 0], [r for r in rows if r["label"] == 1]
    reference = human[:40] + machine[:40]
    corpus = human[40:100] + machine[40:60] + human[40:45]  # 25 % machine, 5 exact copies
    pq.write_table(pa.table({"text": [r["text"] for r in reference], "label": [r["label"] for r in reference]}),
                   tmp / "reference.parquet")
    pq.write_table(pa.table({"text": [r["text"] for r in corpus]}), tmp / "corpus.parquet")
    out = tmp / "out"
    proc = subprocess.run(
        [sys.executable, "-m", "hygiene_cli", "risk", str(tmp / "corpus.parquet"), "--out", str(out),
         "--max-tokens", "32", "--threshold", "-3.5", "--detector-reference", str(tmp / "reference.parquet"),
         "--diversity-reference", str(tmp / "reference.parquet"), "--no-embeddings", "--quiet"],
        capture_output=True, text=True, timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return out, proc.stdout, len(corpus)


def test_risk_command_writes_a_complete_assessment(risk_run):
    out, stdout, n = risk_run
    assert "grade" in stdout and str(out / "risk.html") in stdout
    text = (out / "risk.json").read_text()
    assert "NaN" not in text and "Infinity" not in text  # strict JSON
    result = json.loads(text)
    assert result["corpus"]["rows"] == n
    assert result["duplicates"]["exact_duplicate_rate"] == pytest.approx(5 / n)
    machine = result["machine_fraction"]
    assert 0.0 <= machine["low"] <= machine["fraction"] <= machine["high"] <= 1.0
    assert machine["n_human_reference"] == 40 and machine["n_machine_reference"] == 40
    assert set(result["integrity"]["components"]) == {"synthetic", "horizon", "duplication", "diversity"}
    assert 0 <= result["integrity"]["score"] <= 100 and result["integrity"]["grade"] in (*"ABCDE", None)
    assert "ratio" in result["diversity"]


@pytest.mark.skipif(shutil.which("chromium") is None, reason="needs Debian's chromium (installed by .ci/run)")
def test_risk_report_renders_in_headless_chromium(risk_run):
    out, _, _ = risk_run
    proc = subprocess.run(
        ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--enable-logging=stderr", "--v=0",
         "--dump-dom", (out / "risk.html").resolve().as_uri()],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    dom = proc.stdout
    assert len(re.findall(r"<svg\b", dom)) >= 3  # scores, reference ROC, horizon curves (+ clusters)
    for label in ("Detector scores", "Detector error rates", "Predicted held-out perplexity"):
        assert label in dom
    console = [line for line in proc.stderr.splitlines() if ":CONSOLE" in line]
    assert not console, console


def test_risk_refuses_mismatched_shipped_reference(tmp_path):
    pq.write_table(pa.table({"text": ["some text here"] * 60}), tmp_path / "c.parquet")
    proc = subprocess.run(
        [sys.executable, "-m", "hygiene_cli", "risk", str(tmp_path / "c.parquet"), "--out", str(tmp_path / "o"),
         "--max-tokens", "32", "--threshold", "0", "--quiet"],
        capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 1
    assert "--detector-reference" in proc.stderr and "Traceback" not in proc.stderr
