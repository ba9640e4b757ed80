"""What the /convolve page shows of a convolved photo: the result, its form, one cell explained.

Plain functions of core results (`webapp.photos.PhotoResult`), called off the event loop
by the routes in `webapp.server.routes.convolve`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from webapp.convolution import Convolution, explain_cell
from webapp.errors import InvalidInput
from webapp.images import Color, OutputFormat, data_url, encode_image
from webapp.options import PhotoOptions
from webapp.photos import PhotoAnswer, PhotoResult, convolve_decoded
from webapp.pooling import pool_window, reduce_window
from webapp.server.photocache import FULL_SIZE, PhotoCache, working_photo
from webapp.server.settings import Settings
from webapp.server.templating import number
from webapp.translation import N_
from webapp.translation import gettext as _

TIMES = "\u00d7"
"""The multiplication sign, as the sums on the pages are written."""


def server_timing(result: PhotoResult) -> str:
    """Where the time went, as a ``Server-Timing`` header (browsers' dev tools show it)."""
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


@dataclass(frozen=True)
class ShownPhoto:
    """A result as a page shows it: computed on the working photo kept under ``key``."""

    result: PhotoResult
    key: str
    kept: bool
    """Whether the cache holds the photo (one over its whole budget is not kept)."""


def shown_photo(
    cache: PhotoCache, data: bytes, key: str | None, options: PhotoOptions, settings: Settings
) -> ShownPhoto:
    """A page's result: the working photo (uploaded now, or kept under ``key``) convolved,
    its output in a light format (`page_format`)."""
    key, source, kept = working_photo(cache, data, key, max_side=options.max_side,
                                      color=options.color, max_pixels=settings.max_pixels)
    light = options.model_copy(update={"format": page_format(source.pixels)})
    result = convolve_decoded(source, light, **settings.photo_limits)
    return ShownPhoto(result=result, key=key, kept=kept)


# Up to this many pixels a picture is sent as PNG: small pictures are drawn enlarged, one
# crisp square per pixel, where JPEG's blocks would show; larger ones as JPEG, a tenth of
# the bytes of PNG for a photo, which is what keeps a control change light.
_LOSSLESS_PIXELS = 256 * 256


def page_format(pixels: np.ndarray[Any, Any]) -> OutputFormat:
    """The format a page's pictures of ``pixels``' size are sent in."""
    return "png" if pixels.shape[0] * pixels.shape[1] <= _LOSSLESS_PIXELS else "jpeg"


_PICTURE = re.compile(r"(?P<key>[0-9a-f]{32})-(?P<side>full|[1-9][0-9]{0,4})-"
                      r"(?P<color>rgb|gray)\.(?P<format>png|jpeg)")


def picture_name(key: str, options: PhotoOptions, picture_format: OutputFormat) -> str:
    """The name of the page's input picture (served by GET /convolve/photos/<name>): it
    says everything the picture is made from, so the picture under a name never changes.

    >>> picture_name("0" * 32, PhotoOptions(max_side=1024), "jpeg")[-18:]
    '0000-1024-rgb.jpeg'
    """
    side = options.max_side or "full"
    return f"{key}-{side}-{options.color}.{picture_format}"


def parse_picture_name(name: str) -> tuple[str, int, Color, OutputFormat]:
    """The key, working side (`FULL_SIZE` for full), colour and format a picture name
    holds; a clear 422 for any other name."""
    match = _PICTURE.fullmatch(name)
    if match is None:
        raise InvalidInput(
            _("name must be <photo key>-<working side or full>-<rgb or gray>.<png or jpeg>."),
            field="name",
        )
    side = FULL_SIZE if match["side"] == "full" else int(match["side"])
    color: Color = "gray" if match["color"] == "gray" else "rgb"
    picture_format: OutputFormat = "png" if match["format"] == "png" else "jpeg"
    return match["key"], side, color, picture_format


def result_view(shown: ShownPhoto) -> dict[str, Any]:
    """What the result fragment shows: the JSON answer, the input as the kernel saw it
    (gray when asked, at the working size), both images' sizes at one common scale, and
    how the working size relates to the photo."""
    result = shown.result
    answer = PhotoAnswer.of(result).model_dump()
    (in_height, in_width), (out_height, out_width) = (
        result.input_shape[:2], result.output_shape[:2]
    )
    scale = display_scale(max(in_width, out_width), max(in_height, out_height))
    photo_width, photo_height = result.source.full_size
    picture_format = page_format(result.source.pixels)
    computed = result.convolution
    return {
        "answer": answer,
        "options": result.options,
        "pooling": result.options.operation != "convolve",
        # A photo the cache could not keep cannot be fetched by its key: it comes inline,
        # and without a key the page sends it again with each change.
        "photo_key": shown.key if shown.kept else "",
        "input_image": (
            "/convolve/photos/" + picture_name(shown.key, result.options, picture_format)
            if shown.kept
            else data_url(encode_image(result.source.pixels, picture_format), picture_format)
        ),
        "working": {"width": in_width, "height": in_height, "photo_width": photo_width,
                    "photo_height": photo_height,
                    "fitted": (photo_width, photo_height) != (in_width, in_height)},
        "applied": (computed.kernel if isinstance(computed, Convolution)
                    else result.kernel.weights).tolist(),
        "scale": scale,
        "pixelated": scale >= 2,
        "input_size": {"width": round(in_width * scale), "height": round(in_height * scale)},
        "output_size": {"width": round(out_width * scale), "height": round(out_height * scale)},
        "linear_ratio": answer["linear_params"] / max(answer["params"], 1),
    }


def page_view(shown: ShownPhoto, *, max_kernel_size: int) -> dict[str, Any]:
    """The whole page's context: the result, and the form's choices and current values."""
    return {"view": result_view(shown),
            **form_context(shown.result.options, max_kernel_size, photo_key=shown.key)}


def form_context(
    options: PhotoOptions, max_kernel_size: int, *, photo_key: str | None = None
) -> dict[str, Any]:
    """The form's choices and its current values, so a page posted back keeps them."""
    return {
        "max_kernel_size": max_kernel_size,
        "form": {
            **options.model_dump(),
            "photo_key": photo_key or "",
            "working_side": options.max_side or "full",
            "weights_text": "" if options.weights is None else json.dumps(options.weights),
            "padding_cells": options.padding if isinstance(options.padding, int) else "",
            "padding_name": options.padding if isinstance(options.padding, str) else "",
        },
    }


class CellChoice(BaseModel):
    """The output cell a learner clicked (or chose with the keyboard)."""

    model_config = ConfigDict(extra="forbid")

    row: int = Field(ge=0)
    column: int = Field(ge=0)
    channel: int = Field(0, ge=0)


def explain_view(result: PhotoResult, cell: CellChoice) -> dict[str, Any]:
    """Every number behind one output cell, laid out as the window it reads."""
    height, width, channels = result.output_shape
    for name, value, limit, message in (
        ("row", cell.row, height, N_("row must be below %(limit)s (the output's height), "
                                     "not %(value)s.")),
        ("column", cell.column, width, N_("column must be below %(limit)s (the output's "
                                          "width), not %(value)s.")),
        ("channel", cell.channel, channels, N_("channel must be below %(limit)s (the "
                                               "output's channels), not %(value)s.")),
    ):
        if value >= limit:
            raise InvalidInput(_(message, limit=limit, value=value), field=name)
    computed = result.convolution
    # The channels' names, translated where they are shown (templates/partials/explain.html).
    names = [N_("red"), N_("green"), N_("blue")] if channels == 3 else [N_("gray")]
    output = computed.output if computed.output.ndim == 3 else computed.output[:, :, np.newaxis]
    per_channel: list[dict[str, Any]] = []
    for channel, channel_name in enumerate(names):
        cells: list[dict[str, Any]]
        if isinstance(computed, Convolution):
            steps = explain_cell(
                result.source.pixels, computed, cell.row, cell.column,
                padding_mode=result.options.padding_mode, channel=channel,
            )
            total = sum(step.product for step in steps)
            cells = [
                {"row": step.row, "column": step.column, "value": step.value,
                 "weight": step.weight, "product": step.product,
                 "padding": not _inside(step.row, step.column, result)}
                for step in steps
            ]
        else:
            window = pool_window(result.source.pixels, computed, cell.row, cell.column,
                                 channel=channel)
            total = reduce_window(window, computed.kind)
            cells = [
                {"row": item.row, "column": item.column, "value": item.value,
                 "padding": item.value is None,
                 "chosen": computed.kind == "max" and item.value == total}
                for item in window
            ]
        per_channel.append({
            "name": channel_name,
            "sum": total,
            "output": float(output[cell.row, cell.column, channel]),
            "cells": cells,
        })
    chosen = per_channel[cell.channel]
    rows, columns = computed.rows, computed.columns
    kernel_height, kernel_width = rows.kernel, columns.kernel
    cells_of_channel: list[dict[str, Any]] = chosen["cells"]
    grid = [cells_of_channel[u * kernel_width : (u + 1) * kernel_width]
            for u in range(kernel_height)]
    pixel = result.pixels[cell.row, cell.column]
    return {
        "row": cell.row,
        "column": cell.column,
        "channel": cell.channel,
        "channels": per_channel,
        "chosen": chosen,
        "grid": grid,
        "expression": _expression(cells_of_channel, result.options.operation),
        "operation": result.operation,
        "pooling": not isinstance(computed, Convolution),
        "display": result.display,
        "pixel": np.atleast_1d(pixel).tolist(),
        "window": {
            "top": rows.stride * cell.row - rows.padding_lo,
            "left": columns.stride * cell.column - columns.padding_lo,
            "height": rows.effective_kernel,
            "width": columns.effective_kernel,
        },
        "input_shape": result.input_shape,
        "output_shape": result.output_shape,
        "dilation": rows.dilation,
    }


def _inside(row: int, column: int, result: PhotoResult) -> bool:
    height, width = result.input_shape[:2]
    return 0 <= row < height and 0 <= column < width


# Past this many terms a sum is shown cut short (the grid above it still holds every one).
_MAX_TERMS = 25


def _expression(cells: list[dict[str, Any]], operation: str) -> str:
    """The sum (or max, or mean) written out the way a learner would check it by hand."""
    if operation == "convolve":
        terms = [f"{number(cell['weight'])}{TIMES}{number(cell['value'])}" for cell in cells]
        joiner, before, after = " + ", "", ""
    else:
        terms = [number(cell["value"]) for cell in cells if cell["value"] is not None]
        if operation == "max-pool":
            joiner, before, after = ", ", "max(", ")"
        else:
            joiner, before, after = " + ", "(", f") / {len(terms)}"
    if len(terms) > _MAX_TERMS:
        shown = terms[: _MAX_TERMS - 1]
        terms = [*shown, _("… %(count)s more", count=len(terms) - len(shown))]
    return before + joiner.join(terms) + after
