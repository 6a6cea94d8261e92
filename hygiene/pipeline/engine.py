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
a manifest; rerunning into it needs `overwrite=True`.
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
from hygiene.errors import RunError
from hygiene.io import columns as C
from hygiene.io.atomic import file_sha256, remove_tree, write_json
from hygiene.io.shards import Shard, count_rows, open_shards
from hygiene.progress import NullProgress, Progress
from hygiene.thresholds import Threshold, resolve_threshold

from .decide import Decisions, decide
from .examples import TextCapture, pick_examples
from .report import summarize, write_report
from .route import annotations, route_shard
from .scoring import KEY, SCORE, SIGNATURE, Scorer, read_signals, score_shard

__all__ = ["RunError", "RunResult", "run", "dedup_config", "build_scorer"]

Mode = Literal["clean", "score"]
_OUTPUTS = (C.KEPT_DIR, C.REMOVED_DIR, C.SCORED_DIR, C.QUARANTINE_DIR, C.WORK_DIR, C.MANIFEST, C.REPORT_HTML)




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


def _prepare_out(out: Path, fingerprint: str, overwrite: bool) -> bool:
    """Make `out` ready; True when an unfinished run of the same job is resumed."""
    run_file = out / C.WORK_DIR / "run.json"
    if out.exists() and not out.is_dir():
        raise RunError(f"output path exists and is not a directory: {out}")
    if out.exists() and any(out.iterdir()):
        ours = (out / C.MANIFEST).exists() or run_file.exists()
        if not ours:
            raise RunError(f"{out} is not empty and holds no corpus-hygiene run; choose an empty or new directory")
        if overwrite:
            for name in _OUTPUTS:
                target = out / name
                remove_tree(target) if target.is_dir() else target.unlink(missing_ok=True)
        elif (out / C.MANIFEST).exists():
            raise RunError(f"{out} already holds a finished run; pass --overwrite to replace it")
        elif json.loads(run_file.read_text()).get("fingerprint") != fingerprint:
            raise RunError(
                f"{out} holds an unfinished run of a different job (other inputs or settings); "
                "rerun that job to resume it, or pass --overwrite"
            )
        else:
            return True
    write_json(run_file, {"fingerprint": fingerprint, "started": _now()})
    return False


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def build_scorer(config: CleanConfig) -> Scorer:
    """The detector a job's settings describe (loads the model)."""
    from detectors.lm import load_causal_lm
    from detectors.zeroshot import ZeroShotDetector

    d = config.detector
    return ZeroShotDetector(
        load_causal_lm(d.model, device=d.device), statistic=d.statistic, max_tokens=d.max_tokens,
        batch_size=d.batch_size, normalize=d.normalize,
    )


def run(
    inputs: Sequence[str | Path],
    out: str | Path,
    config: CleanConfig | None = None,
    *,
    mode: Mode = "clean",
    overwrite: bool = False,
    annotate_kept: bool = False,
    scorer: Scorer | None = None,
    progress: Progress | None = None,
) -> RunResult:
    """Run `clean` (route rows) or `score` (annotate rows, remove nothing) over `inputs`."""
    config = config or CleanConfig()
    progress = progress or NullProgress()
    out = Path(out)
    timings: dict[str, float] = {}
    t = time.perf_counter()

    shards = open_shards(inputs, config.text_column)
    threshold = resolve_threshold(config)
    sources = [
        {"path": str(s.path), "name": s.name, "format": s.format, "bytes": s.path.stat().st_size,
         "sha256": file_sha256(s.path)}
        for s in shards
    ]
    job = {"mode": mode, "annotate_kept": annotate_kept, "config": config.model_dump(mode="json"),
           "inputs": [(s["path"], s["sha256"]) for s in sources]}
    fingerprint = hashlib.sha256(json.dumps(job, sort_keys=True).encode()).hexdigest()
    resumed = _prepare_out(out, fingerprint, overwrite)
    work = out / C.WORK_DIR
    timings["validate"] = time.perf_counter() - t

    # Pass 1: per-shard signals.
    t = time.perf_counter()
    minhash = dedup_config(config).minhash if config.dedup.near else None
    todo = [s for s in shards if not (work / "signals" / f"{s.name}.parquet").exists()]
    input_rows = {s.name: count_rows(s) for s in shards}  # one count per shard (JSONL: a read)
    stage_timings = {"read": 0.0, "detector": 0.0, "minhash": 0.0}
    if todo:
        scorer = scorer or build_scorer(config)
        progress.start("score", sum(input_rows[s.name] for s in todo))
        for shard in todo:
            got = score_shard(shard, scorer, config, minhash, work / "signals" / f"{shard.name}.parquet",
                              out / C.QUARANTINE_DIR / f"{shard.name}.parquet", progress)
            stage_timings = {k: stage_timings[k] + got[k] for k in stage_timings}
        progress.finish()
    timings["score"] = time.perf_counter() - t
    timings.update({f"score.{k}": v for k, v in stage_timings.items()})

    # Pass 2: corpus-wide decisions.
    t = time.perf_counter()
    signals = [read_signals(work / "signals" / f"{s.name}.parquet") for s in shards]
    table = pa.concat_tables([s.table for s in signals]) if signals else None
    scores = table.column(SCORE).to_numpy()
    sigs = None
    if minhash is not None:
        sigs = table.column(SIGNATURE).combine_chunks().flatten().to_numpy().reshape(len(scores), -1)
    decisions = decide(
        table.column(KEY).to_numpy(), sigs, scores, threshold.value,
        remove_machine=config.remove_machine, exact=config.dedup.exact, dedup=dedup_config(config),
    )
    ids = np.asarray(table.column("id").to_pylist(), dtype=object)
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
    progress.finish()
    timings["write"] = time.perf_counter() - t

    manifest = _manifest(mode, config, threshold, sources, per_shard, decisions, scores, timings, resumed)
    manifest["detector"] = _detector_info(scorer, config)
    sizes = [(shard.name, len(sig.table)) for shard, sig in zip(shards, signals)]
    manifest["summary"]["removed_examples"] = picks.examples(texts, sizes)
    write_report(out / C.REPORT_HTML, manifest)
    write_json(out / C.MANIFEST, manifest)  # last: marks the run as finished
    return RunResult(out=out, manifest=manifest, resumed=resumed)


def _detector_info(scorer: Scorer | None, config: CleanConfig) -> dict[str, Any]:
    """What scored this run; a run resumed after scoring knows only its settings."""
    info: dict[str, Any] = {"name": getattr(scorer, "name", None), **config.detector.model_dump(mode="json")}
    lm = getattr(scorer, "lm", None)
    if lm is not None:
        info.update(model=lm.name, device=str(lm.device), dtype=str(lm.dtype).removeprefix("torch."))
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


def _manifest(mode, config, threshold: Threshold, sources, per_shard, decisions, scores, timings, resumed):
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
        "threshold": threshold.as_dict(),
        "inputs": [dict(src, **entry) for src, entry in zip(sources, per_shard)],
        "counts": totals,
        "summary": summarize(scores, decisions, threshold.value),
        "timings_s": {k: round(v, 3) for k, v in timings.items()},
        "docs_per_s": round(len(scores) / timings["score"], 2) if timings["score"] > 0.5 else None,
    }
