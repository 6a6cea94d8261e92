"""Does the reference explain this corpus? A goodness-of-fit check of the fitted mixture.

The machine-share estimate assumes the corpus's scores are a mixture of the reference's human and machine
score distributions. When the corpus's text comes from a domain or a generator the reference does not
hold, that assumption fails and the estimate can be far off while its sampling interval stays narrow. The
check compares the corpus's binned scores with the fitted mixture by the likelihood-ratio statistic

    G = 2 * sum_j c_j * log(c_j / (n * q_j)),   q_j = sum_c w_c * p_c,j   (the fitted components),

and calibrates it by simulation rather than by a chi-square table, because the reference densities are
themselves estimated from a few hundred documents: every replicate draws a corpus of the same size from the
fitted mixture *and* fresh reference samples of every component's size, refits the weights, and recomputes G. The
p-value is the share of replicates with G at least the corpus's. The check fires below ``FIT_ALPHA``; that
cut-off is validated in benchmarks/risk_validation.py (how often it fires on corpora the reference does
explain, and on corpora from held-out generators and domains).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from .mixture import fit_weights, smoothed

__all__ = ["FIT_ALPHA", "FitCheck", "fit_check", "g_statistic"]

FIT_ALPHA = 0.01
"""The check fires when the simulated p-value is below this (see the validation for its false-fire rate)."""


@dataclass(frozen=True)
class FitCheck:
    statistic: float  # G of the corpus against the fitted mixture
    p_value: float  # share of simulated in-model corpora with G >= statistic
    alpha: float  # fires when p_value < alpha
    fires: bool
    bins: int
    replicates: int

    def to_dict(self) -> dict:
        return asdict(self)


def g_statistic(counts: np.ndarray, expected: np.ndarray) -> np.ndarray:
    """G for counts (K,) or (B, K) against bin probabilities of the same shape (rows sum to 1)."""
    counts = np.atleast_2d(counts).astype(np.float64)
    n = counts.sum(axis=1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(counts > 0, counts * np.log(counts / (n * np.atleast_2d(expected))), 0.0)
    return 2 * terms.sum(axis=1)


def fit_check(
    counts: np.ndarray,
    component_counts: list[np.ndarray],
    human_components: int,
    weights: np.ndarray,
    *,
    replicates: int = 500,
    alpha: float = FIT_ALPHA,
    rng: np.random.Generator,
) -> FitCheck:
    """Check binned corpus ``counts`` against the mixture of the binned reference components (human ones
    first) at the fitted ``weights``."""
    densities = smoothed(np.stack(component_counts))
    mixture = np.asarray(weights) @ densities
    observed = float(g_statistic(counts, mixture)[0])
    sim = rng.multinomial(int(counts.sum()), mixture, size=replicates)
    sim_components = np.stack([smoothed(rng.multinomial(int(c.sum()), d, size=replicates))
                               for c, d in zip(component_counts, densities)], axis=1)
    refit = fit_weights(sim, sim_components, human_components, iterations=300)
    null = g_statistic(sim, np.matmul(refit[:, None, :], sim_components)[:, 0])
    p_value = float((1 + np.sum(null >= observed)) / (replicates + 1))
    return FitCheck(statistic=observed, p_value=p_value, alpha=alpha, fires=p_value < alpha,
                    bins=len(counts), replicates=replicates)
