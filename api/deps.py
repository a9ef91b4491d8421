"""What the routes share: the loaded :class:`Service` (graph, retriever, model, batcher), loaded once
at start-up and reached through the ``ServiceDep`` dependency."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import Depends, Request

from kgrag.config import Settings
from kgrag.generation.answer import Answerer
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
    from kgrag.generation.models import load_chat_model
    from kgrag.generation.prepare import resolve_model

    t0 = time.perf_counter()
    index = settings.index_path()
    device = settings.device
    retriever = KGRetriever.load(settings.store, index, device="cpu")
    t_kg = time.perf_counter()
    if model is None:
        path = resolve_model(settings.model, settings.model_dir)
        model = load_chat_model(
            path, device=device, adapter=settings.adapter, allow_remote_code=settings.allow_remote_code,
            prompt_format=settings.prompt_format,
        )  # fmt: skip
    t_model = time.perf_counter()
    answerer = Answerer(retriever, model, top_k=settings.top_k, max_new_tokens=settings.max_new_tokens,
                        repetition_penalty=settings.repetition_penalty)
    batcher = GenerationBatcher(model, max_batch=settings.max_batch, max_queue=settings.max_queue)
    batcher.start()
    if not batcher.ready.wait(600):  # the worker's warm-up generation; start-up ends when it is done
        log.warning("the generation worker is still warming up after 600 s; /ready says so until it is done")
    info = {
        "store": str(settings.store),
        "store_checksum": retriever.kg.manifest["checksum"],  # type: ignore[attr-defined]
        "entities": retriever.kg.n_entities,
        "facts": retriever.kg.n_facts,
        "index": None if index is None else str(index),
        "model": model.name,
        "device": model.device,
        "prompt_format": model.prompt_format,
        "adapter": None if settings.adapter is None else str(settings.adapter),
        "load_s": {"kg_and_index": round(t_kg - t0, 2), "model": round(t_model - t_kg, 2)},
    }
    log.info("service loaded: %s", info)
    return Service(settings, retriever, model, answerer, batcher, info)


def get_service(request: Request) -> Service:
    return request.app.state.service  # type: ignore[no-any-return]


ServiceDep = Annotated[Service, Depends(get_service)]
