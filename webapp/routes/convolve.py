"""POST /convolve: a photo (multipart) or a list of numbers (JSON) through a kernel."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from webapp.bodies import media_type, read_form, read_json, validated
from webapp.dependencies import SettingsDep, WorkQueueDep
from webapp.errors import InvalidInput
from webapp.images import MEDIA_TYPES, data_url
from webapp.negotiation import preferred_media_type
from webapp.numeric import convolve_numbers
from webapp.options import NumericRequest, PhotoOptions
from webapp.photos import PhotoResult, convolve_photo

router = APIRouter(tags=["convolution"])

_PHOTO_FORM_SCHEMA = {
    "type": "object",
    "required": ["image"],
    "properties": {
        "image": {"type": "string", "format": "binary",
                  "description": "PNG, JPEG, WebP, GIF or BMP (first frame)."},
        **{
            name: ({"type": "string", "description": "JSON list, e.g. [[-1,0,1]]"}
                   if name == "weights" else schema)
            for name, schema in PhotoOptions.model_json_schema()["properties"].items()
        },
    },
}

_OPENAPI = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {"schema": _PHOTO_FORM_SCHEMA},
            "application/json": {"schema": NumericRequest.model_json_schema()},
        },
    },
    "responses": {
        "200": {
            "description": "The output image (Accept: image/*), or JSON with the numbers.",
            "content": {
                "image/png": {}, "image/webp": {}, "image/jpeg": {}, "application/json": {}
            },
        },
        "413": {"description": "Body or image over the limits."},
        "415": {"description": "An image format outside PNG, JPEG, WebP, GIF, BMP."},
        "422": {"description": "A field breaks a rule; the answer names it."},
        "503": {"description": "Busy; retry after the Retry-After seconds."},
    },
}


@router.post(
    "/convolve",
    summary="Convolve a photo or a list of numbers",
    openapi_extra=_OPENAPI,
    response_model=None,
)
async def convolve(request: Request, settings: SettingsDep, queue: WorkQueueDep) -> Response:
    """Apply a kernel with a stride, padding and dilation.

    * ``multipart/form-data`` with an ``image`` file: the output image (PNG by default), or
      with ``Accept: application/json`` the shapes, the arithmetic, stats and a data URL.
    * ``application/json`` with ``input`` (a 1-D or 2-D list): the output numbers, the
      arithmetic and, for small inputs, every product and sum.
    """
    kind = media_type(request)
    if kind == "application/json":
        numeric = validated(NumericRequest, await read_json(request))
        answer = await queue.run(convolve_numbers, numeric, settings)
        return JSONResponse(answer)
    if kind != "multipart/form-data":
        raise InvalidInput(
            f"Send multipart/form-data (an image file) or application/json (numbers), "
            f"not {kind or 'an untyped body'}.",
            field="body",
        )
    data, fields = await read_form(request, file_field="image", json_fields=("weights",))
    options = validated(PhotoOptions, fields)
    result = await queue.run(convolve_photo, data, options, settings)
    headers = {"Server-Timing": _server_timing(result)}
    image_type = MEDIA_TYPES[options.format]
    chosen = preferred_media_type(request.headers.get("accept"), [image_type, "application/json"])
    if chosen == "application/json":
        return JSONResponse(photo_answer(result), headers=headers)
    return Response(result.encoded, media_type=image_type, headers=headers)


def photo_answer(result: PhotoResult) -> dict[str, Any]:
    """The JSON description of a convolved photo."""
    convolution = result.convolution
    return {
        "input_shape": result.input_shape,
        "output_shape": result.output_shape,
        "padding": {
            "top": convolution.rows.padding_lo,
            "bottom": convolution.rows.padding_hi,
            "left": convolution.columns.padding_lo,
            "right": convolution.columns.padding_hi,
        },
        "arithmetic": {
            "height": convolution.rows.as_dict(),
            "width": convolution.columns.as_dict(),
        },
        "kernel": {"name": result.kernel.name, "weights": result.kernel.weights.tolist()},
        "operation": "convolution" if result.options.flip else "cross-correlation",
        "display": result.display,
        "stats": result.stats(),
        "params": result.costs.params,
        "macs": result.costs.macs,
        "linear_params": result.costs.linear_params,
        "elapsed_ms": round(sum(result.timings_ms.values()), 3),
        "timings_ms": {name: round(value, 3) for name, value in result.timings_ms.items()},
        "engine": convolution.engine,
        "image": data_url(result.encoded, result.options.format),
    }


def _server_timing(result: PhotoResult) -> str:
    return ", ".join(f"{name};dur={value:.1f}" for name, value in result.timings_ms.items())
