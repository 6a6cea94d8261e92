"""Prometheus metrics of one app instance (own registry, so several apps can live in one process)."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily

__all__ = ["Metrics"]

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)


class _JobStates:
    """Job counts by state, read from the job store at scrape time (the store is the truth)."""

    def __init__(self, counts: Callable[[], dict[str, int]]) -> None:
        self.counts = counts

    def collect(self):
        family = GaugeMetricFamily("hygiene_jobs", "Jobs in the store by state", labels=["state"])
        for state, n in self.counts().items():
            family.add_metric([state], n)
        yield family


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

    def watch_jobs(self, counts: Callable[[], dict[str, int]]) -> None:
        self.registry.register(_JobStates(counts))

    def on_batch(self, texts: int, seconds: float) -> None:
        self.batch_size.observe(texts)
        self.batch_seconds.observe(seconds)
        self.docs_scored.inc(texts)
