"""``POST /ask`` (JSON or server-sent events), ``GET /search`` and ``GET /entities/{id}``."""

from __future__ import annotations

from collections.abc import AsyncIterator

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse

from api.deps import ServiceDep
from api.schemas import AskRequest, AskResponse
from api.stream import Piece, answer_dict, entity_dict, safety_dict, sse, start_answer
from kgrag.errors import KGRAGError
from kgrag.kg.graph import KnowledgeGraph

router = APIRouter(tags=["answer"])


@router.post("/ask", response_model=AskResponse, responses={422: {}, 503: {}})
async def ask(body: AskRequest, service: ServiceDep, request: Request) -> object:
    """Answer a question from the KG facts, with citations; ``stream: true`` answers as events:
    ``meta`` (entities, safety, the numbered facts), ``token`` pieces, then ``done`` (the whole
    response body) — or ``error``."""
    config = service.answerer.config(body.max_new_tokens, body.temperature)
    prepared = await run_in_threadpool(
        service.answerer.prepare, body.question, [t.model_dump() for t in body.history], top_k=body.top_k,
        config=config,
    )
    pieces = start_answer(service, prepared, request)
    if not body.stream:
        async for piece in pieces:
            if piece.answer is not None:
                return answer_dict(service.retriever.kg, piece.answer)
        return None  # the client went away before the answer was done
    kg = service.retriever.kg
    meta = {
        "entities": [entity_dict(kg, e) for e in prepared.retrieval.entities],
        "safety": safety_dict(prepared.safety),
        "citations": [{"n": c.n, "head": c.head, "relation": c.relation, "tail": c.tail, "source": c.source,
                       "provenance": c.provenance} for c in prepared.prompt.citations],
        "model": service.model.name,
        "lang": prepared.lang,
    }
    return StreamingResponse(_events(kg, meta, pieces), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


async def _events(kg: KnowledgeGraph, meta: dict[str, object], pieces: AsyncIterator[Piece]) -> AsyncIterator[str]:
    yield sse("meta", meta)
    try:
        async for piece in pieces:
            if piece.answer is not None:
                yield sse("done", answer_dict(kg, piece.answer))
            elif piece.text:
                yield sse("token", {"text": piece.text})
    except KGRAGError as exc:
        yield sse("error", {"error": {"message": str(exc), "type": "server_error"}})


@router.get("/search")
async def search(
    service: ServiceDep,
    q: str = Query(..., min_length=1, max_length=1000, description="the question"),
    top_k: int = Query(10, ge=1, le=100),
) -> dict[str, object]:
    """The ranked KG facts for a question (what ``/ask`` would give the model)."""
    result = await run_in_threadpool(service.retriever.retrieve, q, top_k)
    return {
        "question": result.question,
        "lang": result.lang,
        "entities": [entity_dict(service.retriever.kg, e) for e in result.entities],
        "intents": result.intents,
        "facts": [f.as_dict() for f in result.facts],
        "reason": result.reason,
        "timings_ms": {k: round(v, 2) for k, v in result.timings_ms.items()},
    }


@router.get("/entities/{entity_id:path}")
async def entity(
    entity_id: str, service: ServiceDep, limit: int = Query(50, ge=1, le=1000, description="facts shown")
) -> dict[str, object]:
    """An entity by id (``cmekg:糖尿病``, ``hpo:HP:0001250``) or exact name: its fields, facts and links."""
    kg = service.retriever.kg
    row = kg.find(entity_id)[0]
    e = kg.entity(row)
    facts = [kg.fact(int(j)) for j in kg.out_facts(row)[:limit]]
    return {
        "id": e.id, "name": e.name, "lang": e.lang, "source": e.source, "aliases": list(e.aliases),
        "types": list(e.types), "description": e.description, "xrefs": list(e.xrefs),
        "facts": [{"relation": f.relation, "tail": f.tail, "value": f.value, "tail_text": kg.fact_tail_text(int(j)),
                   "source": f.source, "provenance": str(f.provenance), "qualifier": f.qualifier}
                  for j, f in zip(kg.out_facts(row)[:limit], facts, strict=True)],
        "facts_total": int(len(kg.out_facts(row))),
        "links": [{"relation": kg.fact_relation(j), "entity": kg.entity_id(other)}
                  for j, other in kg.links_of(row)],
    }
