"""The FastAPI app: ``create_app(settings)`` loads the KG, index and model once (in ``lifespan``)
and serves ``/ask``, ``/v1/chat/completions``, ``/search``, ``/entities/{id}``, ``/health``,
``/ready`` and the web page at ``/``.

Run it with ``kgrag serve`` (or ``uvicorn api.main:app``, which reads ``KGRAG_*`` settings).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from api import errors
from api.deps import Service, load_service
from api.routes import ask, meta, openai
from kgrag.config import Settings, get_settings
from kgrag.generation.types import ChatModel

log = logging.getLogger(__name__)


def create_app(settings: Settings | None = None, *, model: ChatModel | None = None,
               service: Service | None = None) -> FastAPI:
    """The app. Loading happens at start-up; a failure there stops the start with the reason.

    Args:
        settings: defaults to ``KGRAG_*`` from the environment.
        model: an already loaded chat model to serve (else ``settings.model`` is loaded).
        service: an already loaded service (tests share one across apps); not closed on shutdown.
    """
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        own = service is None
        app.state.service = service or load_service(settings, model)
        if not app.state.service.batcher.running:
            app.state.service.batcher.start()
        try:
            yield
        finally:
            if own:
                app.state.service.close()

    app = FastAPI(title="kgrag", version="0.1.0", lifespan=lifespan,
                  description="Knowledge-graph-grounded medical QA (Chinese and English). Health information for "
                              "research and triage support, not a doctor.")
    errors.install(app)
    app.include_router(meta.router)
    app.include_router(ask.router)
    app.include_router(openai.router)
    return app


def app() -> FastAPI:
    """Factory for ``uvicorn --factory api.main:app``."""
    return create_app()
