"""The FastAPI app: score texts, upload shards, run clean/score/risk jobs over shards under the data roots
or uploaded, fetch reports.

`create_app(settings, scorer=None)` builds it; without a scorer the detector the settings describe is
loaded in the background after start-up (/readyz says when it is ready). Every error is a JSON body
`{"error": {"code", "message", "details"?}}`; stack traces stay in the server log.
"""

import asyncio
import json
import logging
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from fastapi import Depends, FastAPI, Header, Query, Request
from fastapi import Path as PathParam
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.exceptions import HTTPException

from hygiene.io import columns as C
from hygiene.pipeline.scoring import Scorer, oriented_score
from hygiene.risk.report import RISK_HTML, RISK_JSON
from hygiene.thresholds import resolve_threshold, shipped_reference

from . import schemas as S
from .batcher import Batcher, QueueFull
from .jobs import JobRecord, JobRunner, JobStore
from .metrics import Metrics
from .middleware import BodyLimit, HostCheck, JsonBodies, RequestMetrics
from .security import public_path, public_text, public_value, token_matches
from .settings import ServiceSettings
from .submit import SubmitError, prepare_job, scorer_for, server_roots
from .uploads import UPLOAD_ID, UploadError, UploadStore, check_content_type

__all__ = ["create_app", "ApiError"]

log = logging.getLogger("hygiene.service")


class ApiError(HTTPException):
    def __init__(self, status: int, code: str, message: str, *, headers: dict[str, str] | None = None,
                 details: list[dict[str, Any]] | None = None) -> None:
        super().__init__(status, message, headers)
        self.code, self.details = code, details


_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
          409: "conflict", 413: "too_large", 415: "unsupported_media_type", 422: "invalid_request",
          429: "busy", 503: "not_ready"}
_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": S.ErrorResponse} for code in (400, 401, 403, 404, 409, 413, 415, 422, 429, 503)
}
UPLOADS = "/v1/uploads"


def _error(status: int, code: str, message: str, details=None, headers=None) -> JSONResponse:
    body: dict[str, Any] = {"code": code, "message": message}
    if details is not None:
        body["details"] = details
    return JSONResponse({"error": body}, status_code=status, headers=headers)


class _State:
    """What the endpoints share; built in create_app, completed in the lifespan."""

    def __init__(self, settings: ServiceSettings, scorer: Scorer | None) -> None:
        self.settings = settings
        self.threshold = resolve_threshold(settings.job)  # fail fast: no threshold, no service
        reference = shipped_reference(settings.job)  # P(machine) only where labelled reference scores fit
        self.probability = reference.probability() if reference is not None else None
        self.scorer = scorer
        self.load_error: str | None = None
        self.metrics = Metrics()
        self.store = JobStore(settings.store_path)
        self.metrics.watch_jobs(self.store.count_by_state)
        self.batcher: Batcher | None = None
        self.runner: JobRunner | None = None
        self.uploads = UploadStore(settings.uploads_path, settings.max_shard_bytes)
        self.uploads_lock = asyncio.Lock()  # a job's submission and an upload's deletion never interleave

    def detector_info(self) -> S.DetectorInfo:
        d, t = self.settings.job.detector, self.threshold
        lm = getattr(self.scorer, "lm", None)
        return S.DetectorInfo(name=getattr(self.scorer, "name", f"zeroshot-{d.statistic}"),
                            model=getattr(lm, "name", None) or d.model, statistic=d.statistic,
                            max_tokens=d.max_tokens, threshold=t.value, threshold_source=t.source,
                            target_fpr=t.calibration.get("target_fpr"))


def create_app(settings: ServiceSettings, scorer: Scorer | None = None) -> FastAPI:
    state = _State(settings, scorer)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        state.uploads.open()
        requeued = state.store.requeue_unfinished()
        if requeued:
            log.info("re-queued %d unfinished job(s); they resume from their last finished shard", requeued)
        loader = asyncio.create_task(_load(state))
        try:
            yield
        finally:
            loader.cancel()
            if state.runner is not None:
                await asyncio.to_thread(state.runner.stop)
            if state.batcher is not None:
                await state.batcher.stop()
            state.store.close()

    app = FastAPI(title="corpus-hygiene", version=_version(), lifespan=lifespan,
                  description="Score texts for machine generation and clean corpus shards (see README: Service).")
    app.state.hygiene = state
    _install_errors(app)
    auth = _auth_dependency(settings)

    @app.get("/healthz", response_model=S.Health, tags=["ops"])
    async def healthz() -> S.Health:
        """The process is up (the model may still be loading)."""
        return S.Health(status="ok")

    @app.get("/readyz", response_model=S.Health, responses={503: {"model": S.Health}}, tags=["ops"])
    async def readyz() -> Response:
        """Ready to score: the model is loaded. Reports the request limits."""
        limits = {"max_body_bytes": settings.max_body_bytes, "max_texts": settings.max_texts,
                  "max_chars": settings.max_chars, "max_shard_bytes": settings.max_shard_bytes}
        if state.batcher is not None:
            return JSONResponse(S.Health(status="ok", limits=limits).model_dump())
        status = "failed" if state.load_error else "loading"
        return JSONResponse(S.Health(status=status, detail=state.load_error).model_dump(), status_code=503)

    @app.get("/metrics", tags=["ops"], dependencies=[auth],
             responses={200: {"content": {"text/plain": {}}}, 401: {"model": S.ErrorResponse}})
    async def metrics() -> Response:
        """Prometheus metrics: requests, latencies, batch sizes, docs scored, jobs by state."""
        if state.batcher is not None:
            state.metrics.queue_depth.set(state.batcher.queued_texts)
        return Response(generate_latest(state.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.post("/v1/score", response_model=S.ScoreResponse, responses=_ERRORS, dependencies=[auth], tags=["score"])
    async def score(body: S.ScoreRequest) -> S.ScoreResponse:
        """Score texts; concurrent requests share model batches. 429 + Retry-After when the queue is full."""
        _check_texts(body.texts, settings)
        if state.batcher is None:
            raise ApiError(503, "not_ready", state.load_error or "the model is still loading; retry shortly",
                           headers={"Retry-After": "5"})
        try:
            stats = await state.batcher.statistics(body.texts)
        except QueueFull as exc:
            state.metrics.rejected.inc()
            raise ApiError(429, "busy", str(exc), headers={"Retry-After": str(exc.retry_after)}) from exc
        scores = oriented_score(stats, settings.job.detector.statistic)
        no_model = np.full(len(scores), np.nan)
        probability = state.probability.predict(scores) if state.probability is not None else no_model
        results = []
        for value, p, n, cut in zip(scores, probability, stats["n_tokens"], stats["truncated"]):
            finite = bool(np.isfinite(value))
            decision = ("machine" if value >= state.threshold.value else "human") if finite else "unscored"
            results.append(S.TextScore(score=float(value) if finite else None,
                                       probability=float(p) if np.isfinite(p) else None, decision=decision,
                                       n_tokens=int(n), truncated=bool(cut)))
        return S.ScoreResponse(detector=state.detector_info(), results=results)

    @app.post("/v1/jobs", response_model=S.Job, status_code=202, responses=_ERRORS, dependencies=[auth], tags=["jobs"])
    async def submit(body: S.JobRequest) -> S.Job:
        """Queue a clean, score or risk job over shards under the data roots or uploaded. Inputs (and a risk
        job's references) are checked before queueing."""
        async with state.uploads_lock:
            try:
                inputs, config, options = await asyncio.to_thread(prepare_job, body, settings, state.scorer)
            except SubmitError as exc:
                raise ApiError(exc.status, exc.code, str(exc)) from exc
            job_id = state.store.create(body.kind, [str(p) for p in inputs], config, body.annotate_kept,
                                        settings.output_root, options)
        if state.runner is not None:
            state.runner.wake()
        return _job(state.store.get(job_id), settings)

    @app.get("/v1/jobs", response_model=S.JobList, responses=_ERRORS, dependencies=[auth], tags=["jobs"])
    async def list_jobs(
        state_: Annotated[Literal["queued", "running", "succeeded", "failed", "cancelled"] | None,
                          Query(alias="state")] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        offset: Annotated[int, Query(ge=0, le=2**31)] = 0,
    ) -> S.JobList:
        """Jobs, newest first."""
        return S.JobList(jobs=[_job(r, settings) for r in state.store.list(state_, limit, offset)])

    @app.get("/v1/jobs/{job_id}", response_model=S.Job, responses=_ERRORS, dependencies=[auth], tags=["jobs"])
    async def get_job(job_id: str) -> S.Job:
        """State, progress (rows done / total of the current stage), counts and timings."""
        return _job(_find(state, job_id), settings)

    @app.delete("/v1/jobs/{job_id}", response_model=S.Job, responses=_ERRORS, dependencies=[auth], tags=["jobs"])
    async def cancel_job(job_id: str) -> S.Job:
        """Cancel: a queued job at once, a running one at its next progress step. 409 if already finished."""
        job = _find(state, job_id)
        if job.state in ("succeeded", "failed", "cancelled"):
            raise ApiError(409, "conflict", f"job {job_id} already {job.state}")
        state.store.cancel(job_id)
        return _job(state.store.get(job_id), settings)

    @app.get("/v1/jobs/{job_id}/report", responses={**_ERRORS, 200: {"content": {
        "application/json": {"schema": {"type": "object"}}, "text/html": {"schema": {"type": "string"}}}}},
        dependencies=[auth], tags=["jobs"])
    async def report(
        job_id: str,
        format: Annotated[Literal["json", "html"] | None, Query(description="default: from Accept")] = None,
        accept: Annotated[str | None, Header()] = None,
    ) -> Response:
        """The finished job's report, chosen by ?format= or the Accept header: for clean/score the manifest
        (JSON) or report.html; for risk risk.json or risk.html."""
        job = _find(state, job_id)
        if job.state != "succeeded":
            raise ApiError(409, "not_finished", f"job {job_id} is {job.state}; the report exists once it succeeds")
        want = format or ("html" if _prefers_html(accept) else "json")
        risk = job.kind == "risk"
        if want == "html":
            return HTMLResponse((job.out / (RISK_HTML if risk else C.REPORT_HTML)).read_text(encoding="utf-8"))
        report = json.loads((job.out / (RISK_JSON if risk else C.MANIFEST)).read_bytes())
        report = public_value(report, server_roots(settings))  # input paths relative to their root
        return Response(json.dumps(report, ensure_ascii=False), media_type="application/json")

    upload_id = Annotated[str, PathParam(pattern=UPLOAD_ID, description="the id POST /v1/uploads returned")]

    @app.post(UPLOADS, response_model=S.Upload, status_code=201, responses=_ERRORS, dependencies=[auth],
              tags=["uploads"], openapi_extra={"requestBody": {"required": True, "content": {
                  "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}})
    async def upload(
        request: Request,
        filename: Annotated[str, Query(min_length=1, max_length=200, description=(
            "the shard's file name, e.g. part-0001.parquet: one plain name (no path), ending in .parquet, "
            ".jsonl, .jsonl.gz, .ndjson or .ndjson.gz"))],
        text_column: Annotated[str | None, Query(min_length=1, max_length=200, description=(
            "column the file must hold (default: the server's text column)"))] = None,
    ) -> S.Upload:
        """Upload one shard as the raw request body, streamed to disk, sent with a file content type such as
        application/octet-stream (`curl -H 'Content-Type: application/octet-stream' --data-binary @part.parquet`;
        415 for forms, text or none).

        At most the server's shard-size limit (413 beyond; see /readyz). The file is checked as any job
        input is (format, readable, text column) and read to its end (422 when damaged); a listed upload
        is always complete. Use its `id` or `path` in a job's inputs."""
        try:
            check_content_type(request.headers.get("content-type"))
            stored = await state.uploads.receive(filename, request.stream(), text_column or settings.job.text_column)
        except UploadError as exc:
            raise ApiError(exc.status, exc.code, str(exc)) from exc
        return _upload(stored)

    @app.get(UPLOADS, response_model=S.UploadList, responses=_ERRORS, dependencies=[auth], tags=["uploads"])
    async def list_uploads() -> S.UploadList:
        """Uploaded shards, newest first."""
        return S.UploadList(uploads=[_upload(u) for u in await asyncio.to_thread(state.uploads.list)])

    @app.get(UPLOADS + "/{upload_id}", response_model=S.Upload, responses=_ERRORS, dependencies=[auth],
             tags=["uploads"])
    async def get_upload(upload_id: upload_id) -> S.Upload:
        """One upload's name, size, sha256 and row count."""
        return _upload(_find_upload(state, upload_id))

    @app.delete(UPLOADS + "/{upload_id}", status_code=204, responses=_ERRORS, dependencies=[auth],
                tags=["uploads"])
    async def delete_upload(upload_id: upload_id) -> Response:
        """Delete an upload. 409 while a queued or running job reads it (finished jobs keep their outputs)."""
        async with state.uploads_lock:
            _find_upload(state, upload_id)
            where = state.uploads.location(upload_id)
            if any(Path(p).is_relative_to(where) for p in state.store.paths_in_use()):
                raise ApiError(409, "upload_in_use", f"upload {upload_id} is an input of a queued or running job")
            await asyncio.to_thread(state.uploads.delete, upload_id)
        return Response(status_code=204)

    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes, streamed={UPLOADS: settings.max_shard_bytes})
    app.add_middleware(JsonBodies, exempt={UPLOADS})
    app.add_middleware(RequestMetrics, metrics=state.metrics)
    app.add_middleware(HostCheck, allowed=settings.host_names)  # outermost: a rebound name gets nothing
    return app


async def _load(state: _State) -> None:
    """Load the detector off the event loop, then start the batcher and the job worker."""
    try:
        if state.scorer is None:
            from hygiene.pipeline import build_scorer

            state.scorer = await asyncio.to_thread(build_scorer, state.settings.job)
    except Exception as exc:  # noqa: BLE001 - reported by /readyz; the process stays up for diagnosis
        log.exception("loading the detector failed")
        state.load_error = f"loading the detector failed: {type(exc).__name__}: {exc}"
        return
    s = state.settings
    batcher = Batcher(state.scorer, max_batch=s.max_batch, wait_s=s.batch_wait_ms / 1000, queue_size=s.queue_size,
                      enabled=s.batching, on_batch=state.metrics.on_batch)
    batcher.start()
    state.batcher = batcher
    runner = JobRunner(state.store, lambda config: scorer_for(config, state.scorer, s.job))
    runner.on_state = lambda final: state.metrics.jobs_finished.labels(final).inc()
    runner.start()
    state.runner = runner


def _check_texts(texts: list[str], settings: ServiceSettings) -> None:
    if len(texts) > settings.max_texts:
        raise ApiError(422, "too_many_texts", f"{len(texts)} texts; at most {settings.max_texts} per request")
    long = [i for i, t in enumerate(texts) if len(t) > settings.max_chars]
    if long:
        raise ApiError(422, "text_too_long", f"texts longer than {settings.max_chars} characters at indices "
                                             f"{long[:20]}", details=[{"index": i, "chars": len(texts[i])}
                                                                     for i in long[:20]])
    empty = [i for i, t in enumerate(texts) if not t.strip()]
    if empty:
        raise ApiError(422, "empty_text", f"empty or whitespace-only texts at indices {empty[:20]}")


def _prefers_html(accept: str | None) -> bool:
    if not accept:
        return False
    types = [part.split(";")[0].strip().lower() for part in accept.split(",")]
    html = types.index("text/html") if "text/html" in types else None
    json_ = types.index("application/json") if "application/json" in types else None
    return html is not None and (json_ is None or html < json_)


def _find(state: _State, job_id: str) -> JobRecord:
    job = state.store.get(job_id)
    if job is None:
        raise ApiError(404, "job_not_found", f"no job {job_id!r}")
    return job


def _find_upload(state: _State, upload_id: str):
    found = state.uploads.get(upload_id)
    if found is None:
        raise ApiError(404, "upload_not_found", f"no upload {upload_id!r}")
    return found


def _upload(u) -> S.Upload:
    return S.Upload(id=u.id, filename=u.filename, path=u.path, format=u.format, bytes=u.bytes, sha256=u.sha256,
                    rows=u.rows, created=u.created)


def _job(record: JobRecord | None, settings: ServiceSettings) -> S.Job:
    """The job as a client sees it: paths relative to the root they lie under, never the server's own."""
    assert record is not None
    roots = server_roots(settings)
    return S.Job(id=record.id, kind=record.kind, state=record.state,
                 inputs=[public_path(p, roots) for p in record.inputs], created=record.created,
                 started=record.started, finished=record.finished, stage=record.stage, rows_done=record.rows_done,
                 rows_total=record.rows_total, counts=record.counts, timings_s=record.timings,
                 error=public_text(record.error, roots) if record.error else None, attempts=record.attempts,
                 config=public_value(record.config, roots), risk=public_value(record.options, roots))


def _auth_dependency(settings: ServiceSettings):
    bearer = HTTPBearer(auto_error=False, description="Authorization: Bearer <token> (required when configured)")

    async def require_token(credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
                            request: Request) -> None:
        if settings.token is None:
            return
        if not token_matches(settings.token, request.headers.get("authorization")):
            raise ApiError(401, "unauthorized", "missing or wrong bearer token",
                           headers={"WWW-Authenticate": "Bearer"})

    return Depends(require_token)


def _install_errors(app: FastAPI) -> None:
    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        code = getattr(exc, "code", None) or _CODES.get(exc.status_code, "error")
        return _error(exc.status_code, code, str(exc.detail), getattr(exc, "details", None), exc.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        if any(e.get("type") == "json_invalid" for e in errors):
            return _error(400, "malformed_json", "the request body is not valid JSON")
        details = [{"loc": list(map(str, e.get("loc", ()))), "msg": str(e.get("msg")), "type": str(e.get("type"))}
                   for e in errors[:50]]
        where = "; ".join(f"{'.'.join(d['loc'])}: {d['msg']}" for d in details[:5])
        return _error(422, "invalid_request", f"invalid request: {where}", details)

    @app.exception_handler(Exception)
    async def crashed(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return _error(500, "internal_error", "internal server error; see the server log")


def _version() -> str:
    from hygiene import __version__

    return __version__
