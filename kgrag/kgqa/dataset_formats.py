"""The KG-QA record and its file formats: chat messages, Alpaca and ShareGPT, one JSON object a line.

Every record of every format carries the same metadata (:data:`METADATA`), so a file loads with
``datasets.load_dataset("json", data_files=...)`` into one table. ``options`` is an empty list
outside choice questions (``facts`` too, for definitions); pyarrow's JSON reader infers a column's
type from the first block it reads, so each file starts with a record whose lists are not empty
(an all-empty first block would type the column ``null`` and the first real list would fail to cast).

Example:
    >>> to_chat(record)["conversation"][1]["content"]
    '糖尿病的常见症状包括多饮、多尿。'
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from kgrag.errors import ConfigError
from kgrag.kgqa.entities import SPLITS


@dataclass(frozen=True, slots=True)
class QARecord:
    """One question/answer pair and where it comes from.

    Attributes:
        id: ``lang:type:relation:head:template``, unique in a dataset.
        type, relation, lang: what is asked (``relation`` is ``definition`` for descriptions).
        source: the KG source of the facts the answer states.
        head, head_name: the entity asked about and the name the question calls it by.
        split: ``train``, ``validation`` or ``test``.
        template: the question template's id.
        question, answer: the texts (a choice question lists its options, "A. …" one a line).
        options, answer_index: a choice question's options and the right one (else ``()``, -1).
        facts: the KG fact rows the answer states.
        family: the phrasing family of the question (``template``: the template bank's;
            :mod:`kgrag.kgqa.paraphrase`).
        history: earlier (question, answer) turns of a follow-up record, oldest first.
    """

    id: str
    type: str
    relation: str
    lang: str
    source: str
    head: str
    head_name: str
    split: str
    template: str
    question: str
    answer: str
    options: tuple[str, ...] = ()
    answer_index: int = -1
    facts: tuple[int, ...] = ()
    family: str = "template"
    history: tuple[tuple[str, str], ...] = ()


METADATA = ("type", "relation", "lang", "source", "head", "head_name", "split", "template", "options",
            "answer_index", "facts", "family")
_CHUNK = 20_000


def metadata(r: QARecord) -> dict[str, Any]:
    """The record's metadata fields, in :data:`METADATA` order (tuples as lists)."""
    return {
        "type": r.type, "relation": r.relation, "lang": r.lang, "source": r.source, "head": r.head,
        "head_name": r.head_name, "split": r.split, "template": r.template, "options": list(r.options),
        "answer_index": r.answer_index, "facts": list(r.facts), "family": r.family,
    }


def _chat(r: QARecord) -> dict[str, Any]:
    turns = [{"role": role, "content": text} for q, a in (*r.history, (r.question, r.answer))
             for role, text in (("user", q), ("assistant", a))]
    return {"id": r.id, "conversation": turns}


def _alpaca(r: QARecord) -> dict[str, Any]:
    """Alpaca, with earlier turns as ``history`` ([[question, answer], …]: LLaMA-Factory's convention)."""
    out: dict[str, Any] = {"instruction": r.question, "input": "", "output": r.answer, "id": r.id}
    return {**out, "history": [list(t) for t in r.history]} if r.history else out


def _sharegpt(r: QARecord) -> dict[str, Any]:
    turns = [{"from": who, "value": text} for q, a in (*r.history, (r.question, r.answer))
             for who, text in (("human", q), ("gpt", a))]
    return {"id": r.id, "conversations": turns}


def to_chat(r: QARecord) -> dict[str, Any]:
    """DISC-Med-SFT style: ``{"id", "conversation": [{"role", "content"}, ...], ...metadata}``."""
    return {**_chat(r), **metadata(r)}


def to_alpaca(r: QARecord) -> dict[str, Any]:
    """Alpaca: ``{"instruction", "input", "output", "id", ...metadata}`` (the question is the instruction)."""
    return {**_alpaca(r), **metadata(r)}


def to_sharegpt(r: QARecord) -> dict[str, Any]:
    """ShareGPT: ``{"id", "conversations": [{"from": "human"|"gpt", "value"}, ...], ...metadata}``."""
    return {**_sharegpt(r), **metadata(r)}


# the head of each format's object; the metadata, serialized once per record, is spliced after it
_HEADS: dict[str, Callable[[QARecord], dict[str, Any]]] = {"chat": _chat, "alpaca": _alpaca, "sharegpt": _sharegpt}
CONVERTERS: dict[str, Callable[[QARecord], dict[str, Any]]] = {
    "chat": to_chat,
    "alpaca": to_alpaca,
    "sharegpt": to_sharegpt,
}
FORMATS = tuple(CONVERTERS)


def check_formats(formats: Sequence[str]) -> list[str]:
    """The formats asked for, each once.

    Raises:
        ConfigError: none given, or an unknown one (the message lists :data:`FORMATS`).
    """
    given = list(dict.fromkeys(f.strip() for f in formats if f.strip()))
    if not given or (unknown := [f for f in given if f not in CONVERTERS]):
        bad = "no format given" if not given else f"unknown format {unknown[0]!r}"
        raise ConfigError(f"{bad}; choose from: {', '.join(FORMATS)}")
    return given


def writing_order(records: Sequence[QARecord], seed: int, split: str) -> list[QARecord]:
    """A split's records shuffled (seeded), then the first one with ``options`` and ``facts`` moved
    to the front (see the module docstring)."""
    out = list(records)
    random.Random(f"{seed}\tshuffle\t{split}").shuffle(out)
    first = next((i for i, r in enumerate(out) if r.options and r.facts), None)
    if first is None:
        first = next((i for i, r in enumerate(out) if r.facts), None)
    if first:
        out.insert(0, out.pop(first))
    return out


def write_dataset(
    folder: Path,
    records: Sequence[QARecord],
    *,
    formats: Sequence[str] = FORMATS,
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, int]:
    """Write ``FORMAT/SPLIT.jsonl`` for every format and split (an empty split gets an empty file).

    Each line equals ``orjson.dumps(to_FORMAT(record))``; the metadata is serialized once per
    record for all formats (the writer's main cost).

    Args:
        folder: the dataset folder (normally the temporary one of :func:`~kgrag.atomic.atomic_folder`).
        records: all records; each goes to the file of its ``split``.
        formats: of :data:`FORMATS`.
        seed: the shuffle seed.
        progress: called with (records written, records in all).

    Returns:
        Lines written per file, keyed by path relative to ``folder`` (``chat/train.jsonl`` ...).
    """
    fmts = check_formats(formats)
    by_split: dict[str, list[QARecord]] = {s: [] for s in SPLITS}
    for r in records:
        by_split[r.split].append(r)
    written: dict[str, int] = {}
    done = 0
    for split in SPLITS:
        ordered = writing_order(by_split[split], seed, split)
        paths = {fmt: folder / fmt / f"{split}.jsonl" for fmt in fmts}
        for p in paths.values():
            p.parent.mkdir(parents=True, exist_ok=True)
        files = {fmt: p.open("wb") for fmt, p in paths.items()}
        try:
            for start in range(0, len(ordered), _CHUNK):
                chunk: dict[str, list[bytes]] = {fmt: [] for fmt in fmts}
                for r in ordered[start : start + _CHUNK]:
                    meta = orjson.dumps(metadata(r))
                    for fmt in fmts:
                        chunk[fmt].append(orjson.dumps(_HEADS[fmt](r))[:-1] + b"," + meta[1:])
                for fmt in fmts:
                    files[fmt].write(b"\n".join(chunk[fmt]) + b"\n")
                done += len(chunk[fmts[0]])
                if progress is not None:
                    progress(done, len(records))
        finally:
            for f in files.values():
                f.close()
        written.update({f"{fmt}/{split}.jsonl": len(ordered) for fmt in fmts})
    return written
