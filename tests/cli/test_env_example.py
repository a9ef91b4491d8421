"""``.env.example`` lists every setting with its default, and reads back as those defaults."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kgrag.cli import app
from kgrag.cli.config import env_example
from kgrag.config import Settings

REPO = Path(__file__).resolve().parents[2]


def test_env_example_is_what_kgrag_config_env_example_prints() -> None:
    assert (REPO / ".env.example").read_text(encoding="utf-8") == env_example(), (
        "`.env.example` drifted from kgrag/config.py: run `kgrag config env-example > .env.example`"
    )
    result = CliRunner().invoke(app, ["config", "env-example"])
    assert result.exit_code == 0 and result.stdout == env_example()


def test_every_setting_has_a_line_and_its_description() -> None:
    text = env_example()
    for name, field in Settings.model_fields.items():
        assert f"\n# KGRAG_{name.upper()}=" in text, name
        assert f"# {field.description}" in text, name


@pytest.fixture()
def no_kgrag_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only the file speaks: KGRAG_* variables of the shell running the tests would win over it."""
    for name in [k for k in os.environ if k.startswith("KGRAG_")]:
        monkeypatch.delenv(name)


@pytest.mark.usefixtures("no_kgrag_env")
def test_as_it_is_it_changes_nothing(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text(env_example(), encoding="utf-8")
    assert Settings(_env_file=env) == Settings(_env_file=None)  # type: ignore[call-arg]


@pytest.mark.usefixtures("no_kgrag_env")
def test_uncommented_every_value_reads_back_as_the_default(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    lines = [line[2:] for line in env_example().splitlines() if line.startswith("# KGRAG_") and not line.endswith("=")]
    env.write_text("\n".join(lines) + "\n", encoding="utf-8")
    read = Settings(_env_file=env)  # type: ignore[call-arg]
    for name, field in Settings.model_fields.items():
        if field.default is None:
            continue
        value = getattr(read, name)
        assert (value.expanduser() if isinstance(value, Path) else value) == field.default, name
