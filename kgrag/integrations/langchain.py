"""LangChain retriever over the KG: kgrag's ranked, cited facts as LangChain ``Document``\\ s.

Each document's ``page_content`` is the fact as a sentence in the question's language; its
``metadata`` holds the fact's fields (``RetrievedFact.as_dict()``) plus ``rank`` (1-based),
``lang`` and ``citation`` (``"[1] 糖尿病 — 就诊科室 — 内科 (cmekg)"``).

Example:
    >>> from kgrag.integrations.langchain import KGLangChainRetriever
    >>> retriever = KGLangChainRetriever.from_store("kg/store/default", top_k=5)
    >>> docs = retriever.invoke("糖尿病挂什么科")
    >>> docs[0].page_content, docs[0].metadata["citation"]
    ('糖尿病应就诊于内科', '[1] 糖尿病 — 就诊科室 — 内科 (cmekg)')
"""

from __future__ import annotations

import logging
from pathlib import Path

from pydantic import Field

from kgrag.index.verbalize import fact_sentence, truncate
from kgrag.limits import MAX_TOP_K
from kgrag.retrieval.retriever import KGRetriever, RetrievedFact

try:
    from langchain_core.callbacks import CallbackManagerForRetrieverRun
    from langchain_core.documents import Document
    from langchain_core.retrievers import BaseRetriever
except ImportError as exc:
    raise ImportError(
        "kgrag.integrations.langchain needs langchain-core; install it with `pip install 'kgrag[retrieval]'` "
        "(or `pip install -e '.[retrieval]'` in a checkout)"
    ) from exc

log = logging.getLogger(__name__)

#: Longest tail text kept in a citation, in characters (literal values run to pages; the full text
#: stays in ``metadata["tail_text"]``).
CITATION_TAIL = 80


def citation(rank: int, fact: RetrievedFact) -> str:
    """``"[rank] head — relation — tail (source)"``, with the relation label in the question's language."""
    tail = truncate(fact.tail_text, CITATION_TAIL)
    return f"[{rank}] {fact.head_name} — {fact.relation_label} — {tail} ({fact.source})"


class KGLangChainRetriever(BaseRetriever):
    """A LangChain retriever backed by a :class:`~kgrag.retrieval.retriever.KGRetriever`.

    A runnable like any LangChain retriever (``invoke``, ``ainvoke``, ``batch``, ``|`` in LCEL chains).
    A question that names no medical entity of the KG gives ``[]``; the reason is logged.

    Args:
        retriever: a loaded kgrag retriever (load it once: it takes seconds).
        top_k: facts per question, 1..100.

    Raises:
        pydantic.ValidationError: ``top_k`` outside 1..100, or ``retriever`` not a ``KGRetriever``.
    """

    retriever: KGRetriever
    top_k: int = Field(default=10, ge=1, le=MAX_TOP_K)

    @classmethod
    def from_store(cls, store: str | Path, index: str | Path | None = None, *, top_k: int = 10) -> KGLangChainRetriever:
        """Load a KG store (and, optionally, its vector index) and wrap a retriever over it."""
        return cls(retriever=KGRetriever.load(store, index), top_k=top_k)

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun) -> list[Document]:
        """The top ``top_k`` facts for ``query`` as documents, best first.

        Raises:
            kgrag.retrieval.normalize.QuestionError: empty, whitespace-only or over-long question.
        """
        result = self.retriever.retrieve(query, top_k=self.top_k)
        if not result.facts:
            log.info("no documents for %r: %s", query, result.reason or "no fact matched")
            return []
        kg = self.retriever.kg
        return [
            Document(
                page_content=fact_sentence(kg, fact.fact, result.lang),
                metadata={**fact.as_dict(), "rank": rank, "lang": result.lang, "citation": citation(rank, fact)},
            )
            for rank, fact in enumerate(result.facts, start=1)
        ]
