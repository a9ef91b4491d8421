"""Concurrent requests share GPU batches; a full queue answers 503; a client that leaves stops its
generation (streaming or not)."""

from __future__ import annotations

import asyncio
import json
import time

import httpx
import pytest

from api.deps import Service
from api.main import create_app


async def _ask_many(url: str, n: int, max_new_tokens: int) -> list[httpx.Response]:
    async with httpx.AsyncClient(base_url=url, timeout=120) as c:
        body = {"question": "What are the symptoms of diabetes?", "max_new_tokens": max_new_tokens}
        return await asyncio.gather(*(c.post("/ask", json=body) for _ in range(n)))


def test_concurrent_requests_are_generated_in_one_batch(live_server, api_service: Service) -> None:  # type: ignore[no-untyped-def]
    before = api_service.batcher.stats.largest_batch
    responses = asyncio.run(_ask_many(live_server.url, 4, 16))
    assert all(r.status_code == 200 for r in responses)
    assert len({r.json()["answer"] for r in responses}) == 1  # greedy: the same question, the same answer
    assert max(before, 2) <= api_service.batcher.stats.largest_batch <= api_service.batcher.max_batch


def test_a_full_queue_answers_503_with_retry_after(tiny_queue_service: Service, serve) -> None:  # type: ignore[no-untyped-def]
    with serve(create_app(tiny_queue_service.settings, service=tiny_queue_service)) as server:
        responses = asyncio.run(_ask_many(server.url, 5, 24))
    codes = sorted(r.status_code for r in responses)
    assert 200 in codes and 503 in codes  # one generates, one may wait, the rest are refused
    busy = next(r for r in responses if r.status_code == 503)
    assert busy.headers["Retry-After"].isdigit() and "busy" in busy.json()["error"]["message"]


def test_a_client_that_disconnects_stops_its_generation(live_server, api_service: Service) -> None:  # type: ignore[no-untyped-def]
    cancelled = api_service.batcher.stats.cancelled
    body = {"question": "What are the symptoms of diabetes?", "max_new_tokens": 400, "stream": True}
    with httpx.Client(base_url=live_server.url, timeout=60) as c, c.stream("POST", "/ask", json=body) as r:
        for line in r.iter_lines():
            if line.startswith("event: token"):
                break  # leave after the first token
    deadline = time.monotonic() + 30
    while api_service.batcher.stats.cancelled == cancelled and time.monotonic() < deadline:
        time.sleep(0.1)
    assert api_service.batcher.stats.cancelled == cancelled + 1


@pytest.mark.parametrize(("path", "body"), [
    ("/ask", {"question": "What are the symptoms of diabetes?", "max_new_tokens": 400}),
    ("/v1/chat/completions", {"messages": [{"role": "user", "content": "What are the symptoms of diabetes?"}],
                              "max_tokens": 400}),
])
def test_a_client_that_leaves_a_whole_answer_gets_an_empty_499_and_no_error(
    api_service: Service, path: str, body: dict[str, object]
) -> None:
    """Called as ASGI with a client that is gone once it sent the body: the generation stops and the
    route ends with an empty 499, not a response that fails its model (a 500 and a logged error)."""
    app = create_app(api_service.settings, service=api_service)
    app.state.service = api_service  # what the lifespan does
    raw = json.dumps(body).encode()
    messages: list[dict[str, object]] = [{"type": "http.request", "body": raw, "more_body": False}]
    sent: list[dict[str, object]] = []

    async def receive() -> dict[str, object]:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    scope = {
        "type": "http", "asgi": {"version": "3.0", "spec_version": "2.3"}, "http_version": "1.1", "method": "POST",
        "scheme": "http", "path": path, "raw_path": path.encode(), "root_path": "", "query_string": b"",
        "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(raw)).encode())],
        "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 80), "state": {},
    }
    cancelled = api_service.batcher.stats.cancelled
    asyncio.run(app(scope, receive, send))
    assert sent[0]["type"] == "http.response.start" and sent[0]["status"] == 499
    assert all(not m.get("body") for m in sent[1:])
    deadline = time.monotonic() + 30
    while api_service.batcher.stats.cancelled == cancelled and time.monotonic() < deadline:
        time.sleep(0.1)
    assert api_service.batcher.stats.cancelled == cancelled + 1
