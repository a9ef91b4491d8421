"""The upstream generator (``KGRAG_GENERATOR=openai``): it streams a real OpenAI-compatible server's
answer (llama.cpp's, on the small model), and a server that is down, silent or answers garbage
gives a domain error naming it within the timeout; closing the stream closes the call. Every server
here is a real loopback socket."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest
from upstream_servers import (
    EndlessStreamServer,
    FixedAnswerServer,
    SilentServer,
    free_port,
    http_answer,
)

from kgrag.config import Settings
from kgrag.errors import ConfigError, UpstreamResponseError, UpstreamUnavailableError
from kgrag.generation.answer import load_model
from kgrag.generation.batching import GenerationBatcher
from kgrag.generation.prompts import build_grounded_prompt
from kgrag.generation.types import GenerationConfig, GenerationRequest, Message, StreamingChatModel
from kgrag.generation.upstream import OpenAIChatModel

QUESTION = [Message("system", "Answer in one short sentence."), Message("user", "What is a fever?")]


def _model(url: str, timeout_s: float = 5.0) -> OpenAIChatModel:
    return OpenAIChatModel(url, "smollm2-135m-instruct", timeout_s=timeout_s, max_context=4096)


async def _collect(model: OpenAIChatModel, request: GenerationRequest) -> list:  # type: ignore[type-arg]
    return [event async for event in model.astream(request)]


# --- a real server -------------------------------------------------------------------------------------------


def test_a_real_server_streams_a_grounded_answer_accepted_first_then_text_then_the_finish(llama_server) -> None:  # type: ignore[no-untyped-def]
    model = _model(llama_server.url, timeout_s=60)
    prompt = build_grounded_prompt("What are the symptoms of diabetes?", [], lang="en",
                                   count_tokens=model.count_tokens, max_prompt_tokens=3000)
    events = asyncio.run(_collect(model, GenerationRequest(prompt.messages, GenerationConfig(max_new_tokens=12))))
    assert events[0].text == "" and events[0].finish_reason is None  # accepted
    texts = [e.text for e in events[1:-1]]
    assert texts and all(texts), "text pieces, none empty"
    last = events[-1]
    assert last.finish_reason in ("stop", "length") and last.text == ""
    assert 0 < last.completion_tokens <= 12
    assert last.prompt_tokens >= model.prompt_tokens(prompt.messages) > 0  # no usage streamed: the upper bound


def test_greedy_answers_of_a_real_server_repeat_and_a_batch_streams_each_request_under_its_index(llama_server) -> None:  # type: ignore[no-untyped-def]
    model = _model(llama_server.url, timeout_s=60)
    once = model.generate(QUESTION, GenerationConfig(max_new_tokens=8))
    assert once.text.strip() and once.finish_reason in ("stop", "length")
    requests = [GenerationRequest(QUESTION, GenerationConfig(max_new_tokens=8)) for _ in range(2)]
    events = list(model.stream_batch(requests))
    for i in (0, 1):
        mine = [e for e in events if e.index == i]
        assert "".join(e.text for e in mine) == once.text
        assert [e.finish_reason is not None for e in mine].count(True) == 1 and mine[-1].finish_reason


def test_the_token_bound_is_never_below_the_real_tokenizers_count(smol_tokenizer) -> None:  # type: ignore[no-untyped-def]
    model = _model("http://127.0.0.1:1/v1")
    for text in ("What are the symptoms of diabetes?", "糖尿病的常见症状包括多饮、多尿。",
                 "[1] aspirin — side effect — 胃肠道反应"):
        assert model.count_tokens(text) >= len(smol_tokenizer.encode(text, add_special_tokens=False))


# --- down, silent, garbage -----------------------------------------------------------------------------------


def test_a_server_that_is_down_is_unavailable_at_once_and_named() -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"
    t0 = time.monotonic()
    with pytest.raises(UpstreamUnavailableError, match="cannot be reached") as err:
        _model(url).generate(QUESTION)
    assert time.monotonic() - t0 < 3
    assert err.value.url == f"{url}/chat/completions" and url in str(err.value)


def test_a_server_that_never_answers_is_unavailable_after_the_timeout_and_the_call_is_closed() -> None:
    with SilentServer() as server:
        t0 = time.monotonic()
        with pytest.raises(UpstreamUnavailableError, match=r"no answer within 0\.5 s") as err:
            asyncio.run(_collect(_model(server.url, timeout_s=0.5), GenerationRequest(QUESTION)))
        elapsed = time.monotonic() - t0
        assert 0.5 <= elapsed < 3, elapsed
        assert server.url in str(err.value) and "KGRAG_OPENAI_TIMEOUT_S" in str(err.value)
        assert server.closed.wait(2), "the silent server's connection was not closed"


@pytest.mark.parametrize(("answer", "says"), [
    (http_answer("200 OK", "text/html", b"<html><body>It works!</body></html>"), "not an event stream: <html>"),
    (http_answer("200 OK", "text/event-stream", b"data: not json at all\n\n"), "not a chat-completion chunk"),
    (http_answer("200 OK", "text/event-stream", b'data: {"object": "x"}\n\n'), "not a chat-completion chunk"),
    (http_answer("200 OK", "text/event-stream",
                 b'data: {"choices": [{"delta": {"content": "Hi"}, "finish_reason": null}]}\n\n'),
     "ended before the answer did"),
    (http_answer("200 OK", "text/event-stream",  # llama-cpp-python's server cutting a request short
                 b'data: {"choices": [{"delta": {"role": "assistant"}, "finish_reason": null}]}\n\ndata: [DONE]\n\n'),
     "ended before the answer did"),
    (http_answer("500 Internal Server Error", "application/json", b'{"error": {"message": "model crashed"}}'),
     "HTTP 500: model crashed"),
    (http_answer("404 Not Found", "text/plain", b"no such route"),
     "HTTP 404: no such route (check KGRAG_OPENAI_BASE_URL"),
    (http_answer("401 Unauthorized", "application/json", b'{"error": "bad key"}'), "check KGRAG_OPENAI_API_KEY"),
])
def test_an_answer_that_is_not_a_chat_completion_stream_is_a_bad_upstream_response(answer: bytes, says: str) -> None:
    with FixedAnswerServer(answer) as server:
        with pytest.raises(UpstreamResponseError) as err:
            _model(server.url).generate(QUESTION)
    assert server.url in str(err.value) and says in str(err.value)


def test_an_overloaded_server_is_unavailable_not_a_bad_response() -> None:
    with FixedAnswerServer(http_answer("503 Service Unavailable", "text/plain", b"busy")) as server:
        with pytest.raises(UpstreamUnavailableError, match="HTTP 503: busy"):
            _model(server.url).generate(QUESTION)


# --- cancelling ----------------------------------------------------------------------------------------------


def test_closing_the_stream_closes_the_upstream_connection() -> None:
    async def three_then_close(server: EndlessStreamServer) -> int:
        events = _model(server.url).astream(GenerationRequest(QUESTION))
        got = [await anext(events) for _ in range(4)]  # accepted, then three words
        await events.aclose()  # type: ignore[attr-defined]
        # still inside the loop (whose end would close every generator anyway)
        assert await asyncio.to_thread(server.wait_closes, 1), "the server kept streaming to nobody"
        return sum(1 for e in got if e.text)

    with EndlessStreamServer() as server:
        assert asyncio.run(three_then_close(server)) == 3


def test_a_cancelled_request_of_a_batch_ends_cancelled_and_closes_its_call() -> None:
    with EndlessStreamServer() as server:
        request = GenerationRequest(QUESTION)
        events = []
        for event in _model(server.url).stream_batch([request]):
            events.append(event)
            if len(events) == 3:
                request.cancelled.set()  # as a client that left, from another thread
        assert events[-1].finish_reason == "cancelled"
        assert server.closed.wait(2)


def test_the_batcher_passes_requests_to_the_server_at_once_and_closing_them_closes_the_calls() -> None:
    async def two_at_once(batcher: GenerationBatcher, server: EndlessStreamServer) -> list[str]:
        streams = [batcher.submit(GenerationRequest(QUESTION)) for _ in range(2)]
        firsts = await asyncio.gather(*(anext(s) for s in streams))  # both under way together: no waves
        assert batcher.stats.open_calls == 2 and server.connections == 2
        for s in streams:
            await s.aclose()  # type: ignore[attr-defined]
        assert await asyncio.to_thread(server.wait_closes, 2), "a call was left open"
        return [f.text for f in firsts]

    with EndlessStreamServer() as server:
        model = _model(server.url)
        assert isinstance(model, StreamingChatModel)
        batcher = GenerationBatcher(model, max_batch=1, max_queue=1)
        batcher.start()
        assert batcher.running and batcher.ready.is_set() and batcher._thread is None  # no worker, no warm-up
        assert asyncio.run(two_at_once(batcher, server)) == ["", ""]
        assert batcher.stats.open_calls == 0 and batcher.stats.requests == 2


def test_the_batcher_refuses_past_max_batch_plus_max_queue_open_calls() -> None:
    from kgrag.errors import QueueFullError

    async def three(batcher: GenerationBatcher) -> None:
        streams = [batcher.submit(GenerationRequest(QUESTION)) for _ in range(2)]
        await asyncio.gather(*(anext(s) for s in streams))
        try:
            with pytest.raises(QueueFullError):
                batcher.submit(GenerationRequest(QUESTION))
        finally:
            for s in streams:
                await s.aclose()  # type: ignore[attr-defined]

    with EndlessStreamServer() as server:
        batcher = GenerationBatcher(_model(server.url), max_batch=1, max_queue=1)
        batcher.start()
        asyncio.run(three(batcher))


# --- settings ------------------------------------------------------------------------------------------------


def test_the_generator_setting_picks_the_upstream_backend_with_its_url_model_key_and_timeout() -> None:
    settings = Settings(generator="openai", openai_base_url="http://127.0.0.1:8080/v1/", openai_model="m",
                        openai_api_key="sk-test", openai_timeout_s=7, openai_max_context=2048)  # type: ignore[arg-type]
    model = load_model(settings)
    assert isinstance(model, OpenAIChatModel)
    assert (model.url, model.name, model.timeout_s, model.max_context) == (
        "http://127.0.0.1:8080/v1/chat/completions", "m", 7, 2048)
    assert model._headers["Authorization"] == "Bearer sk-test"
    body = model.request_body(GenerationRequest(QUESTION, GenerationConfig(max_new_tokens=5, temperature=0.7, seed=3)))
    assert body["model"] == "m" and body["stream"] is True and body["max_tokens"] == 5 and body["seed"] == 3
    assert body["messages"] == [{"role": m.role, "content": m.content} for m in QUESTION]


def test_a_bad_generator_setting_is_refused_with_the_valid_choices() -> None:
    with pytest.raises(ValueError, match="generator must be one of hf, openai; got 'vllm'"):
        Settings(generator="vllm")
    with pytest.raises(ValueError, match="needs KGRAG_OPENAI_BASE_URL and KGRAG_OPENAI_MODEL"):
        Settings(generator="openai")
    with pytest.raises(ConfigError, match="base_url must start with http"):
        OpenAIChatModel("127.0.0.1:8080", "m")


def test_the_stream_leaves_no_thread_or_call_behind_when_the_caller_stops_reading() -> None:
    with EndlessStreamServer() as server:
        stream = _model(server.url).stream_batch([GenerationRequest(QUESTION)])
        next(stream), next(stream)
        stream.close()  # as `kgrag ask`'s consumer stopping early
        assert "kgrag-upstream" not in [t.name for t in threading.enumerate()]
        assert server.closed.wait(2)
