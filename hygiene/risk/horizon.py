"""Predicted collapse horizon: generations until collapse as a function of a training set's synthetic share.

The model, fitted on collapse_eval results (one row per seed x arm x generation, replace mode):

    log(perplexity_ratio(g)) = A * s**gamma * (1 - exp(-g / tau))

``perplexity_ratio(g)`` is held-out human perplexity at generation ``g`` over generation 0, and ``s`` the
synthetic fraction of the rows each generation trained on (0 for the human-only arm, the filter's leftover
share for the filtered arm, so a filter's quality enters through ``s``). The rise saturates: with human
data in every mix the error settles at ``A * s**gamma`` instead of growing without bound, as Shumailov et
al. and Gerstgrasser et al. report and as our own runs show (benchmarks/RESULTS.md). collapse_eval calls a
chain collapsed when the ratio reaches ``1 + rise``, which the model predicts at

    g* = -tau * log(1 - log(1 + rise) / (A * s**gamma))     (never, when A * s**gamma <= log(1 + rise)).

Parameters come from least squares; their uncertainty from a bootstrap over seeds (whole chains), kept
as parameter draws so any prediction gets an interval. The runs are small CPU-scale GPT-2 chains: read
horizons as relative (raw vs cleaned, one corpus vs another), not as a promise about a particular model.
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

HORIZON_FILE = "horizon_model.json"  # in hygiene/risk/data/
_START, _LOWER, _UPPER = (0.3, 1.0, 1.0), (1e-6, 0.1, 0.05), (20.0, 10.0, 100.0)


def _generations(params: np.ndarray, share: float, rise: float) -> np.ndarray:
    """g* for each row (A, gamma, tau) of ``params``; inf where the plateau stays below the collapse line."""
    amplitude, exponent, tau = params.T
    plateau = amplitude * max(share, 0.0) ** exponent
    line = math.log1p(rise)
    with np.errstate(divide="ignore", invalid="ignore"):
        g = -tau * np.log1p(-line / plateau)
    return np.where(plateau > line, g, np.inf)


@dataclass(frozen=True)
class HorizonModel:
    mode: str
    amplitude: float  # A
    exponent: float  # gamma
    tau: float  # generations to approach the plateau
    draws: tuple[tuple[float, float, float], ...]  # bootstrap parameter draws (A, gamma, tau)
    rise: float  # collapse = perplexity ratio >= 1 + rise (collapse_eval's definition)
    n_rows: int
    seeds: int
    residual_sd: float  # of log ratio around the fit
    source: str  # the collapse_eval run(s) the fit came from

    @property
    def params(self) -> np.ndarray:
        return np.array([[self.amplitude, self.exponent, self.tau]])

    def generations(self, share: float) -> float:
        """Predicted collapse generation (inf: no collapse predicted at this share)."""
        return float(_generations(self.params, share, self.rise)[0])

    def predict(self, share: float, low: float | None = None, high: float | None = None) -> dict[str, float]:
        """Horizon at ``share`` with a 95 % interval over the parameter draws and the share's (low, high)."""
        low = share if low is None else low
        high = share if high is None else high
        draws = np.asarray(self.draws) if self.draws else self.params
        return {
            "synthetic_share": share,
            "generations": self.generations(share),
            # "higher"/"lower" quantiles never interpolate between inf values (which would give NaN)
            "low": float(np.quantile(_generations(draws, high, self.rise), 0.025, method="lower")),
            "high": float(np.quantile(_generations(draws, low, self.rise), 0.975, method="higher")),
        }

    def curve(self, share: float, generations: int) -> list[float]:
        """Predicted perplexity ratio at generations 0..``generations``."""
        plateau = self.amplitude * max(share, 0.0) ** self.exponent
        return [math.exp(plateau * (1 - math.exp(-g / self.tau))) for g in range(generations + 1)]

    def max_share(self, target_generations: int) -> float:
        """The largest synthetic share whose predicted horizon reaches ``target_generations``."""
        reach = self.amplitude * (1 - math.exp(-target_generations / self.tau))
        return min(1.0, (math.log1p(self.rise) / reach) ** (1 / self.exponent))

    def predict_clean_vs_raw(self, prevalence) -> dict[str, Any]:
        """Horizon of the corpus as it is and after ``hygiene clean`` at the prevalence's threshold."""
        p = prevalence
        after = synthetic_share_after_cleaning(p.fraction, p.tpr, p.fpr)
        summary = {k: v for k, v in dataclasses.asdict(self).items() if k != "draws"}
        return {
            "model": summary,
            "raw": self.predict(p.fraction, p.low, p.high),
            "cleaned": self.predict(after, synthetic_share_after_cleaning(p.low, p.tpr, p.fpr),
                                    synthetic_share_after_cleaning(p.high, p.tpr, p.fpr)),
        }

    def to_json(self, path: str | Path) -> None:
        from hygiene.io.atomic import atomic_path

        data = dataclasses.asdict(self)
        data["draws"] = [[round(v, 6) for v in d] for d in self.draws]
        with atomic_path(Path(path)) as tmp:
            tmp.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")

    @classmethod
    def from_json(cls, path: str | Path) -> HorizonModel:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        return cls(**{**data, "draws": tuple(tuple(d) for d in data["draws"])})


def synthetic_share_after_cleaning(fraction: float, tpr: float, fpr: float) -> float:
    """Machine share left after removing flagged rows: missed machine rows over everything kept."""
    machine_left, human_left = fraction * (1 - tpr), (1 - fraction) * (1 - fpr)
    total = machine_left + human_left
    return machine_left / total if total > 0 else 0.0


def _fit(share: np.ndarray, generation: np.ndarray, log_ratio: np.ndarray) -> np.ndarray:
    from scipy.optimize import least_squares

    def residuals(p: np.ndarray) -> np.ndarray:
        return p[0] * share ** p[1] * (1 - np.exp(-generation / p[2])) - log_ratio

    return least_squares(residuals, _START, bounds=(_LOWER, _UPPER)).x


def fit_horizon(rows: Sequence[dict[str, Any]], *, rise: float, mode: str = "replace", source: str,
                bootstrap: int = 200, seed: int = 0) -> HorizonModel:
    """Fit on collapse_eval result rows of one mode (generation >= 1, finite ratios); bootstrap over seeds."""
    use = [r for r in rows if r["mode"] == mode and r["generation"] >= 1
           and math.isfinite(r["perplexity_ratio"]) and math.isfinite(r["synthetic_fraction"])]
    if not use:
        raise ValueError(f"no usable {mode}-mode rows with generation >= 1")
    share = np.array([r["synthetic_fraction"] for r in use])
    generation = np.array([r["generation"] for r in use], dtype=float)
    log_ratio = np.log([r["perplexity_ratio"] for r in use])
    seeds = sorted({r["seed"] for r in use})
    by_seed = [np.flatnonzero([r["seed"] == s for r in use]) for s in seeds]
    params = _fit(share, generation, log_ratio)
    rng = np.random.default_rng(seed)
    draws = []
    if len(seeds) > 1:  # resample whole seeds: the generations of one chain are not independent
        for _ in range(bootstrap):
            pick = np.concatenate([by_seed[i] for i in rng.integers(0, len(seeds), len(seeds))])
            draws.append(tuple(float(v) for v in _fit(share[pick], generation[pick], log_ratio[pick])))
    fitted = params[0] * share ** params[1] * (1 - np.exp(-generation / params[2]))
    return HorizonModel(mode=mode, amplitude=float(params[0]), exponent=float(params[1]), tau=float(params[2]),
                        draws=tuple(draws), rise=rise, n_rows=len(use), seeds=len(seeds),
                        residual_sd=float(np.std(log_ratio - fitted)), source=source)


def load_horizon_model(path: str | Path | None = None) -> HorizonModel:
    """The fitted model shipped in hygiene/risk/data (or one fitted on your own run)."""
    if path is not None:
        return HorizonModel.from_json(path)
    resource = importlib.resources.files("hygiene.risk").joinpath("data", HORIZON_FILE)
    with importlib.resources.as_file(resource) as file:
        if not file.is_file():
            raise FileNotFoundError(f"no fitted horizon model at {file}; run benchmarks/fit_horizon.py")
        return HorizonModel.from_json(file)
