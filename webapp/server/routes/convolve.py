"""POST /convolve: a photo (multipart) or a list of numbers (JSON) through a kernel.

One route and one core call per request, answered in the format that asked: an htmx page
(``HX-Request``) gets the result fragment, a browser posting the form without JavaScript
(``Sec-Fetch-Dest: document``) gets the whole page, API clients get the image or JSON
(``Accept``), as before.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from pydantic import JsonValue

from webapp.convolution import Convolution
from webapp.errors import InvalidInput
from webapp.images import MEDIA_TYPES, OutputFormat, data_url, encode_image
from webapp.kernels import PRESETS
from webapp.numeric import convolve_numbers
from webapp.options import SAMPLE_NAMES, NumericRequest, PhotoOptions
from webapp.photos import PhotoResult, convolve_photo, sample_photo
from webapp.server.bodies import media_type, read_form, read_json, validated
from webapp.server.negotiation import json_of, preferred_media_type, wants_fragment
from webapp.server.settings import Settings
from webapp.server.state import app_settings, work_queue
from webapp.server.templating import render, wants_page

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
async def convolve(request: Request) -> Response:
    """Apply a kernel with a stride, padding and dilation.

    * ``multipart/form-data`` with an ``image`` file: the output image (PNG by default), or
      with ``Accept: application/json`` the shapes, the arithmetic, stats and a data URL.
    * ``application/json`` with ``input`` (a 1-D or 2-D list): the output numbers, the
      arithmetic and, for small inputs, every product and sum.
    """
    settings, queue = app_settings(request), work_queue(request)
    kind = media_type(request)
    if kind == "application/json":
        numeric = validated(NumericRequest, await read_json(request))
        answer = await queue.run(convolve_numbers, numeric, **settings.numeric_limits)
        return JSONResponse(answer)
    if kind != "multipart/form-data":
        raise InvalidInput(
            f"Send multipart/form-data (an image file) or application/json (numbers), "
            f"not {kind or 'an untyped body'}.",
            field="body",
        )
    data, options, _ = await read_photo_request(request, settings)
    result = await queue.run(convolve_photo, data, options, **settings.photo_limits)
    headers = {"Server-Timing": _server_timing(result), "Vary": "Accept, HX-Request"}
    fragment = wants_fragment(request)
    if fragment or wants_page(request):  # htmx, or a browser without JavaScript
        view = await queue.run(result_view, result)
        return render_convolve(request, settings, result, fragment=fragment, headers=headers,
                               view=view)
    image_type = MEDIA_TYPES[options.format]
    chosen = preferred_media_type(request.headers.get("accept"), [image_type, "application/json"])
    if chosen == "application/json":
        body = await queue.run(json_of, photo_answer, result)
        return Response(body, media_type="application/json", headers=headers)
    return Response(result.encoded, media_type=image_type, headers=headers)


async def read_photo_request(
    request: Request, settings: Settings, *, extra: tuple[str, ...] = ()
) -> tuple[bytes, PhotoOptions, dict[str, JsonValue]]:
    """The photo's bytes, its options, and the ``extra`` fields a page adds to the form.

    An empty file field with a ``sample`` name means a bundled photo: that is what a
    browser sends when the learner picked a sample instead of uploading.
    """
    data, fields = await read_form(request, file_field="image", json_fields=("weights",))
    extras = {name: fields.pop(name) for name in extra if name in fields}
    options = validated(PhotoOptions, fields)
    if not data and options.sample is not None:
        data = sample_photo(options.sample, settings.static_dir)
    return data, options, extras


def photo_answer(result: PhotoResult) -> dict[str, Any]:
    """The JSON description of a convolved photo."""
    convolution = result.convolution
    return {
        "input_shape": result.input_shape,
        "output_shape": result.output_shape,
        "padding": convolution.padding_sides(),
        "arithmetic": {
            "height": convolution.rows.as_dict(),
            "width": convolution.columns.as_dict(),
        },
        "kernel": {"name": result.kernel.name, "weights": result.kernel.weights.tolist()},
        "operation": result.operation,
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


# The input and output are drawn at one scale inside a box about this wide (CSS pixels).
_DISPLAY_BOX = 420


def display_scale(width: int, height: int) -> float:
    """CSS pixels per image pixel for an image pair spanning ``width`` x ``height``.

    Small images grow by a whole factor, so each pixel stays a crisp square; large ones
    shrink to fit the box.

    >>> display_scale(5, 5), display_scale(451, 300), display_scale(200, 100)
    (40, 0.931, 2)
    """
    fit = _DISPLAY_BOX / max(width, height)
    return min(int(fit), 40) if fit >= 2 else round(min(fit, 1.0), 3)


def result_view(result: PhotoResult) -> dict[str, Any]:
    """What the result fragment shows: the JSON answer, the input as the kernel saw it
    (gray when asked), and both images' sizes at one common scale."""
    answer = photo_answer(result)
    (in_height, in_width), (out_height, out_width) = (
        result.input_shape[:2], result.output_shape[:2]
    )
    scale = display_scale(max(in_width, out_width), max(in_height, out_height))
    small = result.source.pixels.shape[0] * result.source.pixels.shape[1] <= 256 * 256
    picture_format: OutputFormat = "png" if small else "jpeg"
    computed = result.convolution
    return {
        "answer": answer,
        "options": result.options,
        "pooling": result.options.operation != "convolve",
        "input_image": data_url(encode_image(result.source.pixels, picture_format),
                                picture_format),
        "applied": (computed.kernel if isinstance(computed, Convolution)
                    else result.kernel.weights).tolist(),
        "scale": scale,
        "pixelated": scale >= 2,
        "input_size": {"width": round(in_width * scale), "height": round(in_height * scale)},
        "output_size": {"width": round(out_width * scale), "height": round(out_height * scale)},
        "linear_ratio": answer["linear_params"] / max(answer["params"], 1),
    }


def render_convolve(
    request: Request,
    settings: Settings,
    result: PhotoResult,
    *,
    fragment: bool,
    headers: dict[str, str] | None = None,
    view: dict[str, Any] | None = None,
) -> Response:
    """The /convolve page with ``result`` in it, or (for htmx) the result fragment alone.

    ``view`` is `result_view(result)`, when the caller already built it off the event loop.
    """
    context = {"view": view if view is not None else result_view(result)}
    if fragment:
        return render(request, "partials/convolve_result.html", context, headers=headers)
    return render(request, "convolve.html", {**context, **_form_context(result.options, settings)},
                  headers=headers)


def _form_context(options: PhotoOptions, settings: Settings) -> dict[str, Any]:
    """The form's choices and its current values, so a page posted back keeps them."""
    return {
        "presets": list(PRESETS.values()),
        "samples": SAMPLE_NAMES,
        "max_kernel_size": settings.max_kernel_size,
        "form": {
            **options.model_dump(),
            "weights_text": "" if options.weights is None else json.dumps(options.weights),
            "padding_cells": options.padding if isinstance(options.padding, int) else "",
            "padding_name": options.padding if isinstance(options.padding, str) else "",
        },
    }
