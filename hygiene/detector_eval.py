"""Labelled shards -> texts and 0/1 labels, and detector evaluation per file and overall.

Used by `hygiene train-detector` and `hygiene eval-detector` (hygiene_cli/detectors.py). Shards are read
with hygiene.io.shards (any parquet / JSONL the pipeline reads); unreadable rows are counted, not dropped
silently; a label that is not 0 or 1 is an error naming the file and row.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hygiene.io.atomic import file_sha256
from hygiene.io.shards import ShardError, open_shards, read_batches

from .progress import NullProgress, Progress

__all__ = ["LabelledFile", "ZEROSHOT_NAMES", "evaluate", "load_detector", "read_labelled", "shipped_threshold"]

ZEROSHOT_NAMES = ("likelihood", "log_rank", "entropy", "fast_detectgpt", "lrr", "binoculars")


@dataclass
class LabelledFile:
    path: Path
    texts: list[str]
    labels: np.ndarray  # int64, 0 human / 1 machine
    quarantined: int
    sha256: str


def read_labelled(inputs: Sequence[str | Path], *, text_column: str = "text", label_column: str = "label",
                  batch_rows: int = 1024) -> list[LabelledFile]:
    out = []
    for shard in open_shards(inputs, text_column):
        texts, labels, quarantined = [], [], 0
        for batch in read_batches(shard, text_column, "id", batch_rows):
            quarantined += len(batch.quarantined)
            if not batch.texts:
                continue
            if label_column not in batch.table.column_names:
                raise ShardError(f"{shard.path}: no label column {label_column!r} (0 = human, 1 = machine)")
            values = batch.table.column(label_column).to_pylist()
            for row, value in zip(batch.rows, values):
                if isinstance(value, bool) or value not in (0, 1):
                    raise ShardError(f"{shard.path} row {row}: label {value!r} is not 0 (human) or 1 (machine)")
            texts.extend(batch.texts)
            labels.extend(int(v) for v in values)
        out.append(LabelledFile(shard.path, texts, np.array(labels, dtype=np.int64), quarantined,
                                file_sha256(shard.path)))
    return out


def load_detector(name: str, *, device: str | None = None, max_tokens: int = 512, batch_size: int = 16,
                  normalize: str = "none"):
    """A zero-shot statistic name (``ZEROSHOT_NAMES``) or a supervised model directory."""
    if Path(name).is_dir():
        from detectors.supervised import SupervisedDetector

        return SupervisedDetector(name, device=device, batch_size=batch_size)
    if name not in ZEROSHOT_NAMES:
        raise ShardError(f"--detector {name!r} is neither a model directory nor one of {ZEROSHOT_NAMES}")
    from detectors.lm import load_causal_lm

    lm = load_causal_lm(device=device)
    if name == "binoculars":
        from detectors.binoculars import BinocularsDetector

        return BinocularsDetector(lm, lm, max_tokens=max_tokens, batch_size=batch_size, normalize=normalize)
    from detectors.zeroshot import ZeroShotDetector

    return ZeroShotDetector(lm, statistic=name, max_tokens=max_tokens, batch_size=batch_size, normalize=normalize)


def shipped_threshold(detector) -> tuple[float | None, str]:
    """The detector's own calibrated threshold, if it has one, and where it comes from."""
    if hasattr(detector, "threshold") and hasattr(detector, "meta"):
        return detector.threshold, f"model directory ({detector.meta['threshold']['target_fpr']:.0%} FPR, out-of-fold)"
    from detectors.calibration import default_calibration

    cal = default_calibration()
    if (getattr(detector, "statistic", None), getattr(detector, "max_tokens", None)) == (cal.statistic, cal.max_tokens):
        if detector.lm.name == cal.model and detector.window.normalize == "none":
            return cal.threshold, f"shipped default calibration ({cal.target_fpr:.0%} FPR)"
    return None, "none shipped for this detector"


def score_texts(detector, texts: list[str], batch: int, progress: Progress) -> np.ndarray:
    scores = []
    for start in range(0, len(texts), batch):
        scores.append(detector.score(texts[start : start + batch]))
        progress.advance(min(batch, len(texts) - start))
    return np.concatenate(scores) if scores else np.zeros(0)


def evaluate(files: list[LabelledFile], detector, *, threshold: float | None = None,
             threshold_source: str = "", progress: Progress | None = None, batch: int = 64) -> dict:
    """Metrics per file and pooled over all files; NaN scores (unscorable texts) are counted and left out."""
    from detectors.supervised import binary_metrics

    progress = progress or NullProgress()
    progress.start("score", sum(len(f.texts) for f in files))
    per_file, all_scores, all_labels = {}, [], []
    for f in files:
        score = score_texts(detector, f.texts, batch, progress)
        ok = np.isfinite(score)
        metrics = _metrics(binary_metrics, f.labels[ok], score[ok], threshold)
        per_file[str(f.path)] = {**metrics, "unscorable": int((~ok).sum()), "quarantined": f.quarantined,
                                 "sha256": f.sha256}
        all_scores.append(score[ok])
        all_labels.append(f.labels[ok])
    progress.finish()
    overall = _metrics(binary_metrics, np.concatenate(all_labels), np.concatenate(all_scores), threshold)
    return {"detector": getattr(detector, "name", "?"), "threshold": threshold,
            "threshold_source": threshold_source, "files": per_file, "overall": overall}


def _metrics(binary_metrics, labels, scores, threshold):
    if labels.size == 0:
        return {"n": 0}
    return binary_metrics(labels, scores, threshold)
