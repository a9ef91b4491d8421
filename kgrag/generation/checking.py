"""Every answer checked against the facts it cites, and replaced by one composed from them when it fails.

:func:`check_answer` splits the model's words (the emergency advice put before them is not
checked) into sentences and judges each against the numbered facts of the prompt:

* **supported** — it cites ``[n]`` and names the tail of a cited fact (or its head, when the tail
  is a long text told in other words), after folding both (NFKC, case, punctuation and spaces;
  Chinese by character bigrams, English by words); a yes/no fact supports a sentence saying the same;
* **unsupported** — it cites only facts it does not name (or numbers that were not given), it
  makes a claim without a citation while facts exist, or it contradicts a yes/no fact;
* **neutral** — conversational: "请咨询医生", "please see a clinician", the "the facts do not
  cover this" refusal, the nudge to follow the emergency advice. Not counted.

Three flags make an answer unusable as it stands: ``echo`` (it copies the facts block: a
``<facts>`` tag, a "— relation —" fact line, or two facts nearly verbatim), ``cites_nothing``
(facts were given and it neither cites nor names any) and ``contradiction`` (a yes/no fact such
as 传染性 "无" answered "有传染性", or the reverse). Then :func:`compose_answer` writes the answer
from the top facts, every clause cited, in the question's language, and the check says so
(``composed``, ``reason``, ``model_answer``).

Known limit: an English answer that translates Chinese facts (and the reverse) names none of
their words, so its sentences are unsupported even when the translation is right.

Example:
    >>> check = check_answer("高血压的常见症状包括头痛[1]。请咨询医生。", citations, lang="zh")
    >>> [s.status for s in check.sentences], check.supported_share
    (['supported', 'neutral'], 1.0)
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Literal

from kgrag.generation.prompts import Citation, cited_numbers
from kgrag.lang import check_lang
from kgrag.text import nfkc_casefold

if TYPE_CHECKING:
    from kgrag.kg.graph import KnowledgeGraph

Status = Literal["supported", "unsupported", "neutral"]

COMPOSE_FACTS = 6
"""Facts, best first, that a composed answer is written from."""
MAX_COMPOSED_TAIL = 120
LONG_TAIL = 40
"""Characters beyond which a fact's tail is paraphrased rather than quoted, so naming its head supports it."""
ECHO_LINES = 2
"""Fact lines copied nearly verbatim that make an answer an echo of the facts block."""
YES_NO_LABELS = frozenset({"传染性", "contagiousness", "contagious"})
"""Relation labels (zh and en, as :mod:`kgrag.kg.relations` gives ``contagious``) whose value is yes or no."""
NAME_LABELS = frozenset({"英文名称", "english name", "别称", "alias"})
"""Relation labels whose tail is another name of the head: naming it names no fact about the head."""
REASONS = ("echo", "cites_nothing", "contradiction")
"""Why an answer is composed, in the order they are reported."""

_SENTENCE_END = re.compile(r"(?<=[。！？!?])|(?<=\.)(?=\s|$)|\n+")
_LEADING_CITES = re.compile(r"\s*(?:[\[［【]\s*\d[\d\s,，、;；\-–~]*[\]］】]\s*)+")
_CITE = re.compile(r"[\[［【]\s*\d[\d\s,，、;；\-–~]*[\]］】]")
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_WORD = re.compile(r"[a-z0-9]+")
_CONTENT = re.compile(r"[a-z\u3400-\u9fff\uf900-\ufaff]", re.IGNORECASE)
_NEUTRAL = re.compile(
    r"咨询|就医|看医生|找医生|专业医生|不是医生|医疗建议|仅供参考|急救|急诊|120|立即|照做|"
    r"(?:没有|未)(?:涉及|提供|包含|覆盖)|不足以回答|无法(?:据此)?回答|不能回答|"
    r"\b(?:consult|clinician|doctor|physician|healthcare|health care|provider|professional|medical advice|"
    r"emergency|call \d+|follow (?:the|this|that|it)|advice above|immediately|right away|"
    r"do(?:es)? not cover|don't cover|cannot answer|can't answer|not able to answer|"
    r"not a diagnosis|i am not|i'm not)\b",
    re.IGNORECASE,
)
_ZH_NO = re.compile(r"(?:无|没有|不具有?|不会|不|非|并不)传染")
_ZH_YES = re.compile(r"传染")
_EN_NO = re.compile(
    r"\b(?:not|non|no|isn't|aren't|never|neither|nor)[\s-]+(?:\w+\s+){0,2}?(?:contagious|infectious|transmissible)"
    r"|\b(?:cannot|can't|does not|doesn't|won't|will not) (?:be )?(?:spread|transmit|pass)"
)
_EN_YES = re.compile(r"\b(?:contagious|infectious|transmissible|spread from person|passed from person)")
_STOP = frozenset("a an and the of in on to for with or by is are be as at from its it".split())


@dataclass(frozen=True, slots=True)
class SentenceCheck:
    """One sentence of the answer: its ``cites`` (``[n]`` it names), the cited facts that name
    its words (``supported_by``) and its ``status``."""

    text: str
    cites: tuple[int, ...]
    supported_by: tuple[int, ...]
    status: Status

    def to_dict(self) -> dict[str, object]:
        return {"text": self.text, "cites": list(self.cites), "supported_by": list(self.supported_by),
                "status": self.status}


@dataclass(frozen=True)
class AnswerCheck:
    """What the check found in the model's answer (the emergency advice before it left out).

    Attributes:
        sentences: each sentence with its verdict, in order.
        echo: the answer copies lines of the facts block.
        cites_nothing: facts were given, and the answer neither cites any nor names the tail of one
            that says something about its head (not another name of it).
        contradiction: the answer asserts the opposite of a yes/no fact.
        composed: the answer shown was composed from the facts (see :func:`apply_check`).
        model_answer: the model's own text, when ``composed``.
    """

    sentences: tuple[SentenceCheck, ...]
    echo: bool = False
    cites_nothing: bool = False
    contradiction: bool = False
    composed: bool = False
    model_answer: str | None = None

    @property
    def supported_share(self) -> float | None:
        """supported / (supported + unsupported) sentences; None when none can be judged."""
        judged = [s for s in self.sentences if s.status != "neutral"]
        if not judged:
            return None
        return round(sum(s.status == "supported" for s in judged) / len(judged), 4)

    @property
    def reason(self) -> str | None:
        """The first of :data:`REASONS` that applies, or None when the answer passes."""
        for name in REASONS:
            if getattr(self, name):
                return name
        return None

    def to_dict(self) -> dict[str, object]:
        """The check as JSON (the ``check`` of :meth:`Answer.to_dict`)."""
        return {
            "supported_share": self.supported_share,
            "sentences": [s.to_dict() for s in self.sentences],
            "composed": self.composed,
            "reason": self.reason,
            "model_answer": self.model_answer,
        }


def fold(text: str) -> str:
    """``text`` for comparing: NFKC, case-folded, citations removed, letters, digits and CJK only."""
    text = _CITE.sub(" ", nfkc_casefold(text))
    return "".join(ch if ch.isalnum() else " " for ch in text if unicodedata.category(ch)[0] != "M")


def split_sentences(text: str) -> list[str]:
    """The sentences of ``text``: cut after 。！？!? and a full stop before a space, and at line
    breaks; a citation written after the full stop ("… headache. [1]") stays with its sentence
    (one that starts a line starts its own);
    pieces without a letter or Chinese character (a list number, a lone "[2]") are dropped."""
    spans: list[tuple[int, int]] = []
    start = 0
    for cut in [*(m.start() for m in _SENTENCE_END.finditer(text)), len(text)]:
        if cut <= start:
            continue
        lead = _LEADING_CITES.match(text, start, cut)
        # "... headache. [1]": the citation belongs to the sentence before, unless it starts a line ("[2] ...")
        if lead and spans and "\n" not in lead.group():
            spans[-1] = (spans[-1][0], lead.end())
            start = lead.end()
        spans.append((start, cut))
        start = cut
    out = [text[a:b].strip() for a, b in spans]
    return [piece for piece in out if _CONTENT.search(_CITE.sub("", piece))]


def _bigrams(text: str) -> set[str]:
    chars = "".join(_CJK.findall(text))
    return {chars[i:i + 2] for i in range(len(chars) - 1)} or ({chars} if chars else set())


def _words(text: str) -> set[str]:
    return {w.removesuffix("s") if len(w) > 3 else w for w in _WORD.findall(text) if w not in _STOP}


def mentions(sentence: str, name: str) -> bool:
    """Whether ``sentence`` names ``name`` (a fact's tail or head): the folded name inside the
    folded sentence, or at least half of its Chinese bigrams and of its English words there."""
    s, n = fold(sentence), fold(name)
    if not n.strip():
        return False
    if _CJK.search(n) and n.replace(" ", "") in s.replace(" ", ""):
        return True
    if f" {' '.join(n.split())} " in f" {' '.join(s.split())} ":
        return True
    parts = [(_bigrams(n), _bigrams(s)), (_words(n), _words(s))]
    needed = [(want, have) for want, have in parts if want]
    return bool(needed) and all(len(want & have) >= max(1, len(want) / 2) for want, have in needed)


def _supports(sentence: str, c: Citation, others: Sequence[str] = ()) -> bool:
    """The sentence names the fact's tail (as shown, or by another of its names: ``others``), or,
    for a long tail (a description, a precaution: told in other words rather than quoted), its
    head. The head alone is no evidence for a short tail: "高血压会导致失明[3]" names 高血压 whatever
    [3] says."""
    return (mentions(sentence, c.tail) or any(mentions(sentence, o) for o in others)
            or (len(c.tail) > LONG_TAIL and mentions(sentence, c.head)))


def tail_names(kg: KnowledgeGraph, fact: int, limit: int = 16) -> list[str]:
    """The other names of fact ``fact``'s tail entity: its aliases, its English names (英文名称
    facts) and the names of its cross-source twins — so that "Aspirin can cause shock[2]" is
    supported by "拜阿司匹灵 — 不良反应 — 休克" (休克's English name: shock). Empty for a literal tail."""
    tail = kg.fact_tail(fact)
    if tail < 0:
        return []
    english = kg.relation_code("english_name")
    names: list[str] = []
    for row in [tail, *[other for _, other in kg.links_of(tail)][:6]]:
        names += [kg.entity_name(row), *kg.aliases(row)]
        if english is not None:
            names += [v for j in kg.out_facts(row).tolist()
                      if kg.fact_relation_code(j) == english and (v := kg.fact_value(j))]
    return list(dict.fromkeys(n for n in names if n and len(n) > 1))[:limit]


def _polarity(text: str) -> bool | None:
    """True (yes), False (no) or None for a yes/no value or a sentence about contagion."""
    t = nfkc_casefold(text).strip()
    if _ZH_NO.search(t) or _EN_NO.search(t):
        return False
    if _ZH_YES.search(t) or _EN_YES.search(t):
        return True
    return None


def _value(tail: str) -> bool | None:
    t = nfkc_casefold(tail).strip()
    if t.startswith(("有", "是", "yes", "true", "contagious")):
        return True
    if t.startswith(("无", "否", "不", "没有", "no", "non", "false")):
        return False
    return None


def _is_echo(text: str, citations: Sequence[Citation]) -> bool:
    low = nfkc_casefold(text)
    if re.search(r"[<＜]\s*/?\s*facts\s*[>＞]", low):
        return True
    for c in citations:
        if re.search(rf"[—–]\s*{re.escape(nfkc_casefold(c.relation))}\s*[—–]", low):
            return True
    lines = ["".join(fold(line).split()) for line in text.splitlines()]
    copied = 0
    for c in citations:
        key = "".join(fold(f"{c.head}{c.relation}{c.tail}").split())
        if key and any(key in line for line in lines):
            copied += 1
    return copied >= ECHO_LINES


def check_answer(text: str, citations: Sequence[Citation], *, lang: str,
                 names: Mapping[int, Sequence[str]] | None = None) -> AnswerCheck:
    """Judge the model's ``text`` (without the emergency advice before it) against ``citations``.

    Args:
        text: the model's answer.
        citations: the numbered facts its prompt gave it (empty when the KG had none).
        lang: the question's language (``zh`` or ``en``).
        names: per fact number, other names of its tail (:func:`tail_names`): a sentence that
            translates a fact names it too.

    Returns:
        Each sentence's verdict and the ``echo``, ``cites_nothing`` and ``contradiction`` flags
        (``composed`` is False: :func:`apply_check` composes).

    Raises:
        ConfigError: ``lang`` is not ``zh`` or ``en``.
    """
    check_lang(lang)
    by_n = {c.n: c for c in citations}
    yes_no = {c.n: v for c in citations if c.relation.casefold() in YES_NO_LABELS
              for v in [_value(c.tail)] if v is not None}
    contradiction = False
    records: list[SentenceCheck] = []
    for sentence in split_sentences(text):
        cites = tuple(sorted(cited_numbers(sentence)))
        said = _polarity(sentence)
        # a yes/no fact ("有", "无") supports only a sentence saying the same, whatever its words
        support = tuple(n for n in cites if n in by_n and (
            said is yes_no[n] if n in yes_no else _supports(sentence, by_n[n], (names or {}).get(n, ()))))
        against = said is not None and any(v is not said for v in yes_no.values())
        contradiction = contradiction or against
        status: Status
        if support and not against:
            status = "supported"
        elif against or (cites and not _NEUTRAL.search(sentence)):
            status = "unsupported"
        elif _NEUTRAL.search(sentence) or sentence.rstrip().endswith(("?", "？")) or not citations:
            status = "neutral"
        else:
            status = "unsupported"
        records.append(SentenceCheck(sentence, cites, support, status))
    named = any(mentions(text, c.tail) for c in _about(citations) if c.n not in yes_no)
    # an answer that only declines ("the facts do not cover this", "see a doctor") is the model's
    # judgement that the facts do not answer: kept, not replaced by those same facts
    declines = bool(records) and all(r.status == "neutral" for r in records)
    cites_nothing = bool(citations) and not (cited_numbers(text) & set(by_n)) and not named and not declines
    return AnswerCheck(tuple(records), echo=bool(citations) and _is_echo(text, citations),
                       cites_nothing=cites_nothing, contradiction=contradiction)


def _about(citations: Sequence[Citation]) -> list[Citation]:
    """The facts that say something about their head: not another name of it, nor a tail that is
    part of a head's name ("diabetes mellitus" beside "gestational diabetes mellitus")."""
    heads = [fold(c.head) for c in citations]
    return [c for c in citations if c.relation.casefold() not in NAME_LABELS
            and not any(" ".join(fold(c.tail).split()) in " ".join(h.split()) for h in heads)]


def _short(tail: str) -> str:
    return tail if len(tail) <= MAX_COMPOSED_TAIL else tail[: MAX_COMPOSED_TAIL - 1].rstrip() + "…"


def compose_answer(citations: Sequence[Citation], lang: str, *, max_facts: int = COMPOSE_FACTS) -> str:
    """An answer written from the top ``max_facts`` facts in ``lang``, facts of one head and
    relation in one clause, each item cited: "根据知识图谱：高血压的常见症状包括头痛[1]、头晕[2]。"
    / "According to the knowledge graph: aspirin (side effect): bleeding [1], asthma [2]."

    Returns:
        The answer, or "" when there are no facts.
    """
    groups: dict[tuple[str, str], list[Citation]] = {}
    for c in citations[:max_facts]:
        groups.setdefault((c.head, c.relation), []).append(c)
    if not groups:
        return ""
    if lang == "zh":
        clauses = []
        for (head, relation), cs in groups.items():
            items = "、".join(f"{_short(c.tail)}[{c.n}]" for c in cs)
            clauses.append(f"{head}的{relation}{'包括' if len(cs) > 1 else '为'}{items}")
        return "根据知识图谱：" + "；".join(clauses) + "。"
    clauses = [f"{head} ({relation}): " + ", ".join(f"{_short(c.tail)} [{c.n}]" for c in cs)
               for (head, relation), cs in groups.items()]
    return "According to the knowledge graph: " + "; ".join(clauses) + "."


def apply_check(text: str, citations: Sequence[Citation], *, lang: str,
                names: Mapping[int, Sequence[str]] | None = None) -> tuple[str, AnswerCheck]:
    """The answer to show for the model's ``text`` and its check: ``text`` itself when it passes,
    else :func:`compose_answer` (with ``composed``, the ``reason`` and the ``model_answer``).
    An answer without facts is never composed (there is nothing to compose from)."""
    check = check_answer(text, citations, lang=lang, names=names)
    if check.reason is None or not citations:
        return text, check
    return compose_answer(citations, lang), replace(check, composed=True, model_answer=text)
