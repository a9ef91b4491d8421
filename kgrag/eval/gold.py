"""What an open KG-QA answer must name, and the rule that checks a model's answer against it.

A ``relation`` record (糖尿病的常见症状有哪些？) is answered by the tails of its ``facts`` rows, named
in the record's language as the dataset names them (:class:`~kgrag.kgqa.entities.EntityNames`
labels; literal values cleaned as the generator cleans them); the gold is the items the reference
answer actually names (at most 8). A ``pair`` record (X和Y是什么关系？) is answered by the
relation(s) between the two, one gold item per relation, named by its noun in the record's
language (kgqa/data/asked_relations.tsv: "常见症状" / "common symptom"), the KG vocabulary's label ("has symptom" →
"symptom") or the words of the relation's own pair answers ("属于", "falls under"; without them an
is_a reference answer, "X falls under Y.", would name no gold): see :func:`relation_terms`.
Every reference answer names all its gold items.

A prediction names an item when the item's match key (:func:`match_key`: NFKC, case-folded, with
whitespace, punctuation and symbols removed) is a substring of the prediction's. It is correct
when it names at least one gold item; its recall is the fraction of gold items it names.

Not scored: ``description`` records (free text with no list of items to find), and ``contagious``
relation records (a yes/no answer: "没有传染性" contains "传染性").

Example:
    >>> golds = GoldExtractor(load_store("kg/store/default"))
    >>> gold = golds.gold(example)
    >>> score_open("糖尿病的常见症状包括多饮、多尿。", gold).correct
"""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from kgrag.errors import ConfigError, DataError
from kgrag.kg.graph import KnowledgeGraph
from kgrag.kgqa.entities import EntityNames
from kgrag.kgqa.records import Example
from kgrag.kgqa.templates import TemplateBank, clean_item, literal_item, load_bank
from kgrag.text import nfkc_casefold

SKIP_DESCRIPTION = "description (free text: no items to match)"
SKIP_YES_NO = "contagious (a yes/no answer: no items to match)"
SKIP_NO_GOLD = "no gold item named in the reference answer"

_DROP = ("P", "S", "Z", "C")  # punctuation, symbols, separators, control characters
_ARTICLE = re.compile(r"^(?:a|an|the)\s+", re.IGNORECASE)
_PREPOSITION = re.compile(r"\s+(?:of|for|by|to|from|with|in)$", re.IGNORECASE)
_VERB = re.compile(r"^(?:has|is)\s+", re.IGNORECASE)
_PARENS = re.compile(r"\s*[(（][^)）]*[)）]")
_PLACEHOLDER = re.compile(r"\{[XY]\}")
_COPULAS = frozenset({"是", "为", "is", "are"})


@lru_cache(maxsize=65536)
def match_key(text: str) -> str:
    """``text`` as matching sees it: NFKC, case-folded, without whitespace, punctuation or symbols.

    Example:
        >>> match_key("Type 2  Diabetes-Mellitus。")
        'type2diabetesmellitus'
    """
    folded = nfkc_casefold(text)
    return "".join(ch for ch in folded if unicodedata.category(ch)[0] not in _DROP)


@dataclass(frozen=True, slots=True)
class Gold:
    """What an open answer should name: each item as the surface forms that count for it.

    Attributes:
        items: one tuple per gold item (a tail entity, or a relation), holding its accepted forms.
    """

    items: tuple[tuple[str, ...], ...]


@dataclass(frozen=True, slots=True)
class OpenScore:
    """How one prediction fares against its gold.

    Attributes:
        correct: at least one gold item is named.
        recall: the fraction of gold items named.
        found: per gold item, whether it is named.
    """

    correct: bool
    recall: float
    found: tuple[bool, ...]


def score_open(prediction: str, gold: Gold) -> OpenScore:
    """Score a generated answer: which gold items it names (see :func:`match_key`).

    Args:
        prediction: the model's answer.
        gold: the record's gold items; at least one.

    Raises:
        ValueError: ``gold`` has no item (such records are skipped, not scored).
    """
    if not gold.items:
        raise ConfigError("gold has no item to match; records without gold are skipped, not scored")
    text = match_key(prediction)
    found = tuple(any((k := match_key(f)) and k in text for f in forms) for forms in gold.items)
    return OpenScore(any(found), sum(found) / len(found), found)


def skip_reason(example: Example) -> str | None:
    """Why a KG-QA record is not scored by matching, or None when it is (choice records are scored
    by their options; relation and pair records by their gold)."""
    if example.type == "description":
        return SKIP_DESCRIPTION
    if example.type == "relation" and example.relation == "contagious":
        return SKIP_YES_NO
    return None


def _min_chars(lang: str) -> int:
    return 2 if lang == "zh" else 3


def connective(template: str) -> str:
    """The words of a pair answer phrasing that state the relation: the text between ``{X}`` and
    ``{Y}`` ("{X}属于{Y}。" → "属于"), or after them when that is a bare 是/is ("{X}是{Y}的一种。" →
    "的一种"), or before them; "" when there is none."""
    lead, between, trail = (p.strip(" \t。．.；;，,、") for p in (_PLACEHOLDER.split(template) + ["", ""])[:3])
    return next((p for p in (between, trail, lead) if p and p.casefold() not in _COPULAS), "")


def relation_terms(kg: KnowledgeGraph, relation: str, lang: str, bank: TemplateBank | None = None) -> tuple[str, ...]:
    """The words that name ``relation`` in ``lang``, each once: its noun in the dataset's phrasings
    (English without the article and final preposition: "a common symptom of" → "common
    symptom"); the KG vocabulary's label (English without a leading has/is: "has symptom" →
    "symptom"; "is a" is too short to count); and the :func:`connective` of each of the relation's
    own pair answer phrasings ("属于", "falls under"), so that every reference answer names its gold.
    A form that contains another is left out.

    Args:
        kg: the graph whose vocabulary labels the relation.
        relation: the relation id.
        lang: ``zh`` or ``en``.
        bank: the dataset's phrasings; the packaged ones by default.
    """
    bank = bank or load_bank()
    spec = bank.relations.get(relation)
    forms: list[str] = []
    if spec is not None:
        noun = spec.noun(lang)
        forms.append(noun if lang == "zh" else _PREPOSITION.sub("", _ARTICLE.sub("", noun)))
    label = kg.vocab.get(relation).label(lang) if relation in kg.relation_names else ""
    for part in label.split("/"):
        part = _PARENS.sub("", part).strip()
        forms.append(part if lang == "zh" else _VERB.sub("", part))
    forms += [connective(t.text) for t in bank.answers_for("pair", relation, lang) if t.relation == relation]
    out: dict[str, str] = {}
    for form in forms:
        key = match_key(form)
        if len(key) >= _min_chars(lang) and key not in out:
            out[key] = form
    # a form that contains another adds nothing ("的常见症状" is found only where "常见症状" is)
    return tuple(f for k, f in out.items() if not any(o != k and o in k for o in out))


class GoldExtractor:
    """Gold items of open KG-QA records, read from the KG their ``facts`` rows point into.

    Args:
        kg: the store the data was made from (the facts rows are its rows).
        bank: the dataset's phrasings; the packaged ones by default.
        split_seed: the split seed the data was made with (entity naming depends on it only through
            twins, so the default fits data made with the default).
    """

    def __init__(self, kg: KnowledgeGraph, bank: TemplateBank | None = None, *, split_seed: int = 0) -> None:
        self.kg = kg
        self.bank = bank or load_bank()
        self.split_seed = split_seed
        self._names: EntityNames | None = None
        self._terms: dict[tuple[str, str], tuple[str, ...]] = {}

    @property
    def names(self) -> EntityNames:
        """The dataset's entity labels, built on first use (a few seconds on the default store)."""
        if self._names is None:
            self._names = EntityNames(self.kg, self.split_seed)
        return self._names

    def gold(self, example: Example) -> Gold:
        """The gold of a ``relation`` or ``pair`` record; no items when its reference names none.

        Raises:
            DataError: a facts row the KG does not have (data made from another store).
            ValueError: another type of record.
        """
        if example.type == "relation":
            return self._relation(example)
        if example.type == "pair":
            return self._pair(example)
        raise ConfigError(f"{example.id}: only relation and pair records have gold items; got {example.type!r}")

    def tail_text(self, row: int, lang: str) -> str | None:
        """What a ``lang`` answer calls the tail of fact ``row``, as the generator names it, or None."""
        tail = self.kg.fact_tail(row)
        if tail >= 0:
            return self.names.label(tail, lang)
        return literal_item(self.kg.fact_value(row) or "", lang, self.kg.fact_relation(row))

    def _stored(self, row: int) -> str | None:
        """The tail of fact ``row`` as the store writes it (its entity's name or its value), cleaned."""
        tail = self.kg.fact_tail(row)
        return clean_item(self.kg.entity_name(tail) if tail >= 0 else self.kg.fact_value(row) or "") or None

    def _check_rows(self, example: Example) -> None:
        if any(row >= self.kg.n_facts for row in example.facts):
            raise DataError(
                example.path,
                example.line,
                f"field 'facts' {list(example.facts)} are not rows of this KG "
                f"({self.kg.n_facts} facts); evaluate with the store the data was made from (--kg)",
            )

    def _relation(self, example: Example) -> Gold:
        self._check_rows(example)
        if example.relation == "icd10" and not example.facts:  # an ICD-10-CM entity: its own code
            texts = [example.head.split(":", 1)[-1]]
        else:
            # a tail with no name in the record's language counts as the store writes it, where the
            # reference names it so (the patient-phrased set's English names in Chinese answers)
            texts = [t for row in example.facts if (t := self.tail_text(row, example.lang) or self._stored(row))]
        reference = match_key(example.answer)
        items: dict[str, str] = {}
        for text in texts:
            key = match_key(text)
            if key and key in reference and key not in items:
                items[key] = text
        return Gold(tuple((t,) for t in items.values()))

    def _pair(self, example: Example) -> Gold:
        self._check_rows(example)
        between = [self.kg.fact_relation(row) for row in example.facts] or [example.relation]
        items = []
        for rel in dict.fromkeys(between):
            key = (rel, example.lang)
            if key not in self._terms:
                self._terms[key] = relation_terms(self.kg, rel, example.lang, self.bank)
            if self._terms[key]:
                items.append(self._terms[key])
        return Gold(tuple(items))


def check_made_from(data: str | Path, kg: KnowledgeGraph) -> None:
    """Refuse KG-QA data that its card (``card.json`` in the dataset folder, next to the format
    folders) says was made from another store: its ``facts`` rows would point at other facts.
    Data without a card passes (rows beyond the KG are still caught by :meth:`GoldExtractor.gold`).

    Raises:
        ConfigError: the card's store checksum differs from ``kg``'s.
    """
    path = Path(data).resolve()
    for card in (path.parent / "card.json", path.parent.parent / "card.json"):
        if card.is_file():
            try:
                made = json.loads(card.read_text(encoding="utf-8"))["kg"]["checksum"]
            except (ValueError, KeyError, TypeError):
                return
            have = getattr(kg, "manifest", {}).get("checksum")
            if have and made != have:
                raise ConfigError(
                    f"kg: {data} was made from the store with checksum {made[:12]}… ({card}), but the store given "
                    f"has {have[:12]}…; give --kg the store the data was made from"
                )
            return
