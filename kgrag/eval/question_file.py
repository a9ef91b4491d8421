"""KG-QA ``relation`` records read back as retrieval questions, for ``kgrag eval retrieval --questions``.

A record's ``facts`` are its gold (every one of them answers it: facts of its head, or of a twin
of it where the head has none); its ``accepted`` set adds, as
:mod:`kgrag.kgqa.questions` does, the same relation and tail text reached through a twin of the
head (:meth:`~kgrag.kgqa.questions.QuestionGenerator.twins`). The record's ``family`` is the
question's style (``heldout_carer``), the last part of its id its template (the phrasing's id).
Other record types (descriptions, pairs, choices) and relation records without fact rows (an
ICD-10-CM code is the entity's id) have no facts to rank and are counted apart.

Example:
    >>> questions, skipped = eval_questions(read_examples("patient_questions.jsonl"), kg)
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from kgrag.errors import DataError, EntityNotFoundError
from kgrag.kg.graph import KnowledgeGraph
from kgrag.kgqa.questions import EvalQuestion, QuestionGenerator
from kgrag.kgqa.records import Example

SKIP_NOT_RELATION = "not a relation record (no facts to rank)"
SKIP_NO_FACTS = "a relation record without fact rows"


def eval_questions(examples: Sequence[Example], kg: KnowledgeGraph) -> tuple[list[EvalQuestion], dict[str, int]]:
    """The retrieval questions of ``examples`` and how many records were left out, by reason.

    Args:
        examples: KG-QA records (:func:`~kgrag.kgqa.records.read_examples`).
        kg: the store the records were made from.

    Raises:
        DataError: a record whose head is not in ``kg``, or whose fact rows are not facts of its
            head and relation there (data made from another store): names file, line and field.
    """
    gen = QuestionGenerator(kg, templates=())
    out: list[EvalQuestion] = []
    skipped: Counter[str] = Counter()
    for ex in examples:
        if ex.type != "relation":
            skipped[SKIP_NOT_RELATION] += 1
            continue
        if not ex.facts:
            skipped[SKIP_NO_FACTS] += 1
            continue
        out.append(_question(ex, kg, gen))
    return out, dict(skipped)


def _question(ex: Example, kg: KnowledgeGraph, gen: QuestionGenerator) -> EvalQuestion:
    try:
        row = kg.index_of(ex.head)
    except EntityNotFoundError:
        raise DataError(ex.path or ex.id, ex.line or None,
                        f"field 'head' {ex.head!r} is no entity of this store; evaluate with the store "
                        "the data was made from (--store)") from None
    twins = gen.twins(row)
    owners = {row, *twins}  # a KG-QA record answers from a twin's facts where its head has none
    wrong = [j for j in ex.facts
             if j >= kg.n_facts or kg.fact_head(j) not in owners or kg.fact_relation(j) != ex.relation]
    if wrong:
        raise DataError(ex.path or ex.id, ex.line or None,
                        f"field 'facts': row {wrong[0]} is not a {ex.relation} fact of {ex.head} (or a twin) in this "
                        f"store ({kg.n_facts} facts); evaluate with the store the data was made from (--store), "
                        "or make the data again from this one")
    gold = tuple(sorted(set(ex.facts)))
    tails = {kg.fact_tail_text(j).casefold() for j in gold}
    extra = [j for t in twins for j in gen.facts(t, ex.relation) if kg.fact_tail_text(j).casefold() in tails]
    return EvalQuestion(
        qid=ex.id, text=ex.question, lang=ex.lang, style=ex.family or "template", relation=ex.relation,
        template=ex.id.rsplit(":", 1)[-1], head=ex.head, head_name=ex.head_name, split=ex.split,
        twins=tuple(kg.entity_id(t) for t in twins), gold=gold, accepted=tuple(sorted({*gold, *extra})),
    )
