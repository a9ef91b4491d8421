"""``kgrag search``, ``kgrag ask`` and ``kgrag chat`` driven as a user would: the tiny store, its
tiny real index and the small real model (SmolLM2-135M-Instruct on the CPU), set as a user sets
them (``KGRAG_*`` variables and the commands' options)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kgrag.cli import app

TEST_MODEL = "smollm2-135m-instruct"
ASPIRIN = "What are the side effects of aspirin?"


@pytest.fixture(scope="module")
def env(tiny_store: Path, tiny_index: Path, small_chat_model: object) -> dict[str, str]:
    # small_chat_model: prepared once into the model cache, so the commands only load it
    return {"KGRAG_STORE": str(tiny_store), "KGRAG_INDEX": str(tiny_index), "KGRAG_MODEL": TEST_MODEL,
            "KGRAG_DEVICE": "cpu", "KGRAG_MAX_NEW_TOKENS": "24", "COLUMNS": "200"}


runner = CliRunner()


def test_search_prints_the_ranked_cited_facts(env: dict[str, str]) -> None:
    result = runner.invoke(app, ["search", "糖尿病挂什么科？", "-k", "3"], env=env)
    assert result.exit_code == 0, result.output
    assert "cmekg:糖尿病" in result.stdout and "内分泌科" in result.stdout and "mini.jsonl" in result.stdout


def test_search_json_uses_the_index_named_by_the_settings(env: dict[str, str]) -> None:
    result = runner.invoke(app, ["search", "血糖很高，总是口渴，这是什么病？", "--json"], env=env)
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert body["entities"][0]["id"] == "cmekg:糖尿病" and body["entities"][0]["method"] == "dense"
    assert any(f["head_name"] == "糖尿病" and f["source"] == "cmekg" for f in body["facts"])


def test_search_without_an_index_says_why_nothing_was_found(env: dict[str, str], tmp_path: Path) -> None:
    result = runner.invoke(app, ["search", "血糖很高，总是口渴，这是什么病？"],
                           env={**env, "KGRAG_INDEX": str(tmp_path / "no-index")})
    assert result.exit_code == 0, result.output
    assert "no medical entity of the knowledge graph was found" in result.stdout


def test_ask_json_is_the_ask_body_with_citations_from_the_store(env: dict[str, str]) -> None:
    result = runner.invoke(app, ["ask", ASPIRIN, "--json", "--top-k", "3"], env=env)
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert body["answer"].strip()
    assert [c["n"] for c in body["citations"]] == [1, 2, 3]
    # 阿司匹林, named in the question's language
    assert any(c["head"] == "aspirin" and c["tail"] == "胃肠道出血" for c in body["citations"])
    assert body["safety"]["disclaimer"] and body["usage"]["completion_tokens"] <= 24


def test_ask_streams_the_answer_then_the_facts_table(env: dict[str, str]) -> None:
    result = runner.invoke(app, ["ask", ASPIRIN, "--max-new-tokens", "12"], env=env)
    assert result.exit_code == 0, result.output
    assert "facts given to the model" in result.stdout and "胃肠道出血" in result.stdout
    assert "I am not a doctor" in result.stdout  # the disclaimer, in the question's language


def test_ask_with_a_model_that_is_not_there_is_one_clear_error(env: dict[str, str]) -> None:
    result = runner.invoke(app, ["ask", ASPIRIN, "--model", "no-such-model"], env=env)
    assert result.exit_code != 0
    assert "neither a known model nor a model folder" in str(result.exception)


def test_chat_answers_each_turn_with_its_facts_restarts_and_leaves(env: dict[str, str]) -> None:
    turns = f"{ASPIRIN}\n/new\n糖尿病挂什么科？\n/exit\nnever asked\n"
    result = runner.invoke(app, ["chat"], input=turns, env=env)
    assert result.exit_code == 0, result.output
    assert f"kgrag chat — {TEST_MODEL} (SmolLM2-135M-Instruct) on cpu" in result.stdout
    assert result.stdout.count("kgrag>") == 2  # two answers: /new and /exit are commands, the rest is never read
    assert result.stdout.count("facts given to the model") == 2
    assert "胃肠道出血" in result.stdout and "内分泌科" in result.stdout
