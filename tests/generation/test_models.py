"""HFChatModel: loading rules, and a batched decode loop that matches transformers' own greedy
generation, streams text whole characters at a time, and lets one request be cancelled."""

from __future__ import annotations

import json
import shutil
from collections import defaultdict
from pathlib import Path
from typing import Any

import huggingface_hub.constants
import pytest
import torch
from transformers import AutoModelForCausalLM

from kgrag.errors import ConfigError
from kgrag.generation.models import MAX_CONTEXT_CAP, HFChatModel, load_chat_model
from kgrag.generation.types import ChatModel, GenerationConfig, GenerationRequest, Message, StreamEvent

PROMPTS = [
    [Message("user", "Hi")],
    [Message("system", "You are a careful doctor."), Message("user", "What are the symptoms of influenza?")],
    [Message("user", "糖尿病的常见症状包括什么？高血压患者应该注意什么？请详细回答，谢谢医生。")],
]


def run(model: HFChatModel, requests: list[GenerationRequest]) -> dict[int, list[StreamEvent]]:
    events: dict[int, list[StreamEvent]] = defaultdict(list)
    for e in model.stream_batch(requests):
        events[e.index].append(e)
    return events


def hf_greedy(model: HFChatModel, messages: list[Message], max_new_tokens: int) -> str:
    """transformers' own generate(do_sample=False) on one prompt, as the reference."""
    ids = torch.tensor([model.encode(messages)], device=model.device)
    out = model.model.generate(
        ids,
        attention_mask=torch.ones_like(ids),
        do_sample=False,
        max_new_tokens=max_new_tokens,
        eos_token_id=sorted(model.stop_ids),
        pad_token_id=0,
    )
    new = [t for t in out[0, ids.shape[1] :].tolist() if t not in model.stop_ids]
    return model.tokenizer.decode(new, skip_special_tokens=True)


def batch_sizes(model: HFChatModel) -> tuple[list[int], Any]:
    """Records the batch size of every forward pass (a real hook, not a mock)."""
    sizes: list[int] = []
    hook = model.model.register_forward_pre_hook(
        lambda _m, _a, kwargs: sizes.append(kwargs["input_ids"].shape[0]), with_kwargs=True
    )
    return sizes, hook


# loading


@pytest.mark.parametrize(
    ("folder", "family"),
    [("tiny_qwen_dir", "chatml"), ("tiny_llama_dir", "llama2"), ("tiny_mistral_dir", "llama2")],
)
def test_loads_a_model_folder_and_detects_its_format(folder: str, family: str, request: Any) -> None:
    path = request.getfixturevalue(folder)
    model = load_chat_model(path, device="auto")
    assert isinstance(model, ChatModel)
    assert (model.prompt_format, model.name, model.max_context) == (family, path.name, 512)
    assert model.device == ("cuda:0" if torch.cuda.is_available() else "cpu")
    if model.device == "cpu":
        assert model.model.dtype == torch.float32


@pytest.mark.parametrize(
    ("folder", "family"),
    [
        ("tiny_qwen_dir", "chatml"),
        ("tiny_llama_dir", "llama2"),
        ("tiny_mistral_dir", "llama2"),
        ("tiny_plain_llama_dir", "alpaca"),
        ("tiny_plain_llama_dir", "baichuan"),
    ],
)
def test_each_family_generates_end_to_end(folder: str, family: str, request: Any) -> None:
    model = load_chat_model(request.getfixturevalue(folder), device="cpu", prompt_format=family)
    out = model.generate(PROMPTS[1], GenerationConfig(max_new_tokens=8))
    assert (out.finish_reason, out.completion_tokens) == ("length", 8)
    assert out.prompt_tokens == model.prompt_tokens(PROMPTS[1]) > 0
    assert out.text


def test_remote_code_is_refused_unless_allowed(tiny_llama_dir: Path, tmp_path: Path) -> None:
    folder = shutil.copytree(tiny_llama_dir, tmp_path / "custom")
    config = json.loads((folder / "config.json").read_text())
    config["auto_map"] = {"AutoModelForCausalLM": "modeling_custom.CustomForCausalLM"}
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(ConfigError, match="custom needs trust_remote_code.*--allow-remote-code.*ALLOW_REMOTE_CODE=1"):
        load_chat_model(folder, device="cpu")


def test_baichuan_needs_remote_code(tmp_path: Path) -> None:
    folder = tmp_path / "Baichuan2-7B-Chat"
    folder.mkdir()
    config = {"model_type": "baichuan", "architectures": ["BaichuanForCausalLM"]}
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(ConfigError, match="Baichuan2-7B-Chat needs trust_remote_code.*'baichuan'.*allow-remote-code"):
        load_chat_model(folder, device="cpu")
    with pytest.raises(ConfigError, match="cannot load model Baichuan2-7B-Chat"):
        load_chat_model(folder, device="cpu", allow_remote_code=True)  # allowed, but its code is not there


def test_missing_models_give_clear_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match="no model folder at"):
        load_chat_model(tmp_path / "nowhere")
    with pytest.raises(ConfigError, match="not a Hugging Face model folder"):
        load_chat_model(tmp_path)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(
        ConfigError, match="'some-org/some-model' is not a local folder and the Hugging Face hub failed"
    ):
        load_chat_model("some-org/some-model")


def test_bad_device_and_adapter_are_refused(tiny_llama_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown device 'tpu'"):
        load_chat_model(tiny_llama_dir, device="tpu")
    with pytest.raises(ConfigError, match="not a LoRA adapter folder"):
        load_chat_model(tiny_llama_dir, device="cpu", adapter=tmp_path)
    with pytest.raises(ConfigError, match="unknown prompt format 'vicuna'"):
        load_chat_model(tiny_llama_dir, device="cpu", prompt_format="vicuna")


def test_context_comes_from_the_config_capped(llama_chat: HFChatModel) -> None:
    config = llama_chat.model.config
    old = config.max_position_embeddings
    config.max_position_embeddings = 1_000_000
    try:
        capped = HFChatModel(llama_chat.model, llama_chat.tokenizer, prompt_format="llama2", name="x")
    finally:
        config.max_position_embeddings = old
    assert capped.max_context == MAX_CONTEXT_CAP


def test_token_counts(llama_chat: HFChatModel) -> None:
    assert llama_chat.count_tokens("What is diabetes?") == len(llama_chat.tokenizer.encode("What is diabetes?")) - 1
    assert llama_chat.prompt_tokens(PROMPTS[1]) == len(llama_chat.format.encode(llama_chat.tokenizer, PROMPTS[1]))


def test_too_long_prompts_are_refused_naming_the_counts(llama_chat: HFChatModel) -> None:
    n = llama_chat.prompt_tokens(PROMPTS[2])
    with pytest.raises(ConfigError, match=f"prompt takes {n} tokens and max_new_tokens is 500.*context of 512"):
        llama_chat.generate(PROMPTS[2], GenerationConfig(max_new_tokens=500))
    with pytest.raises(ConfigError, match="max_new_tokens must be at least 1"):
        llama_chat.generate(PROMPTS[0], GenerationConfig(max_new_tokens=0))


# the decode loop


@pytest.mark.parametrize("fixture", ["qwen_chat", "llama_chat"])
def test_batched_greedy_equals_transformers_generate_alone(fixture: str, request: Any) -> None:
    model: HFChatModel = request.getfixturevalue(fixture)
    lengths = {model.prompt_tokens(p) for p in PROMPTS}
    assert len(lengths) == 3  # different lengths: the batch is left-padded
    events = run(model, [GenerationRequest(p, GenerationConfig(max_new_tokens=12)) for p in PROMPTS])
    for i, prompt in enumerate(PROMPTS):
        assert "".join(e.text for e in events[i]) == hf_greedy(model, prompt, 12)
        assert events[i][-1].finish_reason == "length"
        assert [e.finish_reason for e in events[i][:-1]] == [None] * (len(events[i]) - 1)


def test_cancelled_request_ends_and_leaves_the_batch(llama_chat: HFChatModel) -> None:
    requests = [GenerationRequest(p, GenerationConfig(max_new_tokens=16)) for p in PROMPTS]
    sizes, hook = batch_sizes(llama_chat)
    finals = {}
    try:
        for e in llama_chat.stream_batch(requests):
            if len(sizes) == 4:
                requests[1].cancelled.set()
            if e.finish_reason:
                finals[e.index] = e
    finally:
        hook.remove()
    assert finals[1].finish_reason == "cancelled" and finals[1].completion_tokens == 4
    assert [(finals[i].finish_reason, finals[i].completion_tokens) for i in (0, 2)] == [("length", 16)] * 2
    # 16 tokens: a prefill and 15 steps; cancelled after the 4th token, its row is gone from the 5th forward
    assert sizes == [3] * 4 + [2] * 12


def test_request_cancelled_before_start_costs_nothing(llama_chat: HFChatModel) -> None:
    request = GenerationRequest(PROMPTS[0], GenerationConfig(max_new_tokens=4))
    request.cancelled.set()
    sizes, hook = batch_sizes(llama_chat)
    try:
        events = list(llama_chat.stream_batch([request]))
    finally:
        hook.remove()
    assert [(e.finish_reason, e.completion_tokens) for e in events] == [("cancelled", 0)]
    assert sizes == []


def test_end_token_stops_generation(tiny_llama_dir: Path) -> None:
    model = load_chat_model(tiny_llama_dir, device="cpu")
    head = torch.nn.Linear(model.model.config.hidden_size, model.model.config.vocab_size)
    with torch.no_grad():
        head.weight.zero_()
        head.bias.zero_()
        head.bias[model.tokenizer.eos_token_id] = 1.0  # this model always says </s>
    model.model.lm_head = head
    out = model.generate(PROMPTS[0], GenerationConfig(max_new_tokens=8))
    assert (out.text, out.finish_reason, out.completion_tokens) == ("", "stop", 1)


def test_seeded_sampling_repeats_and_tiny_top_p_is_greedy(llama_chat: HFChatModel) -> None:
    sampled = GenerationConfig(max_new_tokens=12, temperature=1.0, top_p=0.95, seed=7)
    first, again = (llama_chat.generate(PROMPTS[1], sampled).text for _ in range(2))
    assert first == again
    assert llama_chat.generate(PROMPTS[1], GenerationConfig(max_new_tokens=12, temperature=1.0, seed=8)).text != first
    narrow = GenerationConfig(max_new_tokens=12, temperature=1.0, top_p=1e-6, seed=1)
    assert llama_chat.generate(PROMPTS[1], narrow).text == hf_greedy(llama_chat, PROMPTS[1], 12)


# adapters


def test_lora_adapter_is_applied_merged_into_the_weights(tiny_llama_dir: Path, tmp_path: Path) -> None:
    from peft import LoraConfig, PeftModel, get_peft_model

    torch.manual_seed(1)
    lora = LoraConfig(r=8, lora_alpha=16, target_modules=["q_proj", "v_proj", "up_proj"], init_lora_weights=False)
    peft_model = get_peft_model(AutoModelForCausalLM.from_pretrained(tiny_llama_dir), lora).eval()
    peft_model.save_pretrained(tmp_path / "adapter")

    base = load_chat_model(tiny_llama_dir, device="cpu")
    tuned = load_chat_model(tiny_llama_dir, device="cpu", adapter=tmp_path / "adapter")
    # merged: no LoRA layers left to slow generation, the same function as base + adapter
    assert not isinstance(tuned.model, PeftModel) and tuned.adapter == str(tmp_path / "adapter")
    ids = torch.tensor([base.encode(PROMPTS[1])])
    with torch.no_grad():
        assert not torch.allclose(base.model(ids).logits, tuned.model(ids).logits)
        assert torch.allclose(peft_model(ids).logits, tuned.model(ids).logits, atol=1e-4)
    config = GenerationConfig(max_new_tokens=12)
    answer = tuned.generate(PROMPTS[1], config)
    assert answer.text != base.generate(PROMPTS[1], config).text
    assert answer.text == hf_greedy(tuned, PROMPTS[1], 12)


# real models (slow)


@pytest.mark.slow
def test_smollm2_answers_paris(smol_model_dir: Path) -> None:
    model = load_chat_model(smol_model_dir, device="cpu")
    assert model.prompt_format == "chatml"
    question = [Message("user", "What is the capital of France?")]
    answer = model.generate(question, GenerationConfig(max_new_tokens=24))
    assert "Paris" in answer.text
    assert answer.finish_reason == "stop" and "<|im_end|>" not in answer.text
    prompts = [question, [Message("user", "Name a fruit.")], [Message("user", "What is 2 + 2? Answer briefly.")]]
    events = run(model, [GenerationRequest(p, GenerationConfig(max_new_tokens=16)) for p in prompts])
    for i, prompt in enumerate(prompts):
        assert "".join(e.text for e in events[i]) == hf_greedy(model, prompt, 16)


@pytest.mark.slow
def test_qwen_streams_chinese_without_broken_characters(qwen_model_dir: Path) -> None:
    model = load_chat_model(qwen_model_dir, device="cpu")
    assert model.prompt_format == "chatml"
    question = [Message("system", "请用中文简短回答。"), Message("user", "中国的首都是哪座城市？")]
    config = GenerationConfig(max_new_tokens=32)
    pieces = [e.text for e in model.stream_batch([GenerationRequest(question, config)])]
    text = "".join(pieces)
    assert "北京" in text
    assert not any("\ufffd" in p for p in pieces)
    assert text == model.generate(question, config).text == hf_greedy(model, question, 32)


@pytest.mark.gpu
def test_cuda_runs_bfloat16_and_batches_exactly_in_float32(tiny_llama_dir: Path) -> None:
    model = load_chat_model(tiny_llama_dir, device="cuda")
    assert (model.device, model.model.dtype) == ("cuda:0", torch.bfloat16)
    out = model.generate(PROMPTS[1], GenerationConfig(max_new_tokens=8, temperature=0.7, seed=3))
    assert (out.finish_reason, out.completion_tokens) == ("length", 8)
    exact = load_chat_model(tiny_llama_dir, device="cuda", dtype="float32")
    requests = [GenerationRequest(p, GenerationConfig(max_new_tokens=12)) for p in PROMPTS]
    requests[0].config = GenerationConfig(max_new_tokens=4)  # leaves the batch early
    events = run(exact, requests)
    for i, prompt in enumerate(PROMPTS):
        assert "".join(e.text for e in events[i]) == hf_greedy(exact, prompt, requests[i].config.max_new_tokens)


def test_repetition_penalty_matches_transformers_greedy(llama_chat: HFChatModel) -> None:
    import torch

    messages = [Message("user", "tell me about fevers and fevers")]
    ours = llama_chat.generate(messages, GenerationConfig(max_new_tokens=12, repetition_penalty=1.5))
    ids = torch.tensor([llama_chat.encode(messages)])
    with torch.inference_mode():
        out = llama_chat.model.generate(ids, max_new_tokens=12, do_sample=False, repetition_penalty=1.5,
                                        pad_token_id=llama_chat.tokenizer.eos_token_id)
    theirs = llama_chat.tokenizer.decode(out[0, ids.shape[1] :], skip_special_tokens=True)
    assert ours.text == theirs.strip() or ours.text == theirs
    plain = llama_chat.generate(messages, GenerationConfig(max_new_tokens=12))
    assert plain.text != ours.text
    with pytest.raises(ConfigError, match="repetition_penalty"):
        llama_chat.generate(messages, GenerationConfig(repetition_penalty=0))
