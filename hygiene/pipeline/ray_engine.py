"""The Ray engine: the same per-batch steps as Ray Data ``map_batches`` stages, routing as Ray tasks.

`engine = "ray"` changes where the work runs, not what it is (pass 1 and 3 of :mod:`.engine`):

- pass 1: each shard is read here, by the same reader (bad records go to quarantine as locally), in
  windows of batches; a window becomes a Ray Dataset with one block per batch, and each step is one
  ``map_batches(batch_format="pyarrow", batch_size=None)`` stage over it: the detector step as an actor
  pool (the model loaded once per actor; ``num_gpus=1`` per actor when the cluster has GPUs), exact keys
  and MinHash signatures as CPU tasks. Steps add columns and never drop rows, so the results, in order,
  are sliced back into the batches they came from and written to the same work files;
- pass 2 (global dedup) runs here, on the driver, as locally (its memory is bounded on disk);
- pass 3: each shard is routed by a Ray task (the same ``route_shard``), all shards at once.

Resume, atomic outputs, the manifest and the row-count check are the local engine's: the work files and
markers are written the same way. On a cluster of several machines the inputs and the output directory
must be on a filesystem every node sees, and corpus-hygiene installed on every node.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import replace
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from hygiene.errors import HygieneError

from .step import Step
from .steps import DetectorStep
from .stream import SignalBatch

__all__ = ["RayEngine", "RayUnavailable", "WINDOW_ROWS"]

# Documents in flight per window: bounds the driver's and the object store's memory (HYGIENE_RAY_WINDOW_ROWS
# overrides it; benchmarks/RESULTS.md, "Dedup-only cleaning at 1M", has what it costs).
WINDOW_ROWS = 1 << 14
_SECONDS = "__seconds__"


class RayUnavailable(HygieneError):
    """`engine = "ray"` but Ray cannot be imported or reached."""

    code = "ray_unavailable"


class _Timed:
    """A step as a Ray Data UDF: its output plus the seconds it took (a column, on the first row), so the
    driver can count each step's time though the step object that ran lives in a worker."""

    def __init__(self, step: Step) -> None:
        self.step = step

    def __call__(self, batch: pa.Table) -> pa.Table:
        start = time.perf_counter()
        out = self.step(batch)
        seconds = [0.0] * out.num_rows
        if seconds:
            seconds[0] = time.perf_counter() - start
        return out.append_column(f"{_SECONDS}{self.step.name}", pa.array(seconds, pa.float64()))


def _route(*args: Any, **kwargs: Any) -> tuple[dict[str, int], dict[str, Any]]:
    from hygiene.progress import NullProgress

    from .route import route_shard

    capture = kwargs.get("capture")
    counts = route_shard(*args, **kwargs, progress=NullProgress())
    return counts, capture.texts if capture is not None else {}


class RayEngine:
    """Connects to the Ray cluster at ``address`` (None: starts a local one with ``num_cpus`` CPUs, default all)."""

    def __init__(self, address: str | None = None, *, num_cpus: int | None = None,
                 window_rows: int | None = None, detector_actors: int | None = None) -> None:
        self.address, self.num_cpus = address, num_cpus
        self.window_rows = window_rows or int(os.environ.get("HYGIENE_RAY_WINDOW_ROWS", WINDOW_ROWS))
        self.detector_actors = detector_actors
        self._started = False

    def start(self):
        try:
            import ray
        except ImportError as exc:
            raise RayUnavailable("the Ray engine needs Ray: pip install 'corpus-hygiene[ray]'",
                                 setting="engine") from exc
        if not ray.is_initialized():
            try:
                ray.init(address=self.address, num_cpus=None if self.address else self.num_cpus,
                         include_dashboard=False, log_to_driver=False, configure_logging=False)
            except (ConnectionError, RuntimeError, ValueError) as exc:
                raise RayUnavailable(f"cannot reach the Ray cluster at {self.address}: {exc}",
                                     setting="ray_address") from exc
            self._started = True
        ctx = ray.data.DataContext.get_current()
        ctx.execution_options.preserve_order = True  # results come back in input order
        ctx.enable_progress_bars = False
        return ray

    def close(self) -> None:
        if self._started:
            import ray

            ray.shutdown()
            self._started = False

    def __enter__(self) -> RayEngine:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # pass 1 -------------------------------------------------------------------------------------------------
    def map_steps(self, items: Iterator[SignalBatch], steps: Sequence[Step]) -> Iterator[SignalBatch]:
        """The steps over ``items`` as Ray Data stages, a window at a time; yields the items in order with the
        steps' columns (a :data:`~.scoring.BatchMapper`)."""
        window: list[SignalBatch] = []
        rows = 0
        for item in items:
            window.append(item)
            rows += item.signals.num_rows
            if rows >= self.window_rows:
                yield from self._window(window, steps)
                window, rows = [], 0
        if window:
            yield from self._window(window, steps)

    def _window(self, window: list[SignalBatch], steps: Sequence[Step]) -> Iterator[SignalBatch]:
        results = iter(self.map_tables([item.signals for item in window if item.signals.num_rows], steps))
        for item in window:
            yield replace(item, signals=next(results)) if item.signals.num_rows else item

    def map_tables(self, tables: Sequence[pa.Table], steps: Sequence[Step]) -> list[pa.Table]:
        """Each table through ``steps`` as Ray Data stages (one block per table); the results in order. The steps'
        stats count the rows and the seconds spent in the workers."""
        if not tables or not steps:
            return list(tables)
        ray = self.start()
        ds = ray.data.from_arrow(list(tables))
        for step in steps:
            ds = self._stage(ray, ds, step)
        results = [ray.get(ref) for ref in ds.to_arrow_refs()]
        out = pa.concat_tables([t for t in results if t.num_rows]) if results else tables[0].slice(0, 0)
        expected = sum(t.num_rows for t in tables)
        if out.num_rows != expected:
            raise RuntimeError(f"the Ray stages returned {out.num_rows} rows for {expected}")
        timing = [c for c in out.column_names if c.startswith(_SECONDS)]
        for step in steps:
            column = f"{_SECONDS}{step.name}"
            seconds = float(pc.sum(out.column(column)).as_py() or 0.0) if column in timing else 0.0
            step.stats.add(out.num_rows, step.rows_out(out), seconds)
        out = out.drop_columns(timing)
        parts, offset = [], 0
        for table in tables:
            parts.append(out.slice(offset, table.num_rows))
            offset += table.num_rows
        return parts

    def _stage(self, ray, ds, step: Step):
        if isinstance(step, DetectorStep):  # a model: an actor pool, each actor loading it once
            gpus = int(ray.cluster_resources().get("GPU", 0))
            cpus = int(ray.cluster_resources().get("CPU", 1))
            actors = self.detector_actors or (gpus if gpus else max(1, cpus))
            return ds.map_batches(_Timed, fn_constructor_args=(step,), batch_format="pyarrow", batch_size=None,
                                  concurrency=actors, num_gpus=1 if gpus else 0)
        return ds.map_batches(_Timed(step), batch_format="pyarrow", batch_size=None)

    # pass 3 -------------------------------------------------------------------------------------------------
    def route(self, jobs: list[dict[str, Any]]) -> list[tuple[dict[str, int], dict[str, Any]]]:
        """``route_shard(**job)`` for every job as Ray tasks, all at once; (counts, captured texts) per job."""
        if not jobs:
            return []
        ray = self.start()
        task = ray.remote(num_cpus=1)(_route)
        return ray.get([task.remote(**job) for job in jobs])
