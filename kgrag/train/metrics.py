"""Training arithmetic: model FLOPs per token (for MFU), accelerator peaks, and whether gradient
checkpointing pays for a batch.

Model FLOPs of one LoRA training token, counted as in the PaLM paper's MFU (appendix B) but for
frozen base weights, which need gradients of their inputs and not of themselves:

    4 · (N_body + d · V)  +  6 · N_lora  +  12 · L · d · T

``N_body`` the non-embedding parameters, ``d · V`` the output projection (counted even when tied
to the embedding), ``N_lora`` the adapter, ``L`` layers, ``T`` the mean sequence length (attention
scores and values, forward and backward, without halving for the causal mask). Recomputation by
gradient checkpointing is not counted: that is hardware, not model, utilisation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

#: Dense bf16 tensor-core peaks (FLOP/s) by device name fragment, from the vendors' data sheets.
PEAK_BF16 = {
    "H200": 989e12,
    "H100 PCIe": 756e12,
    "H100": 989e12,  # SXM
    "A100": 312e12,
    "L40S": 362e12,
    "A10G": 70e12,
    "L4": 121e12,
}


@dataclass(frozen=True, slots=True)
class ModelShape:
    """What the FLOP count needs of a decoder-only transformer."""

    layers: int
    hidden: int
    vocab: int
    body_params: int  # parameters outside the embedding and output matrices
    lora_params: int

    @classmethod
    def of(cls, model: Any, lora_params: int) -> ModelShape:
        """The shape of a transformers causal LM (peft-wrapped or not)."""
        cfg = model.config
        hidden, vocab = int(cfg.hidden_size), int(cfg.vocab_size)
        base = model.get_base_model() if hasattr(model, "get_base_model") else model
        total = sum(p.numel() for n, p in base.named_parameters() if "lora_" not in n)
        tied = bool(getattr(cfg, "tie_word_embeddings", False))
        body = total - hidden * vocab * (1 if tied else 2)
        return cls(int(cfg.num_hidden_layers), hidden, vocab, body, lora_params)

    def flops_per_token(self, mean_len: float) -> float:
        """Model FLOPs of one trained token (module docstring)."""
        return (
            4 * (self.body_params + self.hidden * self.vocab)
            + 6 * self.lora_params
            + 12 * self.layers * self.hidden * mean_len
        )

    def activation_bytes_per_token(self) -> float:
        """Activation memory one token keeps for the backward pass, bf16, SDPA attention (no s² term):
        ~34·d bytes per layer (Korthikanti et al. 2022, table 2) plus the logits in bf16 and the
        float32 copies the loss makes (~10 bytes per vocabulary entry)."""
        return 34 * self.hidden * self.layers + 10 * self.vocab


def peak_flops(device_name: str, override_tflops: float | None = None) -> float | None:
    """The accelerator's dense bf16 peak in FLOP/s, or None when unknown (MFU is then not shown)."""
    if override_tflops:
        return override_tflops * 1e12
    for key, value in PEAK_BF16.items():
        if key in device_name:
            return value
    return None


def checkpointing_pays(shape: ModelShape, batch_tokens: int, free_bytes: int | None) -> bool:
    """True when one batch's activations would take more than half the free accelerator memory, so
    recomputing them (about a third more compute) is what lets the batch fit; False on CPU."""
    if free_bytes is None:
        return False
    return shape.activation_bytes_per_token() * batch_tokens > 0.5 * free_bytes
