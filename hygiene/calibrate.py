"""`hygiene calibrate`: a threshold at a target false-positive rate, measured on the user's own human text.

Rows whose label column is 0 (or every row, when the shards have no label column) are the human
reference; rows labelled 1, when present, give the true-positive rate and AUROC at that threshold.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from hygiene.detector import scoring
from hygiene.errors import CalibrationError
from hygiene.io.shards import count_rows, open_shards

from .config import CleanConfig
from .progress import NullProgress, Progress

__all__ = ["calibrate", "labelled_scores", "CalibrationError"]




def labelled_scores(
    inputs: Sequence[str | Path],
    config: CleanConfig,
    *,
    label_column: str = "label",
    scorer=None,
    progress: Progress | None = None,
    require_labels: bool = False,
) -> tuple[np.ndarray, np.ndarray, object]:
    """Oriented scores and labels of every scorable row, and the detector that scored them.

    Without a label column every row is human (unless ``require_labels``); a label other than 0 or 1 raises
    :class:`hygiene.errors.ShardError` naming the shard and row.
    """
    from hygiene.pipeline.steps import SCORE, DetectorStep
    from hygiene.pipeline.stream import check_label_column, labels_of, signal_batches

    progress = progress or NullProgress()
    if scoring(config.detector) is None:
        raise CalibrationError("scores need a detector; detector kind 'none' loads none")
    shards = open_shards(inputs, config.text_column)
    if require_labels:
        check_label_column(shards, config.text_column, label_column)
    step = DetectorStep(config.detector, scorer)
    scores, labels = [], []
    progress.start("score", sum(count_rows(s) for s in shards))
    for item in signal_batches(shards, config, [step], progress=progress):
        if item.signals.num_rows:
            labels.append(labels_of(item, label_column, required=require_labels))
            scores.append(item.signals.column(SCORE).to_numpy())
    progress.finish()
    score = np.concatenate(scores) if scores else np.zeros(0)
    label = np.concatenate(labels) if labels else np.zeros(0, np.int64)
    ok = np.isfinite(score)
    return score[ok], label[ok], step.detector


def calibrate(
    inputs: Sequence[str | Path],
    config: CleanConfig,
    *,
    fpr: float = 0.05,
    label_column: str = "label",
    scorer=None,
    progress: Progress | None = None,
):
    """Score the labelled shards and return a `detectors.calibration.Calibration`."""
    from detectors.calibration import Calibration, threshold_at_fpr

    score, label, scorer = labelled_scores(inputs, config, label_column=label_column, scorer=scorer,
                                           progress=progress)
    human, machine = score[label == 0], score[label == 1]
    if len(human) < 20:
        raise CalibrationError(f"only {len(human)} scorable human rows (label 0); a threshold needs at least 20")
    threshold = threshold_at_fpr(human, fpr)
    tpr = auroc = None
    if len(machine):
        from sklearn.metrics import roc_auc_score

        tpr = float(np.mean(machine >= threshold))
        auroc = float(roc_auc_score(np.r_[np.zeros(len(human)), np.ones(len(machine))], np.r_[human, machine]))
    spec = scoring(config.detector)
    lm = getattr(scorer, "lm", None) or getattr(scorer, "observer", None)
    return Calibration(
        detector=getattr(scorer, "name", spec.kind),
        statistic=spec.key,
        model=lm.name if lm is not None else str(spec.model),
        max_tokens=spec.max_tokens,
        threshold=threshold,
        target_fpr=fpr,
        n_human=int(len(human)),
        source="hygiene calibrate " + " ".join(str(path) for path in inputs),
        created=datetime.now(UTC).isoformat(timespec="seconds"),
        tpr=tpr,
        auroc=auroc,
    )
