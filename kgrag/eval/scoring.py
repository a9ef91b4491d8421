"""Scoring a chat model's answers: options by likelihood (calibrated), open questions by batched generation.

The likelihood of many questions' options goes through the model in one left-padded forward pass
that computes only the last logits; see :mod:`kgrag.eval.qa` for how the scores are used.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

import torch

from kgrag.generation.models import HFChatModel
from kgrag.generation.types import GenerationConfig, GenerationRequest, Message

#: Called as (stage, done, total) while a stage runs.
Progress = Callable[[str, int, int], None]
_LOGIT_ELEMENTS = 1 << 27  # log-softmax over this many logits at a time (512 MiB in float32)
_SCORE_TOKENS = 1 << 17  # padded tokens per forward pass when scoring options


@torch.inference_mode()
def _score_batch(model: HFChatModel, seqs: Sequence[tuple[list[int], list[int]]]) -> list[float]:
    """Mean log-probability per token of each continuation after its prompt, in one forward pass:
    left padding puts every continuation at the end, so only the last logits are computed."""
    width, k = max(len(p) + len(c) for p, c in seqs), max(len(c) for _, c in seqs)
    ids = torch.full((len(seqs), width), model.pad_id, dtype=torch.long)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    cont = torch.zeros((len(seqs), k), dtype=torch.bool)
    for row, (p, c) in enumerate(seqs):
        ids[row, width - len(p) - len(c) :] = torch.tensor(p + c, dtype=torch.long)
        mask[row, width - len(p) - len(c) :] = 1
        cont[row, k - len(c) :] = True
    ids, mask, cont = ids.to(model.device), mask.to(model.device), cont.to(model.device)
    extra: dict[str, Any] = {"logits_to_keep": k + 1} if model.keeps_last_logits else {}
    if model.takes_positions:
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


#: How an answer to a multiple-choice question begins (the KG-QA answers' own wording): each
#: option is scored as this lead followed by the option's letter.
ANSWER_LEAD = {"zh": "答案是", "en": "The answer is "}
LETTERS = "ABCDEFGHIJ"


class ChoiceQuestion(Protocol):
    """A multiple-choice question as the letter scorer needs it (a KG-QA :class:`~kgrag.kgqa.records.Example`, or an
    exam question of :mod:`kgrag.eval.mcq_formats`)."""

    @property
    def lang(self) -> str: ...

    @property
    def options(self) -> tuple[str, ...]: ...


def choice_scores(
    model: HFChatModel,
    examples: Sequence[ChoiceQuestion],
    prompts: Sequence[list[int]],
    batch_size: int,
    progress: Progress | None = None,
) -> list[list[float]]:
    """Per choice question: each option's score — the log-likelihood of "答案是C" / "The answer is C"
    (the option's letter; the question lists the options by letter).

    Why the letter: the options are in the prompt, so an option's text is scored mostly by how easy
    it is to copy once begun; the mean per token then favours long options, whatever the question
    (on the H100 run that scorer fell below chance, BENCHMARKS.md). A letter is one token for every
    option, so options compete on the model's choice alone.
    """
    leads = [[ANSWER_LEAD.get(e.lang, ANSWER_LEAD["en"]) + LETTERS[i] for i in range(len(e.options))]
             for e in examples]
    means = score_options(model, prompts, leads, batch_size=batch_size, progress=progress)
    flat = [c for cs in leads for c in cs]
    sizes = iter(len(t) for t in (model.tokenizer(flat, add_special_tokens=False)["input_ids"] if flat else []))
    return [[m * next(sizes) for m in ms] for ms in means]


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
