"""ASGI middleware: Host check, JSON-only bodies, request-body size limit and per-route request metrics."""

from __future__ import annotations

import json
import time
from collections.abc import Collection

from .metrics import Metrics, route_label

__all__ = ["HostCheck", "JsonBodies", "BodyLimit", "RequestMetrics", "error_body", "host_name"]


def error_body(code: str, message: str) -> bytes:
    return json.dumps({"error": {"code": code, "message": message}}).encode()


async def _send_json(send, status: int, body: bytes) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def host_name(header: str) -> str:
    """The name in a Host header: lower case, without the port, IPv6 brackets or a trailing dot."""
    name = header.strip().lower()
    if name.startswith("["):  # [::1]:8000
        name = name[1:].partition("]")[0]
    elif name.count(":") == 1:  # host:port (a bare IPv6 address has several colons)
        name = name.partition(":")[0]
    return name.rstrip(".")


class HostCheck:
    """Answer 400 to a request whose Host header is not a name this server is known by.

    DNS rebinding: a web page on evil.example whose name is re-pointed at 127.0.0.1 can make the browser
    send requests to a server on loopback, which needs no token there; those requests still say
    `Host: evil.example`. `allowed` None serves any name.
    """

    def __init__(self, app, allowed: Collection[str] | None) -> None:
        self.app, self.allowed = app, allowed

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] not in ("http", "websocket") or self.allowed is None:
            return await self.app(scope, receive, send)
        header = dict(scope["headers"]).get(b"host", b"").decode("latin-1")
        if host_name(header) not in self.allowed:
            return await _send_json(send, 400, error_body(
                "bad_host", f"this server does not answer to Host {header[:100]!r}; allowed: "
                            f"{', '.join(sorted(self.allowed))} (service setting allowed_hosts)"))
        await self.app(scope, receive, send)


class JsonBodies:
    """Answer 415 to a POST, PUT or PATCH under `prefix` whose body is not declared JSON (`exempt` paths check
    their own).

    FastAPI reads a body sent without a content type as JSON, and a web page may send such a request to
    any origin without asking first; declaring JSON is what makes a browser ask (CORS preflight), which
    this server never grants. Without it, any page could queue jobs on a loopback server with no token.
    """

    def __init__(self, app, prefix: str = "/", exempt: Collection[str] = ()) -> None:
        self.app, self.prefix, self.exempt = app, prefix, set(exempt)

    async def __call__(self, scope, receive, send) -> None:
        if (scope["type"] == "http" and scope["method"] in ("POST", "PUT", "PATCH")
                and scope["path"].startswith(self.prefix) and scope["path"].rstrip("/") not in self.exempt):
            declared = dict(scope["headers"]).get(b"content-type", b"").decode("latin-1")
            media = declared.partition(";")[0].strip().lower()
            if media != "application/json" and not (media.startswith("application/") and media.endswith("+json")):
                shown = f"content type {media!r}" if media else "no content type"
                return await _send_json(send, 415, error_body(
                    "unsupported_media_type", f"{shown}: send the body as JSON with Content-Type: application/json"))
        await self.app(scope, receive, send)


class BodyLimit:
    """Refuse bodies over `max_bytes` with 413 before the app parses anything.

    A declared Content-Length is checked first; a chunked body is read up to the limit and replayed
    to the app, so no endpoint ever holds more than `max_bytes` of one request. Paths in `streamed`
    (uploads) have their own limit and are passed through unread: the endpoint streams them to disk
    and enforces that limit itself while reading.
    """

    def __init__(self, app, max_bytes: int, streamed: dict[str, int] | None = None) -> None:
        self.app, self.max_bytes, self.streamed = app, max_bytes, streamed or {}

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS", "DELETE"):
            return await self.app(scope, receive, send)
        limit = self.streamed.get(scope["path"].rstrip("/"), self.max_bytes)
        too_big = error_body("body_too_large", f"request body exceeds {limit} bytes")
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None:
            try:
                if int(declared) > limit:
                    return await _send_json(send, 413, too_big)
            except ValueError:
                return await _send_json(send, 400, error_body("bad_request", "invalid Content-Length"))
        if scope["path"].rstrip("/") in self.streamed:
            return await self.app(scope, receive, send)
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                return await _send_json(send, 413, too_big)
            chunks.append(chunk)
            more = message.get("more_body", False)
        body, replayed = b"".join(chunks), False

        async def replay():
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


class RequestMetrics:
    """Count requests and time them, labelled by route template (never by raw path: bounded labels)."""

    def __init__(self, app, metrics: Metrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        status = 500
        t = time.perf_counter()

        async def send_status(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            label = route_label(scope)
            self.metrics.requests.labels(scope["method"], label, str(status)).inc()
            self.metrics.latency.labels(scope["method"], label).observe(time.perf_counter() - t)
