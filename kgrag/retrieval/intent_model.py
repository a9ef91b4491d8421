"""Intents read by meaning when no cue matches: the question against the KG-QA question bank.

The cues of :mod:`kgrag.retrieval.intents` are exact: "What is at the root of it?" or "这病要怎么才能
好起来" match none of them, and a question without an intent gets every relation alike, so a
patient's "why" question is answered with synonyms and symptoms. The KG-QA generator's question
bank (``kgrag/kgqa/data/questions.tsv``, and the *seen* phrasing families of ``colloquial.tsv``:
patient, search box) is a labelled set of questions for every relation in both languages; this
module embeds it once with the sentence embedder (the multilingual Universal Sentence Encoder,
which places paraphrases near each other across wordings and languages) and reads an unmatched
question's intent from its nearest exemplars.

Held-out phrasing families (``families.tsv``: ``held_out yes``), the retrieval eval's questions and
the patient set's phrasings are not exemplars, so every evaluation keeps measuring wordings the
classifier never saw. The entity the question names is replaced by ``X`` before embedding, as the
exemplars' ``{X}`` is, so the intent is read from the wording and not from the disease.

It is often wrong: of the retrieval eval's dev questions that no cue matches, it read 86 of 134
Chinese and 110 of 230 English ones as the relation asked (many of the rest ask relations no
intent names). So an intent it reads weighs less than a cue's and leaves the prompt's places spread
over relations (:data:`kgrag.retrieval.retriever.READ_INTENT_WEIGHT`); on that split it still lifts
recall@1 from 0.473 to 0.537 and recall@10 from 0.946 to 0.963.

Hand-written kNN rather than a library classifier: a few hundred exemplars, cosine similarity on
unit vectors is one matrix product, and the vote needs the exemplar ids to cite as the intent's
cue.

Example:
    >>> model = SimilarIntents(make_embedder("use-multilingual"))
    >>> model.detect("I keep thinking I did something to bring on X. What is at the root of it?")
    Intent(name='causes', relations=..., cue='≈ en-pat-cause-1 (0.71)')
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np

from kgrag.retrieval.intents import Intent, IntentSpec, intent_specs
from kgrag.tsv import data_text, tsv_rows

if TYPE_CHECKING:
    from kgrag.index.embedders import Embedder
    from kgrag.retrieval.linking import EntityLink

log = logging.getLogger(__name__)

MIN_SIMILARITY = 0.45
"""Below this cosine similarity to its nearest exemplar a question's wording is read as no intent.
Nearly every question of the retrieval eval's dev split is nearer than 0.55 to some exemplar:
0.35, 0.45 and 0.55 gave the same recall there (MRR 0.675, 0.675, 0.673)."""

NEIGHBOURS = 5
"""Exemplars that vote, each with its similarity."""

PLACEHOLDER = "X"
READ_CUE = "≈ "
"""How the cue of an intent read by meaning starts: ``≈ <exemplar id> (<similarity>)``."""


@dataclass(frozen=True, slots=True)
class Exemplar:
    """One labelled question: its bank id, language, the intent it asks and its text with ``X``."""

    id: str
    lang: str
    intent: str
    text: str


def relation_intents(specs: Sequence[IntentSpec]) -> dict[str, str]:
    """relation id → the first intent that it answers fully (weight 1.0), in the intents file's order;
    ``definition`` → the definition intent."""
    out: dict[str, str] = {}
    for spec in specs:
        for rel, weight in spec.relations.items():
            if weight >= 1.0:
                out.setdefault(rel, spec.name)
    if any(s.name == "definition" for s in specs):
        out["definition"] = "definition"
    return out


def bank_exemplars(specs: Sequence[IntentSpec] | None = None) -> list[Exemplar]:
    """The question bank's relation and description questions and the seen colloquial families'
    questions, each labelled with the intent its relation answers (questions of relations no
    intent answers, pair and choice questions, follow-ups and held-out families are left out).

    The files are read here as data (``tsv_rows``), not through :mod:`kgrag.kgqa`'s loaders, which
    sit above retrieval in the layers; those loaders validate the same files (their tests fail on
    a malformed row), and a row here with too few columns is skipped.
    """
    by_relation = relation_intents(specs or intent_specs())
    families = {row[0]: row[1] == "yes" for _, row in tsv_rows(data_text("kgrag.kgqa", "data", "families.tsv"))
                if len(row) >= 2}
    out: list[Exemplar] = []
    for _, row in tsv_rows(data_text("kgrag.kgqa", "data", "questions.tsv")):
        if len(row) == 5 and row[1] in ("relation", "description") and row[2] in by_relation:
            out.append(Exemplar(row[0], row[3], by_relation[row[2]], row[4].replace("{X}", PLACEHOLDER)))
    for _, row in tsv_rows(data_text("kgrag.kgqa", "data", "colloquial.tsv")):
        if (len(row) == 5 and families.get(row[1]) is False and row[2] in by_relation and "{X}" in row[4]):
            out.append(Exemplar(row[0], row[3], by_relation[row[2]], row[4].replace("{X}", PLACEHOLDER)))
    return out


def masked(question: str, links: Sequence[EntityLink]) -> str:
    """``question`` with every linked mention replaced by ``X`` (overlapping mentions merged into one)."""
    merged: list[list[int]] = []
    for start, end in sorted({(link.start, link.end) for link in links}):
        if merged and start < merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    out, at = [], 0
    for start, end in merged:
        out += [question[at:start], PLACEHOLDER]
        at = end
    return "".join(out + [question[at:]])


class SimilarIntents:
    """Reads a question's intent from its nearest question-bank exemplars.

    Args:
        embedder: the sentence embedder (unit-norm vectors).
        exemplars: the labelled questions; :func:`bank_exemplars` by default.
        specs: the intents (their relation priors); the packaged ones by default.
        min_similarity, neighbours: see :data:`MIN_SIMILARITY` and :data:`NEIGHBOURS`.

    The exemplars are embedded on first use (~300 texts, under a second), once, thread-safely.
    """

    def __init__(self, embedder: Embedder, exemplars: Sequence[Exemplar] | None = None,
                 specs: Sequence[IntentSpec] | None = None, *, min_similarity: float = MIN_SIMILARITY,
                 neighbours: int = NEIGHBOURS) -> None:
        self.embedder = embedder
        self.specs = {s.name: s for s in (specs or intent_specs())}
        self.exemplars = list(bank_exemplars(list(self.specs.values())) if exemplars is None else exemplars)
        self.min_similarity = min_similarity
        self.neighbours = neighbours
        self._vectors: np.ndarray | None = None
        self._lock = threading.Lock()

    def warm(self) -> None:
        """Embeds the exemplars now (service start), not inside the first request."""
        if self._vectors is None:
            with self._lock:
                if self._vectors is None:
                    vectors = self.embedder.encode([e.text for e in self.exemplars])
                    self._vectors = np.asarray(vectors, dtype=np.float32)
                    log.info("intent exemplars embedded: %d", len(self.exemplars))

    def detect(self, question: str, links: Sequence[EntityLink] = ()) -> Intent | None:
        """The intent of ``question`` read from its nearest exemplars, or None when its wording is
        not near enough to any (:data:`MIN_SIMILARITY`)."""
        if not self.exemplars:
            return None
        self.warm()
        assert self._vectors is not None
        q = np.asarray(self.embedder.encode([masked(question, links)])[0], dtype=np.float32)
        sims = self._vectors @ q
        top = np.argsort(-sims)[: self.neighbours]
        if float(sims[top[0]]) < self.min_similarity:
            return None
        votes: dict[str, float] = {}
        for i in top:
            votes[self.exemplars[i].intent] = votes.get(self.exemplars[i].intent, 0.0) + float(sims[i])
        name = max(votes, key=lambda k: votes[k])
        best = next(i for i in top if self.exemplars[i].intent == name)
        spec = self.specs[name]
        return Intent(name, spec.relations, f"{READ_CUE}{self.exemplars[best].id} ({float(sims[best]):.2f})")


@lru_cache(maxsize=4)
def shared_intent_model(embedder: str, device: str = "cpu") -> SimilarIntents:
    """One :class:`SimilarIntents` per embedder name and device in a process: every retriever
    loaded (the service's, the index builder's, the tests') shares the model (~150 MB) and the
    exemplar vectors.

    Raises:
        ConfigError: an unknown embedder, or its package is not installed.
    """
    from kgrag.index.embedders import make_embedder

    return SimilarIntents(make_embedder(embedder, device))
