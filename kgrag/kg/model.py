"""The canonical KG model: entities and facts with provenance, as frozen dataclasses.

These are the *read-side* values handed to callers (CLI, retriever, API). Loaders do not build
them fact by fact: they stream plain arguments into a :class:`~kgrag.kg.builder.KGBuilder`,
which packs them into columns (see ``kgrag.kg.store``) so that a graph of tens of millions of
facts never exists as tens of millions of Python objects.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from kgrag.errors import ConfigError

#: Languages an entity name or description can be in.


@dataclass(frozen=True, slots=True)
class Provenance:
    """Where a fact was read: the source file and the record inside it.

    ``line`` is the 1-based line (or record ordinal) in ``file``; ``key`` is a record key where the
    file has one (CMeKG: ``subject/predicate/index``).
    """

    file: str
    line: int | None = None
    key: str | None = None

    def __str__(self) -> str:
        where = self.file
        if self.line is not None:
            where += f":{self.line}"
        if self.key:
            where += f" [{self.key}]"
        return where


@dataclass(frozen=True, slots=True)
class Entity:
    """A concept of one source.

    Attributes:
        id: stable id ``source:local`` (``cmekg:糖尿病``, ``hpo:HP:0001250``, ``icd10cm:E11.9``).
        name: preferred name.
        aliases: other names (synonyms, English names, abbreviations).
        lang: language of ``name`` ("zh" or "en").
        types: semantic types (CMeKG node type, UMLS semantic type, ontology branch).
        description: a definition, or for CMeKG a description composed from attributes.
        xrefs: cross-references as ``NS:code`` strings (``UMLS:C0011849``, ``ICD10:E11``).
        source: source name (``cmekg``, ``hpo``, ``mondo``, ``icd10cm``, ``umls``).
    """

    id: str
    name: str
    lang: str
    source: str
    aliases: tuple[str, ...] = ()
    types: tuple[str, ...] = ()
    description: str = ""
    xrefs: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Fact:
    """One statement ``head --relation--> tail`` (an entity) or ``head --relation--> value``.

    Exactly one of ``tail`` and ``value`` is set.
    """

    head: str
    relation: str
    source: str
    provenance: Provenance
    tail: str | None = None
    value: str | None = None
    qualifier: str | None = None

    def __post_init__(self) -> None:
        if (self.tail is None) == (self.value is None):
            raise ConfigError("a Fact has exactly one of tail and value")


@dataclass(frozen=True, slots=True)
class SourceInfo:
    """A source as recorded in a store's manifest."""

    name: str
    package: str
    version: str
    licence: str
    files: tuple[str, ...] = field(default_factory=tuple)
