"""The CLI's output layer: one rich console for results, one for errors (stderr)."""

from __future__ import annotations

from rich.console import Console

console = Console()
err_console = Console(stderr=True)
