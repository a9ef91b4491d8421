"""Retrieval latency per question on the full default KG, warm, on this machine's CPU: with the
vector index (question embedding + dense channel) and without it (structure + lexical only),
in the same run.

Usage:
    python benchmarks/retrieval_latency.py                      # 600 test questions per language
    python benchmarks/retrieval_latency.py --n 200 --index indexes/default --store kg/store/default

Questions come from ``kgrag eval retrieval``'s generator (test split, both styles and languages).
Each configuration first answers 50 warm-up questions (not timed), then every question once;
the figures are per ``retrieve(question, top_k=10)`` call (wall clock, one thread).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def measure(retriever, questions: list[str]) -> dict[str, float]:  # type: ignore[no-untyped-def]
    for q in questions[:50]:
        retriever.retrieve(q, top_k=10)
    times = []
    for q in questions:
        t0 = time.perf_counter()
        retriever.retrieve(q, top_k=10)
        times.append(1000 * (time.perf_counter() - t0))
    t = np.array(times)
    return {"n": len(t), **{f"p{p}_ms": round(float(np.percentile(t, p)), 2) for p in (50, 95, 99)},
            "mean_ms": round(float(t.mean()), 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", type=Path, default=REPO / "kg" / "store" / "default")
    parser.add_argument("--index", type=Path, default=REPO / "indexes" / "default")
    parser.add_argument("--n", type=int, default=600, help="questions per language")
    args = parser.parse_args()

    from kgrag.kgqa.questions import QuestionGenerator
    from kgrag.retrieval.retriever import KGRetriever

    t0 = time.perf_counter()
    with_index = KGRetriever.load(args.store, args.index)
    load_index_s = time.perf_counter() - t0
    questions = [q.text for q in QuestionGenerator(with_index.kg).generate(args.n, split="test", seed=0)]
    rows = {"with index (structure + lexical + dense)": {**measure(with_index, questions),
                                                         "load_s": round(load_index_s, 1)}}
    t0 = time.perf_counter()
    plain = KGRetriever.load(args.store)
    load_s = time.perf_counter() - t0
    rows["no index (structure + lexical)"] = {**measure(plain, questions), "load_s": round(load_s, 1)}
    emb = with_index.embedder
    one = [1000 * _time(lambda q=q: emb.encode([q])) for q in questions[:200]]  # type: ignore[union-attr]
    rows["question embedding alone (use-multilingual, 1 thread)"] = {
        "n": len(one), **{f"p{p}_ms": round(float(np.percentile(one, p)), 2) for p in (50, 95)}}
    for name, fig in rows.items():
        print(f"{name:55s} {json.dumps(fig)}")
    print(json.dumps(rows))


def _time(fn) -> float:  # type: ignore[no-untyped-def]
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


if __name__ == "__main__":
    main()
