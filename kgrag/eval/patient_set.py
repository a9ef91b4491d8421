"""A held-out question set in patients' and carers' words, written from the KG's facts.

The question templates, the KG-QA phrasing families and the retriever's intent cues were all
written, and tuned, with one another in view; this set is written apart from them so that it
measures what a new user's question gets. Its phrasings (``data/patient_phrasings.tsv``: first
person, carers, worried, conversational, with context such as age or duration) appear in no
template or cue file, and ``tests/eval/test_patient_set.py`` keeps it so. The relations asked
about, the sources of their entities and the reference answers come from
``data/patient_relations.tsv``, so that relations the store gains (definitions, ICD-10-CM codes)
can be asked about by adding rows.

Only entities of the KG-QA generator's ``test`` split are asked about
(:meth:`~kgrag.kgqa.entities.EntityNames.split_of`: a seeded hash of the smallest id of the
entity's link component), so no adapter fine-tuned on ``kgrag make-kgqa``'s train split has seen
them. (Those entities fall inside the retrieval eval's ``dev`` split, whose threshold is wider:
:mod:`kgrag.kgqa.questions`. Retrieval was tuned on template questions about dev entities, never
on these wordings.) Entities are named as the KG-QA data names them
(:meth:`~kgrag.kgqa.entities.EntityNames.surface`).

Each question is a ``relation`` record of the KG-QA data layout
(:class:`~kgrag.kgqa.dataset_formats.QARecord`), so ``kgrag eval qa --data`` scores it and
``kgrag eval retrieval --questions`` ranks it: ``facts`` are every fact row of the entity and the
relation (any of them in the prompt answers the question), ``answer`` names up to 8 of their tails
in the question's language (the gold of :class:`~kgrag.eval.gold.GoldExtractor`), ``template`` is
the phrasing's id and ``family`` is ``heldout_<style>``.

Example:
    >>> maker = PatientSetMaker(load_store("kg/store/default"))
    >>> records = maker.make(360, seed=0)
    >>> records[0].question, records[0].facts[:3]
"""

from __future__ import annotations

import logging
import random
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from kgrag.errors import ConfigError
from kgrag.kg.graph import KnowledgeGraph
from kgrag.kgqa.dataset_formats import QARecord
from kgrag.kgqa.entities import EntityNames
from kgrag.kgqa.templates import (
    CONTAGIOUS_NO,
    CONTAGIOUS_YES,
    TemplateBank,
    clean_item,
    finish,
    is_junk,
    join_items,
    literal_item,
    load_bank,
    render,
)
from kgrag.lang import LANGS
from kgrag.tsv import data_text, tsv_rows

log = logging.getLogger(__name__)

STYLES = ("first_person", "carer", "worried", "conversational", "context")
FLAGS = frozenset({"any_script", "clauses", "yes_no"})
SPLIT = "test"
FAMILY_PREFIX = "heldout_"
MAX_ITEMS = 8
PHRASINGS_FILE = "kgrag/eval/data/patient_phrasings.tsv"
RELATIONS_FILE = "kgrag/eval/data/patient_relations.tsv"


@dataclass(frozen=True, slots=True)
class Phrasing:
    """One way a patient asks (a row of ``patient_phrasings.tsv``).

    Attributes:
        id, relation, lang, style: which relation it asks for, in which language and voice.
        text: the question, ``{X}`` where the entity's name goes.
        cues: its words that ask for the relation and that no cue file knows.
    """

    id: str
    relation: str
    lang: str
    style: str
    text: str
    cues: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class AskedRelation:
    """A relation the set asks about in one language (a row of ``patient_relations.tsv``)."""

    relation: str
    lang: str
    sources: tuple[str, ...]
    types: frozenset[str]
    flags: frozenset[str]
    answer: str


def parse_phrasings(text: str, source: str = PHRASINGS_FILE) -> tuple[Phrasing, ...]:
    """Phrasings from TSV ``text`` (the header of ``patient_phrasings.tsv``).

    Raises:
        ConfigError: naming ``source`` and the line of a row without 6 fields, an unknown language
            or style, a text without exactly one ``{X}``, a cue its text lacks, or a repeated id.
    """
    out: dict[str, Phrasing] = {}
    for n, fields in tsv_rows(text):
        where = f"{source}:{n}"
        if len(fields) != 6:
            raise ConfigError(f"{where}: expected 6 tab-separated fields (id relation lang style text cues); "
                              f"got {len(fields)}")
        pid, rel, lang, style, body, cues = (f.strip() for f in fields)
        if lang not in LANGS:
            raise ConfigError(f"{where}: lang must be one of {', '.join(LANGS)}; got {lang!r}")
        if style not in STYLES:
            raise ConfigError(f"{where}: style must be one of {', '.join(STYLES)}; got {style!r}")
        if body.count("{X}") != 1:
            raise ConfigError(f"{where}: text must hold {{X}} exactly once; got {body!r}")
        cue_list = () if cues == "-" else tuple(c.strip() for c in cues.split("|") if c.strip())
        if missing := [c for c in cue_list if c.casefold() not in body.casefold()]:
            raise ConfigError(f"{where}: cue {missing[0]!r} is not in the text {body!r}")
        if pid in out:
            raise ConfigError(f"{where}: id {pid!r} is used twice")
        out[pid] = Phrasing(pid, rel, lang, style, body, cue_list)
    return tuple(out.values())


def parse_relations(text: str, source: str = RELATIONS_FILE) -> tuple[AskedRelation, ...]:
    """Asked relations from TSV ``text`` (the header of ``patient_relations.tsv``).

    Raises:
        ConfigError: naming ``source`` and the line of a row without 6 fields, an unknown language
            or flag, an answer without ``{X}`` and ``{ITEMS}``, or a repeated (relation, lang).
    """
    out: dict[tuple[str, str], AskedRelation] = {}
    for n, fields in tsv_rows(text):
        where = f"{source}:{n}"
        if len(fields) != 6:
            raise ConfigError(f"{where}: expected 6 tab-separated fields (relation lang sources types flags "
                              f"answer); got {len(fields)}")
        rel, lang, sources, types, flags, answer = (f.strip() for f in fields)
        type_set = frozenset() if types == "-" else frozenset(t.strip() for t in types.split(",") if t.strip())
        flag_set = frozenset() if flags == "-" else frozenset(f.strip() for f in flags.split(","))
        if lang not in LANGS:
            raise ConfigError(f"{where}: lang must be one of {', '.join(LANGS)}; got {lang!r}")
        if unknown := sorted(flag_set - FLAGS):
            raise ConfigError(f"{where}: unknown flag {unknown[0]!r}; use '-' or some of {', '.join(sorted(FLAGS))}")
        if "{X}" not in answer or "{ITEMS}" not in answer:
            raise ConfigError(f"{where}: the answer must hold {{X}} and {{ITEMS}}; got {answer!r}")
        if (rel, lang) in out:
            raise ConfigError(f"{where}: relation {rel!r} is listed twice for {lang}")
        srcs = tuple(s.strip() for s in sources.split(",") if s.strip())
        if not srcs:
            raise ConfigError(f"{where}: no source given")
        out[(rel, lang)] = AskedRelation(rel, lang, srcs, type_set, flag_set, answer)
    return tuple(out.values())


def load_phrasings() -> tuple[Phrasing, ...]:
    """The packaged phrasings, ``kgrag/eval/data/patient_phrasings.tsv``."""
    return parse_phrasings(data_text("kgrag.eval", "data", "patient_phrasings.tsv"))


def load_relations() -> tuple[AskedRelation, ...]:
    """The packaged asked relations, ``kgrag/eval/data/patient_relations.tsv``."""
    return parse_relations(data_text("kgrag.eval", "data", "patient_relations.tsv"))


class PatientSetMaker:
    """Writes the held-out patient-phrased set from one KG.

    Args:
        kg: the store the questions are about.
        phrasings, relations: the banks; the packaged ones by default.
        split_seed: seed of the KG-QA entity split (keep the default: the adapter's data used it).

    Raises:
        ConfigError: a phrasing of a relation the relations file does not list for its language, or
            a listed relation without phrasings.
    """

    def __init__(self, kg: KnowledgeGraph, phrasings: Sequence[Phrasing] | None = None,
                 relations: Sequence[AskedRelation] | None = None, *, split_seed: int = 0,
                 bank: TemplateBank | None = None) -> None:
        self.kg = kg
        self.phrasings = tuple(load_phrasings() if phrasings is None else phrasings)
        self.relations = tuple(load_relations() if relations is None else relations)
        listed = {(r.relation, r.lang) for r in self.relations}
        if stray := next((p for p in self.phrasings if (p.relation, p.lang) not in listed), None):
            raise ConfigError(f"{PHRASINGS_FILE}: phrasing {stray.id!r} asks for {stray.relation!r} in {stray.lang}, "
                              f"which {RELATIONS_FILE} does not list")
        asked = {(p.relation, p.lang) for p in self.phrasings}
        if bare := next((r for r in self.relations if (r.relation, r.lang) not in asked), None):
            raise ConfigError(f"{RELATIONS_FILE}: relation {bare.relation!r} ({bare.lang}) has no phrasing in "
                              f"{PHRASINGS_FILE}")
        self.bank = bank or load_bank()
        self.names = EntityNames(kg, split_seed)
        self._rel, self._head = np.asarray(kg.fact_relation_codes()), np.asarray(kg.fact_heads())

    def make(self, n_per_lang: int, *, langs: Sequence[str] = LANGS, seed: int = 0) -> list[QARecord]:
        """Up to ``n_per_lang`` questions per language, one per entity, spread evenly over the
        language's relations (a relation that runs out of entities leaves its share to the
        others) and, within a relation, over its phrasings in turn.

        Raises:
            ConfigError: ``n_per_lang`` below 1 or an unknown language.
        """
        if n_per_lang < 1:
            raise ConfigError(f"n_per_lang must be at least 1; got {n_per_lang}")
        if unknown := [x for x in langs if x not in LANGS]:
            raise ConfigError(f"unknown language {unknown[0]!r}; choose from {', '.join(LANGS)}")
        return [r for lang in langs for r in self._make_lang(n_per_lang, lang, seed)]

    def _make_lang(self, n: int, lang: str, seed: int) -> list[QARecord]:
        specs = {r.relation: r for r in self.relations if r.lang == lang}
        for rel in [r for r in specs if self.kg.relation_code(r) is None]:
            log.info("the store has no %s facts: no %s questions about it", rel, lang)
            del specs[rel]
        phrasings: dict[str, list[Phrasing]] = {}
        for p in self.phrasings:
            if p.lang == lang and p.relation in specs:
                phrasings.setdefault(p.relation, []).append(p)
        for rel, ps in phrasings.items():
            random.Random(f"{seed}\t{lang}\t{rel}\tphrasings").shuffle(ps)
        streams = {rel: self._records(specs[rel], phrasings[rel], seed) for rel in sorted(specs)}
        used: set[int] = set()
        out: list[QARecord] = []
        while streams and len(out) < n:
            for rel in list(streams):
                rec = next(((row, r) for row, r in streams[rel] if row not in used), None)
                if rec is None:
                    del streams[rel]
                    continue
                used.add(rec[0])
                out.append(rec[1])
                if len(out) >= n:
                    break
        return out

    def _records(self, spec: AskedRelation, phrasings: list[Phrasing], seed: int) -> Iterator[tuple[int, QARecord]]:
        """(entity row, record) for the relation's test-split entities, in seeded random order,
        the phrasings taken in turn."""
        kg, lang = self.kg, spec.lang
        code = kg.relation_code(spec.relation)
        heads = np.unique(self._head[self._rel == code]).tolist()
        pool = [h for h in heads if kg.entity_source(h) in spec.sources
                and (not spec.types or set(kg.types_of(h)) <= spec.types)]
        random.Random(f"{seed}\t{lang}\t{spec.relation}").shuffle(pool)
        made = 0
        for row in pool:
            if self.names.split_of(row) != SPLIT:
                continue
            name = self.names.surface(row, lang)
            if name is None or is_junk(name) or (lang == "en" and kg.entity_source(row) == "cmekg"
                                                  and self.names.glued(name)):
                continue
            record = self._record(row, name, spec, phrasings[made % len(phrasings)])
            if record is not None:
                made += 1
                yield row, record

    def _item(self, fact: int, spec: AskedRelation) -> str | None:
        tail = self.kg.fact_tail(fact)
        if tail >= 0:
            label = self.names.label(tail, spec.lang)
            return label or (clean_item(self.kg.entity_name(tail)) or None if "any_script" in spec.flags else None)
        value = self.kg.fact_value(fact) or ""
        if "any_script" in spec.flags:
            return clean_item(value) or None
        return literal_item(value, spec.lang, spec.relation)

    def _record(self, row: int, name: str, spec: AskedRelation, phrasing: Phrasing) -> QARecord | None:
        kg = self.kg
        code = kg.relation_code(spec.relation)
        out = kg.out_facts(row)
        facts = tuple(sorted(int(j) for j in out[self._rel[out] == code]))
        items: dict[str, str] = {}
        for j in facts:
            text = self._item(j, spec)
            if text and not is_junk(text) and text.casefold() != name.casefold():
                items.setdefault(text.casefold(), text)
        answer = self._answer(spec, name, list(items.values()), facts)
        if not facts or answer is None:
            return None
        head = kg.entity_id(row)
        return QARecord(
            id=f"{spec.lang}:relation:{spec.relation}:{head}:{phrasing.id}", type="relation",
            relation=spec.relation, lang=spec.lang, source=kg.fact_source(facts[0]), head=head, head_name=name,
            split=SPLIT, template=phrasing.id, question=render(phrasing.text, X=name), answer=answer,
            facts=facts, family=FAMILY_PREFIX + phrasing.style,
        )

    def _answer(self, spec: AskedRelation, name: str, items: list[str], facts: tuple[int, ...]) -> str | None:
        if "yes_no" in spec.flags:
            return self._yes_no(spec, name, facts)
        if not items:
            return None
        text = join_items(items, spec.lang, cap=MAX_ITEMS, literal="clauses" in spec.flags)
        return finish(render(spec.answer, X=name, ITEMS=text), spec.lang)

    def _yes_no(self, spec: AskedRelation, name: str, facts: tuple[int, ...]) -> str | None:
        """The KG-QA bank's sentence for a yes/no value as the store writes it ("有", "无"), as the
        KG-QA generator reads it; None for any other value."""
        values = {clean_item(self.kg.fact_tail_text(j)) for j in facts}
        if len(values) != 1:
            return None
        value = values.pop()
        key = CONTAGIOUS_YES if value.startswith(("有", "是")) else CONTAGIOUS_NO if value.startswith(
            ("无", "否", "不")) else None
        answers = self.bank.answers_for("relation", key, spec.lang) if key else ()
        return finish(render(answers[0].text, X=name), spec.lang) if answers else None


def style_counts(records: Sequence[QARecord]) -> dict[str, int]:
    """How many records each ``lang/family`` has (a summary for the command's output)."""
    return dict(sorted(Counter(f"{r.lang}/{r.family}" for r in records).items()))
