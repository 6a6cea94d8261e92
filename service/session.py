"""The console's login: an HttpOnly, SameSite=Strict cookie that stands for the bearer token in a browser.

The cookie holds an HMAC of the token, not the token itself, so it cannot be replayed as a bearer
header and changes when the token does. The API accepts it on GET and HEAD only (reports, downloads);
everything that changes state goes through the console's forms, which also check that the request
comes from the console's own origin.
"""

from __future__ import annotations

import hashlib
import hmac

from starlette.requests import Request
from starlette.responses import Response

__all__ = ["SESSION_COOKIE", "SESSION_MAX_AGE_S", "session_value", "has_session", "start_session", "end_session",
           "same_origin"]

SESSION_COOKIE = "hygiene_session"
SESSION_MAX_AGE_S = 12 * 3600


def session_value(token: str) -> str:
    return hmac.new(token.encode(), b"corpus-hygiene console session v1", hashlib.sha256).hexdigest()


def has_session(request: Request, token: str) -> bool:
    given = request.cookies.get(SESSION_COOKIE)
    return given is not None and hmac.compare_digest(given.encode(), session_value(token).encode())


def start_session(response: Response, request: Request, token: str) -> None:
    response.set_cookie(SESSION_COOKIE, session_value(token), max_age=SESSION_MAX_AGE_S, path="/", httponly=True,
                        samesite="strict", secure=request.url.scheme == "https")


def end_session(response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")


def same_origin(request: Request) -> bool:
    """A form post from a page of this server (not another site's form aimed at it): the browser's
    Sec-Fetch-Site, else Origin, must say so. A client that sends neither (curl, tests) is let through."""
    site = request.headers.get("sec-fetch-site")
    if site is not None:
        return site in ("same-origin", "none")
    origin = request.headers.get("origin")
    if origin is None:
        return True
    return origin == f"{request.url.scheme}://{request.headers.get('host', '')}"
