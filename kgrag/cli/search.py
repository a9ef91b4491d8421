"""``kgrag search``: the retriever from the terminal, as a rich table or JSON."""

from __future__ import annotations

from pathlib import Path

import orjson
import typer
from rich.table import Table

from kgrag.cli.console import console
from kgrag.config import get_settings


def search_cmd(
    question: str = typer.Argument(..., help="a medical question, Chinese or English"),
    store: Path | None = typer.Option(None, "--store", "-s", help="KG store (default: KGRAG_STORE)"),
    index: Path | None = typer.Option(
        None, "--index", "-i", help="vector index folder (default: KGRAG_INDEX if it exists)"
    ),
    top_k: int = typer.Option(10, "--top-k", "-k", help="facts to return (1..100)"),
    as_json: bool = typer.Option(False, "--json", help="print JSON instead of a table"),
) -> None:
    """Ranked, cited KG facts for a question."""
    from kgrag.retrieval.retriever import KGRetriever

    settings = get_settings()
    index = index or (settings.index if (settings.index / "manifest.json").exists() else None)
    retriever = KGRetriever.load(store or settings.store, index)
    result = retriever.retrieve(question, top_k=top_k)
    if as_json:
        typer.echo(orjson.dumps(result.to_dict(), option=orjson.OPT_INDENT_2).decode())
        return
    linked = ", ".join(f"{e.surface}→{e.entity_id} ({e.method} {e.confidence:.2f})" for e in result.entities)
    console.print(f"entities: {linked or '-'}   intents: {', '.join(result.intents) or '-'}")
    if not result.facts:
        console.print(f"[yellow]{result.reason}[/]")
        return
    table = Table(title=f"facts for: {result.question}")
    for col in ("#", "head", "relation", "tail / value", "source", "provenance", "score"):
        table.add_column(col, overflow="fold")
    for n, f in enumerate(result.facts, start=1):
        table.add_row(
            str(n), f.head_name, f.relation_label, f.tail_text[:120], f.source, f.provenance, f"{f.score:.3f}"
        )
    console.print(table)
    console.print(f"[dim]{result.timings_ms.get('total', 0):.1f} ms[/]")
