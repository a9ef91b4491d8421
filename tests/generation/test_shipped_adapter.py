"""The adapter kgrag ships (adapters/) is served by default and is bound to what made it: the base
model's weights, the KG store, the service's prompt and the training data. When one of them changes
without retraining, these tests fail and say which."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from kgrag.config import Settings
from kgrag.errors import ConfigError
from kgrag.generation import adapters
from kgrag.generation.adapters import ADAPTERS_DIR, SHIPPED, check_adapter, read_manifest, resolve_adapter
from kgrag.generation.catalog import KNOWN_MODELS
from kgrag.kg.store import read_manifest as read_store_manifest

DEFAULT_MODEL = Settings.model_fields["model"].default
SHIPPED_DIR = ADAPTERS_DIR / SHIPPED[DEFAULT_MODEL]
REPO = Path(__file__).resolve().parents[2]


def test_the_default_model_is_served_with_the_shipped_adapter_and_a_setting_turns_it_off() -> None:
    assert Settings.model_fields["adapter"].default == "default"
    assert resolve_adapter("default", DEFAULT_MODEL) == SHIPPED_DIR
    assert resolve_adapter("none", DEFAULT_MODEL) is None and resolve_adapter("off", DEFAULT_MODEL) is None
    assert resolve_adapter("default", "smollm2-135m-instruct") is None  # kgrag ships none for the test model
    with pytest.raises(ConfigError, match="not a LoRA adapter folder"):
        resolve_adapter(str(REPO / "kgrag"), DEFAULT_MODEL)


def test_the_manifest_names_the_base_model_the_store_the_data_the_command_and_the_commit() -> None:
    m = read_manifest(SHIPPED_DIR)
    assert m is not None and m["base"]["name"] == DEFAULT_MODEL
    assert m["base"]["gguf_sha256"] == KNOWN_MODELS[DEFAULT_MODEL].gguf_sha256
    assert len(m["store"]["checksum"]) == 64 and len(m["training_data"]["sha256"]) == 64
    assert "kgrag finetune" in m["command"] and m["training_data"]["made_by"]
    assert subprocess.run(["git", "cat-file", "-e", f"{m['commit']}^{{commit}}"], cwd=REPO).returncode == 0
    assert m["training"]["steps"] > 0 and m["eval"]


def test_the_shipped_adapter_matches_the_store_model_and_prompt_it_claims(default_store: Path) -> None:
    store = read_store_manifest(default_store)["checksum"]
    problems = check_adapter(SHIPPED_DIR, store_checksum=store, base_sha256=KNOWN_MODELS[DEFAULT_MODEL].gguf_sha256)
    assert problems == [], "retrain and re-ship the adapter (benchmarks/gpu_adapter.sh): " + "; ".join(problems)


def test_a_changed_store_prompt_or_weight_file_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    m = read_manifest(SHIPPED_DIR)
    assert m is not None
    assert any("KG store" in p for p in check_adapter(SHIPPED_DIR, store_checksum="0" * 64))
    assert any("base model" in p for p in check_adapter(SHIPPED_DIR, base_sha256="1" * 64))
    real = adapters.prompt_fingerprint
    monkeypatch.setattr(adapters, "prompt_fingerprint", lambda: hashlib.sha256(real().encode()).hexdigest())
    assert any("prompt changed" in p for p in check_adapter(SHIPPED_DIR))


def test_the_training_data_is_made_again_byte_for_byte(default_store: Path, tmp_path: Path) -> None:
    """The manifest's training-data sha256 is reproducible from the store and the code: make-kgqa,
    then the seeded draw of benchmarks/adapter_data.py."""
    from kgrag.kgqa.make import make_kgqa

    m = read_manifest(SHIPPED_DIR)
    assert m is not None
    make_kgqa(default_store, tmp_path / "kgqa", formats=["chat"])
    done = subprocess.run([sys.executable, str(REPO / "benchmarks" / "adapter_data.py"), "--data",
                           str(tmp_path / "kgqa"), "--out", str(tmp_path / "sample")], capture_output=True, text=True,
                          check=True)
    digest = hashlib.sha256((tmp_path / "sample" / "train.jsonl").read_bytes()).hexdigest()
    assert digest == m["training_data"]["sha256"], done.stdout
    for name, want in m["eval_data"].items():
        assert hashlib.sha256((tmp_path / "sample" / name).read_bytes()).hexdigest() == want, name
    card = json.loads((tmp_path / "kgqa" / "card.json").read_text())
    assert card["kg"]["checksum"] == m["store"]["checksum"]
