"""``/v1/chat/completions`` through the official ``openai`` client and LangChain's ``ChatOpenAI``."""

from __future__ import annotations

import pytest

openai = pytest.importorskip("openai")


@pytest.fixture(scope="module")
def oai(live_server):  # type: ignore[no-untyped-def]
    return openai.OpenAI(base_url=f"{live_server.url}/v1", api_key="not-needed", max_retries=0)


def test_the_official_client_gets_a_grounded_completion(oai) -> None:  # type: ignore[no-untyped-def]
    r = oai.chat.completions.create(
        model="kgrag", max_tokens=24,
        messages=[{"role": "system", "content": "You are terse."},
                  {"role": "user", "content": "What are the side effects of aspirin?"}],
    )
    assert r.object == "chat.completion" and r.choices[0].message.role == "assistant"
    assert r.choices[0].message.content.strip() and r.choices[0].finish_reason in ("stop", "length")
    assert r.usage.completion_tokens <= 24 and r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens
    extra = r.model_extra["kgrag"]
    ids = [e["id"] for e in extra["entities"]]  # the dictionary's aspirin and its CMeKG twin
    assert "cmekg:阿司匹林" in ids and set(ids) <= {"cmekg:阿司匹林", "drugs:DB00945"}
    assert extra["citations"][0]["relation"] == "side effect"  # kept on its products (拜阿司匹灵 …)


def test_streaming_chunks_join_to_the_answer(oai) -> None:  # type: ignore[no-untyped-def]
    stream = oai.chat.completions.create(
        model="kgrag", max_tokens=16, stream=True,
        messages=[{"role": "user", "content": "What are the symptoms of diabetes?"}],
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text.strip() and chunks[-1].choices[0].finish_reason in ("stop", "length")


def test_multi_turn_and_bad_roles(oai) -> None:  # type: ignore[no-untyped-def]
    r = oai.chat.completions.create(
        model="kgrag", max_tokens=8,
        messages=[{"role": "user", "content": "What is hypertension?"},
                  {"role": "assistant", "content": "High blood pressure."},
                  {"role": "user", "content": "What are its symptoms?"}],
    )
    assert r.model_extra["kgrag"]["citations"]
    with pytest.raises(openai.UnprocessableEntityError, match="last user"):
        oai.chat.completions.create(model="kgrag", messages=[{"role": "assistant", "content": "hi"}])
    with pytest.raises(openai.UnprocessableEntityError, match="messages"):
        oai.chat.completions.create(model="kgrag", messages=[{"role": "wizard", "content": "hi"}])


def test_langchain_chat_openai_works_unchanged(live_server) -> None:
    lc = pytest.importorskip("langchain_openai")
    chat = lc.ChatOpenAI(base_url=f"{live_server.url}/v1", api_key="not-needed", model="kgrag", max_tokens=12,
                         max_retries=0)
    msg = chat.invoke("What are the symptoms of diabetes?")
    assert isinstance(msg.content, str) and msg.content.strip()
    assert "".join(c.content for c in chat.stream("What is hypertension?")).strip()
