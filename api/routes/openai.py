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
from fastapi.responses import Response, StreamingResponse

from api.deps import ServiceDep
from api.routes.ask import CLIENT_CLOSED
from api.schemas import ChatCompletionRequest
from kgrag.errors import ConfigError, KGRAGError
from kgrag.generation.answer import Answer
from kgrag.generation.pipeline import AnswerEvent, Done, Token, afinal_answer, astream_answer

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
    adapter = service.info.get("adapter") or {}
    return {"object": "list", "data": [{"id": service.model.name, "object": "model", "created": 0,
                                        "owned_by": "kgrag", "adapter": adapter.get("name")}]}


@router.post("/chat/completions", responses={422: {}, 503: {}})
async def chat_completions(body: ChatCompletionRequest, service: ServiceDep, request: Request) -> object:
    """A chat completion grounded in the KG (streaming with ``stream: true``); a client that leaves
    before a whole completion is done gets nothing (an empty 499) and its generation is stopped."""
    question, history = _split(body)
    config = service.answerer.config(
        body.max_completion_tokens or body.max_tokens, body.temperature or 0.0, body.top_p or 0.95, body.seed
    )
    events = astream_answer(service.answerer, service.batcher.submit, question, history, top_k=body.top_k,
                            config=config, disconnected=request.is_disconnected)
    cid, created, name = f"chatcmpl-{uuid.uuid4().hex[:24]}", int(time.time()), service.model.name
    if not body.stream:
        a = await afinal_answer(events)
        if a is None:
            return Response(status_code=CLIENT_CLOSED)
        return {
            "id": cid, "object": "chat.completion", "created": created, "model": name,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": a.answer},
                         "finish_reason": _finish(a.finish_reason), "logprobs": None}],
            "usage": _usage(a), "kgrag": _extra(a),
        }
    await anext(events)  # the meta event: prepared and queued, so errors up to here are still HTTP errors
    return StreamingResponse(_chunks(events, cid, created, name), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


def _finish(reason: str) -> str:
    return "length" if reason == "length" else "stop"


def _usage(a: Answer) -> dict[str, int]:
    return {"prompt_tokens": a.prompt_tokens, "completion_tokens": a.completion_tokens,
            "total_tokens": a.prompt_tokens + a.completion_tokens}


def _extra(a: Answer) -> dict[str, object]:
    """kgrag's part of :meth:`Answer.to_dict`, in the ``kgrag`` field."""
    body = a.to_dict()
    return {k: body[k] for k in ("citations", "entities", "safety", "kg_has_facts", "timings", "check")}


async def _chunks(events: AsyncIterator[AnswerEvent], cid: str, created: int, name: str) -> AsyncIterator[str]:
    def chunk(delta: dict[str, object], finish: str | None = None, **extra: object) -> str:
        body = {"id": cid, "object": "chat.completion.chunk", "created": created, "model": name,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}], **extra}
        return f"data: {json.dumps(body, ensure_ascii=False)}\n\n"

    yield chunk({"role": "assistant", "content": ""})
    try:
        async for event in events:
            if isinstance(event, Done):
                a = event.answer
                yield chunk({}, _finish(a.finish_reason), usage=_usage(a), kgrag=_extra(a))
            elif isinstance(event, Token):
                yield chunk({"content": event.text})
    except KGRAGError as exc:
        yield f"data: {json.dumps({'error': {'message': str(exc), 'type': 'server_error'}})}\n\n"
    yield "data: [DONE]\n\n"
