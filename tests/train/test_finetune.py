"""`kgrag finetune`: LoRA on answer tokens only, checkpoints that resume exactly, an output folder
that is never clobbered, and an adapter the service loads. Runs on a tiny random-weight model
with SmolLM2's real tokenizer and chat template (seconds on the CPU; ``tiny_model`` is tests/conftest.py's)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import orjson
import pytest
import torch

from kgrag.errors import ConfigError, DataError
from kgrag.generation.chat_formats import get_format
from kgrag.generation.types import Message
from kgrag.train import checkpoints as ckpt
from kgrag.train.data import IGNORE, Chat, length_batches, tokenize
from kgrag.train.sft import TrainConfig, train

pytest.importorskip("peft")


def _kgqa(i: int) -> dict:
    return {"id": f"en:relation:has_symptom:x{i}:t", "type": "relation", "relation": "has_symptom", "lang": "en",
            "source": "test", "head": f"test:x{i}", "head_name": f"disease {i}", "split": "train", "template": "t",
            "options": [], "answer_index": -1, "facts": [],
            "conversation": [{"role": "user", "content": f"What are the symptoms of disease {i}?"},
                             {"role": "assistant", "content": f"Disease {i} causes fever and cough {i}."}]}


def _dialogue(i: int) -> dict:
    return {"conversation": [
        {"role": "system", "content": "You are a careful doctor."},
        {"role": "user", "content": f"I have had a headache for {i} days."},
        {"role": "assistant", "content": "How severe is it, and do you have a fever?"},
        {"role": "user", "content": "Mild, no fever."},
        {"role": "assistant", "content": "Rest, drink water, and see a doctor if it gets worse."},
    ]}


@pytest.fixture()
def data(tmp_path: Path) -> Path:
    path = tmp_path / "train.jsonl"
    rows = [_kgqa(i) for i in range(24)] + [_dialogue(i) for i in range(8)]
    path.write_bytes(b"\n".join(orjson.dumps(r) for r in rows) + b"\n")
    return path


def _cfg(tiny_model: Path, data: Path, out: Path, **kw: object) -> TrainConfig:
    base = {"base": str(tiny_model), "data": [data], "out": out, "kg": None, "grounded_share": 0.0,
            "max_len": 256, "batch_tokens": 512, "max_steps": 4, "save_every": 2, "log_every": 1, "device": "cpu",
            "lr": 1e-3}
    return TrainConfig(**{**base, **kw})  # type: ignore[arg-type]


def test_loss_is_taken_on_every_assistant_turn_and_nothing_else(tiny_model: Path) -> None:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model)
    msgs = tuple(Message(t["role"], t["content"]) for t in _dialogue(3)["conversation"])  # type: ignore[arg-type]
    t = tokenize(get_format("chatml"), tok, Chat(msgs, "dialogue", "x:1"), max_len=1024)
    assert t is not None
    spans, current = [], []
    for i, label in zip(t.input_ids, t.labels, strict=True):
        if label == IGNORE:
            if current:
                spans.append(tok.decode(current))
                current = []
        else:
            assert label == i
            current.append(label)
    spans.append(tok.decode(current)) if current else None
    assert [s.split("<|im_end|>")[0] for s in spans] == [msgs[2].content, msgs[4].content]
    assert all("<|im_end|>" in s for s in spans)  # the model learns to stop
    assert tokenize(get_format("chatml"), tok, Chat(msgs, "dialogue", "x:1"), max_len=20) is None


def test_batches_group_lengths_within_the_token_budget() -> None:
    lengths = [5, 90, 7, 88, 6, 91, 300]
    batches = length_batches(lengths, 200, seed=0, epoch=0)
    assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
    for b in batches:
        assert len(b) == 1 or max(lengths[i] for i in b) * len(b) <= 200
        assert max(lengths[i] for i in b) - min(lengths[i] for i in b) < 100  # short ones are not padded to long
    assert length_batches(lengths, 200, seed=0, epoch=0) == batches


def test_finetune_writes_an_adapter_the_service_loads(tiny_model: Path, data: Path, tmp_path: Path) -> None:
    from kgrag.generation.models import load_chat_model

    out = tmp_path / "adapter"
    report = train(_cfg(tiny_model, data, out))
    f = report["figures"]
    assert f["steps"] == 4 and f["tokens"] > 0 and f["tokens_per_s"] > 0 and f["trainable_params"] > 0
    assert report["data"]["kept:closed"] + report["data"]["kept:dialogue"] == 32
    assert (out / "adapter_config.json").exists() and not (out / "checkpoints").exists()
    assert json.loads((out / "training.json").read_text())["figures"]["steps"] == 4
    model = load_chat_model(tiny_model, device="cpu", adapter=out)
    gen = model.generate([Message("user", "What are the symptoms of disease 3?")])
    assert gen.completion_tokens > 0


def test_an_interrupted_run_resumes_to_the_same_adapter(
    tiny_model: Path, data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from safetensors.torch import load_file

    straight = tmp_path / "straight"
    train(_cfg(tiny_model, data, straight))

    cut = tmp_path / "cut"
    real_finish = ckpt.finish

    def crash(*_a: object, **_k: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(ckpt, "finish", crash)
    with pytest.raises(KeyboardInterrupt):
        train(_cfg(tiny_model, data, cut))
    monkeypatch.setattr(ckpt, "finish", real_finish)
    assert ckpt.latest_checkpoint(cut) is not None and not (cut / "adapter_config.json").exists()
    with pytest.raises(ConfigError, match="--resume"):
        train(_cfg(tiny_model, data, cut))
    report = train(_cfg(tiny_model, data, cut, resume=True))
    assert report["figures"]["steps"] == 4
    a = load_file(str(straight / "adapter_model.safetensors"))
    b = load_file(str(cut / "adapter_model.safetensors"))
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=1e-4, atol=1e-5)


def test_resume_refuses_other_data(
    tiny_model: Path, data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "run"
    monkeypatch.setattr(ckpt, "finish", lambda *a, **k: (_ for _ in ()).throw(KeyboardInterrupt))
    with pytest.raises(KeyboardInterrupt):
        train(_cfg(tiny_model, data, out))
    monkeypatch.undo()
    with pytest.raises(ConfigError, match="other data or settings"):
        train(_cfg(tiny_model, data, out, resume=True, lr=5e-4))


def test_a_finished_adapter_is_kept_unless_overwrite(tiny_model: Path, data: Path, tmp_path: Path) -> None:
    out = tmp_path / "adapter"
    train(_cfg(tiny_model, data, out, max_steps=1))
    before = (out / "adapter_model.safetensors").read_bytes()
    with pytest.raises(ConfigError, match="--overwrite"):
        train(_cfg(tiny_model, data, out, max_steps=1))
    with pytest.raises(ConfigError, match="nothing to resume"):
        train(_cfg(tiny_model, data, out, max_steps=1, resume=True))
    assert (out / "adapter_model.safetensors").read_bytes() == before
    train(_cfg(tiny_model, data, out, max_steps=2, overwrite=True))
    assert json.loads((out / "training.json").read_text())["figures"]["steps"] == 2


def test_merge_writes_a_plain_model_folder(tiny_model: Path, data: Path, tmp_path: Path) -> None:
    from kgrag.generation.models import load_chat_model

    out = tmp_path / "adapter"
    train(_cfg(tiny_model, data, out, max_steps=1, merge=True))
    merged = load_chat_model(out / "merged", device="cpu")
    assert merged.prompt_format == "chatml" and merged.adapter is None


def test_bad_options_and_inputs_are_named(tiny_model: Path, data: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="--batch-tokens"):
        train(_cfg(tiny_model, data, tmp_path / "a", batch_tokens=64))
    bad = tmp_path / "bad.jsonl"
    bad.write_text(orjson.dumps(_kgqa(0)).decode() + "\n" + '{"conversation": [{"role": "doctor", "content": "x"}]}\n')
    with pytest.raises(DataError, match=r"bad\.jsonl:2: field 'conversation\[0\]\.role'"):
        train(_cfg(tiny_model, bad, tmp_path / "b"))
    grounded = tmp_path / "g.jsonl"
    row = _kgqa(0) | {"facts": [3]}
    grounded.write_bytes(orjson.dumps(row) + b"\n")
    with pytest.raises(ConfigError, match="--kg"):
        train(_cfg(tiny_model, grounded, tmp_path / "c", grounded_share=0.5))
    no_template = tmp_path / "no-template"
    shutil.copytree(tiny_model, no_template)
    for name in ("chat_template.jinja",):
        (no_template / name).unlink(missing_ok=True)
    cfg_file = no_template / "tokenizer_config.json"
    cfg = json.loads(cfg_file.read_text())
    cfg.pop("chat_template", None)
    cfg_file.write_text(json.dumps(cfg))
    with pytest.raises(ConfigError, match="--format"):
        train(_cfg(no_template, data, tmp_path / "d"))
    assert not (tmp_path / "d").exists() or not any((tmp_path / "d").iterdir())
