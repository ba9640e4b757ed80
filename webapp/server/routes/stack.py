"""/stack: a small CNN (up to four blocks of conv, activation and pooling) on a photo; its
page, its JSON API, and one feature-map cell explained.

The page's settings live in its URL (``/stack?block-1-bank=edges&block-1-pool=max&...``),
so a link restores the stack; an upload is sent once, then its ``photo_key``
(`webapp.server.photocache`), as on /convolve.
"""

from __future__ import annotations

from functools import partial

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import JsonValue

from webapp.errors import InvalidInput
from webapp.photos import sample_photo
from webapp.server.bodies import media_type, read_form, read_json
from webapp.server.negotiation import Renderers, Representations, respond
from webapp.server.openapi import reference
from webapp.server.photocache import checked_key
from webapp.server.routes.convolve import banks_of
from webapp.server.settings import Settings
from webapp.server.state import app_settings, photo_cache, work_queue
from webapp.server.views.stack import (
    CELL_FIELDS,
    ShownStack,
    answer_of,
    cell_of,
    explain_view,
    form_context,
    shown_stack,
    stack_request,
    stack_view,
)
from webapp.stack import DEFAULT_BLOCKS, MAX_BLOCKS, BlockSpec, StackAnswer, StackRequest
from webapp.translation import gettext as _

router = APIRouter(tags=["stack"])

REQUEST_MODELS = (StackRequest,)
"""The JSON bodies this module reads by hand, for `webapp.server.openapi`."""

_FORM_SCHEMA = {
    "type": "object",
    "properties": {
        "image": {"type": "string", "format": "binary",
                  "description": "Your photo (PNG, JPEG, WebP, GIF or BMP); empty for the sample."},
        "sample": {"type": "string", "enum": ["cat", "coffee", "camera"]},
        "max_side": {"type": "integer", "enum": [256, 512, 1024]},
        "color": {"type": "string", "enum": ["rgb", "gray"]},
        "random_seed": {"type": "integer", "minimum": 0},
        "cell": {"type": "string", "description": "block,map,row,column of a cell to explain."},
        **{f"block-{index}-{name}": {"type": "string", "description": f"Block {index}'s {name}."}
           for index in range(1, MAX_BLOCKS + 1)
           for name in ("bank", "maps", "activation", "padding", "pool")},
    },
}

_OPENAPI = {
    "requestBody": {
        "content": {
            "application/json": {"schema": reference(StackRequest)},
            "multipart/form-data": {"schema": _FORM_SCHEMA},
        },
    },
}


def _representations() -> Representations:
    return Representations(fragment="partials/stack_result.html", page="stack.html",
                           media_types=("application/json",))


def _renderers(request: Request) -> Renderers[ShownStack]:
    learned = banks_of(request)
    return Renderers(
        view=lambda shown: {"view": stack_view(shown), **form_context(shown.request, learned)},
        data=answer_of,
    )


def _edited(fields: dict[str, JsonValue]) -> dict[str, JsonValue]:
    """A form sent without JavaScript may ask to add a block (``edit=add``) or remove one
    (``edit=remove-2``): the blocks' fields renumbered to match."""
    edit = fields.pop("edit", None)
    if not isinstance(edit, str) or not edit:
        return fields
    count = sum(1 for name in fields if name.startswith("block-") and name.endswith("-bank"))
    if edit == "add" and count < MAX_BLOCKS:
        fields.update({f"block-{count + 1}-{name}": str(value)
                       for name, value in BlockSpec().model_dump().items()})
    elif edit.startswith("remove-") and edit[7:].isdigit() and count > 1:
        removed = int(edit[7:])
        kept: dict[str, JsonValue] = {}
        for name, value in fields.items():
            parts = name.split("-", 2)
            if len(parts) == 3 and parts[0] == "block" and parts[1].isdigit():
                index = int(parts[1])
                if index == removed:
                    continue
                name = f"block-{index - (index > removed)}-{parts[2]}"
            kept[name] = value
        fields = kept
        fields.pop("cell", None)
    return fields


async def _answer(
    request: Request, settings: Settings, data: bytes, fields: dict[str, JsonValue]
) -> Response:
    """The stack asked for, as the request wants it (fragment, page or JSON)."""
    asked = stack_request(_edited(fields))
    key = None if asked.photo_key is None else checked_key(asked.photo_key)
    if not data and key is None:
        data = sample_photo(asked.sample, settings.static_dir)
    compute = partial(shown_stack, photo_cache(request), data, key, asked, settings,
                      banks_of(request))
    return await respond(request, _representations(), compute, _renderers(request),
                         run=work_queue(request).run)


@router.get("/stack", include_in_schema=False)
async def stack_page(request: Request) -> Response:
    """The page, its stack from the query (two blocks unless it names others)."""
    settings = app_settings(request)
    fields: dict[str, JsonValue] = dict(request.query_params.items())
    if not any(name.startswith("block-") for name in fields):
        fields.update({f"block-{index}-{name}": str(value)
                       for index, block in enumerate(DEFAULT_BLOCKS, start=1)
                       for name, value in block.model_dump().items()})
    return await _answer(request, settings, b"", fields)


@router.post(
    "/stack",
    summary="A small CNN on a photo",
    openapi_extra=_OPENAPI,
    response_model=StackAnswer,
)
async def stack(request: Request) -> Response:
    """Run up to four blocks (conv with a filter bank, activation, optional 2x2 pooling)
    on a photo, each block reading the maps of the one before.

    * ``application/json``: a `StackRequest` (a sample photo, or the ``photo_key`` of one the
      page sent); with ``cell`` the answer explains that feature-map cell on the real
      numbers, with its receptive field on the photo.
    * ``multipart/form-data``: the page's form (``image`` a file, blocks as
      ``block-N-<field>``); ``Accept: application/json`` gives the same JSON.

    Every error names the field at fault, a block's as ``block-N-<field>``.
    """
    settings = app_settings(request)
    kind = media_type(request)
    if kind == "application/json":
        body = await read_json(request)
        if not isinstance(body, dict):
            raise InvalidInput(_("The body must be a JSON object."), field="body")
        return await _answer(request, settings, b"", body)
    if kind != "multipart/form-data":
        raise InvalidInput(
            _("Send application/json or multipart/form-data, not %(kind)s.", kind=kind)
            if kind else _("Send application/json or multipart/form-data, not an untyped body."),
            field="body")
    data, fields = await read_form(request, file_field="image")
    return await _answer(request, settings, data, dict(fields))


@router.post("/stack/explain", include_in_schema=False)
async def explain(request: Request) -> Response:
    """One feature-map cell of the page's stack: the page's form plus ``block``, ``map``,
    ``row`` and ``column``; the numbers are those of POST /stack with that ``cell``."""
    settings = app_settings(request)
    data, form = await read_form(request, file_field="image")
    fields = dict(form)
    picked: dict[str, JsonValue] = {name: fields.pop(name) for name in CELL_FIELDS
                                    if name in fields}
    fields.pop("cell", None)
    asked = stack_request(fields).model_copy(update={"cell": cell_of(picked)})
    key = None if asked.photo_key is None else checked_key(asked.photo_key)
    if not data and key is None:
        data = sample_photo(asked.sample, settings.static_dir)

    def compute() -> ShownStack:
        shown = shown_stack(photo_cache(request), data, key, asked, settings, banks_of(request))
        answer_of(shown)  # a cell outside the maps is the picker's error, named
        return shown

    def view(shown: ShownStack) -> dict[str, object]:
        assert shown.cell is not None
        return {"explain": explain_view(shown, shown.cell)}

    return await respond(request, Representations(fragment="partials/stack_explain.html"),
                         compute, Renderers(view=view), run=work_queue(request).run)
