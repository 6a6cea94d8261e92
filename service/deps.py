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

__all__ = ["get_state", "StateDep", "require_token", "refuse_if_throttled", "client_address", "AUTH", "find_job",
           "find_upload"]


def get_state(request: Request) -> ServiceState:
    return request.app.state.hygiene


StateDep = Annotated[ServiceState, Depends(get_state)]

_bearer = HTTPBearer(auto_error=False, description="Authorization: Bearer <token> (required when configured)")


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def refuse_if_throttled(request: Request, state: ServiceState) -> None:
    """429 while this client is over its allowance of wrong tokens (service/throttle.py)."""
    retry = state.failed_auth.retry_after(client_address(request))
    if retry is not None:
        raise ApiError(429, "too_many_failed_logins", f"too many wrong tokens from this address; retry in {retry} s",
                       headers={"Retry-After": str(retry)})


async def require_token(credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
                        request: Request, state: StateDep) -> None:
    """Pass when no token is configured, the request carries it, or (GET and HEAD only: reports and
    downloads in a browser) the console's login cookie; 401 otherwise, 429 after too many wrong tokens."""
    expected = state.settings.token
    if expected is None:
        return
    refuse_if_throttled(request, state)
    if request.method in ("GET", "HEAD") and has_session(request, expected):
        return
    presented = request.headers.get("authorization")
    if not token_matches(expected, presented):
        if presented:  # a wrong token counts, a missing one is no guess
            state.failed_auth.failed(client_address(request))
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
