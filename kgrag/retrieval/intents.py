"""Question intents: what a question asks about (department, symptoms, dosage ...), in Chinese and
English, and how much each KG relation answers it.

Cues and relation priors are data (``data/intents.tsv``) so they can be reviewed and extended
without touching code. Cues are regular expressions over the normalized question (simplified
Chinese, lower case), colloquial forms included: 挂什么科 / 看什么科 / 去哪个科, 吃什么药 / 怎么治,
能不能吃, 吃多少 / 怎么吃, "which specialist", "can I take", "how much should I take".

Hand-written cues first: the list is short and auditable, and a miss costs little (every relation
keeps a small prior). A question no cue matches gets its intent read by meaning, from the KG-QA
question bank's nearest questions (:mod:`kgrag.retrieval.intent_model`).

Example:
    >>> [(i.name, i.cue) for i in detect_intents("糖尿病挂什么科？")]
    [('department', '挂什么科')]
    >>> relation_prior(detect_intents("糖尿病挂什么科"), "department")
    1.0
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from types import MappingProxyType

from kgrag.errors import ConfigError
from kgrag.retrieval.normalize import normalize_question
from kgrag.tsv import data_text, tsv_rows

DEFAULT_PRIOR = 0.1
"""The prior of a relation that no detected intent names (and of every relation when no intent
is detected): small, not zero, so a fact the cues did not foresee can still be used."""

_FIELDS = ("rel", "zh", "en", "flag")


@dataclass(frozen=True, slots=True)
class Intent:
    """One detected intent.

    Attributes:
        name: e.g. ``department``, ``symptoms``, ``dosage``.
        relations: relation id → prior weight (0..1] for this intent.
        cue: the text of the (normalized) question that matched, e.g. ``挂什么科``.
    """

    name: str
    relations: Mapping[str, float]
    cue: str


@dataclass(frozen=True, slots=True)
class IntentSpec:
    """An intent as declared in the data file: its relation priors and compiled cues."""

    name: str
    relations: Mapping[str, float]
    pattern: re.Pattern[str]
    fallback: bool = False
    cues: tuple[str, ...] = field(default=())


def parse_intents(text: str, source: str = "<intents>") -> tuple[IntentSpec, ...]:
    """Intents from the text of an intents TSV (format: the header of ``data/intents.tsv``).

    Raises:
        ConfigError: naming the source and line of a malformed row, unknown relation, bad weight
            or invalid cue pattern.
    """
    from kgrag.kg.relations import vocabulary

    vocab = vocabulary()
    rels: dict[str, dict[str, float]] = {}
    cues: dict[str, list[str]] = {}
    flags: dict[str, set[str]] = {}
    for n, parts in tsv_rows(text):
        if len(parts) < 3 or parts[1] not in _FIELDS:
            raise ConfigError(f"{source}:{n}: expected 'intent<TAB>field<TAB>value', field one of {_FIELDS}")
        name, kind, value = parts[0], parts[1], parts[2]
        cues.setdefault(name, [])
        if kind == "rel":
            weight = float(parts[3]) if len(parts) > 3 else 1.0
            if value not in vocab:
                raise ConfigError(f"{source}:{n}: unknown relation {value!r} (see kgrag/kg/data/relations.tsv)")
            if not 0 < weight <= 1:
                raise ConfigError(f"{source}:{n}: weight must be in (0, 1]; got {weight}")
            rels.setdefault(name, {})[value] = weight
        elif kind == "flag":
            flags.setdefault(name, set()).add(value)
        else:
            cue = value if kind == "zh" else rf"(?<![a-z0-9])(?:{value})(?![a-z0-9])"
            try:
                re.compile(cue)
            except re.error as exc:
                raise ConfigError(f"{source}:{n}: bad cue pattern {value!r}: {exc}") from None
            cues[name].append(cue)
    specs = []
    for name, patterns in cues.items():
        if not patterns or name not in rels:
            raise ConfigError(f"{source}: intent {name!r} needs at least one cue and one relation")
        pattern = re.compile("|".join(f"(?:{p})" for p in patterns))
        specs.append(
            IntentSpec(name, MappingProxyType(rels[name]), pattern, "fallback" in flags.get(name, ()), tuple(patterns))
        )
    return tuple(specs)


@lru_cache(maxsize=1)
def intent_specs() -> tuple[IntentSpec, ...]:
    """The intents of ``data/intents.tsv``, validated against the relation vocabulary.

    Raises:
        ConfigError: a malformed row, an unknown relation id, a weight outside (0, 1], a cue that
            is not a valid regular expression.
    """
    text = data_text("kgrag.retrieval", "data", "intents.tsv")
    return parse_intents(text, "kgrag/retrieval/data/intents.tsv")


@lru_cache(maxsize=1)
def fallback_intents() -> frozenset[str]:
    """Names of the packaged intents that count only when nothing more specific matched."""
    return frozenset(s.name for s in intent_specs() if s.fallback)


def detect_intents(question: str, specs: Iterable[IntentSpec] | None = None) -> list[Intent]:
    """Intents of ``question``, in the order their cues appear in it.

    A fallback intent (``definition``: 什么是X, "what is X") is returned only when nothing more
    specific matched, so "what are the symptoms of X" is about symptoms, not a definition.

    Args:
        question: raw or normalized question text.
        specs: intents to look for; the packaged ones by default.
    """
    text = normalize_question(question)
    found: list[tuple[int, int, Intent, bool]] = []
    for order, spec in enumerate(intent_specs() if specs is None else specs):
        m = spec.pattern.search(text)
        if m:
            found.append((m.start(), order, Intent(spec.name, spec.relations, m.group()), spec.fallback))
    specific = [f for f in found if not f[3]]
    return [f[2] for f in sorted(specific or found, key=lambda f: (f[0], f[1]))]


def relation_prior(intents: Iterable[Intent], relation_id: str, default: float = DEFAULT_PRIOR) -> float:
    """How strongly facts of ``relation_id`` answer a question with these intents: the highest
    weight any of them gives the relation, or ``default`` when none names it."""
    return max((i.relations[relation_id] for i in intents if relation_id in i.relations), default=default)
