"""/models: the autoencoders, their layer tables and training cards."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from webapp.server.negotiation import Renderers, Representations, respond
from webapp.server.state import loaded_models

router = APIRouter(tags=["autoencoder"])

_JSON = Representations(media_types=("application/json",))


@router.get("/models", summary="The autoencoders, their layer tables and training cards",
            response_model=list[dict[str, Any]])
async def list_models(request: Request) -> Response:
    """Each model's layer table and card; models that failed to load say why.

    A browser navigating here (the nav bar's "Models") gets the same answer as a page.
    """
    models = loaded_models(request)
    answer = [model.describe() for model in models] + [
        {"name": name, "status": "unavailable", "error": error}
        for name, error in models.unavailable.items()
    ]
    return await respond(
        request, Representations(page="models.html", media_types=("application/json",)),
        lambda: answer, Renderers(view=lambda described: {"models": described},
                                  data=lambda described: described),
    )


@router.get("/models/{name}", summary="One autoencoder", response_model=dict[str, Any])
async def get_model(request: Request, name: str) -> Response:
    """One model's layer table and card (404 naming the models there are)."""
    model = loaded_models(request).get(name)
    return await respond(request, _JSON, model.describe, Renderers(data=lambda card: card))
