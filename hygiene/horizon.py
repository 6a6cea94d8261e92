"""Predicted collapse horizon: generations until collapse as a function of a training set's synthetic share.

The model, fitted on collapse_eval results (one row per seed x arm x generation):

    log(perplexity_ratio(g)) = beta * s * g

``perplexity_ratio(g)`` is held-out human perplexity at generation ``g`` over generation 0 and ``s`` the
synthetic fraction of the rows each generation trained on (0 for the human-only arm, the filter's leftover
share for the filtered arm, so the filter's quality enters through ``s``). ``beta`` is fitted per mode
(replace / accumulate) by least squares through the origin, with a bootstrap over seeds for its interval.
collapse_eval calls a chain collapsed when the ratio reaches ``1 + rise``; the model predicts that at

    g* = log(1 + rise) / (beta * s)      (infinite for s = 0).

This is deliberately simple: one parameter per mode, linear in ``s`` and ``g`` on the log scale. It
extrapolates from small CPU-scale GPT-2 runs to any corpus; treat horizons as relative (raw vs cleaned,
this corpus vs another), not as a promise about a particular model. The fitted file records the run.
"""

from __future__ import annotations

import dataclasses
import importlib.resources
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["HorizonModel", "fit_horizon", "load_horizon_model", "synthetic_share_after_cleaning", "HORIZON_FILE"]

HORIZON_FILE = "horizon_model.json"  # inside the collapse_eval package's data/ folder


@dataclass(frozen=True)
class HorizonModel:
    mode: str
    beta: float
    beta_low: float
    beta_high: float
    rise: float  # collapse = perplexity ratio >= 1 + rise (collapse_eval's definition)
    n_rows: int
    seeds: int
    residual_sd: float  # of log ratio around the fit
    source: str  # the collapse_eval run the fit came from

    def generations(self, share: float, beta: float | None = None) -> float:
        """Predicted collapse generation for a synthetic share (inf when nothing synthetic or beta <= 0)."""
        beta = self.beta if beta is None else beta
        if share <= 0 or beta <= 0:
            return math.inf
        return math.log1p(self.rise) / (beta * share)

    def predict(self, share: float, low: float | None = None, high: float | None = None) -> dict[str, float]:
        """Horizon at ``share``; its interval combines beta's interval with the share's own (low, high)."""
        low = share if low is None else low
        high = share if high is None else high
        return {
            "synthetic_share": share,
            "generations": self.generations(share),
            "low": self.generations(high, self.beta_high),  # most synthetic, steepest fit: soonest
            "high": self.generations(low, self.beta_low),
        }

    def curve(self, share: float, generations: int) -> list[float]:
        """Predicted perplexity ratio at generations 0..``generations``."""
        return [math.exp(self.beta * share * g) for g in range(generations + 1)]

    def predict_clean_vs_raw(self, prevalence) -> dict[str, Any]:
        """Horizon of the corpus as it is and after ``hygiene clean`` at the prevalence's threshold."""
        p = prevalence
        after = synthetic_share_after_cleaning(p.fraction, p.tpr, p.fpr)
        return {
            "model": dataclasses.asdict(self),
            "raw": self.predict(p.fraction, p.low, p.high),
            "cleaned": self.predict(after, synthetic_share_after_cleaning(p.low, p.tpr, p.fpr),
                                    synthetic_share_after_cleaning(p.high, p.tpr, p.fpr)),
        }

    def to_json(self, path: str | Path) -> None:
        from .atomic import atomic_path

        with atomic_path(Path(path)) as tmp:
            tmp.write_text(json.dumps(dataclasses.asdict(self), indent=2) + "\n", encoding="utf-8")

    @classmethod
    def from_json(cls, path: str | Path) -> HorizonModel:
        return cls(**json.loads(Path(path).read_text(encoding="utf-8")))


def synthetic_share_after_cleaning(fraction: float, tpr: float, fpr: float) -> float:
    """Machine share left after removing flagged rows: missed machine rows over everything kept."""
    machine_left, human_left = fraction * (1 - tpr), (1 - fraction) * (1 - fpr)
    total = machine_left + human_left
    return machine_left / total if total > 0 else 0.0


def _slope(x: np.ndarray, y: np.ndarray) -> float:
    denominator = float(np.sum(x * x))
    return float(np.sum(x * y) / denominator) if denominator > 0 else float("nan")


def fit_horizon(rows: Sequence[dict[str, Any]], *, rise: float, mode: str = "replace", source: str,
                bootstrap: int = 2000, seed: int = 0) -> HorizonModel:
    """Fit ``beta`` on collapse_eval result rows of one mode (generation >= 1, finite ratios)."""
    use = [r for r in rows if r["mode"] == mode and r["generation"] >= 1
           and math.isfinite(r["perplexity_ratio"]) and math.isfinite(r["synthetic_fraction"])]
    if not use:
        raise ValueError(f"no usable {mode}-mode rows with generation >= 1")
    seeds = sorted({r["seed"] for r in use})
    x = np.array([r["synthetic_fraction"] * r["generation"] for r in use])
    y = np.log([r["perplexity_ratio"] for r in use])
    by_seed = np.array([seeds.index(r["seed"]) for r in use])
    beta = _slope(x, y)
    rng = np.random.default_rng(seed)
    draws = []
    for _ in range(bootstrap):  # resample whole seeds: generations of one chain are not independent
        pick = np.concatenate([np.flatnonzero(by_seed == s) for s in rng.integers(0, len(seeds), len(seeds))])
        draws.append(_slope(x[pick], y[pick]))
    low, high = np.quantile(draws, [0.025, 0.975]) if len(seeds) > 1 else (beta, beta)
    return HorizonModel(mode=mode, beta=beta, beta_low=float(low), beta_high=float(high), rise=rise,
                        n_rows=len(use), seeds=len(seeds), residual_sd=float(np.std(y - beta * x)), source=source)


def load_horizon_model(path: str | Path | None = None) -> HorizonModel:
    """The fitted model shipped in collapse_eval/data (or one fitted on your own run)."""
    if path is not None:
        return HorizonModel.from_json(path)
    resource = importlib.resources.files("collapse_eval").joinpath("data", HORIZON_FILE)
    with importlib.resources.as_file(resource) as file:
        if not file.is_file():
            raise FileNotFoundError(f"no fitted horizon model at {file}; run collapse_eval/fit_horizon.py")
        return HorizonModel.from_json(file)
