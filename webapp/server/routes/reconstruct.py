"""/reconstruct: draw a digit (the page) or send one (the API), and see what an autoencoder
keeps of it; /samples: the held-out digits of the lesson's figure.

API clients get JSON (or a PNG); the page (htmx) gets a fragment made from the same core
call; `webapp.server.negotiation.respond` decides which.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from webapp.autoencoder.answers import (
    BatchAnswer,
    HeldOutDigit,
    ReconstructionAnswer,
)
from webapp.autoencoder.reconstruction import (
    PixelsBatchRequest,
    PixelsRequest,
    Reconstruction,
    ReconstructOptions,
    is_batch,
    reconstruct_drawing,
    reconstruct_pixel_batch,
    reconstruct_pixels,
)
from webapp.errors import InvalidInput
from webapp.server.bodies import media_type, read_form, read_json, validated
from webapp.server.negotiation import Renderers, Representations, respond, wants_fragment
from webapp.server.openapi import reference
from webapp.server.state import app_settings, loaded_models, work_queue
from webapp.server.views.reconstruct import (
    held_out_digits,
    in_reader_language,
    layer_table,
    picture_of_output,
    view_of_every_model,
)
from webapp.translation import gettext as _

router = APIRouter(tags=["autoencoder"])

REQUEST_MODELS = (PixelsRequest, PixelsBatchRequest)
"""The JSON bodies this module reads by hand, for `webapp.server.openapi`."""

_OPENAPI = {
    "requestBody": {
        # Not marked "required": openapi-python-client then writes an annotation it never
        # imports for a body of several media types (its issue 1451). The route still
        # refuses a missing body with a 422 naming it.
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["image"],
                    "properties": {
                        "image": {"type": "string", "format": "binary",
                                  "description": "A drawing of a digit, any size."},
                        **ReconstructOptions.model_json_schema()["properties"],
                    },
                }
            },
            "application/json": {"schema": {"oneOf": [reference(PixelsRequest),
                                                      reference(PixelsBatchRequest)]}},
        },
    },
    "responses": {
        "200": {"description": "The reconstruction as JSON (a batch: one per digit, in "
                               "order), or as a PNG (Accept: image/png).",
                "content": {"image/png": {"schema": {"type": "string", "format": "binary"}}}},
    },
}

_RECONSTRUCTION = Representations(
    fragment="partials/reconstruct_result.html", media_types=("application/json", "image/png")
)


@router.get("/reconstruct", include_in_schema=False)
async def reconstruct_page(request: Request) -> Response:
    """Draw a digit and see what an autoencoder keeps of it (``?model=wide`` picks one).

    The drawing itself goes to POST /reconstruct, which answers the page with a fragment.
    Here: the form, the chosen model's layer table, and the lesson's figure, ten held-out
    digits and their reconstructions. htmx asking again (the model changed) gets only that
    figure, and with ``inside`` the model's table as well (asked for while nothing is
    drawn: a drawing's answer brings its own table).
    """
    settings, queue, models = app_settings(request), work_queue(request), loaded_models(request)
    available = list(models)
    name = request.query_params.get("model") or (available[0].name if available else None)
    model = models.get(name) if name is not None else None

    def figure() -> dict[str, Any] | None:
        if model is None:
            return None
        return {"model": model.name,
                "digits": held_out_digits(settings.model_dir, 10, model)}

    def view(shown: dict[str, Any] | None) -> dict[str, Any]:
        inside = layer_table(model, {}) if model is not None else None
        return {
            "figure": shown,
            "inside_out_of_band": inside if "inside" in request.query_params else None,
            "models": [in_reader_language(candidate.describe()) for candidate in available],
            "unavailable": models.unavailable,
            "chosen": model,
            "inside": inside,
            # The noise's seed: the same noisy digit for every model and every redraw,
            # until the learner asks for new noise.
            "seed": secrets.randbelow(2**31),
        }

    page = Representations(fragment="partials/reconstruct_samples.html", page="reconstruct.html")
    return await respond(request, page, figure, Renderers(view=view), run=queue.run)


@router.post("/reconstruct", summary="Rebuild a digit (or a batch of digits) with an autoencoder",
             openapi_extra=_OPENAPI, response_model=ReconstructionAnswer | BatchAnswer)
async def reconstruct(request: Request) -> Response:
    """Send a drawing (multipart ``image``), a ready 28x28 digit (JSON ``pixels``), or a
    batch of up to 1,024 digits (JSON ``pixels`` as N x 28 x 28), run through the model in
    one go (a GPU earns its keep on batches).

    The answer shows the exact 28x28 the model received, the compressed code, the
    reconstruction with its BCE and MSE against the clean digit, and with ``layers`` every
    layer's feature maps.
    """
    settings, queue = app_settings(request), work_queue(request)
    models = loaded_models(request)
    kind = media_type(request)
    options: ReconstructOptions
    compute: Callable[[], Reconstruction]
    if kind == "application/json":
        body = await read_json(request)
        if isinstance(body, dict) and is_batch(body.get("pixels")):
            batch = validated(PixelsBatchRequest, body)
            return await respond(
                request, Representations(media_types=("application/json",)),
                partial(reconstruct_pixel_batch, batch, models), Renderers(data=BatchAnswer.of),
                run=queue.run,
            )
        options = pixels = validated(PixelsRequest, body)
        compute = partial(reconstruct_pixels, pixels, models)
    elif kind == "multipart/form-data":
        data, fields = await read_form(request, file_field="image")
        options = validated(ReconstructOptions, fields)
        if wants_fragment(request) and options.noise > 0 and options.seed is None:
            # The page compares every model on one noisy digit: the noise needs a seed.
            options = options.model_copy(update={"seed": secrets.randbelow(2**32)})
        compute = partial(reconstruct_drawing, data, options, models,
                          max_pixels=settings.max_pixels)
    else:
        raise InvalidInput(
            _("Send multipart/form-data (a drawing in `image`) or application/json "
              "(`pixels`), not %(kind)s.", kind=kind or _("an untyped body")),
            field="body",
        )
    renderers = Renderers(
        view=partial(view_of_every_model, options=options, models=models),
        data=ReconstructionAnswer.of,
        image=picture_of_output,
    )
    # One trip to the work queue both reconstructs and builds the answer.
    return await respond(request, _RECONSTRUCTION, compute, renderers, run=queue.run)


@router.get("/samples", summary="Held-out MNIST digits, optionally reconstructed",
            response_model=list[HeldOutDigit])
async def samples(
    request: Request,
    count: Annotated[int, Query(ge=1, le=20)] = 10,
    model: Annotated[str | None, Query(description="Also reconstruct with this model")] = None,
) -> Response:
    """The lesson's figure: the first held-out test digits, and what a model makes of them."""
    settings, queue = app_settings(request), work_queue(request)
    autoencoder = loaded_models(request).get(model) if model is not None else None
    return await respond(
        request, Representations(media_types=("application/json",)),
        partial(held_out_digits, settings.model_dir, count, autoencoder),
        Renderers(data=lambda digits: digits), run=queue.run,
    )
