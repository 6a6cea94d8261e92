"""/v1/uploads: shards sent as the raw request body, streamed to disk, usable as job inputs."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import Response

from .. import schemas as S
from ..deps import AUTH, StateDep, find_upload
from ..errors import ERROR_RESPONSES, ApiError
from ..state import ServiceState
from ..uploads import UPLOAD_ID, UploadError, check_content_type
from .jobs import location

__all__ = ["router", "UPLOADS", "remove_upload"]

UPLOADS = "/v1/uploads"

router = APIRouter(tags=["uploads"], dependencies=[AUTH])

UploadId = Annotated[str, PathParam(pattern=UPLOAD_ID, description="the id POST /v1/uploads returned")]


@router.post(UPLOADS, response_model=S.Upload, status_code=201, responses=ERROR_RESPONSES,
             openapi_extra={"requestBody": {"required": True, "content": {
                 "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}})
async def upload(
    request: Request,
    response: Response,
    state: StateDep,
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
    is always complete. Use its `id` or `path` in a job's inputs. `Location` names the new upload."""
    try:
        check_content_type(request.headers.get("content-type"))
        stored = await state.uploads.receive(filename, request.stream(),
                                             text_column or state.settings.job.text_column)
    except UploadError as exc:
        raise ApiError(exc.status, exc.code, str(exc)) from exc
    response.headers["Location"] = location(request, "get_upload", upload_id=stored.id)
    return S.upload_view(stored)


@router.get(UPLOADS, response_model=S.UploadList, responses=ERROR_RESPONSES)
async def list_uploads(state: StateDep) -> S.UploadList:
    """Uploaded shards, newest first."""
    return S.UploadList(uploads=[S.upload_view(u) for u in await asyncio.to_thread(state.uploads.list)])


@router.get(UPLOADS + "/{upload_id}", response_model=S.Upload, responses=ERROR_RESPONSES)
async def get_upload(upload_id: UploadId, state: StateDep) -> S.Upload:
    """One upload's name, size, sha256 and row count."""
    return S.upload_view(find_upload(state, upload_id))


@router.delete(UPLOADS + "/{upload_id}", status_code=204, responses=ERROR_RESPONSES)
async def delete_upload(upload_id: UploadId, state: StateDep) -> Response:
    """Delete an upload. 409 while a queued or running job reads it (finished jobs keep their outputs)."""
    await remove_upload(state, upload_id)
    return Response(status_code=204)


async def remove_upload(state: ServiceState, upload_id: str) -> None:
    """Delete an upload unless a queued or running job reads it (ApiError 404 / 409). Shared with the console."""
    async with state.uploads_lock:
        find_upload(state, upload_id)
        where = state.uploads.location(upload_id)
        if any(Path(p).is_relative_to(where) for p in state.store.paths_in_use()):
            raise ApiError(409, "upload_in_use", f"upload {upload_id} is an input of a queued or running job")
        await asyncio.to_thread(state.uploads.delete, upload_id)
