"""Is a corpus inside the domain a detector was calibrated on? A goodness-of-fit test of its scores.

A calibration (threshold, reference scores) holds for text like the text it was fitted on. A corpus from
that domain, whatever its machine share, has scores distributed as a *mixture* of the reference's human
and machine score distributions; a corpus from another domain (documentation scored against news and
stories) generally does not: its human part sits elsewhere. :func:`domain_check` fits the mixture weight
that brings the two closest (minimum Kolmogorov-Smirnov distance over a grid of weights) and asks how
often a corpus of the same size drawn from the fitted mixture itself lands that far away (parametric
bootstrap from the reference scores). A small p-value says: this corpus does not look like any mix of the
calibration's human and machine text, so its threshold and machine-share estimate may not hold here.

The test only sees scores, so a domain that happens to score like the reference passes (and then the
calibration is right for it in the way that matters); what it catches is a shift that would move flags.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["DomainCheck", "domain_check"]

_WEIGHTS = np.linspace(0.0, 1.0, 101)
_GRID = 1000


@dataclass(frozen=True)
class DomainCheck:
    distance: float  # KS distance between the corpus and its best-fitting reference mixture
    p_value: float  # share of same-size corpora from that mixture at least as far away
    machine_weight: float  # the mixture weight of the reference machine scores that fits best
    n: int  # finite corpus scores tested
    alpha: float
    outside: bool  # p_value < alpha

    def to_dict(self) -> dict:
        return {"distance": self.distance, "p_value": self.p_value, "machine_weight": self.machine_weight,
                "n": self.n, "alpha": self.alpha, "outside": self.outside}


def domain_check(scores: np.ndarray, human: np.ndarray, machine: np.ndarray, *, alpha: float = 0.01,
                 resamples: int = 200, seed: int = 0) -> DomainCheck:
    """Test whether ``scores`` (oriented, higher = machine) fit a mixture of ``human`` and ``machine``
    reference scores of the same detector. NaN scores are ignored; fewer than 20 finite scores raise."""
    scores = _finite(scores, "scores")
    human, machine = _finite(human, "human"), _finite(machine, "machine")
    if scores.size < 20:
        raise ValueError(f"the domain check needs >= 20 scored documents, got {scores.size}")
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    grid = np.unique(np.concatenate([human, machine]))
    if grid.size > _GRID:  # quantiles of the pooled reference keep the test fast on large references
        grid = np.unique(np.quantile(grid, np.linspace(0.0, 1.0, _GRID)))
    cdf_h, cdf_m = _ecdf(np.sort(human), grid), _ecdf(np.sort(machine), grid)
    distance, weight = _best_fit(np.sort(scores), grid, cdf_h, cdf_m)
    rng = np.random.default_rng(seed)
    n = scores.size
    farther = 0
    for _ in range(resamples):
        k = rng.binomial(n, weight)
        sample = np.sort(np.concatenate([rng.choice(machine, k), rng.choice(human, n - k)]))
        farther += _best_fit(sample, grid, cdf_h, cdf_m)[0] >= distance
    p_value = (farther + 1) / (resamples + 1)
    return DomainCheck(float(distance), float(p_value), float(weight), int(n), alpha, bool(p_value < alpha))


def _best_fit(sorted_scores: np.ndarray, grid: np.ndarray, cdf_h: np.ndarray, cdf_m: np.ndarray):
    """(min over weights of the KS distance, its weight). The distance is taken at every reference point
    and just below it, so corpus mass outside the reference's range counts in full."""
    upper = np.searchsorted(sorted_scores, grid, side="right") / sorted_scores.size
    lower = np.searchsorted(sorted_scores, grid, side="left") / sorted_scores.size
    mix = (1 - _WEIGHTS[:, None]) * cdf_h[None, :] + _WEIGHTS[:, None] * cdf_m[None, :]
    # the mixture's CDF just below each grid point is the value at the previous point
    mix_below = np.concatenate([np.zeros((len(_WEIGHTS), 1)), mix[:, :-1]], axis=1)
    gap = np.maximum(np.abs(upper[None, :] - mix), np.abs(lower[None, :] - mix_below)).max(1)
    best = int(np.argmin(gap))
    return float(gap[best]), float(_WEIGHTS[best])


def _ecdf(sorted_values: np.ndarray, grid: np.ndarray) -> np.ndarray:
    return np.searchsorted(sorted_values, grid, side="right") / sorted_values.size


def _finite(values, name: str) -> np.ndarray:
    values = np.asarray(values, dtype=np.float64).ravel()
    values = values[np.isfinite(values)]
    if name != "scores" and values.size < 2:
        raise ValueError(f"the {name} reference needs >= 2 finite scores")
    return values
