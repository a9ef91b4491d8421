"""Concurrent requests share GPU batches; a full queue answers 503; a client that leaves stops its
generation."""

from __future__ import annotations

import asyncio
import time

import httpx

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
