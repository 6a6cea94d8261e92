"""Dependencies of the routers (FastAPI-template style): the app state, the token check, lookups that 404.

Routers declare them with `Annotated[..., Depends(...)]`, so a test can override any of them.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from .errors import ApiError
from .jobs import JobRecord
from .security import token_matches
from .session import has_session
from .state import ServiceState
from .uploads import Upload

__all__ = ["get_state", "StateDep", "require_token", "AUTH", "find_job", "find_upload"]


def get_state(request: Request) -> ServiceState:
    return request.app.state.hygiene


StateDep = Annotated[ServiceState, Depends(get_state)]

_bearer = HTTPBearer(auto_error=False, description="Authorization: Bearer <token> (required when configured)")


async def require_token(credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
                        request: Request, state: StateDep) -> None:
    """Pass when no token is configured, the request carries it, or (GET and HEAD only: reports and
    downloads in a browser) the console's login cookie; 401 otherwise."""
    expected = state.settings.token
    if expected is None:
        return
    if request.method in ("GET", "HEAD") and has_session(request, expected):
        return
    if not token_matches(expected, request.headers.get("authorization")):
        raise ApiError(401, "unauthorized", "missing or wrong bearer token", headers={"WWW-Authenticate": "Bearer"})


AUTH = Depends(require_token)  # for `dependencies=[AUTH]` on a route or router


def find_job(state: ServiceState, job_id: str) -> JobRecord:
    job = state.store.get(job_id)
    if job is None:
        raise ApiError(404, "job_not_found", f"no job {job_id!r}")
    return job


def find_upload(state: ServiceState, upload_id: str) -> Upload:
    found = state.uploads.get(upload_id)
    if found is None:
        raise ApiError(404, "upload_not_found", f"no upload {upload_id!r}")
    return found
