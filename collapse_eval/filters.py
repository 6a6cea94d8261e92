"""The filter of the filtered arm, refitted every generation, and the oracle that bounds it.

A detector that must catch *this* generation's text learns its direction from labelled data of this
generation: held-out human rows (label 0) versus fresh samples of the current model (label 1). Two kinds:
- `tfidf`: character 2-4-gram TF-IDF + logistic regression on the text;
- `likelihood`: the generator's own mean token log-probability, with sign and threshold fitted by a
  one-feature logistic regression (white-box).
Dedup (exact keys + MinHash/LSH near-duplicates from `detectors.dedup`) removes repeats on top.
Precision/recall are those of "removed" against the true provenance of the pool's rows.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from detectors.dedup import exact_duplicates, exact_key, find_near_duplicates
from detectors.minhash import sign

from .config import FilterSettings

__all__ = ["Labelled", "FilterOutcome", "fit_detector", "duplicate_rows", "apply_filter", "oracle_filter",
           "precision_recall"]

Scorer = Callable[[Sequence[str], np.ndarray], np.ndarray]  # (texts, token rows) -> P(machine)


@dataclass(frozen=True)
class Labelled:
    texts: list[str]
    rows: np.ndarray


@dataclass(frozen=True)
class FilterOutcome:
    keep: np.ndarray  # bool per pool row
    weight: np.ndarray  # float per pool row; 0 for removed rows
    precision: float  # of removed rows, the share that is synthetic (NaN when nothing removed)
    recall: float  # of synthetic rows, the share removed (NaN when the pool has none)
    auroc: float  # detector score vs provenance on the pool (NaN for the oracle or a one-class pool)
    removed_by_detector: int
    removed_by_dedup: int


def fit_detector(kind: str, human: Labelled, machine: Labelled, *, seed: int,
                 logprob: Callable[[np.ndarray], np.ndarray] | None = None) -> Scorer:
    """Fit on human (0) vs machine (1) examples of this generation; returns a P(machine) scorer."""
    y = np.r_[np.zeros(len(human.texts)), np.ones(len(machine.texts))]
    if kind == "tfidf":
        vec = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 4), min_df=2, sublinear_tf=True, max_features=50_000)
        x = vec.fit_transform(human.texts + machine.texts)
        clf = LogisticRegression(C=4.0, max_iter=2000, random_state=seed).fit(x, y)
        return lambda texts, rows: clf.predict_proba(vec.transform(list(texts)))[:, 1]
    if kind == "likelihood":
        if logprob is None:
            raise ValueError("the likelihood detector needs the generator's logprob function")
        feats = np.r_[logprob(human.rows), logprob(machine.rows)][:, None]
        clf = LogisticRegression(max_iter=1000).fit(feats, y)
        return lambda texts, rows: clf.predict_proba(logprob(rows)[:, None])[:, 1]
    raise ValueError(f"unknown detector {kind!r}")


def duplicate_rows(texts: Sequence[str]) -> np.ndarray:
    """True for every row that repeats an earlier one exactly or nearly (first occurrence kept)."""
    if not texts:
        return np.zeros(0, dtype=bool)
    exact = exact_duplicates(exact_key(texts)) >= 0
    near = find_near_duplicates(sign(texts)).duplicate_of >= 0
    return exact | near


def precision_recall(removed: np.ndarray, synthetic: np.ndarray) -> tuple[float, float]:
    tp = float(np.sum(removed & synthetic))
    precision = tp / removed.sum() if removed.any() else float("nan")
    recall = tp / synthetic.sum() if synthetic.any() else float("nan")
    return precision, recall


def _auroc(scores: np.ndarray, synthetic: np.ndarray) -> float:
    return float(roc_auc_score(synthetic, scores)) if 0 < synthetic.sum() < len(synthetic) else float("nan")


def apply_filter(p_machine: np.ndarray, texts: Sequence[str], synthetic: np.ndarray,
                 settings: FilterSettings) -> FilterOutcome:
    """Remove (or down-weight) rows the detector flags, and duplicates when `settings.dedup`."""
    flagged = p_machine >= settings.threshold
    dup = duplicate_rows(texts) if settings.dedup else np.zeros(len(texts), dtype=bool)
    if settings.action == "remove":
        keep = ~flagged & ~dup
        weight = keep.astype(float)
    else:
        keep = ~dup
        weight = np.where(keep, (1.0 - p_machine) ** settings.beta, 0.0)
    precision, recall = precision_recall(flagged | dup, synthetic)
    return FilterOutcome(keep=keep, weight=weight, precision=precision, recall=recall,
                         auroc=_auroc(p_machine, synthetic), removed_by_detector=int(flagged.sum()),
                         removed_by_dedup=int((dup & ~flagged).sum()))


def oracle_filter(synthetic: np.ndarray) -> FilterOutcome:
    """Removes exactly the synthetic rows: the upper bound of any filter on this pool."""
    keep = ~synthetic
    precision, recall = precision_recall(synthetic, synthetic)
    return FilterOutcome(keep=keep, weight=keep.astype(float), precision=precision, recall=recall,
                         auroc=float("nan"), removed_by_detector=int(synthetic.sum()), removed_by_dedup=0)
