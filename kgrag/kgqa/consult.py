"""Consultations whose right move is one clarifying question (the proactive questioning
DISC-MedLLM is trained for), grounded in the KG.

A patient names one symptom S that several diseases of the KG have (``has_symptom``). The reply
names two of them, D1 and D2, says the symptom alone does not tell them apart, and asks about
one finding F that D1 has and D2 does not — the finding with the fewest diseases in the KG (the
most telling one). D1 and D2 come from the symptom's best-described diseases (most facts), so the
reply names common causes before rare ones. Its facts are the three that say so (D1 —症状→ S,
D2 —症状→ S, D1 —症状→ F), so the grounded form of the record shows the model these facts and a
cited reply that asks, rather than a list of every disease with that symptom.

Wordings live in ``data/consult.tsv``. Records are split by the symptom's entity (the KG-QA split
rule), and only into ``train`` and ``validation``: ``kgrag eval qa`` scores answers by the facts
they state, which a question back does not, so these records are not in its test splits.

Example:
    >>> records = Consultations(names, seed=0).records(per_lang=2000)
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from kgrag.errors import ConfigError
from kgrag.kgqa.dataset_formats import QARecord
from kgrag.kgqa.entities import EntityNames
from kgrag.kgqa.templates import is_junk, render
from kgrag.lang import LANGS, has_cjk
from kgrag.tsv import data_text, tsv_rows

CONSULT = "consult"
RELATION = "has_symptom"
MIN_DISEASES, MAX_DISEASES = 2, 40
"""A symptom asked about has at least two diseases (else there is nothing to ask) and at most 40
(a finding shared by more, such as 发热, is better asked with more detail than one question gives)."""
SPLITS = ("train", "validation")
TOP_DISEASES = 6
"""D1 and D2 are drawn from the symptom's six best-described diseases, not from rare ones."""
MAX_FINDING_CHARS = 10
"""A longer "finding" is a course note ("多在儿童及成人早期起病"), not something to ask a patient about."""
CONSULT_LANGS = ("zh",)
"""CMeKG's English symptom names are too often glued or Roman numerals ("IV") to ask in English."""
SYMPTOM, DISEASE = "症状", "疾病"
"""CMeKG's types of what a patient reports (S, F) and of what may cause it (D1, D2)."""


@dataclass(frozen=True, slots=True)
class Wording:
    id: str
    kind: str
    lang: str
    text: str


def wordings() -> list[Wording]:
    """The rows of ``data/consult.tsv``.

    Raises:
        ConfigError: a row with other than 4 columns, or an unknown kind or language (file and line).
    """
    out = []
    for n, row in tsv_rows(data_text("kgrag.kgqa", "data", "consult.tsv")):
        if len(row) != 4 or row[1] not in ("question", "answer") or row[2] not in LANGS:
            raise ConfigError(f"kgrag/kgqa/data/consult.tsv:{n}: expected id, question|answer, zh|en, text; got {row}")
        out.append(Wording(*row))
    return out


class Consultations:
    """Makes consultation records from the KG of ``names``.

    Args:
        names: the KG-QA generator's entity names (labels per language, the entity split).
        seed: sampling seed; the same seed gives the same records.
    """

    def __init__(self, names: EntityNames, *, seed: int = 0) -> None:
        self.names, self.seed = names, seed
        kg = names.kg
        code = kg.relation_code(RELATION)
        self._diseases: dict[int, list[int]] = defaultdict(list)  # symptom -> diseases
        self._symptoms: dict[int, set[int]] = defaultdict(set)  # disease -> symptoms
        self._fact: dict[tuple[int, int], int] = {}
        if code is not None:
            rel, heads, tails = (np.asarray(a) for a in (kg.fact_relation_codes(), kg.fact_heads(), kg.fact_tails()))
            for j in np.flatnonzero((rel == code) & (tails >= 0)).tolist():
                d, s = int(heads[j]), int(tails[j])
                if (kg.entity_source(d) != "cmekg" or (d, s) in self._fact or DISEASE not in kg.types_of(d)
                        or SYMPTOM not in kg.types_of(s)):
                    continue
                self._fact[(d, s)] = j
                self._diseases[s].append(d)
                self._symptoms[d].add(s)
        self._wordings = wordings()

    def records(self, per_lang: int, langs: Sequence[str] = LANGS) -> list[QARecord]:
        """Up to ``per_lang`` records per language of :data:`CONSULT_LANGS`, one per symptom, in seeded order."""
        out: list[QARecord] = []
        for lang in [x for x in langs if x in CONSULT_LANGS]:
            questions = [w for w in self._wordings if w.kind == "question" and w.lang == lang]
            answers = [w for w in self._wordings if w.kind == "answer" and w.lang == lang]
            if not questions or not answers:
                raise ConfigError(f"kgrag/kgqa/data/consult.tsv: no question or answer wording in {lang}")
            symptoms = sorted(s for s, ds in self._diseases.items() if MIN_DISEASES <= len(ds) <= MAX_DISEASES)
            random.Random(f"{self.seed}\tconsult\t{lang}").shuffle(symptoms)
            made = 0
            for s in symptoms:
                if made >= per_lang:
                    break
                record = self._record(s, lang, questions, answers)
                if record is not None:
                    out.append(record)
                    made += 1
        return out

    def _label(self, row: int, lang: str) -> str | None:
        name = self.names.label(row, lang)
        if not name or has_cjk(name) != (lang == "zh") or len(name) > 40 or is_junk(name) or name.endswith("等"):
            return None
        return name

    def _record(self, s: int, lang: str, questions: list[Wording], answers: list[Wording]) -> QARecord | None:
        split = self.names.split_of(s)
        symptom = self._label(s, lang)
        if split not in SPLITS or symptom is None:
            return None
        kg = self.names.kg
        rng = random.Random(f"{self.seed}\tconsult\t{kg.entity_id(s)}\t{lang}")
        # the best-described diseases first (most facts: the common ones), in seeded order among them
        diseases = sorted((d for d in self._diseases[s] if self._label(d, lang)),
                          key=lambda d: (-len(kg.out_facts(d)), kg.entity_id(d)))[:TOP_DISEASES]
        rng.shuffle(diseases)
        for d1 in diseases:
            for d2 in diseases:
                n1, n2 = str(self._label(d1, lang)), str(self._label(d2, lang))
                if d2 == d1 or n1 in n2 or n2 in n1:  # 心力衰竭 and 急性心力衰竭 are one question, not two
                    continue
                telling = [f for f in self._symptoms[d1] - self._symptoms[d2] - {s}
                           if len(self._label(f, lang) or "x" * MAX_FINDING_CHARS * 2) <= MAX_FINDING_CHARS]
                if not telling:
                    continue
                f = min(telling, key=lambda r: (len(self._diseases[r]), kg.entity_id(r)))
                names = {"S": symptom, "D1": n1, "D2": n2, "F": str(self._label(f, lang))}
                q, a = rng.choice(questions), rng.choice(answers)
                return QARecord(
                    id=f"{lang}:{CONSULT}:{RELATION}:{kg.entity_id(s)}:{q.id}", type=CONSULT, relation=RELATION,
                    lang=lang, source="cmekg", head=kg.entity_id(s), head_name=symptom, split=split,
                    template=q.id, question=render(q.text, **names), answer=render(a.text, **names),
                    facts=(self._fact[(d1, s)], self._fact[(d2, s)], self._fact[(d1, f)]),
                )
        return None
