"""What the routes share: the loaded :class:`Service` (graph, retriever, model, batcher), loaded once
at start-up and reached through the ``ServiceDep`` dependency."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import Depends, Request

from kgrag.config import Settings
from kgrag.generation.adapters import adapter_info
from kgrag.generation.answer import Answerer, load_model
from kgrag.generation.batching import GenerationBatcher
from kgrag.generation.types import ChatModel
from kgrag.retrieval.retriever import KGRetriever

log = logging.getLogger(__name__)


@dataclass
class Service:
    """The loaded parts of the service."""

    settings: Settings
    retriever: KGRetriever
    model: ChatModel
    answerer: Answerer
    batcher: GenerationBatcher
    info: dict[str, Any] = field(default_factory=dict)

    def close(self) -> None:
        self.batcher.stop()


def load_service(settings: Settings, model: ChatModel | None = None) -> Service:
    """Load the KG store, the index, the model and start the batcher; fails with the reason.

    Args:
        settings: where the store, index and model are, and the service's limits.
        model: an already loaded chat model (tests share one); else loaded from ``settings.model``.

    Raises:
        KGRAGError (StoreError, IndexNotFoundError, IndexMismatchError, ConfigError …): with the fix.
    """
    t0 = time.perf_counter()
    index = settings.index_path()
    retriever = KGRetriever.load(settings.store, index, device="cpu")
    t_kg = time.perf_counter()
    model = model or load_model(settings)
    t_model = time.perf_counter()
    answerer = Answerer.from_settings(retriever, model, settings)
    batcher = GenerationBatcher(model, max_batch=settings.max_batch, max_queue=settings.max_queue)
    batcher.start()
    if not batcher.ready.wait(600):  # the worker's warm-up generation; start-up ends when it is done
        log.warning("the generation worker is still warming up after 600 s; /ready says so until it is done")
    info = {
        "store": str(settings.store),
        "store_checksum": retriever.kg.checksum,
        "entities": retriever.kg.n_entities,
        "facts": retriever.kg.n_facts,
        "index": None if index is None else str(index),
        "model": model.name,
        "device": model.device,
        "prompt_format": model.prompt_format,
        "adapter": adapter_info(getattr(model, "adapter", None), retriever.kg.checksum),
        "load_s": {"kg_and_index": round(t_kg - t0, 2), "model": round(t_model - t_kg, 2)},
    }
    log.info("service loaded: %s", info)
    return Service(settings, retriever, model, answerer, batcher, info)


def get_service(request: Request) -> Service:
    return request.app.state.service  # type: ignore[no-any-return]


ServiceDep = Annotated[Service, Depends(get_service)]
