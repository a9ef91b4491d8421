"""MODEL_CARD.md states the shipped adapter's figures as its manifest records them, and names the
default model for what it is."""

from __future__ import annotations

import json
from pathlib import Path

from kgrag.generation.catalog import KNOWN_MODELS

REPO = Path(__file__).resolve().parents[1]
CARD = (REPO / "MODEL_CARD.md").read_text(encoding="utf-8")
MANIFEST = json.loads((REPO / "adapters" / "kgqa-qwen2.5-0.5b" / "manifest.json").read_text(encoding="utf-8"))


def test_the_card_names_the_coder_model_its_key_and_its_alias() -> None:
    spec = KNOWN_MODELS[MANIFEST["base"]["name"]]
    assert spec.display_name in CARD and f"`{spec.name}`" in CARD
    assert all(f"`{alias}`" in CARD for alias in spec.aliases)
    assert spec.gguf_sha256 in CARD and f"{spec.gguf_size:,}" in CARD


def test_the_adapter_and_its_data_are_the_manifests() -> None:
    assert MANIFEST["adapter"]["sha256"] in CARD
    assert MANIFEST["store"]["checksum"] in CARD
    assert MANIFEST["training_data"]["sha256"] in CARD
    assert f"{MANIFEST['training_data']['records']:,} chats" in CARD
    lora = MANIFEST["adapter"]["lora"]
    assert f"LoRA r={lora['lora_r']}, alpha {lora['lora_alpha']}, dropout {lora['lora_dropout']}" in CARD


def test_the_training_figures_are_the_manifests() -> None:
    t = MANIFEST["training"]
    for figure in (f"{t['steps']:,} optimizer steps", f"{t['tokens']:,} tokens", f"{t['seconds']} s",
                   f"{t['tokens_per_s']:,} tokens/s", f"{t['loss_first']} → {t['loss_last']}",
                   f"{t['trainable_params']:,} trainable"):
        assert figure in CARD, figure


def test_the_evaluation_figures_are_the_manifests() -> None:
    ev = {k: v["overall"] for k, v in MANIFEST["eval"].items()}
    rows = {
        "`test_phrasing`": ("eval_base_rag_test_phrasing", "eval_tuned_rag_test_phrasing", "accuracy_no_echo"),
        "answer sentences supported": ("eval_base_rag_test_phrasing", "eval_tuned_rag_test_phrasing", "supported"),
        "`test` (seen": ("eval_base_rag_test", "eval_tuned_rag_test", "accuracy_no_echo"),
        "multiple choice (300": ("mcq_base_rag", "mcq_tuned_rag", "accuracy"),
        "multiple choice, closed-book": ("mcq_base_no-rag", "mcq_tuned_no-rag", "accuracy"),
    }
    assert "eval_tuned_rag_test_phrasing" in ev  # the held-out-phrasing figure is always there
    for start, (base, tuned, key) in rows.items():
        if base not in ev:  # a figure the manifest does not have is not in the card either
            assert not any(x.startswith(f"| KG-QA, {start}") or x.startswith(f"| {start}") for x in CARD.splitlines())
            continue
        line = next(x for x in CARD.splitlines() if x.startswith(f"| KG-QA, {start}") or x.startswith(f"| {start}"))
        assert f"{ev[base][key]:.3f}" in line and f"{ev[tuned][key]:.3f}" in line, line
