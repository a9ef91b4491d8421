"""KnowledgeGraph: the linked, multi-source graph held compactly, with networkx where it serves.

Entities and facts are rows of numpy columns (integer ids, interned strings); adjacency is two
CSR indexes (out-edges by head, in-edges by tail). This keeps the full default KG (~1.3 M facts)
at a few hundred MB and loads in about a second, where a networkx ``MultiDiGraph`` of Python
objects needs several GB for UMLS scale (BENCHMARKS.md has both). :meth:`to_networkx` builds a
real ``MultiDiGraph`` — whole or around chosen entities — for algorithms that want one.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from kgrag.errors import EntityNotFoundError
from kgrag.kg.columns import StringColumn
from kgrag.kg.model import Entity, Fact, Provenance, SourceInfo
from kgrag.kg.relations import Relation, RelationVocabulary
from kgrag.lang import LANGS
from kgrag.text import collapse_whitespace, nfkc_casefold

if TYPE_CHECKING:
    import networkx as nx


@dataclass
class Tables:
    """Small lookup tables indexed by the int codes in the columns."""

    sources: list[str]
    source_info: dict[str, SourceInfo]
    files: list[str]
    relations: list[str]
    types: list[str]


def normalize_name(text: str) -> str:
    """Name key for exact matching: NFKC, case-folded, inner whitespace collapsed."""
    return collapse_whitespace(nfkc_casefold(text))


@dataclass
class KnowledgeGraph:
    """The canonical KG. Build with :class:`~kgrag.kg.builder.KGBuilder`, or load with
    :func:`kgrag.kg.store.load_store`.

    The columns, arrays and tables are the storage layout, read only inside :mod:`kgrag.kg`;
    everything else goes through the accessors below (per row, or whole columns as read-only
    numpy arrays for vectorised work).
    """

    columns: dict[str, StringColumn]
    arrays: dict[str, np.ndarray]
    tables: Tables
    vocab: RelationVocabulary
    #: the store's manifest (sources, counts, checksum) when loaded from a store; empty when built
    manifest: dict[str, Any] = field(default_factory=dict)
    _id_index: dict[str, int] | None = field(default=None, repr=False)
    _name_index: dict[str, list[int]] | None = field(default=None, repr=False)
    _link_mask: np.ndarray | None = field(default=None, repr=False)

    # -- sizes -----------------------------------------------------------------------------
    @property
    def n_entities(self) -> int:
        return len(self.arrays["ent_lang"])

    @property
    def n_facts(self) -> int:
        return len(self.arrays["f_head"])

    @property
    def checksum(self) -> str:
        """The store checksum this graph was loaded from ("" for a graph built in memory)."""
        return str(self.manifest.get("checksum", ""))

    # -- code tables -------------------------------------------------------------------------
    @property
    def relation_names(self) -> list[str]:
        """Relation id per relation code (the values of :meth:`fact_relation_codes`)."""
        return self.tables.relations

    @property
    def source_names(self) -> list[str]:
        """Source name per source code (the values of :meth:`fact_source_codes`)."""
        return self.tables.sources

    @property
    def type_names(self) -> list[str]:
        """Type name per type code (the values of :meth:`entity_type_csr`)."""
        return self.tables.types

    def source_code(self, source: str) -> int | None:
        """The int code of a source name, or None when the graph has no such source."""
        try:
            return self.tables.sources.index(source)
        except ValueError:
            return None

    # -- whole columns (read-only arrays, for vectorised work) ----------------------------------
    def fact_heads(self) -> np.ndarray:
        """Head entity row of every fact."""
        return self.arrays["f_head"]

    def fact_tails(self) -> np.ndarray:
        """Tail entity row of every fact (-1 for a literal)."""
        return self.arrays["f_tail"]

    def fact_relation_codes(self) -> np.ndarray:
        """Relation code of every fact (names: :attr:`relation_names`)."""
        return self.arrays["f_rel"]

    def fact_source_codes(self) -> np.ndarray:
        """Source code of every fact (names: :attr:`source_names`)."""
        return self.arrays["f_source"]

    def fact_value_rows(self) -> np.ndarray:
        """Row in the value pool of every fact's literal (-1 for an entity tail); see :meth:`value`."""
        return self.arrays["f_value"]

    def entity_lang_codes(self) -> np.ndarray:
        """Language code of every entity (an index into :data:`~kgrag.kg.model.LANGS`)."""
        return self.arrays["ent_lang"]

    def entity_source_codes(self) -> np.ndarray:
        """Source code of every entity (names: :attr:`source_names`)."""
        return self.arrays["ent_source"]

    def entity_type_csr(self) -> tuple[np.ndarray, np.ndarray]:
        """``(ptr, codes)``: entity ``i``'s type codes are ``codes[ptr[i]:ptr[i+1]]``."""
        return self.arrays["type_ptr"], self.arrays["type_val"]

    def alias_owners(self) -> np.ndarray:
        """Entity row of every alias, in :meth:`all_aliases` order."""
        return np.repeat(np.arange(self.n_entities), np.diff(self.arrays["alias_ptr"]))

    def all_entity_ids(self) -> StringColumn:
        """Every entity id, by row."""
        return self.columns["ent_id"]

    def all_entity_names(self) -> StringColumn:
        """Every entity's preferred name, by row."""
        return self.columns["ent_name"]

    def all_aliases(self) -> StringColumn:
        """Every alias, grouped by owner row (owners: :meth:`alias_owners`)."""
        return self.columns["alias"]

    def all_values(self) -> StringColumn:
        """The pool of literal values (indexed by :meth:`fact_value_rows`)."""
        return self.columns["value"]

    def description_lengths(self) -> np.ndarray:
        """UTF-8 length of every entity's description (0: none)."""
        return np.diff(np.asarray(self.columns["ent_desc"].offsets))

    def out_degrees(self) -> np.ndarray:
        """Facts headed by each entity."""
        return np.diff(self.arrays["out_ptr"])

    def in_degrees(self) -> np.ndarray:
        """Facts whose tail is each entity."""
        return np.diff(self.arrays["in_ptr"])

    def use_plain_views(self) -> None:
        """Swap memory-mapped arrays for plain ndarray views of the same bytes: about three times
        cheaper to index one element at a time (bulk readers that do that call this once)."""
        self.arrays.update({k: np.asarray(v) for k, v in self.arrays.items()})

    # -- entities --------------------------------------------------------------------------
    def entity_id(self, i: int) -> str:
        return self.columns["ent_id"][i]

    def entity_name(self, i: int) -> str:
        return self.columns["ent_name"][i]

    def entity_source(self, i: int) -> str:
        return self.tables.sources[int(self.arrays["ent_source"][i])]

    def entity_lang(self, i: int) -> str:
        """``zh`` or ``en``."""
        return LANGS[int(self.arrays["ent_lang"][i])]

    def description(self, i: int) -> str:
        return self.columns["ent_desc"][i]

    def aliases(self, i: int) -> list[str]:
        ptr = self.arrays["alias_ptr"]
        col = self.columns["alias"]
        return [col[j] for j in range(int(ptr[i]), int(ptr[i + 1]))]

    def xrefs(self, i: int) -> list[str]:
        ptr = self.arrays["xref_ptr"]
        col = self.columns["xref"]
        return [col[j] for j in range(int(ptr[i]), int(ptr[i + 1]))]

    def types_of(self, i: int) -> list[str]:
        ptr, val = self.arrays["type_ptr"], self.arrays["type_val"]
        return [self.tables.types[int(t)] for t in val[ptr[i] : ptr[i + 1]]]

    def entity(self, i: int) -> Entity:
        return Entity(
            id=self.entity_id(i),
            name=self.entity_name(i),
            lang=LANGS[int(self.arrays["ent_lang"][i])],
            source=self.entity_source(i),
            aliases=tuple(self.aliases(i)),
            types=tuple(self.types_of(i)),
            description=self.columns["ent_desc"][i],
            xrefs=tuple(self.xrefs(i)),
        )

    def _ids(self) -> dict[str, int]:
        """Entity id → row (built once, on first use)."""
        if self._id_index is None:
            self._id_index = {eid: i for i, eid in enumerate(self.columns["ent_id"])}
        return self._id_index

    def index_of(self, entity_id: str) -> int:
        """Row of the entity with this exact id; raises :class:`EntityNotFoundError`."""
        try:
            return self._ids()[entity_id]
        except KeyError:
            raise EntityNotFoundError(f"no entity with id {entity_id!r}") from None

    def name_index(self) -> dict[str, list[int]]:
        """Normalized name or alias → entity rows (built once, on first use)."""
        if self._name_index is None:
            index: dict[str, list[int]] = {}
            for i, name in enumerate(self.columns["ent_name"]):
                index.setdefault(normalize_name(name), []).append(i)
            ptr = self.arrays["alias_ptr"]
            owner = np.repeat(np.arange(self.n_entities), np.diff(ptr))
            for j, alias in enumerate(self.columns["alias"]):
                rows = index.setdefault(normalize_name(alias), [])
                i = int(owner[j])
                if i not in rows:
                    rows.append(i)
            self._name_index = index
        return self._name_index

    def find(self, name_or_id: str) -> list[int]:
        """Entity rows whose id, name or alias equals ``name_or_id`` (names normalized).

        Rows matched by preferred name come before rows matched by alias only.
        Raises :class:`EntityNotFoundError` when nothing matches.
        """
        row = self._ids().get(name_or_id)
        if row is not None:
            return [row]
        key = normalize_name(name_or_id)
        rows = self.name_index().get(key, [])
        if not rows:
            raise EntityNotFoundError(
                f"no entity named {name_or_id!r}; try an id such as cmekg:糖尿病 or hpo:HP:0001250"
            )
        return sorted(rows, key=lambda i: (normalize_name(self.entity_name(i)) != key, i))

    # -- facts -----------------------------------------------------------------------------
    def relation(self, code: int) -> Relation:
        return self.vocab.get(self.tables.relations[code])

    def fact(self, j: int) -> Fact:
        a = self.arrays
        tail_row, value_row = int(a["f_tail"][j]), int(a["f_value"][j])
        line, key, qual = int(a["f_line"][j]), int(a["f_key"][j]), int(a["f_qual"][j])
        return Fact(
            head=self.entity_id(int(a["f_head"][j])),
            relation=self.tables.relations[int(a["f_rel"][j])],
            source=self.tables.sources[int(a["f_source"][j])],
            provenance=Provenance(
                file=self.tables.files[int(a["f_file"][j])],
                line=None if line < 0 else line,
                key=None if key < 0 else self.columns["key"][key],
            ),
            tail=None if tail_row < 0 else self.entity_id(tail_row),
            value=None if value_row < 0 else self.columns["value"][value_row],
            qualifier=None if qual < 0 else self.columns["qualifier"][qual],
        )

    def fact_head(self, j: int) -> int:
        """Head entity row of fact ``j``."""
        return int(self.arrays["f_head"][j])

    def fact_tail(self, j: int) -> int:
        """Tail entity row of fact ``j``, -1 when its tail is a literal."""
        return int(self.arrays["f_tail"][j])

    def fact_relation_code(self, j: int) -> int:
        return int(self.arrays["f_rel"][j])

    def fact_relation(self, j: int) -> str:
        """Relation id of fact ``j`` (``has_symptom``)."""
        return self.tables.relations[int(self.arrays["f_rel"][j])]

    def fact_source(self, j: int) -> str:
        return self.tables.sources[int(self.arrays["f_source"][j])]

    def fact_value(self, j: int) -> str | None:
        """The literal tail of fact ``j``, None when its tail is an entity."""
        v = int(self.arrays["f_value"][j])
        return None if v < 0 else self.columns["value"][v]

    def fact_qualifier(self, j: int) -> str | None:
        """Fact ``j``'s qualifier (an HPO annotation's frequency, an unmapped predicate), or None."""
        q = int(self.arrays["f_qual"][j])
        return None if q < 0 else self.columns["qualifier"][q]

    def value(self, k: int) -> str:
        """Literal ``k`` of the value pool."""
        return self.columns["value"][k]

    def fact_tail_text(self, j: int) -> str:
        """The tail's name, or the literal value."""
        t = int(self.arrays["f_tail"][j])
        return self.entity_name(t) if t >= 0 else self.columns["value"][int(self.arrays["f_value"][j])]

    def out_facts(self, i: int) -> np.ndarray:
        a = self.arrays
        return a["out_idx"][a["out_ptr"][i] : a["out_ptr"][i + 1]]

    def in_facts(self, i: int) -> np.ndarray:
        a = self.arrays
        return a["in_idx"][a["in_ptr"][i] : a["in_ptr"][i + 1]]

    def facts_of(self, i: int) -> Iterator[Fact]:
        for j in self.out_facts(i):
            yield self.fact(int(j))

    def relation_code(self, rel_id: str) -> int | None:
        try:
            return self.tables.relations.index(rel_id)
        except ValueError:
            return None

    def entity_tails_per_head(self, code: int) -> np.ndarray:
        """Per entity row, how many facts of relation ``code`` it heads whose tail is an entity
        (e.g. a product's ingredients)."""
        a = self.arrays
        rows = (a["f_rel"] == code) & (a["f_tail"] >= 0)
        return np.bincount(a["f_head"][rows], minlength=self.n_entities)

    def link_mask(self) -> np.ndarray:
        """Boolean array over relation codes: True for cross-source link relations (``same_*``)."""
        if self._link_mask is None:
            self._link_mask = np.array(
                [self.vocab.get(r).kind == "link" for r in self.tables.relations], dtype=bool
            ).reshape(-1)
        return self._link_mask

    def is_link_fact(self, j: int) -> bool:
        return bool(self.link_mask()[self.arrays["f_rel"][j]])

    def links_of(self, i: int) -> list[tuple[int, int]]:
        """Cross-source links touching entity ``i`` as ``(fact row, other entity row)``, both
        directions (links are symmetric)."""
        a = self.arrays
        out = [(int(j), int(a["f_tail"][j])) for j in self.out_facts(i) if self.is_link_fact(j)]
        out += [(int(j), int(a["f_head"][j])) for j in self.in_facts(i) if self.is_link_fact(j)]
        return out

    # -- networkx ----------------------------------------------------------------------------
    def to_networkx(self, rows: Iterable[int] | None = None, *, literals: bool = False) -> nx.MultiDiGraph:
        """A ``networkx.MultiDiGraph`` of the whole KG, or of the facts touching ``rows``.

        Nodes are entity ids with ``name``/``source`` attributes; each fact is an edge keyed by
        its fact row with ``relation``, ``source`` and ``fact`` (row) attributes, so several
        relations between one pair all survive. With ``literals=True`` literal facts become edges
        to ``value:<text>`` nodes.
        """
        import networkx as nx

        a = self.arrays
        g: nx.MultiDiGraph = nx.MultiDiGraph()
        if rows is None:
            fact_rows: Iterable[int] = range(self.n_facts)
        else:
            picked: set[int] = set()
            for i in rows:
                picked.update(int(j) for j in self.out_facts(i))
                picked.update(int(j) for j in self.in_facts(i))
            fact_rows = sorted(picked)
        rel_names = self.tables.relations
        src_names = self.tables.sources
        for j in fact_rows:
            h, t = int(a["f_head"][j]), int(a["f_tail"][j])
            if t < 0 and not literals:
                continue
            for node in (h, t):
                if node >= 0:
                    nid = self.entity_id(node)
                    if nid not in g:
                        g.add_node(nid, name=self.entity_name(node), source=self.entity_source(node))
            target = self.entity_id(t) if t >= 0 else "value:" + self.columns["value"][int(a["f_value"][j])]
            g.add_edge(
                self.entity_id(h),
                target,
                key=j,
                relation=rel_names[int(a["f_rel"][j])],
                source=src_names[int(a["f_source"][j])],
                fact=j,
            )
        return g

    # -- statistics --------------------------------------------------------------------------
    def stats(self) -> dict[str, dict[str, int]]:
        """Counts per source: entities (``stub`` ones counted apart), facts, literal facts,
        link facts."""
        a = self.arrays
        out: dict[str, dict[str, int]] = {}
        ent_counts = np.bincount(a["ent_source"], minlength=len(self.tables.sources))
        fact_counts = np.bincount(a["f_source"], minlength=len(self.tables.sources))
        literal_counts = np.bincount(a["f_source"][a["f_tail"] < 0], minlength=len(self.tables.sources))
        for code, name in enumerate(self.tables.sources):
            out[name] = {
                "entities": int(ent_counts[code]),
                "facts": int(fact_counts[code]),
                "literal_facts": int(literal_counts[code]),
                "entity_facts": int(fact_counts[code] - literal_counts[code]),
            }
        return out

    def relation_counts(self) -> dict[str, int]:
        counts = np.bincount(self.arrays["f_rel"], minlength=len(self.tables.relations))
        return {self.tables.relations[c]: int(n) for c, n in enumerate(counts)}
