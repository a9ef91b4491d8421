"""One set of request limits (kgrag/limits.py): what the API accepts reaches the model whole, and
what is over a limit is refused naming it, never cut without a word."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import ValidationError

from api.schemas import AskRequest
from kgrag.config import Settings
from kgrag.generation.prompts import build_grounded_prompt
from kgrag.generation.types import Message
from kgrag.limits import MAX_HISTORY_TURNS, MAX_NEW_TOKENS, MAX_QUESTION_CHARS, MAX_TURN_CHARS


def _prompt_text(question: str, history: list[Message]) -> str:
    p = build_grounded_prompt(question, [], lang="zh", history=history, count_tokens=len, max_prompt_tokens=10**6)
    return "\n".join(m.content for m in p.messages)


def test_a_history_turn_at_the_limit_reaches_the_prompt_whole() -> None:
    turn = "甲" * (MAX_TURN_CHARS - 1) + "乙"
    AskRequest(question="糖尿病挂什么科？", history=[{"role": "user", "content": turn}])
    assert turn in _prompt_text("糖尿病挂什么科？", [Message("user", turn), Message("assistant", "好")])


def test_a_history_turn_over_the_limit_is_refused_naming_the_field_and_limit() -> None:
    with pytest.raises(ValidationError) as exc:
        AskRequest(question="糖尿病挂什么科？", history=[{"role": "user", "content": "甲" * (MAX_TURN_CHARS + 1)}])
    (error,) = exc.value.errors()
    assert error["loc"] == ("history", 0, "content") and error["ctx"]["max_length"] == MAX_TURN_CHARS


def test_a_question_at_the_limit_reaches_the_prompt_whole_and_one_over_is_refused() -> None:
    question = "咳" * (MAX_QUESTION_CHARS - 1) + "？"
    assert question in _prompt_text(question, [])
    with pytest.raises(ValidationError, match=f"at most {MAX_QUESTION_CHARS} characters"):
        AskRequest(question=question + "咳")


def test_the_settings_and_the_request_cap_answers_at_the_same_length() -> None:
    assert Settings.model_fields["max_new_tokens"].metadata[-1].le == MAX_NEW_TOKENS
    assert AskRequest.model_fields["max_new_tokens"].metadata[-1].le == MAX_NEW_TOKENS


def test_the_chat_page_keeps_its_history_within_the_same_limits() -> None:
    page = (Path(__file__).resolve().parents[1] / "api" / "static" / "index.html").read_text(encoding="utf-8")
    found = dict(re.findall(r"const (MAX_HISTORY_TURNS|MAX_TURN_CHARS) = (\d+);", page))
    assert found == {"MAX_HISTORY_TURNS": str(MAX_HISTORY_TURNS), "MAX_TURN_CHARS": str(MAX_TURN_CHARS)}
    (box,) = re.findall(r'<textarea id="question"[^>]*maxlength="(\d+)"', page)
    assert int(box) == MAX_QUESTION_CHARS


def test_a_clinical_case_vignette_fits_one_question() -> None:
    vignette = (
        "A 58-year-old man presents to the emergency department with crushing substernal chest pain radiating to "
        "his left arm for the past 40 minutes, accompanied by diaphoresis and nausea. " * 12
        + "Which of the following is the most appropriate next step?\nA. Aspirin\nB. Warfarin\nC. Insulin\nD. Rest"
    )
    assert 1500 < len(vignette) <= MAX_QUESTION_CHARS
    AskRequest(question=vignette)
    assert vignette in _prompt_text(vignette, [])
