"""Request and response bodies of the API (kept apart: requests validate, responses document)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from kgrag.limits import MAX_HISTORY_TURNS, MAX_NEW_TOKENS, MAX_QUESTION_CHARS, MAX_TOP_K, MAX_TURN_CHARS


class Turn(BaseModel):
    """An earlier turn of the conversation."""

    model_config = ConfigDict(extra="forbid")
    role: Literal["user", "assistant"]
    content: str = Field(min_length=1, max_length=MAX_TURN_CHARS)


class AskRequest(BaseModel):
    """``POST /ask``."""

    model_config = ConfigDict(extra="forbid")
    question: str = Field(min_length=1, max_length=MAX_QUESTION_CHARS, description="the question, zh or en")
    history: list[Turn] = Field(default_factory=list, max_length=MAX_HISTORY_TURNS, description="earlier turns")
    top_k: int | None = Field(None, ge=1, le=MAX_TOP_K, description="facts given to the model")
    max_new_tokens: int | None = Field(None, ge=1, le=MAX_NEW_TOKENS, description="answer length cap in tokens")
    temperature: float = Field(0.0, ge=0.0, le=2.0, description="0: greedy")
    stream: bool = Field(False, description="answer as server-sent events")

    @field_validator("question")
    @classmethod
    def _not_blank(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("question must not be empty or whitespace only")
        return v


class CitationOut(BaseModel):
    n: int
    head: str
    relation: str
    tail: str
    source: str
    provenance: str
    fact: int
    cited: bool = Field(description="the answer refers to [n]")


class EntityOut(BaseModel):
    id: str
    name: str
    mention: str
    method: str
    confidence: float


class RedFlagOut(BaseModel):
    kind: str
    matched: str


class SafetyOut(BaseModel):
    emergency: bool
    red_flags: list[RedFlagOut]
    advice: str | None
    disclaimer: str


class SentenceCheckOut(BaseModel):
    text: str
    cites: list[int] = Field(description="the [n] the sentence names")
    supported_by: list[int] = Field(description="the cited facts whose tail (or head) the sentence names")
    status: Literal["supported", "unsupported", "neutral"]


class CheckOut(BaseModel):
    """The model's answer checked against the facts it cites."""

    supported_share: float | None = Field(description="supported / (supported + unsupported) sentences; "
                                          "null when no sentence can be judged")
    sentences: list[SentenceCheckOut]
    composed: bool = Field(description="the answer was composed from the facts: the model's did not pass the check")
    reason: Literal["echo", "cites_nothing", "contradiction"] | None
    model_answer: str | None = Field(description="the model's own answer, when composed")


class AskResponse(BaseModel):
    """The answer with the facts it was given (``cited`` marks those it refers to)."""

    answer: str
    citations: list[CitationOut]
    entities: list[EntityOut]
    safety: SafetyOut
    model: str
    lang: str
    kg_has_facts: bool
    finish_reason: str
    usage: dict[str, int]
    timings: dict[str, float]
    check: CheckOut


class ChatMessageIn(BaseModel):
    """An OpenAI chat message (text content, or a list of text parts)."""

    model_config = ConfigDict(extra="allow")
    role: Literal["system", "user", "assistant", "developer", "tool"]
    content: str | list[dict[str, Any]] | None = None

    def text(self) -> str:
        if isinstance(self.content, list):
            return "".join(str(p.get("text", "")) for p in self.content if p.get("type") == "text")
        return self.content or ""


class ChatCompletionRequest(BaseModel):
    """``POST /v1/chat/completions`` (the OpenAI format; unknown fields are accepted and ignored)."""

    model_config = ConfigDict(extra="allow")
    model: str | None = None
    messages: list[ChatMessageIn] = Field(min_length=1, max_length=MAX_HISTORY_TURNS + 2)
    stream: bool = False
    max_tokens: int | None = Field(None, ge=1, le=MAX_NEW_TOKENS)
    max_completion_tokens: int | None = Field(None, ge=1, le=MAX_NEW_TOKENS)
    temperature: float | None = Field(None, ge=0.0, le=2.0)
    top_p: float | None = Field(None, gt=0.0, le=1.0)
    n: int = Field(1, ge=1, le=1, description="only 1 is supported")
    seed: int | None = None
    top_k: int | None = Field(None, ge=1, le=MAX_TOP_K, description="kgrag: facts given to the model")
