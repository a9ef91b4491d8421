"""Prompt formats of the model families kgrag serves: how a chat becomes the token ids a model was
trained on, and which tokens or strings end its answer.

* ``chatml`` — Qwen (and SmolLM2): ``<|im_start|>role\\n...<|im_end|>\\n`` turns; rendered by the
  tokenizer's own chat template when it has a ChatML one, so model defaults (Qwen's system prompt)
  come through unchanged.
* ``llama2`` — Llama-2-chat / Mistral ``[INST]`` turns, system folded into the first user turn,
  ``<s>``/``</s>`` inserted as token ids around each exchange (as Meta's reference code does).
* ``alpaca`` — ChatDoctor / PMC-LLaMA instruction prompts; earlier turns are folded into the input.
* ``baichuan`` — Baichuan / Baichuan2 (DISC-MedLLM, MedLLM): the user and assistant token ids
  (195, 196) inserted before each turn.

The way back, generated ids to answer text cut at a format's stop strings, is
:class:`IncrementalDecoder`.

Example:
    >>> fmt = get_format("chatml")
    >>> ids = fmt.encode(tokenizer, [Message("user", "What is diabetes?")])
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from kgrag.errors import ConfigError, InvalidMessagesError
from kgrag.generation.types import ROLES, Message

log = logging.getLogger(__name__)

# A rendered prompt: text (encoded without special tokens) and token ids inserted as they are.
Segment = str | int


def validate_messages(messages: Sequence[Message], *, for_generation: bool = True) -> None:
    """Check that ``messages`` form a chat: known roles, system only first, ending with the user.

    Args:
        messages: the chat, oldest first.
        for_generation: require the last turn to be the user's (the model answers it).

    Raises:
        InvalidMessagesError: naming the index and role of the first bad message.
    """
    if not messages:
        raise InvalidMessagesError("no messages: a prompt needs at least one user message")
    for i, m in enumerate(messages):
        if m.role not in ROLES:
            raise InvalidMessagesError(f"message {i} has role {m.role!r}; valid roles: {', '.join(ROLES)}")
        if m.role == "system" and i > 0:
            raise InvalidMessagesError(f"message {i} has role 'system'; only the first message may be a system one")
    last = len(messages) - 1
    if for_generation and messages[last].role != "user":
        raise InvalidMessagesError(
            f"message {last} has role {messages[last].role!r}; a prompt for generation must end with a user turn"
        )
    if not any(m.role == "user" for m in messages):
        raise InvalidMessagesError("no user message: a prompt needs at least one")


def _split_system(messages: Sequence[Message]) -> tuple[str | None, list[Message]]:
    if messages[0].role == "system":
        return messages[0].content, list(messages[1:])
    return None, list(messages)


def _token_id(tokenizer: Any, token: str) -> int | None:
    """The id of ``token`` when the tokenizer has it as one token, else None."""
    ids = tokenizer.encode(token, add_special_tokens=False)
    return ids[0] if len(ids) == 1 else None


class PromptFormat(ABC):
    """One model family's chat prompt: :meth:`segments` says what to write, the rest follows.

    Attributes:
        name: the format's name (``--format``).
        stop_strings: answer text that ends generation (cut before it), beyond the stop tokens.
    """

    name: ClassVar[str]
    stop_strings: ClassVar[tuple[str, ...]] = ()

    @abstractmethod
    def segments(self, tokenizer: Any, messages: Sequence[Message], add_generation_prompt: bool) -> list[Segment]:
        """The prompt as text pieces and inserted token ids (messages already validated)."""

    def encode(self, tokenizer: Any, messages: Sequence[Message], add_generation_prompt: bool = True) -> list[int]:
        """Token ids of the prompt for ``messages``.

        Args:
            tokenizer: the model's Hugging Face tokenizer.
            messages: the chat, oldest first.
            add_generation_prompt: end with the opening of the assistant's answer (the usual case);
                False renders a finished chat (for training), which may end with the assistant.

        Returns:
            The prompt's token ids; special tokens are ids, never text the tokenizer may split.

        Raises:
            InvalidMessagesError: the messages cannot form a prompt.
        """
        validate_messages(messages, for_generation=add_generation_prompt)
        ids: list[int] = []
        for seg in self.segments(tokenizer, messages, add_generation_prompt):
            ids.extend([seg] if isinstance(seg, int) else tokenizer.encode(seg, add_special_tokens=False))
        return ids

    def render(self, tokenizer: Any, messages: Sequence[Message], add_generation_prompt: bool = True) -> str:
        """The prompt as readable text, inserted token ids written as their token strings.

        Args:
            tokenizer: the model's Hugging Face tokenizer.
            messages: the chat, oldest first.
            add_generation_prompt: as in :meth:`encode`.

        Returns:
            The prompt text (for logs and tests; the model gets :meth:`encode`'s ids).

        Raises:
            InvalidMessagesError: the messages cannot form a prompt.
        """
        validate_messages(messages, for_generation=add_generation_prompt)
        parts = self.segments(tokenizer, messages, add_generation_prompt)
        return "".join(p if isinstance(p, str) else tokenizer.convert_ids_to_tokens(p) for p in parts)

    def stop_token_ids(self, tokenizer: Any) -> set[int]:
        """Token ids that end an answer: the tokenizer's end-of-sequence token by default.

        Args:
            tokenizer: the model's Hugging Face tokenizer.

        Returns:
            The ids (the model's generation config may add more).
        """
        eos = tokenizer.eos_token_id
        return set() if eos is None else {int(eos)}


class ChatMLFormat(PromptFormat):
    """Qwen's ChatML. With ``use_template`` and a ChatML chat template on the tokenizer, the text is
    the template's own rendering (same text as ``apply_chat_template``), else written here."""

    name = "chatml"
    stop_strings = ("<|im_end|>", "<|im_start|>")

    def __init__(self, use_template: bool = True) -> None:
        self.use_template = use_template

    def segments(self, tokenizer: Any, messages: Sequence[Message], add_generation_prompt: bool) -> list[Segment]:
        template = getattr(tokenizer, "chat_template", None)
        if self.use_template and isinstance(template, str) and "<|im_start|>" in template:
            chat = [{"role": m.role, "content": m.content} for m in messages]
            return [tokenizer.apply_chat_template(chat, tokenize=False, add_generation_prompt=add_generation_prompt)]
        text = "".join(f"<|im_start|>{m.role}\n{m.content}<|im_end|>\n" for m in messages)
        return [text + ("<|im_start|>assistant\n" if add_generation_prompt else "")]

    def stop_token_ids(self, tokenizer: Any) -> set[int]:
        ids = super().stop_token_ids(tokenizer)
        for token in ("<|im_end|>", "<|im_start|>", "<|endoftext|>"):
            if (tid := _token_id(tokenizer, token)) is not None:
                ids.add(tid)
        return ids


class Llama2Format(PromptFormat):
    """Llama-2-chat's ``[INST]`` turns as Meta's reference code builds them: each exchange is
    ``<s>[INST] {user} [/INST] {answer} </s>`` with ``<s>``/``</s>`` as ids, the system text folded
    into the first user turn as ``<<SYS>>\\n{system}\\n<</SYS>>\\n\\n``. Turns must alternate."""

    name = "llama2"
    stop_strings = ("[INST]",)

    def segments(self, tokenizer: Any, messages: Sequence[Message], add_generation_prompt: bool) -> list[Segment]:
        system, turns = _split_system(messages)
        offset = len(messages) - len(turns)
        for i, m in enumerate(turns):
            if m.role != ("user" if i % 2 == 0 else "assistant"):
                raise InvalidMessagesError(
                    f"message {i + offset} has role {m.role!r}; llama2 prompts need user and assistant turns "
                    "alternating, starting with the user"
                )
        bos, eos = tokenizer.bos_token_id, tokenizer.eos_token_id
        if bos is None or eos is None:
            raise ConfigError("the llama2 format needs a tokenizer with bos and eos tokens (<s>, </s>)")
        out: list[Segment] = []
        for i in range(0, len(turns), 2):
            user = turns[i].content
            if i == 0 and system is not None:
                user = f"<<SYS>>\n{system}\n<</SYS>>\n\n{user}"
            text = f"[INST] {user.strip()} [/INST]"
            if i + 1 < len(turns):
                out += [bos, f"{text} {turns[i + 1].content.strip()} ", eos]
            else:
                out += [bos, text]
        return out


ALPACA_PREAMBLE = (
    "Below is an instruction that describes a task. Write a response that appropriately completes the request."
)
ALPACA_INPUT_PREAMBLE = (
    "Below is an instruction that describes a task, paired with an input that provides further context. "
    "Write a response that appropriately completes the request."
)


class AlpacaFormat(PromptFormat):
    """Alpaca instructions (ChatDoctor, PMC-LLaMA): the system text (or Alpaca's own) is the
    preamble, the last user turn the instruction, earlier turns the input as a transcript; a final
    assistant turn (``add_generation_prompt=False``) is the response, followed by the eos id."""

    name = "alpaca"
    stop_strings = ("### Instruction:", "### Input:", "### Response:")

    def segments(self, tokenizer: Any, messages: Sequence[Message], add_generation_prompt: bool) -> list[Segment]:
        system, turns = _split_system(messages)
        answer = turns.pop().content if turns[-1].role == "assistant" else None
        instruction = turns.pop().content
        history = "\n".join(f"{m.role.capitalize()}: {m.content}" for m in turns)
        preamble = system if system is not None else (ALPACA_INPUT_PREAMBLE if history else ALPACA_PREAMBLE)
        text = f"{preamble}\n\n### Instruction:\n{instruction}\n\n"
        if history:
            text += f"### Input:\nConversation so far:\n{history}\n\n"
        text += "### Response:\n" + (answer or "")
        out: list[Segment] = []
        bos = tokenizer.bos_token_id
        # a llama tokenizer adds <s> to text it encodes; the model was trained with it
        if bos is not None and tokenizer.encode("x", add_special_tokens=True)[:1] == [bos]:
            out.append(int(bos))
        out.append(text)
        if answer is not None and tokenizer.eos_token_id is not None:
            out.append(int(tokenizer.eos_token_id))
        return out


class BaichuanFormat(PromptFormat):
    """Baichuan's chat as its ``build_chat_input`` writes it: the system text, then each turn's
    text after the user (195) or assistant (196) token id, ending with 196 for the answer."""

    name = "baichuan"

    def __init__(self, user_token_id: int = 195, assistant_token_id: int = 196) -> None:
        self.user_token_id = user_token_id
        self.assistant_token_id = assistant_token_id

    def segments(self, tokenizer: Any, messages: Sequence[Message], add_generation_prompt: bool) -> list[Segment]:
        system, turns = _split_system(messages)
        out: list[Segment] = [system] if system else []
        for m in turns:
            out += [self.user_token_id if m.role == "user" else self.assistant_token_id, m.content]
        if add_generation_prompt:
            out.append(self.assistant_token_id)
        return out

    def stop_token_ids(self, tokenizer: Any) -> set[int]:
        # a model starting the next user turn has finished its answer
        return super().stop_token_ids(tokenizer) | {self.user_token_id}


class IncrementalDecoder:
    """Text of a growing list of token ids, given out in pieces that never split a character.

    Each step decodes all ids and gives the new suffix, holding back a tail that ends in U+FFFD (a
    character whose bytes have not all come) or that may begin a stop string.

    Args:
        tokenizer: the model's tokenizer.
        stop_strings: text that ends the answer; it and what follows are dropped.
    """

    def __init__(self, tokenizer: Any, stop_strings: Sequence[str] = ()) -> None:
        self.tokenizer = tokenizer
        self.stop_strings = tuple(s for s in stop_strings if s)
        self.ids: list[int] = []
        self.emitted = ""
        self.stopped = False

    def add(self, token_id: int) -> str:
        """Append one token; returns the text now safe to show (may be empty)."""
        self.ids.append(token_id)
        return self._delta(final=False)

    def flush(self) -> str:
        """The text not given out yet, at the end of generation."""
        return self._delta(final=True)

    def _delta(self, final: bool) -> str:
        text = self.tokenizer.decode(self.ids, skip_special_tokens=True, clean_up_tokenization_spaces=False)
        cuts = [i for i in (text.find(s) for s in self.stop_strings) if i >= 0]
        if cuts:
            text, final, self.stopped = text[: min(cuts)], True, True
        # a trailing U+FFFD is a character whose bytes are not all there: wait for them, and at the
        # end (max_new_tokens cut it) drop it rather than show a broken character
        text = text.rstrip("\ufffd")
        if not final:
            hold = max((k for s in self.stop_strings for k in range(1, len(s)) if text.endswith(s[:k])), default=0)
            text = text[: len(text) - hold]
        if not text.startswith(self.emitted):
            # the tokenizer rewrote text already given out; never take it back, only add
            log.debug("decoded text changed before offset %d; continuing from there", len(self.emitted))
            return text[len(self.emitted) :] if final else ""
        delta = text[len(self.emitted) :]
        self.emitted = text
        return delta


FORMATS: dict[str, type[PromptFormat]] = {f.name: f for f in (ChatMLFormat, Llama2Format, AlpacaFormat, BaichuanFormat)}


def get_format(name: str) -> PromptFormat:
    """The prompt format called ``name``.

    Args:
        name: one of :data:`FORMATS` (chatml, llama2, alpaca, baichuan); case does not matter.

    Returns:
        A new format object.

    Raises:
        ConfigError: unknown name; the message lists the valid ones.
    """
    cls = FORMATS.get(name.strip().lower())
    if cls is None:
        raise ConfigError(f"unknown prompt format {name!r}; valid formats: {', '.join(FORMATS)}")
    return cls()


def _config_value(config: Any, key: str) -> Any:
    return config.get(key) if isinstance(config, Mapping) else getattr(config, key, None)


def detect_format(tokenizer: Any, config: Any) -> str:
    """Tell a model's prompt format from its chat template and config.

    Args:
        tokenizer: the model's Hugging Face tokenizer.
        config: its config (a ``PretrainedConfig`` or the ``config.json`` dict), or None.

    Returns:
        ``chatml`` (template with ``<|im_start|>``), ``llama2`` (template with ``[INST]``) or
        ``baichuan`` (model_type or architectures name Baichuan).

    Raises:
        ConfigError: none of these matched; the message asks for ``--format`` and lists the names.
    """
    template = getattr(tokenizer, "chat_template", None)
    if isinstance(template, Mapping):  # named templates: look at all of them
        template = "\n".join(str(t) for t in template.values())
    template = template or ""
    if "<|im_start|>" in template:
        return "chatml"
    if "[INST]" in template:
        return "llama2"
    model_type = str(_config_value(config, "model_type") or "") if config is not None else ""
    architectures = (_config_value(config, "architectures") or []) if config is not None else []
    if "baichuan" in " ".join([model_type, *map(str, architectures)]).lower():
        return "baichuan"
    raise ConfigError(
        f"cannot tell the prompt format of this model (model_type {model_type or 'unknown'!r}, "
        f"{'a chat template kgrag does not know' if template else 'no chat template'}); "
        f"pass --format with one of: {', '.join(FORMATS)}"
    )
