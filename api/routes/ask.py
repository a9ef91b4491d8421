"""``POST /ask`` (JSON or server-sent events), ``GET /search`` and ``GET /entities/{id}``."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response, StreamingResponse

from api.deps import ServiceDep
from api.schemas import AskRequest, AskResponse
from kgrag.errors import KGRAGError
from kgrag.generation.pipeline import AnswerEvent, afinal_answer, astream_answer

router = APIRouter(tags=["answer"])

#: The status of an answer whose client went away before it was done (nginx's "client closed request").
CLIENT_CLOSED = 499


def sse(event: str, data: object) -> str:
    """One server-sent event."""
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


@router.post("/ask", response_model=AskResponse, responses={422: {}, 503: {}})
async def ask(body: AskRequest, service: ServiceDep, request: Request) -> object:
    """Answer a question from the KG facts, with citations; ``stream: true`` answers as events:
    ``meta`` (entities, safety, the numbered facts), ``token`` pieces, then ``done`` (the whole
    response body) — or ``error``. A client that leaves before the answer is done gets nothing
    (an empty 499) and its generation is stopped."""
    config = service.answerer.config(body.max_new_tokens, body.temperature)
    events = astream_answer(
        service.answerer, service.batcher.submit, body.question, [t.model_dump() for t in body.history],
        top_k=body.top_k, config=config, disconnected=request.is_disconnected,
    )
    if not body.stream:
        answer = await afinal_answer(events)
        return Response(status_code=CLIENT_CLOSED) if answer is None else answer.to_dict()
    meta = await anext(events)  # prepared and queued: errors up to here are still HTTP errors
    return StreamingResponse(_events(meta, events), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


async def _events(meta: AnswerEvent, events: AsyncIterator[AnswerEvent]) -> AsyncIterator[str]:
    yield sse(meta.kind, meta.to_dict())
    try:
        async for event in events:  # tokens (never empty), then done
            yield sse(event.kind, event.to_dict())
    except KGRAGError as exc:
        yield sse("error", {"error": {"message": str(exc), "type": "server_error"}})


@router.get("/search")
def search(
    service: ServiceDep,
    q: str = Query(..., min_length=1, max_length=1000, description="the question"),
    top_k: int = Query(10, ge=1, le=100),
) -> dict[str, object]:
    """The ranked KG facts for a question (what ``/ask`` would give the model). A plain ``def``:
    FastAPI runs it in its threadpool, off the event loop."""
    return service.retriever.retrieve(q, top_k).to_dict()


@router.get("/entities/{entity_id:path}")
def entity(
    entity_id: str, service: ServiceDep, limit: int = Query(50, ge=1, le=1000, description="facts shown")
) -> dict[str, object]:
    """An entity by id (``cmekg:糖尿病``, ``hpo:HP:0001250``) or exact name: its fields, facts and links.
    A plain ``def``: the first lookup builds the name index, in FastAPI's threadpool, off the event loop."""
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
