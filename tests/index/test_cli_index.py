"""``kgrag build-index`` driven as a user would."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from kgrag.cli.index import register
from kgrag.errors import ConfigError

runner = CliRunner()


@pytest.fixture(scope="module")
def app() -> typer.Typer:
    app = typer.Typer()
    app.command("noop")(lambda: None)  # a second command, so build-index is a subcommand as in kgrag
    register(app)
    return app


def test_build_index_prints_a_summary(app: typer.Typer, tiny_store: Path, tmp_path: Path) -> None:
    out = tmp_path / "idx"
    result = runner.invoke(app, ["build-index", "--kg", str(tiny_store), "--out", str(out), "--limit", "4",
                                 "--embedder", "use-multilingual", "--what", "entities,facts"],
                           env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "wrote" in result.output and "use-multilingual (512-d)" in result.output
    assert "entities" in result.output and "texts/s" in result.output
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["counts"]["entities"] == 4 and manifest["limit"] == 4


def test_unknown_embedder_is_a_config_error(app: typer.Typer, tiny_store: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, ["build-index", "--kg", str(tiny_store), "--out", str(tmp_path / "i"),
                                 "--embedder", "bert"])
    assert isinstance(result.exception, ConfigError)
    assert "valid embedders: minilm, use-multilingual" in str(result.exception)
