"""``kgrag eval mcq``: accuracy of a chat model on multiple-choice exam questions (MedQA, MedMCQA,
MMLU, lettered blocks, Chinese exams, KG-QA choice records), closed-book or with retrieval.

Registered on ``kgrag eval`` by :mod:`kgrag.cli.eval`.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from kgrag.atomic import write_jsonl_atomic
from kgrag.cli.console import console
from kgrag.cli.progress import CommandProgress
from kgrag.config import get_settings


def _table(title: str, cells: dict[str, dict[str, Any]], first: str, rotated: bool) -> Table:
    table = Table(title=title)
    for col in (first, "n", "accuracy", *(["rotated"] if rotated else [])):
        table.add_column(col, justify="left" if col == first else "right", no_wrap=True)
    for name, c in cells.items():
        table.add_row(name, str(c["n"]), f"{c['accuracy']:.3f}", *([f"{c['rotated_accuracy']:.3f}"] if rotated else []))
    return table


def _letters_table(letters: dict[str, dict[str, float]]) -> Table:
    table = Table(title="share of each letter")
    table.add_column("", no_wrap=True)
    names = list(letters["gold"])
    for name in names:
        table.add_column(name, justify="right", no_wrap=True)
    for row, shares in letters.items():
        table.add_row(row.replace("_", " "), *(f"{shares[n]:.3f}" for n in names))
    return table


def mcq_cmd(
    data: Path = typer.Option(..., "--data", help="benchmark JSONL: MedQA, MedMCQA, MMLU, lettered, CMExam or KG-QA"),
    model: str = typer.Option(None, "--model", "-m", help="model name or folder (default: KGRAG_MODEL)"),
    adapter: Path = typer.Option(None, "--adapter", help="LoRA adapter folder (peft) on top of the model"),
    rag: bool = typer.Option(False, "--rag/--no-rag", help="prompt with KG facts as the service does"),
    kg: Path = typer.Option(None, "--kg", help="KG store to retrieve from with --rag (default: KGRAG_STORE)"),
    index: Path = typer.Option(None, "--index", "-i", help="vector index for --rag (default: none)"),
    top_k: int = typer.Option(None, "--top-k", help="facts per prompt with --rag (default: KGRAG_TOP_K)"),
    limit: int = typer.Option(None, "--limit", "-n", help="at most N questions, drawn with --seed"),
    batch_size: int = typer.Option(64, "--batch-size", "-b", help="questions per forward pass"),
    device: str = typer.Option("auto", "--device", "-d", help="auto, cpu, cuda or cuda:N"),
    prompt_format: str = typer.Option(None, "--format", help="chatml, llama2, alpaca or baichuan (default: detect)"),
    cop_base: str = typer.Option("auto", "--cop-base", help="MedMCQA cop counts from 0 or 1 (auto: 0 if any is 0)"),
    rotate: bool = typer.Option(True, "--rotate/--no-rotate", help="also score with the options shifted by one"),
    out: Path = typer.Option(None, "--out", "-o", help="write settings and figures (JSON) here, atomically"),
    predictions: Path = typer.Option(None, "--predictions", help="write one JSON line per question here"),
    seed: int = typer.Option(0, "--seed", help="seed of the --limit draw"),
) -> None:
    """Accuracy of a chat model on multiple-choice questions: each option by the likelihood of its letter."""
    from kgrag.errors import ConfigError
    from kgrag.eval.mcq import evaluate_mcq, select
    from kgrag.eval.mcq_formats import read_mcq
    from kgrag.eval.retrieval import write_json_atomic
    from kgrag.generation.answer import Answerer
    from kgrag.generation.models import load_chat_model
    from kgrag.generation.weights import resolve_model

    settings = get_settings()
    store = kg or settings.store
    if (index is not None or top_k is not None) and not rag:
        raise ConfigError("index, top_k: --index and --top-k are used only with --rag (closed-book retrieves nothing)")
    if batch_size < 1:
        raise ConfigError(f"batch_size must be at least 1; got {batch_size}")
    if cop_base not in ("auto", "0", "1"):
        raise ConfigError(f"cop_base must be auto, 0 or 1; got {cop_base!r}")
    t0 = time.perf_counter()
    parsed = read_mcq(data, cop_base_=None if cop_base == "auto" else int(cop_base))
    questions = select(parsed.questions, limit, seed)
    retriever = None
    if rag:
        from kgrag.device import resolve_device
        from kgrag.retrieval.retriever import KGRetriever

        on_gpu = resolve_device(device).startswith("cuda")
        retriever = KGRetriever.load(store, index, device="cuda" if on_gpu else "cpu")
    model_path = resolve_model(model or settings.model, settings.model_dir)
    chat = load_chat_model(
        model_path, device=device, adapter=adapter, allow_remote_code=settings.allow_remote_code,
        prompt_format=prompt_format or settings.prompt_format, name=model or settings.model,
    )
    k = top_k or settings.top_k
    answerer = None if retriever is None else Answerer(retriever, chat, top_k=k)
    load_s = time.perf_counter() - t0
    with CommandProgress("eval mcq") as progress:
        report = evaluate_mcq(
            chat, questions, answerer=answerer, rotate=rotate, batch_size=batch_size, skipped=parsed.skipped,
            progress=progress,
        )
    fig = report.figures()
    n = fig["n"]
    mode = "with retrieval" if rag else "closed-book"
    name = f"{chat.name} + {adapter}" if adapter else chat.name
    title = f"{name}, {mode}: {n} {parsed.layout} questions ({data})"
    cells = {"all": fig, **fig["by_lang"]}
    console.print(_table(title, cells, "group", rotate))
    console.print(_table("by subject", fig["by_subject"], "subject", rotate))
    console.print(_letters_table(fig["letters"]))
    line = f"chance {fig['chance']:.3f}; most predicted letter {fig['max_letter']} ({fig['max_letter_share']:.3f})"
    if rotate:
        line += (f"; rotated − original {fig['rotation_delta']:+.3f}, same option chosen in both runs "
                 f"{fig['rotation_agreement']:.3f}")
    if rag:
        line += f"; facts per prompt {fig['mean_facts']:.2f}, none {fig['no_facts']:.3f}"
        line += f"; shortened to the service's limit {fig['n_shortened']}"
    console.print(line)
    if parsed.skipped:
        console.print("not scored: " + "; ".join(f"{v:,} {k}" for k, v in parsed.skipped.items()))
    speed = n / report.seconds if report.seconds > 0 else 0.0
    console.print(f"{n} questions in {report.seconds:.1f} s ({speed:.2f}/s) after {load_s:.1f} s of loading")
    if out is not None:
        config = {
            "model": chat.name, "model_path": str(model_path), "adapter": None if adapter is None else str(adapter),
            "rag": rag, "kg": str(store) if rag else None, "index": None if index is None else str(index),
            "top_k": k if rag else None, "data": str(data), "layout": parsed.layout, "limit": limit, "seed": seed,
            "rotate": rotate, "cop_base": cop_base, "batch_size": batch_size, "device": chat.device,
            "prompt_format": chat.prompt_format, "n": n, "seconds": round(report.seconds, 2),
            "questions_per_s": round(speed, 3), "load_s": round(load_s, 2),
        }
        write_json_atomic(out, {"settings": config, "figures": fig, "skipped": parsed.skipped})
        console.print(f"[green]wrote[/] {out}")
    if predictions is not None:
        write_jsonl_atomic(predictions, [o.as_dict() for o in report.outcomes])
        console.print(f"[green]wrote[/] {predictions}")
