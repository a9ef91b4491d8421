"""The ``kgrag`` command line (typer + rich). Output formatting lives here and in ``cli_kg``."""

from __future__ import annotations

import logging

import typer
from rich.console import Console

from kgrag.config import get_settings
from kgrag.errors import KGRAGError

app = typer.Typer(
    name="kgrag",
    help="Knowledge-graph-grounded medical QA (Chinese and English).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
console = Console()
err_console = Console(stderr=True)


@app.callback()
def _setup(verbose: bool = typer.Option(False, "--verbose", "-v", help="log progress details")) -> None:
    level = logging.INFO if verbose else getattr(logging, get_settings().log_level.upper(), logging.WARNING)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")


def _register() -> None:
    from kgrag.cli_eval import eval_app
    from kgrag.cli_index import register as register_index
    from kgrag.cli_kg import kg_app
    from kgrag.cli_kgqa import register as register_kgqa
    from kgrag.cli_model import register as register_model
    from kgrag.cli_search import search_cmd
    from kgrag.cli_serve import register as register_serve
    from kgrag.cli_train import register as register_train

    app.add_typer(kg_app, name="kg")
    app.command("search")(search_cmd)
    app.add_typer(eval_app, name="eval")
    register_index(app)
    register_serve(app)
    register_model(app)
    register_kgqa(app)
    register_train(app)


_register()


def main() -> None:
    """Entry point: domain errors become one red line and exit code 2, never a stack trace."""
    try:
        app()
    except KGRAGError as exc:
        err_console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
