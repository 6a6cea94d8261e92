"""The FastAPI app: score texts, upload shards, run clean/score/risk jobs over shards under the data roots
or uploaded, fetch reports and outputs; a web console for people at `/`.

`create_app(settings, scorer=None)` builds it from the routers in service/routers/; without a scorer
the detector the settings describe is loaded in the background after start-up (/readyz says when it is
ready). Every error is a JSON body `{"error": {"code", "message", "details"?}}`; stack traces stay in
the server log.
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from fastapi_offline import FastAPIOffline

from hygiene.detector import Detector

from .console import STATIC_DIR
from .errors import ApiError, install_error_handlers
from .middleware import BodyLimit, HostCheck, JsonBodies, RequestMetrics
from .outputs import sweep_deleted
from .routers import console, jobs, ops, score, uploads
from .settings import ServiceSettings
from .state import ServiceState, start_workers

__all__ = ["create_app", "ApiError"]

log = logging.getLogger("hygiene.service")


def create_app(settings: ServiceSettings, scorer: Detector | None = None) -> FastAPI:
    state = ServiceState(settings, scorer)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        state.uploads.open()
        sweep_deleted(settings.output_root)
        requeued = state.store.requeue_unfinished()
        if requeued:
            log.info("re-queued %d unfinished job(s); they resume from their last finished shard", requeued)
        loader = asyncio.create_task(start_workers(state))
        try:
            yield
        finally:
            loader.cancel()
            if state.runner is not None:
                await asyncio.to_thread(state.runner.stop)
            if state.batcher is not None:
                await state.batcher.stop()
            state.store.close()

    # /docs and /redoc with the Swagger UI and ReDoc assets shipped in the fastapi-offline wheel: no CDN
    app = FastAPIOffline(title="corpus-hygiene", version=_version(), lifespan=lifespan,
                         description="Score texts for machine generation and clean corpus shards "
                                     "(see README: Service).")
    app.state.hygiene = state
    install_error_handlers(app)
    for router in (ops.router, score.router, jobs.router, uploads.router, console.router):
        app.include_router(router)
    app.mount("/console/static", StaticFiles(directory=STATIC_DIR), name="console_static")
    shard_sized = {uploads.UPLOADS: settings.max_shard_bytes,
                   console.CONSOLE_UPLOADS: settings.max_shard_bytes + console.FORM_FRAMING_BYTES}
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes, streamed=shard_sized)
    app.add_middleware(JsonBodies, prefix="/v1/", exempt={uploads.UPLOADS})  # console forms check their origin
    app.add_middleware(RequestMetrics, metrics=state.metrics)
    app.add_middleware(HostCheck, allowed=settings.host_names)  # outermost: a rebound name gets nothing
    return app


def _version() -> str:
    from hygiene import __version__

    return __version__
