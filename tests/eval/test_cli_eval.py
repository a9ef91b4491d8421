"""``kgrag eval retrieval`` from the command line (the sub-app, as ``kgrag eval`` mounts it)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kgrag.cli.eval import eval_app
from kgrag.errors import ConfigError

runner = CliRunner()


def test_eval_retrieval_prints_the_table_and_writes_json(default_store: Path, tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    args = ["retrieval", "--store", str(default_store), "--n", "5", "--langs", "zh", "--out", str(out)]
    result = runner.invoke(eval_app, args, env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "R@10" in result.output and "zh/template" in result.output
    payload = json.loads(out.read_text(encoding="utf-8"))
    assert payload["config"]["langs"] == ["zh"] and payload["config"]["index"] is None
    assert payload["split"]["requested"] == "test" and payload["split"]["dev_fraction"] == 0.2
    assert payload["metrics"]["by_lang"]["zh"]["n"] == 5 and "en" not in payload["metrics"]["by_lang"]
    assert len(payload["questions"]) == 5 and all(q["split"] == "test" for q in payload["questions"])


def test_bad_options_are_refused_before_loading(tmp_path: Path) -> None:
    result = runner.invoke(eval_app, ["retrieval", "--store", str(tmp_path), "--langs", "zh,fr"])
    assert isinstance(result.exception, ConfigError)
    assert "langs a comma-separated subset of zh, en" in str(result.exception)


@pytest.mark.parametrize("args", [["retrieval", "--split", "train"], ["retrieval", "--n", "0"]])
def test_bad_split_or_n_is_refused(args: list[str], tmp_path: Path) -> None:
    result = runner.invoke(eval_app, [*args, "--store", str(tmp_path)])
    assert isinstance(result.exception, ConfigError)


def test_a_questions_file_that_is_not_there_is_refused_before_loading(tmp_path: Path) -> None:
    from kgrag.errors import DataError

    missing = tmp_path / "none.jsonl"
    result = runner.invoke(eval_app, ["retrieval", "--store", str(tmp_path), "--questions", str(missing)])
    assert isinstance(result.exception, DataError) and "none.jsonl: no such data file" in str(result.exception)


def test_index_none_is_no_index_and_a_prompts_worth_of_facts_is_scored(default_store: Path, tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    args = ["retrieval", "--store", str(default_store), "--index", "none", "--n", "4", "--langs", "en",
            "--out", str(out)]
    result = runner.invoke(eval_app, args, env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    payload = json.loads(out.read_text(encoding="utf-8"))
    assert payload["config"]["index"] is None and payload["config"]["prompt_top_k"] == 8
    assert "R@8 (prompt)" in result.output and "recall@8" in payload["metrics"]["overall"]
