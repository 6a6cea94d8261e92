"""Thresholds for detector scores, chosen at a target false-positive rate on human-written text.

A detector returns raw scores (higher = more likely machine); a :class:`Calibration` records the threshold
that turns them into flags, ``flag = score >= threshold``, together with how that threshold was chosen
(detector, statistic, scorer model, window, reference data, date), so a threshold is never separated
from the model pair and data it is valid for.
"""

from __future__ import annotations

import dataclasses
import importlib.resources
import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .files import write_text_atomic

__all__ = ["DEFAULT_CALIBRATION", "Calibration", "default_calibration", "threshold_at_fpr"]

DEFAULT_CALIBRATION = "smollm2-135m-likelihood.json"
"""File name, inside ``detectors/calibrations``, of the default detector's calibration."""


def threshold_at_fpr(human_scores: np.ndarray | list[float], fpr: float) -> float:
    """The smallest float64 threshold whose false-positive rate on ``human_scores`` is at most ``fpr``.

    A score is flagged when ``score >= threshold``. With ``n`` human scores, at most ``k`` of them may be
    flagged, ``k`` the largest integer with ``k / n <= fpr``; the threshold is the float64 just above the
    ``(k + 1)``-th largest human score, so exactly the human scores strictly above that one are flagged
    (fewer than ``k`` when it is tied with higher ones). Any lower float threshold flags ``k + 1`` or more.
    ``fpr = 0`` puts it just above the largest human score; when ``k == n`` (``fpr = 1``) every score
    may be flagged and the threshold is ``-inf``.

    Raises:
        ValueError: ``fpr`` outside [0, 1], no scores, or a NaN / infinite score.
    """
    if not 0.0 <= fpr <= 1.0:
        raise ValueError(f"fpr must be in [0, 1], got {fpr}")
    scores = np.asarray(human_scores, dtype=np.float64).ravel()
    if scores.size == 0:
        raise ValueError("human_scores is empty")
    if not np.isfinite(scores).all():
        bad = np.flatnonzero(~np.isfinite(scores))
        raise ValueError(f"human_scores has non-finite values at indices {bad[:20].tolist()}")
    n = scores.size
    k = math.floor(fpr * n)
    while k < n and (k + 1) / n <= fpr:  # guard against fpr * n rounding down (e.g. 0.29 * 100)
        k += 1
    while k > 0 and k / n > fpr:
        k -= 1
    if k >= n:
        return -math.inf
    pivot = np.sort(scores)[::-1][k]  # the (k + 1)-th largest
    return float(np.nextafter(pivot, np.inf))


@dataclass(frozen=True)
class Calibration:
    """A threshold for one detector configuration, and the provenance of that number.

    ``flag = score >= threshold``; ``target_fpr`` is the false-positive rate it was set for on
    ``n_human`` human-written documents described by ``source``.
    """

    detector: str
    statistic: str
    model: str
    max_tokens: int
    threshold: float
    target_fpr: float
    n_human: int
    source: str
    created: str
    tpr: float | None = None
    auroc: float | None = None

    def __post_init__(self) -> None:
        if not 0.0 <= self.target_fpr <= 1.0:
            raise ValueError(f"target_fpr must be in [0, 1], got {self.target_fpr}")
        if self.n_human < 1:
            raise ValueError(f"n_human must be >= 1, got {self.n_human}")
        if self.max_tokens < 1:
            raise ValueError(f"max_tokens must be >= 1, got {self.max_tokens}")
        if math.isnan(self.threshold):
            raise ValueError("threshold is NaN")

    def flag(self, scores: np.ndarray) -> np.ndarray:
        """Boolean flags, ``scores >= threshold`` (NaN scores are never flagged)."""
        return np.asarray(scores, dtype=np.float64) >= self.threshold

    def to_json(self, path: str | Path) -> None:
        """Write as indented JSON, atomically (temp file + rename)."""
        write_text_atomic(path, json.dumps(dataclasses.asdict(self), indent=2) + "\n")

    @classmethod
    def from_json(cls, path: str | Path) -> Calibration:
        """Read a file written by :meth:`to_json`; missing or unknown keys raise ``ValueError``."""
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise TypeError(f"{path}: expected a JSON object, got {type(data).__name__}")
        fields = {field.name for field in dataclasses.fields(cls)}
        required = {f.name for f in dataclasses.fields(cls) if f.default is dataclasses.MISSING}
        if missing := sorted(required - data.keys()):
            raise ValueError(f"{path}: missing keys {missing}")
        if unknown := sorted(data.keys() - fields):
            raise ValueError(f"{path}: unknown keys {unknown}")
        return cls(**data)


def default_calibration() -> Calibration:
    """The shipped calibration of the default detector (SmolLM2-135M, likelihood, 512 tokens, 5 % FPR)."""
    resource = importlib.resources.files("detectors").joinpath("calibrations", DEFAULT_CALIBRATION)
    with importlib.resources.as_file(resource) as path:
        return Calibration.from_json(path)
