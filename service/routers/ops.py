"""Probes and metrics: /healthz (up), /readyz (model loaded, limits), /metrics (Prometheus)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST

from .. import schemas as S
from ..deps import AUTH, StateDep

__all__ = ["router"]

router = APIRouter(tags=["ops"])


@router.get("/healthz", response_model=S.Health)
async def healthz() -> S.Health:
    """The process is up (the model may still be loading)."""
    return S.Health(status="ok")


@router.get("/readyz", response_model=S.Health, responses={503: {"model": S.Health}})
async def readyz(state: StateDep) -> Response:
    """Ready: the detector is loaded (or there is none) and jobs run. Reports the request limits."""
    s = state.settings
    limits = {"max_body_bytes": s.max_body_bytes, "max_texts": s.max_texts, "max_chars": s.max_chars,
              "max_shard_bytes": s.max_shard_bytes}
    if state.ready:
        return JSONResponse(S.Health(status="ok", limits=limits).model_dump())
    status = "failed" if state.load_error else "loading"
    return JSONResponse(S.Health(status=status, detail=state.load_error).model_dump(), status_code=503)


@router.get("/metrics", dependencies=[AUTH],
            responses={200: {"content": {"text/plain": {}}}, 401: {"model": S.ErrorResponse}})
async def metrics(state: StateDep) -> Response:
    """Prometheus metrics: the process (process_*, python_*), requests and latencies by route, batch sizes,
    documents scored, jobs by state, job durations, rows removed by reason, build info."""
    if state.batcher is not None:
        state.metrics.queue_depth.set(state.batcher.queued_texts)
    return Response(state.metrics.exposition(), media_type=CONTENT_TYPE_LATEST)
