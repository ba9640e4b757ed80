"""/receptive-field: build a stack of conv and pooling layers; see how far one cell sees."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from webapp.arithmetic import LAYER_KIND_LABELS, StackLayer
from webapp.errors import InvalidInput
from webapp.options import SAMPLE_NAMES
from webapp.server.negotiation import Renderers, Representations, respond
from webapp.server.state import app_settings
from webapp.server.views.receptive import (
    EXAMPLES,
    MAX_LAYERS,
    RF_SIZES,
    choice_number,
    parse_layers,
    square_picture,
    stack_query,
    stack_view,
)
from webapp.translation import gettext as _

router = APIRouter(include_in_schema=False)


@router.get("/receptive-field")
async def receptive_field_page(request: Request) -> Response:
    """The stack from the query (``kind=conv&kernel=3&...``), with ``edit`` adding or
    removing a layer, and the receptive field of the chosen output cell on a photo."""
    settings = app_settings(request)
    query = request.query_params
    layers = parse_layers(query.multi_items(), settings.max_kernel_size)
    edit = query.get("edit", "")
    if edit == "add":
        layers.append(StackLayer("conv", 3))
    elif edit.startswith("remove-") and edit[7:].isdigit() and len(layers) > 1:
        index = int(edit[7:]) - 1
        layers = [layer for position, layer in enumerate(layers) if position != index]
    if len(layers) > MAX_LAYERS:
        raise InvalidInput(_("At most %(count)s layers, please.", count=MAX_LAYERS),
                           field="layers")
    size = choice_number(query.get("size"), "size", RF_SIZES, default=32)
    sample = query.get("sample") or "cat"
    if sample not in SAMPLE_NAMES:
        raise InvalidInput(_("sample must be one of %(names)s.", names=", ".join(SAMPLE_NAMES)),
                           field="sample")

    def view(stack: dict[str, Any]) -> dict[str, Any]:
        stack["image"] = square_picture(settings.static_dir / "samples" / f"{sample}.jpg", size)
        return {
            "stack": stack,
            # Row and column stay empty (the centre cell) until the learner picks one.
            "form": {"size": size, "sample": sample, "row": query.get("row", ""),
                     "column": query.get("column", "")},
            "kinds": LAYER_KIND_LABELS,
            "sizes": RF_SIZES,
            "examples": [(key, label, stack_query(example)) for key, label, example in EXAMPLES],
            "max_kernel_size": settings.max_kernel_size,
            "max_layers": MAX_LAYERS,
        }

    return await respond(
        request,
        Representations(fragment="partials/receptive_result.html", page="receptive.html"),
        lambda: stack_view(layers, size, query.get("row"), query.get("column")),
        Renderers(view=view),
    )
