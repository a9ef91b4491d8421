"""Questions asked the way people ask them: phrasing families beyond the template bank, and the
split that holds some families out of training.

A template record (:mod:`kgrag.kgqa.generator`) asks in the bank's words. :class:`Rephraser` asks
the same thing again, with the same answer and facts, in other *families* of phrasing
(``data/families.tsv``):

* written ones (``data/colloquial.tsv``): ``patient`` (about oneself), ``search`` (keywords),
  ``caregiver`` (for a relative), ``curious`` (a hedged general question), ``followup`` (a second
  turn that refers back to the first turn's entity: a two-turn record);
* transformed template questions: ``traditional`` (traditional characters, OpenCC), ``typo`` (two
  letters of one word swapped, English), ``mixed`` (the entity named in the other language).

Families marked held out never reach training: a train or validation record is rephrased only in
seen families, and a test record's held-out variants go to the split ``test_phrasing``. The test
split then measures new entities asked in seen ways, ``test_phrasing`` new entities asked in ways
training never saw — the figure that says how the model does on users' own words.

Example:
    >>> rephraser = Rephraser(names, load_bank(), seed=0)
    >>> extra = rephraser.variants(records)   # same answers, other phrasings, family and split set
"""

from __future__ import annotations

import random
import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import lru_cache

from kgrag.errors import ConfigError
from kgrag.kgqa.dataset_formats import QARecord
from kgrag.kgqa.entities import EntityNames
from kgrag.kgqa.templates import ANY, DEFINITION, TemplateBank, render
from kgrag.lang import LANGS, has_cjk
from kgrag.tsv import data_text, tsv_rows

TEMPLATE = "template"
FOLLOWUP = "followup"
HELD_OUT_SPLIT = "test_phrasing"
_TRANSFORMS = ("traditional", "typo", "mixed")
_WORD = re.compile(r"[A-Za-z]{5,}")
_CONDITIONS = frozenset({"疾病", "症状", "phenotype", "disease", "icd10cm code"})


@dataclass(frozen=True, slots=True)
class Family:
    """A way of asking: its name, whether training may see it, what it is."""

    name: str
    held_out: bool
    description: str


@dataclass(frozen=True, slots=True)
class Phrasing:
    """One written phrasing (a row of ``colloquial.tsv``)."""

    id: str
    family: str
    relation: str
    lang: str
    text: str


@dataclass(frozen=True)
class PhrasingBank:
    """The families and the written phrasings, by (family, relation, language)."""

    families: dict[str, Family]
    phrasings: dict[tuple[str, str, str], tuple[Phrasing, ...]]

    def seen(self) -> list[str]:
        return [f for f, fam in self.families.items() if not fam.held_out and f != TEMPLATE]

    def held_out(self) -> list[str]:
        return [f for f, fam in self.families.items() if fam.held_out]

    def written(self, family: str, relation: str, lang: str) -> tuple[Phrasing, ...]:
        """Phrasings of ``family`` for ``relation`` in ``lang``: its own, else the family's ``*`` ones."""
        return self.phrasings.get((family, relation, lang)) or (
            self.phrasings.get((family, ANY, lang), ()) if relation != DEFINITION else ()
        )


@lru_cache(maxsize=1)
def load_phrasings() -> PhrasingBank:
    """The packaged families and phrasings.

    Raises:
        ConfigError: a malformed row, an unknown family or language, a phrasing without ``{X}``
            (a follow-up with one), or an id used twice; the message names file and line.
    """
    fam_path, text_path = "data/families.tsv", "data/colloquial.tsv"
    families: dict[str, Family] = {}
    for line, row in tsv_rows(data_text("kgrag.kgqa", *fam_path.split("/"))):
        if len(row) != 3:
            raise ConfigError(f"kgqa/{fam_path}:{line}: expected 3 tab-separated columns; got {len(row)}")
        name, held, desc = row
        if held not in ("yes", "no"):
            raise ConfigError(f"kgqa/{fam_path}:{line}: held_out must be yes or no; got {held!r}")
        families[name] = Family(name, held == "yes", desc)
    for needed in (TEMPLATE, FOLLOWUP, *_TRANSFORMS):
        if needed not in families:
            raise ConfigError(f"kgqa/{fam_path}: family {needed!r} is missing")
    by_key: dict[tuple[str, str, str], list[Phrasing]] = defaultdict(list)
    ids: set[str] = set()
    for line, row in tsv_rows(data_text("kgrag.kgqa", *text_path.split("/"))):
        where = f"kgqa/{text_path}:{line}"
        if len(row) != 5:
            raise ConfigError(f"{where}: expected 5 tab-separated columns; got {len(row)}")
        pid, family, relation, lang, text = row
        if family not in families or family in (TEMPLATE, *_TRANSFORMS):
            raise ConfigError(f"{where}: family {family!r} is not a written family of {fam_path}")
        if lang not in LANGS:
            raise ConfigError(f"{where}: language must be one of {', '.join(LANGS)}; got {lang!r}")
        if ("{X}" in text) == (family == FOLLOWUP):
            want = "names no entity ({X})" if family == FOLLOWUP else "must contain {X}"
            raise ConfigError(f"{where}: a {family} phrasing {want}: {text!r}")
        if pid in ids:
            raise ConfigError(f"{where}: id {pid!r} is used twice")
        ids.add(pid)
        by_key[(family, relation, lang)].append(Phrasing(pid, family, relation, lang, text))
    return PhrasingBank(families, {k: tuple(v) for k, v in by_key.items()})


@lru_cache(maxsize=1)
def _to_traditional() -> object:
    from opencc import OpenCC

    return OpenCC("s2t")


def traditional(text: str) -> str:
    """``text`` in traditional characters (OpenCC's s2t tables)."""
    return str(_to_traditional().convert(text))  # type: ignore[attr-defined]


def typo(text: str, keep: str, rng: random.Random) -> str | None:
    """``text`` with two adjacent inner letters of one word swapped, outside ``keep`` (the entity's
    name, which retrieval must still find); None when no word of five letters or more is left."""
    spans = [m.span() for m in _WORD.finditer(text)]
    at = text.casefold().find(keep.casefold()) if keep else -1
    spans = [(s, e) for s, e in spans if at < 0 or e <= at or s >= at + len(keep)]
    words = [(s, e) for s, e in spans if len(set(text[s + 1 : e - 1].casefold())) > 1]
    if not words:
        return None
    s, e = rng.choice(words)
    for _ in range(8):
        i = rng.randrange(s + 1, e - 2)
        if text[i].casefold() != text[i + 1].casefold():
            return f"{text[:i]}{text[i + 1]}{text[i]}{text[i + 2:]}"
    return None


class Rephraser:
    """Rephrases template records in the phrasing families.

    Args:
        names: the KG's entity names (for ``mixed``: the entity's name in the other language).
        bank: the template bank the records were made with (their question templates).
        phrasings: the families and written phrasings; the packaged ones by default.
        seed: sampling seed: the same seed and records give the same variants.
        share: the chance that a train or validation record gets a seen-family variant (a test
            record always gets one held-out and, with this chance, one seen variant).
        followup_share: the chance that an entity's relation records (per language) give a two-turn
            follow-up record.
    """

    def __init__(self, names: EntityNames, bank: TemplateBank, phrasings: PhrasingBank | None = None, *,
                 seed: int = 0, share: float = 0.5, followup_share: float = 0.3) -> None:
        if not (0 <= share <= 1 and 0 <= followup_share <= 1):
            raise ConfigError(f"shares must be in [0, 1]; got {share} and {followup_share}")
        self.names, self.bank, self.seed = names, bank, seed
        self.phrasings = phrasings or load_phrasings()
        self.share, self.followup_share = share, followup_share
        self._rows = {eid: i for i, eid in enumerate(names.ids)}
        self._templates = {t.id: t for t in bank.questions}

    def variants(self, records: Sequence[QARecord]) -> list[QARecord]:
        """The new records: rephrasings of ``records``' description and relation questions, and follow-ups."""
        out: list[QARecord] = []
        by_head: dict[tuple[str, str, str], list[QARecord]] = defaultdict(list)
        for r in records:
            if r.type not in ("description", "relation") or r.family != TEMPLATE:
                continue
            rng = random.Random(f"{self.seed}\trephrase\t{r.id}")
            if r.split == "test":
                out += self._in(self.phrasings.held_out(), r, rng, HELD_OUT_SPLIT)
            if rng.random() < self.share:
                out += self._in(self.phrasings.seen(), r, rng, r.split)
            if r.type == "relation":
                by_head[(r.head, r.lang, r.split)].append(r)
        for key, group in by_head.items():
            rng = random.Random(f"{self.seed}\tfollowup\t{key}")
            if len(group) > 1 and rng.random() < self.followup_share:
                first, second = rng.sample(group, 2)
                if (rec := self._followup(first, second, rng)) is not None:
                    out.append(rec)
        seen = {(r.question, r.answer) for r in records}
        unique = []
        for rec in out:  # as the generator: each (question, answer) once, a follow-up by its whole dialogue
            pair = (rec.question if not rec.history else repr((rec.history, rec.question)), rec.answer)
            if pair not in seen:
                seen.add(pair)
                unique.append(rec)
        return unique

    def _in(self, families: list[str], r: QARecord, rng: random.Random, split: str) -> list[QARecord]:
        """One variant of ``r`` in a family drawn from ``families`` (trying the others when the first
        cannot phrase it), or none."""
        order = [f for f in families if f != FOLLOWUP]
        rng.shuffle(order)
        for family in order:
            if (q := self._phrase(family, r, rng)) is not None:
                text, template = q
                return [replace(r, id=f"{r.id}~{template}", question=text, template=template, family=family,
                                split=split)]
        return []

    def _phrase(self, family: str, r: QARecord, rng: random.Random) -> tuple[str, str] | None:
        if family not in _TRANSFORMS:
            written = self.phrasings.written(family, r.relation, r.lang)
            if not written or (r.relation == DEFINITION and not self._is_condition(r)):
                return None  # "my doctor says I have X" fits a disease or finding, not a drug
            p = rng.choice(written)
            return render(p.text, X=r.head_name, R=self._noun(r)), p.id
        if family == "traditional":
            text = traditional(r.question) if r.lang == "zh" else ""
            return (text, f"{r.template}:trad") if text and text != r.question else None
        if family == "typo":
            typed = typo(r.question, r.head_name, rng) if r.lang == "en" else None
            return (typed, f"{r.template}:typo") if typed else None
        other = self._other_name(r)
        template = self._templates.get(r.template)
        if other is None or template is None:
            return None
        return render(template.text, X=other, R=self._noun(r)), f"{r.template}:mixed"

    def _is_condition(self, r: QARecord) -> bool:
        """Whether the record's entity is a disease, symptom or phenotype (what a person "has")."""
        row = self._rows.get(r.head)
        kind = self.names.type_name(row) if row is not None else None
        return kind in _CONDITIONS

    def _noun(self, r: QARecord) -> str:
        spec = self.bank.relations.get(r.relation)
        return spec.noun(r.lang) if spec is not None else ""

    def _other_name(self, r: QARecord) -> str | None:
        """The entity's name in the other language (a Chinese question naming it in English, or the reverse)."""
        row = self._rows.get(r.head)
        if row is None:
            return None
        other = self.names.surface(row, "en" if r.lang == "zh" else "zh")
        if not other or other.casefold() == r.head_name.casefold() or has_cjk(other) != (r.lang == "en"):
            return None
        return other

    def _followup(self, first: QARecord, second: QARecord, rng: random.Random) -> QARecord | None:
        written = self.phrasings.written(FOLLOWUP, second.relation, second.lang)
        if not written or first.relation == second.relation:
            return None
        p = rng.choice(written)
        return replace(second, id=f"{second.id}~{p.id}", question=render(p.text, R=self._noun(second)),
                       template=p.id, family=FOLLOWUP, history=((first.question, first.answer),))
