"""API errors: every error is a JSON body `{"error": {"code", "message", "details"?}}`; stack traces stay in
the server log."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from . import schemas as S

__all__ = ["ApiError", "ERROR_RESPONSES", "error_response", "install_error_handlers"]

log = logging.getLogger("hygiene.service")


class ApiError(HTTPException):
    def __init__(self, status: int, code: str, message: str, *, headers: dict[str, str] | None = None,
                 details: list[dict[str, Any]] | None = None) -> None:
        super().__init__(status, message, headers)
        self.code, self.details = code, details


_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
          409: "conflict", 413: "too_large", 415: "unsupported_media_type", 422: "invalid_request",
          429: "busy", 503: "not_ready"}
# The error statuses every API route documents in /openapi.json.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": S.ErrorResponse} for code in (400, 401, 403, 404, 409, 413, 415, 422, 429, 503)
}


def error_response(status: int, code: str, message: str, details=None, headers=None) -> JSONResponse:
    body: dict[str, Any] = {"code": code, "message": message}
    if details is not None:
        body["details"] = details
    return JSONResponse({"error": body}, status_code=status, headers=headers)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        code = getattr(exc, "code", None) or _CODES.get(exc.status_code, "error")
        return error_response(exc.status_code, code, str(exc.detail), getattr(exc, "details", None), exc.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        if any(e.get("type") == "json_invalid" for e in errors):
            return error_response(400, "malformed_json", "the request body is not valid JSON")
        details = [{"loc": list(map(str, e.get("loc", ()))), "msg": str(e.get("msg")), "type": str(e.get("type"))}
                   for e in errors[:50]]
        where = "; ".join(f"{'.'.join(d['loc'])}: {d['msg']}" for d in details[:5])
        return error_response(422, "invalid_request", f"invalid request: {where}", details)

    @app.exception_handler(Exception)
    async def crashed(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return error_response(500, "internal_error", "internal server error; see the server log")
