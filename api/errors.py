"""One place that turns errors into HTTP answers: 422 names the field, domain errors keep their
message, anything else is a 500 with an id to find it in the log — never a stack trace."""

from __future__ import annotations

import logging
import uuid

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from kgrag.errors import (
    ConfigError,
    EntityNotFoundError,
    KGRAGError,
    QuestionError,
    QueueFullError,
    UpstreamResponseError,
    UpstreamUnavailableError,
)

log = logging.getLogger(__name__)


def error_body(message: str, type_: str, param: str | None = None, code: str | None = None) -> dict[str, object]:
    """The OpenAI error shape, used by every route so one client handles all of them."""
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


def _field(loc: tuple[object, ...]) -> str:
    parts = [str(p) for p in loc if p != "body"]
    return ".".join(parts) or "body"


async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    errors = exc.errors()
    first = errors[0] if errors else {"loc": ("body",), "msg": "invalid request"}
    field = _field(tuple(first.get("loc", ("body",))))
    msg = str(first.get("msg", "invalid value"))
    if first.get("type") == "json_invalid":
        msg = "the request body is not valid JSON in UTF-8"
    details = [{"field": _field(tuple(e.get("loc", ()))), "message": str(e.get("msg"))} for e in errors]
    body = error_body(f"{field}: {msg}", "invalid_request_error", field)
    body["detail"] = details
    return JSONResponse(body, status_code=422)


async def domain_error(request: Request, exc: KGRAGError) -> JSONResponse:
    if isinstance(exc, QueueFullError):
        return JSONResponse(
            error_body(str(exc), "server_busy", code="queue_full"), status_code=503,
            headers={"Retry-After": str(exc.retry_after)},
        )
    if isinstance(exc, UpstreamUnavailableError | UpstreamResponseError):  # the generating server (KGRAG_GENERATOR)
        log.error("request %s: %s", request.url.path, exc)
        unavailable = isinstance(exc, UpstreamUnavailableError)
        return JSONResponse(error_body(str(exc), "upstream_error", code="upstream_unavailable" if unavailable
                                       else "bad_upstream_response"), status_code=503 if unavailable else 502,
                            headers={"Retry-After": "5"} if unavailable else None)
    if isinstance(exc, EntityNotFoundError):
        return JSONResponse(error_body(str(exc), "not_found"), status_code=404)
    if isinstance(exc, QuestionError | ConfigError):
        param = "question" if isinstance(exc, QuestionError) else None
        return JSONResponse(error_body(str(exc), "invalid_request_error", param), status_code=422)
    log.error("request %s failed: %s", request.url.path, exc)
    return JSONResponse(error_body(str(exc), "server_error"), status_code=500)


async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    if exc.status_code == 400 and "parsing the body" in str(exc.detail):  # FastAPI: a body it cannot decode
        body = error_body("body: the request body is not valid JSON in UTF-8", "invalid_request_error", "body")
        return JSONResponse(body, status_code=422)
    return JSONResponse(error_body(str(exc.detail), "http_error"), status_code=exc.status_code,
                        headers=getattr(exc, "headers", None))


async def unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    ref = uuid.uuid4().hex[:12]
    log.exception("unexpected error %s on %s", ref, request.url.path)
    return JSONResponse(error_body(f"internal error (reference {ref})", "server_error"), status_code=500)


def install(app: FastAPI) -> None:
    """Register the handlers on ``app``."""
    app.add_exception_handler(RequestValidationError, validation_error)  # type: ignore[arg-type]
    app.add_exception_handler(KGRAGError, domain_error)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, http_error)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, unexpected_error)
