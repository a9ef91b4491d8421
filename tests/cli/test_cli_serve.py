"""``kgrag serve`` started as a user starts it — a process with ``KGRAG_*`` settings and options —
on the tiny store and its index with the small real model: it listens, says when it is ready, and
answers ``/ask`` with citations."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

TEST_MODEL = "smollm2-135m-instruct"
START_S = 240  # imports, the store, the index's embedder, the model and its warm-up on a busy 2-core CPU


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def served(tiny_store: Path, tiny_index: Path, small_chat_model: object,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = _free_port()
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    env = {**os.environ, "KGRAG_MODEL": TEST_MODEL, "KGRAG_DEVICE": "cpu", "KGRAG_MAX_NEW_TOKENS": "24",
           "KGRAG_MAX_BATCH": "2"}
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "kgrag.cli", "serve", "--port", str(port), "--store", str(tiny_store),
             "--index", str(tiny_index)], env=env, stdout=out, stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_S
        while True:
            assert proc.poll() is None, f"kgrag serve exited with {proc.returncode}:\n{log.read_text()[-3000:]}"
            assert time.monotonic() < deadline, f"not ready after {START_S} s:\n{log.read_text()[-3000:]}"
            try:
                if httpx.get(f"{url}/ready", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(1)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_ready_names_the_store_index_and_model_it_was_started_with(served: str, tiny_store: Path,
                                                                   tiny_index: Path) -> None:
    body = httpx.get(f"{served}/ready", timeout=10).json()
    assert body["ready"] is True
    assert body["store"] == str(tiny_store) and body["index"] == str(tiny_index)
    assert body["model"] == TEST_MODEL and body["device"] == "cpu"


def test_ask_answers_with_citations_from_the_store(served: str) -> None:
    r = httpx.post(f"{served}/ask", json={"question": "What are the side effects of aspirin?"}, timeout=120)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["answer"].strip() and body["safety"]["disclaimer"]
    # 阿司匹林, named in the question's language
    assert any(c["head"] == "aspirin" and c["tail"] == "胃肠道出血" for c in body["citations"])


def test_search_uses_the_index(served: str) -> None:
    body = httpx.get(f"{served}/search", params={"q": "血糖很高，总是口渴，这是什么病？"}, timeout=60).json()
    assert body["entities"][0]["id"] == "cmekg:糖尿病" and body["entities"][0]["method"] == "dense"


def test_the_chat_page_is_served(served: str) -> None:
    r = httpx.get(f"{served}/", timeout=10)
    assert r.status_code == 200 and "text/html" in r.headers["content-type"] and 'id="question"' in r.text
