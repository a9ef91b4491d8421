"""The one answering pipeline: prepare → generate (streamed) → check → finish, as a stream of events.

Every way of answering runs through here: the service (``/ask``, its event stream and
``/v1/chat/completions``) with :func:`astream_answer` on the GPU batcher, and the terminal
(``kgrag ask``, ``kgrag chat``), LangChain and :meth:`Answerer.answer` with :func:`stream_answer`
(or :func:`stream_prepared`) on the model directly. A stream is

* :class:`Meta` — once prepared: retrieval, safety and the numbered facts;
* :class:`Token` — text as it comes (the emergency advice first, when the question has red flags);
* :class:`Done` — last, the finished :class:`~kgrag.generation.answer.Answer`, checked against its
  facts (:mod:`kgrag.generation.checking`): when the model's words failed the check, its ``answer``
  is the one composed from the facts, not the tokens streamed (``check.composed``, ``model_answer``).

A consumer that stops early (or a client that disconnects) stops the generation; the stream then
ends without :class:`Done`. Each event's ``to_dict()`` is its JSON, and ``kind`` its name.

Example:
    >>> for event in stream_answer(answerer, "What are the symptoms of diabetes?"):
    ...     print(event.kind, event.to_dict())
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from kgrag.generation.types import GenerationConfig, GenerationRequest, Message, StreamEvent, StreamingChatModel

if TYPE_CHECKING:
    from kgrag.generation.answer import Answer, Answerer, PreparedAnswer

#: The stream is asked whether the client is still there after every this many model events.
DISCONNECT_CHECK_EVERY = 8


@dataclass(frozen=True)
class Meta:
    """The prepared answer, before any text: ``to_dict()`` is :meth:`PreparedAnswer.to_dict`."""

    prepared: PreparedAnswer
    kind: ClassVar[str] = "meta"

    def to_dict(self) -> dict[str, object]:
        """The ``meta`` event's JSON."""
        return self.prepared.to_dict()


@dataclass(frozen=True)
class Token:
    """A piece of the answer's text; ``lead`` when it is the emergency advice put before the model's words."""

    text: str
    lead: bool = False
    kind: ClassVar[str] = "token"

    def to_dict(self) -> dict[str, object]:
        """The ``token`` event's JSON: ``{"text": ...}``."""
        return {"text": self.text}


@dataclass(frozen=True)
class Done:
    """The finished answer: ``to_dict()`` is :meth:`Answer.to_dict`."""

    answer: Answer
    kind: ClassVar[str] = "done"

    def to_dict(self) -> dict[str, object]:
        """The ``done`` event's JSON."""
        return self.answer.to_dict()


AnswerEvent = Meta | Token | Done
"""One event of an answer's stream."""


class _Assembly:
    """The text, the first-token time and the last model event of one generation, then its Answer."""

    def __init__(self, answerer: Answerer, prepared: PreparedAnswer) -> None:
        self.answerer, self.prepared = answerer, prepared
        self.t0 = time.perf_counter()
        self.parts: list[str] = []
        self.first: float | None = None
        self.last: StreamEvent | None = None

    def opening(self) -> Iterator[AnswerEvent]:
        yield Meta(self.prepared)
        lead = self.answerer.lead_text(self.prepared)
        if lead:
            yield Token(lead, lead=True)

    def add(self, event: StreamEvent) -> Token | None:
        self.last = event
        if not event.text:
            return None
        if self.first is None:
            self.first = 1000 * (time.perf_counter() - self.t0)
        self.parts.append(event.text)
        return Token(event.text)

    @property
    def finished(self) -> bool:
        return self.last is not None and self.last.finish_reason is not None

    def done(self) -> Done:
        last = self.last
        assert last is not None and last.finish_reason is not None
        ms = 1000 * (time.perf_counter() - self.t0)
        return Done(self.answerer.finish(
            self.prepared, "".join(self.parts), last.finish_reason, last.prompt_tokens, last.completion_tokens, ms,
            self.first,
        ))


def stream_prepared(answerer: Answerer, prepared: PreparedAnswer) -> Iterator[AnswerEvent]:
    """Generate ``prepared`` on ``answerer.model`` directly (no batching) and finish it:
    :class:`Meta`, :class:`Token` s, :class:`Done`. Closing the iterator early cancels the generation.

    Raises:
        ConfigError: the model refuses the prompt or its settings.
    """
    request = GenerationRequest(prepared.messages, prepared.config)
    assembly = _Assembly(answerer, prepared)
    yield from assembly.opening()
    events = iter(answerer.model.stream_batch([request]))
    try:
        for event in events:
            token = assembly.add(event)
            if token is not None:
                yield token
    finally:
        if not assembly.finished:  # the consumer stopped early (or the model failed): stop generating
            request.cancelled.set()
            close = getattr(events, "close", None)
            if close is not None:
                close()
    yield assembly.done()


def stream_answer(
    answerer: Answerer,
    question: str,
    history: Sequence[Message | dict[str, Any]] = (),
    *,
    top_k: int | None = None,
    config: GenerationConfig | None = None,
) -> Iterator[AnswerEvent]:
    """:meth:`Answerer.prepare` ``question`` after ``history``, then :func:`stream_prepared`.

    Raises:
        QuestionError, ConfigError: as :meth:`Answerer.prepare` (on the first ``next``).
    """
    prepared = answerer.prepare(question, history, top_k=top_k, config=config)
    yield from stream_prepared(answerer, prepared)


async def astream_answer(
    answerer: Answerer,
    submit: Callable[[GenerationRequest], AsyncIterator[StreamEvent]],
    question: str,
    history: Sequence[Message | dict[str, Any]] = (),
    *,
    top_k: int | None = None,
    config: GenerationConfig | None = None,
    disconnected: Callable[[], Awaitable[bool]] | None = None,
) -> AsyncIterator[AnswerEvent]:
    """The pipeline on an event loop: prepare in a worker thread (the loop stays free), generate
    through ``submit`` (``GenerationBatcher.submit``), finish.

    The first ``anext`` prepares and submits, then yields :class:`Meta`: errors up to there
    (a bad question, a full queue; for a remote model, its first answer: not reachable, silent,
    garbled) come before any response starts, so they can still be HTTP errors. ``disconnected``
    (e.g. ``Request.is_disconnected``) is asked every :data:`DISCONNECT_CHECK_EVERY` model events;
    when it says so, or the consumer stops early, the generation is cancelled and the stream ends
    without :class:`Done`.

    Raises:
        QuestionError, ConfigError: as :meth:`Answerer.prepare`.
        QueueFullError: the batcher's queue is full.
        KGRAGError: the generation failed (while iterating).
    """
    import anyio.to_thread

    def prepare() -> PreparedAnswer:
        return answerer.prepare(question, history, top_k=top_k, config=config)

    prepared = await anyio.to_thread.run_sync(prepare)
    request = GenerationRequest(prepared.messages, prepared.config)
    events = submit(request)
    assembly = _Assembly(answerer, prepared)
    try:
        if isinstance(answerer.model, StreamingChatModel):
            # a remote model fails (down, slow, garbage) before its first event: wait for that here,
            # so that its failure still comes before any response starts, as an HTTP error
            assembly.add(await anext(events))
        for opening in assembly.opening():
            yield opening
        seen = 0
        async for event in events:
            token = assembly.add(event)
            if token is not None:
                yield token
            seen += 1
            if disconnected is not None and seen % DISCONNECT_CHECK_EVERY == 0 and await disconnected():
                return  # the finally below closes the events, which cancels the request
        yield assembly.done()
    finally:
        if not assembly.finished:  # stopped early: also when the events were never started
            request.cancelled.set()
        await events.aclose()  # type: ignore[attr-defined]


def final_answer(events: Iterable[AnswerEvent]) -> Answer | None:
    """The :class:`Done` answer of a stream (consumed whole), or None when it ended without one."""
    for event in events:
        if isinstance(event, Done):
            return event.answer
    return None


async def afinal_answer(events: AsyncIterator[AnswerEvent]) -> Answer | None:
    """:func:`final_answer` for an async stream."""
    async for event in events:
        if isinstance(event, Done):
            return event.answer
    return None
