"""Labelled shards -> texts and 0/1 labels, and detector evaluation per file and overall.

Used by `hygiene train-detector` and `hygiene eval-detector` (hygiene_cli/detectors.py). Shards are read
through the pipeline's one shard -> batch loop (any parquet / JSONL the pipeline reads); unreadable rows
are counted, not dropped silently; a label that is not 0 or 1 is an error naming the file and row. The
detector is whatever the job's settings describe (:mod:`hygiene.detector`), the same one `clean` uses.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hygiene.config import CleanConfig
from hygiene.detector import scoring
from hygiene.errors import ConfigError
from hygiene.io.atomic import file_sha256
from hygiene.io.shards import count_rows, open_shards

from .progress import NullProgress, Progress

__all__ = ["LabelledFile", "evaluate", "read_labelled"]


@dataclass
class LabelledFile:
    path: Path
    texts: list[str]
    labels: np.ndarray  # int64, 0 human / 1 machine
    quarantined: int
    sha256: str


def read_labelled(inputs: Sequence[str | Path], *, text_column: str = "text", label_column: str = "label",
                  batch_rows: int = 1024) -> list[LabelledFile]:
    from hygiene.pipeline.stream import labels_of, signal_batches

    config = CleanConfig(text_column=text_column, batch_rows=batch_rows)
    out = []
    for shard in open_shards(inputs, text_column):
        texts, labels, quarantined = [], [], 0
        for item in signal_batches([shard], config):
            quarantined += len(item.batch.quarantined)
            if item.batch.texts:
                labels.append(labels_of(item, label_column, required=True))
                texts.extend(item.batch.texts)
        label = np.concatenate(labels) if labels else np.zeros(0, np.int64)
        out.append(LabelledFile(shard.path, texts, label, quarantined, file_sha256(shard.path)))
    return out


def evaluate(inputs: Sequence[str | Path], config: CleanConfig, *, threshold: float | None = None,
             threshold_source: str = "", label_column: str = "label", scorer=None,
             progress: Progress | None = None) -> dict:
    """Metrics per file and pooled over all files; NaN scores (unscorable texts) are counted and left out."""
    from detectors.supervised import binary_metrics
    from hygiene.pipeline.steps import SCORE, DetectorStep
    from hygiene.pipeline.stream import check_label_column, labels_of, signal_batches

    progress = progress or NullProgress()
    if scoring(config.detector) is None:
        raise ConfigError("evaluating needs a detector; detector kind 'none' loads none")
    shards = open_shards(inputs, config.text_column)
    check_label_column(shards, config.text_column, label_column)
    step = DetectorStep(config.detector, scorer)
    progress.start("score", sum(count_rows(s) for s in shards))
    per_file, all_scores, all_labels = {}, [], []
    for shard in shards:
        scores, labels, quarantined = [np.zeros(0)], [np.zeros(0, np.int64)], 0
        for item in signal_batches([shard], config, [step], progress=progress):
            quarantined += len(item.batch.quarantined)
            if item.signals.num_rows:
                labels.append(labels_of(item, label_column, required=True))
                scores.append(item.signals.column(SCORE).to_numpy())
        score, label = np.concatenate(scores), np.concatenate(labels)
        ok = np.isfinite(score)
        metrics = _metrics(binary_metrics, label[ok], score[ok], threshold)
        per_file[str(shard.path)] = {**metrics, "unscorable": int((~ok).sum()), "quarantined": quarantined,
                                     "sha256": file_sha256(shard.path)}
        all_scores.append(score[ok])
        all_labels.append(label[ok])
    progress.finish()
    overall = _metrics(binary_metrics, np.concatenate(all_labels), np.concatenate(all_scores), threshold)
    name = getattr(step._loaded, "name", None) or config.detector.kind
    return {"detector": name, "threshold": threshold, "threshold_source": threshold_source, "files": per_file,
            "overall": overall}


def _metrics(binary_metrics, labels, scores, threshold):
    if labels.size == 0:
        return {"n": 0}
    return binary_metrics(labels, scores, threshold)
