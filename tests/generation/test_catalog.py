"""Model names: the default model is called what it is (Qwen2.5-Coder-0.5B-Instruct) while its
historic catalogue key keeps working for settings and the shipped adapter."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from kgrag.cli import app
from kgrag.config import Settings
from kgrag.errors import ConfigError
from kgrag.generation.adapters import SHIPPED, resolve_adapter
from kgrag.generation.catalog import ALIASES, KNOWN_MODELS, canonical_name, get_known_model
from kgrag.generation.weights import resolve_model

OLD, HONEST = "qwen2.5-0.5b-instruct", "qwen2.5-coder-0.5b-instruct"


def test_the_default_key_is_unchanged_and_displayed_as_the_coder_model() -> None:
    assert Settings.model_fields["model"].default == OLD
    spec = KNOWN_MODELS[OLD]
    assert spec.display_name == "Qwen2.5-Coder-0.5B-Instruct" and spec.label == spec.display_name
    assert HONEST in spec.aliases and "Coder" in spec.deprecation and HONEST in spec.deprecation


def test_the_honest_alias_resolves_to_the_same_entry() -> None:
    assert canonical_name(HONEST) == OLD and canonical_name(OLD) == OLD
    assert get_known_model(HONEST) is get_known_model(OLD)
    assert canonical_name("/some/model/folder") == "/some/model/folder"


def test_an_alias_never_shadows_another_key() -> None:
    assert not set(ALIASES) & set(KNOWN_MODELS)
    assert all(target in KNOWN_MODELS for target in ALIASES.values())


def test_every_model_has_a_display_name() -> None:
    assert all(spec.display_name for spec in KNOWN_MODELS.values())


def test_an_unknown_name_lists_keys_and_aliases() -> None:
    with pytest.raises(ConfigError, match=rf"known models: .*{OLD}.*{HONEST}"):
        get_known_model("qwen-7b")


def test_the_alias_gets_the_shipped_adapter_and_the_same_prepared_folder(tmp_path: Path) -> None:
    assert resolve_adapter("default", HONEST) == resolve_adapter("default", OLD)
    assert resolve_adapter("default", HONEST) is not None and resolve_adapter("default", HONEST).name == SHIPPED[OLD]
    with pytest.raises(ConfigError, match=rf"not prepared in {tmp_path / OLD}"):
        resolve_model(HONEST, tmp_path)


def test_model_list_shows_what_each_model_is_and_the_deprecation_note(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["model", "list", "--dir", str(tmp_path)], env={"COLUMNS": "300"})
    assert result.exit_code == 0, result.output
    assert "Qwen2.5-Coder-0.5B-Instruct" in result.output and f"alias: {HONEST}" in result.output
    assert "SmolLM2-135M-Instruct" in result.output
    assert f"note: the key {OLD} names a Coder model" in result.output
