"""``kgrag finetune``: LoRA fine-tuning of a chat model on KG-QA pairs (closed-book and grounded) and dialogues."""

from __future__ import annotations

from pathlib import Path

import typer

from kgrag.cli.console import console
from kgrag.cli.progress import CommandProgress
from kgrag.config import get_settings


def finetune_cmd(
    base: str = typer.Option(
        None, "--base", "-m", help="base model: a prepared name or a folder (default: KGRAG_MODEL)"
    ),
    data: list[Path] = typer.Option(
        ..., "--data", "-d", help="training JSONL (chat, ShareGPT or Alpaca; KG-QA or dialogues); repeat to mix files"
    ),
    out: Path = typer.Option(..., "--out", "-o", help="adapter folder, e.g. adapters/kgqa"),
    kg: Path = typer.Option(
        None, "--kg", help="KG store the data was made from, for grounded examples (default: KGRAG_STORE)"
    ),
    limit: int = typer.Option(None, "--limit", "-n", help="use the first N examples of the data"),
    grounded: float = typer.Option(
        0.5,
        "--grounded",
        help="share of KG-QA pairs trained inside the service's "
        "grounded prompt (facts + distractors, cited answer); 0: closed-book only",
    ),
    none_share: float = typer.Option(0.1, "--none-share", help="share of grounded examples whose facts do not answer"),
    max_len: int = typer.Option(1536, "--max-len", help="longest chat in tokens (longer ones are left out, counted)"),
    batch_tokens: int = typer.Option(16384, "--batch-tokens", help="padded tokens per batch (length-grouped)"),
    epochs: float = typer.Option(1.0, "--epochs"),
    max_steps: int = typer.Option(None, "--max-steps", help="stop after this many optimizer steps"),
    lr: float = typer.Option(2e-4, "--lr", help="peak learning rate (linear warm-up, cosine decay)"),
    lora_r: int = typer.Option(16, "--lora-r"),
    lora_alpha: int = typer.Option(32, "--lora-alpha"),
    lora_dropout: float = typer.Option(0.05, "--lora-dropout"),
    targets: str = typer.Option("all-linear", "--targets", help="LoRA target modules (peft's target_modules)"),
    grad_checkpointing: bool = typer.Option(
        None,
        "--grad-checkpointing/--no-grad-checkpointing",
        help="default: on only when a batch's activations would not fit",
    ),
    save_every: int = typer.Option(200, "--save-every", help="checkpoint every N steps (0: never)"),
    log_every: int = typer.Option(10, "--log-every"),
    seed: int = typer.Option(0, "--seed"),
    device: str = typer.Option("auto", "--device", help="auto, cpu, cuda or cuda:N"),
    prompt_format: str = typer.Option(None, "--format", help="chatml, llama2, alpaca or baichuan (default: detected)"),
    allow_remote_code: bool = typer.Option(False, "--allow-remote-code"),
    merge: bool = typer.Option(False, "--merge", help="also write base + adapter merged into OUT/merged"),
    overwrite: bool = typer.Option(False, "--overwrite", help="replace a finished or unfinished run in OUT"),
    resume: bool = typer.Option(False, "--resume", help="continue the unfinished run in OUT from its last checkpoint"),
    keep_checkpoints: bool = typer.Option(False, "--keep-checkpoints"),
    peak_tflops: float = typer.Option(
        None, "--peak-tflops", help="accelerator bf16 peak for MFU (default: known GPUs)"
    ),
) -> None:
    """Fine-tune a chat model with LoRA on KG-QA data; prints tokens/s and MFU, writes a peft adapter."""
    from kgrag.train.sft import TrainConfig, train

    settings = get_settings()
    cfg = TrainConfig(
        base=base or settings.model, data=list(data), out=out, kg=kg or settings.store, limit=limit,
        grounded_share=grounded, none_share=none_share, max_len=max_len, batch_tokens=batch_tokens, epochs=epochs,
        max_steps=max_steps, lr=lr, lora_r=lora_r, lora_alpha=lora_alpha, lora_dropout=lora_dropout,
        targets=targets, grad_checkpointing=grad_checkpointing, save_every=save_every, log_every=log_every,
        seed=seed, device=device, prompt_format=prompt_format, allow_remote_code=allow_remote_code, merge=merge,
        overwrite=overwrite, resume=resume, keep_checkpoints=keep_checkpoints, peak_tflops=peak_tflops,
        top_k=settings.top_k,
    )
    with CommandProgress("finetune") as progress:
        report = train(cfg, say=lambda line: console.print(line, highlight=False), progress=progress)
    f = report["figures"]
    mfu = f"{f['mfu']:.1%}" if f["mfu"] is not None else "n/a (unknown accelerator peak)"
    console.print(f"[green]done[/]: {f['steps']} steps, {f['tokens']:,} tokens in {f['seconds']:.0f} s, "
                  f"{f['tokens_per_s']:,} tokens/s, MFU {mfu}; loss {f['loss_first']} → {f['loss_last']}. "
                  f"Serve it with: kgrag serve --adapter {out}")


def register(app: typer.Typer) -> None:
    """Add ``finetune`` to the ``kgrag`` app."""
    app.command("finetune")(finetune_cmd)
