"""``kgrag make-kgqa``: generate a question/answer dataset from a KG store (chat, Alpaca, ShareGPT)."""

from __future__ import annotations

import time
from pathlib import Path

import typer
from rich.table import Table

from kgrag.cli.console import console
from kgrag.cli.progress import CommandProgress
from kgrag.config import get_settings
from kgrag.kgqa.templates import TYPES


def _split(value: str | None) -> list[str] | None:
    return None if value is None else value.split(",")


def make_kgqa_cmd(
    kg: Path = typer.Option(None, "--kg", help="KG store folder (default: KGRAG_STORE, kg/store/default)"),
    out: Path = typer.Option(None, "--out", "-o", help="dataset folder (default: data/kgqa/<store name>)"),
    relations: str = typer.Option(None, "--relations", "-r",
                                  help="relations to ask about, comma-separated (default: all; 'definition' for "
                                       "descriptions)"),
    langs: str = typer.Option("zh,en", "--langs", "-l", help="question languages, comma-separated"),
    sources: str = typer.Option(None, "--sources", "-s", help="KG sources to use, comma-separated (default: all)"),
    types: str = typer.Option(",".join(TYPES), "--types", "-t",
                              help="record types, comma-separated"),
    formats: str = typer.Option("chat,alpaca,sharegpt", "--formats", "-f", help="file formats, comma-separated"),
    limit: int = typer.Option(None, "--limit", "-n", help="at most this many records"),
    seed: int = typer.Option(0, "--seed", help="sampling and shuffling seed (the split by entity does not move)"),
    overwrite: bool = typer.Option(False, "--overwrite", help="replace an existing dataset folder"),
    rephrase: bool = typer.Option(True, "--rephrase/--no-rephrase",
                                  help="also ask in the phrasing families (patient, carer, search box, follow-ups…)"),
) -> None:
    """Generate KG-QA pairs (descriptions, relations, pairs, multiple choice) split by entity."""
    from kgrag.kgqa.make import make_kgqa

    store = kg or get_settings().store
    out = out or Path("data/kgqa") / Path(store).name
    t0 = time.perf_counter()
    stages = {"generate": "entities asked about", "write": "records written"}
    with CommandProgress("make-kgqa") as shown:

        def progress(stage: str, done: int, total: int) -> None:
            shown(stages.get(stage, stage), done, total)

        card = make_kgqa(
            store, out, relations=_split(relations), langs=langs.split(","), sources=_split(sources),
            types=types.split(","), formats=formats.split(","), limit=limit, seed=seed, overwrite=overwrite,
            rephrase=rephrase,
            progress=progress,
        )
    total = time.perf_counter() - t0
    table = Table(title=f"KG-QA {out}")
    for col in ("split", "records", "description", "relation", "pair", "choice", "zh", "en"):
        table.add_column(col, justify="left" if col == "split" else "right")
    for split, fig in card["by_split"].items():
        t, lang = fig["type"], fig["lang"]
        by_type = (f"{t.get(k, 0):,}" for k in ("description", "relation", "pair", "choice"))
        table.add_row(split, f"{sum(t.values()):,}", *by_type, f"{lang.get('zh', 0):,}", f"{lang.get('en', 0):,}")
    console.print(table)
    console.print(
        f"[green]wrote[/] {out} in {total:.1f} s: {card['total']:,} records ({card['total'] / total:,.0f}/s), "
        f"{len(card['files'])} files, card.json and README.md"
    )


def register(app: typer.Typer) -> None:
    """Add ``make-kgqa`` to the ``kgrag`` app."""
    app.command("make-kgqa")(make_kgqa_cmd)
