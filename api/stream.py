"""Running one prepared answer through the batcher: collected whole, or as a stream of pieces,
stopping the generation when the client goes away."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

from fastapi import Request

from api.deps import Service
from kgrag.generation.answer import Answer, PreparedAnswer
from kgrag.generation.safety import SafetyAssessment
from kgrag.generation.types import GenerationRequest, StreamEvent
from kgrag.kg.graph import KnowledgeGraph
from kgrag.retrieval.linking import EntityLink


def sse(event: str, data: object) -> str:
    """One server-sent event."""
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


def entity_dict(kg: KnowledgeGraph, link: EntityLink) -> dict[str, object]:
    """A linked entity as the API shows it."""
    return {"id": link.entity_id, "name": kg.entity_name(link.row), "mention": link.surface, "method": link.method,
            "confidence": round(link.confidence, 3)}


def safety_dict(s: SafetyAssessment) -> dict[str, object]:
    return {
        "emergency": s.emergency,
        "red_flags": [{"kind": f.kind, "matched": f.text} for f in s.red_flags],
        "advice": s.advice,
        "disclaimer": s.disclaimer,
    }


def answer_dict(kg: KnowledgeGraph, answer: Answer) -> dict[str, object]:
    """The ``/ask`` response body of ``answer``."""
    return {
        "answer": answer.answer,
        "citations": [c.as_dict() for c in answer.citations],
        "entities": [entity_dict(kg, e) for e in answer.entities],
        "safety": safety_dict(answer.safety),
        "model": answer.model,
        "lang": answer.lang,
        "kg_has_facts": answer.kg_has_facts,
        "finish_reason": answer.finish_reason,
        "usage": {"prompt_tokens": answer.prompt_tokens, "completion_tokens": answer.completion_tokens},
        "timings": answer.timings_ms,
    }


@dataclass
class Piece:
    """A piece of a streamed answer: text, or (last) the finished :class:`Answer`."""

    text: str = ""
    answer: Answer | None = None


def start_answer(service: Service, prepared: PreparedAnswer, request: Request | None = None) -> AsyncIterator[Piece]:
    """Generate ``prepared`` through the batcher: the emergency advice first (when there is any),
    then the model's text as it comes, then the finished answer.

    Call it from a coroutine. The batch slot is taken (or refused with ``QueueFullError``) when
    this is called, before any response starts; leaving the loop early, or the client
    disconnecting, cancels the generation.
    """
    gen = GenerationRequest(prepared.messages, prepared.config)
    events = service.batcher.submit(gen)
    return _pieces(service, prepared, events, request)


async def _pieces(
    service: Service, prepared: PreparedAnswer, events: AsyncIterator[StreamEvent], request: Request | None
) -> AsyncIterator[Piece]:
    answerer = service.answerer
    t0 = time.perf_counter()
    lead = answerer.lead_text(prepared)
    if lead:
        yield Piece(lead)
    parts: list[str] = []
    first: float | None = None
    last: StreamEvent | None = None
    seen = 0
    async for event in events:
        if event.text:
            if first is None:
                first = 1000 * (time.perf_counter() - t0)
            parts.append(event.text)
            yield Piece(event.text)
        seen += 1
        if request is not None and seen % 8 == 0 and await request.is_disconnected():
            await events.aclose()  # type: ignore[attr-defined]  # sets the request's cancelled event
            return
        last = event
    assert last is not None and last.finish_reason is not None
    ms = 1000 * (time.perf_counter() - t0)
    yield Piece(answer=answerer.finish(
        prepared, "".join(parts), last.finish_reason, last.prompt_tokens, last.completion_tokens, ms, first
    ))
