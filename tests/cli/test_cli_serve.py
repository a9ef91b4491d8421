"""``kgrag serve`` started as a user starts it — a process with ``KGRAG_*`` settings and options —
on the tiny store and its index with the small real model: the port opens before the model is
loaded (503 and what is loading), then it answers ``/ask`` with citations and uses the index."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

TEST_MODEL = "smollm2-135m-instruct"
START_S = 240  # imports, the store, the index's embedder, the model and its warm-up on a busy 2-core CPU


@dataclass
class Served:
    url: str
    before_ready: list[dict] = field(default_factory=list)  # the /ready bodies answered before it was ready


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def served(tiny_store: Path, tiny_index: Path, small_chat_model: object,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    port = _free_port()
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    env = {**os.environ, "KGRAG_MODEL": TEST_MODEL, "KGRAG_DEVICE": "cpu", "KGRAG_MAX_NEW_TOKENS": "24",
           "KGRAG_MAX_BATCH": "2"}
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "kgrag.cli", "serve", "--port", str(port), "--store", str(tiny_store),
             "--index", str(tiny_index)], env=env, stdout=out, stderr=subprocess.STDOUT,
        )
    served = Served(f"http://127.0.0.1:{port}")
    try:
        deadline = time.monotonic() + START_S
        while True:
            assert proc.poll() is None, f"kgrag serve exited with {proc.returncode}:\n{log.read_text()[-3000:]}"
            assert time.monotonic() < deadline, f"not ready after {START_S} s:\n{log.read_text()[-3000:]}"
            try:
                r = httpx.get(f"{served.url}/ready", timeout=5)
                if r.status_code == 200:
                    break
                served.before_ready.append({"status": r.status_code, **r.json()})
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        yield served
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _index_joined(served: Served) -> dict:
    """/ready once the index joined (it is verified and loaded after the model)."""
    deadline = time.monotonic() + 60
    while (body := httpx.get(f"{served.url}/ready", timeout=10).json())["parts"]["index"] != "ready":
        assert time.monotonic() < deadline, body["parts"]
        time.sleep(0.2)
    return body  # type: ignore[no-any-return]


def test_the_port_opens_before_the_model_is_loaded(served: Served) -> None:
    assert served.before_ready, "the first answer of /ready was already 200: the port opened late"
    first = served.before_ready[0]
    assert first["status"] == 503 and first["ready"] is False
    assert set(first["parts"]) == {"kg", "model", "index"} and first["parts"]["model"] != "ready"


def test_ready_names_the_store_index_and_model_it_was_started_with(served: Served, tiny_store: Path,
                                                                   tiny_index: Path) -> None:
    body = _index_joined(served)
    assert body["ready"] is True and body["parts"] == {"kg": "ready", "model": "ready", "index": "ready"}
    assert body["store"] == str(tiny_store) and body["index"] == str(tiny_index)
    assert body["model"] == TEST_MODEL and body["device"] == "cpu"


def test_ask_answers_with_citations_from_the_store(served: Served) -> None:
    r = httpx.post(f"{served.url}/ask", json={"question": "What are the side effects of aspirin?"}, timeout=120)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["answer"].strip() and body["safety"]["disclaimer"]
    # 阿司匹林, named in the question's language
    assert any(c["head"] == "aspirin" and c["tail"] == "胃肠道出血" for c in body["citations"])


def test_search_uses_the_index_once_it_joined(served: Served) -> None:
    _index_joined(served)
    body = httpx.get(f"{served.url}/search", params={"q": "血糖很高，总是口渴，这是什么病？"}, timeout=60).json()
    assert body["entities"][0]["id"] == "cmekg:糖尿病" and body["entities"][0]["method"] == "dense"


def test_the_chat_page_is_served(served: Served) -> None:
    r = httpx.get(f"{served.url}/", timeout=10)
    assert r.status_code == 200 and "text/html" in r.headers["content-type"] and 'id="question"' in r.text


@pytest.mark.parametrize(("args", "message"), [
    (["--store", "/nonexistent/store"], "no KG store at /nonexistent/store"),
    (["--model", "qwen-7b"], "known models: qwen2.5-0.5b-instruct"),
])
def test_a_missing_store_or_model_is_one_line_and_exit_code_2(args: list[str], message: str, tiny_store: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "kgrag.cli", "serve", "--port", str(_free_port()), "--store",
                           str(tiny_store), *args], capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 2 and message in proc.stderr and "Traceback" not in proc.stderr, proc.stderr[-2000:]
