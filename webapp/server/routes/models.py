"""/models: the autoencoders, their layer tables and training cards."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from webapp.autoencoder.answers import ModelDescription
from webapp.server.negotiation import Renderers, Representations, respond
from webapp.server.state import loaded_models
from webapp.server.views.reconstruct import in_reader_language

router = APIRouter(tags=["autoencoder"])

_JSON = Representations(media_types=("application/json",))


@router.get("/models", summary="The autoencoders, their layer tables and training cards",
            response_model=list[ModelDescription])
async def list_models(request: Request) -> Response:
    """Each model's layer table and card; models that failed to load say why.

    A browser navigating here (the nav bar's "Models") gets the same answer as a page.
    """
    models = loaded_models(request)
    answer = [ModelDescription.of(model) for model in models] + [
        ModelDescription.unavailable(name, error) for name, error in models.unavailable.items()
    ]

    def view(described: list[ModelDescription]) -> dict[str, Any]:
        return {"models": [in_reader_language(model.model_dump()) for model in described]}

    def data(described: list[ModelDescription]) -> list[ModelDescription]:
        return described

    return await respond(
        request, Representations(page="models.html", media_types=("application/json",)),
        lambda: answer, Renderers(view=view, data=data),
    )


@router.get("/models/{name}", summary="One autoencoder", response_model=ModelDescription)
async def get_model(request: Request, name: str) -> Response:
    """One model's layer table and card (404 naming the models there are)."""
    model = loaded_models(request).get(name)
    return await respond(request, _JSON, lambda: ModelDescription.of(model),
                         Renderers(data=lambda card: card))
