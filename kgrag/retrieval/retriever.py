"""KGRetriever: question → linked entities → candidate facts → ranked, cited facts.

Example:
    >>> r = KGRetriever.load("kg/store/default", "indexes/default")
    >>> result = r.retrieve("糖尿病挂什么科？", top_k=5)
    >>> [(f.head_name, f.relation, f.tail_text) for f in result.facts][:2]
    [('糖尿病', 'department', '内分泌科'), ('糖尿病', 'department', '内科')]
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from kgrag.errors import ConfigError
from kgrag.kg.graph import KnowledgeGraph
from kgrag.lang import has_cjk, question_lang
from kgrag.limits import MAX_TOP_K
from kgrag.retrieval.expansion import Candidate, ExpansionConfig, GraphExpander
from kgrag.retrieval.findings import FindingsRanker, with_evidence
from kgrag.retrieval.intent_model import READ_CUE, SimilarIntents, shared_intent_model
from kgrag.retrieval.intents import Intent, detect_intents, fallback_intents, relation_prior
from kgrag.retrieval.linking import EntityLink, EntityLinker
from kgrag.retrieval.localize import NameLocalizer
from kgrag.retrieval.normalize import normalize_question, validate_question
from kgrag.retrieval.ranking import FactRanker, RankingConfig

if TYPE_CHECKING:  # the index layer loads torch and faiss lazily; only its types are needed here
    from kgrag.index.build import LoadedIndex
    from kgrag.index.embedders import Embedder
    from kgrag.retrieval.linking import DenseFallback

log = logging.getLogger(__name__)

UNNAMED_TAIL = 0.99
"""The relation prior's factor, in an English question, for a fact whose tail has only a Chinese
name: of two symptoms the KG gives, the one it can name in English goes first. Just under 1, so
it orders facts of equal prior and never lifts one relation over another. Chosen on the
validation split's English KG-QA questions (gold fact in the top 8: 0.943 at 1, 0.975 at 0.99,
0.976 at 0.85 — which cost 0.018 of recall@10 on the dev split of ``kgrag eval retrieval``)."""
HYPOTHESIS_WEIGHT = 0.8
"""Seed weight of the best disease the question's findings point to (the others: in proportion to
their score): below a disease the question names (1.0), above what a walk discounts twice."""
BRIDGE_BONUS = 1.0
"""Added to the relation prior (0..1) of a bridge fact: one joining entities of two mentions in
the question ranks above the facts the intent alone favours."""

INTENT_EMBEDDER = "use-multilingual"
"""The embedder that reads intents no cue matches (:mod:`kgrag.retrieval.intent_model`); the
default index's, so with the index it costs no second model."""

READ_INTENT_WEIGHT = 0.6
"""An intent read by meaning is less sure than a cue: its relation priors are scaled by this, it
replaces the fallback intent (definition: "what is at the root of it" is not a definition
question), and the prompt's places stay spread over relations as without an intent. Chosen on
the dev split of ``kgrag eval retrieval`` (recall@1/8/10, MRR 0.473/0.898/0.946/0.605 without it;
0.537/0.937/0.963/0.675 with it; 0.537/0.936/0.963/0.675 at weight 1.0; keeping the fallback
beside it 0.535/0.937/0.963/0.674; letting it claim the places as a cue does 0.537/0.885/0.925/0.659)."""


@dataclass(frozen=True, slots=True)
class RetrievedFact:
    """A ranked fact with everything needed to cite it."""

    fact: int
    head: str
    head_name: str
    relation: str
    relation_label: str
    tail: str | None
    tail_text: str
    source: str
    provenance: str
    score: float
    qualifier: str | None = None
    head_local: str | None = None
    tail_local: str | None = None

    def as_dict(self) -> dict[str, object]:
        return {k: getattr(self, k) for k in self.__slots__}

    @classmethod
    def from_row(
        cls, kg: KnowledgeGraph, row: int, lang: str, score: float = 0.0, localizer: NameLocalizer | None = None
    ) -> RetrievedFact:
        """Fact ``row`` of ``kg`` as the retriever gives it (relation label in ``lang``); with a
        ``localizer``, ``head_local``/``tail_local`` name its entities in ``lang`` where the KG's
        names are in the other language and it knows one (else None)."""
        f = kg.fact(row)
        local: dict[str, str | None] = {}
        if localizer is not None:
            tail = kg.fact_tail(row)
            local = {"head_local": localizer.name(kg.fact_head(row), lang),
                     "tail_local": localizer.name(tail, lang) if tail >= 0 else None}
        return cls(
            fact=row, head=f.head, head_name=kg.entity_name(kg.fact_head(row)), relation=f.relation,
            relation_label=kg.vocab.get(f.relation).label(lang), tail=f.tail, tail_text=kg.fact_tail_text(row),
            source=f.source, provenance=str(f.provenance), score=score, qualifier=f.qualifier, **local,
        )


@dataclass(frozen=True)
class RetrievalResult:
    """What the retriever found for one question; ``facts`` is empty (with ``reason``) when the
    question names no medical entity the KG knows."""

    question: str
    lang: str
    entities: list[EntityLink]
    intents: list[str]
    facts: list[RetrievedFact]
    reason: str | None = None
    timings_ms: dict[str, float] = field(default_factory=dict)
    entity_names: list[str] = field(default_factory=list)
    """The KG names of ``entities``, in their order."""
    hypotheses: list[dict[str, object]] = field(default_factory=list)
    """Diseases the question's findings point to (:mod:`kgrag.retrieval.findings`), best first: id,
    name, score, the findings and the facts (``evidence``, fact rows) that earned it; ``ask_about``
    on the first: the finding that best tells them apart."""

    def to_dict(self) -> dict[str, object]:
        """The result as JSON (the ``/search`` body, ``kgrag search --json``)."""
        return {
            "question": self.question,
            "lang": self.lang,
            "entities": self.entity_dicts(),
            "intents": self.intents,
            "facts": [f.as_dict() for f in self.facts],
            "reason": self.reason,
            "hypotheses": self.hypotheses,
            "timings_ms": {k: round(v, 2) for k, v in self.timings_ms.items()},
        }

    def entity_dicts(self) -> list[dict[str, object]]:
        """The linked entities as JSON, each with its KG name (see :func:`entity_dict`)."""
        return [entity_dict(e, name) for e, name in zip(self.entities, self.entity_names, strict=True)]


def entity_dict(link: EntityLink, name: str) -> dict[str, object]:
    """A linked entity as JSON: its id, KG ``name``, the question's ``mention`` of it, how it was
    linked and the confidence (3 decimals)."""
    return {"id": link.entity_id, "name": name, "mention": link.surface, "method": link.method,
            "confidence": round(link.confidence, 3)}


class KGRetriever:
    """Retrieves facts for questions from one KG (and, optionally, its vector index).

    Args:
        kg: the graph.
        linker: entity linker over ``kg``.
        index: a loaded vector index of ``kg`` (``kgrag.index.build.LoadedIndex``), or None.
        embedder: the embedder that made ``index`` (encodes questions), or None.
    """

    def __init__(
        self,
        kg: KnowledgeGraph,
        linker: EntityLinker,
        *,
        index: LoadedIndex | None = None,
        embedder: Embedder | None = None,
        expansion: ExpansionConfig | None = None,
        ranking: RankingConfig | None = None,
        intent_model: SimilarIntents | None = None,
    ) -> None:
        self.kg = kg
        self.intent_model = intent_model
        self.linker = linker
        self.expander = GraphExpander(kg, expansion)
        self.ranker = FactRanker(kg, ranking)
        self.localizer = NameLocalizer(kg)
        self.findings = FindingsRanker(kg)
        self.index = index
        self.embedder = embedder
        names = kg.relation_names
        self._definition_code = names.index("definition") if "definition" in names else None
        self._fact_vectors: np.ndarray | None = None
        self._fact_slot: np.ndarray | None = None
        if index is not None and "facts" in index.ids:
            ids = index.ids["facts"]
            slot = np.full(kg.n_facts, -1, dtype=np.int64)
            slot[ids] = np.arange(len(ids))
            self._fact_slot = slot
            self._fact_vectors = np.load(Path(index.path) / "facts.vectors.npy", mmap_mode="r")

    @classmethod
    def load(
        cls, store: str | Path, index: str | Path | None = None, *, device: str = "cpu",
        ranking: RankingConfig | None = None, intent_embedder: str | None = INTENT_EMBEDDER,
    ) -> KGRetriever:
        """Load the store, build the linker, and load the index (checked against the store) if given;
        ``device`` runs the question embedder (``cpu``, ``cuda``); ``intent_embedder`` (None: off)
        reads the intent of a question no cue matches (:mod:`kgrag.retrieval.intent_model`), with
        the index's embedder when it is the same one."""
        from kgrag.kg.store import load_store

        kg = load_store(store)
        loaded = embedder = None
        dense = None
        if index is not None:
            from kgrag.index.build import load_index, read_index_manifest
            from kgrag.index.embedders import make_embedder

            manifest = read_index_manifest(index)
            loaded = load_index(index, kg.checksum, manifest["embedder"])
            embedder = make_embedder(manifest["embedder"], device)
            dense = _dense_entity_search(loaded, embedder)
        linker = EntityLinker.from_kg(kg, dense=dense)
        intent_model = None
        if intent_embedder is not None:
            same = embedder is not None and getattr(embedder, "name", None) == intent_embedder
            intent_model = SimilarIntents(embedder) if same and embedder is not None else shared_intent_model(
                intent_embedder, device)
            intent_model.warm()
        retriever = cls(kg, linker, index=loaded, embedder=embedder, ranking=ranking, intent_model=intent_model)
        retriever.localizer.warm()
        retriever.findings.index.warm()
        return retriever

    def retrieve(self, question: str, top_k: int = 10) -> RetrievalResult:
        """Ranked facts for ``question``.

        Raises:
            QuestionError: empty, whitespace-only or over-long question.
            ConfigError: ``top_k`` outside 1..100.
        """
        if not 1 <= top_k <= MAX_TOP_K:
            raise ConfigError(f"top_k must be between 1 and {MAX_TOP_K}; got {top_k}")
        question = validate_question(question)
        t0 = time.perf_counter()
        norm = normalize_question(question)
        lang = question_lang(norm)
        links = self.linker.link(question)
        intents = self._intents(norm, links)
        t_link = time.perf_counter()
        if not links:
            return RetrievalResult(
                question,
                lang,
                [],
                [i.name for i in intents],
                [],
                reason="no medical entity of the knowledge graph was found in the question",
                timings_ms={"link": 1000 * (t_link - t0)},
            )
        seeds, mentions = _seeds(links), _mentions(links)
        hypotheses = self.findings.rank(norm)
        for h in hypotheses:  # the diseases behind the findings are walked like linked ones
            mentions.setdefault(h.disease, len(set(mentions.values())) + 1)
            w = HYPOTHESIS_WEIGHT * h.score / hypotheses[0].score
            if all(row != h.disease for row, _ in seeds):
                seeds.append((h.disease, w))
        candidates = self.expander.expand(
            seeds, lambda r: relation_prior(intents, r, default=0.0), mentions=mentions
        )
        candidates = with_evidence(candidates, hypotheses, HYPOTHESIS_WEIGHT)
        t_expand = time.perf_counter()
        rel_names = self.kg.relation_names
        prior_of = {code: relation_prior(intents, name) for code, name in enumerate(rel_names)}
        fact_rows = [c.fact for c in candidates]
        codes = self.kg.fact_relation_codes()[fact_rows] if candidates else np.zeros(0, dtype=np.int16)
        # an intent asks about the linked entity as head ("side effects of X"): the same relation
        # pointing *at* X answers another question, so incoming facts keep only a fraction of it.
        # A bridge joins two entities the question names: whatever its relation, it is about this
        # question, so it ranks above facts that only the intent favours.
        priors = np.array(
            [
                prior_of[int(code)] * (0.3 if c.incoming and not c.bridge else 1.0) + BRIDGE_BONUS * c.bridge
                for code, c in zip(codes, candidates, strict=True)
            ]
        )
        if lang == "en" and candidates:
            priors = priors * self._nameable(fact_rows)
        dense = self._dense_scores(norm, [c.fact for c in candidates])
        order, fused = self.ranker.rank(norm, candidates, priors, dense)
        # bridges first (in fused order): a fact joining two things the question names is what it
        # asks about, however little its words overlap the question's (恐高症 —症状→ 眩晕 for
        # "acrophobia and vertigo")
        is_bridge = np.array([c.bridge for c in candidates], dtype=bool)
        # then, for "what is X", the source's own definition of X: an ``is a`` fact places X, it
        # does not define it
        tier = np.where(is_bridge, 0, 2)
        if any(i.name == "definition" for i in intents):
            tier[self._definitions(candidates, codes) & ~is_bridge] = 1
        if hypotheses:  # each disease the findings point to: its evidence and what was asked of it, in turn
            tier = tier + len(hypotheses)
            asked = np.array([prior_of[int(code)] > 0.5 for code in codes], dtype=bool)
            for rank, h in enumerate(hypotheses):
                evidence = set(h.evidence)
                mine = np.array([c.fact in evidence or (c.anchor == h.disease and not c.incoming and a)
                                 for c, a in zip(candidates, asked, strict=True)], dtype=bool)
                tier[mine & (tier >= len(hypotheses))] = rank
        order = order[np.argsort(tier[order], kind="stable")]
        # an intent read by meaning orders the facts; the places stay spread over relations, as
        # without an intent, in case it was read wrongly
        sure = [i for i in intents if not i.cue.startswith(READ_CUE)]
        facts = self._facts(candidates, order, fused, lang, top_k, bool(sure))
        t_rank = time.perf_counter()
        return RetrievalResult(
            question,
            lang,
            links,
            [i.name for i in intents],
            facts,
            timings_ms={
                "link": 1000 * (t_link - t0),
                "expand": 1000 * (t_expand - t_link),
                "rank": 1000 * (t_rank - t_expand),
                "total": 1000 * (t_rank - t0),
            },
            entity_names=[self.kg.entity_name(e.row) for e in links],
            hypotheses=self.findings.describe(hypotheses, norm),
        )

    def _intents(self, question: str, links: list[EntityLink]) -> list[Intent]:
        """The cues' intents; when none but the fallback matched, the one read by meaning
        (:class:`SimilarIntents`) is added, its priors scaled by :data:`READ_INTENT_WEIGHT`."""
        intents = detect_intents(question)
        fallback = fallback_intents()
        if self.intent_model is None or not links or any(i.name not in fallback for i in intents):
            return intents
        read = self.intent_model.detect(question, links)
        if read is None or any(i.name == read.name for i in intents):
            return intents
        scaled = Intent(read.name, {r: w * READ_INTENT_WEIGHT for r, w in read.relations.items()}, read.cue)
        return [scaled]

    def _nameable(self, fact_rows: list[int]) -> np.ndarray:
        """Per fact: 1, or :data:`UNNAMED_TAIL` when its tail is an entity named only in Chinese
        (no English twin or 英文名称): an English answer can state the others in English."""
        kg, out = self.kg, np.ones(len(fact_rows))
        tails = kg.fact_tails()[fact_rows]
        for i, t in enumerate(tails.tolist()):
            if t >= 0 and has_cjk(kg.entity_name(t)) and self.localizer.name(t, "en") is None:
                out[i] = UNNAMED_TAIL
        return out

    def _definitions(self, candidates: list[Candidate], codes: np.ndarray) -> np.ndarray:
        """Per candidate: a source definition (HPO, MONDO, UMLS) of the entity it was reached from."""
        if self._definition_code is None:
            return np.zeros(len(candidates), dtype=bool)
        outgoing = np.array([not c.incoming for c in candidates], dtype=bool)
        return (codes == self._definition_code) & outgoing

    def _dense_scores(self, question: str, fact_rows: list[int]) -> np.ndarray | None:
        if self._fact_vectors is None or self.embedder is None or not fact_rows:
            return None
        q = self.embedder.encode([question])[0].astype(np.float32)
        slots = self._fact_slot[fact_rows]  # type: ignore[index]
        scores = np.full(len(fact_rows), -1.0, dtype=np.float32)
        have = slots >= 0
        if have.any():
            scores[have] = np.asarray(self._fact_vectors[slots[have]], dtype=np.float32) @ q
        return scores

    def _facts(
        self, candidates: list, order: np.ndarray, fused: np.ndarray, lang: str, top_k: int, has_intent: bool
    ) -> list[RetrievedFact]:  # type: ignore[type-arg]
        """The top ``top_k`` distinct facts, with room for other relations.

        With no detected intent every relation scores alike and the largest ones (side effects,
        indications) would fill the list, so relations take turns, best fact first. With an
        intent, the last ``top_k // 3`` (at most 3) places go to the best facts of relations not
        yet shown, in case the intent was read wrongly. Tuned on the dev split of
        ``kgrag eval retrieval`` (BENCHMARKS.md).
        """
        kg = self.kg
        seen: set[tuple[str, str, str]] = set()
        distinct: list[int] = []
        for idx in order:
            j = candidates[int(idx)].fact
            key = (
                kg.entity_name(kg.fact_head(j)).casefold(),
                kg.fact_relation(j),
                kg.fact_tail_text(j).casefold(),
            )
            if key not in seen:
                seen.add(key)
                distinct.append(int(idx))
            if len(distinct) >= top_k * 20:
                break
        chosen = _diversify(
            distinct, [kg.fact_relation_code(candidates[i].fact) for i in distinct], top_k, has_intent
        )
        return [RetrievedFact.from_row(kg, candidates[i].fact, lang, float(fused[i]), self.localizer) for i in chosen]


def _diversify(items: list[int], relations: list[int], top_k: int, has_intent: bool) -> list[int]:
    """Pick ``top_k`` of ``items`` (best first) so that other relations get places (see ``_facts``)."""
    if has_intent:
        reserve = min(3, top_k // 3)
        head = items[: top_k - reserve]
        shown = {relations[i] for i in range(len(head))}
        extra: list[int] = []
        for i in range(len(head), len(items)):
            if len(extra) >= reserve:
                break
            if relations[i] not in shown:
                shown.add(relations[i])
                extra.append(items[i])
        rest = [x for x in items[len(head) :] if x not in extra]
        return (head + extra + rest)[:top_k]
    queues: dict[int, list[int]] = {}
    for item, rel in zip(items, relations, strict=True):
        queues.setdefault(rel, []).append(item)
    out: list[int] = []
    while len(out) < top_k and any(queues.values()):
        for q in queues.values():
            if q and len(out) < top_k:
                out.append(q.pop(0))
    return out


def _seeds(links: list[EntityLink]) -> list[tuple[int, float]]:
    best: dict[int, float] = {}
    for link in links:
        best[link.row] = max(best.get(link.row, 0.0), link.confidence)
    return sorted(best.items(), key=lambda x: -x[1])


def _mentions(links: list[EntityLink]) -> dict[int, int]:
    """Entity row → its mention's number. The linker's mentions do not overlap and every candidate
    of one mention has its span (the several entities "Oxygen" or 高血压 name; the dense fallback's
    candidates all span the whole question), so links of one span are one mention, and their facts
    do not count as bridges."""
    spans: dict[tuple[int, int], int] = {}
    out: dict[int, int] = {}
    for link in links:
        out.setdefault(link.row, spans.setdefault((link.start, link.end), len(spans)))
    return out


def _dense_entity_search(index: LoadedIndex, embedder: Embedder) -> DenseFallback | None:
    """The linker's dense fallback: nearest entity documents to the question."""
    if "entities" not in index.ids:
        return None

    def search(text: str, k: int) -> list[tuple[int, float]]:
        q = embedder.encode([text])
        scores, rows = index.search("entities", q, k)
        return [(int(r), float(s)) for r, s in zip(rows[0], scores[0], strict=True) if r >= 0]

    return search
