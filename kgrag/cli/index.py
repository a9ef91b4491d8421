"""``kgrag build-index``: embed a KG store's entities and facts into a vector index."""

from __future__ import annotations

import time
from pathlib import Path

import typer
from rich.table import Table

from kgrag.cli.console import console
from kgrag.cli.progress import CommandProgress
from kgrag.config import get_settings
from kgrag.index.build import DEFAULT_IVF_THRESHOLD
from kgrag.index.embedders import EMBEDDERS


def build_index_cmd(
    kg: Path = typer.Option(None, "--kg", help="KG store folder (default: KGRAG_STORE, kg/store/default)"),
    out: Path = typer.Option(None, "--out", "-o", help="index folder, replaced atomically (default: KGRAG_INDEX)"),
    embedder: str = typer.Option("use-multilingual", "--embedder", "-e", help=f"one of: {', '.join(EMBEDDERS)}"),
    device: str = typer.Option("cpu", "--device", "-d", help="cpu, cuda or cuda:N (for the embedding model)"),
    what: str = typer.Option("entities,facts", "--what", help="parts to embed, comma-separated"),
    limit: int = typer.Option(None, "--limit", "-n", help="embed only the first N entities / facts (smoke builds)"),
    batch_size: int = typer.Option(128, "--batch-size", "-b", help="texts per model batch"),
    workers: int = typer.Option(1, "--workers", "-w", help="processes for use-multilingual (0: one per core)"),
    ivf_threshold: int = typer.Option(DEFAULT_IVF_THRESHOLD, "--ivf-threshold",
                                      help="parts with more rows get a faiss IVF index (approximate, faster)"),
    exact: bool = typer.Option(False, "--exact", help="exact (flat) faiss indexes for every part"),
) -> None:
    """Embed entity documents and fact sentences of a KG store and write a vector index."""
    from kgrag.index.build import build_index

    settings = get_settings()
    store, out = kg or settings.store, out or settings.index
    parts = [p.strip() for p in what.split(",") if p.strip()]
    t0 = time.perf_counter()
    with CommandProgress("build-index") as progress:
        progress.step(f"loading the KG store {store} and the embedder {embedder}")
        manifest = build_index(
            store, out, embedder, device=device, what=parts, batch_size=batch_size, limit=limit,
            workers=workers, ivf_threshold=None if exact else ivf_threshold, progress=progress,
        )
    total = time.perf_counter() - t0
    table = Table(title=f"index {out}")
    for col in ("part", "vectors", "embed s", "texts/s", "faiss"):
        table.add_column(col, justify="left" if col in ("part", "faiss") else "right")
    for part in manifest["parts"]:
        fig = manifest["build"][part]
        table.add_row(part, f"{manifest['counts'][part]:,}", f"{fig['embed_s']:.1f}", f"{fig['texts_per_s']:,.0f}",
                      str(fig["faiss"]))
    console.print(table)
    skipped = manifest["counts"].get("link_facts_skipped", 0)
    console.print(
        f"[green]wrote[/] {out} in {total:.1f} s: embedder {manifest['embedder']} ({manifest['dim']}-d) on "
        f"{manifest['build']['device']}, model load {manifest['build']['model_load_s']:.1f} s; KG {store} "
        f"(checksum {manifest['kg_checksum'][:16]}…)" + (f"; {skipped:,} link facts not embedded" if skipped else "")
    )


def register(app: typer.Typer) -> None:
    """Add ``build-index`` to the ``kgrag`` app."""
    app.command("build-index")(build_index_cmd)
