"""How well a chat model answers multiple-choice exam questions, closed-book or with the service's retrieval.

Each question is one user prompt: its text, the options one a line (``A. …``), then a line asking
for the letter (:func:`render`). An option's score is the log-likelihood of "The answer is C" /
"答案是C" (:data:`~kgrag.eval.scoring.ANSWER_LEAD` + its letter) after the prompt, the way
``kgrag eval qa`` scores KG-QA choice questions; the best option must be the right one.

With retrieval the model sees exactly the service's grounded prompt
(:func:`~kgrag.generation.prompts.build_grounded_prompt`, as
:meth:`~kgrag.generation.answer.Answerer.prepare` builds it), with one difference in what is
*retrieved*: the query is :func:`retrieval_query` (the question without letters, and for a long
vignette only its last sentences, then the options), since a case history of many sentences
links to every finding it mentions. The prompt keeps the whole question; one longer than the
service accepts (:data:`~kgrag.limits.MAX_QUESTION_CHARS`) loses the start of its vignette, never
its options, and is counted as ``shortened``.

A second, **rotated** run shifts every question's options by one (the last becomes A) and scores
again (with the same retrieved facts): a model that reads the options keeps its accuracy, one that
favours a letter does not. The report gives both accuracies, how often the two runs chose the same
option, and the share of each letter among predictions and gold answers.

Example:
    >>> data = read_mcq("medqa_test.jsonl")
    >>> report = evaluate_mcq(model, data.questions)
    >>> report.figures()["accuracy"], report.figures()["rotated_accuracy"]
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from kgrag.errors import ConfigError
from kgrag.eval.mcq_formats import LETTERS, MCQuestion
from kgrag.eval.scoring import Progress, choice_scores
from kgrag.generation.answer import Answerer
from kgrag.generation.models import HFChatModel
from kgrag.generation.prompts import GroundedPrompt, build_grounded_prompt
from kgrag.generation.safety import assess
from kgrag.generation.types import GenerationConfig, Message
from kgrag.lang import LANGS
from kgrag.limits import MAX_QUESTION_CHARS
from kgrag.retrieval.retriever import RetrievalResult

#: The prompt's last line: which letters may answer.
INSTRUCTION = {
    "en": "Answer with the letter of the correct option ({letters}).",
    "zh": "请回答正确选项的字母（{letters}）。",
}
#: Characters of a retrieval query (:func:`retrieval_query`): a longer stem keeps its last sentences.
QUERY_CHARS = 500
#: Tokens kept free after the prompt: the answer lead and the letter.
ANSWER_TOKENS = 16
_SENTENCE_END = re.compile(r"(?<=[.?!])\s+|(?<=[。？！；])")


def _block(q: MCQuestion) -> str:
    lines = [f"{LETTERS[i]}. {o}" for i, o in enumerate(q.options)]
    sep = "、" if q.lang == "zh" else ", "
    letters = sep.join(LETTERS[: len(q.options)])
    return "\n".join([*lines, INSTRUCTION.get(q.lang, INSTRUCTION["en"]).format(letters=letters)])


def render(q: MCQuestion) -> str:
    """The question as the model reads it: the text, ``A. option`` lines, the instruction line."""
    return f"{q.question}\n{_block(q)}"


def _last_sentences(text: str, room: int) -> str:
    keep: list[str] = []
    for s in reversed([s for s in _SENTENCE_END.split(text) if s.strip()]):
        if keep and len(s) + sum(len(k) + 1 for k in keep) > room:
            break
        keep.insert(0, s.strip())
    out = " ".join(keep)
    return out[-room:] if room > 0 else ""


def retrieval_query(q: MCQuestion, max_chars: int = QUERY_CHARS) -> str:
    """What to retrieve facts for: the question's text, then the options one a line (no letters).

    A text longer than leaves room for the options within ``max_chars`` keeps its last
    sentences (a vignette's question and latest findings); the options always stay.

    Example:
        >>> retrieval_query(MCQuestion("1", "Which drug treats diabetes?", ("metformin", "aspirin"), 0))
        'Which drug treats diabetes?\\nmetformin\\naspirin'
    """
    options = "\n".join(q.options)
    room = max_chars - len(options) - 1
    stem = q.question if len(q.question) <= room else _last_sentences(q.question, room)
    return f"{stem}\n{options}".strip()[:MAX_QUESTION_CHARS]


def fit_question(q: MCQuestion, max_chars: int = MAX_QUESTION_CHARS) -> str:
    """:func:`render`'s text within ``max_chars``: a longer one loses the start of its text (marked …),
    never its options or instruction."""
    text = render(q)
    if len(text) <= max_chars:
        return text
    block = _block(q)
    room = max_chars - len(block) - 2
    if room < 1:
        return "…" + text[-(max_chars - 1) :]
    return f"…{q.question[-room:].lstrip()}\n{block}"


def grounded_prompt(
    answerer: Answerer, text: str, retrieval: RetrievalResult, config: GenerationConfig
) -> GroundedPrompt:
    """The service's prompt for question ``text`` given ``retrieval``: :meth:`Answerer.prepare`'s
    safety assessment and grounded prompt, without a history, on facts retrieved for any query."""
    safety = assess(text, retrieval.lang)
    return build_grounded_prompt(
        text, retrieval.facts, lang=retrieval.lang, count_tokens=answerer.model.count_tokens,
        max_prompt_tokens=answerer.model.max_context - config.max_new_tokens, safety=safety,
    )


@dataclass(frozen=True, slots=True)
class MCQOutcome:
    """One scored question.

    Attributes:
        id, subject, lang: the question's.
        answer, predicted, scores: the right option, the best-scored one, each option's score.
        prompt_tokens: tokens of the prompt (generation prompt included).
        rotated_predicted, rotated_scores: the same in the rotated run (the options shifted by
            one; its right option is ``(answer + 1) % n``); -1 and () without one.
        facts: with retrieval, the facts in the prompt; None closed-book.
        shortened: the question was cut to the service's length limit for the grounded prompt.
    """

    id: str
    subject: str
    lang: str
    answer: int
    predicted: int
    scores: tuple[float, ...]
    prompt_tokens: int
    rotated_predicted: int = -1
    rotated_scores: tuple[float, ...] = ()
    facts: int | None = None
    shortened: bool = False

    @property
    def correct(self) -> bool:
        return self.predicted == self.answer

    @property
    def rotated_answer(self) -> int:
        return (self.answer + 1) % len(self.scores)

    @property
    def rotated_correct(self) -> bool:
        return self.rotated_predicted == self.rotated_answer

    @property
    def consistent(self) -> bool:
        """Both runs chose the same option (its letter moved by one)."""
        return self.rotated_predicted == (self.predicted + 1) % len(self.scores)

    def as_dict(self) -> dict[str, Any]:
        """The outcome as one JSON object (a line of ``--predictions``)."""
        out: dict[str, Any] = {
            "id": self.id, "subject": self.subject, "lang": self.lang, "prompt_tokens": self.prompt_tokens,
            "gold": LETTERS[self.answer], "predicted": LETTERS[self.predicted], "scores": self.scores,
            "correct": self.correct,
        }
        if self.rotated_scores:
            out |= {
                "rotated_gold": LETTERS[self.rotated_answer], "rotated_predicted": LETTERS[self.rotated_predicted],
                "rotated_scores": self.rotated_scores, "rotated_correct": self.rotated_correct,
            }
        if self.facts is not None:
            out |= {"facts": self.facts, "shortened": self.shortened}
        return out


def _shares(letters: Sequence[int], width: int) -> dict[str, float]:
    return {LETTERS[i]: (sum(x == i for x in letters) / len(letters) if letters else 0.0) for i in range(width)}


def _cell(outs: Sequence[MCQOutcome], rotated: bool) -> dict[str, Any]:
    n = len(outs)
    correct = sum(o.correct for o in outs)
    cell: dict[str, Any] = {"n": n, "correct": correct, "accuracy": round(correct / n, 4) if n else 0.0}
    if rotated:
        r = sum(o.rotated_correct for o in outs)
        cell["rotated_accuracy"] = round(r / n, 4) if n else 0.0
    return cell


@dataclass(frozen=True)
class MCQReport:
    """The outcomes of one run, the lines not scored (by reason) and how long scoring took."""

    outcomes: tuple[MCQOutcome, ...]
    skipped: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    rotated: bool = True

    def figures(self) -> dict[str, Any]:
        """Accuracy (and rotated accuracy, their difference and agreement) overall, by language and
        by subject (largest first); the share of each letter among predictions and gold answers
        and the largest predicted share; chance (the mean of 1/options); each cell with its ``n``."""
        outs, rot = self.outcomes, self.rotated
        n = len(outs)
        width = max((len(o.scores) for o in outs), default=0)
        predicted = _shares([o.predicted for o in outs], width)
        top = max(predicted, key=predicted.__getitem__) if predicted else ""
        subjects: dict[str, list[MCQOutcome]] = {}
        for o in outs:
            subjects.setdefault(o.subject or "(none)", []).append(o)
        out: dict[str, Any] = {
            **_cell(outs, rot),
            "chance": round(sum(1 / len(o.scores) for o in outs) / n, 4) if n else 0.0,
            "letters": {
                "predicted": predicted,
                "gold": _shares([o.answer for o in outs], width),
                **({"rotated_predicted": _shares([o.rotated_predicted for o in outs], width)} if rot else {}),
            },
            "max_letter": top,
            "max_letter_share": round(predicted[top], 4) if top else 0.0,
            "by_lang": {lang: _cell(c, rot) for lang in LANGS if (c := [o for o in outs if o.lang == lang])},
            "by_subject": {
                k: _cell(v, rot) for k, v in sorted(subjects.items(), key=lambda kv: (-len(kv[1]), kv[0]))
            },
        }
        if rot:
            out["rotation_delta"] = round(out["rotated_accuracy"] - out["accuracy"], 4)
            out["rotation_agreement"] = round(sum(o.consistent for o in outs) / n, 4) if n else 0.0
        known = [o.facts for o in outs if o.facts is not None]
        if known:
            out["mean_facts"] = round(sum(known) / len(known), 2)
            out["no_facts"] = round(sum(k == 0 for k in known) / len(known), 4)
            out["n_shortened"] = sum(o.shortened for o in outs)
        return out


def select(questions: Sequence[MCQuestion], limit: int | None, seed: int = 0) -> list[MCQuestion]:
    """At most ``limit`` of ``questions``, drawn with ``seed`` and kept in file order (all without a limit).

    Raises:
        ConfigError: ``limit`` below 1.
    """
    if limit is None or limit >= len(questions):
        if limit is not None and limit < 1:
            raise ConfigError(f"limit must be at least 1; got {limit}")
        return list(questions)
    if limit < 1:
        raise ConfigError(f"limit must be at least 1; got {limit}")
    picked = sorted(random.Random(seed).sample(range(len(questions)), limit))
    return [questions[i] for i in picked]


def letter_scores(
    model: HFChatModel,
    questions: Sequence[MCQuestion],
    prompts: Sequence[list[int]],
    *,
    batch_size: int = 64,
    progress: Progress | None = None,
) -> list[list[float]]:
    """Per question, each option's score: the log-likelihood of the answer lead and its letter
    (:func:`~kgrag.eval.scoring.choice_scores`, which KG-QA choice questions use too)."""
    return choice_scores(model, questions, prompts, batch_size, progress)


def _messages(
    questions: Sequence[MCQuestion], answerer: Answerer | None, rotate: bool, query: Callable[[MCQuestion], str],
    progress: Progress | None,
) -> tuple[list[tuple[Message, ...]], list[int | None], list[bool]]:
    """Each question's messages (then, rotating, each rotated question's), the facts in the
    prompt (None closed-book) and whether it was shortened."""
    asked = list(questions) + ([q.rotated() for q in questions] if rotate else [])
    if answerer is None:
        return [(Message("user", render(q)),) for q in asked], [None] * len(questions), [False] * len(questions)
    config = GenerationConfig(max_new_tokens=ANSWER_TOKENS, temperature=0.0)
    retrievals = []
    for n, q in enumerate(questions, 1):
        retrievals.append(answerer.retriever.retrieve(query(q), answerer.top_k))
        if progress is not None and (n % 50 == 0 or n == len(questions)):
            progress("retrieving", n, len(questions))
    both = retrievals + (retrievals if rotate else [])
    prompts = [grounded_prompt(answerer, fit_question(q), r, config) for q, r in zip(asked, both, strict=True)]
    facts: list[int | None] = [len(p.citations) for p in prompts[: len(questions)]]
    return [p.messages for p in prompts], facts, [len(render(q)) > MAX_QUESTION_CHARS for q in questions]


def evaluate_mcq(
    model: HFChatModel,
    questions: Sequence[MCQuestion],
    *,
    answerer: Answerer | None = None,
    rotate: bool = True,
    batch_size: int = 64,
    query: Callable[[MCQuestion], str] = retrieval_query,
    skipped: dict[str, int] | None = None,
    progress: Progress | None = None,
) -> MCQReport:
    """Score ``model`` on ``questions`` (see the module's description).

    Args:
        model: the chat model whose likelihoods score the options (a peft-wrapped one too).
        questions: the questions (:func:`~kgrag.eval.mcq_formats.read_mcq`, :func:`select`).
        answerer: with retrieval, the answerer whose retriever and prompt budget are used (built on
            ``model``); None: closed-book.
        rotate: also score the rotated run.
        batch_size: questions per forward pass.
        query: the retrieval query of a question.
        skipped: lines of the data not scored, by reason (carried into the report).
        progress: called as (stage, done, total).

    Raises:
        ConfigError: no questions, a bad batch size, or a prompt longer than the model's context.
    """
    t0 = time.perf_counter()
    if batch_size < 1:
        raise ConfigError(f"batch_size must be at least 1; got {batch_size}")
    if not questions:
        raise ConfigError("no questions to score")
    messages, facts, shortened = _messages(questions, answerer, rotate, query, progress)
    ids = [model.encode(m) for m in messages]
    asked = list(questions) + ([q.rotated() for q in questions] if rotate else [])
    for q, p in zip(asked, ids, strict=True):
        if len(p) + ANSWER_TOKENS > model.max_context:
            raise ConfigError(
                f"{q.id}: the prompt takes {len(p)} tokens, more than the model's context of {model.max_context} "
                "leaves for the answer; use a model with a longer context"
            )
    scores = letter_scores(model, asked, ids, batch_size=batch_size, progress=progress)
    k = len(questions)
    outcomes = []
    for i, q in enumerate(questions):
        s = scores[i]
        best = max(range(len(s)), key=s.__getitem__)
        rs: tuple[float, ...] = tuple(scores[k + i]) if rotate else ()
        rbest = max(range(len(rs)), key=rs.__getitem__) if rs else -1
        outcomes.append(MCQOutcome(
            q.id, q.subject, q.lang, q.answer, best, tuple(s), len(ids[i]), rbest, rs, facts[i], shortened[i],
        ))
    return MCQReport(tuple(outcomes), dict(skipped or {}), time.perf_counter() - t0, rotate)
