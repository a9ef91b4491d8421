"""Red flags: does a health question describe an emergency, and what should the person do first?

Patterns are data (``data/red_flags.tsv``), advice and disclaimers too
(``data/red_flag_advice.tsv``), so clinicians can review and extend them without touching code.
Both are read once.

The rule, applied to the question normalized by :func:`kgrag.retrieval.normalize.normalize_question`
(and to the last user turns of the history):

1. A pattern match preceded, in its clause, by a negation ("no chest pain", "没有胸痛",
   "denies vomiting blood") does not count. Clauses end at punctuation and at "but" / 但是.
2. An ``alone`` pattern is an emergency by itself: an unambiguous self-harm statement ("kill
   myself", "不想活了", "想自杀") or an acute event ("吃了一整瓶", "overdosed").
3. An ``acute`` pattern describes an acute case by its words (a combination of signs: 胸闷+出汗,
   怀孕+出血; "crushing chest pain", "bleeding won't stop"): an emergency unless the question is
   framed as general knowledge (什么是, 的症状, "what is", "symptoms of") without a personal cue.
4. A ``context`` pattern (a symptom or sign: 胸痛, "face drooping", "vomiting blood") is an
   emergency only with an experience cue: a first-person or caregiver cue (我, 孩子, "my", "he")
   once asker phrases ("I want to know", 请问) are removed, or an acute-time cue (突然, 现在,
   clause-final 了, "suddenly", "won't stop") in a question without general-knowledge framing.
5. A ``mention`` (the name of an emergency: 自杀, "anaphylaxis", "overdose") needs a personal or
   acute-time cue and no general-knowledge framing: "my friend talks about suicide" counts,
   "can you explain suicide to me?" does not.

So "what is a stroke?", "symptoms of a heart attack", "什么是心肌梗死", "I have no chest pain",
"胸痛伴出汗是什么原因" are not emergencies; "my face is drooping", "突然胸痛", "胸口疼出冷汗",
"I can't breathe" are. Misses cost more than false alarms here, and a false alarm only adds
emergency advice to an answer. Known limits: past events told in the first person ("I had chest
pain last year") still count, and subjectless statements of a single sign ("吐血") need a cue.

Example:
    >>> a = assess("我爸突然说话不清，嘴角歪了")
    >>> a.emergency, a.red_flags
    (True, (RedFlag(kind='stroke', text='嘴角歪+说话不清'),))
    >>> assess("What is a stroke?").emergency
    False
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from types import MappingProxyType

from kgrag.errors import ConfigError
from kgrag.generation.types import Message
from kgrag.lang import LANGS, question_lang
from kgrag.lang import check_lang as _check_lang
from kgrag.retrieval.normalize import normalize_question
from kgrag.tsv import data_text, tsv_rows

HISTORY_USER_TURNS = 2
"""How many of the latest user turns of the history are checked besides the question."""

_LEVELS = ("alone", "acute", "context", "mention", "-")
_CUES = ("@personal", "@asker", "@acute", "@general", "@negation")
_CLAUSE_BREAK = re.compile(r"[,.;!?:。；！？，、\n]|\b(?:but|however|although)\b|但是|但|可是|不过|然而")
_CONTRACTIONS = (
    (re.compile(r"\bcan ?not\b"), "can't"),
    (re.compile(r"\b(can|don|doesn|didn|won|isn|aren|wasn|weren|haven|hasn|hadn|couldn|wouldn)t\b"), r"\1't"),
    (re.compile(r"\bim\b"), "i'm"),
    (re.compile(r"\bive\b"), "i've"),
)
# how far before a match a negation counts: statements ("I want to die") only right before them,
# so "no one cares, I want to die" stays a red flag
_NEG_CHARS, _NEG_WORDS = 6, 4
_NEG_CHARS_ALONE, _NEG_WORDS_ALONE = 3, 2


@dataclass(frozen=True, slots=True)
class RedFlag:
    """One red flag found: its ``kind`` (``chest_pain``, ``self_harm`` ...) and the matched text
    (normalized; the parts of a combination joined by ``+``)."""

    kind: str
    text: str


@dataclass(frozen=True, slots=True)
class SafetyAssessment:
    """The safety reading of a question.

    Attributes:
        emergency: the question (or a recent user turn) describes an emergency.
        red_flags: what made it one; empty when ``emergency`` is False.
        advice: first steps in ``lang`` for the flagged kinds, or None.
        disclaimer: the not-a-doctor notice in ``lang``, for every answer.
        lang: ``zh`` or ``en``.
    """

    emergency: bool
    red_flags: tuple[RedFlag, ...]
    advice: str | None
    disclaimer: str
    lang: str

    @property
    def kinds(self) -> tuple[str, ...]:
        """The flagged kinds, each once, in the order of the rules file."""
        return tuple(dict.fromkeys(f.kind for f in self.red_flags))


@dataclass(frozen=True, slots=True)
class _Rule:
    kind: str
    level: str
    parts: tuple[re.Pattern[str], ...]


@dataclass(frozen=True)
class RedFlagRules:
    """Compiled red-flag patterns, cues, labels and advice (see the data files' headers)."""

    rules: tuple[_Rule, ...]
    cues: Mapping[str, re.Pattern[str]]
    kinds: tuple[str, ...]
    labels: Mapping[tuple[str, str], str]
    advice: Mapping[tuple[str, str], str]


def _compile(pattern: str, lang: str, where: str) -> re.Pattern[str]:
    # English words get boundaries so "no" is not "know" and "ate" is not "late"
    text = pattern if lang == "zh" else rf"(?<![a-z0-9])(?:{pattern})(?![a-z0-9])"
    try:
        return re.compile(text)
    except re.error as exc:
        raise ConfigError(f"{where}: bad pattern {pattern!r}: {exc}") from None


def parse_red_flags(
    text: str, advice_text: str, source: str = "<red_flags>", advice_source: str = "<advice>"
) -> RedFlagRules:
    """Rules from the text of a red-flags TSV and of its advice TSV (formats: their headers).

    Raises:
        ConfigError: naming the file and line of a malformed row, an unknown language or level,
            an invalid pattern, or a kind without advice in both languages.
    """
    rules: list[_Rule] = []
    cue_parts: dict[str, list[str]] = {c: [] for c in _CUES}
    for n, parts in tsv_rows(text):
        if len(parts) != 4 or parts[1] not in LANGS or parts[2] not in _LEVELS:
            line = "\t".join(parts)
            raise ConfigError(
                f"{source}:{n}: expected 'kind<TAB>lang<TAB>level<TAB>pattern' with lang one of {LANGS} "
                f"and level one of {_LEVELS}; got {line!r}"
            )
        kind, lang, level, pattern = parts
        where = f"{source}:{n}"
        if kind.startswith("@"):
            if kind not in _CUES:
                raise ConfigError(f"{where}: unknown cue list {kind!r}; known: {_CUES}")
            cue_parts[kind].append(_compile(pattern, lang, where).pattern)
        else:
            compiled = tuple(_compile(p.strip(), lang, where) for p in pattern.split("&&"))
            rules.append(_Rule(kind, level, compiled))
    kinds = tuple(dict.fromkeys(r.kind for r in rules))
    labels: dict[tuple[str, str], str] = {}
    advice: dict[tuple[str, str], str] = {}
    for n, parts in tsv_rows(advice_text):
        if len(parts) != 4 or parts[1] not in LANGS:
            line = "\t".join(parts)
            raise ConfigError(f"{advice_source}:{n}: expected 'kind<TAB>lang<TAB>label<TAB>advice'; got {line!r}")
        labels[parts[0], parts[1]] = parts[2]
        advice[parts[0], parts[1]] = parts[3]
    for kind in (*kinds, "@lead", "@disclaimer"):
        missing = [lang for lang in LANGS if (kind, lang) not in advice]
        if missing:
            raise ConfigError(f"{advice_source}: no advice for {kind!r} in {missing}")
    cues = {c: re.compile("|".join(f"(?:{p})" for p in ps) or r"(?!x)x") for c, ps in cue_parts.items()}
    return RedFlagRules(tuple(rules), MappingProxyType(cues), kinds, MappingProxyType(labels), MappingProxyType(advice))


@lru_cache(maxsize=1)
def red_flag_rules() -> RedFlagRules:
    """The packaged rules (``data/red_flags.tsv`` and ``data/red_flag_advice.tsv``), read once.

    Raises:
        ConfigError: a data file is malformed (see :func:`parse_red_flags`).
    """
    return parse_red_flags(
        data_text("kgrag.generation", "data", "red_flags.tsv"),
        data_text("kgrag.generation", "data", "red_flag_advice.tsv"),
        "kgrag/generation/data/red_flags.tsv",
        "kgrag/generation/data/red_flag_advice.tsv",
    )


def normalize_for_safety(text: str) -> str:
    """The question as the patterns see it: normalized, English contractions spelled one way."""
    out = normalize_question(text)
    for pattern, repl in _CONTRACTIONS:
        out = pattern.sub(repl, out)
    return out


def _negated(text: str, start: int, rules: RedFlagRules, alone: bool) -> bool:
    """Whether a negation precedes ``start`` closely, in the same clause."""
    clause = text[:start]
    breaks = list(_CLAUSE_BREAK.finditer(clause))
    if breaks:
        clause = clause[breaks[-1].end() :]
    chars, words = (_NEG_CHARS_ALONE, _NEG_WORDS_ALONE) if alone else (_NEG_CHARS, _NEG_WORDS)
    near = clause.rstrip()
    window = " ".join(near.split()[-words:]) + " " + near[-chars:]
    return bool(rules.cues["@negation"].search(window)) or near.endswith("不")


def _first_match(pattern: re.Pattern[str], text: str, rules: RedFlagRules, alone: bool) -> str | None:
    for m in pattern.finditer(text):
        if not _negated(text, m.start(), rules, alone):
            return m.group()
    return None


@dataclass(frozen=True, slots=True)
class _Cues:
    personal: bool
    acute: bool
    general: bool

    @classmethod
    def of(cls, text: str, rules: RedFlagRules) -> _Cues:
        return cls(
            bool(rules.cues["@personal"].search(rules.cues["@asker"].sub(" ", text))),
            bool(rules.cues["@acute"].search(text)),
            bool(rules.cues["@general"].search(text)),
        )

    def admit(self, level: str) -> bool:
        """Rules 2-5 of the module docstring."""
        if level == "alone":
            return True
        if level == "mention":
            return (self.personal or self.acute) and not self.general
        if self.personal:
            return True
        if level == "acute":
            return not self.general
        return self.acute and not self.general


def find_red_flags(text: str, rules: RedFlagRules | None = None) -> tuple[RedFlag, ...]:
    """The red flags that make ``text`` an emergency under the module's rule (empty if none).

    Args:
        text: a question or chat turn, raw.
        rules: the rules to apply; the packaged ones by default.
    """
    rules = rules or red_flag_rules()
    norm = normalize_for_safety(text)
    if not norm:
        return ()
    cues = _Cues.of(norm, rules)
    found: dict[tuple[str, str], None] = {}
    for rule in rules.rules:
        if not cues.admit(rule.level):
            continue
        texts = []
        for part in rule.parts:
            hit = _first_match(part, norm, rules, rule.level == "alone")
            if hit is None:
                break
            texts.append(hit)
        else:
            found[rule.kind, "+".join(texts)] = None
    return _ordered(found, rules)


def _ordered(found: Iterable[tuple[str, str]], rules: RedFlagRules) -> tuple[RedFlag, ...]:
    """Flags in the rules' kind order, dropping one whose text lies inside another of its kind
    ("suicidal" beside "i feel suicidal")."""
    found = list(dict.fromkeys(found))
    keep = [(k, t) for k, t in found if not any(k == k2 and t != t2 and t in t2 for k2, t2 in found)]
    order = {k: i for i, k in enumerate(rules.kinds)}
    return tuple(RedFlag(k, t) for k, t in sorted(keep, key=lambda kt: order[kt[0]]))


def advice_for(kinds: Iterable[str], lang: str, rules: RedFlagRules | None = None) -> str | None:
    """Emergency advice for red-flag ``kinds`` in ``lang``: the call-for-help line, then each
    kind's first steps; self-harm support comes last (or alone, with its own crisis lines).

    Returns:
        The advice, one paragraph per line, or None when ``kinds`` is empty.

    Raises:
        ConfigError: ``lang`` is not ``zh`` or ``en``; a kind has no advice.
    """
    rules = rules or red_flag_rules()
    _check_lang(lang)
    kinds = list(dict.fromkeys(kinds))
    if not kinds:
        return None
    unknown = [k for k in kinds if (k, lang) not in rules.advice or k.startswith("@")]
    if unknown:
        raise ConfigError(f"no advice for red-flag kinds {unknown}; known: {list(rules.kinds)}")
    others = [k for k in kinds if k != "self_harm"]
    lines = ([rules.advice["@lead", lang]] + [rules.advice[k, lang] for k in others]) if others else []
    if "self_harm" in kinds:
        lines.append(rules.advice["self_harm", lang])
    return "\n".join(lines)


def kind_label(kind: str, lang: str, rules: RedFlagRules | None = None) -> str:
    """How a red-flag kind is named in ``lang`` ("chest pain", 胸痛); the kind itself if unknown."""
    rules = rules or red_flag_rules()
    return rules.labels.get((kind, lang), kind)


def disclaimer(lang: str, rules: RedFlagRules | None = None) -> str:
    """The not-a-doctor notice in ``lang``.

    Raises:
        ConfigError: ``lang`` is not ``zh`` or ``en``.
    """
    rules = rules or red_flag_rules()
    return rules.advice["@disclaimer", _check_lang(lang)]


def assess(text: str, lang: str | None = None, history: Sequence[Message] = ()) -> SafetyAssessment:
    """Check a question, and the latest user turns before it, for red flags.

    Args:
        text: the question.
        lang: ``zh`` or ``en`` for the advice and disclaimer; detected from ``text`` (Chinese
            characters → ``zh``) when None.
        history: earlier turns, oldest first; the last :data:`HISTORY_USER_TURNS` user turns are
            checked too, so "I have crushing chest pain" followed by "what should I take?" is
            still an emergency.

    Returns:
        The assessment; ``advice`` is set exactly when ``emergency`` is.

    Raises:
        ConfigError: ``lang`` is not ``zh`` or ``en``.

    Example:
        >>> assess("I think I'm having a heart attack, my chest hurts").kinds
        ('chest_pain',)
    """
    rules = red_flag_rules()
    lang = _check_lang(lang) if lang is not None else question_lang(text)
    recent = [m.content for m in history if m.role == "user"][-HISTORY_USER_TURNS:] if HISTORY_USER_TURNS else []
    red = _ordered(((f.kind, f.text) for turn in (text, *reversed(recent)) for f in find_red_flags(turn, rules)), rules)
    advice = advice_for([f.kind for f in red], lang, rules) if red else None
    return SafetyAssessment(bool(red), red, advice, disclaimer(lang, rules), lang)
