"""Jobs that survive restarts: a SQLite store (one row per job) and one worker thread running the pipeline.

A job is a `hygiene clean`, `hygiene score` or `hygiene risk` run writing to OUTPUT_ROOT/<id>/. The
worker runs jobs one at a time, oldest first. At start-up, jobs left `running` by a crashed process are
queued again: rerunning a clean/score job into the same directory lets the pipeline's own resume skip
every finished shard; a risk job is one pass and simply runs again from the start.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from hygiene.config import CleanConfig
from hygiene.detector import Detector
from hygiene.io import columns as C
from hygiene.pipeline import run
from hygiene.thresholds import run_warnings

from .risk_job import run_risk_job

__all__ = ["JobStore", "JobRecord", "JobRunner", "JobCancelled", "STATES", "FINAL_STATES"]

State = Literal["queued", "running", "succeeded", "failed", "cancelled"]
Kind = Literal["clean", "score", "risk"]
STATES: tuple[State, ...] = ("queued", "running", "succeeded", "failed", "cancelled")
FINAL_STATES = ("succeeded", "failed", "cancelled")
log = logging.getLogger("hygiene.service")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    state TEXT NOT NULL,
    inputs TEXT NOT NULL,          -- JSON list of resolved shard paths
    config TEXT NOT NULL,          -- JSON CleanConfig
    annotate_kept INTEGER NOT NULL,
    out TEXT NOT NULL,
    created TEXT NOT NULL,
    started TEXT,
    finished TEXT,
    stage TEXT,
    rows_done INTEGER NOT NULL DEFAULT 0,
    rows_total INTEGER,
    counts TEXT,                   -- JSON manifest counts once finished
    timings TEXT,                  -- JSON manifest timings once finished
    error TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    options TEXT,                  -- JSON options of a risk job (resolved reference paths)
    warnings TEXT                  -- JSON list of the run's warnings once finished (the domain check's)
);
CREATE INDEX IF NOT EXISTS jobs_state_created ON jobs (state, created);
"""


class JobCancelled(Exception):
    """Raised inside a running job when a client cancelled it."""


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


@dataclass(frozen=True)
class JobRecord:
    id: str
    kind: Kind
    state: State
    inputs: list[str]
    config: dict[str, Any]
    annotate_kept: bool
    out: Path
    created: str
    started: str | None
    finished: str | None
    stage: str | None
    rows_done: int
    rows_total: int | None
    counts: dict[str, Any] | None
    timings: dict[str, float] | None
    error: str | None
    attempts: int
    options: dict[str, Any] | None = None
    warnings: list[str] | None = None

    @property
    def duration_s(self) -> float | None:
        """Seconds from start to end (to now while running); None before it started."""
        if self.started is None:
            return None
        end = datetime.fromisoformat(self.finished) if self.finished else datetime.now(UTC)
        return round(max((end - datetime.fromisoformat(self.started)).total_seconds(), 0.0), 3)

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> JobRecord:
        data = dict(row)
        data.pop("cancel_requested")
        for key in ("inputs", "config", "counts", "timings", "options", "warnings"):
            data[key] = json.loads(data[key]) if data[key] is not None else None
        return cls(**{**data, "out": Path(data["out"]), "annotate_kept": bool(data["annotate_kept"])})


class JobStore:
    """Job rows in SQLite (WAL: readers never wait for the worker's writes). Safe to share across threads.

    `on_finish(record)`, when set, is called after a job reaches a final state (metrics)."""

    def __init__(self, path: Path) -> None:
        self.on_finish: Callable[[JobRecord], None] | None = None
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30)
        self._db.row_factory = sqlite3.Row
        self._lock = threading.Lock()
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(_SCHEMA)
            columns = {row[1] for row in self._db.execute("PRAGMA table_info(jobs)")}
            if "options" not in columns:  # a store written before risk jobs existed
                self._db.execute("ALTER TABLE jobs ADD COLUMN options TEXT")
            if "warnings" not in columns:  # ... or before jobs reported warnings
                self._db.execute("ALTER TABLE jobs ADD COLUMN warnings TEXT")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _execute(self, sql: str, params: tuple = ()) -> list[sqlite3.Row]:
        with self._lock, closing(self._db.execute(sql, params)) as cursor:
            return cursor.fetchall()

    def create(self, kind: str, inputs: list[str], config: CleanConfig, annotate_kept: bool, out_root: Path,
               options: dict[str, Any] | None = None) -> str:
        job_id = uuid.uuid4().hex
        self._execute(
            "INSERT INTO jobs (id, kind, state, inputs, config, annotate_kept, out, created, options) "
            "VALUES (?,?,?,?,?,?,?,?,?)",
            (job_id, kind, "queued", json.dumps(inputs), config.model_dump_json(), int(annotate_kept),
             str(out_root / job_id), _now(), json.dumps(options) if options is not None else None),
        )
        return job_id

    def paths_in_use(self) -> set[str]:
        """Every input and reference path of a queued or running job (uploads in use cannot be deleted)."""
        paths: set[str] = set()
        for row in self._execute("SELECT inputs, options FROM jobs WHERE state IN ('queued', 'running')"):
            paths.update(json.loads(row["inputs"]))
            options = json.loads(row["options"]) if row["options"] else {}
            paths.update(options.get("detector_reference", []) + options.get("diversity_reference", []))
        return paths

    def get(self, job_id: str) -> JobRecord | None:
        rows = self._execute("SELECT * FROM jobs WHERE id = ?", (job_id,))
        return JobRecord.from_row(rows[0]) if rows else None

    def list(self, state: str | None = None, limit: int = 100, offset: int = 0) -> list[JobRecord]:
        where, params = ("WHERE state = ?", (state,)) if state else ("", ())
        rows = self._execute(f"SELECT * FROM jobs {where} ORDER BY created DESC, id LIMIT ? OFFSET ?",
                             (*params, limit, offset))
        return [JobRecord.from_row(r) for r in rows]

    def count_by_state(self) -> dict[str, int]:
        counts = dict.fromkeys(STATES, 0)
        rows = self._execute("SELECT state, COUNT(*) AS n FROM jobs GROUP BY state")
        counts.update({r["state"]: r["n"] for r in rows})
        return counts

    def requeue_unfinished(self) -> int:
        """At start-up: jobs a dead process left running go back to the queue (their outputs resume)."""
        rows = self._execute("UPDATE jobs SET state = 'queued', stage = NULL WHERE state = 'running' RETURNING id")
        return len(rows)

    def claim_next(self) -> JobRecord | None:
        rows = self._execute(
            "UPDATE jobs SET state = 'running', started = COALESCE(started, ?), attempts = attempts + 1 "
            "WHERE id = (SELECT id FROM jobs WHERE state = 'queued' ORDER BY created, id LIMIT 1) RETURNING *",
            (_now(),),
        )
        return JobRecord.from_row(rows[0]) if rows else None

    def progress(self, job_id: str, stage: str, done: int, total: int | None) -> bool:
        """Record progress; returns True when a client asked to cancel the job."""
        rows = self._execute("UPDATE jobs SET stage = ?, rows_done = ?, rows_total = ? WHERE id = ? "
                             "RETURNING cancel_requested", (stage, done, total, job_id))
        return bool(rows and rows[0]["cancel_requested"])

    def finish(self, job_id: str, state: State, *, counts=None, timings=None, error: str | None = None,
               warnings: list[str] | None = None) -> None:
        rows = self._execute(
            "UPDATE jobs SET state = ?, finished = ?, counts = ?, timings = ?, error = ?, warnings = ? WHERE id = ? "
            "RETURNING *",
            (state, _now(), json.dumps(counts) if counts is not None else None,
             json.dumps(timings) if timings is not None else None, error,
             json.dumps(warnings) if warnings is not None else None, job_id),
        )
        self._finished(rows)

    def cancel(self, job_id: str) -> State | None:
        """Cancel a queued job at once, flag a running one; returns the state after the call."""
        rows = self._execute(
            "UPDATE jobs SET state = CASE state WHEN 'queued' THEN 'cancelled' ELSE state END, "
            "finished = CASE state WHEN 'queued' THEN ? ELSE finished END, "
            "cancel_requested = CASE state WHEN 'running' THEN 1 ELSE cancel_requested END "
            "WHERE id = ? AND state IN ('queued', 'running') RETURNING *", (_now(), job_id))
        if not rows:
            job = self.get(job_id)
            return job.state if job else None
        if rows[0]["state"] == "cancelled":
            self._finished(rows)  # a queued job ends here; a running one ends in the worker
        return rows[0]["state"]

    def delete(self, job_id: str) -> JobRecord | None:
        """Remove a finished job's row; returns it (its `out` is the caller's to remove), or None when there
        is no such job or it is still queued or running."""
        rows = self._execute(f"DELETE FROM jobs WHERE id = ? AND state IN {FINAL_STATES} RETURNING *", (job_id,))
        return JobRecord.from_row(rows[0]) if rows else None

    def _finished(self, rows: list[sqlite3.Row]) -> None:
        if rows and self.on_finish is not None:
            try:
                self.on_finish(JobRecord.from_row(rows[0]))
            except Exception:  # noqa: BLE001 - a metrics hook never fails a job
                log.exception("job finish hook failed")


class _StoreProgress:
    """Pipeline progress written to the job row (at most every `every_s`); raises when cancelled."""

    def __init__(self, store: JobStore, job_id: str, every_s: float = 0.5) -> None:
        self.store, self.job_id, self.every_s = store, job_id, every_s
        self.stage, self.done, self.total, self._last = "", 0, None, 0.0

    def _flush(self, force: bool = False) -> None:
        now = time.monotonic()
        if force or now - self._last >= self.every_s:
            self._last = now
            if self.store.progress(self.job_id, self.stage, self.done, self.total):
                raise JobCancelled(self.job_id)

    def start(self, stage: str, total: int | None) -> None:
        self.stage, self.done, self.total = stage, 0, total
        self._flush(force=True)

    def advance(self, n: int) -> None:
        self.done += n
        self._flush()

    def finish(self) -> None:
        self._flush(force=True)


class JobRunner:
    """One thread that runs queued jobs until stopped. `get_scorer(config)` returns the job's detector
    (None: the job has none, or the pipeline builds it from the job's settings); `check(job, config)`, run
    right before a job reads its files, raises when they may no longer be read (the job fails with its message).
    `redact` rewrites what a job's outputs say of server paths (reports, manifest, quarantine sources) as
    clients may see them."""

    def __init__(self, store: JobStore, get_scorer: Callable[[CleanConfig], Detector | None],
                 poll_s: float = 0.5, check: Callable[[JobRecord, CleanConfig], None] | None = None,
                 redact: Callable[[Any], Any] | None = None) -> None:
        self.store, self.get_scorer, self.poll_s = store, get_scorer, poll_s
        self.check, self.redact = check, redact
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="jobs", daemon=True)
        self.on_state: Callable[[str], None] | None = None  # metrics hook: a job reached this state

    def start(self) -> None:
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout)

    def _loop(self) -> None:
        while not self._stop.is_set():
            job = self.store.claim_next()
            if job is None:
                self._wake.wait(self.poll_s)
                self._wake.clear()
                continue
            self._run(job)

    def _run(self, job: JobRecord) -> None:
        config = CleanConfig.model_validate(job.config)
        manifest_path = job.out / C.MANIFEST
        try:
            if self.check is not None:
                self.check(job, config)
            if job.kind == "risk":
                manifest = run_risk_job(job, config, lambda: self.get_scorer(config),
                                        _StoreProgress(self.store, job.id), self.redact)
            elif manifest_path.exists():  # finished before a crash lost the state update
                manifest = json.loads(manifest_path.read_text())
            else:
                result = run(job.inputs, job.out, config, mode=job.kind, annotate_kept=job.annotate_kept,
                             scorer=self.get_scorer(config), progress=_StoreProgress(self.store, job.id),
                             redact=self.redact)
                manifest = result.manifest
        except JobCancelled:
            self.store.finish(job.id, "cancelled", error="cancelled by a client")
            self._notify("cancelled")
            return
        except Exception as exc:  # noqa: BLE001 - recorded on the job; the server keeps serving
            self.store.finish(job.id, "failed", error=f"{type(exc).__name__}: {exc}")
            self._notify("failed")
            return
        self.store.finish(job.id, "succeeded", counts=manifest["counts"], timings=manifest["timings_s"],
                          warnings=run_warnings(manifest))
        self._notify("succeeded")

    def _notify(self, state: str) -> None:
        if self.on_state is not None:
            self.on_state(state)
