"""The ``kgrag`` application: the typer app, its global options, the command groups it joins and
the entry point that turns domain errors into one line."""

from __future__ import annotations

import logging

import typer

from kgrag.cli.config import register as register_config
from kgrag.cli.console import err_console
from kgrag.cli.eval import eval_app
from kgrag.cli.index import register as register_index
from kgrag.cli.kg import kg_app
from kgrag.cli.kgqa import register as register_kgqa
from kgrag.cli.model import register as register_model
from kgrag.cli.search import search_cmd
from kgrag.cli.serve import register as register_serve
from kgrag.cli.train import register as register_train
from kgrag.config import get_settings
from kgrag.errors import KGRAGError

app = typer.Typer(
    name="kgrag",
    help="Knowledge-graph-grounded medical QA (Chinese and English).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


@app.callback()
def _setup(verbose: bool = typer.Option(False, "--verbose", "-v", help="log progress details")) -> None:
    level = logging.INFO if verbose else getattr(logging, get_settings().log_level.upper(), logging.WARNING)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")


def _register() -> None:
    app.add_typer(kg_app, name="kg")
    app.command("search")(search_cmd)
    app.add_typer(eval_app, name="eval")
    register_index(app)
    register_serve(app)
    register_model(app)
    register_kgqa(app)
    register_train(app)
    register_config(app)


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
