"""The ``kgrag`` command line (typer + rich): one module per command group, output through
:mod:`kgrag.cli.console`, the application and its entry point in :mod:`kgrag.cli.app`."""

from kgrag.cli.app import app, main

__all__ = ["app", "main"]
