"""Cross-source links: the same concept in different sources, joined by construction.

Three rules, each a link relation (kind ``link``, symmetric), each link's evidence kept in the
fact's ``key`` so that any link can be re-checked against its rule:

* ``same_icd10_code`` — an ICD-10 code on one entity (CMeKG's ``ICD10`` attribute, UMLS
  ICD10/ICD10CM atoms) equals an ICD-10-CM code. Chinese clinical extensions beyond the
  4-character ICD-10 code (``E11.900``) are truncated to it (``E11.9``) and say so; a code is never
  widened to a broader category.
* ``same_umls_cui`` — entities carrying the same UMLS CUI (HPO's ``xref: UMLS:``, UMLS concepts).
* ``same_english_name`` — an English name or synonym of one entity equals, after normalization
  (NFKC, case-fold, spaces collapsed), an English name or synonym of an entity of another source.
  Names shorter than 4 characters, bare abbreviations (one upper-case word of ≤ 5 letters) and
  names shared by more than :data:`MAX_NAME_AMBIGUITY` entities of one source are not used.
  The English-only sources (HPO, MONDO, ICD-10-CM, MeSH diseases, drugs) take part like any other:
  CMeKG's 英文名称 joins ``drugs:`` and ``mesh:`` entities through their names and surface forms.
  The drug and disease dictionaries lower-case every form, so an abbreviation cannot be told from
  a word there: a link to one of them never rests on a single word of 5 characters or fewer.

* ``same_drug_substance`` — a French substance of the ANSM interaction thesaurus (``ddi``) and a
  drug of the drug dictionary or CMeKG, by INN spelling rules (see :mod:`kgrag.kg.substance_links`).
  ``ddi`` names are French, so they take no part in ``same_english_name``.
* ``same_chinese_name`` — a TCM herb (``tcm``) and the CMeKG drug of its Chinese name, when the
  herb's pinyin reads that name (see :mod:`kgrag.kg.herb_links`).

There is no MeSH-id rule: the packaged MONDO carries no ``MESH:`` xrefs, and the MeSH ids of the
drug and disease dictionaries are often a related descriptor's (see :mod:`kgrag.kg.loaders.mesh`),
so they are not xrefs at all.
"""

from __future__ import annotations

import logging
import re
from collections import defaultdict
from dataclasses import dataclass

from kgrag.kg.builder import KGBuilder
from kgrag.kg.drug_links import add_drug_links, add_product_ingredients
from kgrag.kg.graph import normalize_name
from kgrag.kg.herb_links import add_herb_links
from kgrag.kg.model import SourceInfo
from kgrag.kg.substance_links import add_substance_links
from kgrag.lang import has_cjk

log = logging.getLogger(__name__)

SOURCE = "links"
MAX_NAME_AMBIGUITY = 2
_ICD = re.compile(r"^([A-Z][0-9][0-9A-Z])(?:\.([0-9A-Z]{1,4}))?$")
_ABBREV = re.compile(r"^[A-Z0-9]{1,5}$")
#: Sources whose names come lower-cased (the drug and disease dictionaries): an abbreviation there
#: looks like a word ("caps" is CAPS, a buffer, and also MONDO's lower-cased "CAPS"), so a link
#: touching one of them never rests on a single word of :data:`SHORT_WORD` characters or fewer.
LOWERCASED_SOURCES = ("drugs", "mesh")
#: Sources linked by rules of their own, never by ``same_english_name``: the ANSM thesaurus (its
#: Latin-script names are French INNs) and the TCM herbs (English and Latin plant names whose
#: matches nobody has checked; they link to CMeKG by Chinese name).
OWN_RULE_SOURCES = ("ddi", "tcm")
SHORT_WORD = 5


def normalize_icd10(code: str) -> str | None:
    """Canonical ICD-10 code (``e11.9`` → ``E11.9``; ``A15.0†`` → ``A15.0``), or None when the
    text is not one code (ranges such as ``E10-E14`` are not)."""
    c = code.strip().upper().replace(" ", "").rstrip("†*+.")
    m = _ICD.match(c)
    if not m:
        return None
    return m.group(1) + (f".{m.group(2)}" if m.group(2) else "")


def icd10_candidates(code: str) -> list[tuple[str, str]]:
    """ICD-10-CM codes that denote the same concept as ``code``, with the reason."""
    c = normalize_icd10(code)
    if c is None:
        return []
    out = [(c, "equal")]
    if "." in c and len(c.split(".")[1]) > 1:
        out.append((c[: c.index(".") + 2], "Chinese extension truncated to the 4-character code"))
    return out


def english_names(name: str, lang: str, aliases: list[str]) -> list[str]:
    """The names of an entity usable for English name matching."""
    names = ([name] if lang == "en" else []) + aliases
    out = []
    for n in names:
        if has_cjk(n) or not re.search(r"[A-Za-z]", n):
            continue
        if _ABBREV.match(n.strip()):
            continue
        key = normalize_name(n)
        if len(key) >= 4:
            out.append(key)
    return out


@dataclass(frozen=True)
class LinkCounts:
    same_icd10_code: int = 0
    same_umls_cui: int = 0
    same_english_name: int = 0
    same_drug_substance: int = 0
    same_chinese_name: int = 0


SOURCE_ORDER = ("cmekg", "umls", "hpo", "mondo", "icd10cm", "mesh", "drugs", "ddi", "tcm")
"""Which end of a link is its head: the source earlier here."""


def add_links(builder: KGBuilder, source_order: tuple[str, ...] = SOURCE_ORDER) -> LinkCounts:
    """Add link facts between entities of different sources of ``builder``; returns counts."""
    builder.add_source(SourceInfo(SOURCE, "kgrag", "derived", "derived from the linked sources", ("kgrag:links",)))
    file_id = builder.register_file(SOURCE, "kgrag:links")
    srcs = builder.source_ids.items
    rank = {s: source_order.index(s) if s in source_order else len(source_order) for s in srcs}
    seen: set[tuple[int, int, str]] = set()
    counts: dict[str, int] = defaultdict(int)

    def link(a: int, b: int, relation: str, evidence: str, matched: str) -> None:
        ea, eb = builder.entities[a], builder.entities[b]
        if ea.source == eb.source:
            return
        if rank[srcs[ea.source]] > rank[srcs[eb.source]]:
            a, b = b, a
        k = (a, b, relation)
        if k in seen:
            return
        seen.add(k)
        builder.add_fact(a, relation, tail=b, file=file_id, key=evidence, qualifier=matched)
        counts[relation] += 1

    # ICD-10: every entity with an ICD code xref, against ICD-10-CM codes
    icd_cm: dict[str, int] = {}
    coded: list[tuple[int, str]] = []
    for i, e in enumerate(builder.entities):
        for x in e.xrefs:
            ns, _, code = x.partition(":")
            if ns == "ICD10CM" and srcs[e.source] == "icd10cm":
                icd_cm[code] = i
            elif ns in {"ICD10", "ICD10CM"}:
                coded.append((i, code))
    for i, code in coded:
        for cand, why in icd10_candidates(code):
            j = icd_cm.get(cand)
            if j is not None:
                link(i, j, "same_icd10_code", f"ICD10 {code} = ICD10CM {cand} ({why})", cand)
                break

    # UMLS CUIs
    by_cui: dict[str, list[int]] = defaultdict(list)
    for i, e in enumerate(builder.entities):
        for x in e.xrefs:
            if x.startswith("UMLS:"):
                by_cui[x[5:]].append(i)
        if e.id.startswith("umls:"):
            by_cui[e.id[5:]].append(i)
    for cui, rows in by_cui.items():
        for a_i, a in enumerate(rows):
            for b in rows[a_i + 1 :]:
                link(a, b, "same_umls_cui", f"UMLS CUI {cui}", cui)

    # English names
    by_name: dict[str, dict[int, list[int]]] = defaultdict(lambda: defaultdict(list))
    langs = ("zh", "en")
    for i, e in enumerate(builder.entities):
        if (e.stub and srcs[e.source] != "cmekg") or srcs[e.source] in OWN_RULE_SOURCES:
            continue
        for key in dict.fromkeys(english_names(e.name, langs[e.lang], e.aliases)):  # not a set: hash-seed order
            by_name[key][e.source].append(i)
    for key, per_source in by_name.items():
        if len(per_source) < 2:
            continue
        usable = {s: rows for s, rows in per_source.items() if len(rows) <= MAX_NAME_AMBIGUITY}
        sources = sorted(usable)
        short = " " not in key and len(key) <= SHORT_WORD
        for n, s in enumerate(sources):
            for t in sources[n + 1 :]:
                if short and (srcs[s] in LOWERCASED_SOURCES or srcs[t] in LOWERCASED_SOURCES):
                    continue
                for a in usable[s]:
                    for b in usable[t]:
                        link(a, b, "same_english_name", f"English name {key!r}", key)
    for kind, n in add_substance_links(builder, link).items():
        log.info("same_drug_substance %s: %d", kind, n)
    linked = add_drug_links(builder, link)
    add_herb_links(builder, link)
    result = LinkCounts(**counts)
    products = add_product_ingredients(builder, file_id, skip=linked)
    log.info("cross-source links: %s (%d dictionary drugs to CMeKG ingredients); %d CMeKG products given a "
             "dictionary drug as ingredient", result, len(linked), products)
    return result
