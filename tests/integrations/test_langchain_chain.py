"""The whole answer chain as a LangChain runnable, and the hosted model as a LangChain chat model."""

from __future__ import annotations

import pytest

pytest.importorskip("langchain_core")

from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage  # noqa: E402

from kgrag.errors import ConfigError
from kgrag.generation.answer import Answerer  # noqa: E402
from kgrag.integrations.langchain_chain import KGChatModel, answer_chain, to_messages  # noqa: E402


@pytest.fixture(scope="module")
def answerer(default_retriever, small_chat_model) -> Answerer:  # type: ignore[no-untyped-def]
    return Answerer(default_retriever, small_chat_model, top_k=5, max_new_tokens=16)


def test_the_chain_answers_with_the_facts_it_was_given(answerer: Answerer) -> None:
    out = answer_chain(answerer).invoke("What are the side effects of aspirin?")
    assert out["answer"].strip() and out["kg_has_facts"] and len(out["citations"]) <= 5
    # the dictionary's aspirin may be linked beside its CMeKG twin
    assert "cmekg:阿司匹林" in out["entities"] and set(out["entities"]) <= {"cmekg:阿司匹林", "drugs:DB00945"}
    assert out["citations"][0]["relation"] == "side effect"


def test_the_chain_batches_and_takes_history(answerer: Answerer) -> None:
    outs = answer_chain(answerer).batch([
        "糖尿病应该挂什么科？",
        {"question": "What are its symptoms?", "history": [{"role": "user", "content": "What is hypertension?"},
                                                           {"role": "assistant", "content": "High blood pressure."}]},
    ])
    assert outs[0]["citations"][0]["head"] == "糖尿病"
    assert outs[1]["citations"] and any("高血压" in e or "hypertens" in e.lower() for e in outs[1]["entities"])


def test_the_model_is_a_langchain_chat_model_that_streams(answerer: Answerer) -> None:
    chat = KGChatModel(model=answerer.model, max_new_tokens=8)
    msg = chat.invoke([SystemMessage("Be brief."), HumanMessage("What is the capital of France?")])
    assert isinstance(msg, AIMessage) and msg.content.strip() and msg.usage_metadata["output_tokens"] <= 8
    assert "".join(c.content for c in chat.stream("Say hello.")) .strip()


def test_unsupported_message_types_are_named() -> None:
    with pytest.raises(ConfigError, match=r"messages\[0\] is a 'tool' message"):
        to_messages([ToolMessage("x", tool_call_id="1")])
