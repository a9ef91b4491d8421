"""Build and load the vector index of a KG store: entity documents and fact sentences, embedded.

Layout of ``indexes/NAME/``::

    manifest.json            format, version, kg_checksum, kg_path, embedder, dim, counts,
                             created, build figures, per-file sha256
    <part>.vectors.npy       float16 rows, unit length (part: entities, facts)
    <part>.faiss             faiss index over the same rows (CPU search)
    <part>.ids.npy           int64: index row -> entity row / fact row of the KG store

Written to a temporary sibling folder and renamed into place (``kgrag.kg.store``'s swap), so a
failed build leaves the previous index intact. Cross-source link facts (``same_*``) are identity
assertions, not content, and are not embedded.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from kgrag.atomic import atomic_folder, sha256_file
from kgrag.errors import ConfigError, IndexMismatchError, IndexNotFoundError, KGRAGError
from kgrag.index.embedders import Embedder, make_embedder
from kgrag.index.vector import FaissIndex, VectorIndex, make_vector_index
from kgrag.index.verbalize import entity_document, fact_sentence
from kgrag.kg.graph import KnowledgeGraph
from kgrag.kg.store import load_store, read_manifest

log = logging.getLogger(__name__)

FORMAT = "kgrag-vector-index"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
PARTS = ("entities", "facts")
#: Parts with more rows get a faiss IVF index. Exact (flat) search over the default store's 1.38 M
#: facts takes ~0.6 s a query on 2 CPU cores and 31 ms on 16; IVF (4,696 cells, nprobe 128) takes
#: 6 ms on 16 cores at recall@10 0.9955; its 224 k entities stay exact (benchmarks/embedders.py).
DEFAULT_IVF_THRESHOLD = 1_000_000


@dataclass(frozen=True)
class LoadedIndex:
    """A loaded index: one vector index and one id map per part, and the manifest."""

    path: Path
    manifest: dict[str, Any]
    indexes: dict[str, VectorIndex]
    ids: dict[str, np.ndarray]

    @property
    def embedder_name(self) -> str:
        return str(self.manifest["embedder"])

    def search(self, part: str, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Like :meth:`VectorIndex.search`, but ids are KG rows (entity or fact rows); -1 if none."""
        if part not in self.indexes:
            raise ConfigError(f"index {self.path} has no {part!r} part; it has {', '.join(self.indexes) or 'none'}")
        scores, rows = self.indexes[part].search(queries, k)
        kg_rows = np.full_like(rows, -1)
        found = rows >= 0
        kg_rows[found] = self.ids[part][rows[found]]
        return scores, kg_rows


def part_rows(kg: KnowledgeGraph, part: str, limit: int | None) -> tuple[np.ndarray, int]:
    """KG rows embedded for ``part`` (the first ``limit``), and how many link facts are left out."""
    if part == "entities":
        rows = np.arange(kg.n_entities, dtype=np.int64)
        skipped = 0
    else:
        keep = ~kg.link_mask()[kg.fact_relation_codes()]
        rows = np.flatnonzero(keep).astype(np.int64)
        skipped = int(kg.n_facts - len(rows))
    return (rows if limit is None else rows[:limit]), skipped


def _texts(kg: KnowledgeGraph, part: str, rows: np.ndarray) -> list[str]:
    if part == "entities":
        return [entity_document(kg, int(i)) for i in rows]
    return [fact_sentence(kg, int(j)) for j in rows]


def _write_part(
    kg: KnowledgeGraph, part: str, rows: np.ndarray, embedder: Embedder, folder: Path, batch_size: int,
    ivf_threshold: int | None, advance: Callable[[int], None],
) -> dict[str, float | str]:
    """Embed the texts of ``rows`` a chunk at a time into ``<part>.vectors.npy`` (float16, written
    in place), then write the id map and the faiss index; returns the part's build figures."""
    np.save(folder / f"{part}.ids.npy", rows, allow_pickle=False)
    shape = (len(rows), embedder.dim)
    vectors = np.lib.format.open_memmap(folder / f"{part}.vectors.npy", mode="w+", dtype=np.float16, shape=shape)
    # enough texts per call to keep every worker process busy, few enough to report progress
    chunk = max(2048, batch_size * 4 * int(getattr(embedder, "workers", 1)))
    t0 = time.perf_counter()
    for start in range(0, len(rows), chunk):
        texts = _texts(kg, part, rows[start : start + chunk])
        vecs = embedder.encode(texts, batch_size=batch_size)
        if vecs.shape != (len(texts), embedder.dim):
            raise KGRAGError(f"embedder {embedder.name} returned shape {vecs.shape} for {len(texts)} texts")
        vectors[start : start + len(texts)] = vecs
        advance(len(texts))
    embed_s = time.perf_counter() - t0
    vectors.flush()
    index = FaissIndex.build(vectors, ivf_threshold=ivf_threshold)
    index.save(folder / f"{part}.faiss")
    log.info("%s: %d texts embedded in %.1f s", part, len(rows), embed_s)
    return {"embed_s": round(embed_s, 2), "texts_per_s": round(len(rows) / max(embed_s, 1e-9), 1), "faiss": index.kind}


def _advance(progress: Callable[[str, int, int], None] | None, stage: str, total: int) -> Callable[[int], None]:
    """``advance(n)`` that reports the running total of ``stage`` to ``progress``."""
    done = 0

    def advance(n: int) -> None:
        nonlocal done
        done += n
        if progress is not None:
            progress(stage, done, total)

    if progress is not None:
        progress(stage, 0, total)
    return advance


def build_index(
    kg_store_path: str | Path,
    out_path: str | Path,
    embedder_name: str,
    device: str = "cpu",
    what: Sequence[str] = PARTS,
    batch_size: int = 128,
    limit: int | None = None,
    *,
    embedder: Embedder | None = None,
    workers: int | None = None,
    ivf_threshold: int | None = DEFAULT_IVF_THRESHOLD,
    progress: Callable[[str, int, int], None] | None = None,
) -> dict[str, Any]:
    """Embed a KG store's entities and facts and write the index to ``out_path`` atomically.

    Args:
        kg_store_path: the KG store folder (``kgrag kg import`` wrote it).
        out_path: the index folder; replaced only when the build succeeded.
        embedder_name: ``minilm`` or ``use-multilingual`` (see :func:`make_embedder`).
        device: ``cpu`` or ``cuda`` for the embedding model.
        what: parts to embed: ``entities`` and/or ``facts``.
        batch_size: texts per model batch.
        limit: embed only the first ``limit`` rows of each part (CI smoke builds).
        embedder: an already loaded embedder to use instead of loading ``embedder_name``.
        workers: processes for ``use-multilingual`` (0: one per core).
        ivf_threshold: parts with more rows get a faiss IVF index instead of an exact flat one
            (``None``: exact for every part). The ``.vectors.npy`` files, which TorchIndex reads,
            are the same either way.
        progress: called as ``progress(stage, done, total)`` as texts are embedded (stage: the part
            and the embedder, ``entities (use-multilingual)``).

    Returns:
        The index manifest (also written as ``manifest.json``).

    Raises:
        ConfigError: a bad option value; StoreError: no KG store at ``kg_store_path``.

    Example:
        >>> build_index("kg/store/default", "indexes/default", "use-multilingual", limit=1000)
    """
    parts = tuple(dict.fromkeys(what))
    bad = [p for p in parts if p not in PARTS]
    if bad or not parts:
        raise ConfigError(f"what must name parts among {', '.join(PARTS)}; got {', '.join(what) or 'nothing'}")
    if limit is not None and limit < 1:
        raise ConfigError(f"limit must be at least 1. Currently, limit is {limit}")
    if batch_size < 1:
        raise ConfigError(f"batch_size must be at least 1. Currently, batch_size is {batch_size}")
    if embedder is not None and embedder.name != embedder_name:
        raise ConfigError(f"embedder {embedder.name!r} given, but embedder_name is {embedder_name!r}")
    kg_path, out = Path(kg_store_path), Path(out_path)
    if out.exists() and not (out / MANIFEST).exists():
        raise ConfigError(f"{out} exists and is not a kgrag index; refusing to overwrite it")
    kg_manifest = read_manifest(kg_path)
    kg = load_store(kg_path)
    t0 = time.perf_counter()
    emb = embedder or make_embedder(embedder_name, device, workers=workers)
    load_s = time.perf_counter() - t0
    try:
        with atomic_folder(out) as tmp:
            counts: dict[str, int] = {}
            figures: dict[str, dict[str, float | str]] = {}
            for part in parts:
                rows, skipped = part_rows(kg, part, limit)
                counts[part] = len(rows)
                if part == "facts":
                    counts["link_facts_skipped"] = skipped
                figures[part] = _write_part(kg, part, rows, emb, tmp, batch_size, ivf_threshold,
                                            _advance(progress, f"{part} ({emb.name})", len(rows)))
            files = {p.name: sha256_file(p) for p in sorted(tmp.iterdir())}
            manifest: dict[str, Any] = {
                "format": FORMAT,
                "version": FORMAT_VERSION,
                "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "kg_checksum": kg_manifest["checksum"],
                "kg_path": str(kg_path),
                "embedder": emb.name,
                "dim": emb.dim,
                "parts": list(parts),
                "counts": counts,
                "limit": limit,
                "build": {"device": getattr(emb, "device", device), "model_load_s": round(load_s, 2),
                          "total_s": round(time.perf_counter() - t0, 2), **figures},
                "files": files,
            }
            (tmp / MANIFEST).write_text(json.dumps(manifest, ensure_ascii=False, indent=1), encoding="utf-8")
    finally:
        if embedder is None and hasattr(emb, "close"):
            emb.close()
    log.info("wrote index %s: %s", out, counts)
    return manifest


def _rebuild_hint(manifest: dict[str, Any], path: Path, embedder: str | None = None) -> str:
    return (f"`kgrag build-index --kg {manifest.get('kg_path', 'kg/store/default')} --out {path} "
            f"--embedder {embedder or manifest.get('embedder', 'use-multilingual')}`")


def read_index_manifest(path: str | Path) -> dict[str, Any]:
    """The manifest of the index at ``path``; raises :class:`IndexNotFoundError` with the fix."""
    path = Path(path)
    try:
        manifest: dict[str, Any] = json.loads((path / MANIFEST).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise IndexNotFoundError(
            f"no index at {path} (missing {MANIFEST}); build one with "
            f"`kgrag build-index --kg kg/store/default --out {path} --embedder use-multilingual`"
        ) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        msg = f"{path / MANIFEST}: not valid JSON ({exc}); rebuild with `kgrag build-index`"
        raise IndexNotFoundError(msg) from None
    if manifest.get("format") != FORMAT or manifest.get("version") != FORMAT_VERSION:
        raise IndexNotFoundError(
            f"{path}: index format {manifest.get('format')!r} version {manifest.get('version')!r}, but this kgrag "
            f"reads {FORMAT!r} version {FORMAT_VERSION}; rebuild with {_rebuild_hint(manifest, path)}"
        )
    return manifest


def load_index(
    path: str | Path,
    kg_checksum: str | None = None,
    embedder_name: str | None = None,
    *,
    backend: str = "faiss",
    device: str = "cpu",
    verify: bool = False,
) -> LoadedIndex:
    """Load the index at ``path``, refusing one built from another KG store or embedder.

    Args:
        path: the index folder.
        kg_checksum: checksum of the KG store in use (its manifest's ``checksum``); checked if given.
        embedder_name: the embedder that will encode queries; checked if given.
        backend: ``faiss`` (CPU) or ``torch`` (exact search on ``device``, e.g. ``cuda``).
        device: device of the torch backend.
        verify: check every file's sha256 first.

    Raises:
        IndexMismatchError: built from another KG store or with another embedder.
        IndexNotFoundError: missing, incomplete, corrupted (with ``verify``) or of another version.
    """
    path = Path(path)
    manifest = read_index_manifest(path)
    if kg_checksum is not None and manifest["kg_checksum"] != kg_checksum:
        raise IndexMismatchError(
            f"index {path} was built from KG store {manifest['kg_path']} with checksum "
            f"{manifest['kg_checksum'][:16]}…, but the KG store in use has checksum {kg_checksum[:16]}…; "
            f"rebuild the index with {_rebuild_hint(manifest, path)}"
        )
    if embedder_name is not None and manifest["embedder"] != embedder_name:
        raise IndexMismatchError(
            f"index {path} was embedded with {manifest['embedder']!r} ({manifest['dim']}-d), but queries would be "
            f"embedded with {embedder_name!r}; rebuild the index with {_rebuild_hint(manifest, path, embedder_name)} "
            f"or use the embedder {manifest['embedder']!r}"
        )
    fix = f"rebuild with {_rebuild_hint(manifest, path)}"
    for name, digest in manifest["files"].items():
        p = path / name
        if not p.exists():
            raise IndexNotFoundError(f"{p}: missing from the index; {fix}")
        if verify and sha256_file(p) != digest:
            raise IndexNotFoundError(f"{p}: checksum mismatch (corrupted); {fix}")
    suffix = {"faiss": "faiss", "torch": "vectors.npy"}.get(backend, "")
    indexes = {p: make_vector_index(backend, path / f"{p}.{suffix}", device=device) for p in manifest["parts"]}
    ids = {p: np.load(path / f"{p}.ids.npy", allow_pickle=False) for p in manifest["parts"]}
    return LoadedIndex(path, manifest, indexes, ids)
