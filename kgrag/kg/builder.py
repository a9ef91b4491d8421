"""KGBuilder: the one sink every loader streams into.

Loaders call :meth:`KGBuilder.add_entity` / :meth:`KGBuilder.add_fact` with plain values; the
builder interns strings and appends facts to typed ``array`` columns (about 30 bytes a fact
instead of ~500 for a Python object), so a UMLS-sized import (45 M relations) fits in memory.
:meth:`KGBuilder.build` turns the columns into a :class:`~kgrag.kg.graph.KnowledgeGraph`.
"""

from __future__ import annotations

import logging
from array import array
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from kgrag.errors import ConfigError
from kgrag.kg.columns import Ragged, StringColumn, csr
from kgrag.kg.graph import KnowledgeGraph, Tables
from kgrag.kg.model import SourceInfo
from kgrag.kg.relations import RelationVocabulary, vocabulary
from kgrag.lang import LANGS

log = logging.getLogger(__name__)

NO_ID = -1


@dataclass
class _EntityRow:
    """Mutable entity record while building; merged when a source adds to it again."""

    id: str
    name: str
    lang: int
    source: int
    aliases: list[str] = field(default_factory=list)
    types: list[int] = field(default_factory=list)
    description: str = ""
    xrefs: list[str] = field(default_factory=list)
    stub: bool = False


class Interner:
    """Strings to dense int ids, in insertion order."""

    def __init__(self) -> None:
        self.ids: dict[str, int] = {}
        self.items: list[str] = []

    def __call__(self, value: str) -> int:
        idx = self.ids.get(value)
        if idx is None:
            idx = self.ids[value] = len(self.items)
            self.items.append(value)
        return idx

    def __len__(self) -> int:
        return len(self.items)


class KGBuilder:
    """Accumulates entities and facts from any number of sources.

    Example:
        >>> b = KGBuilder()
        >>> b.add_source(SourceInfo("demo", "demo", "1", "CC0"))
        >>> f = b.register_file("demo", "demo.tsv")
        >>> _ = b.add_entity("demo:x", "X", "en", "demo")
        >>> _ = b.add_entity("demo:y", "Y", "en", "demo")
        >>> b.add_fact("demo:x", "is_a", tail="demo:y", file=f, line=1)
    """

    def __init__(self, vocab: RelationVocabulary | None = None) -> None:
        self.vocab = vocab or vocabulary()
        self.sources: dict[str, SourceInfo] = {}
        self.source_ids = Interner()
        self.files = Interner()
        self.file_source: list[int] = []
        self.relations = Interner()
        self.types = Interner()
        self.values = Interner()
        self.keys: list[str] = []
        self.entity_index: dict[str, int] = {}
        self.entities: list[_EntityRow] = []
        # fact columns
        self.f_head = array("i")
        self.f_rel = array("h")
        self.f_tail = array("i")
        self.f_value = array("i")
        self.f_source = array("b")
        self.f_file = array("h")
        self.f_line = array("q")
        self.f_key = array("i")
        self.f_qual = array("i")
        self.qualifiers = Interner()
        self._lang_codes = {lang: i for i, lang in enumerate(LANGS)}

    # -- sources and files -------------------------------------------------------------------
    def add_source(self, info: SourceInfo) -> int:
        self.sources[info.name] = info
        return self.source_ids(info.name)

    def register_file(self, source: str, path: str | Path) -> int:
        """Register a source file for provenance; returns its file id."""
        name = str(path)
        known = len(self.files)
        idx = self.files(name)
        if idx == known:
            self.file_source.append(self.source_ids(source))
        return idx

    # -- entities --------------------------------------------------------------------------
    def add_entity(
        self,
        id: str,
        name: str,
        lang: str,
        source: str,
        *,
        aliases: tuple[str, ...] | list[str] = (),
        types: tuple[str, ...] | list[str] = (),
        description: str = "",
        xrefs: tuple[str, ...] | list[str] = (),
    ) -> int:
        """Add an entity, or merge into the one with the same id. Returns its index."""
        idx = self.entity_index.get(id)
        if idx is None:
            idx = len(self.entities)
            self.entity_index[id] = idx
            row = _EntityRow(id, name, self._lang_codes[lang], self.source_ids(source))
            self.entities.append(row)
        else:
            row = self.entities[idx]
            if row.stub:
                row.name, row.lang, row.stub = name, self._lang_codes[lang], False
            elif name != row.name and name not in row.aliases:
                row.aliases.append(name)
        for alias in aliases:
            if alias and alias != row.name and alias not in row.aliases:
                row.aliases.append(alias)
        self._add_types(row, types)
        if description and not row.description:
            row.description = description
        for x in xrefs:
            if x not in row.xrefs:
                row.xrefs.append(x)
        return idx

    def ensure_entity(self, id: str, name: str, lang: str, source: str, *, types: tuple[str, ...] = ()) -> int:
        """The index of entity ``id``, creating a stub (name only) if no source defined it yet.

        A later :meth:`add_entity` with the same id fills the stub in.
        """
        idx = self.entity_index.get(id)
        if idx is not None:
            self._add_types(self.entities[idx], types)
            return idx
        idx = self.add_entity(id, name, lang, source, types=types)
        self.entities[idx].stub = True
        return idx

    def _add_types(self, row: _EntityRow, types: tuple[str, ...] | list[str]) -> None:
        for t in types:
            tid = self.types(t)
            if tid not in row.types:
                row.types.append(tid)

    def entity_row(self, id: str) -> _EntityRow:
        return self.entities[self.entity_index[id]]

    def set_description(self, id: str, description: str) -> None:
        self.entities[self.entity_index[id]].description = description

    # -- facts -----------------------------------------------------------------------------
    def add_fact(
        self,
        head: str | int,
        relation: str,
        *,
        tail: str | int | None = None,
        value: str | None = None,
        file: int,
        line: int = NO_ID,
        key: str | None = None,
        qualifier: str | None = None,
    ) -> None:
        """Append one fact. ``head``/``tail`` are entity ids or indexes; exactly one of
        ``tail`` and ``value`` is given. ``relation`` must be in the vocabulary. ``key`` locates
        the record in the file where a line number does not; ``qualifier`` is a short text that
        qualifies the fact (HPO annotation frequency and onset, UMLS relation attributes)."""
        if relation not in self.vocab:
            raise KeyError(f"relation {relation!r} is not in the relation vocabulary (kgrag/kg/data/*.tsv)")
        h = head if isinstance(head, int) else self.entity_index[head]
        if tail is not None:
            t = tail if isinstance(tail, int) else self.entity_index[tail]
            v = NO_ID
        elif value is not None:
            t, v = NO_ID, self.values(value)
        else:
            raise ConfigError("add_fact needs a tail or a value")
        self.f_head.append(h)
        self.f_rel.append(self.relations(relation))
        self.f_tail.append(t)
        self.f_value.append(v)
        self.f_source.append(self.file_source[file])
        self.f_file.append(file)
        self.f_line.append(line)
        if key is None:
            self.f_key.append(NO_ID)
        else:
            self.f_key.append(len(self.keys))
            self.keys.append(key)
        self.f_qual.append(NO_ID if qualifier is None else self.qualifiers(qualifier))

    @property
    def n_facts(self) -> int:
        return len(self.f_head)

    def build(self) -> KnowledgeGraph:
        """Freeze into a :class:`~kgrag.kg.graph.KnowledgeGraph` (columns as numpy arrays)."""
        return freeze(self)


def freeze(builder: KGBuilder) -> KnowledgeGraph:
    """Turn a builder's Python-side state into numpy columns."""
    ents = builder.entities
    alias_strings: list[str] = []
    alias_ptr = np.zeros(len(ents) + 1, dtype=np.int64)
    xref_strings: list[str] = []
    xref_ptr = np.zeros(len(ents) + 1, dtype=np.int64)
    for i, e in enumerate(ents):
        alias_strings.extend(e.aliases)
        alias_ptr[i + 1] = len(alias_strings)
        xref_strings.extend(e.xrefs)
        xref_ptr[i + 1] = len(xref_strings)
    types = Ragged.from_lists([e.types for e in ents], np.int16)
    columns = {
        "ent_id": StringColumn.from_strings(e.id for e in ents),
        "ent_name": StringColumn.from_strings(e.name for e in ents),
        "ent_desc": StringColumn.from_strings(e.description for e in ents),
        "alias": StringColumn.from_strings(alias_strings),
        "xref": StringColumn.from_strings(xref_strings),
        "value": StringColumn.from_strings(builder.values.items),
        "key": StringColumn.from_strings(builder.keys),
        "qualifier": StringColumn.from_strings(builder.qualifiers.items),
    }
    arrays: dict[str, np.ndarray] = {
        "ent_lang": np.fromiter((e.lang for e in ents), dtype=np.int8, count=len(ents)),
        "ent_source": np.fromiter((e.source for e in ents), dtype=np.int8, count=len(ents)),
        "alias_ptr": alias_ptr,
        "xref_ptr": xref_ptr,
        "type_ptr": types.ptr,
        "type_val": types.values,
        "f_head": np.frombuffer(builder.f_head, dtype=np.int32).copy(),
        "f_rel": np.frombuffer(builder.f_rel, dtype=np.int16).copy(),
        "f_tail": np.frombuffer(builder.f_tail, dtype=np.int32).copy(),
        "f_value": np.frombuffer(builder.f_value, dtype=np.int32).copy(),
        "f_source": np.frombuffer(builder.f_source, dtype=np.int8).copy(),
        "f_file": np.frombuffer(builder.f_file, dtype=np.int16).copy(),
        "f_line": np.frombuffer(builder.f_line, dtype=np.int64).copy(),
        "f_key": np.frombuffer(builder.f_key, dtype=np.int32).copy(),
        "f_qual": np.frombuffer(builder.f_qual, dtype=np.int32).copy(),
    }
    n = len(ents)
    arrays["out_ptr"], arrays["out_idx"] = csr(arrays["f_head"], n)
    arrays["in_ptr"], arrays["in_idx"] = csr(arrays["f_tail"], n)
    tables = Tables(
        sources=list(builder.source_ids.items),
        source_info=dict(builder.sources),
        files=list(builder.files.items),
        relations=list(builder.relations.items),
        types=list(builder.types.items),
    )
    return KnowledgeGraph(columns, arrays, tables, builder.vocab)
