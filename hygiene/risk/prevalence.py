"""How much of a corpus is machine-generated: prevalence estimation that corrects for detector errors.

The share of rows a detector flags is a biased estimate of the machine fraction: with a 5 % false-positive
rate a fully human corpus looks 5 % machine, and a detector that finds 60 % of machine text makes a
fully machine corpus look 60 %. Two corrections, both from labelled *reference* scores (human and machine
documents scored by the same detector):

- ``mixture`` (the estimate we report): the corpus score distribution is modelled as
  ``pi * p_machine + (1 - pi) * p_human``, with both densities taken from the reference as histograms over
  shared bins (quantiles of the pooled reference, add-half smoothing), and ``pi`` found by maximum
  likelihood (the log-likelihood is concave in ``pi``; bisection on its slope). It uses every score, not
  just which side of a threshold it falls on, so its interval is narrower than the threshold method's.
- ``adjusted_count`` (a cross-check): Rogan-Gladen / "adjusted classify and count" at one threshold,
  ``pi = (flagged - FPR) / (TPR - FPR)``, clipped to [0, 1].

Confidence intervals are percentile bootstraps that resample the corpus scores *and* both reference sets,
so the uncertainty of the detector's measured error rates is part of the interval. The estimate is only
as good as the reference is like the corpus: human text of another domain shifts the score distribution,
and no amount of resampling fixes that (benchmarks/RESULTS.md shows by how much).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from hygiene.errors import HygieneError

__all__ = ["PrevalenceEstimate", "PrevalenceError", "estimate_prevalence", "mixture_fraction", "adjusted_count"]

MIN_CORPUS = 50
"""Fewer scorable corpus documents than this and no estimate is made: the interval would span most of [0, 1]."""
MIN_REFERENCE = 20
"""Scored reference documents needed per class."""


class PrevalenceError(HygieneError, ValueError):
    """Too little data for a meaningful estimate; the message says what is missing."""


@dataclass(frozen=True)
class PrevalenceEstimate:
    fraction: float  # maximum-likelihood mixture estimate of the machine fraction
    low: float  # percentile-bootstrap confidence interval
    high: float
    confidence: float
    flagged_share: float  # raw share at or above the threshold: what a naive count would report
    adjusted_count: float  # Rogan-Gladen at the threshold (cross-check)
    threshold: float
    tpr: float  # measured on the machine reference at the threshold
    fpr: float  # measured on the human reference at the threshold
    n_corpus: int
    n_human_reference: int
    n_machine_reference: int
    bootstrap: int

    def to_dict(self) -> dict:
        return asdict(self)


def _bin_edges(human: np.ndarray, machine: np.ndarray, bins: int) -> np.ndarray:
    """Interior edges at quantiles of the pooled reference (each class weighted equally); open outer bins."""
    pooled = np.concatenate([np.sort(human), np.sort(machine)])
    weights = np.concatenate([np.full(len(human), 0.5 / len(human)), np.full(len(machine), 0.5 / len(machine))])
    order = np.argsort(pooled, kind="stable")
    cdf = np.cumsum(weights[order])
    edges = pooled[order][np.searchsorted(cdf, np.linspace(0, 1, bins + 1)[1:-1])]
    return np.unique(edges)


def _densities(scores: np.ndarray, edges: np.ndarray) -> np.ndarray:
    counts = np.bincount(np.searchsorted(edges, scores, side="right"), minlength=len(edges) + 1)
    smoothed = counts + 0.5
    return smoothed / smoothed.sum()


def _mle(counts: np.ndarray, p_human: np.ndarray, p_machine: np.ndarray, iterations: int = 60) -> np.ndarray:
    """Maximum-likelihood mixture weights, vectorised over rows: counts, p_human, p_machine are (B, K).

    The log-likelihood is concave in pi, so its derivative is decreasing: the maximum is at 0 or 1 when the
    derivative has one sign, else at its root, found by bisection (EM crawls when the answer is near 0).
    """
    diff = p_machine - p_human

    def slope(pi: np.ndarray) -> np.ndarray:
        return (counts * diff / (p_human + pi[:, None] * diff)).sum(axis=1)

    low, high = np.zeros(counts.shape[0]), np.ones(counts.shape[0])
    for _ in range(iterations):
        mid = (low + high) / 2
        rising = slope(mid) > 0
        low, high = np.where(rising, mid, low), np.where(rising, high, mid)
    pi = (low + high) / 2
    pi[slope(np.zeros_like(pi)) <= 0] = 0.0
    pi[slope(np.ones_like(pi)) >= 0] = 1.0
    return pi


def mixture_fraction(corpus: np.ndarray, human: np.ndarray, machine: np.ndarray, bins: int = 20) -> float:
    """Maximum-likelihood machine fraction of ``corpus`` given reference score samples of both classes."""
    edges = _bin_edges(human, machine, bins)
    counts = np.bincount(np.searchsorted(edges, corpus, side="right"), minlength=len(edges) + 1)
    return float(_mle(counts[None], _densities(human, edges)[None], _densities(machine, edges)[None])[0])


def adjusted_count(flagged_share: float, tpr: float, fpr: float) -> float:
    """Rogan-Gladen correction of a flagged share, clipped to [0, 1] (NaN when TPR <= FPR)."""
    if tpr <= fpr:
        return float("nan")
    return float(np.clip((flagged_share - fpr) / (tpr - fpr), 0.0, 1.0))


def _finite(scores: np.ndarray) -> np.ndarray:
    scores = np.asarray(scores, dtype=np.float64).ravel()
    return scores[np.isfinite(scores)]


def estimate_prevalence(
    corpus: np.ndarray,
    human: np.ndarray,
    machine: np.ndarray,
    threshold: float,
    *,
    confidence: float = 0.95,
    bootstrap: int = 1000,
    bins: int = 20,
    seed: int = 0,
) -> PrevalenceEstimate:
    """Estimate the machine fraction of ``corpus`` from its detector scores (higher = more machine-like).

    ``human`` and ``machine`` are scores of labelled reference documents under the same detector;
    ``threshold`` is the one ``clean`` uses (it sets the cross-check and the reported TPR/FPR).
    Non-finite scores are ignored. Raises :class:`PrevalenceError` when the corpus or a reference class is
    too small to estimate anything.
    """
    corpus, human, machine = _finite(corpus), _finite(human), _finite(machine)
    if len(corpus) < MIN_CORPUS:
        raise PrevalenceError(
            f"only {len(corpus)} scorable documents; estimating a machine fraction needs at least {MIN_CORPUS}"
        )
    for label, ref in (("human", human), ("machine", machine)):
        if len(ref) < MIN_REFERENCE:
            raise PrevalenceError(f"the {label} reference has {len(ref)} scored documents; need {MIN_REFERENCE}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")

    edges = _bin_edges(human, machine, bins)
    rng = np.random.default_rng(seed)
    k = len(edges) + 1

    def bin_counts(sample: np.ndarray) -> np.ndarray:  # (B, n) -> (B, K)
        idx = np.searchsorted(edges, sample, side="right")
        return np.stack([np.bincount(row, minlength=k) for row in idx])

    def resample(x: np.ndarray) -> np.ndarray:
        return x[rng.integers(0, len(x), size=(bootstrap, len(x)))]

    c_b, h_b, m_b = bin_counts(resample(corpus)), bin_counts(resample(human)), bin_counts(resample(machine))
    p_h = (h_b + 0.5) / (h_b + 0.5).sum(axis=1, keepdims=True)
    p_m = (m_b + 0.5) / (m_b + 0.5).sum(axis=1, keepdims=True)
    draws = _mle(c_b, p_h, p_m)
    alpha = (1 - confidence) / 2
    low, high = np.quantile(draws, [alpha, 1 - alpha])

    flagged = float(np.mean(corpus >= threshold))
    tpr, fpr = float(np.mean(machine >= threshold)), float(np.mean(human >= threshold))
    return PrevalenceEstimate(
        fraction=mixture_fraction(corpus, human, machine, bins),
        low=float(low),
        high=float(high),
        confidence=confidence,
        flagged_share=flagged,
        adjusted_count=adjusted_count(flagged, tpr, fpr),
        threshold=float(threshold),
        tpr=tpr,
        fpr=fpr,
        n_corpus=len(corpus),
        n_human_reference=len(human),
        n_machine_reference=len(machine),
        bootstrap=bootstrap,
    )
