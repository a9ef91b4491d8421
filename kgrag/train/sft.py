"""LoRA supervised fine-tuning of a chat model on KG-QA pairs and dialogues (``kgrag finetune``).

A plain PyTorch loop rather than ``transformers.Trainer``: it is short, and it lets the run count
exactly what it reports (trained tokens per second, model FLOPs utilisation) and resume exactly
(the batch order is a function of the seed and the epoch, so a resumed run skips the batches done).

Example:
    >>> cfg = TrainConfig(base="qwen2.5-0.5b-instruct", data=[Path("data/kgqa/default/chat/train.jsonl")],
    ...                   out=Path("adapters/kgqa"), kg=Path("kg/store/default"), limit=40_000)
    >>> report = train(cfg)
    >>> report["figures"]["tokens_per_s"], report["figures"]["mfu"]
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from kgrag.errors import ConfigError
from kgrag.kgqa.records import read_examples
from kgrag.train import checkpoints as ckpt
from kgrag.train.data import choose_chats, collate, length_batches, tokenize_all
from kgrag.train.metrics import ModelShape, checkpointing_pays, peak_flops

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainConfig:
    """Everything one fine-tuning run depends on (``kgrag finetune``'s options)."""

    base: str
    data: list[Path]
    out: Path
    kg: Path | None = None
    limit: int | None = None
    grounded_share: float = 0.5
    none_share: float = 0.1
    top_k: int = 8
    max_len: int = 1536
    batch_tokens: int = 16384
    epochs: float = 1.0
    max_steps: int | None = None
    lr: float = 2e-4
    warmup: float = 0.03
    weight_decay: float = 0.0
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    targets: str = "all-linear"
    grad_checkpointing: bool | None = None  # None: when it pays (metrics.checkpointing_pays)
    save_every: int = 200
    log_every: int = 10
    seed: int = 0
    device: str = "auto"
    prompt_format: str | None = None
    allow_remote_code: bool = False
    merge: bool = False
    overwrite: bool = False
    resume: bool = False
    keep_checkpoints: bool = False
    peak_tflops: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def fingerprint(self) -> str:
        """What a resumed run must share with the run it continues."""
        same = {k: v for k, v in asdict(self).items() if k not in ("resume", "overwrite", "keep_checkpoints", "merge")}
        same["data"] = [[str(p), p.stat().st_size if p.exists() else -1] for p in self.data]
        return hashlib.sha256(json.dumps(same, sort_keys=True, default=str).encode()).hexdigest()[:16]


Logger = Callable[[str], None]
Progress = Callable[[str, int, int], None]


def train(cfg: TrainConfig, say: Logger = log.info, progress: Progress | None = None) -> dict[str, Any]:
    """Fine-tune ``cfg.base`` with LoRA on ``cfg.data``; write the adapter to ``cfg.out``.

    Args:
        cfg: the run's settings.
        say: called with each line worth showing (data counts, every ``log_every`` steps).
        progress: called as ``progress(stage, done, total)`` while chats are tokenized and after each step.

    Returns:
        The report also written to ``out/training.json``: settings, data counts, and figures
        (steps, tokens, loss, tokens/s, MFU, peak memory).

    Raises:
        ConfigError: a bad option, output folder, model, store or data line (see :mod:`kgrag.train.checkpoints`,
            :mod:`kgrag.kgqa.records`).
    """
    from peft import LoraConfig, get_peft_model

    from kgrag.config import get_settings
    from kgrag.generation.models import load_chat_model
    from kgrag.generation.weights import resolve_model

    _check(cfg)
    resume_from = ckpt.prepare_output(cfg.out, overwrite=cfg.overwrite, resume=cfg.resume)
    examples = read_examples(cfg.data, limit=cfg.limit)
    builder = _builder(cfg, examples)
    chat_model = load_chat_model(
        resolve_model(cfg.base, get_settings().model_dir), device=cfg.device,
        allow_remote_code=cfg.allow_remote_code, prompt_format=cfg.prompt_format,
    )
    model, tok, dev = chat_model.model, chat_model.tokenizer, chat_model.device
    t0 = time.perf_counter()
    chats = choose_chats(examples, builder, grounded_share=cfg.grounded_share if builder else 0.0, seed=cfg.seed)
    tokenized = 0

    def tokenizing(n: int) -> None:
        nonlocal tokenized
        tokenized += n
        if progress is not None:
            progress("tokenizing chats", tokenized, len(chats))

    data, counts = tokenize_all(chat_model.format, tok, chats, cfg.max_len, progress=tokenizing)
    if progress is not None:
        progress("tokenizing chats", len(chats), len(chats))
    lengths = [len(t.input_ids) for t in data]
    say(f"{len(data):,} chats tokenized in {time.perf_counter() - t0:.0f} s ({_counts(counts)}); "
        f"{sum(lengths):,} tokens, {sum(t.targets for t in data):,} of them answer tokens")

    model.train()
    lora = LoraConfig(r=cfg.lora_r, lora_alpha=cfg.lora_alpha, lora_dropout=cfg.lora_dropout,
                      target_modules=cfg.targets, task_type="CAUSAL_LM")
    torch.manual_seed(cfg.seed)  # the adapter's initialisation and dropout: a run repeats exactly
    model = get_peft_model(model, lora)
    n_lora = sum(p.numel() for p in model.parameters() if p.requires_grad)
    shape = ModelShape.of(model, n_lora)
    free = torch.cuda.mem_get_info()[0] if dev.startswith("cuda") else None
    use_gc = cfg.grad_checkpointing
    if use_gc is None:
        use_gc = checkpointing_pays(shape, cfg.batch_tokens, free)
    if use_gc:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        model.enable_input_require_grads()
    say(f"LoRA r={cfg.lora_r} on {cfg.targets}: {n_lora:,} trainable parameters; gradient checkpointing "
        f"{'on' if use_gc else 'off'}")

    epochs = max(1, math.ceil(cfg.epochs))
    first_epoch = length_batches(lengths, cfg.batch_tokens, seed=cfg.seed, epoch=0)
    total = cfg.max_steps or max(1, round(len(first_epoch) * cfg.epochs))
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay, fused=dev.startswith("cuda"))
    scheduler = _schedule(optimizer, total, cfg.warmup)
    pos = ckpt.Position(0, 0, 0, 0, 0.0, cfg.fingerprint())
    if resume_from is not None:
        pos = ckpt.load_checkpoint(resume_from, model, optimizer, scheduler, pos.fingerprint)
        say(f"resumed from {resume_from} at step {pos.step}")
    peak = peak_flops(torch.cuda.get_device_name(dev) if dev.startswith("cuda") else "", cfg.peak_tflops)
    mean_len = sum(lengths) / len(lengths)
    autocast = (
        torch.autocast("cuda", dtype=torch.bfloat16) if dev.startswith("cuda") else torch.autocast("cpu", enabled=False)
    )
    losses: list[float] = []
    skipped = 0
    window = [time.perf_counter(), pos.tokens]
    run_start, seconds_before = time.perf_counter(), pos.seconds
    step, tokens = pos.step, pos.tokens
    if dev.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats(dev)
    for epoch in range(pos.epoch, epochs):
        batches = first_epoch if epoch == 0 else length_batches(lengths, cfg.batch_tokens, seed=cfg.seed, epoch=epoch)
        first = pos.batch if epoch == pos.epoch else 0
        for b in range(first, len(batches)):
            if step >= total:
                break
            batch = {k: v.to(dev) for k, v in collate([data[i] for i in batches[b]], chat_model.pad_id).items()}
            with autocast:
                loss = model(**batch).loss
            loss.backward()
            norm = torch.nn.utils.clip_grad_norm_(params, 1.0)
            if not torch.isfinite(norm):  # one bad batch must not turn the adapter into NaN
                optimizer.zero_grad(set_to_none=True)
                skipped += 1
                continue
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            tokens += int(batch["attention_mask"].sum())
            losses.append(float(loss.detach()))
            if progress is not None:
                progress("optimizer steps", step, total)
            if step % cfg.log_every == 0 or step == total:
                now = time.perf_counter()
                tps = (tokens - window[1]) / max(now - window[0], 1e-9)
                window = [now, tokens]
                mfu = f", MFU {tps * shape.flops_per_token(mean_len) / peak:.1%}" if peak else ""
                recent = losses[-cfg.log_every :]
                say(f"step {step}/{total} epoch {epoch} loss {sum(recent) / len(recent):.4f} "
                    f"lr {scheduler.get_last_lr()[0]:.2e} {tps:,.0f} tokens/s{mfu}")
            if cfg.save_every and step % cfg.save_every == 0 and step < total:
                elapsed = seconds_before + time.perf_counter() - run_start
                ckpt.save_checkpoint(cfg.out, model, optimizer, scheduler,
                                     ckpt.Position(step, epoch, b + 1, tokens, elapsed, pos.fingerprint))
        if step >= total:
            break
    seconds = seconds_before + time.perf_counter() - run_start
    trained = tokens - pos.tokens
    tps = trained / max(time.perf_counter() - run_start, 1e-9)
    figures = {
        "steps": step, "total_steps": total, "tokens": tokens, "seconds": round(seconds, 1),
        "tokens_per_s": round(tps), "flops_per_token": shape.flops_per_token(mean_len),
        "mfu": round(tps * shape.flops_per_token(mean_len) / peak, 4) if peak else None,
        "peak_tflops": peak / 1e12 if peak else None,
        "loss_first": _mean(losses[: cfg.log_every]), "loss_last": _mean(losses[-cfg.log_every * 5 :]),
        "gradient_checkpointing": use_gc, "skipped_batches": skipped, "trainable_params": n_lora,
        "mean_len": round(mean_len, 1),
        "pad_share": round(_pad_share(lengths, first_epoch), 4),
        "peak_memory_gb": round(torch.cuda.max_memory_allocated(dev) / 2**30, 2) if dev.startswith("cuda") else None,
        "device": torch.cuda.get_device_name(dev) if dev.startswith("cuda") else "cpu",
    }
    report = {"base": cfg.base, "format": chat_model.format.name, "settings": _settings(cfg),
              "data": {"examples": len(examples), **dict(counts)}, "figures": figures}
    ckpt.finish(cfg.out, model, report, keep_checkpoints=cfg.keep_checkpoints)
    say(f"adapter written to {cfg.out}: {tps:,.0f} tokens/s" + (f", MFU {figures['mfu']:.1%}" if peak else ""))
    if cfg.merge:
        _merge(model, tok, cfg.out / "merged")
        say(f"merged model written to {cfg.out / 'merged'}")
    return report


def _check(cfg: TrainConfig) -> None:
    checks = [
        (cfg.max_len >= 32, f"--max-len must be at least 32; got {cfg.max_len}"),
        (cfg.batch_tokens >= cfg.max_len,
         f"--batch-tokens ({cfg.batch_tokens}) must be at least --max-len ({cfg.max_len})"),
        (cfg.epochs > 0, f"--epochs must be positive; got {cfg.epochs}"),
        (cfg.lr > 0, f"--lr must be positive; got {cfg.lr}"),
        (cfg.lora_r > 0, f"--lora-r must be positive; got {cfg.lora_r}"),
        (0 <= cfg.warmup < 1, f"--warmup is a share of the steps in [0, 1); got {cfg.warmup}"),
        (cfg.max_steps is None or cfg.max_steps > 0, f"--max-steps must be positive; got {cfg.max_steps}"),
        (cfg.limit is None or cfg.limit > 0, f"--limit must be positive; got {cfg.limit}"),
        (bool(cfg.data), "give at least one --data file"),
    ]
    for ok, message in checks:
        if not ok:
            raise ConfigError(message)


def _builder(cfg: TrainConfig, examples: list) -> Any:  # type: ignore[type-arg]
    """The grounded-example builder over ``cfg.kg``; None when no example is grounded."""
    if not cfg.grounded_share or not any(ex.is_kgqa and ex.facts for ex in examples):
        return None
    if cfg.kg is None:
        raise ConfigError("grounded examples need the KG the data was made from: pass --kg (or --grounded 0)")
    from kgrag.kg.store import load_store
    from kgrag.train.grounded import GroundedBuilder

    builder = GroundedBuilder(load_store(cfg.kg), seed=cfg.seed, max_facts=cfg.top_k, none_share=cfg.none_share)
    bad = next((ex for ex in examples if ex.is_kgqa and ex.facts and not builder.usable(ex)), None)
    if bad is not None:
        raise ConfigError(f"{bad.path}:{bad.line}: field 'facts' names rows {list(bad.facts)} that {cfg.kg} does not "
                          "have: the data was made from another store")
    return builder


def _schedule(optimizer: Any, total: int, warmup: float) -> Any:
    """Linear warm-up over ``warmup`` of the steps, then cosine decay to a tenth of the peak."""
    n_warm = max(1, int(total * warmup))

    def factor(step: int) -> float:
        if step < n_warm:
            return (step + 1) / n_warm
        progress = min(1.0, (step - n_warm) / max(1, total - n_warm))
        return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def _merge(model: Any, tokenizer: Any, path: Path) -> None:
    from kgrag.atomic import atomic_folder

    merged = model.merge_and_unload()
    with atomic_folder(path) as tmp:
        merged.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)


def _pad_share(lengths: list[int], batches: list[list[int]]) -> float:
    padded = sum(max(lengths[i] for i in b) * len(b) for b in batches)
    return 1 - sum(lengths) / padded


def _settings(cfg: TrainConfig) -> dict[str, Any]:
    return {k: (str(v) if isinstance(v, Path) else [str(p) for p in v] if k == "data" else v)
            for k, v in asdict(cfg).items()}


def _counts(counts: Any) -> str:
    return ", ".join(f"{k} {v:,}" for k, v in sorted(counts.items()))


def _mean(values: list[float]) -> float | None:
    return round(sum(values) / len(values), 4) if values else None
