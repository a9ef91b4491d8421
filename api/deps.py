"""What the routes share: the loaded :class:`Service` (graph, retriever, model, batcher), loaded once
at start-up (:mod:`api.startup`, in the background) and reached through the ``ServiceDep``
dependency, which answers 503 until the KG and the model are loaded."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request

from kgrag.config import Settings
from kgrag.generation.adapters import adapter_info
from kgrag.generation.answer import Answerer, load_model
from kgrag.generation.batching import GenerationBatcher
from kgrag.generation.catalog import KNOWN_MODELS, canonical_name
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

    def use_retriever(self, retriever: KGRetriever, index: str | None) -> None:
        """Answer with ``retriever`` from now on (the index joining while the service runs); requests
        already under way finish with the retriever they started with."""
        self.answerer = Answerer.from_settings(retriever, self.model, self.settings)
        self.retriever = retriever
        self.info["index"] = index


def model_title(name: str) -> str | None:
    """What a catalogued model is (``Qwen2.5-Coder-0.5B-Instruct`` for ``qwen2.5-0.5b-instruct``); None for a folder."""
    spec = KNOWN_MODELS.get(canonical_name(name))
    return None if spec is None else spec.label


def describe(settings: Settings, retriever: KGRetriever, model: ChatModel, index: str | None,
             load_s: dict[str, float]) -> dict[str, Any]:
    """What ``/ready`` says of a loaded service."""
    return {
        "store": str(settings.store),
        "store_checksum": retriever.kg.checksum,
        "entities": retriever.kg.n_entities,
        "facts": retriever.kg.n_facts,
        "index": index,
        "model": model.name,
        "model_title": model_title(model.name),
        "device": model.device,
        "prompt_format": model.prompt_format,
        "adapter": adapter_info(getattr(model, "adapter", None), retriever.kg.checksum),
        "load_s": load_s,
    }


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
    info = describe(settings, retriever, model, None if index is None else str(index),
                    {"kg_and_index": round(t_kg - t0, 2), "model": round(t_model - t_kg, 2)})
    log.info("service loaded: %s", info)
    return Service(settings, retriever, model, answerer, batcher, info)


def get_service(request: Request) -> Service:
    """The loaded service; 503 with what is still loading (and ``Retry-After``) until it is."""
    service = getattr(request.app.state, "service", None)
    if service is None:
        startup = getattr(request.app.state, "startup", None)
        parts = {} if startup is None else startup.parts()
        state = "could not start" if any(v.startswith("failed") for v in parts.values()) else "is starting"
        status = "; ".join(f"{k}: {v}" for k, v in parts.items())
        raise HTTPException(503, detail=f"kgrag {state} ({status}); see /ready", headers={"Retry-After": "5"})
    return service  # type: ignore[no-any-return]


ServiceDep = Annotated[Service, Depends(get_service)]
