"""``kgrag config env-example``: every setting of :class:`kgrag.config.Settings` with its default and
description, in ``.env`` syntax. ``.env.example`` is this output; a test fails when they drift.

Every line is commented out, so a ``.env`` copied from it changes nothing until you uncomment a
line. Values are written as pydantic-settings reads them back (tuples as JSON lists); a default
under the home folder is written with ``~`` so that the file is the same on every machine.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from kgrag.config import Settings

config_app = typer.Typer(help="kgrag's settings (KGRAG_* variables, .env).", no_args_is_help=True)

HEADER = """\
# kgrag's settings: every KGRAG_* variable with its default (kgrag/config.py, class Settings).
# kgrag reads them from the environment or from a .env file in the folder it runs in. Copy this file to .env and
# uncomment what you change; as it is, it changes nothing. Regenerate it: kgrag config env-example > .env.example
"""


def _value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple | list):
        return json.dumps(list(value), ensure_ascii=False)
    if isinstance(value, Path):
        home = Path.home()
        return "~/" + value.relative_to(home).as_posix() if value.is_relative_to(home) else value.as_posix()
    return str(value)


def env_example() -> str:
    """The text of ``.env.example``: a commented block per :class:`Settings` field, in class order."""
    prefix = Settings.model_config.get("env_prefix", "")
    blocks = [HEADER]
    for name, field in Settings.model_fields.items():
        note = field.description or ""
        if field.default is None:
            note += " (unset: none)"
        blocks.append(f"# {note}\n# {prefix}{name.upper()}={_value(field.default)}\n")
    return "\n".join(blocks)


@config_app.command("env-example")
def env_example_cmd() -> None:
    """Print every setting with its default and description, as a .env file (all lines commented out)."""
    typer.echo(env_example(), nl=False)


def register(app: typer.Typer) -> None:
    """Add ``config env-example`` to the ``kgrag`` app."""
    app.add_typer(config_app, name="config")
