"""``POST /v1/chat/completions`` and ``GET /v1/models`` in the OpenAI format, so the official
``openai`` client and LangChain's ``ChatOpenAI`` work unchanged.

Retrieval runs on the last user turn; earlier user/assistant turns are the history. The client's
system messages are not passed to the model: kgrag's grounded system prompt (facts as data, cite
[n], say when the KG has nothing) is what keeps answers grounded, and a client's instructions
must not replace it. The response carries kgrag's citations, entities and safety in an extra
``kgrag`` field (and the stream's last chunk) that OpenAI clients ignore.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse

from api.deps import ServiceDep
from api.schemas import ChatCompletionRequest
from api.stream import Piece, answer_dict, start_answer
from kgrag.errors import ConfigError, KGRAGError
from kgrag.kg.graph import KnowledgeGraph

router = APIRouter(prefix="/v1", tags=["openai"])


def _split(body: ChatCompletionRequest) -> tuple[str, list[dict[str, str]]]:
    turns = [m for m in body.messages if m.role in ("user", "assistant")]
    if not turns or turns[-1].role != "user":
        raise ConfigError("messages: the last user or assistant message must be from the user")
    question = turns[-1].text()
    if not question.strip():
        raise ConfigError(f"messages[{len(body.messages) - 1}].content: the question is empty")
    return question, [{"role": m.role, "content": m.text()} for m in turns[:-1]]


@router.get("/models")
async def models(service: ServiceDep) -> dict[str, object]:
    """The one model this service answers with."""
    return {"object": "list", "data": [{"id": service.model.name, "object": "model", "created": 0,
                                        "owned_by": "kgrag"}]}


@router.post("/chat/completions", responses={422: {}, 503: {}})
async def chat_completions(body: ChatCompletionRequest, service: ServiceDep, request: Request) -> object:
    """A chat completion grounded in the KG (streaming with ``stream: true``)."""
    question, history = _split(body)
    config = service.answerer.config(
        body.max_completion_tokens or body.max_tokens, body.temperature or 0.0, body.top_p or 0.95, body.seed
    )
    prepared = await run_in_threadpool(service.answerer.prepare, question, history, top_k=body.top_k, config=config)
    pieces = start_answer(service, prepared, request)
    cid, created, name = f"chatcmpl-{uuid.uuid4().hex[:24]}", int(time.time()), service.model.name
    kg = service.retriever.kg
    if not body.stream:
        async for piece in pieces:
            if piece.answer is not None:
                a = piece.answer
                return {
                    "id": cid, "object": "chat.completion", "created": created, "model": name,
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": a.answer},
                                 "finish_reason": _finish(a.finish_reason), "logprobs": None}],
                    "usage": {"prompt_tokens": a.prompt_tokens, "completion_tokens": a.completion_tokens,
                              "total_tokens": a.prompt_tokens + a.completion_tokens},
                    "kgrag": _extra(kg, answer_dict(kg, a)),
                }
        return None
    return StreamingResponse(_chunks(kg, pieces, cid, created, name), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


def _finish(reason: str) -> str:
    return "length" if reason == "length" else "stop"


def _extra(kg: KnowledgeGraph, body: dict[str, object]) -> dict[str, object]:
    return {k: body[k] for k in ("citations", "entities", "safety", "kg_has_facts", "timings")}


async def _chunks(kg: KnowledgeGraph, pieces: AsyncIterator[Piece], cid: str, created: int, name: str
                  ) -> AsyncIterator[str]:
    def chunk(delta: dict[str, object], finish: str | None = None, **extra: object) -> str:
        body = {"id": cid, "object": "chat.completion.chunk", "created": created, "model": name,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}], **extra}
        return f"data: {json.dumps(body, ensure_ascii=False)}\n\n"

    yield chunk({"role": "assistant", "content": ""})
    try:
        async for piece in pieces:
            if piece.answer is not None:
                a = piece.answer
                usage = {"prompt_tokens": a.prompt_tokens, "completion_tokens": a.completion_tokens,
                         "total_tokens": a.prompt_tokens + a.completion_tokens}
                yield chunk({}, _finish(a.finish_reason), usage=usage, kgrag=_extra(kg, answer_dict(kg, a)))
            elif piece.text:
                yield chunk({"content": piece.text})
    except KGRAGError as exc:
        yield f"data: {json.dumps({'error': {'message': str(exc), 'type': 'server_error'}})}\n\n"
    yield "data: [DONE]\n\n"
