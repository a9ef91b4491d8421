"""kgrag's whole answer chain (retriever → grounded prompt → model) as a LangChain runnable, and
kgrag's hosted model as a LangChain chat model.

Example:
    >>> chain = answer_chain(answerer)           # a Runnable
    >>> out = chain.invoke("What are the side effects of aspirin?")
    >>> out["answer"], out["citations"][0]
    >>> chain.batch(["糖尿病应该挂什么科？", {"question": "And its symptoms?", "history": [...]}])
    >>> KGChatModel(model=answerer.model).invoke("Hello")   # the bare model, no retrieval
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from kgrag.errors import ConfigError
from kgrag.generation.answer import Answer, Answerer, PreparedAnswer
from kgrag.generation.pipeline import final_answer, stream_prepared
from kgrag.generation.types import GenerationConfig, GenerationRequest, Message

try:
    from langchain_core.callbacks import CallbackManagerForLLMRun
    from langchain_core.language_models.chat_models import BaseChatModel
    from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
    from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
    from langchain_core.runnables import Runnable, RunnableLambda
except ImportError as exc:
    raise ImportError(
        "kgrag.integrations.langchain_chain needs langchain-core; install it with `pip install 'kgrag[retrieval]'`"
    ) from exc

_ROLES = {"system": "system", "human": "user", "ai": "assistant"}


def to_messages(messages: Sequence[BaseMessage]) -> list[Message]:
    """LangChain messages as kgrag messages (system, human → user, ai → assistant).

    Raises:
        ValueError: a message type other than system, human or ai (naming its index).
    """
    out = []
    for i, m in enumerate(messages):
        if m.type not in _ROLES:
            raise ConfigError(f"messages[{i}] is a {m.type!r} message; only system, human and ai are supported")
        out.append(Message(_ROLES[m.type], m.content if isinstance(m.content, str) else str(m.content)))  # type: ignore[arg-type]
    return out


class KGChatModel(BaseChatModel):
    """A kgrag :class:`ChatModel` (the hosted, possibly fine-tuned model) as a LangChain chat model.

    Args:
        model: the loaded kgrag chat model.
        max_new_tokens, temperature: generation settings.
    """

    model: Any
    max_new_tokens: int = 256
    temperature: float = 0.0

    @property
    def _llm_type(self) -> str:
        return "kgrag"

    def _config(self) -> GenerationConfig:
        return GenerationConfig(max_new_tokens=self.max_new_tokens, temperature=self.temperature)

    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                  run_manager: CallbackManagerForLLMRun | None = None, **kwargs: Any) -> ChatResult:
        gen = self.model.generate(to_messages(messages), self._config())
        usage = {"input_tokens": gen.prompt_tokens, "output_tokens": gen.completion_tokens,
                 "total_tokens": gen.prompt_tokens + gen.completion_tokens}
        msg = AIMessage(content=gen.text, usage_metadata=usage, response_metadata={"finish_reason": gen.finish_reason})
        return ChatResult(generations=[ChatGeneration(message=msg)])

    def _stream(self, messages: list[BaseMessage], stop: list[str] | None = None,
                run_manager: CallbackManagerForLLMRun | None = None, **kwargs: Any) -> Iterator[ChatGenerationChunk]:
        request = GenerationRequest(to_messages(messages), self._config())
        try:
            for event in self.model.stream_batch([request]):
                if event.text:
                    chunk = ChatGenerationChunk(message=AIMessageChunk(content=event.text))
                    if run_manager:
                        run_manager.on_llm_new_token(event.text, chunk=chunk)
                    yield chunk
        finally:
            request.cancelled.set()  # a consumer that stops early stops the generation


def _prepare(answerer: Answerer, item: str | dict[str, Any]) -> PreparedAnswer:
    if isinstance(item, str):
        return answerer.prepare(item)
    return answerer.prepare(item["question"], item.get("history", ()), top_k=item.get("top_k"))


def _answer_dict(answer: Answer) -> dict[str, Any]:
    """The chain's output: the part of :meth:`Answer.to_dict` a chain needs, entities as their ids."""
    body: dict[str, Any] = answer.to_dict()
    return {
        "answer": body["answer"],
        "citations": body["citations"],
        "entities": [e["id"] for e in body["entities"]],
        "emergency": body["safety"]["emergency"],
        "disclaimer": body["safety"]["disclaimer"],
        "kg_has_facts": body["kg_has_facts"],
        "model": body["model"],
    }


def answer_chain(answerer: Answerer) -> Runnable[Any, dict[str, Any]]:
    """The chain ``question → retrieve + safety + grounded prompt → model → answer with citations``.

    Input: a question, or ``{"question", "history"?, "top_k"?}``. Output: ``{"answer", "citations",
    "entities", "emergency", "disclaimer", "kg_has_facts", "model"}``. ``batch`` runs the prompts
    through the model one by one (use the service for GPU batching).
    """

    def generate(prepared: PreparedAnswer) -> dict[str, Any]:
        answer = final_answer(stream_prepared(answerer, prepared))  # the pipeline after its prepare step
        assert answer is not None  # consumed whole: it always ends with the answer
        return _answer_dict(answer)

    prepare: Runnable[Any, PreparedAnswer] = RunnableLambda(lambda item: _prepare(answerer, item)).with_config(
        run_name="kgrag_retrieve_and_prompt"
    )
    return prepare | RunnableLambda(generate).with_config(run_name="kgrag_generate")
