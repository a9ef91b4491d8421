"""No route does CPU work on the event loop: ``/health`` answers while a route is inside its
retrieval, KG lookup or prompt building (held there by a test double of that step)."""

from __future__ import annotations

import threading
from typing import Any

import httpx
import pytest

from api.deps import Service

ASK = {"question": "What are the symptoms of diabetes?", "max_new_tokens": 4}
CHAT = {"messages": [{"role": "user", "content": "What are the symptoms of diabetes?"}], "max_tokens": 4}


@pytest.mark.parametrize(("method", "path", "body", "owner", "step"), [
    ("GET", "/entities/cmekg:糖尿病", None, "kg", "find"),  # the first lookup builds the name index
    ("GET", "/search?q=糖尿病挂什么科", None, "retriever", "retrieve"),
    ("POST", "/ask", ASK, "answerer", "prepare"),
    ("POST", "/ask", {**ASK, "stream": True}, "answerer", "prepare"),
    ("POST", "/v1/chat/completions", CHAT, "answerer", "prepare"),
])
def test_health_answers_while_a_route_does_cpu_work(
    live_server: Any, api_service: Service, monkeypatch: pytest.MonkeyPatch, method: str, path: str,
    body: dict[str, Any] | None, owner: str, step: str,
) -> None:
    target = {"kg": api_service.retriever.kg, "retriever": api_service.retriever, "answerer": api_service.answerer}
    original = getattr(target[owner], step)
    entered, release = threading.Event(), threading.Event()

    def held(*args: Any, **kwargs: Any) -> Any:
        entered.set()
        release.wait(30)  # stands for seconds of CPU work: on the loop, it would hold every request
        return original(*args, **kwargs)

    monkeypatch.setattr(target[owner], step, held)
    result: dict[str, httpx.Response] = {}

    def call() -> None:
        with httpx.Client(base_url=live_server.url, timeout=60) as c:
            result["r"] = c.request(method, path, json=body)

    thread = threading.Thread(target=call)
    thread.start()
    try:
        assert entered.wait(30), "the route did not reach its step"
        assert httpx.get(f"{live_server.url}/health", timeout=5).json() == {"status": "ok"}
    finally:
        release.set()
        thread.join(60)
    assert result["r"].status_code == 200, result["r"].text
