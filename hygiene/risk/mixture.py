"""The two-class histogram mixture behind the machine-share estimate, for any score vector or feature matrix.

A corpus's detector scores are modelled as ``pi * p_machine + (1 - pi) * p_human``, both densities taken
from labelled reference scores as histograms over shared bins (quantiles of the pooled reference, each
class weighted equally; add-half smoothing), and ``pi`` found by maximum likelihood: the log-likelihood is
concave in ``pi``, so bisection on its slope finds it (EM crawls when the answer is near 0).

Several statistics per document (a feature matrix, one column per statistic) are first reduced to one
score by a logistic discriminant fitted on the reference (:class:`Projection`): the mixture is then fitted
on the discriminant, the best single direction the reference knows. One column passes through unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Bins", "Projection", "as_matrix", "fit_mle", "fit_weights", "mixture_fraction"]

SMOOTHING = 0.5
"""Added to every bin count of a reference class: no bin has zero density, so no document is impossible."""


def as_matrix(scores: np.ndarray) -> np.ndarray:
    """(n,) or (n, d) scores as a float64 (n, d) matrix."""
    x = np.asarray(scores, dtype=np.float64)
    if x.ndim == 1:
        return x[:, None]
    if x.ndim != 2:
        raise ValueError(f"scores must be a vector or a (documents, statistics) matrix, got shape {x.shape}")
    return x


@dataclass(frozen=True)
class Projection:
    """Feature matrix -> one score (higher = more machine-like): identity for one column, else the logit of a
    class-balanced, lightly ridged logistic regression fitted on the reference (standardised features)."""

    mean: np.ndarray
    scale: np.ndarray
    weights: np.ndarray | None  # None: one column, used as is

    @classmethod
    def fit(cls, human: np.ndarray, machine: np.ndarray, ridge: float = 1e-3, steps: int = 30) -> Projection:
        human, machine = as_matrix(human), as_matrix(machine)
        if human.shape[1] == 1:
            return cls(np.zeros(1), np.ones(1), None)
        x = np.vstack([human, machine])
        mean, scale = x.mean(axis=0), x.std(axis=0)
        scale[scale == 0] = 1.0
        z = np.column_stack([np.ones(len(x)), (x - mean) / scale])
        y = np.r_[np.zeros(len(human)), np.ones(len(machine))]
        sample_weight = np.where(y == 1, 0.5 / len(machine), 0.5 / len(human))
        w = np.zeros(z.shape[1])
        penalty = ridge * np.eye(z.shape[1])
        penalty[0, 0] = 0.0
        for _ in range(steps):  # Newton-Raphson (IRLS); the ridge keeps collinear statistics well posed
            p = 1 / (1 + np.exp(-np.clip(z @ w, -30, 30)))
            gradient = z.T @ (sample_weight * (p - y)) + penalty @ w
            hessian = (z * (sample_weight * p * (1 - p))[:, None]).T @ z + penalty
            step = np.linalg.solve(hessian, gradient)
            w -= step
            if np.max(np.abs(step)) < 1e-10:
                break
        return cls(mean, scale, w)

    def __call__(self, features: np.ndarray) -> np.ndarray:
        x = as_matrix(features)
        if self.weights is None:
            if x.shape[1] != 1:
                raise ValueError(f"this projection takes one statistic, got {x.shape[1]}")
            return x[:, 0]
        if x.shape[1] != len(self.mean):
            raise ValueError(f"this projection takes {len(self.mean)} statistics, got {x.shape[1]}")
        return self.weights[0] + ((x - self.mean) / self.scale) @ self.weights[1:]


@dataclass(frozen=True)
class Bins:
    """Interior edges at quantiles of the pooled reference (each class weighted equally); open outer bins."""

    edges: np.ndarray

    @classmethod
    def fit(cls, human: np.ndarray, machine: np.ndarray, bins: int) -> Bins:
        pooled = np.concatenate([human, machine])
        weights = np.concatenate([np.full(len(human), 0.5 / len(human)), np.full(len(machine), 0.5 / len(machine))])
        order = np.argsort(pooled, kind="stable")
        cdf = np.cumsum(weights[order])
        edges = pooled[order][np.searchsorted(cdf, np.linspace(0, 1, bins + 1)[1:-1])]
        return cls(np.unique(edges))

    @property
    def size(self) -> int:
        return len(self.edges) + 1

    def index(self, scores: np.ndarray) -> np.ndarray:
        return np.searchsorted(self.edges, scores, side="right")

    def counts(self, scores: np.ndarray) -> np.ndarray:
        """Bin counts of a vector (K,), or of each row of a (B, n) matrix (B, K)."""
        idx = self.index(scores)
        if idx.ndim == 1:
            return np.bincount(idx, minlength=self.size)
        offsets = (np.arange(idx.shape[0]) * self.size)[:, None]
        return np.bincount((idx + offsets).ravel(), minlength=idx.shape[0] * self.size).reshape(-1, self.size)

    def density(self, scores: np.ndarray) -> np.ndarray:
        return smoothed(self.counts(scores))


def smoothed(counts: np.ndarray) -> np.ndarray:
    """Add-half smoothed bin probabilities of counts (K,) or (B, K)."""
    c = np.asarray(counts, dtype=np.float64) + SMOOTHING
    return c / c.sum(axis=-1, keepdims=True)


def fit_mle(counts: np.ndarray, p_human: np.ndarray, p_machine: np.ndarray, iterations: int = 60) -> np.ndarray:
    """Maximum-likelihood mixture weights, vectorised over rows: counts, p_human, p_machine are (B, K).

    The log-likelihood is concave in pi, so its derivative is decreasing: the maximum is at 0 or 1 when the
    derivative has one sign, else at its root, found by bisection.
    """
    counts, p_human, p_machine = np.atleast_2d(counts), np.atleast_2d(p_human), np.atleast_2d(p_machine)
    diff = p_machine - p_human

    def slope(pi: np.ndarray) -> np.ndarray:
        return (counts * diff / (p_human + pi[:, None] * diff)).sum(axis=1)

    rows = max(counts.shape[0], p_human.shape[0], p_machine.shape[0])
    low, high = np.zeros(rows), np.ones(rows)
    for _ in range(iterations):
        mid = (low + high) / 2
        rising = slope(mid) > 0
        low, high = np.where(rising, mid, low), np.where(rising, high, mid)
    pi = (low + high) / 2
    pi[slope(np.zeros_like(pi)) <= 0] = 0.0
    pi[slope(np.ones_like(pi)) >= 0] = 1.0
    return pi


def fit_weights(counts: np.ndarray, components: np.ndarray, human_components: int,
                iterations: int = 1500) -> np.ndarray:
    """Maximum-likelihood weights (B, C) of the components (B, C, K) or (C, K) given bin ``counts`` (B, K);
    the first ``human_components`` are human, the rest machine.

    Every component's weight is free (EM on the binned likelihood); the machine share is the sum of the
    machine components' weights. One component per class is :func:`fit_mle`, solved exactly.
    """
    counts = np.atleast_2d(np.asarray(counts, dtype=np.float64))
    components = np.asarray(components, dtype=np.float64)
    if components.ndim == 2:
        components = np.broadcast_to(components, (counts.shape[0], *components.shape))
    if components.shape[1] == 2 and human_components == 1:
        pi = fit_mle(counts, components[:, 0], components[:, 1])
        return np.column_stack([1 - pi, pi])
    n = counts.sum(axis=1, keepdims=True)
    weights = np.full(components.shape[:2], 1 / components.shape[1])
    for _ in range(iterations):
        mixture = np.matmul(weights[:, None, :], components)[:, 0]
        updated = weights * np.matmul(components, (counts / mixture)[:, :, None])[:, :, 0] / n
        done = np.max(np.abs(updated - weights)) < 1e-9
        weights = updated
        if done:
            break
    return weights


def mixture_fraction(corpus: np.ndarray, human: np.ndarray, machine: np.ndarray, bins: int = 20) -> float:
    """Maximum-likelihood machine fraction of ``corpus`` given reference samples of both classes
    (score vectors, or feature matrices with one column per statistic)."""
    project = Projection.fit(human, machine)
    corpus, human, machine = project(corpus), project(human), project(machine)
    grid = Bins.fit(human, machine, bins)
    return float(fit_mle(grid.counts(corpus), grid.density(human), grid.density(machine))[0])
