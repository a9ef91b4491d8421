"""Grounded training examples: a KG-QA pair put in exactly the service's prompt.

The service shows the model retrieved facts, numbered, and asks it to answer from them and cite
[n] (:func:`kgrag.generation.prompts.build_grounded_prompt`). A model fine-tuned only on closed-book
pairs learns to recite; one that also sees the pair inside that prompt, with the facts stating the
answer mixed among distractors, learns to find the facts that answer, cite them and ignore the
rest. Three kinds of distractor, as retrieval brings them: other relations of the same entity, the
same relation of other entities (hard negatives), and, for a share of examples, only facts that do
not answer at all — the target then says plainly that the facts do not cover the question.

Example:
    >>> builder = GroundedBuilder(load_store("kg/store/default"), seed=0)
    >>> messages = builder.build(example)   # system, user (facts + question), assistant (cited answer)
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence

import numpy as np

from kgrag.errors import ConfigError, DataError
from kgrag.generation.prompts import build_grounded_prompt
from kgrag.generation.safety import assess
from kgrag.generation.types import Message
from kgrag.kg.graph import KnowledgeGraph
from kgrag.kgqa.records import Example
from kgrag.kgqa.templates import clean_item
from kgrag.lang import question_lang
from kgrag.retrieval.localize import NameLocalizer
from kgrag.retrieval.retriever import RetrievedFact

#: The target when no fact answers: what the system prompt's rule 3 asks for.
NOT_COVERED = {
    "zh": "知识图谱提供的事实没有涉及这个问题，我无法据此回答；如有需要，请咨询医生。",
    "en": (
        "The facts from the knowledge graph do not cover this question, so I cannot answer it from them; "
        "please ask a clinician if you need advice."
    ),
}
_END = re.compile(r"[。！？.!?]\s*$")


class GroundedBuilder:
    """Turns KG-QA examples into grounded chats over one KG.

    Args:
        kg: the graph the examples' ``facts`` rows belong to.
        seed: sampling seed (the same seed and example give the same chat).
        max_facts: the most facts in a prompt besides the answering ones' overflow (the service's
            ``top_k``); at least two distractors are always added.
        none_share: the share of examples whose facts do not answer (target: :data:`NOT_COVERED`).
    """

    def __init__(self, kg: KnowledgeGraph, *, seed: int = 0, max_facts: int = 8, none_share: float = 0.1) -> None:
        if not 0 <= none_share < 1:
            raise ConfigError(f"none_share must be in [0, 1); got {none_share}")
        self.kg, self.seed, self.max_facts, self.none_share = kg, seed, max_facts, none_share
        self._f_rel = np.asarray(kg.fact_relation_codes())
        self._f_head = np.asarray(kg.fact_heads())
        self._links = kg.link_mask()[self._f_rel]  # per fact: a cross-source identity link
        self._by_rel: dict[int, np.ndarray] = {}
        self._localizer = NameLocalizer(kg)  # names in the question's language, as the service shows them

    def usable(self, ex: Example) -> bool:
        """True when ``ex`` can be grounded: a KG-QA record whose facts are rows of this KG."""
        return ex.is_kgqa and bool(ex.facts) and all(0 <= f < self.kg.n_facts for f in ex.facts)

    def build(self, ex: Example) -> tuple[Message, ...]:
        """The service's prompt for ``ex``'s question over its facts and distractors, then the cited answer.

        Raises:
            ValueError: ``ex`` is not :meth:`usable`.
        """
        if not self.usable(ex):
            raise DataError(ex.path, ex.line, f"example {ex.id} has no KG facts to ground it on")
        rng = random.Random(f"{self.seed}\t{ex.id}")
        question = ex.question
        lang = question_lang(question)
        gold = list(dict.fromkeys(ex.facts))
        answer: str | None = None
        if rng.random() < self.none_share:
            rows = self._others(gold, rng, rng.randint(3, self.max_facts), same_head=False)
            answer = NOT_COVERED[lang]
        else:
            n_extra = max(2, rng.randint(len(gold) + 1, max(self.max_facts, len(gold) + 2)) - len(gold))
            rows = gold + self._others(gold, rng, n_extra, same_head=True)
            rng.shuffle(rows)
            numbers = {row: n for n, row in enumerate(rows, 1)}
        facts = [RetrievedFact.from_row(self.kg, r, lang, localizer=self._localizer) for r in rows]
        if answer is None:
            shown = {f.fact: f for f in facts}
            marks = [(numbers[r], _mentioned(ex.answer, clean_item(self.kg.fact_tail_text(r)), shown[r].tail_local))
                     for r in gold]
            answer = cite(ex.answer, marks, avoid=(ex.head_name,))
        history = [m for m in ex.messages[:-2] if m.role != "system"]  # a follow-up's earlier turns
        prompt = build_grounded_prompt(
            question, facts, lang=lang, history=history, count_tokens=len, max_prompt_tokens=1 << 30,
            safety=assess(question, lang),
        )
        return (*prompt.messages, Message("assistant", answer))

    def _others(self, gold: list[int], rng: random.Random, n: int, *, same_head: bool) -> list[int]:
        """``n`` distractor rows: up to half from the head's other relations (``same_head``), the rest
        facts of the same relations about other entities; never a gold row, a link or a fact of a gold head."""
        heads = {int(self._f_head[g]) for g in gold}
        taken = set(gold)
        out: list[int] = []
        if same_head:
            own = [int(j) for h in heads for j in self.kg.out_facts(h)]
            own = [j for j in own if j not in taken and not self._links[j] and self._f_rel[j] != self._f_rel[gold[0]]]
            rng.shuffle(own)
            out += own[: n // 2 + n % 2]
            taken.update(out)
        pools = [self._pool(int(self._f_rel[g])) for g in gold]
        for _ in range(8 * n):
            if len(out) >= n:
                break
            pool = pools[rng.randrange(len(pools))]
            j = int(pool[rng.randrange(len(pool))])
            if j not in taken and int(self._f_head[j]) not in heads:
                taken.add(j)
                out.append(j)
        return out

    def _pool(self, code: int) -> np.ndarray:
        if code not in self._by_rel:
            rows = np.flatnonzero((self._f_rel == code) & ~self._links)
            self._by_rel[code] = rows if len(rows) else np.flatnonzero(~self._links)
        return self._by_rel[code]


def _mentioned(answer: str, tail: str, local: str | None) -> str:
    """The name of a fact's tail that the answer uses: the one shown in the question's language
    (``local``) when the answer has it, else the KG's own."""
    if local and local.casefold() in answer.casefold() and tail.casefold() not in answer.casefold():
        return clean_item(local)
    return tail


def cite(answer: str, marks: Sequence[tuple[int, str]], avoid: Sequence[str] = ()) -> str:
    """``answer`` with ``[n]`` after the first mention of each fact's tail, and the numbers of facts
    it does not mention verbatim (a translated name, say) before its final punctuation.

    Args:
        answer: the reference answer.
        marks: (number, tail text) per answering fact.
        avoid: texts a mention may not fall inside (the entity asked about: "myelodysplasia" is in
            "Multiple lineage myelodysplasia").

    Example:
        >>> cite("糖尿病的常见症状包括多饮、多尿。", [(2, "多饮"), (5, "多尿")])
        '糖尿病的常见症状包括多饮[2]、多尿[5]。'
    """
    folded = answer.casefold()
    spans = [(m.start(), m.end()) for a in avoid if a for m in re.finditer(re.escape(a.casefold()), folded)]
    placed: list[tuple[int, int]] = []  # (position, number)
    rest: list[int] = []
    for n, tail in sorted(marks, key=lambda m: -len(m[1])):
        at = folded.find(tail.casefold()) if tail else -1
        while at >= 0 and any(s < at + len(tail) and at < e for s, e in spans):
            at = folded.find(tail.casefold(), at + 1)
        if at < 0:
            rest.append(n)
            continue
        spans.append((at, at + len(tail)))
        placed.append((at + len(tail), n))
    out = answer
    for pos, n in sorted(placed, reverse=True):
        out = f"{out[:pos]}[{n}]{out[pos:]}"
    if rest:
        tag = "".join(f"[{n}]" for n in sorted(rest))
        m = _END.search(out)
        out = f"{out[: m.start()]}{tag}{out[m.start() :]}" if m else f"{out}{tag}"
    return out
