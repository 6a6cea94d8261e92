"""The one detector factory and every kind it builds, used the way users do: zeroshot settings, binoculars
with two tiny random-weight models sharing a tokenizer, a model directory written by `train-detector`
(clean, score, risk, serve), and none."""

from __future__ import annotations

import json
import random
from pathlib import Path

import httpx
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from detector_support import clean_with_model_dir, hygiene, risk_with_model_dir, score_as_the_detector_does
from pydantic import ValidationError
from service_support import thread_server, wait_job, wait_ready

from hygiene.config import CleanConfig, DetectorSettings, load_config
from hygiene.detector import REFERENCE_FILE, build_detector, scoring
from hygiene.errors import ConfigError, ThresholdError
from hygiene.io import columns as C
from hygiene.thresholds import resolve_threshold
from hygiene_cli.main import build_parser
from hygiene_cli.options import flags_for

_VOCAB = ["".join(random.Random(i).choices("aeioubcdfghklmnprstvw", k=3 + i % 6)) for i in range(600)]
_SUBJECTS = ["The weather", "The old library", "Our small team", "The city council", "The river", "The museum"]
_VERBS = ["opened early today", "was busy all week", "announced a new plan", "welcomed many visitors",
          "closed for repairs", "shared good news"]


def _human(rng: random.Random) -> str:
    return " ".join(rng.choice(_VOCAB) for _ in range(rng.randint(20, 30))).capitalize() + "."


def _fluent(rng: random.Random) -> str:
    return " ".join(f"{rng.choice(_SUBJECTS)} {rng.choice(_VERBS)}." for _ in range(4))


def test_scoring_describes_each_kind_without_loading_anything(tmp_path):
    z = scoring(DetectorSettings(statistic="entropy", max_tokens=64))
    assert (z.kind, z.key, z.sign, z.max_tokens) == ("zeroshot", "entropy", -1.0, 64)
    b = scoring(DetectorSettings(kind="binoculars"))
    assert (b.key, b.sign, b.columns) == ("binoculars", -1.0, ("binoculars", "log_ppl", "x_ppl"))
    assert scoring(DetectorSettings(kind="none")) is None and build_detector(DetectorSettings(kind="none")) is None
    kinds = "zeroshot, binoculars, none, features, features-chat, gemma-features"
    with pytest.raises(ConfigError, match=f"none of {kinds} and not a"):
        scoring(DetectorSettings(kind=str(tmp_path)))
    (tmp_path / "detector.json").write_text(json.dumps({
        "format": "corpus-hygiene-supervised", "features": {"scorer": "m", "max_tokens": 48, "normalize": "nfkc"},
        "threshold": {"logit": 1.25, "target_fpr": 0.01}}))
    t = scoring(DetectorSettings(kind=str(tmp_path), max_tokens=512))
    assert (t.kind, t.key, t.max_tokens, t.normalize, t.threshold) == ("trained", "supervised", 48, "nfkc", 1.25)
    # a setting only another kind reads is refused, not ignored
    for kind in ("features-chat", "binoculars", str(tmp_path)):
        with pytest.raises(ValidationError, match="chooses the zeroshot detector's statistic"):
            DetectorSettings(kind=kind, statistic="entropy")
    with pytest.raises(ValidationError, match="binoculars detector's second model; the 'zeroshot' detector"):
        DetectorSettings(performer="some/model")


def test_a_window_scorer_or_normalisation_beside_a_trained_detector_is_refused(tmp_path):
    for key, value in (("max_tokens", 128), ("model", "some/model"), ("normalize", "nfkc")):
        with pytest.raises(ConfigError, match=f"`{key}` = {value!r} is not read by the 'features-chat' detector"):
            load_config(None, {"detector.kind": "features-chat", f"detector.{key}": value})
    (tmp_path / "job.toml").write_text(f'[detector]\nkind = "{tmp_path}"\nmax_tokens = 64\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="`max_tokens` = 64 is not read by") as caught:
        load_config(tmp_path / "job.toml")
    assert caught.value.setting == "detector.max_tokens"
    # the kinds that read them take them; a REST job's config (not a file or flags) inherits the server's window
    assert load_config(None, {"detector.kind": "binoculars", "detector.max_tokens": 64}).detector.max_tokens == 64
    assert CleanConfig.model_validate({"detector": {"kind": "features-chat", "max_tokens": 64}}).detector.kind


def test_a_setting_the_detector_ignores_is_a_clear_cli_error(tmp_path):
    (tmp_path / "a.jsonl").write_text('{"text": "a short document"}\n', encoding="utf-8")
    run = hygiene("score", tmp_path / "a.jsonl", "--out", tmp_path / "out", "--detector", "features-chat",
                  "--statistic", "entropy")
    assert run.returncode != 0 and not (tmp_path / "out").exists()
    assert "--statistic 'entropy' chooses the zeroshot detector's statistic; the 'features-chat'" in run.stderr
    run = hygiene("score", tmp_path / "a.jsonl", "--out", tmp_path / "out", "--detector", "features",
                  "--max-tokens", 64)
    assert run.returncode != 0 and not (tmp_path / "out").exists()
    assert "--max-tokens = 64 is not read by the 'features' detector" in run.stderr


def test_thresholds_follow_the_detector_kind(tmp_path):
    assert resolve_threshold(CleanConfig(detector=DetectorSettings(kind="none"))) is None
    with pytest.raises(ThresholdError, match="no shipped calibration for the binoculars detector: set `threshold`"):
        resolve_threshold(CleanConfig(detector=DetectorSettings(kind="binoculars")))
    assert resolve_threshold(CleanConfig(threshold=0.1, detector=DetectorSettings(kind="binoculars"))).value == 0.1
    (tmp_path / "detector.json").write_text(json.dumps({
        "format": "corpus-hygiene-supervised", "features": {"scorer": "m", "max_tokens": 48},
        "threshold": {"logit": 1.25, "target_fpr": 0.01}}))
    own = resolve_threshold(CleanConfig(detector=DetectorSettings(kind=str(tmp_path))))
    assert own.value == 1.25 and own.source.startswith(f"model directory {tmp_path}")
    with pytest.raises(ThresholdError, match="statistic=supervised max_tokens=48"):  # a zero-shot calibration
        resolve_threshold(load_config(None, {"detector.kind": str(tmp_path), "calibration": str(_shipped())}))


def _shipped() -> Path:
    import importlib.resources

    from detectors.calibration import DEFAULT_CALIBRATION

    return Path(str(importlib.resources.files("detectors").joinpath("calibrations", DEFAULT_CALIBRATION)))


def test_core_messages_name_settings_and_the_cli_shows_flags():
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command").choices
    message = "set `threshold`, or `calibration`; give `detector_reference`; `not_a_flag` stays"
    assert flags_for(message, sub["risk"]) == ("set --threshold, or --calibration; give --detector-reference; "
                                               "`not_a_flag` stays")
    assert "--overwrite" in flags_for("set `overwrite` to replace it", sub["clean"])


def test_detector_option_is_one_option_everywhere():
    sub = next(a for a in build_parser()._actions if a.dest == "command").choices
    for command in ("clean", "score", "calibrate", "eval-detector", "risk", "serve"):
        helps = {o: a.help for a in sub[command]._actions for o in a.option_strings}
        assert "--detector" in helps and "train-detector" in helps["--detector"], command
        assert {"--model", "--statistic", "--normalize", "--max-tokens", "--performer"} <= set(helps), command


def test_a_server_without_a_detector_runs_dedup_jobs(tmp_path):
    from service import create_app, load_settings

    (tmp_path / "data").mkdir()
    rng = random.Random(9)
    texts = [_human(rng) for _ in range(12)]
    pq.write_table(pa.table({"text": texts + texts[:3]}), tmp_path / "data" / "a.parquet")
    settings = load_settings(env={}, service={"output_root": str(tmp_path / "jobs"),
                                              "data_roots": [str(tmp_path / "data")]}, job={"detector.kind": "none"})
    with thread_server(create_app(settings)) as base:
        wait_ready(base, timeout=60)  # nothing to load
        with httpx.Client(base_url=base, timeout=60) as client:
            refused = client.post("/v1/score", json={"texts": ["some text"]})
            assert refused.status_code == 409 and refused.json()["error"]["code"] == "no_detector"
            job = client.post("/v1/jobs", json={"kind": "clean", "inputs": ["a.parquet"]}).json()
            done = wait_job(client, job["id"], timeout=120)
            assert done["state"] == "succeeded", done
            assert done["counts"]["removed_by_reason"] == {"exact_duplicate": 3, "near_duplicate": 0,
                                                           "machine_generated": 0}


# --- binoculars with two tiny models -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory):
    """Two random-weight Llama models (different seeds) sharing the default LM's tokenizer."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from detectors.lm import load_causal_lm

    tokenizer = load_causal_lm(None, device="cpu").tokenizer
    root = tmp_path_factory.mktemp("tiny")
    paths = []
    for seed in (1, 2):
        torch.manual_seed(seed)
        config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                             num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
                             bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                             pad_token_id=tokenizer.pad_token_id, tie_word_embeddings=True)
        path = root / f"tiny-{seed}"
        LlamaForCausalLM(config).save_pretrained(path)
        tokenizer.save_pretrained(path)
        paths.append(path)
    return paths


def test_binoculars_cleans_with_two_tiny_models(tiny_models, tmp_path):
    observer, performer = tiny_models
    rng = random.Random(3)
    texts = [_human(rng) for _ in range(10)] + [_fluent(rng) for _ in range(4)]
    pq.write_table(pa.table({"text": texts + [texts[0]]}), tmp_path / "a.parquet")
    args = ["a.parquet", "--detector", "binoculars", "--model", observer, "--performer", performer,
            "--max-tokens", "32", "--device", "cpu", "--quiet"]
    refused = hygiene("clean", *args, "--out", "refused", cwd=tmp_path)
    assert refused.returncode == 1 and "set --threshold" in refused.stderr  # no shipped binoculars threshold
    done = hygiene("score", *args, "--out", "out", "--threshold", "-1.0", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    m = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert m["detector"]["name"] == "binoculars" and m["config"]["detector"]["performer"] == str(performer)
    assert m["counts"]["scored"] == 15 and m["counts"]["would_remove_by_reason"]["exact_duplicate"] == 1
    rows = pq.read_table(tmp_path / "out" / "scored" / "a.parquet").to_pylist()
    for row in rows:
        assert row[C.SCORE] == pytest.approx(-row[C.statistic_column("binoculars")])
        assert row[C.statistic_column("x_ppl")] > 0 and C.statistic_column("likelihood") not in row
    # the performer is really the second model: one model alone scores differently
    pair = build_detector(DetectorSettings(kind="binoculars", model=str(observer), performer=str(performer),
                                           max_tokens=32, device="cpu"))
    alone = build_detector(DetectorSettings(kind="binoculars", model=str(observer), max_tokens=32, device="cpu"))
    got = pair.statistics(texts[:3])["binoculars"]
    assert np.allclose(-got, [r[C.SCORE] for r in rows[:3]], atol=1e-5)
    assert not np.allclose(got, alone.statistics(texts[:3])["binoculars"], atol=1e-3)


# --- a model directory from train-detector -------------------------------------------------------------------


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """`hygiene train-detector` on 24 human (random words) + 24 fluent rows, 32-token window."""
    tmp = tmp_path_factory.mktemp("trained")
    rng = random.Random(5)
    rows = [{"text": _human(rng), "label": 0} for _ in range(24)] + [{"text": _fluent(rng), "label": 1}
                                                                      for _ in range(24)]
    (tmp / "train.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    run = hygiene("train-detector", tmp / "train.jsonl", "--out", tmp / "model", "--max-tokens", "32", "--hidden", "0",
                  "--fpr", "0.05", "--quiet")
    assert run.returncode == 0, run.stderr
    corpus = [_human(rng) for _ in range(45)] + [_fluent(rng) for _ in range(15)]
    pq.write_table(pa.table({"text": corpus + corpus[:2]}), tmp / "corpus.parquet")
    return tmp, tmp / "model"


def test_model_directory_keeps_its_reference_scores(trained):
    _, model = trained
    ref = json.loads((model / REFERENCE_FILE).read_text())
    assert ref["statistic"] == "supervised" and len(ref["human"]) == len(ref["machine"]) == 24


def test_model_directory_cleans_a_shard(trained):
    tmp, model = trained
    clean_with_model_dir(tmp, model, "supervised:model")
    removed = pq.read_table(tmp / "clean" / "removed" / "corpus.parquet").to_pylist()
    machine = [r for r in removed if r[C.REASON] == "machine_generated"]
    assert all(0.0 <= r[C.P_MACHINE] <= 1.0 and r[C.SCORE] == r[C.statistic_column("supervised")] for r in machine)


def test_model_directory_scores_a_shard_as_the_detector_does(trained):
    tmp, model = trained
    rows, threshold = score_as_the_detector_does(tmp, model)
    assert all(r[C.MACHINE] == (r[C.SCORE] >= threshold) for r in rows)


def test_model_directory_drives_risk_with_its_own_reference(trained):
    tmp, model = trained
    result = risk_with_model_dir(tmp, model)
    assert 0.0 <= result["machine_fraction"]["low"] <= result["machine_fraction"]["high"] <= 1.0


def test_model_directory_is_served(trained):
    tmp, model = trained
    from service import create_app, load_settings

    settings = load_settings(env={}, service={"output_root": str(tmp / "jobs"), "data_roots": [str(tmp)]},
                             job={"detector.kind": str(model), "detector.device": "cpu"})
    texts = [r["text"] for r in pq.read_table(tmp / "corpus.parquet").to_pylist()[40:50]]
    with thread_server(create_app(settings)) as base:  # the detector loads in the background, as in `serve`
        wait_ready(base)
        with httpx.Client(base_url=base, timeout=120) as client:
            body = client.post("/v1/score", json={"texts": texts}).json()
            info = body["detector"]
            assert info["name"] == "supervised:model" and info["statistic"] == "supervised"
            assert info["threshold_source"].startswith("model directory") and info["max_tokens"] == 32
            direct = build_detector(settings.job.detector).statistics(texts)
            for result, logit, p in zip(body["results"], direct["supervised"], direct["p_machine"]):
                assert result["score"] == pytest.approx(logit, abs=1e-5)
                assert result["probability"] == pytest.approx(p, abs=1e-6)  # the directory's own calibration
                assert result["decision"] == ("machine" if logit >= info["threshold"] else "human")
            job = client.post("/v1/jobs", json={"kind": "clean", "inputs": ["corpus.parquet"]}).json()
            done = wait_job(client, job["id"], timeout=300)
            assert done["state"] == "succeeded", done
            assert done["counts"]["removed_by_reason"]["exact_duplicate"] == 2
            other = client.post("/v1/jobs", json={"kind": "clean", "inputs": ["corpus.parquet"],
                                                  "config": {"detector": {"kind": str(tmp)}}})
            assert other.status_code == 403  # another model directory is not a client's choice
            dedup = client.post("/v1/jobs", json={"kind": "clean", "inputs": ["corpus.parquet"],
                                                  "config": {"detector": {"kind": "none"}}}).json()
            done = wait_job(client, dedup["id"], timeout=120)
            assert done["state"] == "succeeded" and done["counts"]["removed_by_reason"]["machine_generated"] == 0
