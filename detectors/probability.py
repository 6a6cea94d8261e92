"""Raw detector score -> P(machine-generated), fitted with scikit-learn (Platt or isotonic), plus the
reliability-diagram data that shows whether the probabilities mean what they say.

Fit on scores the detector produced for documents it was *not* trained on (out-of-fold scores), else the
probabilities are over-confident. The fitted map is stored as plain numbers (JSON-safe), so a saved model
needs scikit-learn only to fit, never to serve.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

__all__ = ["ProbabilityCalibration", "reliability"]

METHODS = ("platt", "isotonic")


@dataclass(frozen=True)
class ProbabilityCalibration:
    """``platt``: p = sigmoid(a * score + b). ``isotonic``: piecewise-linear through (x, y), clipped at the ends."""

    method: str
    a: float = 0.0
    b: float = 0.0
    x: list[float] = field(default_factory=list)
    y: list[float] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, got {self.method!r}")
        if self.method == "isotonic" and (len(self.x) != len(self.y) or not self.x):
            raise ValueError("isotonic calibration needs equal-length, non-empty x and y")

    @classmethod
    def fit(cls, scores: np.ndarray, labels: np.ndarray, method: str = "isotonic") -> ProbabilityCalibration:
        scores, labels = _check(scores, labels)
        if method == "platt":
            from sklearn.linear_model import LogisticRegression

            model = LogisticRegression(C=1e6).fit(scores[:, None], labels)
            return cls("platt", a=float(model.coef_[0, 0]), b=float(model.intercept_[0]))
        if method == "isotonic":
            from sklearn.isotonic import IsotonicRegression

            model = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(scores, labels)
            return cls("isotonic", x=model.X_thresholds_.tolist(), y=model.y_thresholds_.tolist())
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")

    def predict(self, scores: np.ndarray) -> np.ndarray:
        """P(machine) for each score; NaN stays NaN."""
        scores = np.asarray(scores, dtype=np.float64)
        if self.method == "platt":
            with np.errstate(over="ignore"):
                return 1.0 / (1.0 + np.exp(-(self.a * scores + self.b)))
        return np.interp(scores, self.x, self.y)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> ProbabilityCalibration:
        return cls(**data)


def reliability(probabilities: np.ndarray, labels: np.ndarray, bins: int = 10) -> list[dict]:
    """Reliability-diagram rows: per equal-width probability bin, its count, mean predicted P(machine) and
    the observed fraction of machine documents (a calibrated model has the two equal)."""
    probabilities, labels = _check(probabilities, labels)
    edges = np.linspace(0.0, 1.0, bins + 1)
    index = np.clip(np.digitize(probabilities, edges[1:-1]), 0, bins - 1)
    rows = []
    for b in range(bins):
        inside = index == b
        n = int(inside.sum())
        rows.append({
            "lo": float(edges[b]), "hi": float(edges[b + 1]), "n": n,
            "mean_predicted": float(probabilities[inside].mean()) if n else None,
            "fraction_machine": float(labels[inside].mean()) if n else None,
        })
    return rows


def _check(scores: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    scores = np.asarray(scores, dtype=np.float64).ravel()
    labels = np.asarray(labels).ravel()
    if scores.shape != labels.shape:
        raise ValueError(f"{scores.size} scores but {labels.size} labels")
    if not np.isin(labels, (0, 1)).all():
        raise ValueError("labels must be 0 (human) or 1 (machine)")
    if not np.isfinite(scores).all():
        raise ValueError("scores must be finite (drop NaN rows first)")
    return scores, labels.astype(np.int64)
