"""Generation speed of the service's path on a GPU, next to plain ``model.generate``, same model,
same run: latency to the first token and tokens/s for one request and for 16 concurrent ones.

The service path is what ``POST /ask`` runs after retrieval: a :class:`GenerationBatcher` worker
taking concurrent requests into one batch of :meth:`HFChatModel.stream_batch` (KV-cache decode
loop, streamed text). The baseline is ``model.generate`` (transformers) on the same prompts: one
prompt, and the 16 prompts as one left-padded batch.

Usage:
    python benchmarks/gpu_serve.py --model ~/.cache/kgrag/models/qwen2.5-0.5b-instruct --device cuda
    python benchmarks/gpu_serve.py --model .ship/qwen-cfg --random-weights --device cuda

``--random-weights`` takes the folder's config and tokenizer and initialises the weights at random
(the real architecture and size: honest for speed, not for answers) — for machines the real
weights have not been shipped to. Every request generates exactly ``--new-tokens`` tokens (end
tokens and stop strings are switched off), so both paths do the same work.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from pathlib import Path

PROMPT_FACTS = [
    "[{n}] 糖尿病 — 就诊科室 — 内分泌科 (cmekg)", "[{n}] 糖尿病 — 常见症状 — 多饮、多食、多尿、体重下降 (cmekg)",
    "[{n}] Diabetes mellitus — has phenotype — Hyperglycemia (hpo)", "[{n}] 糖尿病 — 并发症 — 糖尿病肾病 (cmekg)",
    "[{n}] 二甲双胍 — 适应症 — 2型糖尿病 (cmekg)", "[{n}] 糖尿病 — 检查 — 空腹血糖、糖化血红蛋白 (cmekg)",
    "[{n}] Type 2 diabetes mellitus — is a — Diabetes mellitus (mondo)", "[{n}] 糖尿病 — 传染性 — 无 (cmekg)",
]


def prompts(n: int) -> list[list[object]]:
    """``n`` grounded prompts shaped like the service's (system rules, 8 facts, a question)."""
    from kgrag.generation.types import Message

    system = ("You are a medical information assistant. Answer only from the numbered facts and cite them as [n]. "
              "Say plainly when the facts do not cover the question. You are not a doctor.")
    out = []
    for i in range(n):
        facts = "\n".join(f.format(n=k + 1) for k, f in enumerate(PROMPT_FACTS[i % 3:] + PROMPT_FACTS[: i % 3]))
        question = ["糖尿病应该挂什么科？", "What are the symptoms of diabetes?", "糖尿病有哪些并发症？"][i % 3]
        out.append([Message("system", system), Message("user", f"<facts>\n{facts}\n</facts>\n\n{question}")])
    return out


def load(path: Path, random_weights: bool, device: str):  # type: ignore[no-untyped-def]
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    from kgrag.generation.models import HFChatModel, load_chat_model

    if not random_weights:
        return load_chat_model(path, device=device)
    config = AutoConfig.from_pretrained(path)
    torch.manual_seed(0)
    with torch.device(device):
        model = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16)
    model.eval()
    return HFChatModel(model, AutoTokenizer.from_pretrained(path), prompt_format="chatml", name=f"{path.name} (random)")


def plain_generate(chat, batch: list[list[object]], new_tokens: int) -> dict[str, float]:  # type: ignore[no-untyped-def]
    """``model.generate`` on ``batch`` as one left-padded batch: time to the first token (a
    1-token generate) and tokens/s of a ``new_tokens`` generate."""
    import torch

    tok, model = chat.tokenizer, chat.model
    tok.padding_side = "left"
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    ids = [chat.encode(m) for m in batch]
    width = max(map(len, ids))
    input_ids = torch.tensor([[tok.pad_token_id] * (width - len(x)) + x for x in ids], device=model.device)
    mask = (torch.arange(width, device=model.device)[None, :] >= torch.tensor(
        [width - len(x) for x in ids], device=model.device)[:, None]).long()

    def run(n: int) -> float:
        torch.cuda.synchronize() if model.device.type == "cuda" else None
        t0 = time.perf_counter()
        with torch.inference_mode():
            model.generate(input_ids=input_ids, attention_mask=mask, max_new_tokens=n, min_new_tokens=n,
                           do_sample=False, pad_token_id=tok.pad_token_id)
        torch.cuda.synchronize() if model.device.type == "cuda" else None
        return time.perf_counter() - t0

    run(4)  # warm-up
    ttft = statistics.median(run(1) for _ in range(3))
    total = statistics.median(run(new_tokens) for _ in range(3))
    return {"requests": len(batch), "ttft_ms": round(1000 * ttft, 1), "total_s": round(total, 3),
            "tokens_per_s_per_request": round(new_tokens / total, 1),
            "tokens_per_s_all": round(len(batch) * new_tokens / total, 1)}


async def service_path(chat, batch: list[list[object]], new_tokens: int) -> dict[str, float]:  # type: ignore[no-untyped-def]
    """The batcher + stream_batch, all requests submitted at once; per-request first-token time."""
    from kgrag.generation.batching import GenerationBatcher
    from kgrag.generation.types import GenerationConfig, GenerationRequest

    batcher = GenerationBatcher(chat, max_batch=16, max_queue=64)
    batcher.start()

    async def one(messages: list[object]) -> tuple[float, float, int]:
        t0 = time.perf_counter()
        first, n = None, 0
        async for ev in batcher.submit(GenerationRequest(messages, GenerationConfig(max_new_tokens=new_tokens))):
            if ev.text and first is None:
                first = time.perf_counter() - t0
            if ev.finish_reason:
                n = ev.completion_tokens
        return first or 0.0, time.perf_counter() - t0, n

    # warm-up in the worker thread with the timed batch's size: torch keeps per-thread state (the
    # cuBLAS handle, oneDNN caches) that a new thread builds on its first batches; the service's
    # worker is one long-lived thread, so its steady state is what this measures
    await asyncio.gather(*(one(m) for m in batch))
    t0 = time.perf_counter()
    runs = await asyncio.gather(*(one(m) for m in batch))
    wall = time.perf_counter() - t0
    batcher.stop()
    firsts = sorted(r[0] for r in runs)
    tokens = sum(r[2] for r in runs)
    return {"requests": len(batch), "ttft_ms_p50": round(1000 * statistics.median(firsts), 1),
            "ttft_ms_max": round(1000 * firsts[-1], 1), "total_s": round(wall, 3),
            "completion_tokens": tokens,
            "tokens_per_s_per_request": round(statistics.median(r[2] / r[1] for r in runs), 1),
            "tokens_per_s_all": round(tokens / wall, 1), "batches": batcher.stats.batches,
            "largest_batch": batcher.stats.largest_batch}


def direct(chat, batch: list[list[object]], new_tokens: int) -> dict[str, float]:  # type: ignore[no-untyped-def]
    """``stream_batch`` called in this thread (no batcher, no event loop): the decode loop alone."""
    from kgrag.generation.types import GenerationConfig, GenerationRequest

    t0, first, tokens = time.perf_counter(), None, 0
    for ev in chat.stream_batch([GenerationRequest(m, GenerationConfig(max_new_tokens=new_tokens)) for m in batch]):
        if ev.text and first is None:
            first = time.perf_counter() - t0
        tokens += ev.completion_tokens if ev.finish_reason else 0
    wall = time.perf_counter() - t0
    return {"requests": len(batch), "ttft_ms": round(1000 * (first or 0.0), 1), "total_s": round(wall, 3),
            "tokens_per_s_all": round(tokens / wall, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--random-weights", action="store_true")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--new-tokens", type=int, default=128)
    args = parser.parse_args()

    import torch

    chat = load(args.model, args.random_weights, args.device)
    chat.stop_ids = set()  # exactly --new-tokens tokens on both paths
    chat.format.stop_strings = ()  # type: ignore[misc]
    info = {"model": chat.name, "device": str(chat.model.device), "dtype": str(chat.model.dtype),
            "gpu": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
            "prompt_tokens": [chat.prompt_tokens(m) for m in prompts(3)], "new_tokens": args.new_tokens}
    print(json.dumps(info))
    rows = {}
    for n in (1, 16):
        batch = prompts(n)
        rows[f"model.generate, {n}"] = plain_generate(chat, batch, args.new_tokens)
        print(json.dumps({f"model.generate, {n}": rows[f"model.generate, {n}"]}), flush=True)
        rows[f"service path, {n}"] = asyncio.run(service_path(chat, batch, args.new_tokens))
        print(json.dumps({f"service path, {n}": rows[f"service path, {n}"]}), flush=True)
        rows[f"stream_batch alone, {n}"] = direct(chat, batch, args.new_tokens)
        print(json.dumps({f"stream_batch alone, {n}": rows[f"stream_batch alone, {n}"]}), flush=True)
    print(json.dumps({"info": info, "rows": rows}))


if __name__ == "__main__":
    main()
