"""Held-out evaluation questions generated from the KG, with their gold facts.

This is question *generation* (it reads only the KG), so it lives with the KG-QA data generator,
which names and splits entities the same way; the scoring of these questions is
:mod:`kgrag.eval.retrieval`.

A question asks about one (head entity, relation) pair, e.g. (cmekg:痛风, has_symptom); its
**gold** is every fact row of that head and relation: any of them in the top k is a hit. Its
**accepted** set adds the same answer reached through a *twin* of the head: a fact of the same
relation and the same tail text (case-folded) whose head is at most two identity links away
(``same_english_name``, ``same_umls_cui``) in another vocabulary (id prefix ``cmekg``,
``hpo:OMIM``, ``hpo:ORPHA``, ``mondo:MONDO`` ...), e.g. hpo:OMIM:154700 and hpo:ORPHA:558
"Marfan syndrome", joined through MONDO, annotating the same phenotype. ``same_icd10_code`` is
no identity (H65.9 joins 卡他性中耳炎 and 分泌性中耳炎). Two relations accept more, because the KG
answers them in a second form: a definition question ("what is X", asked as ``is_a``) accepts the
source's own ``definition`` of X or of a twin, and a code question (``icd10``) the ICD-10-CM code
fact of an entity that ``same_icd10_code`` links X to (that link says it is the same code).
Metrics use ``accepted``; ``gold`` gives the strict figures.

Questions come from ``data/retrieval_questions.tsv`` in two styles, ``template`` and ``colloquial``.
Chinese questions name CMeKG heads by their name; English ones name HPO and MONDO heads by name
and CMeKG heads by an English alias (``english_name``): the cross-lingual case. A head is
skipped when its name is short, generic (the linker's hand-kept stop names), written with
catalogue punctuation, pinyin (2,800 CMeKG "English names" are transliterations such as "Liu wei
Di huang Wan" that no English speaker asks with), or shared with any entity but its twins.
Entities are split into ``dev``/``test`` by a seeded hash of the smallest id of their link
component (every link kind), so neither twins nor diseases sharing an ICD code straddle the
split: tune on ``dev``, report on ``test``.

Example:
    >>> gen = QuestionGenerator(load_store("kg/store/default"))
    >>> qs = gen.generate(600, langs=("zh", "en"), split="test", seed=0)
    >>> qs[0].text, qs[0].relation, len(qs[0].gold)
"""

from __future__ import annotations

import hashlib
import random
import re
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from functools import cached_property

import numpy as np

from kgrag.errors import ConfigError
from kgrag.kg.graph import KnowledgeGraph, normalize_name
from kgrag.lang import LANGS, is_pinyin
from kgrag.tsv import data_text, tsv_rows

STYLES = ("template", "colloquial")
SPLITS = ("dev", "test", "all")
DEV_FRACTION = 0.2
PLACEHOLDER = "{X}"
IDENTITY_LINKS = frozenset({"same_english_name", "same_umls_cui"})
# Where each relation's heads come from, per language; relations not listed: CMeKG.
HEAD_SOURCES: dict[str, dict[str, tuple[str, ...]]] = {
    "has_phenotype": {"en": ("hpo",)},
    "inheritance": {"en": ("hpo",)},
    "is_a": {"en": ("cmekg", "mondo")},
}
_ZH_NAME = re.compile(r"[\u3400-\u9fffA-Za-z0-9]{2,16}")
_EN_NAME = re.compile(r"[A-Za-z][A-Za-z0-9 '\-]{3,59}")
_SEPARATORS = re.compile(r"[;；]")
_MAX_COMPONENT = 64


@dataclass(frozen=True, slots=True)
class Template:
    """One question template (a row of ``data/retrieval_questions.tsv``)."""

    id: str
    relation: str
    lang: str
    style: str
    text: str


@dataclass(frozen=True, slots=True)
class EvalQuestion:
    """A generated question and what counts as retrieving its answer.

    Attributes:
        qid: stable id ``lang:relation:head:template``.
        text, lang, style, relation, template: the question and how it was made.
        head, head_name: the entity asked about and the name the question calls it by.
        split: ``dev`` or ``test``.
        twins: ids of the head's twins (module docstring).
        gold: fact rows of ``head`` and ``relation``.
        accepted: ``gold`` plus the twins' facts of ``relation`` with a gold tail text.
    """

    qid: str
    text: str
    lang: str
    style: str
    relation: str
    template: str
    head: str
    head_name: str
    split: str
    twins: tuple[str, ...]
    gold: tuple[int, ...]
    accepted: tuple[int, ...]

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def parse_templates(text: str, source: str = "<templates>") -> tuple[Template, ...]:
    """Templates from TSV text (format: the header of ``data/retrieval_questions.tsv``).

    Raises:
        ConfigError: naming the line of a malformed row, an unknown relation, language or style,
            a text without exactly one ``{X}``, or a duplicate id.
    """
    from kgrag.kg.relations import vocabulary

    vocab, out = vocabulary(), {}
    for n, fields in tsv_rows(text):
        parts = [p.strip() for p in fields]
        if len(parts) != 5:
            raise ConfigError(f"{source}:{n}: expected 5 tab-separated fields: id relation lang style text")
        t = Template(*parts)
        if t.relation not in vocab:
            raise ConfigError(f"{source}:{n}: unknown relation {t.relation!r} (see kgrag/kg/data/relations.tsv)")
        if t.lang not in LANGS or t.style not in STYLES:
            raise ConfigError(f"{source}:{n}: lang must be one of {LANGS} and style one of {STYLES}")
        if t.text.count(PLACEHOLDER) != 1 or t.id in out:
            raise ConfigError(f"{source}:{n}: {PLACEHOLDER} must occur exactly once and ids be unique: {t}")
        out[t.id] = t
    return tuple(out.values())


def load_templates() -> tuple[Template, ...]:
    """The packaged templates, ``kgrag/kgqa/data/retrieval_questions.tsv``."""
    text = data_text("kgrag.kgqa", "data", "retrieval_questions.tsv")
    return parse_templates(text, "kgrag/kgqa/data/retrieval_questions.tsv")


def namespace(entity_id: str) -> str:
    """The vocabulary of an id: ``cmekg:糖尿病`` → ``cmekg``, ``hpo:OMIM:154700`` → ``hpo:OMIM``."""
    return entity_id.rsplit(":", 1)[0]


def hash_split(key: str, split_seed: int = 0, dev_fraction: float = DEV_FRACTION) -> str:
    """``dev`` or ``test`` for ``key``: a seeded sha256, stable across runs and machines."""
    digest = hashlib.sha256(f"{split_seed}\t{key}".encode()).digest()
    return "dev" if int.from_bytes(digest[:8], "big") / 2**64 < dev_fraction else "test"


class QuestionGenerator:
    """Generates evaluation questions from one KG.

    Args:
        kg: the graph.
        templates: question templates; the packaged ones by default.
        split_seed: seed of the dev/test hash (keep it fixed: another one reshuffles the split).
        dev_fraction: share of link components in ``dev``.
        max_per_head: most questions about one head, per language.
    """

    def __init__(
        self,
        kg: KnowledgeGraph,
        templates: Sequence[Template] | None = None,
        *,
        split_seed: int = 0,
        dev_fraction: float = DEV_FRACTION,
        max_per_head: int = 2,
    ) -> None:
        if not 0 <= dev_fraction <= 1:
            raise ConfigError(f"dev_fraction must be in [0, 1]; got {dev_fraction}")
        if max_per_head < 1:
            raise ConfigError(f"max_per_head must be at least 1; got {max_per_head}")
        self.kg = kg
        self.templates = tuple(load_templates() if templates is None else templates)
        self.split_seed, self.dev_fraction, self.max_per_head = split_seed, dev_fraction, max_per_head
        self._rel, self._head = np.asarray(kg.fact_relation_codes()), np.asarray(kg.fact_heads())
        self._cache: dict[tuple[frozenset[str] | None, int, int], tuple[int, ...]] = {}

    @cached_property
    def _stop(self) -> frozenset[str]:
        from kgrag.retrieval.names import stop_names

        return stop_names()["en"] | stop_names()["zh"]

    def _walk(self, row: int, kinds: frozenset[str] | None, hops: int) -> tuple[int, ...]:
        """``row`` and the entities at most ``hops`` links of ``kinds`` (None: any) away, sorted."""
        if (key := (kinds, hops, row)) not in self._cache:
            rels = self.kg.relation_names
            seen, frontier = {row}, [row]
            for _ in range(hops):
                if not frontier or len(seen) >= _MAX_COMPONENT:
                    break
                nxt = []
                for r in frontier:
                    for j, other in self.kg.links_of(r):
                        if other not in seen and (kinds is None or rels[int(self._rel[j])] in kinds):
                            seen.add(other)
                            nxt.append(other)
                frontier = nxt
            self._cache[key] = tuple(sorted(seen))
        return self._cache[key]

    def twins(self, row: int) -> tuple[int, ...]:
        """Entities at most two identity links from ``row``, in another vocabulary."""
        ns = namespace(self.kg.entity_id(row))
        return tuple(r for r in self._walk(row, IDENTITY_LINKS, 2) if namespace(self.kg.entity_id(r)) != ns)

    def split_of(self, row: int) -> str:
        """``dev`` or ``test``: the hash of the smallest id of ``row``'s link component."""
        key = min(self.kg.entity_id(r) for r in self._walk(row, None, _MAX_COMPONENT))
        return hash_split(key, self.split_seed, self.dev_fraction)

    def facts(self, row: int, relation: str) -> tuple[int, ...]:
        """Fact rows of head ``row`` and ``relation``."""
        code = self.kg.relation_code(relation)
        out = self.kg.out_facts(row)
        return tuple(int(j) for j in out[self._rel[out] == code]) if code is not None else ()

    def surface(self, row: int, lang: str) -> str | None:
        """The name a ``lang`` question calls entity ``row`` by, or None when it has no usable,
        unambiguous one (CMeKG entities in English: their first usable English name)."""
        if lang == "zh" or self.kg.entity_source(row) != "cmekg":
            names = [self.kg.entity_name(row)]
        else:
            values = (self.kg.fact_tail_text(j) for j in self.facts(row, "english_name"))
            names = [part.strip() for v in values for part in _SEPARATORS.split(v)]
        allowed = {row, *self.twins(row)}
        for name in names:
            if self._usable(name, lang) and set(self.kg.name_index().get(normalize_name(name), [])) <= allowed:
                return name
        return None

    def _usable(self, name: str, lang: str) -> bool:
        if normalize_name(name) in self._stop:
            return False
        if lang == "zh":
            return bool(_ZH_NAME.fullmatch(name) and re.search(r"[\u3400-\u9fff]", name))
        return bool(_EN_NAME.fullmatch(name) and re.search(r"[A-Za-z]{4}", name)) and not (
            name.isupper() or is_pinyin(name)
        )

    def _candidates(self, lang: str, relation: str, split: str, seed: int) -> Iterator[tuple[int, str]]:
        """Usable heads of ``relation`` in ``split`` with their names, in seeded random order."""
        code = self.kg.relation_code(relation)
        heads = np.unique(self._head[self._rel == code]) if code is not None else np.zeros(0, np.int64)
        sources = HEAD_SOURCES.get(relation, {}).get(lang, ("cmekg",))
        pool = [int(h) for h in heads if self.kg.entity_source(int(h)) in sources]
        random.Random(f"{seed}\t{lang}\t{relation}").shuffle(pool)
        for row in pool:
            if split == "all" or self.split_of(row) == split:
                name = self.surface(row, lang)
                if name is not None:
                    yield row, name

    def question(self, row: int, name: str, template: Template) -> EvalQuestion:
        """The question ``template`` makes about entity ``row`` called ``name``."""
        kg, rel = self.kg, template.relation
        gold = self.facts(row, rel)
        tails = {kg.fact_tail_text(j).casefold() for j in gold}
        twins = self.twins(row)
        extra = [j for t in twins for j in self.facts(t, rel) if kg.fact_tail_text(j).casefold() in tails]
        if rel == "is_a":
            extra += [j for t in (row, *twins) for j in self.facts(t, "definition")]
        elif rel == "icd10":
            extra += [j for link, t in kg.links_of(row) if kg.fact_relation(link) == "same_icd10_code"
                      for j in self.facts(t, "icd10")]
        head = kg.entity_id(row)
        return EvalQuestion(
            qid=f"{template.lang}:{rel}:{head}:{template.id}",
            text=template.text.replace(PLACEHOLDER, name),
            lang=template.lang,
            style=template.style,
            relation=rel,
            template=template.id,
            head=head,
            head_name=name,
            split=self.split_of(row),
            twins=tuple(kg.entity_id(t) for t in twins),
            gold=gold,
            accepted=tuple(sorted({*gold, *extra})),
        )

    def generate(
        self, n_per_lang: int, *, langs: Sequence[str] = LANGS, split: str = "test", seed: int = 0
    ) -> list[EvalQuestion]:
        """Up to ``n_per_lang`` questions per language, spread evenly over relations (round robin:
        a relation that runs out of heads leaves its share to the others) and styles.

        Args:
            n_per_lang: questions per language.
            langs: languages, of ``LANGS``.
            split: ``dev``, ``test`` or ``all``.
            seed: sampling seed; the same seed gives the same questions.

        Raises:
            ConfigError: an unknown language or split, or ``n_per_lang`` below 1.
        """
        if n_per_lang < 1:
            raise ConfigError(f"n_per_lang must be at least 1; got {n_per_lang}")
        if split not in SPLITS:
            raise ConfigError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")
        if unknown := [x for x in langs if x not in LANGS]:
            raise ConfigError(f"unknown language {unknown[0]!r}; choose from {', '.join(LANGS)}")
        return [q for lang in langs for q in self._generate_lang(n_per_lang, lang, split, seed)]

    def _generate_lang(self, n: int, lang: str, split: str, seed: int) -> list[EvalQuestion]:
        rng = random.Random(f"{seed}\t{lang}")
        by_key: dict[tuple[str, str], list[Template]] = {}
        for t in self.templates:
            if t.lang == lang:
                by_key.setdefault((t.relation, t.style), []).append(t)
        relations = sorted({rel for rel, _ in by_key})
        streams = {r: self._candidates(lang, r, split, seed) for r in relations}
        offset = {r: rng.randrange(len(STYLES)) for r in relations}
        made: Counter[str] = Counter()
        per_head: Counter[int] = Counter()
        out: list[EvalQuestion] = []
        while streams and len(out) < n:
            for rel in list(streams):
                pick = next(((r, name) for r, name in streams[rel] if per_head[r] < self.max_per_head), None)
                if pick is None:
                    del streams[rel]
                    continue
                style = STYLES[(made[rel] + offset[rel]) % len(STYLES)]
                choices = by_key.get((rel, style)) or [t for (r, _), ts in by_key.items() if r == rel for t in ts]
                per_head[pick[0]] += 1
                made[rel] += 1
                out.append(self.question(*pick, rng.choice(choices)))
                if len(out) >= n:
                    break
        return out
