"""/v1/jobs: submit clean / score / risk jobs, list, inspect, cancel or delete, fetch reports and outputs."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Annotated, Literal

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, Response

from hygiene.io import columns as C
from hygiene.risk.report import RISK_HTML, RISK_JSON

from .. import schemas as S
from ..deps import AUTH, StateDep, find_job
from ..errors import ERROR_RESPONSES, ApiError
from ..jobs import FINAL_STATES, JobRecord
from ..outputs import OutputError, list_outputs, public_report, remove_outputs, resolve_output
from ..security import public_path
from ..state import ServiceState
from ..submit import SubmitError, prepare_job, server_roots

__all__ = ["router", "enqueue_job", "delete_job", "location"]

router = APIRouter(tags=["jobs"], dependencies=[AUTH])

JobState = Literal["queued", "running", "succeeded", "failed", "cancelled"]


@router.post("/v1/jobs", response_model=S.Job, status_code=202, responses=ERROR_RESPONSES)
async def submit(body: S.JobRequest, state: StateDep, request: Request, response: Response) -> S.Job:
    """Queue a clean, score or risk job over shards under the data roots or uploaded. Inputs (and a risk
    job's references) are checked before queueing. `Location` names the new job."""
    job_id = await enqueue_job(state, body)
    response.headers["Location"] = location(request, "get_job", job_id=job_id)
    return S.job_view(find_job(state, job_id), server_roots(state.settings))


@router.get("/v1/jobs", response_model=S.JobList, responses=ERROR_RESPONSES)
async def list_jobs(
    state: StateDep,
    state_: Annotated[JobState | None, Query(alias="state")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=2**31)] = 0,
) -> S.JobList:
    """Jobs, newest first."""
    roots = server_roots(state.settings)
    return S.JobList(jobs=[S.job_view(r, roots) for r in state.store.list(state_, limit, offset)])


@router.get("/v1/jobs/{job_id}", response_model=S.Job, responses=ERROR_RESPONSES)
async def get_job(job_id: str, state: StateDep) -> S.Job:
    """State, progress (rows done / total of the current stage), counts and timings."""
    return S.job_view(find_job(state, job_id), server_roots(state.settings))


@router.delete("/v1/jobs/{job_id}", response_model=S.Job, status_code=200,
               responses={**ERROR_RESPONSES, 204: {"description": "the finished job and its outputs were deleted"}})
async def cancel_job(job_id: str, state: StateDep) -> Response | S.Job:
    """Cancel a queued job at once or a running one at its next progress step (200, the job); delete a
    finished (succeeded, failed or cancelled) job with its output directory (204)."""
    job = find_job(state, job_id)
    if job.state in FINAL_STATES:
        await delete_job(state, job_id)
        return Response(status_code=204)
    state.store.cancel(job_id)
    return S.job_view(find_job(state, job_id), server_roots(state.settings))


@router.get("/v1/jobs/{job_id}/report", responses={**ERROR_RESPONSES, 200: {"content": {
    "application/json": {"schema": {"type": "object"}}, "text/html": {"schema": {"type": "string"}}}}})
async def report(
    job_id: str,
    state: StateDep,
    format: Annotated[Literal["json", "html"] | None, Query(description="default: from Accept")] = None,
    accept: Annotated[str | None, Header()] = None,
) -> Response:
    """The finished job's report, chosen by ?format= or the Accept header: for clean/score the manifest
    (JSON) or report.html; for risk risk.json or risk.html."""
    job = find_job(state, job_id)
    if job.state != "succeeded":
        raise ApiError(409, "not_finished", f"job {job_id} is {job.state}; the report exists once it succeeds")
    want = format or ("html" if _prefers_html(accept) else "json")
    risk = job.kind == "risk"
    if want == "html":
        return HTMLResponse((job.out / (RISK_HTML if risk else C.REPORT_HTML)).read_text(encoding="utf-8"))
    report = json.loads((job.out / (RISK_JSON if risk else C.MANIFEST)).read_bytes())
    report = public_report(report, server_roots(state.settings))  # written so; older jobs' outputs were not
    return Response(json.dumps(report, ensure_ascii=False), media_type="application/json")


@router.get("/v1/jobs/{job_id}/outputs", response_model=S.OutputList, responses=ERROR_RESPONSES)
async def list_job_outputs(job_id: str, state: StateDep, request: Request) -> S.OutputList:
    """The finished job's output files (kept/, removed/, quarantine/, scored/, reports), each with its
    download URL. 409 while the job is queued or running."""
    job = _finished(state, job_id)
    files = await asyncio.to_thread(list_outputs, job.out)
    return S.OutputList(job_id=job.id, files=[
        S.OutputFile(path=f.path, bytes=f.bytes,
                     url=location(request, "download_job_output", job_id=job.id, path=f.path)) for f in files])


@router.get("/v1/jobs/{job_id}/outputs/{path:path}", responses={**ERROR_RESPONSES, 200: {"content": {
    "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}})
async def download_job_output(job_id: str, path: str, state: StateDep) -> FileResponse:
    """Download one output file by its listed path (confined to the job's directory)."""
    job = _finished(state, job_id)
    try:
        file = await asyncio.to_thread(resolve_output, job.out, path)
    except OutputError as exc:
        raise ApiError(exc.status, "output_not_found" if exc.status == 404 else "path_refused", str(exc)) from exc
    return FileResponse(file, filename=file.name, media_type="application/octet-stream",
                        content_disposition_type="attachment", headers={"X-Content-Type-Options": "nosniff"})


async def delete_job(state: ServiceState, job_id: str) -> None:
    """Delete a finished job's row, then its output directory (ApiError when missing or still live)."""
    deleted = state.store.delete(job_id)
    if deleted is None:
        job = find_job(state, job_id)  # 404 when gone
        raise ApiError(409, "not_finished", f"job {job_id} is {job.state}; cancel it first")
    try:
        await asyncio.to_thread(remove_outputs, deleted.out, state.settings.output_root)
    except OutputError as exc:
        raise ApiError(exc.status, "path_refused", str(exc)) from exc


async def enqueue_job(state: ServiceState, body: S.JobRequest) -> str:
    """Check a job request and queue it (ApiError when refused); returns the job id. Shared with the console."""
    settings = state.settings
    # Checked outside the lock: reading the shards takes time (and a stuck read must not stall other submissions).
    try:
        inputs, config, options = await asyncio.to_thread(prepare_job, body, settings, state.scorer)
    except SubmitError as exc:
        retry = {"Retry-After": "5"} if exc.status == 503 else None  # the model is still loading
        raise ApiError(exc.status, exc.code, str(exc), headers=retry) from exc
    # The lock orders this job's row against an upload's deletion (which refuses uploads a queued job reads): an
    # upload deleted while the job was checked is refused here, one deleted later sees the job.
    async with state.uploads_lock:
        uploads = settings.uploads_path.resolve()
        read = [*map(str, inputs), *((options or {}).get("detector_reference") or []),
                *((options or {}).get("diversity_reference") or [])]
        gone = [p for p in read if Path(p).is_relative_to(uploads) and not os.path.lexists(p)]  # stat only
        if gone:
            raise ApiError(404, "path_error", f"{public_path(gone[0], server_roots(settings))}: the upload was "
                                              "deleted while the job was being submitted")
        job_id = state.store.create(body.kind, [str(p) for p in inputs], config, body.annotate_kept,
                                    settings.output_root, options)
    if state.runner is not None:
        state.runner.wake()
    return job_id


def location(request: Request, route: str, **params: str) -> str:
    """The path of a named route, behind whatever prefix the server is mounted at (for `Location`)."""
    return request.scope.get("root_path", "") + request.app.url_path_for(route, **params)


def _finished(state: ServiceState, job_id: str) -> JobRecord:
    job = find_job(state, job_id)
    if job.state not in FINAL_STATES:
        raise ApiError(409, "not_finished", f"job {job_id} is {job.state}; its outputs are listed once it ends")
    return job


def _prefers_html(accept: str | None) -> bool:
    if not accept:
        return False
    types = [part.split(";")[0].strip().lower() for part in accept.split(",")]
    html = types.index("text/html") if "text/html" in types else None
    json_ = types.index("application/json") if "application/json" in types else None
    return html is not None and (json_ is None or html < json_)
