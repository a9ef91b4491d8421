"""The data that flows through generation: chat messages, generation settings and results, and
the :class:`ChatModel` role every model backend fills."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

Role = Literal["system", "user", "assistant"]
ROLES: tuple[str, ...] = ("system", "user", "assistant")
FinishReason = Literal["stop", "length", "cancelled"]


@dataclass(frozen=True, slots=True)
class Message:
    """One chat turn."""

    role: Role
    content: str


@dataclass(frozen=True, slots=True)
class GenerationConfig:
    """How to generate: greedy when ``temperature`` is 0, else nucleus sampling; a
    ``repetition_penalty`` above 1 lowers the scores of tokens already generated (as transformers'
    ``repetition_penalty``), which keeps small models from looping."""

    max_new_tokens: int = 256
    temperature: float = 0.0
    top_p: float = 0.95
    seed: int | None = None
    repetition_penalty: float = 1.0


@dataclass(frozen=True, slots=True)
class Generation:
    """A finished generation."""

    text: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: FinishReason


@dataclass
class GenerationRequest:
    """One prompt in a batch; set ``cancelled`` (from any thread) to stop its generation early."""

    messages: Sequence[Message]
    config: GenerationConfig = field(default_factory=GenerationConfig)
    cancelled: threading.Event = field(default_factory=threading.Event)


@dataclass(frozen=True, slots=True)
class StreamEvent:
    """A piece of one request's output in :meth:`ChatModel.stream_batch`: ``text`` is the new text
    (may be empty); ``finish_reason`` is set on the request's last event, with its token counts."""

    index: int
    text: str
    finish_reason: FinishReason | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0


@runtime_checkable
class ChatModel(Protocol):
    """A chat model: renders messages in its prompt format and generates, one or many at once."""

    name: str
    device: str
    prompt_format: str
    max_context: int

    def count_tokens(self, text: str) -> int:
        """Tokens ``text`` takes (without special tokens)."""
        ...

    def prompt_tokens(self, messages: Sequence[Message]) -> int:
        """Tokens the rendered prompt of ``messages`` takes, generation prompt included."""
        ...

    def stream_batch(self, requests: Sequence[GenerationRequest]) -> Iterator[StreamEvent]:
        """Generate for all ``requests`` together, yielding text as it comes; each request ends with
        one event whose ``finish_reason`` is set (``cancelled`` when its event was set)."""
        ...

    def generate(self, messages: Sequence[Message], config: GenerationConfig | None = None) -> Generation:
        """Generate for one prompt and return the whole answer."""
        ...


@runtime_checkable
class StreamingChatModel(ChatModel, Protocol):
    """A chat model that streams one request on the caller's event loop, such as a remote server
    (:class:`~kgrag.generation.upstream.OpenAIChatModel`): the batcher hands each request to it at once
    instead of batching it, since the server batches and queues by itself."""

    def astream(self, request: GenerationRequest) -> AsyncIterator[StreamEvent]:
        """``request``'s events (``index`` 0): first an empty one once the model has accepted it, the last
        with ``finish_reason`` set; closing the iterator (or cancelling its task) stops the call."""
        ...
