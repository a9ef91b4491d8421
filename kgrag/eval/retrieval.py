"""Retrieval evaluation: recall@k and MRR of the retriever on generated questions.

A question is answered at rank r when the r-th retrieved fact is in its ``accepted`` set (its
gold facts, or the same relation and tail text from a cross-source twin of the head: see
:mod:`kgrag.kgqa.questions`). recall@k is the share of questions answered within the top
k; MRR is the mean of 1/r over questions (0 when not answered within the retrieved top k, so it
is MRR@k). Figures are broken down by language, style and relation; latency is measured around
each ``retrieve`` call.

Each miss gets one cause, the first that applies: ``no_link`` (no entity found), ``wrong_link``
(neither the head nor a twin linked), ``intent_miss`` (no detected intent gives the relation a
prior of at least 0.5), ``ranking`` (all three right, the fact still outside the top k).

Example:
    >>> outcomes = evaluate(KGRetriever.load("kg/store/default"), questions)
    >>> report(outcomes)["by_lang"]["zh"]["recall@10"]
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from kgrag.kgqa.questions import EvalQuestion

KS = (1, 5, 10)
FAILURES = ("no_link", "wrong_link", "intent_miss", "ranking")


class Retriever(Protocol):
    def retrieve(self, question: str, top_k: int = 10) -> Any: ...


def first_hit(ranked: Sequence[int], accepted: Collection[int]) -> int | None:
    """1-based rank of the first fact of ``ranked`` in ``accepted``, or None."""
    return next((r for r, fact in enumerate(ranked, 1) if fact in accepted), None)


def summarize(ranks: Sequence[int | None], ks: Iterable[int] = KS) -> dict[str, float]:
    """``n``, ``recall@k`` for each k, and ``mrr`` of first-hit ranks (None: no hit)."""
    n = len(ranks)
    out: dict[str, float] = {"n": n}
    for k in ks:
        out[f"recall@{k}"] = sum(1 for r in ranks if r is not None and r <= k) / n if n else 0.0
    out["mrr"] = sum(1 / r for r in ranks if r is not None) / n if n else 0.0
    return out


def percentiles(values_ms: Sequence[float]) -> dict[str, float]:
    """p50 and p95 of latencies in milliseconds (0 when empty)."""
    if not values_ms:
        return {"p50_ms": 0.0, "p95_ms": 0.0}
    p50, p95 = np.percentile(np.asarray(values_ms), [50, 95])
    return {"p50_ms": round(float(p50), 2), "p95_ms": round(float(p95), 2)}


@dataclass(frozen=True, slots=True)
class Outcome:
    """What the retriever did with one question.

    Attributes:
        question: the question.
        rank: 1-based rank of the first accepted fact in the top k, or None.
        strict_rank: the same for gold facts only (no twins).
        latency_ms: wall time of ``retrieve``.
        linked: entity ids the linker found.
        head_linked: the head or one of its twins is among them.
        intents: detected intents.
        intent_hit: an intent gives the question's relation a prior >= 0.5.
        top: the first three facts as ``head | relation | tail``.
    """

    question: EvalQuestion
    rank: int | None
    strict_rank: int | None
    latency_ms: float
    linked: tuple[str, ...]
    head_linked: bool
    intents: tuple[str, ...]
    intent_hit: bool
    top: tuple[str, ...]

    @property
    def failure(self) -> str | None:
        """Why the question was missed (one of ``FAILURES``), None when it was answered."""
        if self.rank is not None:
            return None
        if not self.linked:
            return "no_link"
        if not self.head_linked:
            return "wrong_link"
        return "ranking" if self.intent_hit else "intent_miss"

    def as_dict(self) -> dict[str, object]:
        q = self.question
        out = {k: v for k, v in asdict(q).items() if k not in ("gold", "accepted")}
        out |= {"n_gold": len(q.gold), "n_accepted": len(q.accepted)}
        out |= {k: getattr(self, k) for k in self.__slots__ if k != "question"}
        return out | {"failure": self.failure}


def _intent_weights() -> dict[str, dict[str, float]]:
    from kgrag.retrieval.intents import intent_specs

    return {s.name: dict(s.relations) for s in intent_specs()}


def evaluate(
    retriever: Retriever,
    questions: Sequence[EvalQuestion],
    *,
    top_k: int = max(KS),
    progress: Callable[[int], None] | None = None,
) -> list[Outcome]:
    """Run ``retriever`` on every question (top ``top_k``) and record ranks, links and timings.

    Args:
        retriever: anything with ``retrieve(question, top_k)`` returning a
            :class:`~kgrag.retrieval.retriever.RetrievalResult`-like object.
        questions: from :class:`~kgrag.kgqa.questions.QuestionGenerator`.
        top_k: facts retrieved per question.
        progress: called with 1 after each question (a progress bar's ``advance``).
    """
    weights = _intent_weights()
    out = []
    for q in questions:
        t0 = time.perf_counter()
        result = retriever.retrieve(q.text, top_k=top_k)
        latency = 1000 * (time.perf_counter() - t0)
        ranked = [f.fact for f in result.facts]
        linked = tuple(dict.fromkeys(e.entity_id for e in result.entities))
        prior = max((weights.get(i, {}).get(q.relation, 0.0) for i in result.intents), default=0.0)
        out.append(
            Outcome(
                question=q,
                rank=first_hit(ranked, set(q.accepted)),
                strict_rank=first_hit(ranked, set(q.gold)),
                latency_ms=round(latency, 3),
                linked=linked,
                head_linked=bool({q.head, *q.twins} & set(linked)),
                intents=tuple(result.intents),
                intent_hit=prior >= 0.5,
                top=tuple(f"{f.head_name} | {f.relation} | {f.tail_text[:60]}" for f in result.facts[:3]),
            )
        )
        if progress is not None:
            progress(1)
    return out


def _group(outcomes: Iterable[Outcome], key: Callable[[Outcome], str]) -> dict[str, list[Outcome]]:
    groups: dict[str, list[Outcome]] = {}
    for o in outcomes:
        groups.setdefault(key(o), []).append(o)
    return dict(sorted(groups.items()))


def _figures(outcomes: Sequence[Outcome], ks: Iterable[int]) -> dict[str, Any]:
    fig: dict[str, Any] = {k: round(v, 4) for k, v in summarize([o.rank for o in outcomes], ks).items()}
    k = max(ks)
    fig[f"strict_recall@{k}"] = round(summarize([o.strict_rank for o in outcomes], [k])[f"recall@{k}"], 4)
    fig |= percentiles([o.latency_ms for o in outcomes])
    fig["failures"] = {f: sum(o.failure == f for o in outcomes) for f in FAILURES}
    return fig


def report(outcomes: Sequence[Outcome], ks: Iterable[int] = KS, *, by_template: bool = False) -> dict[str, Any]:
    """Metrics overall and by language, language × style, language × relation (and × style).

    Keys of each breakdown are ``zh``, ``zh/template``, ``zh/has_symptom``,
    ``zh/has_symptom/colloquial``; each value has ``n``, ``recall@k``, ``mrr``,
    ``strict_recall@k`` (largest k, gold facts only), ``p50_ms``, ``p95_ms`` and ``failures`` (counts per cause).
    With ``by_template``, also ``by_lang_template`` (``zh/zh-dep-1``: per question phrasing).
    """
    ks = tuple(sorted(set(ks)))
    keys: dict[str, Callable[[Outcome], str]] = {
        "by_lang": lambda o: o.question.lang,
        "by_lang_style": lambda o: f"{o.question.lang}/{o.question.style}",
        "by_lang_relation": lambda o: f"{o.question.lang}/{o.question.relation}",
        "by_lang_relation_style": lambda o: f"{o.question.lang}/{o.question.relation}/{o.question.style}",
    }
    if by_template:
        keys["by_lang_template"] = lambda o: f"{o.question.lang}/{o.question.template}"
    out: dict[str, Any] = {"overall": _figures(outcomes, ks)}
    for name, key in keys.items():
        out[name] = {k: _figures(v, ks) for k, v in _group(outcomes, key).items()}
    return out


def write_json_atomic(path: str | Path, payload: Any) -> None:
    """Write ``payload`` as UTF-8 JSON to ``path`` through a temporary sibling and a rename, so a
    reader never sees half a file and a failed run leaves the previous one in place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(payload, f, ensure_ascii=False, indent=1)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
