"""Threshold semantics (flag = score >= threshold) and the calibration record."""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from detectors.calibration import Calibration, default_calibration, threshold_at_fpr


def flagged_fraction(scores: np.ndarray, threshold: float) -> float:
    return float(np.mean(np.asarray(scores, dtype=np.float64) >= threshold))


def test_threshold_flags_exactly_k_of_ten():
    scores = np.arange(1.0, 11.0)  # 1..10
    threshold = threshold_at_fpr(scores, 0.2)
    assert 8.0 < threshold <= np.nextafter(8.0, np.inf)
    assert flagged_fraction(scores, threshold) == 0.2  # 9 and 10
    assert flagged_fraction(scores, 8.0) == pytest.approx(0.3)  # one step lower flags one more


def test_threshold_order_does_not_matter():
    scores = np.array([3.0, 10.0, 1.0, 8.0, 9.0, 2.0, 5.0, 4.0, 7.0, 6.0])
    assert threshold_at_fpr(scores, 0.2) == threshold_at_fpr(np.sort(scores), 0.2)


def test_threshold_between_steps_rounds_down_to_allowed_count():
    scores = np.arange(1.0, 11.0)
    assert threshold_at_fpr(scores, 0.25) == threshold_at_fpr(scores, 0.2)  # k = 2 either way
    assert threshold_at_fpr(scores, 0.05) == np.nextafter(10.0, np.inf)  # k = 0


def test_threshold_with_ties_flags_fewer_rather_than_more():
    scores = np.array([5.0, 5.0, 5.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0])
    threshold = threshold_at_fpr(scores, 0.1)  # one may be flagged, but the top three tie
    assert threshold == np.nextafter(5.0, np.inf)
    assert flagged_fraction(scores, threshold) == 0.0


def test_threshold_extremes():
    scores = np.array([0.5, -1.0, 2.0])
    assert threshold_at_fpr(scores, 0.0) == np.nextafter(2.0, np.inf)
    assert threshold_at_fpr(scores, 1.0) == -math.inf
    assert threshold_at_fpr([4.0], 0.99) == np.nextafter(4.0, np.inf)


def test_threshold_survives_fpr_times_n_rounding():
    scores = np.arange(100.0)
    assert 0.29 * 100 < 29  # floating point: floor(fpr * n) alone would allow only 28
    threshold = threshold_at_fpr(scores, 0.29)
    assert flagged_fraction(scores, threshold) == 0.29


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.floats(-1e6, 1e6), min_size=1, max_size=60),
    st.floats(0.0, 1.0),
)
def test_threshold_is_the_smallest_within_fpr(values: list[float], fpr: float):
    scores = np.array(values)
    threshold = threshold_at_fpr(scores, fpr)
    assert flagged_fraction(scores, threshold) <= fpr
    if threshold != -math.inf:
        assert flagged_fraction(scores, np.nextafter(threshold, -np.inf)) > fpr


@pytest.mark.parametrize(
    ("scores", "fpr", "message"),
    [
        ([1.0, 2.0], -0.01, "fpr"),
        ([1.0, 2.0], 1.5, "fpr"),
        ([], 0.05, "empty"),
        ([1.0, float("nan")], 0.05, "indices \\[1\\]"),
        ([float("inf")], 0.05, "non-finite"),
    ],
)
def test_threshold_rejects_bad_input(scores, fpr, message):
    with pytest.raises(ValueError, match=message):
        threshold_at_fpr(scores, fpr)


def make_calibration(**overrides) -> Calibration:
    fields = {
        "detector": "zeroshot-likelihood",
        "statistic": "likelihood",
        "model": "SmolLM2-135M-Instruct.Q4_1",
        "max_tokens": 512,
        "threshold": -2.5,
        "target_fpr": 0.05,
        "n_human": 100,
        "source": "hand-made",
        "created": "2025-01-01",
    }
    return Calibration(**{**fields, **overrides})


def test_calibration_json_round_trip(tmp_path):
    calibration = make_calibration(tpr=0.8, auroc=0.9, threshold=float(np.nextafter(-2.5, np.inf)))
    path = tmp_path / "cal.json"
    calibration.to_json(path)
    assert Calibration.from_json(path) == calibration  # float64 survives exactly
    assert [p.name for p in tmp_path.iterdir()] == ["cal.json"]  # no temp file left behind


def test_calibration_flag_uses_greater_or_equal():
    calibration = make_calibration(threshold=1.0)
    assert calibration.flag(np.array([0.5, 1.0, 2.0, np.nan])).tolist() == [False, True, True, False]


def test_calibration_from_json_names_missing_and_unknown_keys(tmp_path):
    data = dataclasses.asdict(make_calibration())
    path = tmp_path / "cal.json"
    path.write_text(json.dumps({k: v for k, v in data.items() if k != "threshold"}))
    with pytest.raises(ValueError, match="missing keys \\['threshold'\\]"):
        Calibration.from_json(path)
    path.write_text(json.dumps({**data, "colour": "blue"}))
    with pytest.raises(ValueError, match="unknown keys \\['colour'\\]"):
        Calibration.from_json(path)


def test_calibration_validates_ranges():
    with pytest.raises(ValueError, match="target_fpr"):
        make_calibration(target_fpr=2.0)
    with pytest.raises(ValueError, match="n_human"):
        make_calibration(n_human=0)
    with pytest.raises(ValueError, match="NaN"):
        make_calibration(threshold=float("nan"))


def test_default_calibration_describes_the_default_detector():
    calibration = default_calibration()
    assert calibration.detector == "zeroshot-likelihood"
    assert calibration.statistic == "likelihood"
    assert calibration.model == "SmolLM2-135M-Instruct.Q4_1"
    assert calibration.max_tokens == 512
    assert calibration.target_fpr == 0.05
    assert math.isfinite(calibration.threshold)
    assert calibration.n_human > 1000
    assert "label 0" in calibration.source
