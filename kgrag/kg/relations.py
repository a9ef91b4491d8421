"""The relation vocabulary: every relation kept has a Chinese and an English label.

The core relations live in ``data/relations.tsv``; CMeKG's 469 predicates are mapped onto them
(or onto ``cmekg_*`` relations of their own) in ``data/cmekg_predicates.tsv``; UMLS REL/RELA
values in ``data/umls_relations.tsv``. All three are data files so the tables can be reviewed
and extended without touching code.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from kgrag.errors import ConfigError
from kgrag.tsv import data_text, tsv_rows

RELATION_KINDS = ("entity", "literal", "link")


@dataclass(frozen=True, slots=True)
class Relation:
    """A relation type with its labels; ``kind`` says whether its tail is an entity or a value."""

    id: str
    zh: str
    en: str
    kind: str

    def label(self, lang: str) -> str:
        return self.zh if lang == "zh" else self.en


def read_tsv(name: str) -> list[list[str]]:
    """Rows of a packaged TSV data file, comments and blank lines skipped."""
    return [row for _, row in tsv_rows(data_text("kgrag.kg", "data", name))]


@dataclass(frozen=True, slots=True)
class CMeKGPredicate:
    """How one CMeKG predicate is read: which relation, and the node type of its objects."""

    predicate: str
    relation: str
    kind: str
    object_type: str | None


class RelationVocabulary:
    """All relations known to kgrag, looked up by id."""

    def __init__(self, relations: list[Relation]) -> None:
        self._by_id: dict[str, Relation] = {}
        for rel in relations:
            known = self._by_id.get(rel.id)
            if known is not None and (known.kind != rel.kind):
                raise ConfigError(f"relation {rel.id!r} declared twice with kinds {known.kind} and {rel.kind}")
            self._by_id.setdefault(rel.id, rel)

    def __contains__(self, rel_id: object) -> bool:
        return rel_id in self._by_id

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self._by_id.values())

    def __len__(self) -> int:
        return len(self._by_id)

    def get(self, rel_id: str) -> Relation:
        try:
            return self._by_id[rel_id]
        except KeyError:
            raise KeyError(f"unknown relation {rel_id!r}; known: {len(self._by_id)} relations") from None


@lru_cache(maxsize=1)
def cmekg_predicates() -> dict[str, CMeKGPredicate]:
    """The predicate table of ``data/cmekg_predicates.tsv``, keyed by the Chinese predicate."""
    table: dict[str, CMeKGPredicate] = {}
    for row in read_tsv("cmekg_predicates.tsv"):
        predicate, relation, kind, object_type = row[0], row[1], row[2], row[3]
        table[predicate] = CMeKGPredicate(predicate, relation, kind, None if object_type == "-" else object_type)
    return table


@lru_cache(maxsize=1)
def vocabulary() -> RelationVocabulary:
    """The full vocabulary: core relations, then CMeKG's and UMLS's own."""
    rels = [Relation(r[0], r[1], r[2], r[3]) for r in read_tsv("relations.tsv")]
    core = {r.id for r in rels}
    for row in read_tsv("cmekg_predicates.tsv"):
        if row[1] not in core:
            rels.append(Relation(row[1], row[4], row[5], row[2]))
    for row in read_tsv("umls_relations.tsv"):
        # columns: rel_or_rela, relation id, kind, zh, en
        if row[1] not in core:
            rels.append(Relation(row[1], row[3], row[4], row[2]))
    return RelationVocabulary(rels)
