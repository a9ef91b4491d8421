"""Serving before the index: the port answers at once (503 while the model loads), answers start
with retrieval without the index, and the index joins when it is there and verified — without a
restart. The tiny store, its tiny real index and the small real model."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from kgrag.config import Settings
from kgrag.errors import ConfigError, StoreError

TEST_MODEL = "smollm2-135m-instruct"
NO_NAME = "血糖很高，总是口渴，这是什么病？"  # only the index's dense fallback links it (to 糖尿病)


def _settings(store: Path, index: Path | str, **kw: object) -> Settings:
    return Settings(store=store, index=Path(index), model=TEST_MODEL, device="cpu", max_new_tokens=16, max_batch=2,
                    **kw)  # type: ignore[arg-type]


def _until(client: TestClient, done: Callable[[dict], bool], timeout: float = 120) -> tuple[dict, list[dict]]:
    """Poll /ready until ``done(body)``; the last body and every body seen."""
    seen: list[dict] = []
    deadline = time.monotonic() + timeout
    while True:
        body = client.get("/ready").json()
        seen.append(body)
        if done(body):
            return body, seen
        assert time.monotonic() < deadline, f"/ready never got there; last: {body}"
        time.sleep(0.05)


def _install(index: Path, at: Path) -> None:
    """Put an index in place as `kgrag build-index` does: whole, by one rename."""
    tmp = at.with_name(at.name + ".tmp")
    shutil.copytree(index, tmp)
    tmp.rename(at)


@pytest.fixture()
def serve(small_chat_model) -> Iterator[Callable[..., TestClient]]:  # type: ignore[no-untyped-def]
    clients: list[TestClient] = []

    def start(settings: Settings, *, load_model: bool = False) -> TestClient:
        app = create_app(settings, model=None if load_model else small_chat_model, index_poll_s=0.1)
        client = TestClient(app)
        client.__enter__()
        clients.append(client)
        return client

    yield start
    for client in clients:
        client.__exit__(None, None, None)


def test_the_port_answers_503_while_the_model_loads_then_answers(serve, tiny_store: Path) -> None:  # type: ignore[no-untyped-def]
    client = serve(_settings(tiny_store, "none"), load_model=True)  # the model loads from disk: seconds
    first = client.post("/ask", json={"question": "糖尿病挂什么科？"})
    assert first.status_code == 503 and first.headers["Retry-After"] == "5"
    assert "kgrag is starting" in first.json()["error"]["message"] and "model:" in first.json()["error"]["message"]
    body, seen = _until(client, lambda b: b["ready"])
    assert seen[0]["ready"] is False and seen[0]["parts"]["model"] in ("waiting", "loading", "warming up")
    assert body["parts"] == {"kg": "ready", "model": "ready", "index": "none (KGRAG_INDEX=none): answering without it"}
    assert body["model"] == TEST_MODEL and body["model_title"] == "SmolLM2-135M-Instruct"
    answer = client.post("/ask", json={"question": "糖尿病挂什么科？"})
    assert answer.status_code == 200 and any(c["tail"] == "内分泌科" for c in answer.json()["citations"])


def test_the_index_joins_when_it_appears_without_a_restart(serve, tiny_store: Path, tiny_index: Path,  # type: ignore[no-untyped-def]
                                                           tmp_path: Path) -> None:
    at = tmp_path / "index"
    client = serve(_settings(tiny_store, at))
    body, _ = _until(client, lambda b: b["ready"])
    assert body["parts"]["index"].startswith(f"waiting for {at}") and body["index"] is None
    assert client.get("/search", params={"q": NO_NAME}).json()["facts"] == []  # answering without the index
    _install(tiny_index, at)
    body, _ = _until(client, lambda b: b["parts"]["index"] == "ready", timeout=60)
    assert body["index"] == str(at)
    linked = client.get("/search", params={"q": NO_NAME}).json()["entities"][0]
    assert linked["id"] == "cmekg:糖尿病" and linked["method"] == "dense"


def test_an_index_that_fails_verification_is_not_used_until_it_changes(serve, tiny_store: Path,  # type: ignore[no-untyped-def]
                                                                      tiny_index: Path, tmp_path: Path) -> None:
    at = tmp_path / "index"
    _install(tiny_index, at)
    vectors = at / "entities.vectors.npy"
    vectors.write_bytes(vectors.read_bytes()[:-8] + b"\0" * 8)  # same size, other bytes: only sha256 sees it
    client = serve(_settings(tiny_store, at))
    body, _ = _until(client, lambda b: b["ready"] and b["parts"]["index"].startswith("not used"))
    assert "entities.vectors.npy" in body["parts"]["index"] and "answering without it" in body["parts"]["index"]
    assert body["index"] is None
    shutil.rmtree(at)
    _install(tiny_index, at)  # a rebuilt index: a new manifest
    body, _ = _until(client, lambda b: b["parts"]["index"] == "ready", timeout=60)
    assert body["index"] == str(at)


def test_with_index_build_a_missing_index_is_built_in_the_background(serve, tiny_store: Path,  # type: ignore[no-untyped-def]
                                                                    tmp_path: Path) -> None:
    at = tmp_path / "index"
    client = serve(_settings(tiny_store, at, index_build=True))
    body, seen = _until(client, lambda b: b["parts"]["index"] == "ready", timeout=180)
    states = [b["parts"]["index"] for b in seen]
    assert any(s.startswith("building") for s in states), states
    assert body["ready"] is True and body["index"] == str(at)
    manifest = json.loads((at / "manifest.json").read_text())
    assert manifest["embedder"] == "use-multilingual" and manifest["kg_checksum"] == body["store_checksum"]
    assert client.get("/search", params={"q": NO_NAME}).json()["entities"][0]["method"] == "dense"


def test_a_missing_store_or_unprepared_model_stops_the_start_with_the_fix(tiny_store: Path, tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="kgrag kg import"), TestClient(create_app(_settings(tmp_path / "no", "none"))):
        pass
    settings = _settings(tiny_store, "none").model_copy(update={"model_dir": tmp_path / "models"})
    with pytest.raises(ConfigError, match="kgrag model prepare"), TestClient(create_app(settings)):
        pass


def test_a_model_that_fails_to_load_in_the_background_is_named_by_ready(tiny_store: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken-model"
    broken.mkdir()
    (broken / "config.json").write_text("{}")  # passes the quick check (a model folder), cannot load
    with TestClient(create_app(_settings(tiny_store, "none").model_copy(update={"model": str(broken)}))) as client:
        body, _ = _until(client, lambda b: b["parts"]["model"].startswith("failed"), timeout=60)
        assert body["ready"] is False and body["parts"]["kg"] == "ready"
        r = client.post("/ask", json={"question": "糖尿病挂什么科？"})
        assert r.status_code == 503 and "kgrag could not start" in r.json()["error"]["message"]


def test_a_build_that_cannot_run_is_named_and_the_service_keeps_answering(serve, tiny_store: Path,  # type: ignore[no-untyped-def]
                                                                         tmp_path: Path) -> None:
    at = tmp_path / "index"
    at.mkdir()
    (at / "notes.txt").write_text("not an index")  # build_index refuses to replace a folder that is not one
    client = serve(_settings(tiny_store, at, index_build=True))
    body, _ = _until(client, lambda b: b["parts"]["index"].startswith("failed"), timeout=60)
    assert "is not a kgrag index" in body["parts"]["index"] and body["ready"] is True
    assert (at / "notes.txt").read_text() == "not an index"
    assert client.get("/search", params={"q": "糖尿病挂什么科？"}).json()["facts"]
