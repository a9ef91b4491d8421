"""Question normalization: comparable text from whatever users type, and a way back to their text."""

from __future__ import annotations

import pytest

from kgrag.errors import ConfigError, KGRAGError, QuestionError
from kgrag.limits import MAX_QUESTION_CHARS
from kgrag.retrieval.normalize import normalize_question, normalize_with_offsets, validate_question

AWKWARD = [
    "",
    "   ",
    "ＷＨＡＴ ｉｓ ＤＭ？",
    "糖尿病人該掛什麼科？",
    "😷 糖尿病！！ＤＭ 👨\u200d👩\u200d👧 🇨🇳 👍🏽 1️⃣",
    "fever\u200bcough\ufeff\u200d",
    "\ud800 lone surrogate \udfff",
    "tab\tnew\nline\r\u3000ideographic\u00a0nbsp",
    "Sjögren’s syndrome — “dry eyes”",
    "e\u0301 decomposed accent",
    "\x00\x07\x1b[31m control",
    "\ue000 private use",
    "ﬁ ligature ㎎ ℃ ½",
    "Ⅱ型糖尿病",
    "مرض السكري and 당뇨병 and диабет",
]


def test_full_width_letters_and_punctuation_become_half_width_lower_case() -> None:
    assert normalize_question("ＷＨＡＴ ｉｓ ＤＭ？（糖尿病）") == "what is dm?(糖尿病)"


def test_traditional_chinese_becomes_simplified() -> None:
    assert normalize_question("糖尿病人該掛什麼科") == "糖尿病人该挂什么科"
    assert normalize_question("乾燥綜合徵怎麼治療") == "干燥综合征怎么治疗"  # phrase-aware: 乾燥 → 干燥


def test_simplified_chinese_is_left_alone() -> None:
    assert normalize_question("高血压病人能吃布洛芬吗") == "高血压病人能吃布洛芬吗"


def test_whitespace_of_every_kind_collapses_to_single_spaces() -> None:
    assert normalize_question(" tab\tnew\nline\r\u3000ideographic\u00a0nbsp ") == "tab new line ideographic nbsp"


def test_emoji_are_removed_but_keep_words_apart() -> None:
    assert normalize_question("fever🤒cough") == "fever cough"
    assert normalize_question("😷糖尿病👨\u200d👩\u200d👧") == "糖尿病"


def test_zero_width_and_control_characters_are_removed() -> None:
    assert normalize_question("dia\u200bbetes\ufeff") == "diabetes"
    assert normalize_question("\x00\x07a\x1bb") == "a b"


def test_accents_and_typographic_quotes_are_folded() -> None:
    assert normalize_question("Sjögren’s") == "sjogren's"
    assert normalize_question("e\u0301") == normalize_question("é") == "e"


@pytest.mark.parametrize("text", AWKWARD)
def test_never_crashes_and_is_idempotent(text: str) -> None:
    once = normalize_question(text)
    assert normalize_question(once) == once
    assert once == once.strip() and "  " not in once


@pytest.mark.parametrize("text", AWKWARD)
def test_offsets_agree_with_the_fast_path_and_point_into_the_input(text: str) -> None:
    nt = normalize_with_offsets(text)
    assert nt.text == normalize_question(text)
    assert len(nt.offsets) == len(nt.text)
    assert list(nt.offsets) == sorted(nt.offsets) and all(0 <= i < len(text) for i in nt.offsets)


def test_a_span_of_the_normalized_text_maps_back_to_what_the_user_wrote() -> None:
    question = "😷 請問 ＤＭ（糖尿病）該掛什麼科"
    nt = normalize_with_offsets(question)
    start = nt.text.index("dm")
    s, e = nt.span(start, start + 2)
    assert question[s:e] == "ＤＭ"
    start = nt.text.index("挂什么科")
    s, e = nt.span(start, start + 4)
    assert question[s:e] == "掛什麼科"


def test_validate_returns_the_stripped_question() -> None:
    assert validate_question("  糖尿病挂什么科？ ") == "糖尿病挂什么科？"


@pytest.mark.parametrize("bad", ["", "   \n\t", "😷🤒👍🏽", "\u200b\ufeff"])
def test_validate_refuses_empty_questions(bad: str) -> None:
    with pytest.raises(QuestionError, match="empty"):
        validate_question(bad)


def test_validate_refuses_over_long_questions_and_names_the_limit() -> None:
    with pytest.raises(QuestionError, match=f"limit is {MAX_QUESTION_CHARS:,}"):
        validate_question("糖" * (MAX_QUESTION_CHARS + 1))
    with pytest.raises(QuestionError, match="limit is 20"):
        validate_question("what is diabetes mellitus", max_chars=20)
    assert validate_question("糖" * MAX_QUESTION_CHARS) == "糖" * MAX_QUESTION_CHARS


def test_validate_refuses_non_text_and_a_useless_limit() -> None:
    with pytest.raises(QuestionError, match="must be text, got int"):
        validate_question(42)
    with pytest.raises(ConfigError, match="max_chars is 0"):
        validate_question("hello", max_chars=0)


def test_question_error_is_a_kgrag_error() -> None:
    assert issubclass(QuestionError, KGRAGError)
