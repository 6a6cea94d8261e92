"""The one detector factory: a job's detector settings -> the detector that scores documents, or none.

``detector.kind`` (``--detector`` on the command line, ``[detector] kind`` in TOML, ``config.detector.kind``
in a REST job) names it:

- ``zeroshot`` (default): one causal LM's token statistics; ``statistic`` decides (detectors/zeroshot.py);
- ``binoculars``: observer (``model``) / performer (``performer``, default the observer) perplexity ratio;
- ``features`` / ``features-chat``: the trained model directories that ship in the package
  (:mod:`detectors.shipped`), by name;
- a model directory written by ``hygiene train-detector`` (recognised by its ``detector.json``): its ONNX
  head, its P(machine) calibration and its threshold; the head reads the zero-shot statistics of one pass
  (format ``corpus-hygiene-supervised``) or, trained with ``--features``, the per-token feature families of
  :mod:`detectors.features`, one pass per context (``corpus-hygiene-features``, :mod:`detectors.learned`);
  or it holds no head of its own but feature model directories as experts, the larger of their shifted
  logits deciding (``corpus-hygiene-experts``, :mod:`detectors.experts`; its ``features`` entry names the
  first expert's scorer and the longest window);
- ``none``: no model is loaded at all; the pipeline only deduplicates.

A detector has ``name`` and ``statistics(texts) -> dict[str, np.ndarray]``. :class:`Scoring` says, without
loading anything, which statistic decides and which way round, what window it reads and what threshold
and reference the detector brings itself; thresholds, risk and the service read it from here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from detectors.shipped import SHIPPED_MODELS, shipped_model
from detectors.statistics import SCORE_SIGN, STATISTICS
from hygiene.errors import ConfigError

if TYPE_CHECKING:
    from hygiene.config import DetectorSettings

__all__ = ["ZEROSHOT", "BINOCULARS", "NONE", "TRAINED", "KINDS", "MODEL_FILE", "REFERENCE_FILE", "Detector",
           "Scoring", "scoring", "build_detector", "trained_meta", "save_reference"]

ZEROSHOT, BINOCULARS, NONE, TRAINED = "zeroshot", "binoculars", "none", "trained"
KINDS = (ZEROSHOT, BINOCULARS, NONE, *SHIPPED_MODELS)  # and any model directory
MODEL_FILE = "detector.json"  # what marks a directory as a trained detector
REFERENCE_FILE = "reference_scores.json"  # out-of-fold scores of the training rows, for `risk`
_BINOCULARS_STATS = ("binoculars", "log_ppl", "x_ppl")


class Detector(Protocol):
    """What the pipeline needs from a detector: every statistic of a batch from one model pass."""

    name: str

    def statistics(self, texts: list[str]) -> dict[str, np.ndarray]: ...


@dataclass(frozen=True)
class Scoring:
    """How a detector's statistics become the deciding score (higher = more machine-like)."""

    kind: str  # ZEROSHOT, BINOCULARS or TRAINED
    key: str  # the statistic that decides; a calibration names it as its `statistic`
    sign: float
    model: str | None  # the scorer LM as configured (None: the offline default)
    max_tokens: int
    normalize: str
    columns: tuple[str, ...]  # statistics written beside the score
    path: Path | None = None  # the model directory (trained)
    threshold: float | None = None  # the detector's own threshold (trained)
    threshold_source: str = ""
    probability: bool = False  # its statistics carry a calibrated `p_machine`

    def score(self, stats: dict[str, np.ndarray]) -> np.ndarray:
        return self.sign * np.asarray(stats[self.key], dtype=np.float64)


def trained_meta(path: str | Path) -> dict[str, Any]:
    """The ``detector.json`` of a model directory (read, nothing loaded)."""
    meta_path = Path(path) / MODEL_FILE
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{meta_path}: not a readable detector description ({exc})") from exc
    for key in ("features", "threshold", "format"):
        if key not in meta:
            raise ConfigError(f"{meta_path}: no {key!r} entry; is this a directory from train-detector?")
    return meta


def scoring(settings: DetectorSettings) -> Scoring | None:
    """What the detector of ``settings`` decides on; None for ``none``. Raises ConfigError for an unknown kind."""
    kind = settings.kind
    if kind == NONE:
        return None
    if kind == ZEROSHOT:
        return Scoring(ZEROSHOT, settings.statistic, SCORE_SIGN[settings.statistic], settings.model,
                       settings.max_tokens, settings.normalize, STATISTICS)
    if kind == BINOCULARS:
        return Scoring(BINOCULARS, "binoculars", -1.0, settings.model, settings.max_tokens, settings.normalize,
                       _BINOCULARS_STATS)
    shipped = shipped_model(kind)
    path = shipped or Path(kind)
    if not (path / MODEL_FILE).is_file():
        raise ConfigError(f"detector {kind!r} is none of {', '.join(KINDS)} and not a model directory "
                          f"(a directory with {MODEL_FILE}, written by hygiene train-detector)")
    meta = trained_meta(path)
    features, threshold = meta["features"], meta["threshold"]
    fpr = threshold.get("target_fpr")
    return Scoring(TRAINED, "supervised", 1.0, features.get("scorer"), int(features.get("max_tokens", 512)),
                   features.get("normalize", "none"), (*STATISTICS, "supervised"), path=path,
                   threshold=float(threshold["logit"]),
                   threshold_source=(f"shipped detector {kind}" if shipped else f"model directory {path}")
                   + (f" ({fpr:.0%} FPR on out-of-fold scores)" if fpr is not None else ""),
                   probability=True)


def build_detector(settings: DetectorSettings, *, lm=None) -> Detector | None:
    """Load the detector ``settings`` describe (None for ``none``: nothing is loaded).

    ``lm`` reuses an already loaded scorer LM (the service shares one between /v1/score and its jobs);
    it must be the model the settings name.
    """
    spec = scoring(settings)
    if spec is None:
        return None
    if spec.kind == TRAINED:
        return _load_trained(spec.path, lm=lm, device=settings.device, batch_size=settings.batch_size)
    from detectors.lm import load_causal_lm
    from detectors.zeroshot import max_text_tokens
    from hygiene.config import check_model_window

    lm = lm if lm is not None else load_causal_lm(settings.model, device=settings.device)
    check_model_window(settings, max_text_tokens(lm))
    if spec.kind == BINOCULARS:
        from detectors.binoculars import BinocularsDetector

        performer = lm if settings.performer is None else load_causal_lm(settings.performer, device=settings.device)
        try:
            return BinocularsDetector(lm, performer, max_tokens=settings.max_tokens, batch_size=settings.batch_size,
                                      batch_tokens=settings.batch_tokens, normalize=settings.normalize)
        except ValueError as exc:  # observer and performer do not share a tokenizer, or a window is too long
            raise ConfigError(f"binoculars detector: {exc}") from exc
    from detectors.zeroshot import ZeroShotDetector

    try:
        return ZeroShotDetector(lm, statistic=settings.statistic, max_tokens=settings.max_tokens,
                                batch_size=settings.batch_size, batch_tokens=settings.batch_tokens,
                                normalize=settings.normalize)
    except ValueError as exc:
        raise ConfigError(f"zero-shot detector: {exc}") from exc


def _load_trained(path: Path, *, lm, device: str | None, batch_size: int) -> Detector:
    """Whichever trained format the directory holds (detectors.learned.load_trained reads its ``format``)."""
    from detectors.learned import load_trained
    if lm is not None and lm.name != trained_meta(path)["features"].get("scorer"):
        lm = None  # trained on another scorer: let the directory load its own
    try:
        return load_trained(path, lm=lm, device=device, batch_size=batch_size)
    # unknown format or version, scorer mismatch, no model.onnx, a packaged scorer whose package is not installed
    except (ValueError, FileNotFoundError, ModuleNotFoundError) as exc:
        raise ConfigError(f"model directory {path}: {exc}") from exc


def save_reference(model_dir: str | Path, logits: np.ndarray, labels: np.ndarray, *, name: str, scorer: str,
                   max_tokens: int, source: str) -> Path:
    """Store a trained detector's out-of-fold training scores in its directory (``risk``'s default reference)."""
    from datetime import UTC, datetime

    from detectors.reference import ReferenceScores

    logits, labels = np.asarray(logits, dtype=np.float64), np.asarray(labels)
    ref = ReferenceScores(detector=name, statistic="supervised", model=scorer, max_tokens=max_tokens,
                          human=tuple(logits[labels == 0].tolist()), machine=tuple(logits[labels == 1].tolist()),
                          source=source, created=datetime.now(UTC).isoformat(timespec="seconds"))
    path = Path(model_dir) / REFERENCE_FILE
    ref.to_json(path)
    return path
