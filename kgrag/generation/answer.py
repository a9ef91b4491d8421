"""Question → retrieval → safety → grounded prompt → model → check → answer with citations.

:class:`Answerer` does the CPU part (:meth:`Answerer.prepare`) and the assembling of the result
(:meth:`Answerer.finish`) apart from generation, so the service can put the generation of many
questions into one GPU batch (:mod:`kgrag.generation.batching`) in between, and stream it; the
steps run together in :mod:`kgrag.generation.pipeline`. :meth:`PreparedAnswer.to_dict` and
:meth:`Answer.to_dict` are their JSON.

Example:
    >>> answerer = Answerer(KGRetriever.load("kg/store/default"), load_chat_model(path))
    >>> a = answerer.answer("糖尿病应该挂什么科？")
    >>> a.answer, [(c.n, c.head, c.relation, c.tail) for c in a.citations][:2]
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from kgrag.config import GENERATORS, Settings
from kgrag.errors import ConfigError
from kgrag.generation.checking import AnswerCheck, apply_check, tail_names
from kgrag.generation.pipeline import final_answer, stream_answer
from kgrag.generation.prompts import Citation, GroundedPrompt, build_grounded_prompt, cited_numbers
from kgrag.generation.safety import SafetyAssessment, assess
from kgrag.generation.types import ChatModel, FinishReason, GenerationConfig, Message
from kgrag.limits import MAX_HISTORY_TURNS, MAX_TOP_K, MAX_TURN_CHARS
from kgrag.retrieval.linking import EntityLink
from kgrag.retrieval.normalize import validate_question
from kgrag.retrieval.retriever import KGRetriever, RetrievalResult, entity_dict

#: Most earlier turns a request may carry, and most characters in one of them.


@dataclass(frozen=True, slots=True)
class AnswerCitation(Citation):
    """A fact given to the model as ``[n]``; ``cited`` when the answer refers to it."""

    cited: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True)
class PreparedAnswer:
    """Everything before generation: the retrieval, the safety assessment and the prompt."""

    question: str
    lang: str
    history: tuple[Message, ...]
    retrieval: RetrievalResult
    safety: SafetyAssessment
    prompt: GroundedPrompt
    config: GenerationConfig
    timings_ms: dict[str, float] = field(default_factory=dict)
    model: str = ""

    @property
    def messages(self) -> tuple[Message, ...]:
        return tuple(self.prompt.messages)

    def to_dict(self) -> dict[str, object]:
        """What is known before generation, as JSON (the stream's ``meta`` event): the linked
        entities, the safety assessment, the numbered facts, the model and the language."""
        return {
            "entities": self.retrieval.entity_dicts(),
            "safety": safety_dict(self.safety),
            "citations": [{"n": c.n, "head": c.head, "relation": c.relation, "tail": c.tail, "source": c.source,
                           "provenance": c.provenance, "head_original": c.head_original,
                           "tail_original": c.tail_original} for c in self.prompt.citations],
            "model": self.model,
            "lang": self.lang,
        }


@dataclass(frozen=True)
class Answer:
    """A finished answer: the text (emergency advice first when there is any), the facts it was
    given with which it cites, the linked entities, the safety assessment and figures."""

    question: str
    lang: str
    answer: str
    citations: tuple[AnswerCitation, ...]
    entities: tuple[EntityLink, ...]
    safety: SafetyAssessment
    model: str
    finish_reason: FinishReason
    prompt_tokens: int
    completion_tokens: int
    timings_ms: dict[str, float]
    kg_has_facts: bool
    entity_names: tuple[str, ...] = ()
    check: AnswerCheck | None = None
    """The model's words checked against the facts; ``check.composed`` when ``answer`` was composed from them."""

    def to_dict(self) -> dict[str, object]:
        """The answer as JSON: the ``/ask`` body (and the stream's ``done`` event, ``kgrag ask --json``)."""
        return {
            "answer": self.answer,
            "citations": [c.as_dict() for c in self.citations],
            "entities": [entity_dict(e, name) for e, name in zip(self.entities, self.entity_names, strict=True)],
            "safety": safety_dict(self.safety),
            "model": self.model,
            "lang": self.lang,
            "kg_has_facts": self.kg_has_facts,
            "finish_reason": self.finish_reason,
            "usage": {"prompt_tokens": self.prompt_tokens, "completion_tokens": self.completion_tokens},
            "timings": self.timings_ms,
            "check": (self.check or AnswerCheck(())).to_dict(),
        }


def safety_dict(s: SafetyAssessment) -> dict[str, object]:
    """A safety assessment as JSON: ``emergency``, the ``red_flags`` matched, ``advice``, ``disclaimer``."""
    return {
        "emergency": s.emergency,
        "red_flags": [{"kind": f.kind, "matched": f.text} for f in s.red_flags],
        "advice": s.advice,
        "disclaimer": s.disclaimer,
    }


def validate_history(history: Sequence[Message | dict[str, Any]]) -> tuple[Message, ...]:
    """Earlier turns as Messages: user/assistant only, non-empty, within the length caps.

    Raises:
        ConfigError: naming the turn (``history[i]``) and what is wrong with it.
    """
    if len(history) > MAX_HISTORY_TURNS:
        raise ConfigError(f"history has {len(history)} turns; at most {MAX_HISTORY_TURNS} are accepted")
    out: list[Message] = []
    for i, turn in enumerate(history):
        role: object
        content: object
        if isinstance(turn, Message):
            role, content = turn.role, turn.content
        else:
            role, content = turn.get("role"), turn.get("content")
        if role not in ("user", "assistant"):
            raise ConfigError(f"history[{i}].role must be 'user' or 'assistant'; got {role!r}")
        if not isinstance(content, str) or not content.strip():
            raise ConfigError(f"history[{i}].content must be non-empty text")
        if len(content) > MAX_TURN_CHARS:
            raise ConfigError(f"history[{i}].content has {len(content)} characters; at most {MAX_TURN_CHARS}")
        out.append(Message(role, content))  # type: ignore[arg-type]
    return tuple(out)


class Answerer:
    """Answers questions from one retriever and one chat model.

    Args:
        retriever: the KG retriever.
        model: the chat model (its ``max_context`` bounds the prompt).
        top_k: facts retrieved for the prompt by default.
        max_new_tokens: answer length cap by default.
        repetition_penalty: for every generation (see :class:`GenerationConfig`).
    """

    def __init__(
        self, retriever: KGRetriever, model: ChatModel, *, top_k: int = 8, max_new_tokens: int = 384,
        repetition_penalty: float = 1.1,
    ) -> None:
        if not 1 <= top_k <= MAX_TOP_K:
            raise ConfigError(f"top_k must be between 1 and {MAX_TOP_K}; got {top_k}")
        self.retriever = retriever
        self.model = model
        self.top_k = top_k
        self.max_new_tokens = max_new_tokens
        self.repetition_penalty = repetition_penalty

    @classmethod
    def from_settings(cls, retriever: KGRetriever, model: ChatModel, settings: Settings) -> Answerer:
        """An answerer with the service's defaults (``top_k``, ``max_new_tokens``, ``repetition_penalty``)."""
        return cls(retriever, model, top_k=settings.top_k, max_new_tokens=settings.max_new_tokens,
                   repetition_penalty=settings.repetition_penalty)

    def prepare(
        self,
        question: str,
        history: Sequence[Message | dict[str, Any]] = (),
        *,
        top_k: int | None = None,
        config: GenerationConfig | None = None,
    ) -> PreparedAnswer:
        """Retrieve, assess safety and build the prompt for ``question`` after ``history``.

        A follow-up question that names no entity ("and how is it treated?") is retrieved together
        with the earlier user turns, so the conversation's entity still grounds it.

        Raises:
            QuestionError: empty, whitespace-only or over-long question.
            ConfigError: bad history, ``top_k`` or generation settings; a prompt that cannot fit.
        """
        t0 = time.perf_counter()
        question = validate_question(question)
        turns = validate_history(history)
        config = config or self.config()
        if config.max_new_tokens >= self.model.max_context:
            raise ConfigError(
                f"max_new_tokens must be below the model's context of {self.model.max_context} tokens; "
                f"got {config.max_new_tokens}"
            )
        k = top_k or self.top_k
        retrieval = self.retriever.retrieve(question, k)
        if not retrieval.entities and any(t.role == "user" for t in turns):
            earlier = " ".join(t.content for t in turns if t.role == "user")[-400:]
            followup = self.retriever.retrieve(f"{earlier} {question}", k)
            if followup.entities:
                retrieval = followup
        t_retrieve = time.perf_counter()
        safety = assess(question, retrieval.lang, turns)
        prompt = build_grounded_prompt(
            question, retrieval.facts, lang=retrieval.lang, history=turns, count_tokens=self.model.count_tokens,
            max_prompt_tokens=self.model.max_context - config.max_new_tokens, safety=safety,
        )
        t_prompt = time.perf_counter()
        timings = {"retrieve": 1000 * (t_retrieve - t0), "prompt": 1000 * (t_prompt - t_retrieve)}
        return PreparedAnswer(question, retrieval.lang, turns, retrieval, safety, prompt, config, timings,
                              model=self.model.name)

    def config(self, max_new_tokens: int | None = None, temperature: float = 0.0, top_p: float = 0.95,
               seed: int | None = None) -> GenerationConfig:
        """Generation settings with this answerer's defaults filled in."""
        return GenerationConfig(max_new_tokens=max_new_tokens or self.max_new_tokens, temperature=temperature,
                                top_p=top_p, seed=seed, repetition_penalty=self.repetition_penalty)

    def lead_text(self, prepared: PreparedAnswer) -> str:
        """Text shown before the model's words: the emergency advice, when the question has red flags."""
        return f"{prepared.safety.advice}\n\n" if prepared.safety.emergency and prepared.safety.advice else ""

    def finish(
        self,
        prepared: PreparedAnswer,
        text: str,
        finish_reason: FinishReason,
        prompt_tokens: int,
        completion_tokens: int,
        generate_ms: float,
        first_token_ms: float | None = None,
    ) -> Answer:
        """The :class:`Answer` for ``prepared`` once the model produced ``text``, checked against its
        facts (:func:`~kgrag.generation.checking.apply_check`): an echo of the facts block, an answer
        citing nothing, or one contradicting a yes/no fact is replaced by one composed from the facts,
        after the same emergency advice."""
        kg = getattr(self.retriever, "kg", None)  # None: an answerer finishing without a retriever (tests)
        names = {c.n: tail_names(kg, c.fact) for c in prepared.prompt.citations} if kg is not None else {}
        text, check = apply_check(text.strip(), prepared.prompt.citations, lang=prepared.lang, names=names)
        cited = cited_numbers(text)
        citations = tuple(_citation(c, c.n in cited) for c in prepared.prompt.citations)
        timings = {**prepared.timings_ms, "generate": generate_ms}
        if first_token_ms is not None:
            timings["first_token"] = first_token_ms
        return Answer(
            question=prepared.question, lang=prepared.lang, answer=self.lead_text(prepared) + text,
            citations=citations, entities=tuple(prepared.retrieval.entities), safety=prepared.safety,
            model=self.model.name, finish_reason=finish_reason, prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens, timings_ms={k: round(v, 2) for k, v in timings.items()},
            kg_has_facts=bool(prepared.retrieval.facts), entity_names=tuple(prepared.retrieval.entity_names),
            check=check,
        )

    def answer(
        self,
        question: str,
        history: Sequence[Message | dict[str, Any]] = (),
        *,
        top_k: int | None = None,
        config: GenerationConfig | None = None,
    ) -> Answer:
        """Prepare, generate on the model directly (no batching) and finish
        (:func:`~kgrag.generation.pipeline.stream_answer`, collected)."""
        answer = final_answer(stream_answer(self, question, history, top_k=top_k, config=config))
        assert answer is not None  # only a consumer that stops early goes without the answer
        return answer


def load_model(settings: Settings) -> ChatModel:
    """The generator ``settings.generator`` picks: ``hf``, the model ``settings`` name (prepared name or
    folder) with its adapter, device, format and remote-code permission, loaded; ``openai``, the
    OpenAI-compatible server at ``settings.openai_base_url`` (:mod:`kgrag.generation.upstream`).

    Raises:
        ConfigError: an unknown generator (the valid ones listed), an unknown or unprepared model,
            refused remote code, a bad device or adapter.
    """
    check_generator(settings)
    if settings.generator == "openai":
        from kgrag.generation.upstream import OpenAIChatModel

        assert settings.openai_base_url and settings.openai_model  # Settings refuses openai without them
        key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else None
        return OpenAIChatModel(settings.openai_base_url, settings.openai_model, api_key=key,
                               timeout_s=settings.openai_timeout_s, max_context=settings.openai_max_context)

    from kgrag.generation.adapters import resolve_adapter
    from kgrag.generation.models import load_chat_model
    from kgrag.generation.weights import resolve_model

    return load_chat_model(
        resolve_model(settings.model, settings.model_dir), device=settings.device,
        adapter=resolve_adapter(settings.adapter, settings.model),
        allow_remote_code=settings.allow_remote_code, prompt_format=settings.prompt_format,
    )


def check_generator(settings: Settings) -> None:
    """The quick check before serving: a known generator; for ``hf`` a prepared model (no upstream is
    called: a server that is down shows as 503 on the requests, not as a refused start).

    Raises:
        ConfigError: an unknown generator, or the ``hf`` model is not prepared (with the command that fixes it).
    """
    if settings.generator not in GENERATORS:
        raise ConfigError(
            f"unknown generator {settings.generator!r}; KGRAG_GENERATOR is one of {', '.join(GENERATORS)}"
        )
    if settings.generator == "hf":
        from kgrag.generation.weights import resolve_model

        resolve_model(settings.model, settings.model_dir)


def _citation(c: Citation, cited: bool) -> AnswerCitation:
    return AnswerCitation(**asdict(c), cited=cited)
