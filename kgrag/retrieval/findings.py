"""From findings to diseases: the diseases that have most of the symptoms and signs a question names.

A patient describes what they feel ("关节红肿疼痛，血尿酸高，应该看什么科？"), not a disease. The linker
finds the longest names in the question (``关节红肿疼痛``, an entity with one fact: a herb it is an
indication of), which says nothing about the disease behind it. Here every *finding* the KG knows —
a tail of ``has_symptom``, ``clinical_sign`` or ``related_symptom`` — that the question names is
collected, overlapping ones included (关节红肿, 红肿, 疼痛), and the diseases that have them are
ranked by how many of the question's mentions they explain, each weighted by how specific its
finding is (inverse document frequency over the diseases: 疼痛 is a finding of 2,056 diseases,
关节红肿 of one). A disease must explain at least two mentions. A laboratory value in patient
wording ("血尿酸高", "血糖偏高") is read as the KG names it (高尿酸血症, 尿酸升高, 高血糖).

Names match on jieba's word boundaries: "血尿" is not a finding of "血尿酸高" (it ends inside the word
血尿酸). Mentions that overlap are one mention: a disease scores the best of its findings there.

The ranked diseases, each with the facts that join it to the question's findings (its evidence),
become seeds of the graph walk, so the question's asked relation (department, tests, drugs) is
answered for them, every step cited. ``separating_finding`` names the finding that best splits
the top candidates (present in about half of them), for a clarifying question.

Hand-written scoring rather than a trained model: there is no labelled symptom → disease set
here, and the weights are a few lines that can be read and checked.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from dataclasses import dataclass, field, replace
from functools import cached_property

import numpy as np

from kgrag.kg.graph import KnowledgeGraph, normalize_name
from kgrag.retrieval.expansion import Candidate

FINDING_RELATIONS = ("has_symptom", "clinical_sign", "related_symptom")
MIN_MENTIONS = 2
"""Mentions a disease must explain to be a candidate: one finding alone names too many diseases."""
MAX_SPAN_TOKENS = 4
MAX_SPAN_CHARS = 12
_HIGH = re.compile(r"^(?:血)?(.{1,6}?)(?:偏高|升高|增高|过高|高)$")
_LOW = re.compile(r"^(?:血)?(.{1,6}?)(?:偏低|降低|减低|过低|低)$")


@dataclass(frozen=True, slots=True)
class Mention:
    """Findings named by one stretch of the question (``start``..``end``, characters)."""

    start: int
    end: int
    findings: tuple[int, ...]
    named: tuple[int, ...] = ()
    """Diseases the stretch names as a laboratory value in patient wording (血尿酸高 → 高尿酸血症)."""


@dataclass(frozen=True, slots=True)
class Hypothesis:
    """A disease that explains several of the question's mentions.

    Attributes:
        disease: its entity row.
        score: the summed specificity (idf) of the best finding it has at each mention.
        evidence: the facts ``disease —finding relation→ finding`` that earned it, one per mention.
        findings: those findings' rows, in the same order.
    """

    disease: int
    score: float
    evidence: tuple[int, ...]
    findings: tuple[int, ...]
    named: bool = False
    """The question names the disease itself (血尿酸高 → 高尿酸血症) rather than only its findings."""


@dataclass
class FindingsIndex:
    """Findings of ``kg`` and the diseases that have them, built once per store (~1 s)."""

    kg: KnowledgeGraph
    _by_name: dict[str, list[int]] = field(default_factory=dict)

    @cached_property
    def _facts_of(self) -> dict[int, dict[int, int]]:
        """Finding row → {disease row: the fact joining them}."""
        kg = self.kg
        codes = [c for c in (kg.relation_code(r) for r in FINDING_RELATIONS) if c is not None]
        tails, heads = kg.fact_tails(), kg.fact_heads()
        rows = np.nonzero(np.isin(kg.fact_relation_codes(), codes) & (tails >= 0))[0]
        out: dict[int, dict[int, int]] = defaultdict(dict)
        for j, h, t in zip(rows.tolist(), heads[rows].tolist(), tails[rows].tolist(), strict=True):
            out[t].setdefault(h, j)
        return dict(out)

    @cached_property
    def n_diseases(self) -> int:
        return len({d for ds in self._facts_of.values() for d in ds})

    @cached_property
    def names(self) -> dict[str, list[int]]:
        """Normalized name → finding rows (names of two characters or more)."""
        out: dict[str, list[int]] = defaultdict(list)
        for t in self._facts_of:
            name = normalize_name(self.kg.entity_name(t))
            if len(name) >= 2:
                out[name].append(t)
        return dict(out)

    def weight(self, finding: int) -> float:
        """How specific a finding is: log(diseases / diseases that have it)."""
        return math.log(self.n_diseases / max(1, len(self._facts_of.get(finding, ()))))

    def diseases_of(self, finding: int) -> dict[int, int]:
        return self._facts_of.get(finding, {})

    def warm(self) -> None:
        _ = self.names, self.n_diseases


SYMPTOM_TYPES = ("症状", "phenotype")
"""Entity types of findings proper: a question must name two of them (or laboratory values) before
it is read as a description of findings, so "高血压和糖尿病" (two diseases, each a finding of some
third disease in CMeKG) stays a question about those two."""
NOT_A_FINDING = re.compile(r"检查|试验|检测|化验|诊断|治疗|手术|无症状|等$")
"""Finding names that are in fact tests or treatments (CMeKG: 实验室检查 —a "symptom"): never asked about."""
SUBSPAN_FACTOR = 0.5
"""A finding that covers only part of its mention (关节 of 关节红肿) counts this share of its weight."""


class FindingsRanker:
    """Ranks the diseases behind the findings a question names.

    Args:
        kg: the graph.
        max_hypotheses: diseases returned, best first.
    """

    def __init__(self, kg: KnowledgeGraph, max_hypotheses: int = 3) -> None:
        self.kg = kg
        self.index = FindingsIndex(kg)
        self.max_hypotheses = max_hypotheses

    def mentions(self, question: str) -> list[Mention]:
        """The findings the (normalized) question names, grouped into non-overlapping mentions."""
        import jieba  # loaded by the linker already

        tokens = [t for t in jieba.cut(question) if t]
        bounds = np.cumsum([0] + [len(t) for t in tokens]).tolist()
        names, kg_names = self.index.names, self.kg.name_index()
        spans: list[tuple[int, int, list[int], list[int]]] = []
        for i in range(len(tokens)):
            for k in range(i + 1, min(len(tokens), i + MAX_SPAN_TOKENS) + 1):
                start, end = bounds[i], bounds[k]
                if end - start > MAX_SPAN_CHARS:
                    break
                text = normalize_name(question[start:end])
                rows = list(names.get(text, ()))
                readings = _lab_readings(text)
                rows += [r for alt in readings for r in names.get(alt, ())]
                named = [r for alt in readings for r in kg_names.get(alt, ()) if self._is_disease(r)]
                if rows or named:
                    spans.append((start, end, rows, named))
        spans.sort(key=lambda s: (s[0], s[1]))
        merged: list[Mention] = []
        for start, end, rows, named in spans:
            if merged and start < merged[-1].end:
                last = merged[-1]
                merged[-1] = Mention(last.start, max(last.end, end), tuple(dict.fromkeys(last.findings + tuple(rows))),
                                     tuple(dict.fromkeys(last.named + tuple(named))))
            else:
                merged.append(Mention(start, end, tuple(dict.fromkeys(rows)), tuple(dict.fromkeys(named))))
        return merged

    def rank(self, question: str) -> list[Hypothesis]:
        """Diseases explaining at least :data:`MIN_MENTIONS` of the question's mentions, best first
        (ties: the disease with more facts, i.e. the better described one)."""
        mentions = self.mentions(question)
        if sum(self._is_symptomatic(m) for m in mentions) < MIN_MENTIONS:
            return []
        best: dict[int, dict[int, tuple[float, int, int]]] = defaultdict(dict)  # disease → mention → (w, fact, finding)
        named: set[int] = set()
        for m, mention in enumerate(mentions):
            span = normalize_name(question[mention.start:mention.end])
            for finding in mention.findings:
                whole = normalize_name(self.kg.entity_name(finding)) == span
                w = self.index.weight(finding) * (1.0 if whole else SUBSPAN_FACTOR)
                for disease, fact in self.index.diseases_of(finding).items():
                    if m not in best[disease] or best[disease][m][0] < w:
                        best[disease][m] = (w, fact, finding)
            for disease in mention.named:  # a disease the question names explains its own mention
                named.add(disease)
                best[disease][m] = (max(self.index.weight(disease), best[disease].get(m, (0.0,))[0]), -1, disease)
        degrees = self.kg.out_degrees()
        scored = []
        for disease, per in best.items():
            if len(per) < (1 if disease in named else MIN_MENTIONS):
                continue
            hits = [per[m] for m in sorted(per)]
            scored.append(Hypothesis(
                disease, round(sum(w for w, _, _ in hits), 3),
                tuple(j for _, j, _ in hits if j >= 0), tuple(f for _, j, f in hits if j >= 0), disease in named,
            ))
        scored.sort(key=lambda h: (-h.score, -int(degrees[h.disease]), h.disease))
        return scored[: self.max_hypotheses]

    def describe(self, hypotheses: list[Hypothesis], question: str) -> list[dict[str, object]]:
        """The hypotheses as the retrieval result shows them: id, name, score, findings, evidence
        facts, whether the question named the disease, and on the first the finding to ask about."""
        kg, out = self.kg, []
        for h in hypotheses:
            out.append({"id": kg.entity_id(h.disease), "name": kg.entity_name(h.disease), "score": h.score,
                        "findings": [kg.entity_name(f) for f in h.findings], "evidence": list(h.evidence),
                        "named": h.named})
        if out and (ask := self.separating_finding(hypotheses, question)) is not None:
            out[0]["ask_about"] = kg.entity_name(ask)
        return out

    def separating_finding(self, hypotheses: list[Hypothesis], question: str) -> int | None:
        """The finding, not named in the question, that splits the candidates most evenly (the one
        to ask about), or None with fewer than two candidates."""
        if len(hypotheses) < 2:
            return None
        asked = {f for m in self.mentions(question) for f in m.findings}
        count: dict[int, int] = defaultdict(int)
        for h in hypotheses:
            for j in self.kg.out_facts(h.disease):
                t = self.kg.fact_tail(int(j))
                if t >= 0 and t not in asked and self.index.diseases_of(t) and self._askable(t):
                    count[t] += 1
        n = len(hypotheses)
        split = [(abs(c - n / 2), -self.index.weight(f), f) for f, c in count.items() if 0 < c < n]
        return min(split)[2] if split else None

    def _is_symptomatic(self, mention: Mention) -> bool:
        """The mention names a finding proper (typed as a symptom or phenotype) or a lab value."""
        return bool(mention.named) or any(t in SYMPTOM_TYPES for f in mention.findings for t in self.kg.types_of(f))

    def _askable(self, finding: int) -> bool:
        name = self.kg.entity_name(finding)
        return (len(name) >= 2 and not NOT_A_FINDING.search(name) and len(self.index.diseases_of(finding)) >= 3
                and any(t in SYMPTOM_TYPES for t in self.kg.types_of(finding)))

    def _is_disease(self, row: int) -> bool:
        """An entity with findings of its own (高尿酸血症 —has_symptom→ 关节炎)."""
        codes = {self.kg.relation_code(r) for r in FINDING_RELATIONS}
        rels = self.kg.fact_relation_codes()
        return any(int(rels[j]) in codes for j in self.kg.out_facts(row))


def _lab_readings(text: str) -> list[str]:
    """How the KG names a laboratory value said in patient wording: 血尿酸高 → 高尿酸血症, 高尿酸,
    尿酸升高, 尿酸增高; 血钾低 → 低钾血症, 低钾, 血钾降低 … (empty for other text)."""
    for pattern, word, moves in ((_HIGH, "高", ("升高", "增高")), (_LOW, "低", ("降低", "减低"))):
        if (m := pattern.match(text)) and len(text) > len(m.group(1)):
            x = m.group(1).removeprefix("血")
            return [f"{word}{x}血症", f"{word}{x}", f"{word}血{x}", *(f"{x}{v}" for v in moves),
                    *(f"血{x}{v}" for v in moves)]
    return []


def with_evidence(candidates: list[Candidate], hypotheses: list[Hypothesis], weight: float) -> list[Candidate]:
    """``candidates`` with each hypothesis' evidence facts (disease —finding→ finding) as bridges:
    they join the question's findings to the disease, as a bridge joins two of its mentions; those
    not walked yet join with seed weight ``weight``."""
    evidence = {j: h.disease for h in hypotheses for j in h.evidence}
    if not evidence:
        return candidates
    out = [replace(c, bridge=True) if c.fact in evidence else c for c in candidates]
    have = {c.fact for c in candidates}
    out += [Candidate(j, d, d, 0, weight, bridge=True) for j, d in evidence.items() if j not in have]
    return out
