"""What the endpoints share for one app instance: settings, detector, job store, uploads, metrics.

Built by create_app; the detector, batcher and job worker are filled in by `start_workers` in the
lifespan, off the event loop, so /healthz answers while the model loads.
"""

from __future__ import annotations

import asyncio
import logging

from hygiene.detector import Detector, build_detector, scoring
from hygiene.thresholds import resolve_threshold, shipped_reference

from . import schemas as S
from .batcher import Batcher
from .jobs import JobRunner, JobStore
from .metrics import Metrics
from .outputs import public_report
from .settings import ServiceSettings
from .submit import recheck_paths, scorer_for, server_roots
from .throttle import FailedAuth
from .uploads import UploadStore

__all__ = ["ServiceState", "start_workers"]

log = logging.getLogger("hygiene.service")


class ServiceState:
    def __init__(self, settings: ServiceSettings, scorer: Detector | None) -> None:
        self.settings = settings
        self.scoring = scoring(settings.job.detector)  # None: detector kind none, jobs deduplicate only
        self.threshold = resolve_threshold(settings.job)  # fail fast: no threshold, no service
        # P(machine): the detector's own calibration (trained), else a fit to labelled reference scores
        reference = shipped_reference(settings.job) if self.scoring and not self.scoring.probability else None
        self.probability = reference.probability() if reference is not None else None
        self.scorer = scorer
        self.ready = False  # the detector (if any) is loaded and the job worker runs
        self.load_error: str | None = None
        self.metrics = Metrics()
        self.failed_auth = FailedAuth(settings.max_auth_failures)  # wrong tokens per client address
        self.store = JobStore(settings.store_path)
        self.store.on_finish = self.metrics.on_job_finished
        self.metrics.watch_jobs(self.store.count_by_state)
        self.batcher: Batcher | None = None
        self.runner: JobRunner | None = None
        self.uploads = UploadStore(settings.uploads_path, settings.max_shard_bytes)
        # held while a job's row is created and while an upload is deleted (never across reading shards), so a
        # deletion sees every job that reads the upload, or the job sees the upload gone
        self.uploads_lock = asyncio.Lock()

    def detector_info(self) -> S.DetectorInfo | None:
        """The detector as /v1/score and the console show it; None on a server without one (dedup only)."""
        spec, t = self.scoring, self.threshold
        if spec is None:
            return None
        lm = getattr(self.scorer, "lm", None) or getattr(self.scorer, "observer", None)
        return S.DetectorInfo(name=getattr(self.scorer, "name", spec.kind), model=getattr(lm, "name", None)
                              or spec.model, statistic=spec.key, max_tokens=spec.max_tokens, threshold=t.value,
                              threshold_source=t.source, target_fpr=t.calibration.get("target_fpr"))


async def start_workers(state: ServiceState) -> None:
    """Load the detector off the event loop, then start the batcher and the job worker."""
    try:
        if state.scorer is None:
            state.scorer = await asyncio.to_thread(build_detector, state.settings.job.detector)
    except Exception as exc:  # noqa: BLE001 - reported by /readyz; the process stays up for diagnosis
        log.exception("loading the detector failed")
        state.load_error = f"loading the detector failed: {type(exc).__name__}: {exc}"
        return
    s = state.settings
    if state.scorer is not None:  # none without a detector: /v1/score answers 409, jobs deduplicate
        batcher = Batcher(state.scorer, max_batch=s.max_batch, wait_s=s.batch_wait_ms / 1000,
                          queue_size=s.queue_size, enabled=s.batching, on_batch=state.metrics.on_batch)
        batcher.start()
        state.batcher = batcher
    roots = server_roots(s)  # a job's outputs name server paths as the API does: relative to their root
    runner = JobRunner(state.store, lambda config: scorer_for(config, state.scorer, s.job),
                       check=lambda job, config: recheck_paths(job.inputs, job.options, config, s),
                       redact=lambda value: public_report(value, roots))
    runner.start()
    state.runner = runner
    state.ready = True
