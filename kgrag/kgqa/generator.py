"""KG-QA generation: question/answer pairs about the KG's entities, split by entity, for fine-tuning.

Four kinds of record, in Chinese and English (:data:`~kgrag.kgqa.templates.TYPES`):

* ``description``: 什么是X？ / What is X? → a definition (HPO, MONDO) or sentences composed from
  the entity's facts (CMeKG, ICD-10-CM);
* ``relation``: one relation of one entity (X的常见症状有哪些？) → a sentence naming its tails,
  at most 8, "包括…等" / "include …, among others" when there are more;
* ``pair``: X和Y是什么关系？ → "Y是X的常见症状。" (every relation between the two);
* ``choice``: four or five options, one true (its letter uniform); the distractors are tails of the same relation and
  type elsewhere in the KG that are not tails of the head or of its twins, by row or by name.

Entities are named as the retrieval eval names them (:meth:`QuestionGenerator.surface`): CMeKG
entities by their Chinese name, or in English by their English name; HPO, MONDO and ICD-10-CM
entities by name in English. An entity with no fact of a relation answers it with its twins'
facts (same English name or UMLS concept across sources), tail names translated through the
tails' own twins and English names; tails with no name in the question's language are left out.

Records are split train/validation/test by entity: a seeded hash of the smallest id of the
head's link component (:func:`kgrag.kgqa.questions.hash_split`, the eval's key), so twins
never straddle splits. Identical (question, answer) pairs are kept once.

Example:
    >>> gen = KGQAGenerator(load_store("kg/store/default"), seed=0)
    >>> records = gen.generate(limit=1000)
    >>> records[0].type, records[0].question, records[0].answer
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from kgrag.errors import ConfigError
from kgrag.kg.graph import KnowledgeGraph
from kgrag.kgqa.dataset_formats import QARecord
from kgrag.kgqa.entities import EntityNames
from kgrag.kgqa.templates import (
    CONTAGIOUS_NO,
    CONTAGIOUS_YES,
    DEFINITION,
    LANGS,
    TYPES,
    Template,
    TemplateBank,
    finish,
    from_definition,
    has_cjk,
    is_junk,
    join_items,
    literal_item,
    load_bank,
    render,
)

log = logging.getLogger(__name__)

LETTERS = "ABCDE"
DESCRIBE_ITEMS = 5
_LITERAL_LISTS = frozenset({"contraindication", "dosage", "precaution", "cmekg_functions_indications"})
_SOURCE_LABEL = {"hpo": "The Human Phenotype Ontology", "mondo": "The Mondo Disease Ontology"}
Progress = Callable[[int, int], None]


@dataclass(frozen=True, slots=True)
class _Group:
    """Facts of one relation about one entity, as positions into the generator's fact arrays."""

    rel: str
    code: int
    owner: int
    facts: tuple[int, ...]


class KGQAGenerator:
    """Generates :class:`QARecord` s from one KG.

    Args:
        kg: the graph.
        bank: the phrasings; the packaged ones by default.
        seed: sampling seed (templates, tails, distractors, order): the same seed gives the same data.
        split_seed: seed of the split hash; keep it fixed (another one reshuffles the split).
    """

    def __init__(self, kg: KnowledgeGraph, bank: TemplateBank | None = None, *, seed: int = 0,
                 split_seed: int = 0) -> None:
        self.kg, self.bank, self.seed = kg, bank or load_bank(), seed
        self.names = EntityNames(kg, split_seed)
        n = self.names
        self._ids, self._src, self._type, self._labels = n.ids, n.sources, n.type, n.labels

    def valid_relations(self) -> list[str]:
        """Relation names ``relations=`` accepts: ``definition`` (descriptions) and the bank's."""
        return valid_relations(self.bank)

    # -- facts ---------------------------------------------------------------------------------
    def _index(self, relations: Sequence[str], sources: Sequence[str]) -> None:
        kg = self.kg
        codes = [c for r in relations if (c := kg.relation_code(r)) is not None]
        src_codes = [c for s in sources if (c := kg.source_code(s)) is not None]
        f_rel, f_head = np.asarray(kg.fact_relation_codes()), np.asarray(kg.fact_heads())
        f_tail, f_source = np.asarray(kg.fact_tails()), np.asarray(kg.fact_source_codes())
        rows = np.flatnonzero(np.isin(f_rel, codes) & np.isin(f_source, src_codes))
        rows = rows[np.lexsort((rows, f_rel[rows], f_head[rows]))]
        h, r = f_head[rows], f_rel[rows]
        starts = np.r_[0, np.flatnonzero((np.diff(h) != 0) | (np.diff(r) != 0)) + 1] if len(rows) else rows[:0]
        ends = np.r_[starts[1:], len(rows)]
        self._fact_row, self._tail = rows.tolist(), f_tail[rows].tolist()
        self._value = np.asarray(kg.fact_value_rows())[rows].tolist()
        self._rel_of = [kg.relation_names[c] for c in r.tolist()]
        self._fsrc = [kg.source_names[s] for s in f_source[rows].tolist()]
        self._groups: dict[int, dict[int, tuple[int, int]]] = {}
        for hh, rr, s, e in zip(h[starts].tolist(), r[starts].tolist(), starts.tolist(), ends.tolist(), strict=True):
            self._groups.setdefault(hh, {})[rr] = (s, e)
        self._pool_rows = {c: np.unique(f_tail[rows[r == c]]) for c in codes}
        self._pools: dict[tuple[int, int], np.ndarray] = {}
        self._truth_cache: tuple[tuple[int, int], tuple[set[int], set[str]]] = ((-1, -1), (set(), set()))
        self._values = list(kg.all_values())

    def _groups_of(self, row: int) -> list[_Group]:
        """The entity's own relation groups, then its twins' for relations it has none of."""
        rels = self.kg.relation_names
        own = self._groups.get(row, {})
        out = [_Group(rels[c], c, row, tuple(range(s, e))) for c, (s, e) in own.items()]
        extra: dict[int, tuple[int, list[int]]] = {}
        for t in self.names.twins(row):
            for c, (s, e) in self._groups.get(t, {}).items():
                if c not in own:
                    extra.setdefault(c, (t, []))[1].extend(range(s, e))
        return out + [_Group(rels[c], c, t, tuple(fs)) for c, (t, fs) in extra.items()]

    def _item(self, pos: int, lang: str) -> str | None:
        t = self._tail[pos]
        if t >= 0:
            return self._labels[lang][t]
        return literal_item(self._values[self._value[pos]], lang, self._rel_of[pos])

    # -- records -------------------------------------------------------------------------------
    def generate(self, *, relations: Sequence[str] | None = None, langs: Sequence[str] = LANGS,
                 sources: Sequence[str] | None = None, types: Sequence[str] = TYPES, limit: int | None = None,
                 progress: Progress | None = None) -> list[QARecord]:
        """Records about the KG's entities, heads in seeded random order, each (question, answer) once.

        Args:
            relations: relations to ask about (:meth:`valid_relations`); all by default.
            langs: question languages, of ``zh`` and ``en``.
            sources: KG sources whose entities and facts are used; all by default.
            types: record types, of :data:`~kgrag.kgqa.templates.TYPES`.
            limit: stop after this many records.
            progress: called with (heads done, heads in all) now and then.

        Returns:
            The records, grouped by head in generation order (the writer shuffles each split).

        Raises:
            ConfigError: an empty or unknown relation, language, source or type (the message lists
                the valid ones), or a ``limit`` below 1.
        """
        rels, langs, srcs, types = check_request(self.kg, self.bank, relations=relations, langs=langs, sources=sources,
                                                 types=types, limit=limit)
        self._index([r for r in rels if r in self.bank.relations], srcs)
        self._want = set(rels)
        heads = self._heads(srcs, DEFINITION in rels)
        random.Random(f"{self.seed}\theads").shuffle(heads)
        out: list[QARecord] = []
        seen: set[tuple[str, str]] = set()
        for n, row in enumerate(heads, 1):
            for rec in self._records(row, langs, types):
                if (rec.question, rec.answer) not in seen:
                    seen.add((rec.question, rec.answer))
                    out.append(rec)
            if progress is not None and (n % 2000 == 0 or n == len(heads)):
                progress(n, len(heads))
            if limit is not None and len(out) >= limit:
                if progress is not None:
                    progress(len(heads), len(heads))
                return out[:limit]
        return out

    def _heads(self, sources: Sequence[str], descriptions: bool) -> list[int]:
        rows = set(self._groups)
        if descriptions or "icd10" in self._want:
            lengths = self.kg.description_lengths()
            rows.update(np.flatnonzero(lengths > 0).tolist())
            rows.update(i for i, eid in enumerate(self._ids) if eid.startswith("icd10cm:"))
        return sorted(r for r in rows if self._src[r] in sources)

    def _records(self, row: int, langs: Sequence[str], types: Sequence[str]) -> Iterable[QARecord]:
        rng = random.Random(f"{self.seed}\t{self._ids[row]}")
        groups: list[_Group] | None = None
        self._item_cache: dict[tuple[int, int, str], tuple[list[str], list[int], list[int]]] = {}
        for lang in langs:
            name = self.names.surface(row, lang)
            if name is None or is_junk(name) or self._twin_named(row, name, lang) or (
                    lang == "en" and self._src[row] == "cmekg" and self.names.glued(name)):
                continue
            groups = self._groups_of(row) if groups is None else groups
            self._paired: set[str] = set()
            base = dict(lang=lang, head=self._ids[row], head_name=name, split=self.names.split_of(row))
            if "description" in types and DEFINITION in self._want:
                yield from self._description(row, name, lang, groups, rng, base)
            for g in self._with_icd(row, groups):
                if "relation" in types:
                    yield from self._relation(g, name, lang, rng, base)
                if self.kg.vocab.get(g.rel).kind == "entity" and g.facts:
                    if "pair" in types:
                        yield from self._pair(g, name, lang, rng, base)
                    if "choice" in types:
                        yield from self._choice(row, g, name, lang, rng, base)

    def _twin_named(self, row: int, name: str, lang: str) -> bool:
        """Whether a twin of ``row`` goes by the same name in ``lang`` and comes first (an entity
        named in its own language first, then by id): the questions would be the same, so only
        that twin is asked about (with ``row``'s facts where it has none of a relation)."""
        def rank(r: int) -> tuple[bool, str]:
            return has_cjk(self.names.names[r]) != (lang == "zh"), self._ids[r]

        return any(rank(t) < rank(row) and (self.names.surface(t, lang) or "").casefold() == name.casefold()
                   for t in self.names.twins(row))

    def _with_icd(self, row: int, groups: list[_Group]) -> list[_Group]:
        """ICD-10-CM codes answer ``icd10`` questions from the entity's own id (in a store made
        before the loader wrote the code as an ``icd10`` fact)."""
        if ("icd10" in self._want and self.names.type_name(row) == "icd10cm code"
                and not any(g.rel == "icd10" for g in groups)):
            return [*groups, _Group("icd10", -1, row, ())]
        return groups

    def _items(self, g: _Group, lang: str) -> tuple[list[str], list[int]]:
        """The group's tail texts in ``lang`` (distinct, case-folded) and the fact rows stating them."""
        key = (g.code, g.owner, lang)
        if key not in self._item_cache:
            if g.code < 0:
                found: tuple[list[str], list[int], list[int]] = ([self._ids[g.owner].split(":", 1)[1]], [], [])
            else:
                found, seen = ([], [], []), set()
                for pos in g.facts:
                    text = self._item(pos, lang)
                    if text and text.casefold() not in seen and (g.rel == "contagious" or not is_junk(text)):
                        seen.add(text.casefold())
                        found[0].append(text)
                        found[1].append(self._fact_row[pos])
                        found[2].append(pos)
            self._item_cache[key] = found
        items, rows, _ = self._item_cache[key]
        return items, rows

    def _record(self, base: dict, type_: str, rel: str, q: Template, question: str,
                answer: str, source: str, **extra: object) -> QARecord:
        rid = f"{base['lang']}:{type_}:{rel}:{base['head']}:{q.id}"
        return QARecord(id=rid, type=type_, relation=rel, source=source, template=q.id, question=question,
                        answer=answer, **base, **extra)  # type: ignore[arg-type]

    def _sentence(self, g: _Group, items: list[str], name: str, lang: str, rng: random.Random,
                  cap: int = 8, first: bool = False) -> str | None:
        rel = g.rel
        if rel == "contagious":
            rel = CONTAGIOUS_YES if items[0].startswith(("有", "是")) else CONTAGIOUS_NO if items[0].startswith(
                ("无", "否", "不")) else ""
        answers = self.bank.answers_for("relation", rel, lang) if rel else ()
        if not answers:
            return None
        t = answers[0] if first else rng.choice(answers)
        text = join_items(items, lang, cap=cap, literal=g.rel in _LITERAL_LISTS)
        return finish(render(t.text, X=name, ITEMS=text), lang)

    def _relation(self, g: _Group, name: str, lang: str, rng: random.Random, base: dict) -> Iterable[QARecord]:
        items, used = self._items(g, lang)
        qs = self.bank.questions_for("relation", g.rel, lang)
        if not items or not qs or (sentence := self._sentence(g, items, name, lang, rng)) is None:
            return
        q = rng.choice(qs)
        source = self._fsrc[g.facts[0]] if g.facts else self._src[g.owner]
        yield self._record(base, "relation", g.rel, q, render(q.text, X=name), sentence, source,
                           facts=tuple(used[:8]))

    def _pair_sentence(self, rel: str, name: str, other: str, lang: str, rng: random.Random) -> str:
        t = rng.choice(self.bank.answers_for("pair", rel, lang))
        return finish(render(t.text, X=name, Y=other, R=self.bank.relations[rel].noun(lang)), lang)

    def _pick(self, g: _Group, lang: str, rng: random.Random) -> tuple[int, str] | None:
        """A random fact of the group with its tail's text in ``lang``."""
        items, _ = self._items(g, lang)
        if not items:
            return None
        k = rng.randrange(len(items))
        return self._item_cache[(g.code, g.owner, lang)][2][k], items[k]

    def _pair(self, g: _Group, name: str, lang: str, rng: random.Random, base: dict) -> Iterable[QARecord]:
        pick = self._pick(g, lang, rng)
        if pick is None or pick[1].casefold() in (name.casefold(), *self._paired):
            return  # a pair is asked once (its answer names every relation between the two)
        pos, other = pick
        self._paired.add(other.casefold())
        tail, rels = self._tail[pos], self.kg.relation_names
        owner = self.kg.fact_head(self._fact_row[pos])
        between = [(rels[c], s + self._tail[s:e].index(tail)) for c, (s, e) in self._groups.get(owner, {}).items()
                   if rels[c] in self.bank.relations and tail in self._tail[s:e]][:3] or [(g.rel, pos)]
        answer = ("" if lang == "zh" else " ").join(self._pair_sentence(r, name, other, lang, rng) for r, _ in between)
        q = rng.choice(self.bank.questions_for("pair", g.rel, lang))
        yield self._record(base, "pair", g.rel, q, render(q.text, X=name, Y=other), answer, self._fsrc[pos],
                           facts=tuple(self._fact_row[p] for _, p in between))

    def _pool(self, code: int, type_: int) -> np.ndarray:
        if (code, type_) not in self._pools:
            rows = self._pool_rows[code]
            same = rows[self._type[rows] == type_]
            self._pools[(code, type_)] = same if len(same) >= 20 else rows
        return self._pools[(code, type_)]

    def _truth(self, row: int, code: int) -> tuple[set[int], set[str]]:
        """The tails of ``code`` of the entity and its twins, and their names in both languages."""
        key = (row, code)
        if self._truth_cache[0] != key:
            truth = {self._tail[p] for owner in (row, *self.names.twins(row))
                     if (se := self._groups.get(owner, {}).get(code)) for p in range(*se)}
            names = {x.casefold() for t in truth for lg in LANGS if (x := self._labels[lg][t])}
            self._truth_cache = (key, (truth, names))
        return self._truth_cache[1]

    def _choice(self, row: int, g: _Group, name: str, lang: str, rng: random.Random,
                base: dict) -> Iterable[QARecord]:
        pick = self._pick(g, lang, rng)
        if pick is None:
            return
        pos, right = pick
        truth, known = self._truth(row, g.code)
        banned = {name.casefold(), right.casefold(), *known}
        pool, chosen = self._pool(g.code, int(self._type[self._tail[pos]])), []
        want = rng.choice((3, 4))  # four or five options, as exams have them
        for _ in range(50):
            c = int(pool[rng.randrange(len(pool))])
            lab = self._labels[lang][c] if c not in truth and c != row else None
            if lab and lab.casefold() not in banned and not any(t in truth for t in self.names.twins(c)):
                banned.add(lab.casefold())
                chosen.append(lab)
                if len(chosen) == want:
                    break
        if len(chosen) < 3:
            return
        k = rng.randrange(len(chosen) + 1)  # the right letter uniform over the options: no letter favoured
        options = [*chosen[:k], right, *chosen[k:]]
        q = rng.choice(self.bank.questions_for("choice", g.rel, lang))
        spec = self.bank.relations[g.rel]
        lines = "\n".join(f"{LETTERS[i]}. {o}" for i, o in enumerate(options))
        question = render(q.text, X=name, R=spec.noun(lang)) + "\n" + lines
        a = rng.choice(self.bank.answers_for("choice", g.rel, lang))
        answer = render(a.text, LETTER=LETTERS[k], PAIR=self._pair_sentence(g.rel, name, right, lang, rng))
        yield self._record(base, "choice", g.rel, q, question, answer, self._fsrc[pos], options=tuple(options),
                           answer_index=k, facts=(self._fact_row[pos],))

    def _description(self, row: int, name: str, lang: str, groups: list[_Group], rng: random.Random,
                     base: dict) -> Iterable[QARecord]:
        source = self._src[row]
        desc = self.kg.description(row) if source != "cmekg" else ""
        sentences, used = [], []
        if desc and lang == "en":
            sentences.append(from_definition(name, desc, _SOURCE_LABEL.get(source, source.upper())))
            used += self._definition_facts(row)  # the source's definition, as the fact that grounds it
        elif (phrase := self.bank.type_phrase(self.kg.types_of(row), lang)) is not None:
            sentences.append(finish(f"{name}是{phrase}" if lang == "zh" else f"{name} is {phrase}", lang))
        specs = self.bank.relations
        ranked = sorted((g for g in self._with_icd(row, groups) if g.rel in specs and specs[g.rel].describe > 0),
                        key=lambda g: specs[g.rel].describe)
        clauses = 0
        for g in ranked:
            if clauses == (2 if desc else 3):
                break
            items, facts = self._items(g, lang)
            if items and (s := self._sentence(g, items, name, lang, rng, cap=DESCRIBE_ITEMS, first=True)):
                sentences.append(s)
                used += facts[:DESCRIBE_ITEMS]
                clauses += 1
        if not (desc and lang == "en") and clauses == 0:
            return  # a type alone ("X是一种药物。") says too little
        q = rng.choice(self.bank.questions_for("description", DEFINITION, lang))
        joined = ("" if lang == "zh" else " ").join(sentences)
        yield self._record(base, "description", DEFINITION, q, render(q.text, X=name), joined, source,
                           facts=tuple(used))


    def _definition_facts(self, row: int) -> list[int]:
        code = self.kg.relation_code(DEFINITION)
        if code is None:
            return []
        return [int(j) for j in self.kg.out_facts(row) if self.kg.fact_relation_code(int(j)) == code][:1]


def valid_relations(bank: TemplateBank | None = None) -> list[str]:
    """Relation names the dataset can ask about: ``definition`` (descriptions), then the bank's."""
    return [DEFINITION, *(bank or load_bank()).relations]


def check_request(kg: KnowledgeGraph, bank: TemplateBank, *, relations: Sequence[str] | None, langs: Sequence[str],
                  sources: Sequence[str] | None, types: Sequence[str], limit: int | None
                  ) -> tuple[list[str], list[str], list[str], list[str]]:
    """The validated relations, languages, sources and types of a request (defaults filled in).

    Raises:
        ConfigError: an empty or unknown relation, language, source or type (the message lists the
            valid ones), or a ``limit`` below 1.
    """
    valid = valid_relations(bank)
    srcs = [s for s in kg.source_names if s != "links"]
    if limit is not None and limit < 1:
        raise ConfigError(f"limit must be at least 1; got {limit}")
    return (_check("relation", list(valid if relations is None else relations), valid),
            _check("language", list(langs), list(LANGS)),
            _check("source", list(srcs if sources is None else sources), srcs),
            _check("type", list(types), list(TYPES)))


def _check(what: str, given: list[str], valid: list[str]) -> list[str]:
    given = [g.strip() for g in given if g.strip()]
    if not given:
        raise ConfigError(f"no {what} given; choose from: {', '.join(valid)}")
    if unknown := [g for g in given if g not in valid]:
        raise ConfigError(f"unknown {what} {unknown[0]!r}; choose from: {', '.join(valid)}")
    return list(dict.fromkeys(given))
