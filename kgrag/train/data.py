"""Training data: chats chosen from the examples, tokenized with loss on the answers only, and
grouped by length into token-budget batches.

Each KG-QA record becomes either a closed-book chat (its own question and answer) or, with
probability ``grounded_share``, a grounded one (:mod:`kgrag.train.grounded`); dialogues (lines
with no KG-QA metadata) are taken as they are. Every assistant turn is a target; the system and
user turns, and the prompt format's own tokens before each answer, are context only.

Length grouping instead of packing: packing several chats into one row needs attention that does
not cross their borders (flash-attention's variable-length kernels), which plain PyTorch SDPA on
any GPU does not give; sorting by length and filling each batch up to a token budget wastes few
pad tokens (the share is logged) and keeps every chat's attention its own.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from kgrag.errors import ConfigError
from kgrag.generation.chat_formats import PromptFormat
from kgrag.generation.types import Message
from kgrag.kgqa.records import Example
from kgrag.train.grounded import GroundedBuilder

IGNORE = -100


@dataclass(frozen=True, slots=True)
class Chat:
    """One training conversation and what kind it is (``closed``, ``grounded`` or ``dialogue``)."""

    messages: tuple[Message, ...]
    kind: str
    source: str


@dataclass(frozen=True, slots=True)
class Tokenized:
    """A chat's token ids and their labels (``IGNORE`` where no loss is taken)."""

    input_ids: list[int]
    labels: list[int]

    @property
    def targets(self) -> int:
        return sum(1 for t in self.labels if t != IGNORE)


def choose_chats(
    examples: Sequence[Example], builder: GroundedBuilder | None, *, grounded_share: float, seed: int
) -> list[Chat]:
    """One chat per example: grounded with probability ``grounded_share`` where ``builder`` can
    ground it, else its own turns (closed-book for KG-QA, the dialogue as is)."""
    if not 0 <= grounded_share <= 1:
        raise ConfigError(f"grounded share must be between 0 and 1; got {grounded_share}")
    rng = random.Random(f"{seed}\tchats")
    out = []
    for ex in examples:
        where = f"{ex.path}:{ex.line}"
        if builder is not None and grounded_share and builder.usable(ex) and rng.random() < grounded_share:
            out.append(Chat(builder.build(ex), "grounded", where))
        else:
            out.append(Chat(ex.messages, "closed" if ex.is_kgqa else "dialogue", where))
    return out


def tokenize(fmt: PromptFormat, tokenizer: object, chat: Chat, max_len: int) -> Tokenized | None:
    """``chat`` as ids with labels on its assistant turns, or None when it is longer than ``max_len``.

    Raises:
        ConfigError: the prompt format does not render a chat's beginning as a prefix of the whole
            (the answer spans could not be found), naming the chat's file and line.
    """
    msgs = chat.messages
    ids = fmt.encode(tokenizer, msgs, add_generation_prompt=False)
    if len(ids) > max_len:
        return None
    labels = [IGNORE] * len(ids)
    for i, m in enumerate(msgs):
        if m.role != "assistant":
            continue
        start = fmt.encode(tokenizer, msgs[:i], add_generation_prompt=True)
        end = len(ids) if i == len(msgs) - 1 else len(fmt.encode(tokenizer, msgs[: i + 1], add_generation_prompt=False))
        if ids[: len(start)] != start or end < len(start):
            raise ConfigError(
                f"{chat.source}: the {fmt.name} prompt of the turns before answer {i} is not a prefix of the "
                "whole chat's, so the answer's tokens cannot be found; use another --format"
            )
        labels[len(start) : end] = ids[len(start) : end]
    return Tokenized(ids, labels)


def tokenize_all(
    fmt: PromptFormat, tokenizer: object, chats: Sequence[Chat], max_len: int,
    progress: Callable[[int], None] | None = None,
) -> tuple[list[Tokenized], Counter[str]]:
    """Tokenize every chat; the counter has ``kept:KIND`` and ``too_long:KIND`` counts."""
    out: list[Tokenized] = []
    counts: Counter[str] = Counter()
    for n, chat in enumerate(chats, 1):
        t = tokenize(fmt, tokenizer, chat, max_len)
        if t is None or not t.targets:
            counts[f"{'too_long' if t is None else 'no_target'}:{chat.kind}"] += 1
        else:
            counts[f"kept:{chat.kind}"] += 1
            out.append(t)
        if progress is not None and n % 1000 == 0:
            progress(1000)
    if not out:
        raise ConfigError(f"no training example fits --max-len {max_len}: {dict(counts)}")
    return out, counts


def length_batches(lengths: Sequence[int], batch_tokens: int, *, seed: int, epoch: int) -> list[list[int]]:
    """Indices grouped into batches of similar length whose padded size ``rows × longest`` stays
    within ``batch_tokens`` (a longer single example gets a batch of its own), in a seeded random
    order; equal lengths are ordered at random per epoch, so epochs' batches differ.
    """
    rng = random.Random(f"{seed}\tbatches\t{epoch}")
    order = sorted(range(len(lengths)), key=lambda i: (lengths[i], rng.random()))
    batches: list[list[int]] = []
    current: list[int] = []
    longest = 0
    for i in order:
        n = lengths[i]
        if current and max(longest, n) * (len(current) + 1) > batch_tokens:
            batches.append(current)
            current, longest = [], 0
        current.append(i)
        longest = max(longest, n)
    if current:
        batches.append(current)
    rng.shuffle(batches)
    return batches


def collate(items: Sequence[Tokenized], pad_id: int) -> dict[str, torch.Tensor]:
    """Right-padded ``input_ids``, ``attention_mask`` and ``labels`` for one batch."""
    width = max(len(t.input_ids) for t in items)
    ids = torch.full((len(items), width), pad_id, dtype=torch.long)
    labels = torch.full((len(items), width), IGNORE, dtype=torch.long)
    mask = torch.zeros((len(items), width), dtype=torch.long)
    for row, t in enumerate(items):
        n = len(t.input_ids)
        ids[row, :n] = torch.tensor(t.input_ids)
        labels[row, :n] = torch.tensor(t.labels)
        mask[row, :n] = 1
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}
