"""``kgrag finetune`` driven as a user would, on a tiny random-weight model with SmolLM2's real
tokenizer (tests/conftest.py's ``tiny_model``): it trains, reports its steps, writes an adapter,
and names a bad option."""

from __future__ import annotations

import json
from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from kgrag.cli import app

pytest.importorskip("peft")
runner = CliRunner()


def _dialogue(i: int) -> dict[str, object]:
    return {"conversation": [
        {"role": "user", "content": f"I have had a headache for {i} days."},
        {"role": "assistant", "content": "How severe is it, and do you have a fever?"},
    ]}


@pytest.fixture()
def data(tmp_path: Path) -> Path:
    path = tmp_path / "train.jsonl"
    path.write_bytes(b"\n".join(orjson.dumps(_dialogue(i)) for i in range(12)) + b"\n")
    return path


def _args(model: Path, data: Path, out: Path, *extra: str) -> list[str]:
    return ["finetune", "--base", str(model), "--data", str(data), "--out", str(out), "--grounded", "0",
            "--max-len", "128", "--batch-tokens", "256", "--max-steps", "3", "--log-every", "1", "--save-every", "0",
            "--device", "cpu", "--lr", "1e-3", *extra]


def test_finetune_trains_reports_progress_and_writes_an_adapter(tiny_model: Path, data: Path, tmp_path: Path) -> None:
    out = tmp_path / "adapter"
    result = runner.invoke(app, _args(tiny_model, data, out), env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    said = " ".join(result.stdout.split())  # rich wraps long lines
    assert "12 chats tokenized" in said and "step 3/3" in said
    assert "done: 3 steps" in said and f"kgrag serve --adapter {out}" in said
    assert "[finetune] tokenizing chats: 12/12 (100%)" in result.stderr
    assert "[finetune] optimizer steps: 3/3 (100%) in" in result.stderr
    assert (out / "adapter_config.json").is_file()
    assert json.loads((out / "training.json").read_text())["figures"]["steps"] == 3


def test_finetune_refuses_to_overwrite_a_finished_adapter(tiny_model: Path, data: Path, tmp_path: Path) -> None:
    out = tmp_path / "adapter"
    assert runner.invoke(app, _args(tiny_model, data, out)).exit_code == 0
    again = runner.invoke(app, _args(tiny_model, data, out))
    assert again.exit_code != 0 and "--overwrite" in str(again.exception)
