"""The service in front of an OpenAI-compatible server (``KGRAG_GENERATOR=openai``): ``/ask`` and
``/v1/chat/completions`` answer with kgrag's citations through llama.cpp's server on the small
model; a server that is down or silent is a 503, one that answers garbage a 502 — each naming the
upstream, streamed or not, within the timeout. The tiny KG store; real loopback servers."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from upstream_servers import EndlessStreamServer, FixedAnswerServer, SilentServer, free_port, http_answer

from api.main import create_app
from kgrag.config import Settings

QUESTION = "糖尿病挂什么科？"  # the tiny store's 糖尿病 has a 就诊科室 fact


def _settings(store: Path, url: str, timeout_s: float = 60) -> Settings:
    return Settings(store=store, index=Path("none"), generator="openai", openai_base_url=url,
                    openai_model="smollm2-135m-instruct", openai_timeout_s=timeout_s, openai_max_context=4096,
                    max_new_tokens=16, top_k=4)


@pytest.fixture()
def start() -> Iterator[Callable[[Settings], TestClient]]:
    clients: list[TestClient] = []

    def client_of(settings: Settings) -> TestClient:
        client = TestClient(create_app(settings))
        client.__enter__()
        clients.append(client)
        deadline = time.monotonic() + 60
        while not client.get("/ready").json().get("ready"):
            assert time.monotonic() < deadline, client.get("/ready").json()
            time.sleep(0.05)
        return client

    yield client_of
    for client in clients:
        client.__exit__(None, None, None)


def _events(text: str) -> list[tuple[str, dict]]:  # type: ignore[type-arg]
    out = []
    for block in text.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines())
        out.append((lines["event"], json.loads(lines["data"])))
    return out


def test_ask_answers_with_citations_through_a_real_openai_compatible_server(start, tiny_store: Path,  # type: ignore[no-untyped-def]
                                                                            llama_server) -> None:
    client = start(_settings(tiny_store, llama_server.url))
    ready = client.get("/ready").json()
    assert ready["model"] == "smollm2-135m-instruct" and ready["device"] == "upstream"
    body = client.post("/ask", json={"question": QUESTION}).json()
    assert body["answer"].strip() and body["model"] == "smollm2-135m-instruct"
    assert any("就诊科室" in c["relation"] or "科" in c["tail"] for c in body["citations"]), body["citations"]
    assert body["finish_reason"] in ("stop", "length") and 0 < body["usage"]["completion_tokens"] <= 16
    assert body["safety"]["disclaimer"]

    streamed = client.post("/ask", json={"question": QUESTION, "stream": True})
    kinds = [k for k, _ in _events(streamed.text)]
    assert kinds[0] == "meta" and kinds[-1] == "done" and "token" in kinds and "error" not in kinds


def test_the_openai_route_answers_through_the_upstream_with_kgrags_citations(start, tiny_store: Path,  # type: ignore[no-untyped-def]
                                                                             llama_server) -> None:
    client = start(_settings(tiny_store, llama_server.url))
    r = client.post("/v1/chat/completions",
                    json={"model": "kgrag", "messages": [{"role": "user", "content": QUESTION}]})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["choices"][0]["message"]["content"].strip() and body["kgrag"]["citations"]


@pytest.mark.parametrize("stream", [False, True])
def test_a_server_that_is_down_is_a_503_naming_it(start, tiny_store: Path, stream: bool) -> None:  # type: ignore[no-untyped-def]
    url = f"http://127.0.0.1:{free_port()}/v1"
    client = start(_settings(tiny_store, url))
    r = client.post("/ask", json={"question": QUESTION, "stream": stream})
    assert r.status_code == 503 and r.headers["Retry-After"] == "5"
    error = r.json()["error"]
    assert url in error["message"] and "cannot be reached" in error["message"]
    assert error["code"] == "upstream_unavailable"


def test_a_server_that_never_answers_is_a_503_within_the_timeout(start, tiny_store: Path) -> None:  # type: ignore[no-untyped-def]
    with SilentServer() as server:
        client = start(_settings(tiny_store, server.url, timeout_s=1))
        t0 = time.monotonic()
        r = client.post("/v1/chat/completions", json={"model": "kgrag", "stream": True,
                                                      "messages": [{"role": "user", "content": QUESTION}]})
        assert time.monotonic() - t0 < 5
        assert r.status_code == 503 and server.url in r.json()["error"]["message"]
        assert "no answer within 1 s" in r.json()["error"]["message"]


@pytest.mark.parametrize("stream", [False, True])
def test_a_server_that_answers_garbage_is_a_502_naming_it(start, tiny_store: Path, stream: bool) -> None:  # type: ignore[no-untyped-def]
    with FixedAnswerServer(http_answer("200 OK", "text/html", b"<html>Welcome to nginx!</html>")) as server:
        client = start(_settings(tiny_store, server.url))
        r = client.post("/ask", json={"question": QUESTION, "stream": stream})
    assert r.status_code == 502
    error = r.json()["error"]
    assert server.url in error["message"] and "Welcome to nginx" in error["message"]
    assert error["code"] == "bad_upstream_response"


def test_a_client_that_leaves_mid_answer_closes_the_upstream_call(serve, tiny_store: Path) -> None:  # type: ignore[no-untyped-def]
    import httpx

    with EndlessStreamServer() as upstream, serve(create_app(_settings(tiny_store, upstream.url))) as live:
        deadline = time.monotonic() + 60
        while not httpx.get(f"{live.url}/ready").json().get("ready"):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        with httpx.stream("POST", f"{live.url}/ask", json={"question": QUESTION, "stream": True}, timeout=30) as r:
            assert r.status_code == 200
            tokens = 0
            for line in r.iter_lines():
                tokens += line == "event: token"
                if tokens == 3:
                    break  # the client leaves; the upstream would stream forever
        assert upstream.wait_closes(1, timeout=5), "the upstream call outlived its client"
        assert upstream.connections == 1
