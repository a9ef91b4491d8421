"""``make_kgqa``: generate the KG-QA dataset of a KG store and write it, atomically, with its card.

The records come from :class:`~kgrag.kgqa.generator.KGQAGenerator`; the files from
:mod:`kgrag.kgqa.dataset_formats` (chat, Alpaca, ShareGPT; one file per format and split); the card from
:mod:`kgrag.kgqa.card` (counts read back from the written files, licences, templates).

Example:
    >>> card = make_kgqa("kg/store/default", "data/kgqa/default", langs=["zh", "en"], seed=0)
    >>> card["total"], card["counts"]["type"]
"""

from __future__ import annotations

import gc
import logging
import random
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from kgrag.errors import ConfigError
from kgrag.kg.graph import KnowledgeGraph
from kgrag.kgqa.consult import CONSULT, Consultations
from kgrag.kgqa.generator import KGQAGenerator, check_request
from kgrag.kgqa.interactions import SOURCE as INTERACTION_SOURCE
from kgrag.kgqa.interactions import interaction_records
from kgrag.kgqa.paraphrase import Rephraser
from kgrag.kgqa.templates import TYPES, TemplateBank, load_bank
from kgrag.lang import LANGS

log = logging.getLogger(__name__)
CONSULT_PER_LANG = 3000
"""Consultation records per language (at most: one per symptom that several diseases share)."""


def make_kgqa(
    store: str | Path,
    out: str | Path,
    *,
    relations: Sequence[str] | None = None,
    langs: Sequence[str] = LANGS,
    sources: Sequence[str] | None = None,
    types: Sequence[str] = TYPES,
    formats: Sequence[str] | None = None,
    limit: int | None = None,
    seed: int = 0,
    overwrite: bool = False,
    rephrase: bool = True,
    progress: Callable[[str, int, int], None] | None = None,
) -> dict[str, Any]:
    """Generate the KG-QA dataset of a KG store and write it, with its card, to folder ``out``.

    The folder is written as a temporary sibling and renamed into place when complete
    (:func:`~kgrag.atomic.atomic_folder`): a failed or interrupted run leaves no half dataset and
    the previous one intact.

    Args:
        store: the KG store folder.
        out: the dataset folder: ``FORMAT/SPLIT.jsonl``, ``card.json``, ``README.md``.
        relations, langs, sources, types, limit: what to generate (:meth:`KGQAGenerator.generate`).
        formats: of :data:`kgrag.kgqa.dataset_formats.FORMATS`; all by default.
        seed: sampling and shuffling seed.
        overwrite: replace an existing dataset at ``out``.
        rephrase: also ask the questions in the phrasing families (:mod:`kgrag.kgqa.paraphrase`),
            some held out of training (split ``test_phrasing``).
        progress: called with (stage, done, total); stages ``generate`` then ``write``.

    Returns:
        The card (``card.json``'s content): counts per split, type, language, source, relation
        and template, read back from the written files.

    Raises:
        StoreError: no KG store at ``store``, or one of another format version.
        ConfigError: ``out`` exists without ``overwrite`` (or is not a KG-QA dataset), bad options,
            or nothing to generate.
    """
    from kgrag.kg.store import load_store
    from kgrag.kgqa.dataset_formats import FORMATS, check_formats

    store, out = Path(store), Path(out)
    fmts = check_formats(FORMATS if formats is None else formats)
    if out.exists() and not overwrite:
        raise ConfigError(f"{out} exists; pass --overwrite to replace it")
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not (out / "card.json").exists())):
        raise ConfigError(f"{out} exists and is not a KG-QA dataset (no card.json); refusing to replace it")
    kg = load_store(store)
    bank = load_bank()
    rels, langs, srcs, types = check_request(kg, bank, relations=relations, langs=langs, sources=sources,
                                             types=types, limit=limit)
    with _no_gc():
        return _make(kg, bank, store, out, rels, langs, srcs, types, fmts, limit, seed, rephrase, progress)


@contextmanager
def _no_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector: with a million live records each collection would scan
    them all, which made generation and writing twice as slow (records hold no cycles)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _make(kg: KnowledgeGraph, bank: TemplateBank, store: Path, out: Path, rels: list[str], langs: list[str],
          srcs: list[str], types: list[str], fmts: list[str], limit: int | None, seed: int, rephrase: bool,
          progress: Callable[[str, int, int], None] | None) -> dict[str, Any]:
    from kgrag.atomic import atomic_folder
    from kgrag.kgqa.card import build_card, count_files, write_card
    from kgrag.kgqa.dataset_formats import write_dataset

    t0 = time.perf_counter()
    gen = KGQAGenerator(kg, bank, seed=seed)
    step = (lambda d, t: progress("generate", d, t)) if progress else None
    records = gen.generate(relations=rels, langs=langs, sources=srcs, types=types, limit=limit, progress=step)
    if not records:
        raise ConfigError(f"no records for relations {rels}, languages {langs}, sources {srcs}, types {types}")
    if rephrase:
        records += Rephraser(gen.names, bank, seed=seed).variants(records)
    if CONSULT in types:
        records += Consultations(gen.names, seed=seed).records(CONSULT_PER_LANG, langs)
    if "relation" in types and INTERACTION_SOURCE in srcs:  # "Can I take X with Y?" (kgqa/interactions.py)
        records += interaction_records(gen.names, seed=seed, langs=langs)
    if limit is not None and len(records) > limit:  # the limit is on the whole: a seeded draw keeps the mix
        keep = sorted(random.Random(f"{seed}\tlimit").sample(range(len(records)), limit))
        records = [records[i] for i in keep]
    log.info("generated %d records in %.1f s", len(records), time.perf_counter() - t0)
    options = {"relations": rels, "langs": langs, "sources": srcs, "types": types, "formats": fmts, "limit": limit,
               "seed": seed, "split_seed": gen.names.split_seed, "rephrase": rephrase}
    with atomic_folder(out) as tmp:
        step = (lambda d, t: progress("write", d, t)) if progress else None
        t1 = time.perf_counter()
        files = write_dataset(tmp, records, formats=fmts, seed=seed, progress=step)
        t2 = time.perf_counter()
        stats = count_files(tmp, list(files))
        log.info("wrote %d files in %.1f s, counted them in %.1f s", len(files), t2 - t1, time.perf_counter() - t2)
        created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        card = build_card(stats, store=store, manifest=getattr(kg, "manifest", {}), options=options, created=created)
        write_card(tmp, card, bank)
    return card
