"""Hugging Face causal LMs as :class:`~kgrag.generation.types.ChatModel`: loading (local folder,
optional LoRA adapter, remote code refused unless allowed) and a batched decode loop on the model's
own forward and KV cache, streaming text per request.

Example:
    >>> model = load_chat_model("~/.cache/kgrag/models/qwen2.5-0.5b-instruct")
    >>> model.generate([Message("user", "What is the capital of France?")]).text
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kgrag.device import resolve_device
from kgrag.errors import ConfigError
from kgrag.generation.chat_formats import IncrementalDecoder, PromptFormat, detect_format, get_format
from kgrag.generation.types import FinishReason, Generation, GenerationConfig, GenerationRequest, Message, StreamEvent

try:
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer, PretrainedConfig
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING
except ImportError as err:  # pragma: no cover - depends on the install
    raise ImportError(
        f"kgrag.generation.models needs torch and transformers: pip install 'kgrag[serve]' ({err})"
    ) from err

log = logging.getLogger(__name__)

MAX_CONTEXT_CAP = 32768  # beyond this, KV cache memory, not the model, is the limit
DEFAULT_CONTEXT = 2048  # for configs that do not say
_CONTEXT_KEYS = ("max_position_embeddings", "n_positions", "max_sequence_length", "seq_length", "model_max_length")
REMOTE_CODE_HINT = "allow it with --allow-remote-code or KGRAG_ALLOW_REMOTE_CODE=1 if you trust its source"


def _resolve_dtype(dtype: str | torch.dtype | None, device: str) -> torch.dtype:
    if dtype is None:
        return torch.bfloat16 if device.startswith("cuda") else torch.float32
    if isinstance(dtype, torch.dtype):
        return dtype
    names = {"bfloat16": torch.bfloat16, "float16": torch.float16, "float32": torch.float32}
    if dtype not in names:
        raise ConfigError(f"unknown dtype {dtype!r}; valid: {', '.join(names)}")
    return names[dtype]


def _read_config(source: str, name: str, allow_remote_code: bool) -> dict[str, Any]:
    """The model's config.json as a dict; refuses models whose code would run on load."""
    if Path(source).is_dir() and not (Path(source) / "config.json").is_file():
        raise ConfigError(f"{source} is not a Hugging Face model folder: it has no config.json")
    try:
        config, _ = PretrainedConfig.get_config_dict(source)
    except OSError as err:
        why = "cannot be read" if Path(source).is_dir() else "is not a local folder and the Hugging Face hub failed"
        raise ConfigError(
            f"model {source!r} {why} (offline here?): {err}. Give a local model folder, e.g. one "
            "`kgrag model prepare` writes"
        ) from err
    model_type = config.get("model_type")
    needs_code = "auto_map" in config or model_type not in CONFIG_MAPPING
    if needs_code and not allow_remote_code:
        why = "its config.json has auto_map" if "auto_map" in config else f"transformers does not know {model_type!r}"
        raise ConfigError(
            f"model {name} needs trust_remote_code ({why}): loading it runs Python code shipped with the "
            f"model; {REMOTE_CODE_HINT}"
        )
    return config


def _context_length(config: Any, tokenizer: Any) -> int:
    for key in _CONTEXT_KEYS:
        value = getattr(config, key, None)
        if isinstance(value, int) and value > 0:
            return min(value, MAX_CONTEXT_CAP)
    limit = getattr(tokenizer, "model_max_length", None)
    if isinstance(limit, int) and 0 < limit < 10**7:  # transformers' "no limit" is a huge number
        return min(limit, MAX_CONTEXT_CAP)
    return DEFAULT_CONTEXT


def _load_adapter(model: Any, adapter: Path) -> Any:
    if not (adapter / "adapter_config.json").is_file():
        raise ConfigError(f"{adapter} is not a LoRA adapter folder (no adapter_config.json); give a peft adapter")
    try:
        from peft import PeftModel
    except ImportError as err:
        raise ConfigError(f"loading adapter {adapter} needs peft: pip install 'kgrag[serve]' ({err})") from err
    try:
        # merged into the weights: generation then runs at the base model's speed (no LoRA matmuls)
        return PeftModel.from_pretrained(model, str(adapter)).merge_and_unload()
    except (OSError, ValueError, RuntimeError, KeyError) as err:
        raise ConfigError(f"cannot apply adapter {adapter} to this model: {err}") from err


def load_chat_model(
    path: str | Path,
    *,
    device: str = "auto",
    dtype: str | torch.dtype | None = None,
    adapter: str | Path | None = None,
    allow_remote_code: bool = False,
    prompt_format: str | None = None,
    name: str | None = None,
) -> HFChatModel:
    """Load a Hugging Face causal LM and its tokenizer as a :class:`HFChatModel`.

    Args:
        path: a local model folder (config.json, weights, tokenizer); a hub id works only where the
            Hugging Face hub can be reached.
        device: ``auto`` (cuda when torch sees a GPU), ``cpu``, ``cuda`` or ``cuda:N``.
        dtype: weights' dtype (``bfloat16``, ``float16``, ``float32`` or a torch dtype); None:
            bfloat16 on CUDA, float32 on CPU.
        adapter: a LoRA adapter folder (peft) applied on top of the model.
        allow_remote_code: allow models whose code ships with them (``auto_map`` in config.json, or a
            model type transformers does not know); refused otherwise.
        prompt_format: chatml, llama2, alpaca or baichuan; None: detected from the chat template
            and config.
        name: the model's name in answers and logs; default: the folder's name.

    Returns:
        The loaded model, in eval mode on ``device``.

    Raises:
        ConfigError: no such model, remote code not allowed, bad device/dtype/adapter, or an unknown
            prompt format (the message says which and how to fix it).
    """
    local = Path(path).expanduser()
    source = str(local) if local.exists() else str(path)
    if source.endswith(".gguf"):
        raise ConfigError(f"{source} is a GGUF file; convert it to a model folder first (kgrag model prepare)")
    if not Path(source).exists() and (Path(source).is_absolute() or source.startswith((".", "~"))):
        raise ConfigError(f"no model folder at {source}")
    name = name or Path(source).name or source
    dev = resolve_device(device)
    torch_dtype = _resolve_dtype(dtype, dev)
    raw_config = _read_config(source, name, allow_remote_code)
    log.info("loading model %s from %s on %s (%s)", name, source, dev, torch_dtype)
    try:
        config = AutoConfig.from_pretrained(source, trust_remote_code=allow_remote_code)
        tokenizer = AutoTokenizer.from_pretrained(source, trust_remote_code=allow_remote_code)
        model: Any = AutoModelForCausalLM.from_pretrained(
            source, config=config, dtype=torch_dtype, trust_remote_code=allow_remote_code
        )
    except (OSError, ValueError, ImportError) as err:
        raise ConfigError(f"cannot load model {name} from {source}: {err}") from err
    if adapter is not None:
        model = _load_adapter(model, Path(adapter).expanduser())
    model.to(dev).eval()
    fmt = prompt_format or detect_format(tokenizer, raw_config)
    return HFChatModel(
        model, tokenizer, prompt_format=fmt, name=name, adapter=None if adapter is None else str(adapter)
    )


@dataclass
class _Sequence:
    """One request's state in the batch."""

    index: int
    request: GenerationRequest
    prompt: list[int]
    decoder: IncrementalDecoder
    generator: torch.Generator | None
    completion: int = 0
    finish: FinishReason | None = None

    def event(self, text: str) -> StreamEvent:
        if self.finish is None:
            return StreamEvent(self.index, text)
        return StreamEvent(self.index, text, self.finish, len(self.prompt), self.completion)


class HFChatModel:
    """A Hugging Face causal LM with its tokenizer and prompt format, generating in batches.

    One ``stream_batch`` at a time per model (it is not thread-safe); put concurrent requests in one
    batch instead.

    Args:
        model: a transformers causal LM (or a peft model around one), in eval mode on its device.
        tokenizer: its tokenizer.
        prompt_format: a :class:`PromptFormat` or its name.
        name: the model's name.
        max_context: tokens of prompt + answer; default: from the model config (capped at 32768).
        adapter: the LoRA adapter folder applied, if any (informative).

    Attributes:
        pad_id: the token that pads batches (the tokenizer's pad token, else its end token).
        keeps_last_logits, takes_positions: whether the model's forward takes ``logits_to_keep``
            and ``position_ids`` (remote-code models may take neither).
    """

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        *,
        prompt_format: PromptFormat | str,
        name: str,
        max_context: int | None = None,
        adapter: str | None = None,
    ) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.format = get_format(prompt_format) if isinstance(prompt_format, str) else prompt_format
        self.prompt_format = self.format.name
        self.name = name
        self.adapter = adapter
        self.device = str(next(model.parameters()).device)
        self.max_context = max_context or _context_length(model.config, tokenizer)
        self.stop_ids = self.format.stop_token_ids(tokenizer) | _generation_eos(model)
        base = model.get_base_model() if hasattr(model, "get_base_model") else model
        # remote-code models (Baichuan) may take neither of these
        params = inspect.signature(base.forward).parameters
        self.keeps_last_logits = "logits_to_keep" in params
        self.takes_positions = "position_ids" in params
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        self.pad_id = int(pad or 0)

    def count_tokens(self, text: str) -> int:
        """Tokens ``text`` takes, without special tokens."""
        return len(self.tokenizer.encode(text, add_special_tokens=False))

    def encode(self, messages: Sequence[Message]) -> list[int]:
        """Prompt token ids of ``messages`` in this model's format, generation prompt included."""
        return self.format.encode(self.tokenizer, messages)

    def prompt_tokens(self, messages: Sequence[Message]) -> int:
        """Tokens the rendered prompt of ``messages`` takes, generation prompt included."""
        return len(self.encode(messages))

    def generate(self, messages: Sequence[Message], config: GenerationConfig | None = None) -> Generation:
        """Generate the answer to one chat.

        Args:
            messages: the chat, ending with a user turn.
            config: how to generate; default :class:`GenerationConfig` (greedy, 256 tokens).

        Returns:
            The answer with its token counts and why it ended.

        Raises:
            ConfigError: bad messages or settings, or a prompt too long for the context.
        """
        events = list(self.stream_batch([GenerationRequest(messages, config or GenerationConfig())]))
        last = events[-1]
        assert last.finish_reason is not None
        return Generation(
            "".join(e.text for e in events), last.prompt_tokens, last.completion_tokens, last.finish_reason
        )

    def stream_batch(self, requests: Sequence[GenerationRequest]) -> Iterator[StreamEvent]:
        """Generate for all ``requests`` together: one prefill of the left-padded prompts, then one
        token per step for every unfinished request; a finished or cancelled request leaves the batch.

        Args:
            requests: the prompts with their settings and cancel events.

        Yields:
            Text pieces as they are decoded; each request's last event has its ``finish_reason``
            (``stop`` at an end token or stop string, ``length`` at ``max_new_tokens``,
            ``cancelled`` when its event was set) and token counts (the end token included).

        Raises:
            ConfigError: bad messages or settings, or a prompt longer than ``max_context`` minus
                ``max_new_tokens`` (raised before any generation).
        """
        seqs = [self._start(i, r) for i, r in enumerate(requests)]
        live: list[_Sequence] = []
        for s in seqs:
            if s.request.cancelled.is_set():
                s.finish = "cancelled"
                yield s.event("")
            else:
                live.append(s)
        if not live:
            return
        logits, state = self._prefill([s.prompt for s in live])
        while live:
            tokens = self._pick(logits, live)
            events = [s.event(self._advance(s, t)) for s, t in zip(live, tokens, strict=True)]
            yield from (e for e in events if e.text or e.finish_reason)
            for s in live:  # cancelled while the consumer had the events: out before the next step
                if s.finish is None and s.request.cancelled.is_set():
                    s.finish = "cancelled"
                    yield s.event("")
            keep = [row for row, s in enumerate(live) if s.finish is None]
            if not keep:
                return
            if len(keep) < len(live):
                live = [live[row] for row in keep]
                tokens = [tokens[row] for row in keep]
                state.select(keep)
            logits = self._decode_step(tokens, state)

    def _start(self, index: int, request: GenerationRequest) -> _Sequence:
        cfg = request.config
        if cfg.max_new_tokens < 1:
            raise ConfigError(f"max_new_tokens must be at least 1. Currently, it is {cfg.max_new_tokens}")
        if cfg.temperature < 0 or not 0 < cfg.top_p <= 1 or cfg.repetition_penalty <= 0:
            raise ConfigError(
                f"need temperature >= 0, 0 < top_p <= 1 and repetition_penalty > 0; got {cfg.temperature}, "
                f"{cfg.top_p}, {cfg.repetition_penalty}"
            )
        prompt = self.encode(request.messages)
        if len(prompt) + cfg.max_new_tokens > self.max_context:
            raise ConfigError(
                f"request {index}: the prompt takes {len(prompt)} tokens and max_new_tokens is {cfg.max_new_tokens}, "
                f"more than the model's context of {self.max_context} tokens; shorten the prompt (fewer facts or "
                f"history) or lower max_new_tokens to at most {max(self.max_context - len(prompt), 0)}"
            )
        gen = None
        if cfg.temperature > 0 and cfg.seed is not None:
            gen = torch.Generator(device=self.device).manual_seed(cfg.seed)
        return _Sequence(index, request, prompt, IncrementalDecoder(self.tokenizer, self.format.stop_strings), gen)

    def _advance(self, s: _Sequence, token: int) -> str:
        """Feed one new token to ``s``; returns its new text and sets ``s.finish`` when it ends."""
        if s.request.cancelled.is_set():
            s.finish = "cancelled"
            return ""
        s.completion += 1
        if token in self.stop_ids:
            s.finish = "stop"
            return s.decoder.flush()
        text = s.decoder.add(token)
        if s.decoder.stopped:
            s.finish = "stop"
        elif s.completion >= s.request.config.max_new_tokens:
            s.finish = "length"
            text += s.decoder.flush()
        return text

    @torch.inference_mode()
    def _prefill(self, prompts: list[list[int]]) -> tuple[torch.Tensor, _BatchState]:
        width = max(len(p) for p in prompts)
        ids = torch.full((len(prompts), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(prompts), width), dtype=torch.long)
        for row, p in enumerate(prompts):
            ids[row, width - len(p) :] = torch.tensor(p, dtype=torch.long)
            mask[row, width - len(p) :] = 1
        ids, mask = ids.to(self.device), mask.to(self.device)
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        extra: dict[str, Any] = {"logits_to_keep": 1} if self.keeps_last_logits else {}
        if self.takes_positions:
            extra["position_ids"] = positions
        out = self.model(input_ids=ids, attention_mask=mask, use_cache=True, **extra)
        return out.logits[:, -1, :].float(), _BatchState(out.past_key_values, mask, positions[:, -1] + 1)

    @torch.inference_mode()
    def _decode_step(self, tokens: list[int], state: _BatchState) -> torch.Tensor:
        ids = torch.tensor(tokens, dtype=torch.long, device=self.device)[:, None]
        state.mask = torch.cat([state.mask, state.mask.new_ones((len(tokens), 1))], dim=-1)
        extra = {"position_ids": state.next_position[:, None]} if self.takes_positions else {}
        out = self.model(input_ids=ids, attention_mask=state.mask, past_key_values=state.cache, use_cache=True, **extra)
        state.cache = out.past_key_values
        state.next_position = state.next_position + 1
        return out.logits[:, -1, :].float()

    @torch.inference_mode()
    def _pick(self, logits: torch.Tensor, live: list[_Sequence]) -> list[int]:
        """Next token per row: argmax for greedy requests, nucleus sampling for the others."""
        for row, s in enumerate(live):
            penalty = s.request.config.repetition_penalty
            if penalty != 1.0 and s.decoder.ids:
                seen = torch.tensor(sorted(set(s.decoder.ids)), dtype=torch.long, device=logits.device)
                scores = logits[row, seen]
                logits[row, seen] = torch.where(scores > 0, scores / penalty, scores * penalty)
        picked = logits.argmax(dim=-1).tolist()
        for row, s in enumerate(live):
            cfg = s.request.config
            if cfg.temperature > 0:
                picked[row] = _sample_top_p(logits[row], cfg.temperature, cfg.top_p, s.generator)
        return picked


@dataclass
class _BatchState:
    """The batch's KV cache, attention mask (left padding) and next position per row."""

    cache: Any
    mask: torch.Tensor
    next_position: torch.Tensor

    def select(self, rows: list[int]) -> None:
        """Keep only ``rows`` (finished requests leave the batch and stop costing compute)."""
        index = torch.tensor(rows, dtype=torch.long, device=self.mask.device)
        if hasattr(self.cache, "batch_select_indices"):
            self.cache.batch_select_indices(index)
        else:  # a legacy cache of (key, value) tensors per layer, batch first
            self.cache = tuple(tuple(t[index] for t in layer) for layer in self.cache)
        self.mask, self.next_position = self.mask[index], self.next_position[index]


def _sample_top_p(logits: torch.Tensor, temperature: float, top_p: float, generator: torch.Generator | None) -> int:
    probs = torch.softmax(logits / temperature, dim=-1)
    sorted_probs, order = torch.sort(probs, descending=True)
    # keep the smallest head whose mass reaches top_p (the top token always stays)
    outside = sorted_probs.cumsum(-1) - sorted_probs >= top_p
    sorted_probs[outside] = 0.0
    choice = torch.multinomial(sorted_probs / sorted_probs.sum(), 1, generator=generator)
    return int(order[choice].item())


def _generation_eos(model: Any) -> set[int]:
    config = getattr(model, "generation_config", None)
    eos = getattr(config, "eos_token_id", None)
    if eos is None:
        return set()
    return {int(e) for e in ([eos] if isinstance(eos, int) else eos)}
