"""`hygiene calibrate`: a threshold at a target false-positive rate, measured on the user's own human text.

Rows whose label column is 0 (or every row, when the shards have no label column) are the human
reference; rows labelled 1, when present, give the true-positive rate and AUROC at that threshold.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from hygiene.errors import CalibrationError
from hygiene.io.shards import count_rows, open_shards, read_batches

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
) -> tuple[np.ndarray, np.ndarray, object]:
    """Oriented scores and labels of every scorable row (no label column: every row is human), and the scorer.

    Labels other than 0 and 1 raise :class:`CalibrationError` naming the first bad value.
    """
    from hygiene.pipeline.scoring import oriented_score

    from .pipeline import build_scorer

    progress = progress or NullProgress()
    shards = open_shards(inputs, config.text_column)
    scorer = scorer or build_scorer(config)
    scores, labels = [], []
    progress.start("score", sum(count_rows(s) for s in shards))
    for shard in shards:
        for batch in read_batches(shard, config.text_column, config.id_column, config.batch_rows):
            if batch.texts:
                if label_column in batch.table.column_names:
                    labels.extend(batch.table.column(label_column).to_pylist())
                else:
                    labels.extend([0] * len(batch.texts))
                scores.append(oriented_score(scorer.statistics(batch.texts), config.detector.statistic))
            progress.advance(len(batch.rows) + len(batch.quarantined))
    progress.finish()
    if bad := [v for v in labels if isinstance(v, bool) or not isinstance(v, int | float) or v not in (0, 1)]:
        raise CalibrationError(f"column {label_column!r} must hold 0 (human) or 1 (machine), found {bad[0]!r}")
    score = np.concatenate(scores) if scores else np.zeros(0)
    label = np.asarray(labels, dtype=np.int64)
    ok = np.isfinite(score)
    return score[ok], label[ok], scorer


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
    lm = getattr(scorer, "lm", None)
    return Calibration(
        detector=getattr(scorer, "name", "zeroshot"),
        statistic=config.detector.statistic,
        model=lm.name if lm is not None else str(config.detector.model),
        max_tokens=config.detector.max_tokens,
        threshold=threshold,
        target_fpr=fpr,
        n_human=int(len(human)),
        source="hygiene calibrate " + " ".join(str(path) for path in inputs),
        created=datetime.now(UTC).isoformat(timespec="seconds"),
        tpr=tpr,
        auroc=auroc,
    )
