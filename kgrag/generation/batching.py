"""Batching concurrent generation requests onto one model, with a bounded queue.

One worker thread owns the model. Requests wait in a queue; the worker takes the first one, then
everything else that is waiting (up to ``max_batch``), and runs them as one batch through
:meth:`ChatModel.stream_batch`: on a GPU, 16 prompts decoded together cost little more per step
than one. Requests that arrive while a batch runs form the next batch ("wave" batching; the
model layer has no way to join a running batch). Each request's events are handed back to the
asyncio loop that submitted it, so FastAPI handlers stream them as they come.

The queue is bounded: past ``max_queue`` waiting requests :meth:`GenerationBatcher.submit` raises
:class:`QueueFullError`, which the API answers with 503 and ``Retry-After``. A consumer that stops
listening (a client that disconnected) sets the request's ``cancelled`` event and the model stops
generating for it at the next step.

A model that streams on the event loop itself (:class:`StreamingChatModel`: an upstream server,
which batches and queues by itself) is not batched: :meth:`GenerationBatcher.submit` passes each
request to it at once, with at most ``max_batch + max_queue`` calls open (past that, 503), and no
worker thread or warm-up. Closing the events closes that request's call.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field

from kgrag.errors import ConfigError, KGRAGError, QueueFullError
from kgrag.generation.types import (
    ChatModel,
    GenerationConfig,
    GenerationRequest,
    Message,
    StreamEvent,
    StreamingChatModel,
)

log = logging.getLogger(__name__)


@dataclass
class _Job:
    request: GenerationRequest
    loop: asyncio.AbstractEventLoop
    events: asyncio.Queue[StreamEvent | BaseException]
    submitted: float = field(default_factory=time.perf_counter)


@dataclass
class BatcherStats:
    """Counters for ``/ready`` and the benchmarks."""

    batches: int = 0
    requests: int = 0
    cancelled: int = 0
    largest_batch: int = 0
    waiting: int = 0
    open_calls: int = 0  # requests under way on a streaming (upstream) model


_STOP = object()


class GenerationBatcher:
    """Runs :class:`GenerationRequest`\\ s on ``model`` in batches from a worker thread.

    Args:
        model: the chat model; only the worker thread calls it.
        max_batch: most requests generated together.
        max_queue: most requests waiting (not yet in a batch) before :meth:`submit` refuses.
        retry_after: seconds suggested to a refused client.
        warm_up: generate two tokens in the worker thread before taking requests.

    Example:
        >>> batcher = GenerationBatcher(model, max_batch=16, max_queue=64)
        >>> batcher.start()
        >>> async for event in batcher.submit(GenerationRequest(messages)):  # inside a coroutine
        ...     print(event.text, end="")
    """

    def __init__(
        self, model: ChatModel, *, max_batch: int = 16, max_queue: int = 64, retry_after: int = 2, warm_up: bool = True
    ) -> None:
        if max_batch < 1 or max_queue < 1:
            raise ConfigError(f"max_batch and max_queue must be at least 1. Currently, {max_batch=} and {max_queue=}")
        self.model = model
        self.max_batch = max_batch
        self.max_queue = max_queue
        self.retry_after = retry_after
        self.warm_up = warm_up
        self.stats = BatcherStats()
        self._queue: queue.Queue[_Job | object] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        #: set once the worker has warmed up and takes requests
        self.ready = threading.Event()
        self._direct = isinstance(model, StreamingChatModel)
        self._started = False

    @property
    def running(self) -> bool:
        if self._direct:
            return self._started
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        """Start the worker thread (idempotent); a streaming model needs none and is ready at once."""
        if self._direct:
            self._started = True
            self.ready.set()
            return
        if not self.running:
            self._thread = threading.Thread(target=self._work, name="kgrag-generation", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop after the running batch; waiting requests are cancelled."""
        if self._direct:
            self._started = False
            self.ready.clear()
            return
        if self._thread is None:
            return
        self._queue.put(_STOP)
        self._thread.join(timeout)
        self._thread = None
        self.ready.clear()

    def submit(self, request: GenerationRequest) -> AsyncIterator[StreamEvent]:
        """Queue ``request`` now and return its events, to iterate as the model produces them.

        Call it from a coroutine (the events are handed back to the running loop). The queue is
        checked here, before any response is started, so a refusal can still be an HTTP 503.

        Raises:
            QueueFullError: ``max_queue`` requests are already waiting.
            KGRAGError: the worker is not running; while iterating, the model failed (its message kept).
        """
        if not self.running:
            raise KGRAGError("the generation worker is not running; the service is starting or stopping")
        if self._direct:
            return self._pass_on(request)
        with self._lock:
            if self.stats.waiting >= self.max_queue:
                raise QueueFullError(self.stats.waiting, self.retry_after)
            self.stats.waiting += 1
        job = _Job(request, asyncio.get_running_loop(), asyncio.Queue())
        self._queue.put(job)
        return self._events(job)

    def _pass_on(self, request: GenerationRequest) -> AsyncIterator[StreamEvent]:
        with self._lock:
            if self.stats.open_calls >= self.max_batch + self.max_queue:
                raise QueueFullError(self.stats.open_calls, self.retry_after)
        return self._streamed(request)

    async def _streamed(self, request: GenerationRequest) -> AsyncIterator[StreamEvent]:
        # counted once iterated (an async generator never started never runs its finally)
        assert isinstance(self.model, StreamingChatModel)
        with self._lock:
            self.stats.open_calls += 1
            self.stats.requests += 1
        events = self.model.astream(request)
        finished = False
        try:
            async for event in events:
                yield event
                if event.finish_reason is not None:
                    finished = True
                    if event.finish_reason == "cancelled":
                        with self._lock:
                            self.stats.cancelled += 1
                    return
        finally:
            if not finished:
                request.cancelled.set()
            with self._lock:
                self.stats.open_calls -= 1
            await events.aclose()  # type: ignore[attr-defined]  # closes the HTTP call

    @staticmethod
    async def _events(job: _Job) -> AsyncIterator[StreamEvent]:
        finished = False
        try:
            while True:
                item = await job.events.get()
                if isinstance(item, BaseException):
                    raise item
                yield item
                if item.finish_reason is not None:
                    finished = True
                    return
        finally:
            if not finished:  # the consumer went away (client disconnected) or failed: stop generating
                job.request.cancelled.set()

    def _work(self) -> None:
        if self.warm_up:
            # torch keeps per-thread state (the cuBLAS handle, oneDNN caches) that a new thread
            # builds on its first batches: build it before the first user waits for it
            try:
                self.model.generate([Message("user", "hi")], GenerationConfig(max_new_tokens=2))
            except Exception:  # a warm-up failure shows again, with its message, on the first request
                log.exception("generation warm-up failed")
        self.ready.set()
        while True:
            first = self._queue.get()
            if first is _STOP:
                self._drain()
                return
            batch: list[_Job] = [first]  # type: ignore[list-item]
            stop_after = False
            while len(batch) < self.max_batch:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is _STOP:
                    stop_after = True
                    break
                batch.append(nxt)  # type: ignore[arg-type]
            with self._lock:
                self.stats.waiting -= len(batch)
                self.stats.batches += 1
                self.stats.requests += len(batch)
                self.stats.largest_batch = max(self.stats.largest_batch, len(batch))
            self._run(batch)
            if stop_after:
                self._drain()
                return

    def _run(self, batch: Sequence[_Job]) -> None:
        live = [job for job in batch if not job.request.cancelled.is_set()]
        for job in batch:
            if job.request.cancelled.is_set():
                self._send(job, StreamEvent(0, "", "cancelled"))
        if not live:
            return
        # Events are handed to the asyncio loop one decode step at a time: one wake-up of the loop
        # thread per step, not one per request, so it takes the GIL from this thread less often.
        pending: list[tuple[_Job, StreamEvent]] = []
        running = len(live)
        try:
            for event in self.model.stream_batch([job.request for job in live]):
                if pending and event.index <= pending[-1][1].index:
                    self._send_many(pending)  # a new step began
                    pending = []
                pending.append((live[event.index], event))
                if event.finish_reason is not None:
                    running -= 1
                    if event.finish_reason == "cancelled":
                        with self._lock:
                            self.stats.cancelled += 1
                if len(pending) >= running or event.finish_reason is not None:
                    self._send_many(pending)
                    pending = []
            self._send_many(pending)
        except Exception as exc:  # the model failed: every request of the batch gets the error
            log.exception("generation failed for a batch of %d", len(live))
            self._send_many(pending)
            err = KGRAGError(f"generation failed: {type(exc).__name__}: {exc}")
            for job in live:
                self._send(job, err)

    def _drain(self) -> None:
        while True:
            try:
                job = self._queue.get_nowait()
            except queue.Empty:
                return
            if isinstance(job, _Job):
                job.request.cancelled.set()
                self._send(job, StreamEvent(0, "", "cancelled"))

    @staticmethod
    def _send_many(items: Sequence[tuple[_Job, StreamEvent | BaseException]]) -> None:
        """Deliver events (or errors) with one wake-up per event loop."""
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[_Job, StreamEvent | BaseException]]] = {}
        for job, event in items:
            by_loop.setdefault(job.loop, []).append((job, event))
        for loop, group in by_loop.items():
            try:
                loop.call_soon_threadsafe(_deliver, group)
            except RuntimeError:  # the submitting loop is closed: nobody is listening any more
                for job, _ in group:
                    job.request.cancelled.set()

    @classmethod
    def _send(cls, job: _Job, item: StreamEvent | BaseException) -> None:
        cls._send_many([(job, item)])


def _deliver(group: Sequence[tuple[_Job, StreamEvent | BaseException]]) -> None:
    for job, event in group:
        job.events.put_nowait(event)
