"""`clean` and `score` as one resumable job over a set of shards.

    out/
      kept/<shard>.parquet        rows to train on (original columns)
      removed/<shard>.parquet     removed rows with their scores, cluster and reason
      scored/<shard>.parquet      (`score` only) every readable row with its annotations
      quarantine/<shard>.parquet  rows that could not be read or scored, with the error and raw bytes
      manifest.json               inputs + hashes, config, threshold, model, counts, timings; written last
      report.html                 human-readable summary
      .work/                      per-shard signals and markers that make an interrupted run resumable

Pass 1 scores each shard (skipping shards already scored), pass 2 decides across the whole corpus
(dedup is global), pass 3 routes rows (skipping shards already routed). A finished directory holds
a manifest; rerunning into it needs `overwrite=True`. Which directories a run may use, and which files
`overwrite` removes, is `rundir`'s business.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from hygiene.config import CleanConfig
from hygiene.detector import Detector, scoring
from hygiene.errors import RunError
from hygiene.io import columns as C
from hygiene.io.atomic import file_sha256, write_json
from hygiene.io.jsonl import widened_columns
from hygiene.io.shards import Shard, count_rows, open_shards, unreadable_parts
from hygiene.progress import NullProgress, Progress
from hygiene.thresholds import Threshold, domain_report, resolve_threshold

from . import rundir
from .decide import Decisions, decision_steps
from .dedup import decision_table
from .examples import TextCapture, pick_examples
from .report import summarize, write_report
from .route import annotations, route_shard
from .scoring import read_signals, read_step_stats, score_shard
from .step import GlobalStep, Step, StepStats, merge_stats, run_steps
from .steps import ID, SCORE, DetectorStep, ExactKeyStep, MinHashStep

__all__ = ["RunError", "RunResult", "run", "dedup_config", "signal_steps"]

Mode = Literal["clean", "score"]
_WORK_FORMAT = 2  # bumped when work files change meaning (2: MurmurHash64A exact keys); a run never mixes them




@dataclass(frozen=True)
class RunResult:
    out: Path
    manifest: dict[str, Any]
    resumed: bool

    @property
    def report(self) -> Path:
        return self.out / C.REPORT_HTML


def dedup_config(config: CleanConfig):
    """The detectors-level dedup configuration, or None when near-dedup is off."""
    from detectors.dedup import DedupConfig
    from detectors.minhash import MinHashConfig

    d = config.dedup
    if not d.near:
        return None
    minhash = MinHashConfig(num_perm=d.num_perm, seed=d.seed, shingle=d.shingle, ngram=d.ngram)
    return DedupConfig(minhash=minhash, threshold=d.threshold, bands=d.bands, rows=d.rows)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def signal_steps(config: CleanConfig, detector: Detector | None = None) -> list[Step]:
    """Pass 1's per-batch steps for a job: the detector (unless `none`), exact keys, MinHash signatures."""
    steps: list[Step] = []
    if scoring(config.detector) is not None:
        steps.append(DetectorStep(config.detector, detector))
    if config.dedup.exact:
        steps.append(ExactKeyStep())
    if config.dedup.near:
        steps.append(MinHashStep(dedup_config(config).minhash))
    return steps


def run(
    inputs: Sequence[str | Path],
    out: str | Path,
    config: CleanConfig | None = None,
    *,
    mode: Mode = "clean",
    overwrite: bool = False,
    annotate_kept: bool = False,
    scorer: Detector | None = None,
    progress: Progress | None = None,
) -> RunResult:
    """Run `clean` (route rows) or `score` (annotate rows, remove nothing) over `inputs`."""
    config = config or CleanConfig()
    progress = progress or NullProgress()
    out = Path(out)
    timings: dict[str, float] = {}
    t = time.perf_counter()

    shards = open_shards(inputs, config.text_column, exclude=out)
    threshold = resolve_threshold(config)
    sources = [
        {"path": str(s.path), "name": s.name, "format": s.format, "bytes": s.path.stat().st_size,
         "sha256": file_sha256(s.path)}
        for s in shards
    ]
    job = {"mode": mode, "annotate_kept": annotate_kept, "config": config.model_dump(mode="json"),
           "inputs": [(s["path"], s["sha256"]) for s in sources], "work_format": _WORK_FORMAT}
    fingerprint = hashlib.sha256(json.dumps(job, sort_keys=True).encode()).hexdigest()
    resumed = rundir.prepare(out, fingerprint, [s.name for s in shards], overwrite)
    work = out / C.WORK_DIR
    timings["validate"] = time.perf_counter() - t

    # Pass 1: per-batch steps over every shard (signals, keys, signatures) into work files.
    t = time.perf_counter()
    steps = signal_steps(config, scorer)
    todo = [s for s in shards if not (work / "signals" / f"{s.name}.parquet").exists()]
    input_rows = {s.name: count_rows(s) for s in shards}  # one count per shard (JSONL: a read)
    shard_stats: dict[str, list[StepStats]] = {}
    if todo:
        progress.start("score", sum(input_rows[s.name] for s in todo))
        for shard in todo:
            shard_stats[shard.name] = score_shard(shard, steps, config, work / "signals" / f"{shard.name}.parquet",
                                                  out / C.QUARANTINE_DIR / f"{shard.name}.parquet", progress)
        progress.finish()
    pass1 = merge_stats(shard_stats.get(s.name) or read_step_stats(work / "signals" / f"{s.name}.parquet")
                        for s in shards)
    timings["score"] = time.perf_counter() - t
    by_step = {s.step: s.seconds for s in pass1}
    timings.update({"score.read": by_step.get("read", 0.0), "score.detector": by_step.get("detector", 0.0),
                    "score.minhash": by_step.get("exact_key", 0.0) + by_step.get("minhash", 0.0)})

    # Pass 2: corpus-wide decisions: the global steps collect every shard's keys / signatures, then decide.
    t = time.perf_counter()
    signals = [read_signals(work / "signals" / f"{s.name}.parquet") for s in shards]
    filters = decision_steps(threshold.value if threshold is not None else None, remove_machine=config.remove_machine,
                             exact=config.dedup.exact, dedup=dedup_config(config))
    collecting = [f for f in filters if isinstance(f, GlobalStep)]
    parts = [sig.table for sig in signals if sig.table.num_rows]
    for part in parts:
        for step in collecting:
            step.collect(part)
    n = sum(len(part) for part in parts)
    scores = None
    if threshold is not None:
        scores = np.concatenate([p.column(SCORE).to_numpy() for p in parts]) if parts else np.zeros(0)
    start = {SCORE: pa.array(scores, pa.float64())} if scores is not None else None
    decisions = Decisions.from_table(run_steps(filters, decision_table(n, start)))
    ids = np.asarray([i for p in parts for i in p.column(ID).to_pylist()], dtype=object)
    picks = pick_examples(decisions, ids, scores)
    timings["decide"] = time.perf_counter() - t

    # Pass 3: route rows into output shards.
    t = time.perf_counter()
    per_shard, offset, texts = [], 0, {}
    progress.start("write", sum(len(s.table) for s in signals))
    for shard, sig in zip(shards, signals):
        span = slice(offset, offset + len(sig.table))
        offset = span.stop
        marker = work / "routed" / f"{shard.name}.json"
        if marker.exists():
            counts = json.loads(marker.read_text())
            texts.update(TextCapture.load(marker.with_suffix(".examples.json")))
            progress.advance(len(sig.table))
        else:
            extra = annotations(sig, decisions, span, ids)
            capture = picks.capture()
            counts = route_shard(shard, sig, extra, config, out, marker, mode=mode,
                                 annotate_kept=annotate_kept, progress=progress, capture=capture)
            texts.update(capture.texts)
        per_shard.append(_shard_entry(shard, out, input_rows[shard.name], counts, decisions, span))
        per_shard[-1].update(unreadable=unreadable_parts(out / C.QUARANTINE_DIR / f"{shard.name}.parquet"),
                             widened_columns=widened_columns(sig.schema))
    progress.finish()
    timings["write"] = time.perf_counter() - t

    manifest = _manifest(mode, config, threshold, sources, per_shard, decisions, scores, timings, resumed)
    manifest["steps"] = [s.as_dict() for s in [*pass1, *(f.stats for f in filters)]]
    detector = steps[0] if steps and isinstance(steps[0], DetectorStep) else None
    manifest["detector"] = _detector_info(detector, config)
    manifest["domain_check"] = domain_report(scores, config)
    sizes = [(shard.name, len(sig.table)) for shard, sig in zip(shards, signals)]
    manifest["summary"]["removed_examples"] = picks.examples(texts, sizes)
    write_report(out / C.REPORT_HTML, manifest)
    write_json(out / C.MANIFEST, manifest)  # last: marks the run as finished
    return RunResult(out=out, manifest=manifest, resumed=resumed)


def _detector_info(step: DetectorStep | None, config: CleanConfig) -> dict[str, Any]:
    """What scored this run; a run resumed after scoring knows only its settings."""
    detector = step._loaded if step is not None else None
    info: dict[str, Any] = {"name": getattr(detector, "name", None), **config.detector.model_dump(mode="json")}
    lm = getattr(detector, "lm", None) or getattr(detector, "observer", None)
    if lm is not None:
        info.update(model=lm.name, device=str(lm.device), dtype=str(lm.dtype).removeprefix("torch."))
    if step is not None and step.scoring.path is not None:
        info["max_tokens"] = step.scoring.max_tokens  # the model directory's window, not the setting
    return info


def _shard_entry(shard: Shard, out: Path, rows: int, counts: dict[str, int], decisions: Decisions, span: slice):
    quarantine = out / C.QUARANTINE_DIR / f"{shard.name}.parquet"
    quarantined = pq.ParquetFile(quarantine).metadata.num_rows
    reasons = decisions.reason[span]
    entry = {
        "name": shard.name,
        "rows": rows,
        "quarantined": quarantined,
        **counts,
        "removed_by_reason": {r: int(np.sum(reasons == r)) for r in C.REASONS},
    }
    accounted = quarantined + sum(counts.values())
    if accounted != rows:  # the invariant every run must keep; a failure here is a bug, not bad input
        raise RuntimeError(f"{shard.path}: {rows} input rows but {accounted} written; refusing to finish")
    return entry


def _manifest(mode, config, threshold: Threshold | None, sources, per_shard, decisions, scores, timings, resumed):
    keys = ("rows", "kept", "removed", "scored", "quarantined")
    totals = {key: sum(e.get(key, 0) for e in per_shard) for key in keys}
    totals["removed_by_reason"] = decisions.counts() if mode == "clean" else {r: 0 for r in C.REASONS}
    if mode == "score":
        totals["would_remove_by_reason"] = decisions.counts()
    from hygiene import __version__

    return {
        "tool": f"corpus-hygiene {__version__}",
        "command": mode,
        "finished": _now(),
        "resumed": resumed,
        "config": config.model_dump(mode="json"),
        "threshold": threshold.as_dict() if threshold is not None else None,
        "inputs": [dict(src, **entry) for src, entry in zip(sources, per_shard)],
        "counts": totals,
        "summary": summarize(scores, decisions, threshold.value if threshold is not None else None),
        "timings_s": {k: round(v, 3) for k, v in timings.items()},
        "docs_per_s": round(len(decisions.cluster) / timings["score"], 2) if timings["score"] > 0.5 else None,
    }
