"""The web console: server-rendered pages over the same job store, uploads and checks as the API.

`/` lists jobs, `/console/new` submits one (uploads, shards under the data roots, or typed paths) and
uploads shards, `/console/jobs/{id}` shows a job live with its report and outputs. With a token set, a
login form sets the session cookie (service/session.py) that also lets the browser open reports and
downloads under /v1. Forms post, then redirect (303) to a page; every post checks it comes from this
origin. Not part of /openapi.json.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from starlette.datastructures import UploadFile

from .. import schemas as S
from ..console import input_label, shards_under, templates
from ..deps import StateDep, client_address, refuse_if_throttled
from ..errors import ApiError
from ..jobs import FINAL_STATES, STATES, JobRecord
from ..outputs import list_outputs
from ..security import token_matches
from ..session import end_session, has_session, same_origin, start_session
from ..state import ServiceState
from ..submit import server_roots
from ..uploads import UploadError
from .jobs import delete_job, enqueue_job
from .uploads import remove_upload

__all__ = ["router", "CONSOLE_UPLOADS", "FORM_FRAMING_BYTES"]

router = APIRouter(include_in_schema=False)

CONSOLE_UPLOADS = "/console/uploads"
FORM_FRAMING_BYTES = 64 << 10  # a multipart upload may exceed the shard-size limit by its form fields
_REFRESH_S = 2
_MAX_SHARDS_LISTED = 200
_HEADINGS = {403: "Refused", 404: "Not found", 409: "Not possible now", 429: "Too many attempts"}
_KINDS = [("clean", "route rows"), ("score", "annotate only"), ("risk", "collapse risk")]


def _base(request: Request) -> str:
    return request.scope.get("root_path", "")


def _page(request: Request, state: ServiceState, name: str, status: int = 200, **context: Any) -> HTMLResponse:
    from hygiene import __version__

    values = {"base": _base(request), "version": __version__, "detector": state.detector_info(),
              "logout": state.settings.token is not None and has_session(request, state.settings.token),
              "refresh": None, "notice": None, "error": None, "page": None, "title": "console",
              **context}
    return templates.TemplateResponse(request, name, values, status_code=status)


def _view(record: JobRecord, state: ServiceState) -> S.Job:
    """A job as the console shows it: inputs as people name them (an upload's file name, a path under its
    data root) and no other server path but relative to its root (as the API shows them)."""
    settings = state.settings
    labels = [input_label(p, settings.data_roots, settings.uploads_path) for p in record.inputs]
    return S.job_view(record, server_roots(settings)).model_copy(update={"inputs": labels})


def _error_page(request: Request, state: ServiceState, exc: ApiError) -> HTMLResponse:
    page = _page(request, state, "error.html", exc.status_code, title=str(exc.status_code),
                 heading=_HEADINGS.get(exc.status_code, "Error"), error=str(exc.detail))
    page.headers.update(exc.headers or {})
    return page


def _see(request: Request, path: str) -> RedirectResponse:
    return RedirectResponse(_base(request) + path, status_code=303)


def _signed_in(request: Request, state: ServiceState) -> bool:
    token = state.settings.token
    return token is None or has_session(request, token) or token_matches(token, request.headers.get("authorization"))


def _to_login(request: Request) -> RedirectResponse:
    here = request.url.path.removeprefix(_base(request)) + (f"?{request.url.query}" if request.url.query else "")
    return _see(request, f"/console/login?next={quote(here)}")


def _refuse_post(request: Request, state: ServiceState) -> Response | None:
    """A console form post must be signed in and come from this server's own pages."""
    if not same_origin(request):
        return _error_page(request, state, ApiError(403, "cross_site", "refused: the form was not sent from "
                                                                       "this console"))
    return None if _signed_in(request, state) else _to_login(request)


@router.get("/", response_class=HTMLResponse)
async def console_jobs(request: Request, state: StateDep, deleted: str | None = None) -> Response:
    if not _signed_in(request, state):
        return _to_login(request)
    selected = request.query_params.get("state")
    selected = selected if selected in STATES else None
    jobs = [_view(r, state) for r in state.store.list(selected, 200, 0)]
    live = any(j.state in ("queued", "running") for j in jobs)
    notice = f"Deleted job {deleted[:8]} and its outputs." if deleted else None
    return _page(request, state, "jobs.html", page="jobs", title="Jobs", jobs=jobs, states=STATES,
                 counts=state.store.count_by_state(), selected=selected, refresh=_REFRESH_S if live else None,
                 notice=notice)


@router.get("/console/new", response_class=HTMLResponse)
async def console_new(request: Request, state: StateDep, uploaded: str | None = None) -> Response:
    if not _signed_in(request, state):
        return _to_login(request)
    form = {"kind": "clean", "inputs": [uploaded] if uploaded else [], "paths": "", "config": "", "risk": "",
            "annotate_kept": False}
    found = state.uploads.get(uploaded) if uploaded else None
    notice = f"Uploaded {found.filename}: {found.rows:,} rows. It is selected below." if found else None
    return await _new_page(request, state, form, notice=notice)


async def _new_page(request: Request, state: ServiceState, form: dict[str, Any], status: int = 200,
                    **context: Any) -> HTMLResponse:
    settings = state.settings
    uploads = await asyncio.to_thread(state.uploads.list)
    shards = await asyncio.to_thread(shards_under, settings.data_roots, _MAX_SHARDS_LISTED + 1)
    return _page(request, state, "new.html", status, page="new", title="New job", form=form, kinds=_KINDS,
                 uploads=uploads, shards=shards[:_MAX_SHARDS_LISTED],
                 shards_truncated=len(shards) > _MAX_SHARDS_LISTED, roots=len(settings.data_roots),
                 max_shard_bytes=settings.max_shard_bytes, text_column=settings.job.text_column, **context)


@router.post("/console/jobs")
async def console_submit(request: Request, state: StateDep) -> Response:
    if (refused := _refuse_post(request, state)) is not None:
        return refused
    data = await request.form()
    form = {"kind": str(data.get("kind") or "clean"), "inputs": [str(v) for v in data.getlist("inputs")],
            "paths": str(data.get("paths") or ""), "config": str(data.get("config") or "").strip(),
            "risk": str(data.get("risk") or "").strip(), "annotate_kept": bool(data.get("annotate_kept"))}
    try:
        body = _job_request(form)
        job_id = await enqueue_job(state, body)
    except ValueError as exc:
        return await _new_page(request, state, form, 422, error=str(exc))
    except ApiError as exc:
        return await _new_page(request, state, form, exc.status_code, error=str(exc.detail))
    return _see(request, f"/console/jobs/{job_id}")


def _job_request(form: dict[str, Any]) -> S.JobRequest:
    """The API's request from the console's form; ValueError with a readable message when it is not one."""
    inputs = form["inputs"] + [line.strip() for line in form["paths"].splitlines() if line.strip()]
    if not inputs:
        raise ValueError("Choose at least one input: an upload, a shard under the data roots, or a path.")
    body: dict[str, Any] = {"kind": form["kind"], "inputs": inputs, "annotate_kept": form["annotate_kept"]}
    for key, what in (("config", "Job settings"), ("risk", "Risk options")):
        if form[key]:
            try:
                body[key] = json.loads(form[key])
            except json.JSONDecodeError as exc:
                raise ValueError(f"{what} are not valid JSON: {exc}") from exc
    try:
        return S.JobRequest.model_validate(body)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'request'}: {e['msg']}" for e in exc.errors()[:5])
        raise ValueError(f"Invalid job: {problems}") from exc


@router.get("/console/jobs/{job_id}", response_class=HTMLResponse)
async def console_job(request: Request, state: StateDep, job_id: str) -> Response:
    if not _signed_in(request, state):
        return _to_login(request)
    record = state.store.get(job_id)
    if record is None:
        return _error_page(request, state, ApiError(404, "job_not_found", f"No job {job_id[:64]!r}."))
    outputs = await asyncio.to_thread(list_outputs, record.out) if record.state in FINAL_STATES else None
    live = record.state in ("queued", "running")
    return _page(request, state, "job.html", title=f"{record.kind} job {record.id[:8]}", job=_view(record, state),
                 outputs=outputs, refresh=_REFRESH_S if live else None)


@router.post("/console/jobs/{job_id}/cancel")
async def console_cancel(request: Request, state: StateDep, job_id: str) -> Response:
    if (refused := _refuse_post(request, state)) is not None:
        return refused
    if state.store.cancel(job_id) is None:
        return _error_page(request, state, ApiError(404, "job_not_found", f"No job {job_id[:64]!r}."))
    return _see(request, f"/console/jobs/{job_id}")


@router.post("/console/jobs/{job_id}/delete")
async def console_delete(request: Request, state: StateDep, job_id: str) -> Response:
    if (refused := _refuse_post(request, state)) is not None:
        return refused
    try:
        await delete_job(state, job_id)
    except ApiError as exc:
        return _error_page(request, state, exc)
    return _see(request, f"/?deleted={job_id}")


@router.post(CONSOLE_UPLOADS)
async def console_upload(request: Request, state: StateDep) -> Response:
    """A shard from the browser's file field (multipart), streamed through a temporary file into the uploads
    with the API's checks; refused past the shard-size limit while it is still arriving."""
    if (refused := _refuse_post(request, state)) is not None:
        return refused
    limit, seen = state.settings.max_shard_bytes + FORM_FRAMING_BYTES, 0

    async def counted() -> dict:
        nonlocal seen
        message = await request.receive()
        seen += len(message.get("body", b""))
        if seen > limit:
            raise UploadError(f"upload exceeds the shard-size limit of {state.settings.max_shard_bytes} bytes",
                              413, "too_large")
        return message

    empty = {"kind": "clean", "inputs": [], "paths": "", "config": "", "risk": "", "annotate_kept": False}
    try:
        async with Request(request.scope, counted).form(max_files=1, max_fields=4) as data:
            file, column = data.get("file"), str(data.get("text_column") or "").strip()
            if not isinstance(file, UploadFile) or not file.filename:
                raise UploadError("choose a file to upload", code="no_file")

            async def chunks():
                while chunk := await file.read(1 << 20):
                    yield chunk

            stored = await state.uploads.receive(file.filename, chunks(), column or state.settings.job.text_column)
    except UploadError as exc:
        return await _new_page(request, state, empty, exc.status, error=f"Upload refused: {exc}")
    return _see(request, f"/console/new?uploaded={stored.id}")


@router.post(CONSOLE_UPLOADS + "/{upload_id}/delete")
async def console_delete_upload(request: Request, state: StateDep, upload_id: str) -> Response:
    if (refused := _refuse_post(request, state)) is not None:
        return refused
    try:
        await remove_upload(state, upload_id)
    except ApiError as exc:
        return _error_page(request, state, exc)
    return _see(request, "/console/new")


@router.get("/console/login", response_class=HTMLResponse)
async def console_login_form(request: Request, state: StateDep, next: str = "/") -> Response:
    if state.settings.token is None:
        return _see(request, "/")
    return _page(request, state, "login.html", title="Log in", next=_local(next))


@router.post("/console/login")
async def console_login(request: Request, state: StateDep) -> Response:
    token = state.settings.token
    if token is None:
        return _see(request, "/")
    if not same_origin(request):
        return _error_page(request, state, ApiError(403, "cross_site", "refused: the form was not sent from "
                                                                       "this console"))
    try:
        refuse_if_throttled(request, state)
    except ApiError as exc:
        return _error_page(request, state, exc)
    data = await request.form()
    target = _local(str(data.get("next") or "/"))
    if not token_matches(token, f"Bearer {data.get('token') or ''}"):
        state.failed_auth.failed(client_address(request))
        return _page(request, state, "login.html", 401, title="Log in", next=target, error="Wrong token.")
    response = _see(request, target)
    start_session(response, request, token)
    return response


@router.post("/console/logout")
async def console_logout(request: Request, state: StateDep) -> Response:
    if not same_origin(request):
        return _error_page(request, state, ApiError(403, "cross_site", "refused: the form was not sent from "
                                                                       "this console"))
    response = _see(request, "/console/login" if state.settings.token else "/")
    end_session(response)
    return response


def _local(target: str) -> str:
    """Only a path on this server is a place to go after logging in (no open redirect)."""
    if not target.startswith("/") or target.startswith("//") or "\\" in target or "\n" in target:
        return "/"
    return target
