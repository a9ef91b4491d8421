"""How well a chat model answers held-out KG-QA records, closed-book or with the service's retrieval.

* ``choice`` records are scored by likelihood, not by parsing generated text: each option by the
  log-likelihood of "答案是C" / "The answer is C" (its letter, as the question lists it), and the
  best option must be the right one. (The option text's mean log-probability per token, the first
  scorer, measured mostly how easy an option is to copy and fell below chance on the H100 run,
  BENCHMARKS.md; it is no longer computed.) The options of many questions go through the model in
  one left-padded forward pass.
* ``relation`` and ``pair`` records are answered by greedy generation in batches of similar
  prompt length and matched against their gold items (:mod:`kgrag.eval.gold`).
* ``description`` records (and yes/no ``contagious`` ones) are counted as skipped.

Closed-book, a question's prompt is the question alone (the chat template adds its default
system prompt); with retrieval it is exactly the service's grounded prompt
(:meth:`~kgrag.generation.answer.Answerer.prepare`), and every open answer is checked against
the facts it was given as the service checks it (:func:`~kgrag.generation.checking.apply_check`):
``supported`` is the share of its judged sentences that the facts they cite support, over the
answers the service would show as the model wrote them; an answer the service would replace by
one composed from the facts (an echo of the facts block, no citation, a contradiction) is counted
in ``composed``, apart, and its sentences in ``supported_all`` only.

Example:
    >>> examples = read_examples("data/kgqa/default/chat/test.jsonl")
    >>> questions, skipped = select_questions(examples, limit=200, seed=0)
    >>> report = evaluate_qa(model, questions, golds=GoldExtractor(load_store("kg/store/default")))
    >>> report.figures()["overall"]["accuracy"]
"""

from __future__ import annotations

import random
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from kgrag.errors import ConfigError, DataError
from kgrag.eval.answer_checks import check_fields, check_figures
from kgrag.eval.gold import SKIP_NO_GOLD, Gold, GoldExtractor, score_open, skip_reason
from kgrag.eval.scoring import Progress, choice_scores, generate_answers
from kgrag.generation.answer import Answerer
from kgrag.generation.models import HFChatModel
from kgrag.generation.prompts import Citation
from kgrag.generation.types import GenerationConfig, Message
from kgrag.kgqa.generator import valid_relations
from kgrag.kgqa.records import Example
from kgrag.lang import LANGS

SCORED_TYPES = ("choice", "relation", "pair")


@dataclass(frozen=True, slots=True)
class QAOutcome:
    """One scored question.

    Attributes:
        id, lang, type, relation, question: the record's.
        prompt_tokens: tokens of the prompt the model saw (generation prompt included).
        correct: the best option is the right one (choice); a gold item is named (open).
        answer_index, predicted, option_scores: a choice question's right option, best option and
            each option's score (its letter's log-likelihood, the module's description).
        prediction, gold, found, recall: an open question's generated answer, gold items (each as
            its accepted forms), which of them it names, and the fraction it names.
        echoed: with retrieval, the answer repeats lines of the prompt's facts block ("— 病因 —"),
            which names gold items without answering (small models do): see ``echoed_correct``.
        in_prompt: with retrieval, a fact the record's answer states (its ``facts`` rows) is among
            the prompt's facts; None closed-book or when the record names no fact row. It splits
            retrieval's misses from the reader's.
        sentences_supported, sentences_judged: with retrieval, an open answer's sentences that its
            cited facts support, and those judged (supported or not; conversational ones are not).
        composed: with retrieval, the service would show an answer composed from the facts instead
            (``compose_reason``: echo, cites_nothing or contradiction).
    """

    id: str
    lang: str
    type: str
    relation: str
    question: str
    prompt_tokens: int
    correct: bool
    answer_index: int = -1
    predicted: int = -1
    option_scores: tuple[float, ...] = ()
    prediction: str = ""
    gold: tuple[tuple[str, ...], ...] = ()
    found: tuple[bool, ...] = ()
    recall: float | None = None
    echoed: bool = False
    in_prompt: bool | None = None
    family: str = "template"
    sentences_supported: int | None = None
    sentences_judged: int | None = None
    composed: bool | None = None
    compose_reason: str | None = None

    @classmethod
    def of(cls, ex: Example, prompt_tokens: int, correct: bool, **fields: Any) -> QAOutcome:
        """The outcome of record ``ex``."""
        return cls(ex.id, ex.lang, ex.type, ex.relation, ex.question, prompt_tokens, correct,
                   family=ex.family or "template", **fields)

    def as_dict(self) -> dict[str, Any]:
        """The outcome as one JSON object (a line of ``--predictions``)."""
        out = {k: getattr(self, k) for k in ("id", "lang", "type", "relation", "family", "question", "prompt_tokens")}
        if self.type == "choice":
            out |= {
                "option_scores": self.option_scores,
                "predicted": self.predicted,
                "gold": self.answer_index,
            }
        else:
            out |= {k: getattr(self, k) for k in ("prediction", "gold", "found", "recall", "echoed")}
        if self.in_prompt is not None:
            out["in_prompt"] = self.in_prompt
        if self.composed is not None:
            out |= {k: getattr(self, k) for k in ("sentences_supported", "sentences_judged", "composed",
                                                  "compose_reason")}
        return {**out, "correct": self.correct}


@dataclass(frozen=True)
class QAReport:
    """The outcomes of one run, what was skipped and why, and how long scoring took."""

    outcomes: tuple[QAOutcome, ...]
    skipped: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    def figures(self) -> dict[str, Any]:
        """Accuracy (and the recall of open questions) overall, by language, by type, by language
        and type, and by relation (largest first); each cell with its ``n``."""
        outs = self.outcomes

        def group(key: Callable[[QAOutcome], str]) -> dict[str, dict[str, Any]]:
            cells: dict[str, list[QAOutcome]] = {}
            for o in outs:
                cells.setdefault(key(o), []).append(o)
            return {k: _cell(v) for k, v in sorted(cells.items(), key=lambda kv: (-len(kv[1]), kv[0]))}

        return {
            "overall": _cell(list(outs)),
            "by_lang": {lang: c for lang in LANGS if (c := _cell([o for o in outs if o.lang == lang]))["n"]},
            "by_type": {t: c for t in SCORED_TYPES if (c := _cell([o for o in outs if o.type == t]))["n"]},
            "by_lang_type": group(lambda o: f"{o.lang}/{o.type}"),
            "by_relation": group(lambda o: o.relation),
            "by_type_relation": group(lambda o: f"{o.type}/{o.relation}"),
            "by_family": group(lambda o: o.family),
        }


def _cell(outs: Sequence[QAOutcome]) -> dict[str, Any]:
    recalls = [o.recall for o in outs if o.recall is not None]
    correct = sum(o.correct for o in outs)
    known = [o.in_prompt for o in outs if o.in_prompt is not None]
    return {
        "n": len(outs),
        "correct": correct,
        "accuracy": round(correct / len(outs), 4) if outs else 0.0,
        "n_open": len(recalls),
        "recall": round(sum(recalls) / len(recalls), 4) if recalls else None,
        "echoed_correct": sum(o.correct and o.echoed for o in outs),
        # the honest figure: an answer that only repeats the facts block is not counted correct
        "accuracy_no_echo": round(sum(o.correct and not o.echoed for o in outs) / len(outs), 4) if outs else 0.0,
        "echoed": sum(o.echoed for o in outs),
        # with retrieval: the share of questions (that name fact rows) whose gold fact was in the prompt
        "n_in_prompt_known": len(known),
        "in_prompt": round(sum(known) / len(known), 4) if known else None,
        **check_figures(outs),
    }


# -- choosing the questions --------------------------------------------------------------------
def _check(name: str, given: Sequence[str], valid: Sequence[str], what: str) -> list[str]:
    given = [g.strip() for g in given if g.strip()]
    if not given:
        raise ConfigError(f"{name}: no {what} given; choose from {', '.join(valid)}")
    if unknown := [g for g in given if g not in valid]:
        if name == "types" and unknown[0] == "description":
            raise ConfigError(
                "types: description questions are not scored (free text: no items to match); "
                f"choose from {', '.join(valid)}"
            )
        raise ConfigError(f"{name}: unknown {what} {unknown[0]!r}; choose from {', '.join(valid)}")
    return list(dict.fromkeys(given))


def _even(sizes: list[int], n: int) -> list[int]:
    """How many to take from each pool so that ``n`` are taken as evenly as the pools allow."""
    take, left = [0] * len(sizes), n
    while left > 0 and (open_ := [i for i, s in enumerate(sizes) if take[i] < s]):
        share = max(1, left // len(open_))
        for i in open_:
            add = min(share, sizes[i] - take[i], left)
            take[i], left = take[i] + add, left - add
    return take


def select_questions(
    examples: Sequence[Example],
    *,
    langs: Sequence[str] = LANGS,
    types: Sequence[str] = SCORED_TYPES,
    relations: Sequence[str] | None = None,
    limit: int | None = None,
    seed: int = 0,
) -> tuple[list[Example], dict[str, int]]:
    """The records to evaluate, in file order, and how many matching ones are not scored, by reason.

    Args:
        examples: KG-QA records (:func:`~kgrag.kgqa.records.read_examples`).
        langs, types, relations: keep only these (all relations by default).
        limit: at most this many per language, drawn evenly across ``types`` (a type with too few
            leaves its share to the others) with ``seed``.
        seed: the draw's seed; the same seed draws the same questions.

    Raises:
        DataError: a dialogue line (no ``type``): the data is not KG-QA (names file:line).
        ConfigError: an unknown language, type or relation, a ``limit`` below 1, or filters that
            leave no question (naming the filter that emptied the selection).
    """
    for ex in examples:
        if not ex.is_kgqa:
            raise DataError(
                ex.path or ex.id,
                ex.line or None,
                "a dialogue line (no 'type' field), not a KG-QA record; evaluate on data `kgrag make-kgqa` wrote",
            )
    lang_list = _check("langs", langs, LANGS, "language")
    type_list = _check("types", types, SCORED_TYPES, "question type")
    rel_list = None if relations is None else _check("relations", relations, valid_relations(), "relation")
    if limit is not None and limit < 1:
        raise ConfigError(f"limit must be at least 1; got {limit}")
    pool = list(examples)
    for name, shown, keep in (
        ("langs", lang_list, lambda e: e.lang in lang_list),
        ("relations", rel_list or [], lambda e: rel_list is None or e.relation in rel_list),
        ("types", type_list, lambda e: e.type in type_list or e.type == "description"),
    ):
        pool = [e for e in pool if keep(e)]
        if all(e.type == "description" for e in pool):
            raise ConfigError(
                f"{name}: no question of the data is left by {name}={','.join(shown)} (after the filters before it)"
            )
    skipped = Counter(r for e in pool if (r := skip_reason(e)))
    scored = [(i, e) for i, e in enumerate(pool) if e.type in type_list and not skip_reason(e)]
    if not scored:
        raise ConfigError(f"types: every question left is skipped ({dict(skipped)}); nothing to score")
    if limit is not None:
        chosen: list[tuple[int, Example]] = []
        for lang in lang_list:
            pools = [[(i, e) for i, e in scored if e.lang == lang and e.type == t] for t in type_list]
            for t, p, k in zip(type_list, pools, _even([len(p) for p in pools], limit), strict=True):
                chosen += random.Random(f"{seed}\t{lang}\t{t}").sample(p, k)
        scored = sorted(chosen, key=lambda ie: ie[0])
    return [e for _, e in scored], dict(skipped)


@dataclass(frozen=True, slots=True)
class _Prompt:
    """A question's messages; the marks of its facts block ("<facts>", "— 病因 —") that an answer
    repeating the block verbatim contains; whether a gold fact row is among the prompt's facts
    (None closed-book, or for a record without fact rows); the prompt's facts and their language
    (None closed-book)."""

    messages: tuple[Message, ...]
    marks: tuple[str, ...] = ()
    in_prompt: bool | None = None
    citations: tuple[Citation, ...] | None = None
    lang: str = ""


def _prompts(
    examples: Sequence[Example], answerer: Answerer | None, config: GenerationConfig, progress: Progress | None
) -> list[_Prompt]:
    """Each question's prompt (:class:`_Prompt`), as the service builds it with retrieval."""
    if answerer is None:
        # every turn before the reference answer: a follow-up keeps the turn it refers back to
        return [_Prompt(tuple(e.messages[:-1])) for e in examples]
    out = []
    for n, e in enumerate(examples, 1):
        prepared = answerer.prepare(e.question, [m for m in e.messages[:-2] if m.role != "system"], config=config)
        cited = tuple(prepared.prompt.citations)
        out.append(_Prompt(
            prepared.messages, ("<facts>", *{f"— {c.relation} —" for c in cited}),
            bool(set(e.facts) & {c.fact for c in cited}) if e.facts else None, cited, prepared.lang,
        ))
        if progress is not None and (n % 50 == 0 or n == len(examples)):
            progress("retrieving", n, len(examples))
    return out


def evaluate_qa(
    model: HFChatModel,
    examples: Iterable[Example],
    *,
    golds: GoldExtractor | None = None,
    answerer: Answerer | None = None,
    batch_size: int = 64,
    max_new_tokens: int = 128,
    repetition_penalty: float = 1.1,
    progress: Progress | None = None,
) -> QAReport:
    """Score ``model`` on KG-QA records (see the module's description).

    Args:
        model: the chat model that answers (and whose likelihoods score the options).
        examples: the records (:func:`select_questions`); description and contagious ones are
            counted as skipped.
        golds: gold items of open questions; needed when there are any.
        answerer: with retrieval, the answerer whose prompts the model sees (built on ``model``);
            None: closed-book.
        batch_size: questions per forward pass or generation batch.
        max_new_tokens, repetition_penalty: greedy generation's settings for open questions.
        progress: called as (stage, done, total).

    Raises:
        ConfigError: open questions without ``golds``, or a bad batch size or generation setting.
        DataError: an open record whose facts are not rows of the golds' KG.
    """
    t0 = time.perf_counter()
    if batch_size < 1:
        raise ConfigError(f"batch_size must be at least 1; got {batch_size}")
    skipped: Counter[str] = Counter()
    choice: list[tuple[int, Example]] = []
    open_: list[tuple[int, Example, Gold]] = []
    for pos, ex in enumerate(examples):
        if reason := skip_reason(ex):
            skipped[reason] += 1
        elif ex.type == "choice":
            choice.append((pos, ex))
        elif golds is None:
            raise ConfigError(f"{ex.id}: open questions need gold items; pass golds=GoldExtractor(kg)")
        elif (gold := golds.gold(ex)).items:
            open_.append((pos, ex, gold))
        else:
            skipped[SKIP_NO_GOLD] += 1
    config = GenerationConfig(max_new_tokens=max_new_tokens, temperature=0.0, repetition_penalty=repetition_penalty)
    prompts = _prompts([e for _, e in choice] + [e for _, e, _ in open_], answerer, config, progress)
    messages = [p.messages for p in prompts]
    ids = [model.encode(m) for m in messages]
    n = len(choice)
    outcomes: list[tuple[int, QAOutcome]] = []
    for (pos, ex), prompt, p, s in zip(
        choice, ids[:n], prompts[:n], choice_scores(model, [e for _, e in choice], ids[:n], batch_size, progress),
        strict=True,
    ):
        best = max(range(len(s)), key=s.__getitem__)
        fields = dict(
            answer_index=ex.answer_index, predicted=best, option_scores=tuple(s), in_prompt=p.in_prompt
        )
        outcomes.append((pos, QAOutcome.of(ex, len(prompt), best == ex.answer_index, **fields)))
    lengths = [len(p) for p in ids[n:]]
    texts = generate_answers(model, messages[n:], config, lengths=lengths, batch_size=batch_size, progress=progress)
    for (pos, ex, gold), prompt, text, p in zip(open_, ids[n:], texts, prompts[n:], strict=True):
        sc = score_open(text, gold)
        echoed = any(m in text for m in p.marks)
        fields = dict(
            prediction=text, gold=gold.items, found=sc.found, recall=sc.recall, echoed=echoed, in_prompt=p.in_prompt,
            **(check_fields(text, p.citations, p.lang, answerer.retriever.kg)
               if answerer is not None and p.citations is not None else {}),
        )
        outcomes.append((pos, QAOutcome.of(ex, len(prompt), sc.correct, **fields)))
    ordered = tuple(o for _, o in sorted(outcomes, key=lambda po: po[0]))
    return QAReport(ordered, dict(skipped), time.perf_counter() - t0)
