"""``GET /health`` (the process is up), ``GET /ready`` (what is loaded, part by part) and the web page."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, JSONResponse

router = APIRouter(tags=["meta"])
STATIC = Path(__file__).resolve().parents[1] / "static"


@router.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/ready")
async def ready(request: Request) -> JSONResponse:
    """200 once the KG and the model are loaded and the batcher runs (the index may still be on its way);
    503 before. Both say what each part is doing: ``parts: {kg, model, index}``
    (``"index": "building 43%: …"``)."""
    service = getattr(request.app.state, "service", None)
    startup = getattr(request.app.state, "startup", None)
    if startup is not None:
        parts = startup.parts()
    else:  # a service loaded before the app (tests)
        parts = {"kg": "ready", "model": "ready", "index": "ready" if service and service.info.get("index") else "none"}
    if service is None or not service.batcher.running or not service.batcher.ready.is_set():
        return JSONResponse({"ready": False, "parts": parts}, status_code=503, headers={"Retry-After": "5"})
    stats = service.batcher.stats
    return JSONResponse({"ready": True, "parts": parts, **service.info, "batcher": {
        "max_batch": service.batcher.max_batch, "max_queue": service.batcher.max_queue, "waiting": stats.waiting,
        "batches": stats.batches, "requests": stats.requests, "cancelled": stats.cancelled,
        "largest_batch": stats.largest_batch}})


@router.get("/", include_in_schema=False)
async def page() -> FileResponse:
    """The chat page (one static file: no build step)."""
    return FileResponse(STATIC / "index.html", media_type="text/html; charset=utf-8")
