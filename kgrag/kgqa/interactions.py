"""KG-QA records about drug–drug interactions: "Can I take X with Y?" answered from the ANSM
thesaurus' ``interacts_with`` fact joining the two, with its severity in the question's language.

The thesaurus names substances in French (``ddi`` source); a question names each by its linked
twin (``same_drug_substance``): the drug dictionary's English name, CMeKG's Chinese one
(:class:`~kgrag.retrieval.localize.NameLocalizer`). Substances without a twin in the question's
language, and class-level rules (their classes have French names only), are left out. Answers
state the severity and urge asking a doctor or pharmacist; the mechanism stays in the fact.

Records are ``relation`` records of ``interacts_with`` (the answer names the other drug, so the
QA eval scores them like any relation answer), split by the first substance's entity.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence

import numpy as np

from kgrag.kgqa.dataset_formats import QARecord
from kgrag.kgqa.entities import EntityNames
from kgrag.lang import LANGS
from kgrag.retrieval.localize import NameLocalizer

RELATION = "interacts_with"
SOURCE = "ddi"
QUESTIONS = {
    "zh": ("{A}和{B}能一起吃吗？", "{A}跟{B}一起用有没有问题？", "同时服用{A}和{B}安全吗？"),
    "en": ("Can I take {A} with {B}?", "Does {A} interact with {B}?", "Is it safe to take {A} and {B} together?"),
}
ANSWERS = {
    "zh": "法国药品管理局（ANSM）的药物相互作用目录记载{A}与{B}存在相互作用，级别为：{S}。"
          "同时使用前请咨询医生或药师。",
    "en": "The ANSM drug interaction thesaurus records an interaction between {A} and {B}: {S}. "
          "Ask a doctor or pharmacist before taking them together.",
}
_SEVERITY = re.compile(r"severity: (.+?)(?: \(by dose or situation\))? \[ANSM")


def severities(qualifier: str | None, lang: str) -> str | None:
    """The severity levels of an interaction fact's qualifier in ``lang`` ("contraindicated,
    take into account"; "禁止合用、需注意"), or None when it has none."""
    m = _SEVERITY.match(qualifier or "")
    if m is None:
        return None
    parts = [p.split(" / ") for p in m.group(1).split(", ")]
    names = [p[1] if lang == "zh" else p[0] for p in parts if len(p) == 2]
    return ("、" if lang == "zh" else ", ").join(names) or None


def interaction_records(names: EntityNames, *, seed: int = 0, langs: Sequence[str] = LANGS) -> list[QARecord]:
    """One record per language for each substance–substance interaction fact whose two drugs have
    names in that language."""
    kg = names.kg
    code = kg.relation_code(RELATION)
    if code is None:
        return []
    local = NameLocalizer(kg)
    rel, heads, tails = (np.asarray(a) for a in (kg.fact_relation_codes(), kg.fact_heads(), kg.fact_tails()))
    out: list[QARecord] = []
    for j in np.flatnonzero((rel == code) & (tails >= 0)).tolist():
        a, b = int(heads[j]), int(tails[j])
        if kg.entity_source(a) != SOURCE:
            continue
        for lang in langs:
            na, nb, sev = local.name(a, lang), local.name(b, lang), severities(kg.fact(j).qualifier, lang)
            if not na or not nb or not sev or na.casefold() == nb.casefold():
                continue
            rng = random.Random(f"{seed}\tinteraction\t{j}\t{lang}")
            q = rng.randrange(len(QUESTIONS[lang]))
            question = QUESTIONS[lang][q].format(A=na, B=nb)
            out.append(QARecord(
                id=f"{lang}:relation:{RELATION}:{kg.entity_id(a)}:{kg.entity_id(b)}:{lang}-ddi-{q + 1}",
                type="relation", relation=RELATION, lang=lang, source=SOURCE, head=kg.entity_id(a), head_name=na,
                split=names.split_of(a), template=f"{lang}-ddi-{q + 1}", question=question,
                answer=ANSWERS[lang].format(A=na, B=nb, S=sev), facts=(j,),
            ))
    return out
