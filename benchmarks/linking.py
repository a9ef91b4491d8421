"""Entity linker benchmark: build time and memory over a store, and link latency per question.

Usage: python benchmarks/linking.py [--store kg/store/default] [--rounds 30]

The build runs in a fresh interpreter so its memory is its own: RSS after loading the store,
after building the linker, and the peak. Latency is measured per question (``time.perf_counter``
around ``EntityLinker.link``) over a mixed set of Chinese and English questions — exact mentions,
typos, traditional characters, no entity at all — repeated ``--rounds`` times after a warm-up.
Targets (issue brief): build < 20 s, link p50 < 2 ms on the 2-core dev CPU.
"""

from __future__ import annotations

import argparse
import json
import platform
import time

from _measure import CHILD_PEAK, run_measured

QUESTIONS = {
    "zh exact": [
        "糖尿病挂什么科",
        "高血压有什么症状",
        "我最近老是头疼，还有点发烧，吃什么药好",
        "高血压病人能不能吃布洛芬",
        "孩子咳嗽一直不好去哪个科",
        "怀孕了可以吃感冒药吗",
        "我妈妈有高血压和糖尿病，平时应该注意什么",
        "乙肝会传染吗",
        "阿莫西林的副作用",
        "肺炎是什么原因引起的",
        "做什么检查可以确诊胃癌",
        "妊娠期糖尿病怎么办",
        "Ⅱ型糖尿病吃什么药",
        "冠心病的并发症有哪些",
        "痛风发作的时候吃什么药",
        "哪些人容易得骨质疏松",
        "甲状腺功能亢进要做什么检查",
        "支气管哮喘怎么预防",
        "类风湿关节炎能治好吗",
        "二甲双胍一天吃几次",
    ],
    "zh traditional": ["糖尿病人該掛什麼科", "高血壓有什麼症狀", "乾燥綜合徵怎麼治療", "腎臟病要注意什麼"],
    "zh typo": ["糖屎病挂什么科", "我有高血鸭和糖尿病", "心机梗塞有什么症状", "这个病传然吗"],
    "en exact": [
        "what are the symptoms of hypertension",
        "which department should I see for diabetes mellitus",
        "is tuberculosis contagious",
        "what causes asthma",
        "complications of chronic kidney disease",
        "how is rheumatoid arthritis treated",
        "what tests diagnose multiple sclerosis",
        "is COPD contagious",
        "what is the prognosis of ALL",
        "how to prevent malaria",
        "who gets gout",
        "what is the ICD-10 code for migraine",
        "symptoms of migraines",
        "can I take aspirin with high blood pressure",
        "what is Sjögren syndrome",
        "early signs of Parkinson disease",
    ],
    "en typo": [
        "what are the symptoms of hypertention",
        "what causes diabetis",
        "is tuberculosys contagious",
        "treatment for alzheimers diseese",
        "how do you get pnemonia",
        "migrane treatment",
    ],
    "no entity": [
        "今天天气怎么样",
        "what's the weather today",
        "hello, how are you?",
        "工作压力大，注意休息",
        "谢谢你的帮助",
        "can you help me with something",
        "😀👍",
    ],
}


def _child(store: str, rounds: int) -> str:
    return CHILD_PEAK + (
        "import time, statistics, psutil\n"
        "rss = lambda: psutil.Process().memory_info().rss / 2**20\n"
        "t = time.perf_counter()\n"
        "from kgrag.kg.store import load_store\n"
        f"kg = load_store({store!r})\n"
        "load_s, rss_store = time.perf_counter() - t, rss()\n"
        "t = time.perf_counter()\n"
        "from kgrag.retrieval.linking import EntityLinker\n"
        "from kgrag.retrieval.intents import detect_intents\n"
        "linker = EntityLinker.from_kg(kg)\n"
        "build_s, rss_linker = time.perf_counter() - t, rss()\n"
        f"questions = {QUESTIONS!r}\n"
        "lat, intent_lat, found = {}, [], {}\n"
        "for group, qs in questions.items():\n"
        "    found[group] = [[x.entity_id for x in linker.link(q)][:2] for q in qs]\n"
        f"    for _ in range({rounds}):\n"
        "        for q in qs:\n"
        "            t = time.perf_counter(); linker.link(q)\n"
        "            lat.setdefault(group, []).append(time.perf_counter() - t)\n"
        "            t = time.perf_counter(); detect_intents(q); intent_lat.append(time.perf_counter() - t)\n"
        "def pct(xs, p):\n"
        "    xs = sorted(xs); return 1000 * xs[min(len(xs) - 1, int(p / 100 * len(xs)))]\n"
        "every = [x for xs in lat.values() for x in xs]\n"
        "out = {'load_s': load_s, 'build_s': build_s, 'rss_store_mib': rss_store, 'rss_linker_mib': rss_linker,\n"
        "       'peak_rss_mib': peak(), 'matched_names': len(linker.index.automaton),\n"
        "       'all': {p: pct(every, p) for p in (50, 90, 99, 100)},\n"
        "       'groups': {g: {p: pct(xs, p) for p in (50, 90, 99)} for g, xs in lat.items()},\n"
        "       'intents_p50_ms': pct(intent_lat, 50), 'found': found}\n"
        "print(json.dumps(out, ensure_ascii=False))\n"
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--store", default="kg/store/default")
    ap.add_argument("--rounds", type=int, default=30)
    ap.add_argument("--show", action="store_true", help="print the first two entities linked per question")
    args = ap.parse_args()
    r = run_measured(_child(args.store, args.rounds))
    n = sum(len(qs) for qs in QUESTIONS.values())
    print(
        f"\nmachine: {platform.machine()} {platform.processor() or ''}, python {platform.python_version()}, "
        f"{time.strftime('%Y-%m-%d')}; store {args.store}; {r['matched_names']:,} names matched; "
        f"{n} questions × {args.rounds} rounds"
    )
    print("| step | seconds | RSS after (MiB) |\n|---|---:|---:|")
    print(f"| load store | {r['load_s']:.2f} | {r['rss_store_mib']:.0f} |")
    print(f"| build linker | {r['build_s']:.2f} | {r['rss_linker_mib']:.0f} |")
    print(f"\npeak RSS {r['peak_rss_mib']:.0f} MiB; linker adds {r['rss_linker_mib'] - r['rss_store_mib']:.0f} MiB")
    print("\n| questions | p50 (ms) | p90 (ms) | p99 (ms) |\n|---|---:|---:|---:|")
    for group, ps in r["groups"].items():
        print(f"| {group} ({len(QUESTIONS[group])}) | {ps['50']:.3f} | {ps['90']:.3f} | {ps['99']:.3f} |")
    a = r["all"]
    print(f"| **all ({n})** | **{a['50']:.3f}** | {a['90']:.3f} | {a['99']:.3f} |")
    print(f"\nmax {a['100']:.2f} ms; detect_intents p50 {r['intents_p50_ms']:.3f} ms")
    if args.show:
        for group, qs in QUESTIONS.items():
            for q, ids in zip(qs, r["found"][group], strict=True):
                print(f"{group:15} {q:50} {ids}")
    print(json.dumps({k: v for k, v in r.items() if k != "found"}))


if __name__ == "__main__":
    main()
