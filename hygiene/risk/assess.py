"""`hygiene risk`: how much collapse risk a corpus carries, and what cleaning it would buy.

One streaming pass over the shards; memory stays bounded on corpora of millions of documents:

- duplicates: exact keys and MinHash signatures of every row (up to ``dedup_sample`` rows, default
  1,000,000; beyond that a uniform reservoir sample, and the report says so);
- machine fraction and diversity: a uniform reservoir sample of ``sample`` documents (default 2,000) is
  scored by the detector and measured; the estimate of the machine fraction corrects the flagged share
  for the detector's error rates measured on labelled reference scores (``hygiene.risk.prevalence``);
- horizon: the collapse model fitted on collapse_eval runs (``hygiene.risk.horizon``) turns the synthetic share
  into predicted generations before collapse, as the corpus is and after ``hygiene clean``.

The integrity score and its grade are computed in ``hygiene.risk.integrity``; the page in ``hygiene.risk.report``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from detectors.dedup import exact_duplicates, find_near_duplicates
from hygiene.config import CleanConfig
from hygiene.errors import RiskError
from hygiene.io.shards import count_rows, open_shards
from hygiene.pipeline import dedup_config
from hygiene.pipeline.step import run_steps
from hygiene.pipeline.steps import KEY, SCORE, SIGNATURE, DetectorStep, ExactKeyStep, MinHashStep
from hygiene.pipeline.stream import signal_batches, text_signals
from hygiene.progress import NullProgress, Progress

from .prevalence import MIN_CORPUS, PrevalenceError, SourceLabels, estimate_prevalence

__all__ = ["RiskOptions", "assess", "check_inputs", "RiskError"]




@dataclass(frozen=True)
class RiskOptions:
    sample: int = 2000  # documents scored by the detector and measured for diversity
    dedup_sample: int = 1_000_000  # documents whose duplicates are counted (all, when the corpus is smaller)
    detector_reference: tuple[str, ...] = ()  # labelled shards (text, label); empty = the shipped reference
    diversity_reference: tuple[str, ...] = ()  # human corpus to compare diversity against
    label_column: str = "label"
    embeddings: bool = True  # MiniLM embedding diversity (Vendi score)
    confidence: float = 0.95
    bootstrap: int = 1000
    target_generations: int = 10  # horizon that counts as safe in the integrity score
    seed: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


class _Reservoir:
    """Uniform sample of up to ``size`` items from a stream (Algorithm R, vectorised per batch)."""

    def __init__(self, size: int, rng: np.random.Generator) -> None:
        self.size, self.rng, self.seen = size, rng, 0
        self.slots: list[int] = []  # stream position held by each slot

    def offer(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """For a batch of ``n`` items: (indices within the batch to store, the slot each goes to)."""
        positions = self.seen + np.arange(n)
        self.seen += n
        fill = positions < self.size
        slot = np.where(fill, positions, self.rng.integers(0, np.maximum(positions + 1, 1)))
        take = np.flatnonzero(slot < self.size)
        return take, slot[take]


def _store(buffer: list, take: np.ndarray, slots: np.ndarray, items: Sequence) -> None:
    for i, s in zip(take, slots):  # in stream order: a later item overwrites an earlier one in the same slot
        if s == len(buffer):
            buffer.append(items[i])
        else:
            buffer[s] = items[i]


def _duplicates(keys: np.ndarray, signatures: np.ndarray | None, config: CleanConfig) -> dict[str, Any]:
    n = len(keys)
    exact_of = exact_duplicates(keys) if n else np.zeros(0, np.int64)
    unique = np.flatnonzero(exact_of < 0)
    near_removed, sizes = 0, np.zeros(0, np.int64)
    if signatures is not None and len(unique) > 1:
        near = find_near_duplicates(signatures[unique], dedup_config(config))
        near_removed = int(np.sum(near.cluster != np.arange(len(unique))))
        counts = np.bincount(near.cluster, minlength=len(unique))
        sizes = counts[counts > 1]
    size_hist = {str(k): int(v) for k, v in zip(*np.unique(sizes, return_counts=True))}
    exact_removed = int(np.sum(exact_of >= 0))
    return {
        "documents": n,
        "exact_duplicate_rate": exact_removed / n if n else float("nan"),
        "near_duplicate_rate": near_removed / n if n else float("nan"),
        "duplicate_rate": (exact_removed + near_removed) / n if n else float("nan"),
        "clusters": int(len(sizes)),
        "cluster_sizes": size_hist,
        "largest_cluster": int(sizes.max()) if len(sizes) else 1,
    }


def _shipped_reference(config: CleanConfig):
    """The reference the detector brings, if it fits the settings; checked before any scoring starts."""
    from hygiene.detector import REFERENCE_FILE, scoring
    from hygiene.thresholds import shipped_reference

    ref = shipped_reference(config)
    if ref is None:
        spec = scoring(config.detector)
        if spec is not None and spec.path is not None:
            raise RiskError(
                f"model directory {spec.path} holds no {REFERENCE_FILE} (out-of-fold scores of its training "
                "rows; train-detector writes it): give labelled reference shards (`detector_reference`: text, "
                "label 0 = human, 1 = machine)"
            )
        raise RiskError(
            "the shipped reference scores are for the default zero-shot detector (default model, "
            "statistic=likelihood, max_tokens=512, no normalisation); with other detector settings give "
            "labelled reference shards (`detector_reference`: text, label 0 = human, 1 = machine)"
        )
    return ref


def _reference_scores(options: RiskOptions, config: CleanConfig, scorer, progress: Progress):
    """(human, machine, description, source tags or None) of the labelled reference."""
    if not options.detector_reference:
        ref = _shipped_reference(config)
        where = "model directory" if ref.statistic == "supervised" else "shipped"
        tags = SourceLabels(np.asarray(ref.human_domains), np.asarray(ref.machine_domains),
                            np.asarray(ref.machine_generators)) if ref.machine_generators else None
        return ref.human_scores, ref.machine_scores, f"{where}: {ref.source}", tags
    from hygiene.calibrate import labelled_scores

    score, label, _ = labelled_scores(options.detector_reference, config, label_column=options.label_column,
                                      scorer=scorer, progress=progress, require_labels=True)
    return score[label == 0], score[label == 1], "labelled shards: " + ", ".join(options.detector_reference), None


def check_inputs(inputs: Sequence[str | Path], config: CleanConfig, options: RiskOptions) -> list:
    """Every check that needs no scoring (options, threshold, reference, shards), so bad input fails first."""
    from hygiene.detector import scoring
    from hygiene.pipeline.stream import check_label_column
    from hygiene.thresholds import resolve_threshold

    if options.sample < 1 or options.dedup_sample < 2:
        raise RiskError("sample must be >= 1 and dedup_sample >= 2")
    if scoring(config.detector) is None:
        raise RiskError("the risk assessment estimates the machine-generated share and needs a detector; "
                        "detector kind 'none' only deduplicates")
    resolve_threshold(config)
    if not options.detector_reference:
        _shipped_reference(config)
    shards = open_shards(inputs, config.text_column)
    if options.detector_reference:  # labelled: a reference without labels would count as all human
        check_label_column(open_shards(options.detector_reference, config.text_column), config.text_column,
                           options.label_column)
    if options.diversity_reference:
        open_shards(options.diversity_reference, config.text_column)
    records = sum(count_rows(s) for s in shards)  # parquet: footers; JSONL: a read, no parsing, no model
    if records < MIN_CORPUS:
        raise RiskError(_too_small(records, "records"))
    return shards


def _too_small(n: int, what: str) -> str:
    return (f"corpus too small for a meaningful estimate: {n} {what}; estimating a machine-generated share "
            f"needs at least {MIN_CORPUS} documents")


def assess(
    inputs: Sequence[str | Path],
    config: CleanConfig | None = None,
    options: RiskOptions | None = None,
    *,
    scorer=None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Measure a corpus and return the risk assessment as a JSON-ready dict (see ``hygiene.risk.integrity``)."""
    from hygiene.thresholds import resolve_threshold

    from .diversity import diversity_profile
    from .horizon import load_horizon_model
    from .integrity import integrity

    config = config or CleanConfig()
    options = options or RiskOptions()
    progress = progress or NullProgress()
    shards = check_inputs(inputs, config, options)
    threshold = resolve_threshold(config)
    rng = np.random.default_rng(options.seed)
    text_sample, dedup_pool = _Reservoir(options.sample, rng), _Reservoir(options.dedup_sample, rng)
    texts: list[str] = []
    total = sum(count_rows(s) for s in shards)
    cap = min(options.dedup_sample, total)  # allocated once: growing per batch would copy O(n^2) bytes
    keys = np.zeros(cap, np.uint64)
    minhash = dedup_config(config).minhash if config.dedup.near else None
    signatures = np.zeros((cap, minhash.num_perm), np.uint32) if minhash else None
    rows = quarantined = 0
    dedup_steps = [ExactKeyStep(), *([MinHashStep(minhash)] if minhash else [])]

    # One pass: every batch offers its documents to both reservoirs; the dedup steps run on the kept ones.
    progress.start("read", total)
    for item in signal_batches(shards, config, progress=progress):
        rows += item.records
        quarantined += len(item.batch.quarantined)
        if item.batch.texts:
            _store(texts, *text_sample.offer(len(item.batch.texts)), item.batch.texts)
            take, slots = dedup_pool.offer(len(item.batch.texts))
            if not len(take):
                continue
            kept = run_steps(dedup_steps, item.signals.take(take))
            keys[slots] = kept.column(KEY).to_numpy()  # a slot drawn twice in one batch keeps the later item
            if minhash:
                signatures[slots] = kept.column(SIGNATURE).combine_chunks().flatten().to_numpy().reshape(
                    len(take), minhash.num_perm)
    progress.finish()
    held = min(dedup_pool.seen, cap)
    keys = keys[:held]
    signatures = signatures[:held] if signatures is not None else None
    valid = text_sample.seen
    if valid == 0:
        raise RiskError("no readable documents in the input")
    if len(texts) < MIN_CORPUS:  # readable ones (or --sample) too few: refused before the model loads
        raise RiskError(_too_small(len(texts), "readable documents" if len(texts) == valid else
                                   f"documents sampled (--sample {options.sample})"))

    step = DetectorStep(config.detector, scorer)
    progress.start("score", len(texts))
    scores = text_signals(step, texts, config.batch_rows, progress, config.engine,
                          config.ray_address).column(SCORE).to_numpy()
    progress.finish()
    scorer = step.detector
    human_ref, machine_ref, reference_source, tags = _reference_scores(options, config, scorer, progress)
    try:
        prevalence = estimate_prevalence(scores, human_ref, machine_ref, threshold.value, sources=tags,
                                         confidence=options.confidence, bootstrap=options.bootstrap,
                                         seed=options.seed)
    except PrevalenceError as exc:
        raise RiskError(f"corpus too small for a meaningful estimate: {exc}") from exc

    duplicates = _duplicates(keys, signatures, config)
    progress.start("diversity", None)
    reference_texts = _read_texts(options.diversity_reference, config, options.sample, rng)
    diversity = diversity_profile(texts, reference_texts, embeddings=options.embeddings, seed=options.seed)
    progress.finish()

    horizon_model = load_horizon_model()
    horizon = horizon_model.predict_clean_vs_raw(prevalence)
    result = {
        "corpus": {"shards": [str(s.path) for s in shards], "rows": rows, "quarantined": quarantined,
                   "readable": valid},
        "sampling": {
            "machine_fraction": {"documents": len(texts), "of": valid, "sampled": len(texts) < valid},
            "diversity": {"documents": len(texts), "of": valid, "sampled": len(texts) < valid},
            "duplicates": {"documents": len(keys), "of": valid, "sampled": len(keys) < valid,
                           "note": "a uniform sample undercounts duplicates: both copies must be drawn"
                           if len(keys) < valid else "every readable document"},
        },
        "detector": {"kind": step.scoring.kind, "name": getattr(scorer, "name", None),
                     "statistic": step.scoring.key,
                     "model": getattr(getattr(scorer, "lm", None), "name", step.scoring.model),
                     "max_tokens": step.scoring.max_tokens, "threshold": threshold.as_dict(),
                     "reference": reference_source},
        "machine_fraction": prevalence.to_dict(),
        "score_distribution": _score_distribution(scores, human_ref, machine_ref),
        "duplicates": duplicates,
        "diversity": diversity,
        "horizon": horizon,
    }
    result["integrity"] = integrity(result, target_generations=options.target_generations,
                                    horizon_model=horizon_model)
    return result


def _read_texts(inputs: Sequence[str], config: CleanConfig, size: int, rng: np.random.Generator) -> list[str]:
    if not inputs:
        return []
    reservoir, texts = _Reservoir(size, rng), []
    for item in signal_batches(open_shards(inputs, config.text_column), config):
        _store(texts, *reservoir.offer(len(item.batch.texts)), item.batch.texts)
    return texts


def _score_distribution(scores: np.ndarray, human: np.ndarray, machine: np.ndarray, bins: int = 40) -> dict:
    """Histogram of the corpus sample with the reference densities on the same bins (for the report)."""
    finite = scores[np.isfinite(scores)]
    pooled = np.concatenate([finite, human, machine])
    lo, hi = np.quantile(pooled, [0.005, 0.995])
    edges = np.linspace(lo, hi, bins + 1)

    def density(x: np.ndarray) -> list[float]:
        counts, _ = np.histogram(np.clip(x, lo, hi), edges)
        return (counts / max(len(x), 1)).round(5).tolist()

    cuts = np.quantile(np.concatenate([human, machine]), np.linspace(0, 1, 51))
    roc = [(float(np.mean(human >= c)), float(np.mean(machine >= c))) for c in cuts]
    return {"edges": edges.round(5).tolist(), "corpus": density(finite), "human_reference": density(human),
            "machine_reference": density(machine), "reference_roc": {"fpr": [round(f, 4) for f, _ in roc],
                                                                     "tpr": [round(t, 4) for _, t in roc]}}
