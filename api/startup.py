"""Start-up in the background, so that the port opens at once and answers come before the index.

:class:`Startup` loads, in one background thread: the KG store (retrieval without the vector index),
then the model and its batcher — from then on the service answers — and then the index, which
joins while the service runs:

* an index at ``KGRAG_INDEX`` is verified (every file's sha256, the store's checksum, the embedder)
  and loaded, and the service switches to it; requests under way finish without it;
* a missing one is waited for (``kgrag build-index`` or ``make index`` in another process writes it
  atomically: it appears whole or not at all), checked every ``poll_s`` seconds;
* with ``KGRAG_INDEX_BUILD`` (``kgrag serve --build-index``) a missing or stale one is built here,
  in the background, with one embedding process, so that a core is left for answering.

:meth:`Startup.parts` is what ``/ready`` reports: ``{"kg": "ready", "model": "loading",
"index": "building 43%: facts 120,000/1,399,941"}``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

from api.deps import Service, describe
from kgrag.config import Settings
from kgrag.errors import IndexMismatchError, IndexNotFoundError
from kgrag.generation.answer import Answerer, load_model
from kgrag.generation.batching import GenerationBatcher
from kgrag.generation.types import ChatModel
from kgrag.retrieval.retriever import KGRetriever

log = logging.getLogger(__name__)

#: The embedder an index built at start-up uses (``kgrag build-index``'s default).
BUILD_EMBEDDER = "use-multilingual"
WARM_UP_S = 600


class Startup:
    """Loads a :class:`Service` in a background thread and says how far it got.

    Args:
        settings: the service's settings (store, index, model, ``index_build``).
        model: an already loaded chat model (tests); else ``settings.model`` is loaded.
        on_ready: called with the service once the KG and the model are loaded.
        poll_s: how often a missing or stale index is looked for again.
    """

    def __init__(self, settings: Settings, model: ChatModel | None = None, *,
                 on_ready: Callable[[Service], None] = lambda s: None, poll_s: float = 10.0) -> None:
        if poll_s <= 0:
            raise ValueError(f"poll_s must be greater than 0. Currently, poll_s is {poll_s}")
        self.settings, self._model, self._on_ready, self.poll_s = settings, model, on_ready, poll_s
        self.service: Service | None = None
        self._parts = {"kg": "waiting", "model": "waiting", "index": "waiting"}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="kgrag-startup", daemon=True)
        self._stale: tuple[tuple[str, int, int, int], ...] | None = None  # the refused index, until it changes

    # -- what /ready says ----------------------------------------------------------------------------------------

    def parts(self) -> dict[str, str]:
        """Each part's state: ``waiting``, ``loading``, ``ready``, ``building 43%: …``, ``failed: …`` …"""
        with self._lock:
            return dict(self._parts)

    def _set(self, part: str, state: str) -> None:
        with self._lock:
            changed = self._parts[part].split()[0] != state.split()[0]  # log "building", not every percent
            self._parts[part] = state
        if changed:
            log.info("start-up: %s %s", part, state)

    # -- running -------------------------------------------------------------------------------------------------

    def check(self) -> None:
        """The quick checks done before the port opens: the store is there, the model is prepared.

        Raises:
            StoreError, ConfigError: with the command that fixes it.
        """
        from kgrag.generation.answer import check_generator
        from kgrag.kg.store import read_manifest

        read_manifest(self.settings.store)
        if self._model is None:
            check_generator(self.settings)

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        """Stop looking for the index and stop the batcher (an index build under way is left to finish or
        die with the process: it is written atomically, so no half index remains)."""
        self._stop.set()
        self._thread.join(timeout=1)
        if self.service is not None:
            self.service.close()

    def _run(self) -> None:
        part = "kg"
        try:
            t0 = time.perf_counter()
            self._set("kg", "loading")
            retriever = KGRetriever.load(self.settings.store, None, device="cpu",
                                         intent_embedder=self.settings.intent_embedder_name())
            t_kg = time.perf_counter()
            self._set("kg", "ready")
            part = "model"
            self._set("model", "loading")
            model = self._model or load_model(self.settings)
            t_model = time.perf_counter()
            batcher = GenerationBatcher(model, max_batch=self.settings.max_batch, max_queue=self.settings.max_queue)
            batcher.start()
            self._set("model", "warming up")
            if not batcher.ready.wait(WARM_UP_S):
                log.warning("the generation worker is still warming up after %d s", WARM_UP_S)
            service = Service(self.settings, retriever, model, Answerer.from_settings(retriever, model, self.settings),
                              batcher, describe(self.settings, retriever, model, None,
                                                {"kg": round(t_kg - t0, 2), "model": round(t_model - t_kg, 2)}))
            self.service = service
            self._set("model", "ready")
            self._on_ready(service)
        except Exception as exc:  # any failure is shown by /ready, not lost in a thread
            self._set(part, f"failed: {exc}")
            log.error("start-up failed loading the %s: %s", part, exc)
            return
        self._index(service)

    # -- the index -----------------------------------------------------------------------------------------------

    def _index(self, service: Service) -> None:
        path = self.settings.index_path()
        if path is None:
            self._set("index", "none (KGRAG_INDEX=none): answering without it")
            return
        while not self._stop.is_set():
            try:
                if self._try_index(service, path):
                    return
            except (FileNotFoundError, NotADirectoryError) as exc:  # replaced while being read: look again
                log.info("the index %s changed while it was read (%s); looking again", path, exc)
            except Exception as exc:  # a failed build or a broken fresh index: /ready says why
                self._set("index", f"failed: {exc}; answering without it")
                log.error("the index %s cannot be used: %s", path, exc)
                return
            self._stop.wait(self.poll_s)

    def _try_index(self, service: Service, path: Path) -> bool:
        """One look at the index; True once the service uses it."""
        from kgrag.index.build import MANIFEST

        manifest = path / MANIFEST
        if manifest.is_file():
            seen = _files_seen(path)
            if seen == self._stale:  # refused before and not changed since
                return False
            try:
                self._switch(service, path)
                return True
            except (IndexMismatchError, IndexNotFoundError) as exc:
                self._stale = seen
                if not self.settings.index_build:
                    self._set("index", f"not used: {exc}; answering without it")
                    return False
        elif not self.settings.index_build:
            self._set("index", f"waiting for {path} (kgrag build-index --out {path}, or make index); "
                               "answering without it")
            return False
        self._build(service, path)
        self._switch(service, path)  # a fresh build that does not load is an error, not something to wait for
        return True

    def _switch(self, service: Service, path: Path) -> None:
        from kgrag.index.build import load_index, read_index_manifest

        self._set("index", "verifying")
        manifest = read_index_manifest(path)
        load_index(path, service.retriever.kg.checksum, manifest["embedder"], verify=True)
        self._set("index", "loading")
        retriever = KGRetriever.load(self.settings.store, path, device="cpu",
                                     intent_embedder=self.settings.intent_embedder_name())
        if retriever.kg.checksum != service.retriever.kg.checksum:
            raise IndexMismatchError(f"the KG store {self.settings.store} changed while the service ran; restart it")
        service.use_retriever(retriever, str(path))
        self._set("index", "ready")

    def _build(self, service: Service, path: Path) -> None:
        from kgrag.index.build import PARTS, build_index, part_rows

        kg = service.retriever.kg
        expected = sum(len(part_rows(kg, p, None)[0]) for p in PARTS)
        done: dict[str, int] = {}

        def progress(stage: str, n: int, total: int) -> None:
            done[stage] = n
            pct = int(100 * sum(done.values()) / max(expected, 1))
            self._set("index", f"building {pct}%: {stage} {n:,}/{total:,}")

        self._set("index", "building 0%")
        build_index(self.settings.store, path, BUILD_EMBEDDER, workers=1, progress=progress)


def _files_seen(folder: Path) -> tuple[tuple[str, int, int, int], ...]:
    """What changes when any file of ``folder`` is replaced or rewritten: name, inode, mtime, size."""
    stats = ((p.name, p.stat()) for p in sorted(folder.iterdir()) if p.is_file())
    return tuple((name, st.st_ino, st.st_mtime_ns, st.st_size) for name, st in stats)
