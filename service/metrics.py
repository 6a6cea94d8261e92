"""Prometheus metrics of one app instance, served by /metrics after the process-wide default registry.

The app's own metrics live in a registry per app (several apps can live in one process, as in the
tests); /metrics serves the default registry first (process_* and python_* collectors, and anything
else the process registered there), then these.
"""

from __future__ import annotations

import platform
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram, Info, generate_latest
from prometheus_client.core import GaugeMetricFamily
from starlette.routing import Match

if TYPE_CHECKING:
    from .jobs import JobRecord

__all__ = ["Metrics", "route_label"]

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)
_JOB_BUCKETS = (1, 5, 15, 60, 300, 900, 3600, 4 * 3600, 12 * 3600, 48 * 3600)


class _JobStates:
    """Job counts by state, read from the job store at scrape time (the store is the truth)."""

    def __init__(self, counts: Callable[[], dict[str, int]]) -> None:
        self.counts = counts

    def collect(self):
        family = GaugeMetricFamily("hygiene_jobs", "Jobs in the store by state", labels=["state"])
        for state, n in self.counts().items():
            family.add_metric([state], n)
        yield family


def route_label(scope) -> str:
    """The route template that served a request ("/v1/jobs/{job_id}", "/docs"), never the raw path, so the
    label set stays bounded; "unmatched" when no route matched."""
    path = getattr(scope.get("route"), "path", None)
    if path:
        return path
    # Not set by every route (Starlette's own, mounts) nor for requests refused before routing: match here.
    return _match(getattr(getattr(scope.get("app"), "router", None), "routes", ()), scope) or "unmatched"


def _match(routes, scope) -> str | None:
    for route in routes:
        nested = getattr(route, "original_router", None)  # FastAPI keeps an included router whole
        if nested is not None:
            found = _match(getattr(nested, "routes", ()), scope)
            if found:
                prefix = getattr(getattr(route, "include_context", None), "prefix", "") or ""
                return prefix + found
        elif getattr(route, "path", None) and route.matches(scope)[0] is Match.FULL:
            return route.path
    return None


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter("hygiene_http_requests", "HTTP requests by route and status",
                                ["method", "route", "status"], registry=r)
        self.latency = Histogram("hygiene_http_request_duration_seconds", "HTTP request latency by route",
                                 ["method", "route"], buckets=_LATENCY_BUCKETS, registry=r)
        self.batch_size = Histogram("hygiene_score_batch_size", "Texts per model call of /v1/score",
                                    buckets=_BATCH_BUCKETS, registry=r)
        self.batch_seconds = Histogram("hygiene_score_batch_seconds", "Model time per /v1/score batch",
                                       buckets=_LATENCY_BUCKETS, registry=r)
        self.docs_scored = Counter("hygiene_docs_scored", "Texts scored through /v1/score", registry=r)
        self.rejected = Counter("hygiene_score_rejected", "Requests refused with 429 (queue full)", registry=r)
        self.queue_depth = Gauge("hygiene_score_queue_texts", "Texts waiting for the model", registry=r)
        self.jobs_finished = Counter("hygiene_jobs_finished", "Jobs that reached a final state in this process",
                                     ["state"], registry=r)
        self.job_docs_scored = Counter("hygiene_job_docs_scored", "Documents scored by finished jobs", ["kind"],
                                       registry=r)
        self.rows_removed = Counter("hygiene_job_rows_removed", "Rows removed by finished clean jobs, by reason",
                                    ["reason"], registry=r)
        self.rows_quarantined = Counter("hygiene_job_rows_quarantined",
                                        "Unreadable rows finished jobs set aside", registry=r)
        self.job_duration = Histogram("hygiene_job_duration_seconds", "Wall time from a job's start to its end",
                                      ["kind", "state"], buckets=_JOB_BUCKETS, registry=r)
        self.build = Info("hygiene_build", "Version of corpus-hygiene and of the Python running it", registry=r)
        self.build.info({"version": _version(), "python": platform.python_version()})

    def watch_jobs(self, counts: Callable[[], dict[str, int]]) -> None:
        self.registry.register(_JobStates(counts))

    def on_batch(self, texts: int, seconds: float) -> None:
        self.batch_size.observe(texts)
        self.batch_seconds.observe(seconds)
        self.docs_scored.inc(texts)

    def on_job_finished(self, job: JobRecord) -> None:
        """Count a job that reached a final state: its documents, removals by reason, its duration."""
        self.jobs_finished.labels(job.state).inc()
        if job.started and job.finished:
            seconds = (datetime.fromisoformat(job.finished) - datetime.fromisoformat(job.started)).total_seconds()
            self.job_duration.labels(job.kind, job.state).observe(max(seconds, 0.0))
        counts = job.counts or {}
        if job.state != "succeeded":
            return
        self.job_docs_scored.labels(job.kind).inc(_documents_scored(job))
        if job.kind == "clean":
            for reason, n in (counts.get("removed_by_reason") or {}).items():
                self.rows_removed.labels(reason).inc(n)
        if isinstance(counts.get("quarantined"), int):
            self.rows_quarantined.inc(counts["quarantined"])

    def exposition(self) -> bytes:
        """The text /metrics serves: the default registry, then this app's."""
        return generate_latest(REGISTRY) + generate_latest(self.registry)


def _documents_scored(job: JobRecord) -> int:
    """Every readable row of a clean/score job is scored; a risk job scores a sample of them."""
    counts = job.counts or {}
    if job.kind == "risk":
        return min(int(counts.get("readable", 0)), int((job.options or {}).get("sample", 0)))
    return int(counts.get("rows", 0)) - int(counts.get("quarantined", 0))


def _version() -> str:
    from hygiene import __version__

    return __version__
