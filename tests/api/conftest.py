"""The service under test: the real default KG store and a real small model (SmolLM2-135M-Instruct,
prepared once from its registry package), loaded once per test session.

Questions whose entities the default store knows, for tests that need facts:
``What are the symptoms of diabetes?``, ``What are the side effects of aspirin?``,
``糖尿病应该挂什么科？``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.deps import Service, load_service
from api.main import create_app
from kgrag.config import Settings
from kgrag.generation.batching import GenerationBatcher

TEST_MODEL = "smollm2-135m-instruct"  # the model of tests/conftest.py's small_chat_model


@pytest.fixture(scope="session")
def api_settings(default_store: Path) -> Settings:
    return Settings(
        store=default_store, index=Path("none"), model=TEST_MODEL, device="cpu", max_new_tokens=32, max_batch=4,
        max_queue=8, top_k=6,
    )


@pytest.fixture(scope="session")
def api_service(api_settings: Settings, small_chat_model) -> Iterator[Service]:  # type: ignore[no-untyped-def]
    service = load_service(api_settings, small_chat_model)
    yield service
    service.close()


@pytest.fixture(scope="session")
def client(api_service: Service) -> Iterator[TestClient]:
    with TestClient(create_app(api_service.settings, service=api_service)) as c:
        yield c


@pytest.fixture()
def tiny_queue_service(api_service: Service) -> Iterator[Service]:
    """The same KG and model behind a batcher that takes one request at a time and keeps one waiting."""
    batcher = GenerationBatcher(api_service.model, max_batch=1, max_queue=1)
    service = Service(api_service.settings, api_service.retriever, api_service.model, api_service.answerer, batcher,
                      api_service.info)
    batcher.start()
    assert batcher.ready.wait(120), "the generation worker did not warm up"
    yield service
    batcher.stop()


class LiveServer:
    """uvicorn serving an app in a background thread, on a free port."""

    def __init__(self, app: object) -> None:
        import socket
        import threading

        import uvicorn

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> LiveServer:
        import time

        self.thread.start()
        deadline = time.monotonic() + 60
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the test server did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(30)


@pytest.fixture(scope="session")
def live_server(api_service: Service) -> Iterator[LiveServer]:
    with LiveServer(create_app(api_service.settings, service=api_service)) as server:
        yield server


@pytest.fixture(scope="session")
def serve() -> type[LiveServer]:
    """``with serve(app) as server:`` runs another app live (``server.url``)."""
    return LiveServer
