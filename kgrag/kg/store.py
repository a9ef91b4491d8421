"""The KG store: a folder of numpy arrays and UTF-8 blobs with a JSON manifest. No pickle.

Layout of ``kg/store/NAME/``::

    manifest.json           format version, sources (package, version, licence, files),
                            counts, per-file sha256 and one store checksum
    tables.json             sources, files, relations, types (the int codes' meanings)
    <column>.utf8           string pools (UTF-8 bytes) ...
    <column>.offsets.npy    ... and their int64 offsets
    <array>.npy             int columns and CSR indexes

Arrays load memory-mapped, so load-back costs about what the OS page cache does. Writes go to a
temporary sibling folder that is renamed into place only when complete: an interrupted or failed
import leaves the previous store untouched.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any, Literal

import numpy as np

from kgrag.atomic import atomic_folder, sha256_file
from kgrag.config import Settings
from kgrag.errors import StoreError
from kgrag.kg.columns import StringColumn
from kgrag.kg.graph import KnowledgeGraph, Tables
from kgrag.kg.model import SourceInfo
from kgrag.kg.relations import vocabulary

log = logging.getLogger(__name__)

FORMAT = "kgrag-kg-store"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"


def write_store(kg: KnowledgeGraph, out: Path, *, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """Write ``kg`` to folder ``out`` atomically; returns the manifest.

    Raises:
        StoreError: when ``out`` exists and is not a KG store (never overwritten then).
    """
    out = Path(out)
    if out.exists() and not (out / MANIFEST).exists():
        raise StoreError(f"{out} exists and is not a kgrag KG store; refusing to overwrite it")
    with atomic_folder(out) as tmp:
        files: dict[str, str] = {}
        for name, col in kg.columns.items():
            (tmp / f"{name}.utf8").write_bytes(bytes(col.blob))
            np.save(tmp / f"{name}.offsets.npy", col.offsets, allow_pickle=False)
        for name, arr in kg.arrays.items():
            np.save(tmp / f"{name}.npy", np.ascontiguousarray(arr), allow_pickle=False)
        tables = {
            "sources": kg.tables.sources,
            "source_info": {k: asdict(v) for k, v in kg.tables.source_info.items()},
            "files": kg.tables.files,
            "relations": kg.tables.relations,
            "types": kg.tables.types,
        }
        (tmp / "tables.json").write_text(json.dumps(tables, ensure_ascii=False, indent=1), encoding="utf-8")
        for p in sorted(tmp.iterdir()):
            files[p.name] = sha256_file(p)
        checksum = hashlib.sha256("".join(f"{k}:{v}\n" for k, v in sorted(files.items())).encode()).hexdigest()
        manifest = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "checksum": checksum,
            "sources": tables["source_info"],
            "counts": {
                "entities": kg.n_entities,
                "facts": kg.n_facts,
                "relations": len(kg.tables.relations),
                "per_source": kg.stats(),
            },
            "columns": sorted(kg.columns),
            "arrays": sorted(kg.arrays),
            "files": files,
            **(extra or {}),
        }
        (tmp / MANIFEST).write_text(json.dumps(manifest, ensure_ascii=False, indent=1), encoding="utf-8")
    log.info("wrote KG store %s (%d entities, %d facts)", out, kg.n_entities, kg.n_facts)
    return manifest


def read_manifest(path: Path) -> dict[str, Any]:
    """The manifest of store ``path``; raises :class:`StoreError` with the fix when absent."""
    path = Path(path)
    mf = path / MANIFEST
    if not mf.exists():
        sources = " ".join(Settings().default_sources)
        raise StoreError(
            f"no KG store at {path} (missing {MANIFEST}); create one with `kgrag kg import {sources} --out {path}`"
        )
    try:
        manifest: dict[str, Any] = json.loads(mf.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise StoreError(f"{mf}: not valid JSON ({exc}); re-run `kgrag kg import`") from None
    if manifest.get("format") != FORMAT:
        raise StoreError(f"{mf}: not a kgrag KG store (format {manifest.get('format')!r})")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise StoreError(
            f"{path}: store format version {manifest.get('format_version')} but this kgrag reads "
            f"version {FORMAT_VERSION}; re-run `kgrag kg import` to rebuild it"
        )
    return manifest


def verify_store(path: Path) -> None:
    """Check every file of the store against its manifest sha256."""
    manifest = read_manifest(path)
    for name, digest in manifest["files"].items():
        p = Path(path) / name
        if not p.exists():
            raise StoreError(f"{p}: missing from the store; re-run `kgrag kg import`")
        if sha256_file(p) != digest:
            raise StoreError(f"{p}: checksum mismatch (store corrupted); re-run `kgrag kg import`")


def load_store(path: str | Path, *, verify: bool = False, mmap: bool = True) -> KnowledgeGraph:
    """Load a KG store written by :func:`write_store`.

    Args:
        path: the store folder.
        verify: check all sha256 checksums first (reads every byte once).
        mmap: memory-map the arrays instead of reading them into RAM.

    Raises:
        StoreError: missing, of another version, incomplete or (with ``verify``) corrupted.
    """
    path = Path(path)
    manifest = read_manifest(path)
    if verify:
        verify_store(path)
    mode: Literal["r"] | None = "r" if mmap else None
    try:
        columns = {}
        for name in manifest["columns"]:
            blob = (
                np.memmap(path / f"{name}.utf8", dtype=np.uint8, mode="r")
                if mmap and (path / f"{name}.utf8").stat().st_size
                else (path / f"{name}.utf8").read_bytes()
            )
            columns[name] = StringColumn(blob, np.load(path / f"{name}.offsets.npy", mmap_mode=mode))
        arrays = {name: np.load(path / f"{name}.npy", mmap_mode=mode) for name in manifest["arrays"]}
        raw = json.loads((path / "tables.json").read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise StoreError(
            f"{path}: incomplete store, {Path(exc.filename).name} is missing; re-run `kgrag kg import`"
        ) from None
    tables = Tables(
        sources=raw["sources"],
        source_info={k: SourceInfo(**{**v, "files": tuple(v["files"])}) for k, v in raw["source_info"].items()},
        files=raw["files"],
        relations=raw["relations"],
        types=raw["types"],
    )
    return KnowledgeGraph(columns, arrays, tables, vocabulary(), manifest=manifest)
