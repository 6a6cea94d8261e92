"""A `risk` job: hygiene.risk.assess over the job's shards, risk.json + risk.html into its output directory.

The assessment is one pass (sampling, scoring, measuring) with no intermediate state worth keeping, so a
job interrupted by a crash runs again from the start; a job whose report was already written before the
crash is not run again. Both files are written atomically, risk.html last.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from hygiene.config import CleanConfig
from hygiene.detector import Detector
from hygiene.progress import Progress
from hygiene.risk import RiskOptions, assess
from hygiene.risk.report import RISK_HTML, RISK_JSON, write_risk_report

if TYPE_CHECKING:
    from .jobs import JobRecord

__all__ = ["run_risk_job", "risk_options"]


def risk_options(options: dict[str, Any] | None) -> RiskOptions:
    given = dict(options or {})
    for key in ("detector_reference", "diversity_reference"):
        given[key] = tuple(given.get(key, ()))
    return RiskOptions(**given)


def run_risk_job(job: JobRecord, config: CleanConfig, get_scorer: Callable[[], Detector | None],
                 progress: Progress, redact: Callable[[Any], Any] | None = None) -> dict[str, Any]:
    """Run (or find finished) the assessment; returns {"counts": summary, "timings_s": ...} for the job row.
    `redact` turns the assessment into what the report may show of server paths (None: as it is)."""
    timings: dict[str, float] = {}
    if not (job.out / RISK_JSON).exists() or not (job.out / RISK_HTML).exists():
        start = time.perf_counter()
        result = assess(job.inputs, config, risk_options(job.options), scorer=get_scorer(), progress=progress)
        write_risk_report(job.out, redact(result) if redact is not None else result)
        timings["total"] = round(time.perf_counter() - start, 3)
    result = json.loads((job.out / RISK_JSON).read_text())  # the strict JSON written (no NaN / Infinity)
    machine, score, horizon = result["machine_fraction"], result["integrity"], result["horizon"]
    counts = {**result["corpus"], "integrity": score["score"], "grade": score["grade"],
              "machine_fraction": machine["fraction"], "machine_fraction_low": machine["low"],
              "machine_fraction_high": machine["high"], "duplicate_rate": result["duplicates"]["duplicate_rate"],
              "generations_raw": horizon["raw"]["generations"],
              "generations_cleaned": horizon["cleaned"]["generations"]}
    counts.pop("shards", None)
    return {"counts": counts, "timings_s": timings}
