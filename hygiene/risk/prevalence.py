"""How much of a corpus is machine-generated: prevalence estimation that corrects for detector errors, with
an interval that admits what the reference cannot see and a check of whether the reference fits at all.

The share of rows a detector flags is a biased estimate of the machine fraction: with a 5 % false-positive
rate a fully human corpus looks 5 % machine, and a detector that finds 60 % of machine text makes a
fully machine corpus look 60 %. Corrections come from labelled *reference* scores (human and machine
documents scored by the same detector):

- ``mixture`` (the estimate we report, ``hygiene.risk.mixture``): the corpus's scores are a maximum-
  likelihood mixture of the reference's score histograms, one component per source when the reference is
  tagged by source (``hygiene.risk.reference_fit``). It takes a score vector or a feature matrix (several
  statistics per document, reduced to one discriminant fitted on the reference).
- ``adjusted_count`` (a cross-check): Rogan-Gladen / "adjusted classify and count" at one threshold,
  ``pi = (flagged - FPR) / (TPR - FPR)``, clipped to [0, 1].

Three kinds of uncertainty, reported apart and together:

- *sampling*: a percentile bootstrap that resamples the corpus scores and every reference component;
- *the reference's sources* (``hygiene.risk.sources``): with a reference tagged by generator and domain,
  every source is held out in turn and the estimate's error on it measured; the reported interval adds the
  error a new, unseen source would plausibly cause. It is as wide as the sources disagree;
- *fit* (``hygiene.risk.fit_check``): whether the corpus's score distribution is a mixture of the reference's
  at all. When it is not, the estimate is not to be trusted, whatever its interval says; the report says so.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from hygiene.errors import HygieneError

from .fit_check import FIT_ALPHA, fit_check
from .mixture import as_matrix, mixture_fraction
from .reference_fit import ReferenceFit, SourceLabels, fit_reference
from .sources import SourceModel, source_model

__all__ = ["PrevalenceEstimate", "PrevalenceError", "Reference", "SourceLabels", "adjusted_count",
           "estimate_prevalence", "mixture_fraction", "prepare_reference"]

MIN_CORPUS = 50
"""Fewer scorable corpus documents than this and no estimate is made: the interval would span most of [0, 1]."""
MIN_REFERENCE = 20
"""Scored reference documents needed per class."""


class PrevalenceError(HygieneError, ValueError):
    """Too little data for a meaningful estimate; the message says what is missing."""


@dataclass(frozen=True)
class PrevalenceEstimate:
    fraction: float  # maximum-likelihood mixture estimate of the machine fraction
    low: float  # reported interval: sampling and, with a source-tagged reference, unseen-source error
    high: float
    confidence: float
    sampling_low: float  # percentile bootstrap over the corpus sample and the reference
    sampling_high: float
    flagged_share: float  # raw share at or above the threshold: what a naive count would report
    adjusted_count: float  # Rogan-Gladen at the threshold (cross-check)
    threshold: float
    tpr: float  # measured on the machine reference at the threshold
    fpr: float  # measured on the human reference at the threshold
    n_corpus: int
    n_human_reference: int
    n_machine_reference: int
    bootstrap: int
    statistics: int  # columns of the score matrix (1 = one detector score)
    components: dict[str, list[str]]  # mixture components per class (sources of a tagged reference)
    fit: dict[str, Any]  # hygiene.risk.fit_check.FitCheck: does the reference mixture explain the corpus?
    sources: dict[str, Any] | None  # hygiene.risk.sources summary; None: no sources to hold out

    @property
    def fit_fails(self) -> bool:
        return bool(self.fit["fires"])

    def to_dict(self) -> dict:
        return asdict(self)


def adjusted_count(flagged_share: float, tpr: float, fpr: float) -> float:
    """Rogan-Gladen correction of a flagged share, clipped to [0, 1] (NaN when TPR <= FPR)."""
    if tpr <= fpr:
        return float("nan")
    return float(np.clip((flagged_share - fpr) / (tpr - fpr), 0.0, 1.0))


def _finite_rows(x: np.ndarray) -> np.ndarray:
    return np.isfinite(x).all(axis=1)


@dataclass(frozen=True)
class Reference:
    """A labelled reference prepared once (mixture components, held-out sources) for any number of corpora."""

    fit: ReferenceFit
    first_human: np.ndarray  # the detector score (first column) of the reference, for the threshold cross-check
    first_machine: np.ndarray
    sources: SourceModel | None

    def estimate(self, corpus: np.ndarray, threshold: float, *, confidence: float = 0.95, bootstrap: int = 1000,
                 fit_replicates: int = 500, fit_alpha: float = FIT_ALPHA, seed: int = 0) -> PrevalenceEstimate:
        """Estimate the machine fraction of ``corpus`` (scores shaped like the reference's)."""
        corpus = as_matrix(corpus)
        if corpus.shape[1] != len(self.fit.project.mean):
            raise ValueError(f"the reference has {len(self.fit.project.mean)} statistics, the corpus {corpus.shape[1]}")
        corpus = corpus[_finite_rows(corpus)]
        if len(corpus) < MIN_CORPUS:
            raise PrevalenceError(
                f"only {len(corpus)} scorable documents; estimating a machine fraction needs at least {MIN_CORPUS}"
            )
        if not 0 < confidence < 1:
            raise ValueError(f"confidence must be in (0, 1), got {confidence}")
        rng = np.random.default_rng(seed)
        ref = self.fit
        projected = ref.project(corpus)
        counts = ref.bins.counts(projected)
        weights = ref.weights(counts)[0]
        human_parts = len(ref.human_rows)
        fraction = float(weights[human_parts:].sum())

        resampled = projected[rng.integers(0, len(projected), size=(bootstrap, len(projected)))]
        draws = ref.share(ref.bins.counts(resampled), ref.resampled_components(rng, bootstrap))
        alpha = (1 - confidence) / 2
        sampling_low, sampling_high = (float(v) for v in np.quantile(draws, [alpha, 1 - alpha]))
        check = fit_check(counts, ref.component_counts(), human_parts, weights, replicates=fit_replicates,
                          alpha=fit_alpha, rng=rng)
        low, high = (self.sources.interval(sampling_low, sampling_high, confidence) if self.sources
                     else (sampling_low, sampling_high))

        flagged = float(np.mean(corpus[:, 0] >= threshold))
        tpr, fpr = float(np.mean(self.first_machine >= threshold)), float(np.mean(self.first_human >= threshold))
        return PrevalenceEstimate(
            fraction=fraction,
            low=min(low, fraction),
            high=max(high, fraction),
            confidence=confidence,
            sampling_low=sampling_low,
            sampling_high=sampling_high,
            flagged_share=flagged,
            adjusted_count=adjusted_count(flagged, tpr, fpr),
            threshold=float(threshold),
            tpr=tpr,
            fpr=fpr,
            n_corpus=len(corpus),
            n_human_reference=len(ref.human),
            n_machine_reference=len(ref.machine),
            bootstrap=bootstrap,
            statistics=corpus.shape[1],
            components={"human": ref.human_names, "machine": ref.machine_names},
            fit=check.to_dict(),
            sources=self.sources.summary(confidence) if self.sources else None,
        )


def prepare_reference(human: np.ndarray, machine: np.ndarray, sources: SourceLabels | None = None, *,
                      bins: int = 20, components: bool = False) -> Reference:
    """Prepare labelled reference scores (vectors or matrices, one column per statistic; ``sources`` tags the
    rows by domain and generator). Rows with a non-finite value are dropped. Raises :class:`PrevalenceError`
    when a class has too few scored documents."""
    human, machine = as_matrix(human), as_matrix(machine)
    if human.shape[1] != machine.shape[1]:
        raise ValueError(f"human and machine reference need the same statistics, got {human.shape[1]} and "
                         f"{machine.shape[1]} columns")
    keep_h, keep_m = _finite_rows(human), _finite_rows(machine)
    human, machine = human[keep_h], machine[keep_m]
    for label, ref in (("human", human), ("machine", machine)):
        if len(ref) < MIN_REFERENCE:
            raise PrevalenceError(f"the {label} reference has {len(ref)} scored documents; need {MIN_REFERENCE}")
    if sources is not None:
        sources = sources.subset(keep_h, keep_m)
    return Reference(fit_reference(human, machine, sources, bins=bins, components=components), human[:, 0],
                     machine[:, 0], source_model(human, machine, sources, bins=bins, components=components))


def estimate_prevalence(
    corpus: np.ndarray,
    human: np.ndarray,
    machine: np.ndarray,
    threshold: float,
    *,
    sources: SourceLabels | None = None,
    confidence: float = 0.95,
    bootstrap: int = 1000,
    bins: int = 20,
    fit_replicates: int = 500,
    fit_alpha: float = FIT_ALPHA,
    seed: int = 0,
) -> PrevalenceEstimate:
    """Estimate the machine fraction of ``corpus`` from its detector scores (higher = more machine-like).

    ``corpus``, ``human`` and ``machine`` are score vectors, or matrices with one column per statistic (the
    first column is the detector's score, which ``threshold`` applies to), of the corpus and of labelled
    reference documents under the same detector. ``sources`` tags the reference rows by domain and generator.
    Non-finite rows are ignored. Raises :class:`PrevalenceError` when the corpus or a reference class is too
    small to estimate anything. For many corpora against one reference, :func:`prepare_reference` once.
    """
    reference = prepare_reference(human, machine, sources, bins=bins)
    return reference.estimate(corpus, threshold, confidence=confidence, bootstrap=bootstrap,
                              fit_replicates=fit_replicates, fit_alpha=fit_alpha, seed=seed)
