"""An OpenAI-compatible server as the generator (``KGRAG_GENERATOR=openai``): vLLM, SGLang, TGI,
llama.cpp's server or Ollama generate, while retrieval, the grounded prompt, citations, safety and
the answer check stay in kgrag, in front of them.

:class:`OpenAIChatModel` sends the grounded prompt's messages to ``{base_url}/chat/completions`` with
``stream: true`` and reads the server-sent events as they come. The server applies its own chat
template, batches and queues: kgrag does not batch requests for it (the batcher passes each on at once).

Every failure is a domain error that names the endpoint, never a hang:

* not reachable (connection refused, DNS), or no answer — no connection, no first byte, no next
  piece — within ``timeout_s``, or the server says it is overloaded (429, 503):
  :class:`~kgrag.errors.UpstreamUnavailableError` (the API answers 503);
* an answer that is not an OpenAI chat-completion stream (not JSON, no ``choices``, an HTTP error,
  a stream that stops before its end): :class:`~kgrag.errors.UpstreamResponseError` (502).

Closing the stream (a client that left) or cancelling its task closes the HTTP connection, which a
server such as llama.cpp's or vLLM's takes as the end of that request.

Example:
    >>> model = OpenAIChatModel("http://127.0.0.1:8080/v1", "qwen2.5-0.5b-instruct", timeout_s=30)
    >>> model.generate([Message("user", "What is fever?")]).text
"""

from __future__ import annotations

import asyncio
import json
import logging
import queue
import threading
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import replace
from typing import Any

from kgrag.errors import ConfigError, UpstreamError, UpstreamResponseError, UpstreamUnavailableError
from kgrag.generation.types import (
    FinishReason,
    Generation,
    GenerationConfig,
    GenerationRequest,
    Message,
    StreamEvent,
)

log = logging.getLogger(__name__)

#: Tokens a chat template adds around each message (role markers), counted on top of its text.
MESSAGE_OVERHEAD_TOKENS = 8
#: How often the synchronous :meth:`OpenAIChatModel.stream_batch` looks at the requests' ``cancelled``.
CANCEL_POLL_S = 0.05
_EXCERPT = 200


def _excerpt(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _EXCERPT else text[:_EXCERPT] + "…"


class OpenAIChatModel:
    """The :class:`~kgrag.generation.types.ChatModel` (and ``StreamingChatModel``) role filled by an
    OpenAI-compatible server.

    Args:
        base_url: the server's API root, up to ``/v1`` (``http://127.0.0.1:8080/v1``).
        model: the model name the server serves (the request's ``model``).
        api_key: sent as ``Authorization: Bearer <key>`` when given.
        timeout_s: seconds to connect, and to wait for the first and for each next piece of an answer.
        max_context: the upstream model's context in tokens; it bounds the grounded prompt.

    Token counts: kgrag has no tokenizer for the upstream model, so :meth:`count_tokens` counts UTF-8
    bytes — an upper bound for byte-level BPE tokenizers (every token is at least one byte), so the
    prompt always fits, at the price of fewer facts for long prompts than the context could hold.
    The answer's token counts are the server's ``usage`` when it sends one, else this bound for the
    prompt and the number of content pieces streamed for the answer.

    Raises:
        ConfigError: a base URL that is not http(s), a timeout or context that is not positive.
    """

    prompt_format = "upstream"  # the server applies its model's own chat template

    def __init__(self, base_url: str, model: str, *, api_key: str | None = None, timeout_s: float = 30.0,
                 max_context: int = 8192) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ConfigError(f"base_url must start with http:// or https://. Currently, base_url is {base_url!r}")
        if timeout_s <= 0:
            raise ConfigError(f"timeout_s must be greater than 0. Currently, timeout_s is {timeout_s}")
        if max_context < 2:
            raise ConfigError(f"max_context must be at least 2. Currently, max_context is {max_context}")
        if not model:
            raise ConfigError("model must name the model the upstream server serves (KGRAG_OPENAI_MODEL)")
        self.base_url = base_url.rstrip("/")
        self.url = f"{self.base_url}/chat/completions"
        self.name = model
        self.device = "upstream"
        self.timeout_s = timeout_s
        self.max_context = max_context
        self._headers = {"Accept": "text/event-stream"}
        if api_key:
            self._headers["Authorization"] = f"Bearer {api_key}"

    # -- the ChatModel role --------------------------------------------------------------------------------------

    def count_tokens(self, text: str) -> int:
        """An upper bound of the tokens ``text`` takes: its UTF-8 bytes."""
        return len(text.encode("utf-8"))

    def prompt_tokens(self, messages: Sequence[Message]) -> int:
        """An upper bound of the tokens the messages take once the server's template renders them."""
        return sum(self.count_tokens(m.content) + MESSAGE_OVERHEAD_TOKENS for m in messages) + MESSAGE_OVERHEAD_TOKENS

    def generate(self, messages: Sequence[Message], config: GenerationConfig | None = None) -> Generation:
        """The whole answer for one prompt (:meth:`stream_batch` collected).

        Raises:
            UpstreamUnavailableError, UpstreamResponseError: as :meth:`astream`.
        """
        parts: list[str] = []
        last = StreamEvent(0, "")
        for event in self.stream_batch([GenerationRequest(messages, config or GenerationConfig())]):
            parts.append(event.text)
            last = event
        assert last.finish_reason is not None
        return Generation("".join(parts), last.prompt_tokens, last.completion_tokens, last.finish_reason)

    def stream_batch(self, requests: Sequence[GenerationRequest]) -> Iterator[StreamEvent]:
        """All ``requests`` at once, from a thread with its own event loop (for callers without one:
        the terminal, LangChain); a request whose ``cancelled`` is set has its call closed within
        :data:`CANCEL_POLL_S`, as have all when the iterator is closed.

        Raises:
            UpstreamUnavailableError, UpstreamResponseError: the first request that failed.
        """
        out: queue.Queue[StreamEvent | BaseException] = queue.Queue()
        stop = threading.Event()
        thread = threading.Thread(target=lambda: asyncio.run(self._run_all(requests, out, stop)),
                                  name="kgrag-upstream", daemon=True)
        thread.start()
        running = len(requests)
        try:
            while running:
                item = out.get()
                if isinstance(item, BaseException):
                    raise item
                if item.finish_reason is not None:
                    running -= 1
                yield item
        finally:
            stop.set()
            thread.join(self.timeout_s)

    async def _run_all(self, requests: Sequence[GenerationRequest], out: queue.Queue[StreamEvent | BaseException],
                       stop: threading.Event) -> None:
        async def one(index: int, request: GenerationRequest) -> None:
            last: StreamEvent | None = None
            try:
                async for event in self.astream(request):
                    last = event
                    out.put(replace(event, index=index))
            except asyncio.CancelledError:
                out.put(StreamEvent(index, "", "cancelled", *_counts(last)))
            except UpstreamError as exc:
                out.put(exc)

        tasks = [asyncio.create_task(one(i, r)) for i, r in enumerate(requests)]
        while not all(t.done() for t in tasks):
            for task, request in zip(tasks, requests, strict=True):
                if not task.done() and (stop.is_set() or request.cancelled.is_set()):
                    task.cancel()
            await asyncio.wait(tasks, timeout=CANCEL_POLL_S)

    # -- the streaming call --------------------------------------------------------------------------------------

    def request_body(self, request: GenerationRequest) -> dict[str, Any]:
        """The ``/chat/completions`` body for ``request``: its messages and generation settings (the
        repetition penalty has no OpenAI field; the server's own default applies)."""
        cfg = request.config
        body: dict[str, Any] = {
            "model": self.name, "stream": True, "max_tokens": cfg.max_new_tokens, "temperature": cfg.temperature,
            "messages": [{"role": m.role, "content": m.content} for m in request.messages],
        }
        if cfg.temperature > 0:
            body["top_p"] = cfg.top_p
        if cfg.seed is not None:
            body["seed"] = cfg.seed
        return body

    async def astream(self, request: GenerationRequest) -> AsyncIterator[StreamEvent]:
        """Stream ``request`` from the server: an empty event once it has accepted the call (HTTP 200 and
        a first well-formed piece), then the text as it comes, the last event with ``finish_reason``.

        Raises:
            UpstreamUnavailableError: not reachable, overloaded (429, 503), or silent for ``timeout_s``.
            UpstreamResponseError: an HTTP error, or an answer that is not an OpenAI chat-completion stream.
        """
        import httpx

        prompt_bound = self.prompt_tokens(request.messages)
        try:
            async with httpx.AsyncClient(timeout=httpx.Timeout(self.timeout_s)) as client, \
                    client.stream("POST", self.url, json=self.request_body(request), headers=self._headers) as resp:
                if resp.status_code != 200:
                    raise self._status_error(resp.status_code, await resp.aread())
                async for event in _read_stream(self.url, resp.aiter_lines(), request, prompt_bound):
                    yield event
        except httpx.TimeoutException as exc:
            raise UpstreamUnavailableError(self.url, f"no answer within {self.timeout_s:g} s "
                                           f"({type(exc).__name__}); raise KGRAG_OPENAI_TIMEOUT_S if the server "
                                           "is only slow") from exc
        except httpx.TransportError as exc:
            raise UpstreamUnavailableError(self.url, f"cannot be reached ({type(exc).__name__}: {exc}); is the "
                                           "server running at KGRAG_OPENAI_BASE_URL?") from exc

    def _status_error(self, status: int, body: bytes) -> UpstreamError:
        detail = body.decode("utf-8", "replace")
        try:
            error = json.loads(detail)["error"]
            detail = str(error.get("message", error) if isinstance(error, dict) else error)
        except (ValueError, KeyError, TypeError):
            pass
        message = f"answered HTTP {status}: {_excerpt(detail)}"
        if status in (429, 503):
            return UpstreamUnavailableError(self.url, message)
        if status in (401, 403):
            message += " (check KGRAG_OPENAI_API_KEY)"
        elif status == 404:
            message += " (check KGRAG_OPENAI_BASE_URL, which ends in /v1, and KGRAG_OPENAI_MODEL)"
        return UpstreamResponseError(self.url, message)


def _counts(event: StreamEvent | None) -> tuple[int, int]:
    return (0, 0) if event is None else (event.prompt_tokens, event.completion_tokens)


def _finish(reason: object) -> FinishReason:
    return "length" if reason == "length" else "stop"  # content_filter, tool_calls …: the answer ended


async def _read_stream(url: str, lines: AsyncIterator[str], request: GenerationRequest,
                       prompt_bound: int) -> AsyncIterator[StreamEvent]:
    """The events of one chat-completion stream (``data: {json}`` lines, ``data: [DONE]`` last)."""
    accepted = False
    pieces = 0
    usage: dict[str, Any] = {}
    finish: FinishReason | None = None
    async for line in lines:
        if not line.strip() or line.startswith((":", "event:", "id:", "retry:")):
            continue
        if not line.startswith("data:"):
            raise UpstreamResponseError(url, f"answered something that is not an event stream: {_excerpt(line)}")
        data = line[5:].strip()
        if data == "[DONE]":
            break
        try:
            chunk = json.loads(data)
            if "error" in chunk:
                raise UpstreamResponseError(url, f"failed mid-answer: {_excerpt(json.dumps(chunk['error']))}")
            choices = chunk["choices"]
            if not isinstance(choices, list):
                raise TypeError("choices is not a list")
        except (ValueError, KeyError, TypeError) as exc:
            raise UpstreamResponseError(
                url, f"answered a piece that is not a chat-completion chunk ({exc}): {_excerpt(data)}"
            ) from exc
        if isinstance(chunk.get("usage"), dict):
            usage = chunk["usage"]
        if not accepted:
            accepted = True
            yield StreamEvent(0, "")
        for choice in choices:
            delta = choice.get("delta") or {}
            text = delta.get("content") if isinstance(delta, dict) else None
            if isinstance(text, str) and text:
                pieces += 1
                yield StreamEvent(0, text)
            if choice.get("finish_reason"):
                finish = _finish(choice["finish_reason"])
        if request.cancelled.is_set():
            finish = "cancelled"
            break
    if finish is None:
        raise UpstreamResponseError(url, "the stream ended before the answer did (no finish_reason)")
    prompt = int(usage.get("prompt_tokens") or prompt_bound)
    completion = int(usage.get("completion_tokens") or pieces)
    yield StreamEvent(0, "", finish, prompt, completion)
