"""How well a chat model answers held-out KG-QA records, closed-book or with the service's retrieval.

* ``choice`` records are scored by likelihood, not by parsing generated text: each option is
  scored as the answer to the prompt (mean log-probability per option token), and the best
  option must be the right one. The options of many questions go through the model in one
  left-padded forward pass.
* ``relation`` and ``pair`` records are answered by greedy generation in batches of similar
  prompt length and matched against their gold items (:mod:`kgrag.kgqa.gold`).
* ``description`` records (and yes/no ``contagious`` ones) are counted as skipped.

Closed-book, a question's prompt is the question alone (the chat template adds its default
system prompt); with retrieval it is exactly the service's grounded prompt
(:meth:`~kgrag.generation.answer.Answerer.prepare`).

Example:
    >>> examples = read_examples("data/kgqa/default/chat/test.jsonl")
    >>> questions, skipped = select_questions(examples, limit=200, seed=0)
    >>> report = evaluate_qa(model, questions, golds=GoldExtractor(load_store("kg/store/default")))
    >>> report.figures()["overall"]["accuracy"]
"""

from __future__ import annotations

import inspect
import random
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from kgrag.errors import ConfigError
from kgrag.generation.answer import Answerer
from kgrag.generation.models import HFChatModel
from kgrag.generation.types import GenerationConfig, GenerationRequest, Message
from kgrag.kgqa.generator import valid_relations
from kgrag.kgqa.gold import SKIP_NO_GOLD, Gold, GoldExtractor, score_open, skip_reason
from kgrag.kgqa.records import DataError, Example
from kgrag.kgqa.templates import LANGS

SCORED_TYPES = ("choice", "relation", "pair")
#: Called as (stage, done, total) while a stage runs.
Progress = Callable[[str, int, int], None]
_LOGIT_ELEMENTS = 1 << 27  # log-softmax over this many logits at a time (512 MiB in float32)
_SCORE_TOKENS = 1 << 17  # padded tokens per forward pass when scoring options


@dataclass(frozen=True, slots=True)
class QAOutcome:
    """One scored question.

    Attributes:
        id, lang, type, relation, question: the record's.
        prompt_tokens: tokens of the prompt the model saw (generation prompt included).
        correct: the best option is the right one (choice); a gold item is named (open).
        answer_index, predicted, option_scores: a choice question's right option, best option and
            each option's mean log-probability per token.
        prediction, gold, found, recall: an open question's generated answer, gold items (each as
            its accepted forms), which of them it names, and the fraction it names.
        echoed: with retrieval, the answer repeats lines of the prompt's facts block ("— 病因 —"),
            which names gold items without answering (small models do): see ``echoed_correct``.
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

    @classmethod
    def of(cls, ex: Example, prompt_tokens: int, correct: bool, **fields: Any) -> QAOutcome:
        """The outcome of record ``ex``."""
        return cls(ex.id, ex.lang, ex.type, ex.relation, ex.question, prompt_tokens, correct, **fields)

    def as_dict(self) -> dict[str, Any]:
        """The outcome as one JSON object (a line of ``--predictions``)."""
        out = {k: getattr(self, k) for k in ("id", "lang", "type", "relation", "question", "prompt_tokens")}
        if self.type == "choice":
            out |= {"option_scores": self.option_scores, "predicted": self.predicted, "gold": self.answer_index}
        else:
            out |= {k: getattr(self, k) for k in ("prediction", "gold", "found", "recall", "echoed")}
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
        }


def _cell(outs: Sequence[QAOutcome]) -> dict[str, Any]:
    recalls = [o.recall for o in outs if o.recall is not None]
    correct = sum(o.correct for o in outs)
    return {
        "n": len(outs),
        "correct": correct,
        "accuracy": round(correct / len(outs), 4) if outs else 0.0,
        "n_open": len(recalls),
        "recall": round(sum(recalls) / len(recalls), 4) if recalls else None,
        "echoed_correct": sum(o.correct and o.echoed for o in outs),
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


# -- scoring -----------------------------------------------------------------------------------
def _forward_options(lm: Any) -> tuple[bool, bool]:
    """Whether the causal LM takes ``logits_to_keep`` and ``position_ids`` (remote code may not)."""
    base = lm.get_base_model() if hasattr(lm, "get_base_model") else lm
    params = inspect.signature(base.forward).parameters
    return "logits_to_keep" in params, "position_ids" in params


@torch.inference_mode()
def _score_batch(model: HFChatModel, seqs: Sequence[tuple[list[int], list[int]]]) -> list[float]:
    """Mean log-probability per token of each continuation after its prompt, in one forward pass:
    left padding puts every continuation at the end, so only the last logits are computed."""
    width, k = max(len(p) + len(c) for p, c in seqs), max(len(c) for _, c in seqs)
    tok = model.tokenizer
    pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
    ids = torch.full((len(seqs), width), int(pad or 0), dtype=torch.long)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    cont = torch.zeros((len(seqs), k), dtype=torch.bool)
    for row, (p, c) in enumerate(seqs):
        ids[row, width - len(p) - len(c) :] = torch.tensor(p + c, dtype=torch.long)
        mask[row, width - len(p) - len(c) :] = 1
        cont[row, k - len(c) :] = True
    ids, mask, cont = ids.to(model.device), mask.to(model.device), cont.to(model.device)
    keep_logits, takes_positions = _forward_options(model.model)
    extra: dict[str, Any] = {"logits_to_keep": k + 1} if keep_logits else {}
    if takes_positions:
        extra["position_ids"] = (mask.cumsum(-1) - 1).clamp(min=0)
    logits = model.model(input_ids=ids, attention_mask=mask, use_cache=False, **extra).logits[:, -(k + 1) : -1]
    targets = ids[:, -k:]
    logprobs = torch.empty((len(seqs), k), dtype=torch.float32, device=logits.device)
    step = max(1, _LOGIT_ELEMENTS // (k * logits.shape[-1]))
    for s in range(0, len(seqs), step):
        chunk = logits[s : s + step].float()
        picked = chunk.gather(-1, targets[s : s + step, :, None]).squeeze(-1)
        logprobs[s : s + step] = picked - torch.logsumexp(chunk, dim=-1)
    means = (logprobs * cont).sum(-1) / cont.sum(-1)
    return [float(x) for x in means.tolist()]


def score_options(
    model: HFChatModel,
    prompts: Sequence[list[int]],
    options: Sequence[Sequence[str]],
    *,
    batch_size: int = 64,
    progress: Progress | None = None,
) -> list[list[float]]:
    """Each option's mean log-probability per token as the answer to its prompt.

    Args:
        model: the chat model (a peft-wrapped one too).
        prompts: prompt token ids per question (:meth:`HFChatModel.encode`, generation prompt included).
        options: the options of each question.
        batch_size: questions per forward pass (all their options go together; split further when
            their padded tokens pass 131,072).
        progress: called as ("scoring options", done, total) after each batch.

    Returns:
        Per question, one score per option (higher is likelier).
    """
    flat = [o for opts in options for o in opts]
    encoded = iter(model.tokenizer(flat, add_special_tokens=False)["input_ids"] if flat else [])
    conts = [[list(next(encoded)) for _ in opts] for opts in options]
    order = sorted(range(len(prompts)), key=lambda q: len(prompts[q]) + max(map(len, conts[q]), default=0))
    scores: list[list[float]] = [[] for _ in prompts]
    for start in range(0, len(order), batch_size):
        batch = order[start : start + batch_size]
        seqs = [(prompts[q], c) for q in batch for c in conts[q]]
        rows = max(1, _SCORE_TOKENS // max(len(p) + len(c) for p, c in seqs))  # long RAG prompts: split
        flat_scores = iter([x for r in range(0, len(seqs), rows) for x in _score_batch(model, seqs[r : r + rows])])
        for q in batch:
            scores[q] = [next(flat_scores) for _ in conts[q]]
        if progress is not None:
            progress("scoring options", min(start + batch_size, len(order)), len(order))
    return scores


def generate_answers(
    model: HFChatModel,
    prompts: Sequence[Sequence[Message]],
    config: GenerationConfig,
    *,
    lengths: Sequence[int] | None = None,
    batch_size: int = 64,
    progress: Progress | None = None,
) -> list[str]:
    """The model's answers to ``prompts``, generated ``batch_size`` at a time, prompts of similar
    length together (``lengths``: their token counts, to sort by)."""
    order = sorted(range(len(prompts)), key=lambda i: lengths[i] if lengths is not None else 0)
    texts: list[str] = [""] * len(prompts)
    for start in range(0, len(order), batch_size):
        batch = order[start : start + batch_size]
        pieces: list[list[str]] = [[] for _ in batch]
        for event in model.stream_batch([GenerationRequest(prompts[i], config) for i in batch]):
            pieces[event.index].append(event.text)
        for i, parts in zip(batch, pieces, strict=True):
            texts[i] = "".join(parts).strip()
        if progress is not None:
            progress("generating answers", min(start + batch_size, len(order)), len(order))
    return texts


def _prompts(
    examples: Sequence[Example], answerer: Answerer | None, config: GenerationConfig, progress: Progress | None
) -> tuple[list[tuple[Message, ...]], list[tuple[str, ...]]]:
    """Each question's messages, and the marks of its facts block ("<facts>", "— 病因 —") that an
    answer repeating the block verbatim contains."""
    if answerer is None:
        return [(Message("user", e.question),) for e in examples], [() for _ in examples]
    messages, marks = [], []
    for n, e in enumerate(examples, 1):
        prepared = answerer.prepare(e.question, config=config)
        messages.append(prepared.messages)
        marks.append(("<facts>", *{f"— {c.relation} —" for c in prepared.prompt.citations}))
        if progress is not None and (n % 50 == 0 or n == len(examples)):
            progress("retrieving", n, len(examples))
    return messages, marks


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
    messages, marks = _prompts([e for _, e in choice] + [e for _, e, _ in open_], answerer, config, progress)
    ids = [model.encode(m) for m in messages]
    n = len(choice)
    outcomes: list[tuple[int, QAOutcome]] = []
    scores = score_options(model, ids[:n], [e.options for _, e in choice], batch_size=batch_size, progress=progress)
    for (pos, ex), prompt, s in zip(choice, ids[:n], scores, strict=True):
        best = max(range(len(s)), key=s.__getitem__)
        fields = dict(answer_index=ex.answer_index, predicted=best, option_scores=tuple(s))
        outcomes.append((pos, QAOutcome.of(ex, len(prompt), best == ex.answer_index, **fields)))
    lengths = [len(p) for p in ids[n:]]
    texts = generate_answers(model, messages[n:], config, lengths=lengths, batch_size=batch_size, progress=progress)
    for (pos, ex, gold), prompt, text, mark in zip(open_, ids[n:], texts, marks[n:], strict=True):
        sc = score_open(text, gold)
        echoed = any(m in text for m in mark)
        fields = dict(prediction=text, gold=gold.items, found=sc.found, recall=sc.recall, echoed=echoed)
        outcomes.append((pos, QAOutcome.of(ex, len(prompt), sc.correct, **fields)))
    ordered = tuple(o for _, o in sorted(outcomes, key=lambda po: po[0]))
    return QAReport(ordered, dict(skipped), time.perf_counter() - t0)
