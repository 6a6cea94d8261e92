"""/v1/jobs: submit clean / score / risk jobs, list, inspect, cancel, fetch reports."""

from __future__ import annotations

import asyncio
from typing import Annotated, Literal

from fastapi import APIRouter, Header, Query
from fastapi.responses import HTMLResponse, Response

from hygiene.io import columns as C
from hygiene.risk.report import RISK_HTML, RISK_JSON

from .. import schemas as S
from ..deps import AUTH, StateDep, find_job
from ..errors import ERROR_RESPONSES, ApiError
from ..submit import SubmitError, prepare_job

__all__ = ["router"]

router = APIRouter(tags=["jobs"], dependencies=[AUTH])

JobState = Literal["queued", "running", "succeeded", "failed", "cancelled"]


@router.post("/v1/jobs", response_model=S.Job, status_code=202, responses=ERROR_RESPONSES)
async def submit(body: S.JobRequest, state: StateDep) -> S.Job:
    """Queue a clean, score or risk job over shards under the data roots or uploaded. Inputs (and a risk
    job's references) are checked before queueing."""
    settings = state.settings
    async with state.uploads_lock:
        try:
            inputs, config, options = await asyncio.to_thread(prepare_job, body, settings)
        except SubmitError as exc:
            raise ApiError(exc.status, exc.code, str(exc)) from exc
        job_id = state.store.create(body.kind, [str(p) for p in inputs], config, body.annotate_kept,
                                    settings.output_root, options)
    if state.runner is not None:
        state.runner.wake()
    return S.job_view(find_job(state, job_id))


@router.get("/v1/jobs", response_model=S.JobList, responses=ERROR_RESPONSES)
async def list_jobs(
    state: StateDep,
    state_: Annotated[JobState | None, Query(alias="state")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=2**31)] = 0,
) -> S.JobList:
    """Jobs, newest first."""
    return S.JobList(jobs=[S.job_view(r) for r in state.store.list(state_, limit, offset)])


@router.get("/v1/jobs/{job_id}", response_model=S.Job, responses=ERROR_RESPONSES)
async def get_job(job_id: str, state: StateDep) -> S.Job:
    """State, progress (rows done / total of the current stage), counts and timings."""
    return S.job_view(find_job(state, job_id))


@router.delete("/v1/jobs/{job_id}", response_model=S.Job, responses=ERROR_RESPONSES)
async def cancel_job(job_id: str, state: StateDep) -> S.Job:
    """Cancel: a queued job at once, a running one at its next progress step. 409 if already finished."""
    job = find_job(state, job_id)
    if job.state in ("succeeded", "failed", "cancelled"):
        raise ApiError(409, "conflict", f"job {job_id} already {job.state}")
    state.store.cancel(job_id)
    return S.job_view(find_job(state, job_id))


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
    return Response((job.out / (RISK_JSON if risk else C.MANIFEST)).read_bytes(), media_type="application/json")


def _prefers_html(accept: str | None) -> bool:
    if not accept:
        return False
    types = [part.split(";")[0].strip().lower() for part in accept.split(",")]
    html = types.index("text/html") if "text/html" in types else None
    json_ = types.index("application/json") if "application/json" in types else None
    return html is not None and (json_ is None or html < json_)
