"""Phrasings of the KG-QA dataset: question and answer templates, relation nouns, sentence helpers.

The phrasings are data (``kgrag/kgqa/data/*.tsv``) so they can be reviewed and extended without
touching code: ``questions.tsv`` (several per relation and language), ``answers.tsv`` (answer
sentences), ``asked_relations.tsv`` (which relations are asked about, their nouns, their rank in a
composed description) and ``types.tsv`` (what a description calls an entity of each KG type).

Example:
    >>> bank = load_bank()
    >>> t = bank.questions_for("relation", "has_symptom", "zh")[0]
    >>> render(t.text, X="糖尿病")
    '糖尿病的常见症状有哪些？'
    >>> join_items(["多饮", "多尿"], "zh")
    '多饮、多尿'
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from kgrag.errors import ConfigError
from kgrag.lang import LANGS, has_cjk
from kgrag.tsv import data_text, tsv_rows

TYPES = ("description", "relation", "pair", "choice", "consult")
"""Record types; ``consult`` records come from :mod:`kgrag.kgqa.consult`, not from the bank."""
BANK_TYPES = TYPES[:4]
"""The types the template bank writes questions for."""
MAX_ITEMS = 8
DEFINITION = "definition"
ANY = "*"
CONTAGIOUS_YES, CONTAGIOUS_NO = "contagious=yes", "contagious=no"
_SPECIAL = frozenset({DEFINITION, ANY, CONTAGIOUS_YES, CONTAGIOUS_NO})
# placeholders each (kind, type) must contain
_REQUIRED = {
    ("question", "description"): ("{X}",),
    ("question", "relation"): ("{X}",),
    ("question", "pair"): ("{X}", "{Y}"),
    ("question", "choice"): ("{X}",),
    ("answer", "relation"): ("{X}",),
    ("answer", "pair"): ("{X}", "{Y}"),
    ("answer", "choice"): ("{LETTER}", "{PAIR}"),
}
_TRAILING = "。．.；;，,、 \t"


@dataclass(frozen=True, slots=True)
class Template:
    """One phrasing (a row of ``questions.tsv`` or ``answers.tsv``)."""

    id: str
    type: str
    relation: str
    lang: str
    text: str


@dataclass(frozen=True, slots=True)
class RelationSpec:
    """A relation the dataset asks about: its nouns and its rank in composed descriptions."""

    id: str
    describe: int
    zh: str
    en: str

    def noun(self, lang: str) -> str:
        return self.zh if lang == "zh" else self.en


@dataclass(frozen=True)
class TemplateBank:
    """All phrasings, looked up by (type, relation, language)."""

    questions: tuple[Template, ...]
    answers: tuple[Template, ...]
    relations: dict[str, RelationSpec]
    types: dict[str, tuple[str, str]]

    def __post_init__(self) -> None:
        for kind, rows in (("q", self.questions), ("a", self.answers)):
            index: dict[tuple[str, str, str], list[Template]] = {}
            for t in rows:
                index.setdefault((t.type, t.relation, t.lang), []).append(t)
            object.__setattr__(self, f"_{kind}", {k: tuple(v) for k, v in index.items()})

    def questions_for(self, type_: str, relation: str, lang: str) -> tuple[Template, ...]:
        """Question phrasings of a relation, else the ``*`` ones of the type (may be empty)."""
        q: dict[tuple[str, str, str], tuple[Template, ...]] = self._q  # type: ignore[attr-defined]
        return q.get((type_, relation, lang)) or q.get((type_, ANY, lang), ())

    def answers_for(self, type_: str, relation: str, lang: str) -> tuple[Template, ...]:
        """Answer phrasings of a relation, else the ``*`` ones of the type (may be empty)."""
        a: dict[tuple[str, str, str], tuple[Template, ...]] = self._a  # type: ignore[attr-defined]
        return a.get((type_, relation, lang)) or a.get((type_, ANY, lang), ())

    def type_phrase(self, types: list[str], lang: str) -> str | None:
        """What a description calls an entity of these KG types ("一种疾病", "a disease"), or None."""
        for t in types:
            if t in self.types:
                return self.types[t][0 if lang == "zh" else 1]
        return None


def _rows(text: str, source: str, n_fields: int) -> list[tuple[int, list[str]]]:
    out = []
    for n, fields in tsv_rows(text):
        parts = [p.strip() for p in fields]
        if len(parts) != n_fields or not all(parts):
            raise ConfigError(f"{source}:{n}: expected {n_fields} non-empty tab-separated fields, got {parts}")
        out.append((n, parts))
    return out


def parse_templates(text: str, kind: str, relations: set[str], source: str = "<templates>") -> tuple[Template, ...]:
    """Templates from TSV text (columns: id, type, relation, lang, text).

    Args:
        text: the TSV text.
        kind: ``question`` or ``answer`` (which placeholders each type needs).
        relations: the relation ids a row may name (besides ``definition``, ``*`` and the
            ``contagious=`` answers).
        source: the file name for messages.

    Returns:
        The templates, in file order.

    Raises:
        ConfigError: naming the line of a malformed row, an unknown type, relation or language,
            a missing placeholder, or a duplicate id.
    """
    seen: set[str] = set()
    out = []
    for n, parts in _rows(text, source, 5):
        t = Template(*parts)
        if t.type not in BANK_TYPES or t.lang not in LANGS:
            raise ConfigError(f"{source}:{n}: type must be one of {BANK_TYPES} and lang one of {LANGS}; got {parts}")
        if t.relation not in relations and t.relation not in _SPECIAL:
            raise ConfigError(
                f"{source}:{n}: unknown relation {t.relation!r} (see kgrag/kgqa/data/asked_relations.tsv)"
            )
        missing = [p for p in _REQUIRED.get((kind, t.type), ()) if p not in t.text]
        if missing or t.id in seen:
            raise ConfigError(f"{source}:{n}: {t.id} lacks {missing} or repeats an id")
        seen.add(t.id)
        out.append(t)
    return tuple(out)


def _read(name: str) -> str:
    return data_text("kgrag.kgqa", "data", name)


@lru_cache(maxsize=1)
def load_bank() -> TemplateBank:
    """The packaged phrasings (``kgrag/kgqa/data``), read once.

    Raises:
        ConfigError: a malformed data file, or a relation unknown to the KG vocabulary.
    """
    from kgrag.kg.relations import vocabulary

    vocab = vocabulary()
    relations = {}
    for n, (rel, describe, zh, en) in _rows(_read("asked_relations.tsv"), "kgrag/kgqa/data/asked_relations.tsv", 4):
        if rel not in vocab or not describe.isdigit():
            raise ConfigError(
                f"kgrag/kgqa/data/asked_relations.tsv:{n}: unknown relation {rel!r} or bad rank {describe!r}"
            )
        relations[rel] = RelationSpec(rel, int(describe), zh, en)
    types = {t: (zh, en) for _, (t, zh, en) in _rows(_read("types.tsv"), "types.tsv", 3)}
    known = set(relations)
    return TemplateBank(
        parse_templates(_read("questions.tsv"), "question", known, "kgrag/kgqa/data/questions.tsv"),
        parse_templates(_read("answers.tsv"), "answer", known, "kgrag/kgqa/data/answers.tsv"),
        relations,
        types,
    )


def render(text: str, **values: str) -> str:
    """``text`` with each ``{NAME}`` replaced by ``values[NAME]`` (names may hold braces safely)."""
    for key, value in values.items():
        text = text.replace("{" + key + "}", value)
    return text


def clean_item(text: str) -> str:
    """A tail text fit to sit inside a sentence: one line, no trailing punctuation."""
    return " ".join(text.split()).rstrip(_TRAILING)


def literal_item(value: str, lang: str, relation: str) -> str | None:
    """A literal tail as a ``lang`` answer names it: cleaned (:func:`clean_item`), and only when it is
    written in that language's script (ICD-10 codes count for both), else None."""
    text = clean_item(value)
    return text if text and (has_cjk(text) == (lang == "zh") or relation == "icd10") else None


def join_items(items: list[str], lang: str, *, cap: int = MAX_ITEMS, literal: bool = False) -> str:
    """Items as a phrase: "A、B、C等" / "A, B and C", cut at ``cap`` items with "等" / ", among others".

    Args:
        items: the texts (already cleaned, distinct).
        lang: ``zh`` or ``en``.
        cap: the most items named.
        literal: the items are clauses (dosage, precautions): joined with "；" / "; ".
    """
    shown, more = items[:cap], len(items) > cap
    if lang == "zh":
        sep = "；" if literal or any("，" in i or "、" in i for i in shown) else "、"
        return sep.join(shown) + ("等" if more else "")
    if literal or any("," in i for i in shown):
        return "; ".join(shown) + ("; among others" if more else "")
    if more:
        return ", ".join(shown) + ", among others"
    return shown[0] if len(shown) == 1 else ", ".join(shown[:-1]) + " and " + shown[-1]


def finish(sentence: str, lang: str) -> str:
    """One sentence made whole: first letter capitalised (English), a final 。 or . added if missing."""
    s = sentence.strip()
    if lang == "en" and s[:1].islower():
        s = s[0].upper() + s[1:]
    if lang == "zh":
        return s if s.endswith(("。", "！", "？")) else s.rstrip(_TRAILING) + "。"
    return s if s.endswith((".", "!", "?")) else s.rstrip(_TRAILING) + "."


_ARTICLE = re.compile(r"^(A|An|Any|The)\s")
_THIS_TERM = re.compile(r"^This term\s+", re.IGNORECASE)
_VERB = re.compile(r"\b(?:is|are|was|were|refers?|occurs?|describes?|applies|means)\b")
_SENTENCE_END = re.compile(r"(?<=[a-z0-9)\]][.;]) (?=[A-Z])")
MAX_DEFINITION_CHARS = 400
_GLUED = re.compile(r"[a-z][A-Z][a-z]")
_JUNK = frozenset({"尚不明确", "不明确", "尚不清楚", "不清楚", "不明", "未知", "暂无", "不详", "无", "见说明书",
                   "详见说明书"})


def _shorten(text: str, limit: int = MAX_DEFINITION_CHARS) -> str:
    """The first sentences of ``text`` that fit in ``limit`` characters (always the first one)."""
    out = ""
    for sentence in _SENTENCE_END.split(text):
        if out and len(out) + len(sentence) + 1 > limit:
            break
        out = f"{out} {sentence}" if out else sentence
    return out


def is_junk(text: str) -> bool:
    """A tail that says nothing ("尚不明确", "详见说明书"), or an English name glued together from
    several words ("AmbroxolHydrochlorideGranules", as some CMeKG names are)."""
    return text in _JUNK or len(_GLUED.findall(text)) >= 2


def from_definition(name: str, definition: str, source_label: str) -> str:
    """A sentence saying what ``name`` is, from a textbook definition ("A fluid filled sac in the
    kidney." → "Renal cyst is a fluid filled sac in the kidney.").

    Args:
        name: the entity's name.
        definition: its definition (HPO, MONDO).
        source_label: the vocabulary quoted when the definition is a full sentence of its own.
    """
    d = _shorten(" ".join(definition.split()))
    first = d.split(". ")[0]
    if d.casefold().startswith(name.casefold()):
        return finish(d, "en")
    if m := _THIS_TERM.match(d):
        return finish(f"{name} {d[m.end():]}", "en")
    if _ARTICLE.match(d) or not _VERB.search(first):
        lowered = d[0].lower() + d[1:] if d[1:2].islower() or _ARTICLE.match(d) else d
        return finish(f"{name} is {lowered}", "en")
    return finish(f"{source_label} describes {name} as follows: {d}", "en")
