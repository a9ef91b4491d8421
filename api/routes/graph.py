"""``GET /entities/{id}/neighbourhood``: an entity and its facts as a small graph to draw (the chat
page's picture of the facts)."""

from __future__ import annotations

from fastapi import APIRouter, Query

from api.deps import ServiceDep
from kgrag.kg.subgraph import MAX_LIMIT, neighbourhood

router = APIRouter(tags=["graph"])


@router.get("/entities/{entity_id:path}/neighbourhood")
def entity_neighbourhood(
    entity_id: str,
    service: ServiceDep,
    limit: int = Query(40, ge=1, le=MAX_LIMIT, description="facts drawn"),
    lang: str = Query("en", pattern="^(zh|en)$", description="language of the relation labels"),
) -> dict[str, object]:
    """The entity (id or exact name) as the centre, its facts as labelled edges to entity and value
    nodes, each edge with its source and provenance; 404 for an unknown entity. A plain ``def``: it
    runs in FastAPI's threadpool, off the event loop."""
    kg = service.retriever.kg
    return neighbourhood(kg, kg.find(entity_id)[0], limit=limit, lang=lang).to_dict()
