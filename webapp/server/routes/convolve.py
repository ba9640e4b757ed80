"""/convolve: the page, the API (a photo or a list of numbers through a kernel or a whole
layer), one cell explained, the preset kernels and the filter banks.

The page sends a photo once: its answer carries the photo's key
(`webapp.server.photocache`), and later changes send ``photo_key`` instead of the bytes. The
page computes on the photo fitted to a working size (``max_side``, 1024 unless the learner
picks another); the API keeps the full size unless asked for a ``max_side``.

Routes stay thin: read the request, call the core, hand the result to
`webapp.server.negotiation.respond`, which answers htmx with the result fragment, a browser
navigating with the whole page, and programs with the image or JSON their ``Accept`` asks.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from functools import partial
from pathlib import Path
from types import MappingProxyType

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import JsonValue

from webapp.autoencoder.onnxfile import float_initializers
from webapp.autoencoder.registry import ModelRegistry
from webapp.banks import Bank, BankAnswer, catalog, learned_bank
from webapp.errors import InvalidInput
from webapp.images import MEDIA_TYPES, encode_image, in_color
from webapp.kernels import PRESETS, PresetAnswer
from webapp.numeric import NumericAnswer, NumericLayerAnswer, layer_answer, numeric_answer
from webapp.options import NumericRequest, PhotoOptions, parse_json_field
from webapp.photos import (
    DEFAULT_WORKING_SIDE,
    LayerPhotoResult,
    PhotoAnswer,
    PhotoLayerAnswer,
    PhotoResult,
    convolve_decoded,
    convolve_photo,
    convolve_photo_layer,
    sample_photo,
)
from webapp.server.bodies import media_type, read_form, read_json, validated
from webapp.server.negotiation import (
    Renderers,
    Representations,
    respond,
    wants_fragment,
    wants_page,
)
from webapp.server.openapi import reference
from webapp.server.photocache import FULL_SIZE, checked_key
from webapp.server.settings import Settings
from webapp.server.state import app_settings, loaded_models, photo_cache, work_queue
from webapp.server.views.convolve import (
    CellChoice,
    ShownPhoto,
    explain_view,
    page_view,
    parse_picture_name,
    server_timing,
    shown_photo,
)
from webapp.translation import gettext as _

router = APIRouter(tags=["convolution"])

_JSON_FIELDS = {
    "weights": "JSON list, e.g. [[-1,0,1]]",
    "filters": "JSON list N x C_in/groups x k_h x k_w, e.g. [[[[-1,0,1]],[[-1,0,1]],[[-1,0,1]]]]",
    "bias": "JSON list of N numbers, e.g. [0.5]",
}
"""Form fields that hold JSON (lists of numbers), as a form can only send strings."""

_PHOTO_FORM_SCHEMA = {
    "type": "object",
    "required": ["image"],
    "properties": {
        "image": {"type": "string", "format": "binary",
                  "description": "PNG, JPEG, WebP, GIF or BMP (first frame)."},
        **{
            name: ({"type": "string", "description": _JSON_FIELDS[name]}
                   if name in _JSON_FIELDS else schema)
            for name, schema in PhotoOptions.model_json_schema()["properties"].items()
        },
        "photo_key": {"type": "string", "description":
                      "Instead of the image: the key of a photo sent earlier (the pages "
                      "send it; a key the server no longer holds is a 410)."},
    },
}

REQUEST_MODELS = (NumericRequest,)
"""The JSON bodies this module reads by hand, for `webapp.server.openapi`."""

_OPENAPI = {
    "requestBody": {
        # Not marked "required": openapi-python-client then writes an annotation it never
        # imports for a body of several media types (its issue 1451). The route still
        # refuses a missing body with a 422 naming it.
        "content": {
            "multipart/form-data": {"schema": _PHOTO_FORM_SCHEMA},
            "application/json": {"schema": reference(NumericRequest)},
        },
    },
    "responses": {
        "200": {
            "description": "The output image (Accept: image/*), or JSON: a photo's shapes, "
                           "arithmetic and stats, or the numbers with every product and sum.",
            "content": {
                media_type: {"schema": {"type": "string", "format": "binary"}}
                for media_type in ("image/png", "image/webp", "image/jpeg")
            },
        },
    },
}


def _convolve_page(media_types: tuple[str, ...] = ()) -> Representations:
    """The page and its result fragment, and (for the API) ``media_types``."""
    return Representations(fragment="partials/convolve_result.html", page="convolve.html",
                           media_types=media_types)


def _photo_renderers(settings: Settings) -> Renderers[PhotoResult]:
    return Renderers(
        data=PhotoAnswer.of,
        image=lambda result, _media_type: result.encoded,
    )


def _shown_renderers(settings: Settings) -> Renderers[ShownPhoto]:
    return Renderers(view=partial(page_view, max_kernel_size=settings.max_kernel_size))


def _for_a_page(request: Request) -> bool:
    """Whether the answer is the page or its fragment: then the photo is kept."""
    return wants_fragment(request) or wants_page(request)


@router.get("/convolve", include_in_schema=False)
async def convolve_page(request: Request) -> Response:
    """The convolution page, with a result already computed on a sample photo.

    The query can preset any option (``/convolve?kernel=box-blur&stride=2``), so a lesson
    can link to exactly the picture it talks about.
    """
    settings, queue, cache = app_settings(request), work_queue(request), photo_cache(request)
    fields: dict[str, JsonValue] = {
        name: parse_json_field(value, name) if name == "weights" else value
        for name, value in request.query_params.items()
        if value.strip()
    }
    key = _photo_key_of(fields)
    if key is None:
        fields.setdefault("sample", "cat")
    if "weights" not in fields:
        fields.setdefault("kernel", "sobel-x")
    fields.setdefault("max_side", DEFAULT_WORKING_SIDE)
    options = validated(PhotoOptions, _full_size_spelled_out(fields))
    data = b"" if key is not None else sample_photo(options.sample or "cat", settings.static_dir)
    compute = partial(shown_photo, cache, data, key, options, settings)
    return await respond(request, _convolve_page(), compute, _shown_renderers(settings),
                         run=queue.run)


@router.post(
    "/convolve",
    summary="Convolve a photo or a list of numbers",
    openapi_extra=_OPENAPI,
    response_model=PhotoAnswer | NumericAnswer | PhotoLayerAnswer | NumericLayerAnswer,
)
async def convolve(request: Request) -> Response:
    """Apply a kernel, or a whole conv layer, with a stride, padding and dilation.

    * ``multipart/form-data`` with an ``image`` file: the output image (PNG by default), or
      with ``Accept: application/json`` the shapes, the arithmetic, stats and a data URL.
    * ``application/json`` with ``input`` (a 1-D or 2-D list): the output numbers, the
      arithmetic and, for small inputs, every product and sum.
    * Either with ``filters`` (N x C_in/groups x k_h x k_w) or a ``bank`` instead of a
      kernel: a conv layer (``bias``, ``groups``, ``activation``) whose N feature maps are
      the answer; JSON input may then be 3-D (C_in x H x W), a photo has 3 channels (rgb)
      or 1 (gray), and its maps come tiled in one picture.
    """
    settings, queue = app_settings(request), work_queue(request)
    kind = media_type(request)
    if kind == "application/json":
        numeric = validated(NumericRequest, await read_json(request))
        if numeric.is_layer:
            compute_layer = partial(layer_answer, numeric, **settings.numeric_limits,
                                    max_layer_macs=settings.max_layer_macs,
                                    learned=banks_of(request))
            return await respond(request, Representations(media_types=("application/json",)),
                                 compute_layer, Renderers(data=lambda answer: answer),
                                 run=queue.run)
        compute_numbers = partial(numeric_answer, numeric, **settings.numeric_limits)
        return await respond(request, Representations(media_types=("application/json",)),
                             compute_numbers, Renderers(data=lambda answer: answer),
                             run=queue.run)
    if kind != "multipart/form-data":
        raise InvalidInput(
            _("Send multipart/form-data (an image file) or application/json (numbers), "
              "not %(kind)s.", kind=kind or _("an untyped body")),
            field="body",
        )
    data, options, extras = await read_photo_request(request, settings)
    key = _photo_key_of(extras)
    if _for_a_page(request):
        cache = photo_cache(request)
        shown = await queue.run(shown_photo, cache, data, key, options, settings)
        return await respond(request, _convolve_page(), lambda: shown,
                             _shown_renderers(settings), run=queue.run,
                             headers={"Server-Timing": server_timing(shown.result)})
    if options.is_layer:
        layered = await queue.run(partial(convolve_photo_layer, data, options,
                                          **settings.photo_limits,
                                          max_layer_macs=settings.max_layer_macs,
                                          learned=banks_of(request)))
        return await respond(
            request, Representations(media_types=(MEDIA_TYPES[options.format],
                                                  "application/json")),
            lambda: layered, _layer_renderers(), run=queue.run,
            headers={"Server-Timing": _timing(layered.timings_ms)},
        )
    if data or key is None:
        result = await queue.run(convolve_photo, data, options, **settings.photo_limits)
    else:  # a program naming a photo a page sent
        kept = photo_cache(request).require(key, options.max_side or FULL_SIZE)
        result = await queue.run(convolve_decoded, in_color(kept, options.color), options,
                                 **settings.photo_limits)
    representations = _convolve_page((MEDIA_TYPES[options.format], "application/json"))
    return await respond(request, representations, lambda: result, _photo_renderers(settings),
                         run=queue.run, headers={"Server-Timing": server_timing(result)})


@router.post("/convolve/explain", include_in_schema=False)
async def explain(request: Request) -> Response:
    """One output cell: its input window with the kernel over it, the products and the sum.

    The same form as POST /convolve plus ``row``, ``column`` and ``channel``; the numbers
    come from `webapp.convolution.explain_cell` on the real pixels, so they are the API's.
    """
    settings, queue, cache = app_settings(request), work_queue(request), photo_cache(request)
    data, options, extras = await read_photo_request(
        request, settings, extra=("row", "column", "channel")
    )
    key = _photo_key_of(extras)
    cell = validated(CellChoice, extras)
    compute = partial(shown_photo, cache, data, key, options, settings)
    return await respond(
        request, Representations(fragment="partials/explain.html"), compute,
        Renderers(view=lambda shown: {"explain": explain_view(shown.result, cell)}),
        run=queue.run,
    )


_IMMUTABLE = "private, max-age=31536000, immutable"
"""A picture's name says what it is made of (the photo's hash, the working size, the
colour), so what it names never changes: the browser keeps it, and a control change does
not fetch it again. Private: it is someone's photo, not for shared caches."""


@router.get("/convolve/photos/{name}", include_in_schema=False)
async def photo_picture(request: Request, name: str) -> Response:
    """The page's input picture: a kept photo at its working size and colour, e.g.
    ``/convolve/photos/<key>-1024-rgb.jpeg`` (`webapp.server.views.convolve.picture_name`)."""
    queue, cache = work_queue(request), photo_cache(request)
    key, side, color, picture_format = parse_picture_name(name)
    tag = f'"{name}"'
    headers = {"Cache-Control": _IMMUTABLE, "ETag": tag}
    if tag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    photo = cache.require(key, side)
    encoded = await queue.run(
        lambda: encode_image(in_color(photo, color).pixels, picture_format)
    )
    return Response(encoded, media_type=MEDIA_TYPES[picture_format], headers=headers)


@router.get("/kernels", summary="Preset kernels", response_model=list[PresetAnswer])
async def list_kernels(request: Request) -> Response:
    """Every preset as ``{"name", "label", "weights", "description"}``."""
    kernels = [PresetAnswer.of(kernel) for kernel in PRESETS.values()]
    return await respond(request, Representations(media_types=("application/json",)),
                         lambda: kernels, Renderers(data=lambda answer: answer))


@router.get("/banks", summary="Filter banks", response_model=list[BankAnswer])
async def list_banks(request: Request) -> Response:
    """Every filter bank (whole layers: designed, random and learned) with its citation,
    shape, filters and biases; use one by name as ``bank`` in POST /convolve."""
    banks = [BankAnswer.of(bank) for bank in catalog(banks_of(request))]
    return await respond(request, Representations(media_types=("application/json",)),
                         lambda: banks, Renderers(data=lambda answer: answer))


def banks_of(request: Request) -> Mapping[str, Bank]:
    """The learned banks, by name: the first conv layer of each loaded autoencoder."""
    return learned_banks(loaded_models(request))


def learned_banks(models: ModelRegistry) -> Mapping[str, Bank]:
    """Each loaded model's first conv layer as a bank (read from its file once)."""
    return _learned_banks(tuple(
        (model.name, str(model.card.get("title", model.name)), str(model.path),
         next(layer.name for layer in model.layers if layer.type == "Conv2D"))
        for model in models
    ))


@functools.lru_cache(maxsize=4)
def _learned_banks(models: tuple[tuple[str, str, str, str], ...]) -> Mapping[str, Bank]:
    banks: dict[str, Bank] = {}
    for name, title, path, layer in models:
        weights = float_initializers(Path(path))
        bank = learned_bank(name, title, layer, weights[f"{layer}.weight"],
                            weights[f"{layer}.bias"])
        banks[bank.name] = bank
    return MappingProxyType(banks)


def _layer_renderers() -> Renderers[LayerPhotoResult]:
    return Renderers(data=PhotoLayerAnswer.of,
                     image=lambda result, _media_type: result.encoded)


def _timing(timings_ms: Mapping[str, float]) -> str:
    """Where the time went, as a ``Server-Timing`` header."""
    return ", ".join(f"{name};dur={value:.1f}" for name, value in timings_ms.items())


async def read_photo_request(
    request: Request, settings: Settings, *, extra: tuple[str, ...] = ()
) -> tuple[bytes, PhotoOptions, dict[str, JsonValue]]:
    """The photo's bytes, its options, and the ``extra`` fields a page adds to the form.

    An empty file field with a ``sample`` name means a bundled photo: that is what a
    browser sends when the learner picked a sample instead of uploading; with a
    ``photo_key`` (always among the extras returned) it means the photo sent earlier.
    """
    data, fields = await read_form(request, file_field="image", json_fields=tuple(_JSON_FIELDS))
    extras = {name: fields.pop(name) for name in (*extra, "photo_key") if name in fields}
    options = validated(PhotoOptions, _full_size_spelled_out(fields))
    if not data and "photo_key" not in extras and options.sample is not None:
        data = sample_photo(options.sample, settings.static_dir)
    return data, options, extras


def _photo_key_of(fields: dict[str, JsonValue]) -> str | None:
    """The ``photo_key`` of a request's fields, checked and taken out of them, or None."""
    value = fields.pop("photo_key", None)
    return None if value is None else checked_key(value)


def _full_size_spelled_out(fields: dict[str, JsonValue]) -> dict[str, JsonValue]:
    """The pages' working-size choice "full" means no ``max_side`` at all."""
    if fields.get("max_side") == "full":
        return {name: value for name, value in fields.items() if name != "max_side"}
    return fields


