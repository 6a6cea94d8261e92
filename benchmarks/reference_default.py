"""Regenerate detectors/calibrations/smollm2-135m-likelihood-reference.json: the default detector's scores of
every labelled row of ../shared/data/detect, which `hygiene risk` uses to correct flagged shares for the
detector's errors. Scores come from the same cache as calibrate_default.py (scored once).

    .venv/bin/python benchmarks/reference_default.py
"""

from __future__ import annotations

import datetime
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmarks.calibrate_default import CACHE_DIR, DATA_DIR, set_statistics  # noqa: E402
from detectors.reference import DEFAULT_REFERENCE, ReferenceScores  # noqa: E402
from detectors.zeroshot import SCORE_SIGN, ZeroShotDetector  # noqa: E402

OUTPUT = REPO / "detectors" / "calibrations" / DEFAULT_REFERENCE


def main() -> int:
    files = sorted(DATA_DIR.glob("*.jsonl"))
    if not files:
        sys.exit(f"no *.jsonl in {DATA_DIR}")
    detector = ZeroShotDetector(statistic="likelihood", max_tokens=512)
    scores, labels = [], []
    for path in files:
        stats = set_statistics(path, detector, CACHE_DIR)
        scores.append(SCORE_SIGN[detector.statistic] * stats[detector.statistic])
        labels.append(stats["labels"])
    score, label = np.concatenate(scores), np.concatenate(labels)
    ok = np.isfinite(score)
    reference = ReferenceScores(
        detector=detector.name,
        statistic=detector.statistic,
        model=detector.lm.name,
        max_tokens=detector.max_tokens,
        human=tuple(float(v) for v in score[ok & (label == 0)]),
        machine=tuple(float(v) for v in score[ok & (label == 1)]),
        source="all rows of " + ", ".join(p.name for p in files) + " (shared/data/detect, Fast-DetectGPT release: "
               "news and stories; GPT-3.5/4, GPT-2-XL, GPT-Neo-2.7B, OPT-2.7B) by benchmarks/reference_default.py",
        created=datetime.date.today().isoformat(),
    )
    reference.to_json(OUTPUT)
    print(f"{len(reference.human)} human + {len(reference.machine)} machine scores -> {OUTPUT}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
