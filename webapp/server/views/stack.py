"""What the /stack page shows of a small CNN run on a photo: every block's feature maps at
one scale, their shapes and costs, and one cell explained with what it sees of the photo.

Plain functions of core results (`webapp.stack.StackResult`), called off the event loop by
`webapp.server.routes.stack`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray
from pydantic import JsonValue, ValidationError

from webapp.banks import RANDOM, Bank, catalog, shown_label
from webapp.display import GRID_GAP, default_layer_display, feature_map_pictures, grid_shape, tile
from webapp.errors import ConvlensError, InvalidInput, field_errors
from webapp.images import data_url, encode_image
from webapp.layer import ACTIVATION_LABELS
from webapp.options import PhotoOptions
from webapp.server.photocache import PhotoCache, working_photo
from webapp.server.settings import Settings
from webapp.server.views.convolve import page_format, picture_name
from webapp.stack import (
    MAX_BLOCKS,
    POOL_LABELS,
    WORKING_SIDES,
    CellChoice,
    StackAnswer,
    StackCell,
    StackRequest,
    StackResult,
    block_field,
    explain_stack_cell,
    run_stack,
)
from webapp.translation import N_, ngettext
from webapp.translation import gettext as _

GRID_WIDTH = 520
"""The widest grid of maps is drawn about this many pixels wide; every other grid (and the
photo) is drawn at the same scale, so a pooled map is visibly half as wide as its input."""
SHOWN_CHANNELS = 8
"""Input channels whose windows the explanation draws; the sums of all are listed."""

_BLOCK_FIELD = re.compile(r"block-([1-9][0-9]*)-([a-z_]+)")
CELL_FIELDS = ("block", "map", "row", "column")
CELL_FIELD_REQUIRED = {
    "block": N_("block is required to choose a cell."),
    "map": N_("map is required to choose a cell."),
    "row": N_("row is required to choose a cell."),
    "column": N_("column is required to choose a cell."),
}
"""The picker's error for each field it lacks (a field's name is not a word to translate)."""

RANDOM_CHOICE = N_("Random (He), 3x3: choose how many")
"""The random bank as the form offers it: how many filters is the form's to choose."""
PADDING_CHOICES = (("same", N_("same: keeps the size")), ("valid", N_("valid: loses k - 1")))
"""A block's paddings as the form offers them (``same`` and ``valid`` are the values)."""
PHOTO_CHANNELS = {3: (N_("red"), N_("green"), N_("blue")), 1: (N_("gray"),)}
"""Block 1's input channels, by the number of channels of the photo."""
DISPLAY_NAMES = {"normalize": N_("normalize"), "diverging": N_("diverging")}
"""How a grid of maps is drawn, as its picture's description names it."""


# --- reading a request -----------------------------------------------------------------------


def stack_request(fields: Mapping[str, JsonValue]) -> StackRequest:
    """A stack request from a JSON body (``blocks`` a list) or a page's flat fields
    (``block-2-bank=edges``, ``cell=3,0,5,7``); errors name a block's field
    (``block-2-maps``), as the page's controls are named."""
    document = dict(fields)
    flat = [name for name in document if _BLOCK_FIELD.fullmatch(name)]
    if flat:
        if "blocks" in document:
            raise InvalidInput(_("Send blocks as a list or as block-N-<field> fields, not "
                                 "both."), field="blocks")
        blocks: dict[int, dict[str, JsonValue]] = {}
        for name in flat:
            match = _BLOCK_FIELD.fullmatch(name)
            assert match is not None
            blocks.setdefault(int(match[1]), {})[match[2]] = document.pop(name)
        if sorted(blocks) != list(range(1, len(blocks) + 1)) or len(blocks) > MAX_BLOCKS:
            raise InvalidInput(_("Blocks are numbered 1 to at most %(most)s, each once; got "
                                 "%(numbers)s.", most=MAX_BLOCKS, numbers=sorted(blocks)),
                               field="blocks")
        document["blocks"] = [blocks[index] for index in sorted(blocks)]
    side = document.get("max_side")
    if isinstance(side, str) and side.isdigit():  # a form's text; a Literal wants the number
        document["max_side"] = int(side)
    cell = document.get("cell")
    if isinstance(cell, str):
        document["cell"] = _cell_text(cell) if cell.strip() else None
    try:
        return StackRequest.model_validate(document)
    except ValidationError as error:
        details = []
        for detail in error.errors(include_url=False):
            location = detail["loc"]
            if (len(location) >= 3 and location[0] == "blocks"
                    and isinstance(location[1], int)):
                location = (block_field(location[1] + 1, str(location[2])), *location[3:])
            details.append({**detail, "loc": location})
        raise field_errors(details)[0] from None


def _cell_text(text: str) -> dict[str, JsonValue]:
    """``"block,map,row,column"`` (the page's URL) as a cell."""
    parts = [part.strip() for part in text.split(",")]
    if len(parts) != len(CELL_FIELDS) or not all(part.isdigit() for part in parts):
        raise InvalidInput(_("cell must be four whole numbers: block,map,row,column, not "
                             "%(text)s.", text=repr(text[:40])), field="cell")
    return {name: int(part) for name, part in zip(CELL_FIELDS, parts, strict=True)}


def cell_of(fields: Mapping[str, JsonValue]) -> CellChoice:
    """The cell a page's picker asks for (fields ``block``, ``map``, ``row``, ``column``)."""
    missing = [name for name in CELL_FIELDS if name not in fields]
    if missing:
        raise InvalidInput(_(CELL_FIELD_REQUIRED[missing[0]]), field=missing[0])
    try:
        return CellChoice.model_validate({name: fields[name] for name in CELL_FIELDS})
    except ValidationError as error:
        raise field_errors(error.errors(include_url=False))[0] from None


def _bank_label(bank: Bank) -> str:
    """``bank`` as the form offers it: its label, how many filters of what size, and the
    channels they span (the random one's count is the form's)."""
    if bank.name == RANDOM:
        return _(RANDOM_CHOICE)
    count, channels, height, width = bank.filters.shape
    values = {"label": shown_label(bank), "count": count, "height": height, "width": width}
    if bank.spreads:
        return _("%(label)s: %(count)s of %(height)sx%(width)s, over any channels", **values)
    return ngettext("%(label)s: %(count)s of %(height)sx%(width)s, over %(num)s channel",
                    "%(label)s: %(count)s of %(height)sx%(width)s, over %(num)s channels",
                    channels, **values)


# --- computing it for a page -----------------------------------------------------------------


@dataclass(frozen=True)
class ShownStack:
    """A stack as a page shows it: computed on the working photo kept under ``key``."""

    request: StackRequest
    result: StackResult
    key: str
    kept: bool
    cell: StackCell | None
    cell_problem: str | None
    """Why the asked cell could not be explained (the stack changed under it), or None."""


def shown_stack(
    cache: PhotoCache, data: bytes, key: str | None, request: StackRequest,
    settings: Settings, learned: Mapping[str, Bank],
) -> ShownStack:
    """The working photo (uploaded now, kept under ``key``, or the sample's bytes in
    ``data``) through the stack, and the asked cell explained if it is still in the maps."""
    key, source, kept = working_photo(cache, data, key, max_side=request.max_side,
                                      color=request.color, max_pixels=settings.max_pixels)
    result = run_stack(source.pixels, request.blocks, seed=request.random_seed,
                       max_layer_macs=settings.max_layer_macs, max_values=settings.max_pixels,
                       learned=learned, photo_size=source.full_size)
    cell, problem = None, None
    if request.cell is not None:
        try:
            cell = explain_stack_cell(result, request.cell)
        except ConvlensError as error:  # a link's cell the edited stack no longer has
            problem = error.message
    return ShownStack(request=request, result=result, key=key, kept=kept, cell=cell,
                      cell_problem=problem)


def answer_of(shown: ShownStack) -> StackAnswer:
    """The JSON answer: an asked cell that is not in the maps is an error for a program."""
    if shown.request.cell is not None and shown.cell is None:
        explain_stack_cell(shown.result, shown.request.cell)  # raises the error, named
    return StackAnswer.of(shown.result, shown.cell)


# --- what the page shows ---------------------------------------------------------------------


def _shrink(pictures: NDArray[np.uint8], factor: int) -> NDArray[np.uint8]:
    """Each picture (count x h x w [x 3]) shrunk by ``factor`` (area averaging)."""
    if factor == 1:
        return pictures
    height, width = pictures.shape[1:3]
    size = (max(1, round(width / factor)), max(1, round(height / factor)))
    return np.stack([np.asarray(cv2.resize(picture, size, interpolation=cv2.INTER_AREA),
                                dtype=np.uint8) for picture in pictures])


def _grid_width(count: int, width: int) -> int:
    columns = grid_shape(count)[1]
    return columns * width + (columns - 1) * GRID_GAP


def _picture(pixels: NDArray[np.uint8]) -> str:
    picture_format = page_format(pixels)
    return data_url(encode_image(pixels, picture_format), picture_format)


def _grid(maps: NDArray[np.floating], activation: str, factor: int, *, block: int,
          kind: str) -> dict[str, Any]:
    """One grid of maps as the page draws it, with what a click needs to find a cell."""
    display = default_layer_display(activation)
    pictures = _shrink(feature_map_pictures(maps, display), factor)
    count, map_height, map_width = maps.shape
    tile_height, tile_width = pictures.shape[1:3]
    rows, columns = grid_shape(count)
    picture = tile(pictures)
    return {
        "src": _picture(picture), "block": block, "kind": kind, "count": count,
        "rows": rows, "columns": columns, "gap": GRID_GAP,
        "map_height": map_height, "map_width": map_width,
        "tile_height": tile_height, "tile_width": tile_width,
        "width": picture.shape[1], "height": picture.shape[0], "display": display,
        "display_name": _(DISPLAY_NAMES.get(display, display)),
    }


def stack_view(shown: ShownStack) -> dict[str, Any]:
    """The result fragment's context: the photo and every block's grids at one scale, the
    shapes and costs, and the explained cell (if any)."""
    result = shown.result
    answer = StackAnswer.of(result, shown.cell)
    widest = max(
        [result.photo.shape[1]]
        + [_grid_width(block.maps.output.shape[0], block.maps.output.shape[2])
           for block in result.blocks]
    )
    factor = max(1, math.ceil(widest / GRID_WIDTH))
    blocks = []
    for block, block_answer in zip(result.blocks, answer.blocks, strict=True):
        activation = block.spec.activation
        blocks.append({
            "answer": block_answer,
            "label": block.maps.layer.name,
            "maps": _grid(block.maps.output, activation, factor, block=block.index,
                          kind="maps"),
            "pooled": None if block.pooled is None else _grid(
                block.pooled, activation, factor, block=block.index, kind="pooled"),
            "kernel": "x".join(map(str, block.maps.layer.kernel_shape)),
        })
    photo = result.photo
    height, width = photo.shape[:2]
    shown_photo = _shrink(photo[np.newaxis], factor)[0]
    return {
        "answer": answer,
        "blocks": blocks,
        "factor": factor,
        "photo": {
            "src": photo_url(shown), "width": width, "height": height,
            "shown_width": shown_photo.shape[1], "shown_height": shown_photo.shape[0],
            "photo_width": result.photo_size[0], "photo_height": result.photo_size[1],
            "fitted": result.photo_size != (width, height),
            "channels": answer.photo_shape[0],
        },
        # A photo the cache could not keep has no key: the page sends it again.
        "photo_key": shown.key if shown.kept else "",
        "explain": None if shown.cell is None else explain_view(shown, shown.cell),
        "cell_problem": shown.cell_problem,
    }


def photo_url(shown: ShownStack) -> str:
    """The working photo's picture: by the /convolve/photos name while the cache keeps it
    (the browser then fetches it once), else inline."""
    photo = shown.result.photo
    picture_format = page_format(photo)
    if shown.kept:
        options = PhotoOptions(max_side=shown.request.max_side, color=shown.request.color)
        return "/convolve/photos/" + picture_name(shown.key, options, picture_format)
    return data_url(encode_image(photo, picture_format), picture_format)


def explain_view(shown: ShownStack, cell: StackCell) -> dict[str, Any]:
    """One feature-map cell: each input channel's window and filter slice, the sums, the
    bias, the total, the activation; and the box of the photo it sees."""
    result = shown.result
    answer = StackAnswer.of(result, cell).cell
    assert answer is not None
    block = result.blocks[cell.choice.block - 1]
    height, width = result.photo.shape[:2]
    top, left, bottom, right = cell.box
    margin = max(2.0, -top, -left, bottom - height + 1, right - width + 1) + 1
    names = PHOTO_CHANNELS.get(len(answer.channels)) if block.index == 1 else None
    channels = [
        {"name": _(names[item.channel]) if names else
         _("map %(map)s of block %(block)s", map=item.channel, block=block.index - 1),
         "answer": item}
        for item in answer.channels
    ]
    return {
        "cell": answer,
        "channels": channels,
        "shown": channels[:SHOWN_CHANNELS],
        "hidden": len(channels) - SHOWN_CHANNELS,
        "reads": _("the photo") if block.index == 1 else
        _("the maps of block %(block)s", block=block.index - 1),
        "kernel": "x".join(map(str, block.maps.layer.kernel_shape)),
        "photo": {"src": photo_url(shown), "width": width, "height": height},
        "box": {"x": left, "y": top, "width": right - left + 1, "height": bottom - top + 1},
        "inside": {
            "x": max(left, 0.0), "y": max(top, 0.0),
            "width": min(right, width - 1.0) - max(left, 0.0) + 1,
            "height": min(bottom, height - 1.0) - max(top, 0.0) + 1,
        },
        "view_box": f"{-margin:g} {-margin:g} {width + 2 * margin:g} {height + 2 * margin:g}",
        "view": {"low": -margin, "width": width + 2 * margin, "height": height + 2 * margin},
        "cell_text": f"{cell.choice.block},{cell.choice.map},{cell.choice.row},"
                     f"{cell.choice.column}",
    }


def form_context(request: StackRequest, learned: Mapping[str, Bank]) -> dict[str, Any]:
    """The form's choices and current values, so a page posted back (or opened from a link)
    keeps them."""
    cell = request.cell
    return {
        "banks": [(bank.name, _bank_label(bank)) for bank in catalog(learned)],
        # Labels marked with N_, translated by the form's macros (templates/macros.html); a
        # bank's label has its numbers filled in, so it comes translated.
        "activations": list(ACTIVATION_LABELS.items()),
        "pools": list(POOL_LABELS.items()),
        "paddings": list(PADDING_CHOICES),
        "sides": [(side, f"{side} px") for side in WORKING_SIDES],
        "form": {
            **request.model_dump(exclude={"blocks", "cell"}),
            "photo_key": request.photo_key or "",
            "blocks": request.blocks,
            "cell": "" if cell is None else f"{cell.block},{cell.map},{cell.row},{cell.column}",
            "picker": cell.model_dump() if cell is not None else
            {"block": len(request.blocks), "map": 0, "row": 0, "column": 0},
        },
        "max_blocks": MAX_BLOCKS,
    }
