"""The FastAPI app: ``create_app(settings)`` serves ``/ask``, ``/v1/chat/completions``, ``/search``,
``/entities/{id}``, ``/health``, ``/ready`` and the web page at ``/``.

The port opens at once: ``lifespan`` checks that the store and the model are there, then
:class:`api.startup.Startup` loads the KG, the model and the index in the background. Until the
KG and the model are loaded the routes answer 503 with ``Retry-After`` and ``/ready`` says what
is loading; the index joins later without a restart.

Run it with ``kgrag serve`` (or ``uvicorn --factory api.main:app``, which reads ``KGRAG_*`` settings).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from api import errors
from api.deps import Service
from api.routes import ask, graph, meta, openai
from api.routes.meta import STATIC
from api.startup import Startup
from kgrag.config import Settings, get_settings
from kgrag.generation.types import ChatModel

log = logging.getLogger(__name__)


def create_app(settings: Settings | None = None, *, model: ChatModel | None = None,
               service: Service | None = None, index_poll_s: float = 10.0) -> FastAPI:
    """The app. A missing store or unprepared model stops the start with the reason; the rest loads
    in the background (:class:`api.startup.Startup`).

    Args:
        settings: defaults to ``KGRAG_*`` from the environment.
        model: an already loaded chat model to serve (else ``settings.model`` is loaded).
        service: an already loaded service (tests share one across apps); used at once, not closed on shutdown.
        index_poll_s: how often a missing or refused index is looked for again.
    """
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if service is not None:
            app.state.service = service
            if not service.batcher.running:
                service.batcher.start()
            yield
            return
        app.state.service = None
        startup = app.state.startup = Startup(settings, model, on_ready=lambda s: setattr(app.state, "service", s),
                                                poll_s=index_poll_s)
        startup.check()
        startup.start()
        try:
            yield
        finally:
            startup.close()

    app = FastAPI(title="kgrag", version="0.1.0", lifespan=lifespan,
                  description="Knowledge-graph-grounded medical QA (Chinese and English). Health information for "
                              "research and triage support, not a doctor.")
    errors.install(app)
    app.include_router(meta.router)
    app.include_router(graph.router)  # before ask's /entities/{id:path}, which would take "…/neighbourhood" too
    app.include_router(ask.router)
    app.mount("/vendor", StaticFiles(directory=STATIC / "vendor"), name="vendor")  # the page's graph library
    app.include_router(openai.router)
    return app


def app() -> FastAPI:
    """Factory for ``uvicorn --factory api.main:app``."""
    return create_app()
