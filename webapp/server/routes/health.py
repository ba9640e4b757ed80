"""GET /health: is the server up, what is it running on, how busy is it."""

from __future__ import annotations

from typing import Any

import cv2
from fastapi import APIRouter, Request

from webapp import __version__
from webapp.server.workqueue import WorkQueue

router = APIRouter(tags=["service"])


@router.get("/health", summary="Liveness, version, engine and queue depth")
async def health(request: Request) -> dict[str, Any]:
    # Answered on the event loop without waiting for the work queue, so it stays fast
    # (and never refused) while heavy requests are running.
    queue: WorkQueue = request.app.state.work_queue
    answer: dict[str, Any] = {
        "status": "ok",
        "version": __version__,
        "engine": f"opencv {cv2.__version__}",
        "queue": {"depth": queue.depth, "rejected": queue.rejected},
    }
    models = getattr(request.app.state, "models", None)
    if models is not None:
        answer.update(models.health())
    return answer
