"""The service's own routes: /health, /metrics and the OpenAPI page (/docs)."""

from __future__ import annotations

from typing import Any

import cv2
from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, Field

from webapp import __version__
from webapp.server.negotiation import Renderers, Representations, respond
from webapp.server.workqueue import WorkQueue

router = APIRouter(tags=["service"])


class QueueState(BaseModel):
    depth: int = Field(description="Heavy requests running or waiting now.")
    rejected: int = Field(description="Heavy requests refused (503) since start.")


class HealthAnswer(BaseModel):
    """Is the server up, what does it run on, how busy is it."""

    status: str
    version: str
    engine: str
    queue: QueueState
    providers: dict[str, Any] | None = Field(
        None, description="onnxruntime providers: available, requested, whether CUDA's "
        "libraries were preloaded (cuda_libraries), warnings."
    )
    models: dict[str, dict[str, Any]] | None = Field(
        None, description="Each model's status and the provider it really got."
    )


@router.get("/health", summary="Liveness, version, engine and queue depth",
            response_model=HealthAnswer)
async def health(request: Request) -> Response:
    """Answered on the event loop without waiting for the work queue, so it stays fast
    (and is never refused) while heavy requests are running."""
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
    return await respond(request, Representations(media_types=("application/json",)),
                         lambda: HealthAnswer.model_validate(answer),
                         Renderers(data=lambda health: health))


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
async def metrics(request: Request) -> Response:
    """Requests and latency per route, queue depth, rejections, each model's provider."""
    # Every process's numbers added up when `convlens serve --workers N` runs several.
    body, media_type = request.app.state.metrics.exposition()
    return Response(body, media_type=media_type)


@router.get("/docs", include_in_schema=False)
async def api_docs() -> HTMLResponse:
    """The OpenAPI page, with Swagger UI served from this origin (works offline)."""
    return get_swagger_ui_html(
        openapi_url="/openapi.json",
        title="convlens API",
        swagger_js_url="/static/vendor/swagger-ui/swagger-ui-bundle.js",
        swagger_css_url="/static/vendor/swagger-ui/swagger-ui.css",
        swagger_favicon_url="/static/favicon.svg",
    )
