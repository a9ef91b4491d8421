"""``kgrag serve`` (the API), ``kgrag ask`` (one question) and ``kgrag chat`` (multi-turn), the
last two answering in this process with the same retriever, prompt and model as the service."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from kgrag.cli.console import console, err_console
from kgrag.config import Settings, get_settings


def _settings(**overrides: Any) -> Settings:
    """Settings from the environment with the command's options on top (None = keep)."""
    base = get_settings()
    return base.model_copy(update={k: v for k, v in overrides.items() if v is not None})


def _answerer(settings: Settings):  # type: ignore[no-untyped-def]
    from kgrag.generation.answer import Answerer, load_model
    from kgrag.retrieval.retriever import KGRetriever

    return Answerer.from_settings(KGRetriever.load(settings.store, settings.index_path(),
                                                   intent_embedder=settings.intent_embedder_name()),
                                  load_model(settings),
                                  settings)


def _stream_one(answerer: Any, question: str, history: list[dict[str, str]], show: bool) -> Any:
    """Answer ``question`` printing the text as it comes (when ``show``); returns the Answer."""
    from kgrag.generation.pipeline import Done, Token, stream_answer

    answer = None
    for event in stream_answer(answerer, question, history):
        if isinstance(event, Token) and show:
            if event.lead:
                console.print(event.text, style="bold red", end="")
            else:
                console.print(event.text, end="", markup=False, highlight=False)
        elif isinstance(event, Done):
            answer = event.answer
    if show:
        console.print()
        # the streamed words cannot be unsaid: show what replaces them
        if answer is not None and answer.check is not None and answer.check.composed:
            console.print(f"[yellow]composed from the facts (the model's answer did not pass the check: "
                          f"{answer.check.reason}):[/]")
            console.print(answer.answer, markup=False, highlight=False)
    return answer


def _print_sources(answer: Any) -> None:
    from rich.table import Table


    if not answer.citations:
        console.print("[yellow]The knowledge graph has no facts for this question.[/]")
    else:
        table = Table(title="facts given to the model (✓ = cited in the answer)", title_justify="left")
        for col in ("n", "", "head", "relation", "tail", "source"):
            table.add_column(col, overflow="fold")
        for c in answer.citations:
            table.add_row(str(c.n), "✓" if c.cited else "", c.head, c.relation, c.tail[:80], c.source)
        console.print(table)
    console.print(f"[dim]{answer.safety.disclaimer}[/]")


def ask_cmd(
    question: str = typer.Argument(..., help="a medical question, Chinese or English"),
    as_json: bool = typer.Option(False, "--json", help="print the whole answer as JSON (the /ask body)"),
    model: str = typer.Option(None, "--model", "-m", help="model name or folder (default: KGRAG_MODEL)"),
    adapter: str = typer.Option(
        None, "--adapter", help="LoRA adapter: default (the shipped one; KGRAG_ADAPTER), none, or a folder"
    ),
    device: str = typer.Option(None, "--device", "-d", help="auto, cpu, cuda"),
    top_k: int = typer.Option(None, "--top-k", "-k", help="facts given to the model"),
    max_new_tokens: int = typer.Option(None, "--max-new-tokens", help="answer length cap"),
) -> None:
    """Answer one question with citations (streams the answer as it is generated)."""

    settings = _settings(model=model, adapter=adapter, device=device, top_k=top_k, max_new_tokens=max_new_tokens)
    answerer = _answerer(settings)
    answer = _stream_one(answerer, question, [], show=not as_json)
    if as_json:
        console.print_json(json.dumps(answer.to_dict(), ensure_ascii=False))
    else:
        _print_sources(answer)


def chat_cmd(
    model: str = typer.Option(None, "--model", "-m", help="model name or folder (default: KGRAG_MODEL)"),
    adapter: str = typer.Option(
        None, "--adapter", help="LoRA adapter: default (the shipped one; KGRAG_ADAPTER), none, or a folder"
    ),
    device: str = typer.Option(None, "--device", "-d", help="auto, cpu, cuda"),
    sources: bool = typer.Option(True, "--sources/--no-sources", help="show the facts after each answer"),
) -> None:
    """A multi-turn conversation in the terminal (empty line, Ctrl-D or /exit to leave; /new to restart)."""
    from kgrag.errors import KGRAGError

    answerer = _answerer(_settings(model=model, adapter=adapter, device=device))
    from kgrag.generation.catalog import KNOWN_MODELS, canonical_name

    spec = KNOWN_MODELS.get(canonical_name(answerer.model.name))
    title = f" ({spec.label})" if spec is not None and spec.label != answerer.model.name else ""
    console.print(f"[bold]kgrag chat[/] — {answerer.model.name}{title} on {answerer.model.device}. "
                  "Health information, not a doctor. /new restarts, /exit leaves.")
    history: list[dict[str, str]] = []
    while True:
        try:
            question = console.input("[bold cyan]you>[/] ").strip()
        except (EOFError, KeyboardInterrupt):
            break
        if question in ("", "/exit", "/quit"):
            break
        if question == "/new":
            history = []
            continue
        console.print("[bold green]kgrag>[/] ", end="")
        try:
            answer = _stream_one(answerer, question, history, show=True)
        except KGRAGError as exc:
            err_console.print(f"[bold red]error:[/] {exc}")
            continue
        if sources:
            _print_sources(answer)
        history += [{"role": "user", "content": question}, {"role": "assistant", "content": answer.answer}]
        history = history[-16:]


def serve_cmd(
    host: str = typer.Option(None, "--host", help="address to listen on (default: KGRAG_HOST, 127.0.0.1)"),
    port: int = typer.Option(None, "--port", "-p", help="port (default: KGRAG_PORT, 8000)"),
    model: str = typer.Option(None, "--model", "-m", help="model name or folder (default: KGRAG_MODEL)"),
    adapter: str = typer.Option(
        None, "--adapter", help="LoRA adapter: default (the shipped one; KGRAG_ADAPTER), none, or a folder"
    ),
    device: str = typer.Option(None, "--device", "-d", help="auto, cpu, cuda"),
    store: Path = typer.Option(None, "--store", "-s", help="KG store (default: KGRAG_STORE)"),
    index: str = typer.Option(None, "--index", "-i", help="vector index folder, or none"),
    build_index: bool = typer.Option(
        None, "--build-index/--no-build-index",
        help="build a missing or stale index in the background (default: KGRAG_INDEX_BUILD, off: wait for one)",
    ),
) -> None:
    """Serve the API and the web page. The port opens at once (503 and /ready saying what loads); answers
    start when the KG and the model are loaded; the index joins when it is there and verified."""
    import os

    import uvicorn

    settings = _settings(host=host, port=port, model=model, adapter=adapter, device=device, store=store,
                         index=None if index is None else Path(index), index_build=build_index)
    overrides = {"host": host, "port": port, "model": model, "adapter": adapter, "device": device, "store": store,
                 "index": index, "index_build": build_index}
    # what api.startup.Startup.check does at start-up, here too: one line and exit code 2, not a traceback
    from kgrag.generation.weights import resolve_model
    from kgrag.kg.store import read_manifest

    read_manifest(settings.store)
    resolve_model(settings.model, settings.model_dir)
    # the service is started by its ASGI entry point, as `uvicorn --factory api.main:app` would be,
    # with the options handed on as the KGRAG_* settings it reads
    os.environ.update({f"KGRAG_{k.upper()}": str(v) for k, v in overrides.items() if v is not None})
    uvicorn.run("api.main:app", factory=True, host=settings.host, port=settings.port, log_level="info")


def register(app: typer.Typer) -> None:
    """Add ``serve``, ``ask`` and ``chat`` to the ``kgrag`` app."""
    app.command("serve")(serve_cmd)
    app.command("ask")(ask_cmd)
    app.command("chat")(chat_cmd)
