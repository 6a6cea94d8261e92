"""Regenerate detectors/calibrations/smollm2-135m-likelihood-reference.json: the default detector's scores of
every labelled row of ../shared/data/detect, tagged by domain and generator, which `hygiene risk` uses to
correct flagged shares for the detector's errors and to measure how far its estimate moves for a generator
the reference does not hold. Scores come from the per-text cache of benchmarks/risk_scores.py (scored once).

    .venv/bin/python benchmarks/reference_default.py
"""

from __future__ import annotations

import datetime
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
for path in (REPO, REPO / "benchmarks"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from risk_scores import DATA_DIR, load_rows  # noqa: E402

from detectors.reference import DEFAULT_REFERENCE, ReferenceScores  # noqa: E402

OUTPUT = REPO / "detectors" / "calibrations" / DEFAULT_REFERENCE


def main() -> int:
    rows = load_rows(rows_per_set=None)
    score = rows.score("likelihood")
    ok = np.isfinite(score)
    human, machine = ok & (rows.label == 0), ok & (rows.label == 1)
    files = sorted(DATA_DIR.glob("*.jsonl"))
    reference = ReferenceScores(
        detector="zeroshot-likelihood",
        statistic="likelihood",
        model="SmolLM2-135M-Instruct.Q4_1",
        max_tokens=512,
        human=tuple(float(v) for v in score[human]),
        machine=tuple(float(v) for v in score[machine]),
        source="all rows of " + ", ".join(p.name for p in files) + " (shared/data/detect, Fast-DetectGPT release: "
               "news and stories; GPT-3.5/4, GPT-2-XL, GPT-Neo-2.7B, OPT-2.7B) by benchmarks/reference_default.py",
        created=datetime.date.today().isoformat(),
        human_domains=tuple(str(v) for v in rows.domain[human]),
        machine_domains=tuple(str(v) for v in rows.domain[machine]),
        machine_generators=tuple(str(v) for v in rows.generator[machine]),
    )
    reference.to_json(OUTPUT)
    print(f"{len(reference.human)} human + {len(reference.machine)} machine scores -> {OUTPUT}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
