"""KGLangChainRetriever on the real default store: kgrag's facts as LangChain documents, in chains."""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
from dataclasses import fields
from pathlib import Path

import pytest
from langchain_core.documents import Document
from langchain_core.prompts import PromptTemplate
from langchain_core.runnables import RunnableLambda, RunnablePassthrough
from pydantic import ValidationError

from kgrag.integrations.langchain import KGLangChainRetriever
from kgrag.retrieval.retriever import KGRetriever, RetrievedFact

FACT_FIELDS = {f.name for f in fields(RetrievedFact)}
SYMPTOM_RELATIONS = {"has_symptom", "clinical_sign", "related_symptom", "has_phenotype"}


@pytest.fixture(scope="module")
def kg_retriever(default_store: Path) -> KGRetriever:
    return KGRetriever.load(default_store)  # ~5 s: once for the module


@pytest.fixture()
def retriever(kg_retriever: KGRetriever) -> KGLangChainRetriever:
    return KGLangChainRetriever(retriever=kg_retriever, top_k=5)


def format_docs(docs: list[Document]) -> str:
    """A numbered context block, one fact a line: ``[1] 糖尿病应就诊于内科 (cmekg)``."""
    return "\n".join(f"[{d.metadata['rank']}] {d.page_content} ({d.metadata['source']})" for d in docs)


def test_invoke_returns_documents_carrying_the_fact_fields(retriever: KGLangChainRetriever) -> None:
    docs = retriever.invoke("糖尿病挂什么科")
    assert 0 < len(docs) <= 5 and all(isinstance(d, Document) for d in docs)
    for rank, doc in enumerate(docs, start=1):
        assert FACT_FIELDS | {"rank", "lang", "citation"} <= doc.metadata.keys()
        assert doc.metadata["rank"] == rank and doc.metadata["lang"] == "zh"
        assert doc.metadata["citation"].startswith(f"[{rank}] ")
    first = docs[0].metadata
    assert first["relation"] == "department" and first["tail_text"] in {"内分泌科", "内科"}
    assert first["head"] == "cmekg:糖尿病" and "cmekg.pkl" in first["provenance"]
    assert first["citation"] == f"[1] 糖尿病 — 就诊科室 — {first['tail_text']} (cmekg)"
    assert docs[0].page_content.startswith("糖尿病") and first["tail_text"] in docs[0].page_content


def test_english_question_gets_english_sentences_about_symptoms(retriever: KGLangChainRetriever) -> None:
    docs = retriever.invoke("what are the symptoms of hypertension")
    assert docs and all(d.metadata["relation"] in SYMPTOM_RELATIONS for d in docs)
    assert all(d.metadata["lang"] == "en" for d in docs)
    assert "has symptom" in docs[0].page_content and "— has symptom —" in docs[0].metadata["citation"]


def test_question_without_a_medical_entity_returns_no_documents_and_logs_why(
    retriever: KGLangChainRetriever, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="kgrag.integrations.langchain"):
        assert retriever.invoke("今天天气怎么样？") == []
    assert "no medical entity" in caplog.text


@pytest.mark.parametrize("top_k", [0, 101])
def test_top_k_outside_1_to_100_is_refused(kg_retriever: KGRetriever, top_k: int) -> None:
    with pytest.raises(ValidationError, match="top_k"):
        KGLangChainRetriever(retriever=kg_retriever, top_k=top_k)


def test_top_k_bounds_the_number_of_documents(kg_retriever: KGRetriever) -> None:
    assert len(KGLangChainRetriever(retriever=kg_retriever, top_k=2).invoke("高血压吃什么药")) == 2


def test_batch_and_ainvoke_work_like_invoke(retriever: KGLangChainRetriever) -> None:
    questions = ["糖尿病挂什么科", "what are the symptoms of hypertension"]
    batched = retriever.batch(questions)
    assert [[d.metadata["fact"] for d in docs] for docs in batched] == [
        [d.metadata["fact"] for d in retriever.invoke(q)] for q in questions
    ]
    async_docs = asyncio.run(retriever.ainvoke(questions[0]))
    assert [d.metadata["fact"] for d in async_docs] == [d.metadata["fact"] for d in batched[0]]


def test_retriever_piped_into_a_formatter_gives_a_numbered_context(retriever: KGLangChainRetriever) -> None:
    chain = retriever | RunnableLambda(format_docs)
    context = chain.invoke("糖尿病挂什么科")
    lines = context.splitlines()
    assert len(lines) == 5 and [line.split("]")[0] for line in lines] == [f"[{n}" for n in range(1, 6)]
    assert lines[0].startswith("[1] 糖尿病") and lines[0].endswith("(cmekg)")


def test_a_grounded_prompt_chain_runs_end_to_end_without_an_llm(retriever: KGLangChainRetriever) -> None:
    prompt = PromptTemplate.from_template("Answer from these facts, citing [n].\n{context}\nQuestion: {question}")
    chain = (
        {"context": retriever | format_docs, "question": RunnablePassthrough()}
        | prompt
        | RunnableLambda(lambda value: value.to_string())
    )
    text = chain.invoke("糖尿病挂什么科")
    assert text.startswith("Answer from these facts") and text.endswith("Question: 糖尿病挂什么科")
    assert "[1] 糖尿病" in text and ("内分泌科" in text or "内科" in text)


def test_missing_langchain_core_gives_an_install_hint() -> None:
    # a fresh interpreter where langchain_core cannot be imported (None in sys.modules blocks it)
    code = (
        "import sys; sys.modules['langchain_core'] = None\n"
        "import kgrag.integrations\n"  # the package itself imports no framework
        "try:\n"
        "    kgrag.integrations.KGLangChainRetriever\n"
        "except ImportError as e:\n"
        "    print(e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "pip install 'kgrag[retrieval]'" in out
