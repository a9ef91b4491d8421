"""Why the held-out patient-phrased questions miss: figures from ``kgrag eval retrieval --out``'s JSON.

Reads the per-question outcomes and writes, per language: R@k of the prompt (KGRAG_TOP_K facts) by
whether the question's intent was detected (an intent giving its relation a prior ≥ 0.5), by no
intent at all, or by another intent only; the intents that context words set off; the entities
other than the head that the question's words linked; and R@k per phrasing, worst first.

    python benchmarks/heldout_analysis.py benchmarks/results/heldout-cpu-2026-12-02/retrieval.json \
        benchmarks/results/heldout-cpu-2026-12-02/analysis.json
"""

from __future__ import annotations

import json
import sys
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any


def _recall(qs: list[dict[str, Any]], k: int) -> float | None:
    return round(sum(q["rank"] is not None and q["rank"] <= k for q in qs) / len(qs), 4) if qs else None


def analyse(payload: dict[str, Any]) -> dict[str, Any]:
    k = payload["config"].get("prompt_top_k", 8)
    out: dict[str, Any] = {"prompt_top_k": k, "by_lang": {}}
    for lang in ("zh", "en"):
        qs = [q for q in payload["questions"] if q["lang"] == lang]
        hit = [q for q in qs if q["intent_hit"]]
        none = [q for q in qs if not q["intents"]]
        other = [q for q in qs if q["intents"] and not q["intent_hit"]]
        per_template: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for q in qs:
            per_template[q["template"]].append(q)
        out["by_lang"][lang] = {
            "n": len(qs),
            f"recall@{k}": _recall(qs, k),
            "intent_detected": {"n": len(hit), f"recall@{k}": _recall(hit, k)},
            "no_intent": {"n": len(none), f"recall@{k}": _recall(none, k)},
            "other_intent_only": {
                "n": len(other),
                f"recall@{k}": _recall(other, k),
                "intents": dict(Counter(q["intents"][0] for q in other).most_common()),
            },
            "extra_entities_linked": dict(
                Counter(e for q in qs for e in q["linked"] if e != q["head"] and e not in q["twins"]).most_common(15)
            ),
            "by_template": dict(sorted(
                ((t, {"n": len(g), f"recall@{k}": _recall(g, k), "intent_detected": sum(q["intent_hit"] for q in g),
                  "text": g[0]["text"]}) for t, g in per_template.items()),
                key=lambda kv: (kv[1][f"recall@{k}"], kv[0]),
            )),
        }
    return out


if __name__ == "__main__":
    result = analyse(json.loads(Path(sys.argv[1]).read_text(encoding="utf-8")))
    Path(sys.argv[2]).write_text(json.dumps(result, ensure_ascii=False, indent=1), encoding="utf-8")
    for lang, fig in result["by_lang"].items():
        k = result["prompt_top_k"]
        print(lang, fig[f"recall@{k}"], "| intent detected:", fig["intent_detected"], "| no intent:",
              fig["no_intent"], "| other intent only:", fig["other_intent_only"])
        print("   extra entities linked:", list(fig["extra_entities_linked"].items())[:10])
