"""`clean` and `score` as one resumable job over a set of shards.

    out/
      kept/<shard>.parquet        rows to train on (original columns and types)
      removed/<shard>.parquet     removed rows with their scores, cluster and reason
      scored/<shard>.parquet      (`score` only) every readable row with its annotations
      quarantine/<shard>.parquet  rows that could not be read or scored, with the error and raw bytes
      README.md                   dataset card: Hugging Face `datasets` configs for the folders above
      manifest.json               inputs + hashes, config, threshold, model, counts, timings; written last
      report.html                 human-readable summary
      .work/                      per-shard signals and markers that make an interrupted run resumable;
                                  removed once the run finishes (unless `keep_work`)

<shard> is the input's path under the folder searched, without its suffix (in/a/b/x.jsonl -> a/b/x); a
file exists only when it has rows, in `config.output_format` (parquet, jsonl, jsonl.gz or jsonl.zst).

Pass 1 scores each shard (skipping shards already scored), pass 2 decides across the whole corpus
(dedup is global), pass 3 routes rows (skipping shards already routed). A finished directory holds
a manifest; rerunning into it needs `overwrite=True`. Which directories a run may use, and which files
`overwrite` removes, is `rundir`'s business.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pyarrow as pa

from hygiene.config import CleanConfig
from hygiene.detector import Detector, scoring
from hygiene.errors import RunError
from hygiene.io import columns as C
from hygiene.io.atomic import file_sha256, write_json
from hygiene.io.jsonl import widened_columns
from hygiene.io.shards import Shard, count_rows, open_shards
from hygiene.io.sinks import open_sink
from hygiene.progress import NullProgress, Progress
from hygiene.thresholds import Threshold, domain_report, resolve_threshold

from . import rundir
from .card import write_card
from .decide import Decisions, decision_steps
from .dedup import NearDedup, decision_table
from .examples import TextCapture, pick_examples
from .report import summarize, write_report
from .route import annotations, route_shard
from .scoring import read_quarantine_info, read_signals, read_step_stats, score_shard
from .step import GlobalStep, Step, StepStats, merge_stats, run_steps
from .steps import ID, KEY, ROW, SCORE, SIGNATURE, DetectorStep, ExactKeyStep, MinHashStep

if TYPE_CHECKING:
    from .ray_engine import RayEngine

__all__ = ["RunError", "RunResult", "run", "dedup_config", "signal_steps"]

Mode = Literal["clean", "score"]
_WHERE = {"engine", "ray_address"}  # where a job runs, not what it does: a run resumes on either engine
_WORK_FORMAT = 3  # bumped when work files change meaning (2: MurmurHash64A exact keys, 3: input's own schema,
# quarantine counts in .work); a run never mixes them




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


def _decision_steps(config: CleanConfig, threshold: Threshold | None, work: Path, rows: int, mode: Mode,
                    ray: RayEngine | None) -> list:
    """Pass 2's filters for a job: against the persistent index when ``dedup.index`` names one (`clean` adds
    the run's documents to it, `score` only checks); else near dedup on disk (under ``work``) when
    ``dedup.engine`` says so, its candidate and verify stages as Ray tasks on the Ray engine."""
    from .dedup_disk import disk_partitions, use_disk

    value = threshold.value if threshold is not None else None
    if config.dedup.index is not None:
        from .dedup_index import indexed_decision_steps

        return indexed_decision_steps(value, remove_machine=config.remove_machine, exact=config.dedup.exact,
                                      dedup=dedup_config(config), location=config.dedup.index, state_dir=work,
                                      commit=mode == "clean")
    disk = use_disk(config.dedup.engine, rows)
    return decision_steps(value, remove_machine=config.remove_machine, exact=config.dedup.exact,
                          dedup=dedup_config(config), disk=work / "near-dedup" if disk else None,
                          partitions=disk_partitions(rows), map_tasks=ray.map_tasks if ray is not None else None)


def _near_info(filters: list) -> dict[str, Any] | None:
    """How near dedup ran: engine, pairs, and on disk the cluster cap's effect."""
    from .dedup_disk import DiskNearDedup
    from .dedup_index import IndexedNearDedup

    near = next((f for f in filters if isinstance(f, NearDedup | IndexedNearDedup)), None)
    if near is None:
        return None
    info: dict[str, Any] = {"engine": "memory", "candidates": near.candidates, "verified": near.verified}
    if isinstance(near, IndexedNearDedup):
        info.update(engine="index", index=near.check.info)
    if isinstance(near, DiskNearDedup):
        info.update(engine="disk", partitions=near.partitions, max_cluster=near.max_cluster)
        if near.result is not None:
            info.update(refused_unions=near.result.refused_unions, largest_cluster=near.result.largest_cluster,
                        disk_bytes=near.result.disk_bytes,
                        seconds={k: round(v, 3) for k, v in near.result.timings.items()})
    return info


def _spans(sizes: Sequence[int]) -> list[slice]:
    """Each shard's rows in the global decision arrays."""
    ends = np.cumsum(sizes, dtype=np.int64)
    return [slice(int(end - size), int(end)) for size, end in zip(sizes, ends)]


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
    redact: Callable[[Any], Any] | None = None,
) -> RunResult:
    """Run `clean` (route rows) or `score` (annotate rows, remove nothing) over `inputs`.

    `redact` rewrites what the outputs say of the server's files: it is given the manifest (before the
    manifest, report and card are written) and each input's path (the quarantine's source column), and
    returns them as a client may see them (the service: paths relative to their data root). None: as they are.
    """
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
    settings = config.model_dump(mode="json", exclude=_WHERE | {"keep_work"})  # keeping .work/ is not another job
    job = {"mode": mode, "annotate_kept": annotate_kept, "config": settings,
           "inputs": [(s["path"], s["sha256"]) for s in sources], "work_format": _WORK_FORMAT}
    fingerprint = hashlib.sha256(json.dumps(job, sort_keys=True).encode()).hexdigest()
    resumed = rundir.prepare(out, fingerprint, [s.name for s in shards], overwrite)
    if redact is not None:
        shards = [replace(s, shown_as=redact(str(s.path))) for s in shards]
    timings["validate"] = time.perf_counter() - t
    ray = None
    if config.engine == "ray":
        from .ray_engine import RayEngine

        ray = RayEngine(config.ray_address)
    try:
        return _run(shards, sources, out, config, threshold, timings, resumed, ray, mode=mode,
                    annotate_kept=annotate_kept, scorer=scorer, progress=progress, redact=redact)
    finally:
        if ray is not None:
            ray.close()


def _run(shards, sources, out: Path, config: CleanConfig, threshold: Threshold | None, timings: dict[str, float],
         resumed: bool, ray: RayEngine | None, *, mode: Mode, annotate_kept: bool, scorer: Detector | None,
         progress: Progress, redact: Callable[[Any], Any] | None = None) -> RunResult:
    work = out / C.WORK_DIR

    # Pass 1: per-batch steps over every shard (signals, keys, signatures) into work files.
    t = time.perf_counter()
    steps = signal_steps(config, scorer)
    todo = [s for s in shards if not (work / "signals" / f"{s.name}.parquet").exists()]
    input_rows = {s.name: count_rows(s) for s in shards}  # one count per shard (JSONL: a read)
    shard_stats: dict[str, list[StepStats]] = {}
    if todo:
        progress.start("score", sum(input_rows[s.name] for s in todo))
        if ray is not None:  # a task per shard: the workers read, score and write; the driver reads no record
            shard_stats = ray.score_shards(todo, steps, config, work / "signals", out / C.QUARANTINE_DIR, progress,
                                           input_rows)
        else:
            for shard in todo:
                quarantine = open_sink(out / C.QUARANTINE_DIR, shard.name, config.output_format)
                shard_stats[shard.name] = score_shard(shard, steps, config,
                                                      work / "signals" / f"{shard.name}.parquet", quarantine, progress)
        progress.finish()
    pass1 = merge_stats(shard_stats.get(s.name) or read_step_stats(work / "signals" / f"{s.name}.parquet")
                        for s in shards)
    timings["score"] = time.perf_counter() - t
    by_step = {s.step: s.seconds for s in pass1}
    timings.update({"score.read": by_step.get("read", 0.0), "score.detector": by_step.get("detector", 0.0),
                    "score.minhash": by_step.get("exact_key", 0.0) + by_step.get("minhash", 0.0)})

    # Pass 2: corpus-wide decisions: the global steps collect each shard's keys / signatures (one shard's
    # work file in memory at a time), then decide.
    t = time.perf_counter()
    paths = [work / "signals" / f"{s.name}.parquet" for s in shards]
    filters = _decision_steps(config, threshold, work, sum(input_rows.values()), mode, ray)
    collecting = [f for f in filters if isinstance(f, GlobalStep)]
    sizes, ids, score_parts = [], [], []
    for path in paths:
        part = read_signals(path, [ID, SCORE, KEY, SIGNATURE]).table
        sizes.append(part.num_rows)
        if not part.num_rows:
            continue
        for step in collecting:
            step.collect(part)
        ids.extend(part.column(ID).to_pylist())
        if threshold is not None:
            score_parts.append(part.column(SCORE).to_numpy())
        del part
    n = sum(sizes)
    scores = None
    if threshold is not None:
        scores = np.concatenate(score_parts) if score_parts else np.zeros(0)
    start = {SCORE: pa.array(scores, pa.float64())} if scores is not None else None
    decisions = Decisions.from_table(run_steps(filters, decision_table(n, start)))
    ids = np.asarray(ids, dtype=object)
    picks = pick_examples(decisions, ids, scores)
    timings["decide"] = time.perf_counter() - t

    # Pass 3: route rows into output shards (one shard's signals in memory at a time; on Ray, as many as the
    # cluster routes at once), then read every shard's counts and example texts back from its completion marker.
    t = time.perf_counter()
    progress.start("write", sum(input_rows.values()))  # every record, quarantined ones too: they stream past
    spans = dict(zip((s.name for s in shards), _spans(sizes)))

    def jobs():
        for shard, path in zip(shards, paths):
            marker = work / "routed" / f"{shard.name}.json"
            if marker.exists():
                progress.advance(input_rows[shard.name])
                continue
            sig = read_signals(path, exclude=[KEY, SIGNATURE])
            yield dict(shard=shard, signals=sig, extra=annotations(sig, decisions, spans[shard.name], ids),
                       config=config, out=out, marker=marker, mode=mode, annotate_kept=annotate_kept,
                       capture=picks.capture())

    if ray is None:
        for job in jobs():
            route_shard(**job, progress=progress)
    else:
        ray.route(jobs(), done=lambda shard: progress.advance(input_rows[shard.name]))
    per_shard, texts = [], {}
    for shard, path in zip(shards, paths):
        marker = work / "routed" / f"{shard.name}.json"
        counts = json.loads(marker.read_text())
        texts.update(TextCapture.load(marker.with_suffix(".examples.json")))
        quarantined = read_quarantine_info(path)
        per_shard.append(_shard_entry(shard, input_rows[shard.name], quarantined["rows"], counts, decisions,
                                      spans[shard.name]))
        schema = read_signals(path, [ROW]).schema
        per_shard[-1].update(unreadable=quarantined["unreadable"], widened_columns=widened_columns(schema))
    progress.finish()
    timings["write"] = time.perf_counter() - t

    manifest = _manifest(mode, config, threshold, sources, per_shard, decisions, scores, timings, resumed)
    manifest["steps"] = [s.as_dict() for s in [*pass1, *(f.stats for f in filters)]]
    manifest["near_dedup"] = _near_info(filters)
    detector = steps[0] if steps and isinstance(steps[0], DetectorStep) else None
    manifest["detector"] = _detector_info(detector, config)
    manifest["domain_check"] = domain_report(scores, config)
    manifest["summary"]["removed_examples"] = picks.examples(texts, [(s.name, k) for s, k in zip(shards, sizes)])
    if redact is not None:
        manifest = redact(manifest)
    manifest["outputs"] = write_card(out, manifest)
    manifest["run"] = rundir.read_marker(out)  # a finished run stays marked once .work/ is gone
    write_report(out / C.REPORT_HTML, manifest)
    write_json(out / C.MANIFEST, manifest)  # last: marks the run as finished
    if not config.keep_work:
        rundir.remove_work(out)
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


def _shard_entry(shard: Shard, rows: int, quarantined: int, counts: dict[str, int], decisions: Decisions,
                 span: slice):
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


def _recorded_config(config: CleanConfig) -> dict[str, Any]:
    """The job's settings as the manifest records them: a Redis index URL without its password."""
    settings = config.model_dump(mode="json")
    if config.dedup.index is not None:
        from hygiene.dedup.storage import redact_location

        settings["dedup"]["index"] = redact_location(config.dedup.index)
    return settings


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
        "config": _recorded_config(config),
        "threshold": threshold.as_dict() if threshold is not None else None,
        "inputs": [dict(src, **entry) for src, entry in zip(sources, per_shard)],
        "counts": totals,
        "summary": summarize(scores, decisions, threshold.value if threshold is not None else None),
        "timings_s": {k: round(v, 3) for k, v in timings.items()},
        "docs_per_s": round(len(decisions.cluster) / timings["score"], 2) if timings["score"] > 0.5 else None,
    }
