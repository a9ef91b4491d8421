"""Prompt formats render each family's chat exactly as its models were trained on."""

from __future__ import annotations

from typing import Any

import pytest
from transformers import PretrainedConfig

from kgrag.errors import ConfigError, InvalidMessagesError
from kgrag.generation.chat_formats import (
    FORMATS,
    ChatMLFormat,
    IncrementalDecoder,
    detect_format,
    get_format,
    validate_messages,
)
from kgrag.generation.types import Message

CHAT = [
    Message("system", "You are a careful medical assistant."),
    Message("user", "What is diabetes?"),
    Message("assistant", "A disease of high blood sugar."),
    Message("user", "糖尿病有哪些症状？"),
]


def enc(tok: Any, text: str) -> list[int]:
    return tok.encode(text, add_special_tokens=False)


def as_dicts(messages: list[Message]) -> list[dict[str, str]]:
    return [{"role": m.role, "content": m.content} for m in messages]


# chatml


def test_chatml_renders_system_and_turns_exactly(smol_tokenizer: Any) -> None:
    fmt = get_format("chatml")
    text = (
        "<|im_start|>system\nYou are a careful medical assistant.<|im_end|>\n"
        "<|im_start|>user\nWhat is diabetes?<|im_end|>\n"
        "<|im_start|>assistant\nA disease of high blood sugar.<|im_end|>\n"
        "<|im_start|>user\n糖尿病有哪些症状？<|im_end|>\n"
        "<|im_start|>assistant\n"
    )
    assert fmt.render(smol_tokenizer, CHAT) == text
    ids = fmt.encode(smol_tokenizer, CHAT)
    assert ids == enc(smol_tokenizer, text)
    im_start = smol_tokenizer.convert_tokens_to_ids("<|im_start|>")
    assert ids.count(im_start) == 5  # special tokens are single ids, not split text


def test_chatml_without_template_matches_the_tokenizers_template(smol_tokenizer: Any) -> None:
    expected = smol_tokenizer.apply_chat_template(as_dicts(CHAT), tokenize=False, add_generation_prompt=True)
    assert ChatMLFormat(use_template=False).render(smol_tokenizer, CHAT) == expected


def test_chatml_uses_the_templates_default_system_prompt(smol_tokenizer: Any) -> None:
    chat = CHAT[1:]
    rendered = get_format("chatml").render(smol_tokenizer, chat)
    assert rendered == smol_tokenizer.apply_chat_template(as_dicts(chat), tokenize=False, add_generation_prompt=True)
    assert rendered.startswith("<|im_start|>system\nYou are a helpful AI assistant named SmolLM")


def test_chatml_finished_chat_has_no_generation_prompt(smol_tokenizer: Any) -> None:
    chat = [*CHAT, Message("assistant", "多饮、多尿。")]
    text = get_format("chatml").render(smol_tokenizer, chat, add_generation_prompt=False)
    assert text.endswith("<|im_start|>assistant\n多饮、多尿。<|im_end|>\n")


def test_chatml_stops_at_im_end(smol_tokenizer: Any) -> None:
    stops = get_format("chatml").stop_token_ids(smol_tokenizer)
    assert smol_tokenizer.convert_tokens_to_ids("<|im_end|>") in stops
    assert smol_tokenizer.eos_token_id in stops


@pytest.mark.slow
def test_chatml_matches_qwens_own_template(qwen_tokenizer: Any) -> None:
    for chat in (CHAT, CHAT[1:]):
        expected = qwen_tokenizer.apply_chat_template(as_dicts(chat), tokenize=False, add_generation_prompt=True)
        assert get_format("chatml").render(qwen_tokenizer, chat) == expected
    expected = qwen_tokenizer.apply_chat_template(as_dicts(CHAT), tokenize=False, add_generation_prompt=True)
    assert ChatMLFormat(use_template=False).render(qwen_tokenizer, CHAT) == expected
    assert get_format("chatml").encode(qwen_tokenizer, CHAT) == qwen_tokenizer.apply_chat_template(
        as_dicts(CHAT), tokenize=True, add_generation_prompt=True, return_dict=False
    )
    assert qwen_tokenizer.convert_tokens_to_ids("<|im_end|>") in get_format("chatml").stop_token_ids(qwen_tokenizer)


# llama2


def test_llama2_folds_system_into_the_first_turn_with_bos_eos_ids(llama_tokenizer: Any) -> None:
    fmt = get_format("llama2")
    first = "[INST] <<SYS>>\nYou are a careful medical assistant.\n<</SYS>>\n\nWhat is diabetes? [/INST]"
    first += " A disease of high blood sugar. "
    second = "[INST] 糖尿病有哪些症状？ [/INST]"
    assert fmt.render(llama_tokenizer, CHAT) == f"<s>{first}</s><s>{second}"
    assert fmt.encode(llama_tokenizer, CHAT) == [1, *enc(llama_tokenizer, first), 2, 1, *enc(llama_tokenizer, second)]


def test_llama2_text_equals_the_llama2_chat_template(llama_tokenizer: Any) -> None:
    expected = llama_tokenizer.apply_chat_template(as_dicts(CHAT), tokenize=False, add_generation_prompt=True)
    assert get_format("llama2").render(llama_tokenizer, CHAT) == expected


def test_llama2_needs_alternating_turns(llama_tokenizer: Any) -> None:
    chat = [Message("user", "a"), Message("user", "b")]
    with pytest.raises(InvalidMessagesError, match="message 1 has role 'user'.*alternating"):
        get_format("llama2").encode(llama_tokenizer, chat)


# alpaca


def test_alpaca_single_question_uses_system_as_preamble(plain_tokenizer: Any) -> None:
    chat = [CHAT[0], Message("user", "What is diabetes?")]
    text = "You are a careful medical assistant.\n\n### Instruction:\nWhat is diabetes?\n\n### Response:\n"
    fmt = get_format("alpaca")
    assert fmt.render(plain_tokenizer, chat) == "<s>" + text
    assert fmt.encode(plain_tokenizer, chat) == [1, *enc(plain_tokenizer, text)]


def test_alpaca_folds_history_into_the_input(plain_tokenizer: Any) -> None:
    text = get_format("alpaca").render(plain_tokenizer, CHAT[1:])
    assert text == (
        "<s>Below is an instruction that describes a task, paired with an input that provides further context. "
        "Write a response that appropriately completes the request.\n\n"
        "### Instruction:\n糖尿病有哪些症状？\n\n"
        "### Input:\nConversation so far:\nUser: What is diabetes?\nAssistant: A disease of high blood sugar.\n\n"
        "### Response:\n"
    )


def test_alpaca_finished_chat_ends_with_the_answer_and_eos(plain_tokenizer: Any) -> None:
    chat = [Message("user", "What is diabetes?"), Message("assistant", "A disease.")]
    ids = get_format("alpaca").encode(plain_tokenizer, chat, add_generation_prompt=False)
    assert ids[-1] == plain_tokenizer.eos_token_id
    assert plain_tokenizer.decode(ids, skip_special_tokens=True).endswith("### Response:\nA disease.")


# baichuan


def test_baichuan_inserts_user_and_assistant_token_ids(plain_tokenizer: Any) -> None:
    fmt = get_format("baichuan")
    system, u1, a1, u2 = (m.content for m in CHAT)
    expected = [*enc(plain_tokenizer, system), 195, *enc(plain_tokenizer, u1), 196, *enc(plain_tokenizer, a1)]
    expected += [195, *enc(plain_tokenizer, u2), 196]
    assert fmt.encode(plain_tokenizer, CHAT) == expected
    user, assistant = plain_tokenizer.convert_ids_to_tokens([195, 196])
    assert fmt.render(plain_tokenizer, CHAT) == f"{system}{user}{u1}{assistant}{a1}{user}{u2}{assistant}"
    assert {plain_tokenizer.eos_token_id, 195} <= fmt.stop_token_ids(plain_tokenizer)


# validation


@pytest.mark.parametrize(
    ("messages", "match"),
    [
        ([], "no messages"),
        ([Message("user", "a"), Message("tool", "b")], "message 1 has role 'tool'; valid roles: system, user"),  # type: ignore[arg-type]
        ([Message("user", "a"), Message("system", "b"), Message("user", "c")], "message 1 has role 'system'"),
        ([Message("user", "a"), Message("assistant", "b")], "message 1 has role 'assistant'.*end with a user"),
        ([Message("system", "a")], "message 0 has role .system.*end with a user"),
    ],
)
def test_bad_messages_are_refused_naming_index_and_role(messages: list[Message], match: str) -> None:
    with pytest.raises(InvalidMessagesError, match=match):
        validate_messages(messages)


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_every_format_validates(name: str, plain_tokenizer: Any) -> None:
    with pytest.raises(InvalidMessagesError, match="message 0 has role 'assistant'"):
        get_format(name).encode(plain_tokenizer, [Message("assistant", "hi")])


def test_finished_chat_may_end_with_the_assistant() -> None:
    validate_messages([Message("user", "a"), Message("assistant", "b")], for_generation=False)


# answer text: whole characters, cut at stop strings


@pytest.mark.parametrize("fixture", ["smol_tokenizer", "llama_tokenizer"])
def test_chinese_streams_in_whole_characters(fixture: str, request: Any) -> None:
    tokenizer = request.getfixturevalue(fixture)
    text = "肺炎的症状：咳嗽、发热😷。糖尿病患者应控制血糖。"
    ids = tokenizer.encode(text, add_special_tokens=False)
    decoder = IncrementalDecoder(tokenizer)
    pieces = [decoder.add(i) for i in ids] + [decoder.flush()]
    assert "".join(pieces) == text
    assert not any("\ufffd" in p for p in pieces)
    assert "" in pieces[:-1]  # some characters took several tokens and were held back until whole


def test_stop_strings_cut_the_text_even_across_tokens(llama_tokenizer: Any) -> None:
    decoder = IncrementalDecoder(llama_tokenizer, stop_strings=("### Instruction:",))
    pieces = []
    for i in llama_tokenizer.encode("Rest and fluids.\n### Instruction: more", add_special_tokens=False):
        pieces.append(decoder.add(i))
        if decoder.stopped:
            break
    assert decoder.stopped
    assert "".join(pieces) == "Rest and fluids.\n"


# detection and lookup


def test_detect_format_from_templates_and_config(
    smol_tokenizer: Any, llama_tokenizer: Any, plain_tokenizer: Any
) -> None:
    assert detect_format(smol_tokenizer, None) == "chatml"
    assert detect_format(llama_tokenizer, {"model_type": "llama"}) == "llama2"
    assert detect_format(plain_tokenizer, {"model_type": "baichuan"}) == "baichuan"
    assert detect_format(plain_tokenizer, {"architectures": ["BaichuanForCausalLM"]}) == "baichuan"
    assert detect_format(plain_tokenizer, PretrainedConfig(architectures=["BaiChuanForCausalLM"])) == "baichuan"


def test_detect_format_asks_for_format_when_unsure(plain_tokenizer: Any) -> None:
    with pytest.raises(ConfigError, match="--format with one of: chatml, llama2, alpaca, baichuan") as err:
        detect_format(plain_tokenizer, {"model_type": "llama"})
    assert "'llama'" in str(err.value)


def test_get_format_lists_valid_names() -> None:
    assert get_format(" ChatML ").name == "chatml"
    with pytest.raises(ConfigError, match="unknown prompt format 'vicuna'; valid formats: chatml, llama2, alpaca"):
        get_format("vicuna")


def test_a_character_cut_at_the_end_is_dropped_not_shown_broken(smol_tokenizer: Any) -> None:
    ids = smol_tokenizer.encode("糖", add_special_tokens=False)
    assert len(ids) > 1  # byte-level BPE: one Chinese character, several tokens
    decoder = IncrementalDecoder(smol_tokenizer)
    assert decoder.add(ids[0]) == ""  # incomplete: held back
    assert decoder.flush() == ""  # generation ended there: dropped, never U+FFFD
    whole = IncrementalDecoder(smol_tokenizer)
    assert "".join(whole.add(i) for i in ids) + whole.flush() == "糖"
