"""The Ray engine: the same per-batch steps as Ray Data ``map_batches`` stages, routing as Ray tasks.

`engine = "ray"` changes where the work runs, not what it is (pass 1 and 3 of :mod:`.engine`):

- pass 1: each shard is scored by a Ray task that runs the local engine's ``score_shard`` on the worker: it
  reads the shard with the same reader (bad records go to quarantine as locally), runs exact keys and MinHash
  there, and writes the shard's work file, its marker files and its quarantine file. The driver reads no
  record. The detector step runs in an actor pool the tasks send their batches to (the model loaded once per
  actor; ``num_gpus=1`` per actor when the cluster has GPUs);
- pass 2: with near dedup on disk, its candidate and verify stages run as Ray tasks per partition (the
  partition files are the shuffle); collecting the work files' keys and signatures and the union-find stay
  on the driver;
- pass 3: each shard is routed by a Ray task (the same ``route_shard``), all shards at once.

``map_tables`` (risk's in-memory sample) still runs a step as a Ray Data ``map_batches`` stage.

Resume, atomic outputs, the manifest and the row-count check are the local engine's: the work files and
markers are written the same way. On a cluster of several machines the inputs and the output directory
must be on a filesystem every node sees, and corpus-hygiene installed on every node.
"""

from __future__ import annotations

import socket
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc

from hygiene.errors import HygieneError
from hygiene.progress import NullProgress, Progress

from .step import Step, StepStats, run_steps
from .steps import DetectorStep
from .stream import SignalBatch

if TYPE_CHECKING:
    from hygiene.config import CleanConfig
    from hygiene.io.shards import Shard

    from .scoring import BatchMapper

__all__ = ["RayEngine", "RayUnavailable"]

_SECONDS = "__seconds__"
_AHEAD = 2  # batches a scoring task has at the detector actor while it reads the next


class RayUnavailable(HygieneError):
    """`engine = "ray"` but Ray cannot be imported or reached."""

    code = "ray_unavailable"


def _check_reachable(address: str | None, timeout: float = 5.0) -> None:
    """Fail fast on a cluster address nothing answers at: ``ray.init`` would retry for minutes and ignore
    Ctrl-C. Only ``host:port`` forms (also ``ray://host:port``) are checked; "auto" and "local" are Ray's."""
    if address is None or address in ("auto", "local"):
        return
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        return  # not host:port: let Ray say what it makes of it
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except OSError as exc:  # refused, timed out, unknown host
        raise RayUnavailable(f"cannot reach the Ray cluster at {address}: nothing answers there "
                             f"({exc.strerror or exc})", setting="ray_address") from exc


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


class _StepServer:
    """An actor holding one step (the detector: its model loaded once per actor): a batch in, the step's
    output and the seconds it took out."""

    def __init__(self, step: Step) -> None:
        self.step = step

    def run(self, batch: pa.Table) -> tuple[pa.Table, float]:
        start = time.perf_counter()
        return self.step(batch), time.perf_counter() - start


def _remote_mapper(server: Any, remote: Step) -> BatchMapper:
    """A :data:`~.scoring.BatchMapper` that runs ``remote`` (one of the steps) on the actor ``server`` and the
    other steps here, keeping up to ``_AHEAD`` batches at the actor while the next ones are read."""
    import ray

    def apply(items: Iterator[SignalBatch], steps: Sequence[Step]) -> Iterator[SignalBatch]:
        at = steps.index(remote)
        before, after = steps[:at], steps[at + 1:]
        pending: deque[tuple[SignalBatch, Any]] = deque()

        def finish(item: SignalBatch, ref: Any) -> SignalBatch:
            if ref is None:
                return item
            table, seconds = ray.get(ref)
            remote.stats.add(remote.rows_in(item.signals), remote.rows_out(table), seconds)
            return replace(item, signals=run_steps(after, table))

        for item in items:
            ref = None
            if item.signals.num_rows:
                ref = server.run.remote(run_steps(before, item.signals))
            pending.append((item, ref))
            if len(pending) > _AHEAD:
                yield finish(*pending.popleft())
        while pending:
            yield finish(*pending.popleft())

    return apply


def _released(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn`` that hands Arrow's unused memory back to the system when it returns: a worker lives on, idle or
    running other tasks, and would otherwise keep the peak of every task it ran."""
    import functools

    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        finally:
            pa.default_memory_pool().release_unused()

    return run


@_released
def _score(shard: Shard, steps: list[Step], config: CleanConfig, signals_path: Path, quarantine_dir: Path,
           server: Any) -> list[StepStats]:
    """Pass 1 for one shard on a worker: the local engine's ``score_shard`` (the detector, if any, on ``server``)."""
    from hygiene.io.sinks import open_sink

    from .scoring import score_shard

    quarantine = open_sink(quarantine_dir, shard.name, config.output_format)
    detector = next((s for s in steps if isinstance(s, DetectorStep)), None)
    mapper = _remote_mapper(server, detector) if detector is not None else None
    return score_shard(shard, steps, config, signals_path, quarantine, NullProgress(), mapper=mapper)


@_released
def _route(**job: Any) -> None:
    """Pass 3 for one shard on a worker: its counts and example texts land in its marker files."""
    from .route import route_shard

    route_shard(**job, progress=NullProgress())


@_released
def _call(fn: Callable[..., Any], args: tuple) -> Any:
    return fn(*args)


class RayEngine:
    """Connects to the Ray cluster at ``address`` (None: starts a local one with ``num_cpus`` CPUs, default all).

    ``detector_actors``: detector actors for pass 1 (default: one per GPU, else one per CPU but one; at least one,
    at most one per shard being scored)."""

    def __init__(self, address: str | None = None, *, num_cpus: int | None = None,
                 detector_actors: int | None = None) -> None:
        self.address, self.num_cpus = address, num_cpus
        self.detector_actors = detector_actors
        self._started = False

    def start(self):
        try:
            import ray
        except ImportError as exc:
            raise RayUnavailable("the Ray engine needs Ray: pip install 'corpus-hygiene[ray]'",
                                 setting="engine") from exc
        if not ray.is_initialized():
            _check_reachable(self.address)
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
    def score_shards(self, shards: Sequence[Shard], steps: list[Step], config: CleanConfig, work: Path,
                     quarantine_dir: Path, progress: Progress, records: dict[str, int]) -> dict[str, list[StepStats]]:
        """Pass 1 of every shard as a Ray task (``work/<shard>.parquet`` and its markers, as locally); the steps'
        counts per shard. ``progress`` advances by a shard's ``records`` when its task finishes."""
        if not shards:
            return {}
        ray = self.start()
        detector = next((s for s in steps if isinstance(s, DetectorStep)), None)
        servers = self._detector_pool(ray, detector, len(shards)) if detector is not None else [None]
        task = ray.remote(num_cpus=1)(_score)
        pending = {task.remote(shard, steps, config, work / f"{shard.name}.parquet", quarantine_dir,
                               servers[k % len(servers)]): shard.name for k, shard in enumerate(shards)}
        stats: dict[str, list[StepStats]] = {}
        try:
            while pending:
                done, _ = ray.wait(list(pending), num_returns=1)
                name = pending.pop(done[0])
                stats[name] = ray.get(done[0])
                progress.advance(records[name])
        finally:
            for ref in pending:
                ray.cancel(ref)
            for server in servers:
                if server is not None:
                    ray.kill(server)
        return stats

    def _detector_pool(self, ray, step: DetectorStep, tasks: int) -> list[Any]:
        """Detector actors for ``tasks`` scoring tasks (each task feeds one actor: no more actors than tasks)."""
        resources = ray.cluster_resources()
        gpus, cpus = int(resources.get("GPU", 0)), int(resources.get("CPU", 1))
        count = min(tasks, self.detector_actors or gpus or max(1, cpus - 1))
        # An actor holds a CPU while one is left for the scoring tasks; else it shares them (no deadlock).
        cpu = 1 if cpus > count else 0
        actor = ray.remote(num_cpus=cpu, num_gpus=1 if gpus else 0)(_StepServer)
        return [actor.remote(step) for _ in range(count)]

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

    # pass 2 -------------------------------------------------------------------------------------------------
    def map_tasks(self, fn: Callable[..., Any], args: Sequence[tuple]) -> list[Any]:
        """``fn(*a)`` for each ``a`` as Ray tasks (one CPU each), the results in order: a disk dedup's
        :data:`~hygiene.dedup.partitioned.TaskMap`."""
        if not args:
            return []
        ray = self.start()
        task = ray.remote(num_cpus=1)(_call)
        return ray.get([task.remote(fn, a) for a in args])

    # pass 3 -------------------------------------------------------------------------------------------------
    def route(self, jobs: Iterable[dict[str, Any]], done: Callable[[Shard], None]) -> None:
        """``route_shard(**job)`` for every job as Ray tasks, as many at once as the cluster has CPUs (a job holds
        a shard's signals and annotations: the next is built when a task finishes); ``done(shard)`` after each."""
        ray = self.start()
        task = ray.remote(num_cpus=1)(_route)
        limit = max(1, int(ray.cluster_resources().get("CPU", 1)))
        pending: dict[Any, Shard] = {}

        def wait_one() -> None:
            ready, _ = ray.wait(list(pending), num_returns=1)
            ray.get(ready[0])
            done(pending.pop(ready[0]))

        try:
            for job in jobs:
                if len(pending) >= limit:
                    wait_one()
                pending[task.remote(**job)] = job["shard"]
                del job
            while pending:
                wait_one()
        finally:
            for ref in pending:
                ray.cancel(ref)
