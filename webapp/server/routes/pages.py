"""The pages: home, the padding lesson, /convolve and its per-cell explanation, the
receptive field of a stack, and the autoencoder's /reconstruct.

Routes stay thin: read the query or the form, call the core, render a template. A request
made by htmx (``HX-Request``) gets only the fragment that changes; anyone else gets the
whole page, so every page also works as a plain HTML form without JavaScript.
"""

from __future__ import annotations

import io
import re
import secrets
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from fastapi import APIRouter, Request
from fastapi.responses import Response
from PIL import Image, ImageOps
from pydantic import BaseModel, ConfigDict, Field, JsonValue

from webapp.arithmetic import (
    LayerKind,
    Padding,
    StackLayer,
    axis_arithmetic,
    effective_kernel_size,
    receptive_box,
    receptive_field,
)
from webapp.convolution import Convolution, explain_cell
from webapp.errors import InvalidInput
from webapp.images import data_url, encode_image
from webapp.numeric import convolve_numbers
from webapp.options import SAMPLE_NAMES, NumericRequest, PhotoOptions, parse_json_field
from webapp.padding import PADDING_MODES, source_index
from webapp.photos import PhotoResult, convolve_photo, sample_photo
from webapp.pooling import pool_window, reduce_window
from webapp.server.bodies import validated
from webapp.server.negotiation import wants_fragment
from webapp.server.routes.convolve import read_photo_request, render_convolve
from webapp.server.routes.reconstruct import layer_table, samples
from webapp.server.settings import Settings
from webapp.server.state import app_settings, loaded_models, work_queue
from webapp.server.templating import number, render

router = APIRouter(include_in_schema=False)

TIMES = "\u00d7"
"""The multiplication sign, as the sums on the pages are written."""


@router.get("/")
async def home(request: Request) -> Response:
    """What convlens is, and the lesson's path through the pages."""
    settings = app_settings(request)
    return render(request, "home.html", {"hero": _hero(settings)})


@lru_cache(maxsize=4)
def _hero(settings: Settings) -> dict[str, Any]:
    """The home page's picture, computed once: a small photo, Sobel x, and what they make."""
    with Image.open(io.BytesIO(sample_photo("cat", settings.static_dir))) as opened:
        opened.load()
        small = ImageOps.contain(opened.convert("RGB"), (180, 120), Image.Resampling.BOX)
    # Mirrored padding: zeros would draw a false edge around the frame.
    options = PhotoOptions(kernel="sobel-x", padding="same", padding_mode="reflect")
    result = convolve_photo(encode_image(np.asarray(small)), options, **settings.photo_limits)
    return {
        "input": data_url(encode_image(result.source.pixels), "png"),
        "output": data_url(result.encoded, "png"),
        "kernel": result.kernel.weights.tolist(),
        "width": small.width,
        "height": small.height,
    }


# --- /convolve -------------------------------------------------------------------------


@router.get("/convolve")
async def convolve_page(request: Request) -> Response:
    """The convolution page, with a result already computed on a sample photo.

    The query can preset any option (``/convolve?kernel=box-blur&stride=2``), so a lesson
    can link to exactly the picture it talks about.
    """
    settings, queue = app_settings(request), work_queue(request)
    fields: dict[str, JsonValue] = {
        name: parse_json_field(value, name) if name == "weights" else value
        for name, value in request.query_params.items()
        if value.strip()
    }
    fields.setdefault("sample", "cat")
    if "weights" not in fields:
        fields.setdefault("kernel", "sobel-x")
    options = validated(PhotoOptions, fields)
    data = sample_photo(options.sample or "cat", settings.static_dir)
    result = await queue.run(convolve_photo, data, options, **settings.photo_limits)
    return render_convolve(request, settings, result, fragment=wants_fragment(request))


class CellChoice(BaseModel):
    """The output cell a learner clicked (or chose with the keyboard)."""

    model_config = ConfigDict(extra="forbid")

    row: int = Field(ge=0)
    column: int = Field(ge=0)
    channel: int = Field(0, ge=0)


@router.post("/convolve/explain")
async def explain(request: Request) -> Response:
    """One output cell: its input window with the kernel over it, the products and the sum.

    The same form as POST /convolve plus ``row``, ``column`` and ``channel``; the numbers
    come from `webapp.convolution.explain_cell` on the real pixels, so they are the API's.
    """
    settings, queue = app_settings(request), work_queue(request)
    data, options, extras = await read_photo_request(
        request, settings, extra=("row", "column", "channel")
    )
    cell = validated(CellChoice, extras)
    result = await queue.run(convolve_photo, data, options, **settings.photo_limits)
    return render(request, "partials/explain.html", {"explain": explain_view(result, cell)})


def explain_view(result: PhotoResult, cell: CellChoice) -> dict[str, Any]:
    """Every number behind one output cell, laid out as the window it reads."""
    height, width, channels = result.output_shape
    for name, value, limit, axis in (
        ("row", cell.row, height, "height"),
        ("column", cell.column, width, "width"),
        ("channel", cell.channel, channels, "channels"),
    ):
        if value >= limit:
            raise InvalidInput(
                f"{name} must be below {limit} (the output's {axis}), not {value}.", field=name
            )
    computed = result.convolution
    names = ["red", "green", "blue"] if channels == 3 else ["gray"]
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
        terms = [*shown, f"… {len(terms) - len(shown)} more"]
    return before + joiner.join(terms) + after


# --- /lesson/padding ---------------------------------------------------------------------

_LESSON_INPUT = "0, 1, 2, 3, 4"
_LESSON_WEIGHTS = "-1, 0, 1"
_MAX_LESSON_VALUES = 24
_MAX_LESSON_KERNEL = 9


@router.get("/lesson/padding")
async def padding_lesson(request: Request) -> Response:
    """The study note's 1-D example, [0, 1, 2, 3, 4] with [-1, 0, 1], one window at a time."""
    settings, queue = app_settings(request), work_queue(request)
    query = request.query_params
    input_text = query.get("input", "").strip() or _LESSON_INPUT
    weights_text = query.get("weights", "").strip() or _LESSON_WEIGHTS
    fields: dict[str, JsonValue] = {
        name: value
        for name in ("stride", "padding", "padding_mode", "dilation", "flip")
        if (value := query.get(name, "").strip())
    }
    values = number_list(input_text, "input", _MAX_LESSON_VALUES)
    weights = number_list(weights_text, "weights", _MAX_LESSON_KERNEL)
    numeric = validated(NumericRequest, {"input": values, "weights": weights, **fields})
    answer = await queue.run(convolve_numbers, numeric, **settings.numeric_limits)
    context = {
        "lesson": lesson_view(values, numeric, answer),
        "form": {**numeric.model_dump(), "input": input_text, "weights": weights_text},
        "padding_modes": PADDING_MODES,
    }
    template = "partials/lesson_result.html" if wants_fragment(request) else "lesson.html"
    return render(request, template, context)


def number_list(text: str, field: str, max_count: int) -> list[float]:
    """Numbers typed by a person: ``0, 1, 2``, ``0 1 2`` or ``[0, 1, 2]``.

    >>> number_list("[0, 1.5 -2]", "input", 8)
    [0.0, 1.5, -2.0]
    """
    parts = [part for part in re.split(r"[\s,;]+", text.strip().strip("[]")) if part]
    if not parts:
        raise InvalidInput(f"{field} needs at least one number, e.g. 0, 1, 2.", field=field)
    if len(parts) > max_count:
        raise InvalidInput(
            f"{field} has {len(parts)} numbers; this page shows at most {max_count} "
            "(the API takes more).",
            field=field,
        )
    numbers: list[float] = []
    for part in parts:
        try:
            value = float(part)
        except ValueError:
            raise InvalidInput(
                f"{field}: {part!r} is not a number; write numbers separated by commas.",
                field=field,
            ) from None
        if not np.isfinite(value):
            raise InvalidInput(f"{field}: {part!r} is not a finite number.", field=field)
        numbers.append(value)
    return numbers


def lesson_view(
    values: list[float], numeric: NumericRequest, answer: dict[str, Any]
) -> dict[str, Any]:
    """The padded input as a row of cells, and each output cell's window over it."""
    size = len(values)
    before, after = answer["padding"]["left"], answer["padding"]["right"]
    padded = []
    for position in range(-before, size + after):
        source = source_index(position, size, numeric.padding_mode)
        padded.append({
            "position": position,
            "value": 0.0 if source is None else values[source],
            "padding": not 0 <= position < size,
        })
    steps = []
    for step in answer.get("steps", []):
        taps = dict(zip(step["positions"], zip(step["weights"], step["products"], strict=True),
                        strict=True))
        steps.append({
            "index": step["index"][0],
            "sum": step["sum"],
            "cells": [
                {**cell, "tap": cell["position"] in taps,
                 "weight": taps.get(cell["position"], (None, None))[0],
                 "product": taps.get(cell["position"], (None, None))[1]}
                for cell in padded
            ],
            "expression": " + ".join(
                f"{number(weight)}{TIMES}{number(value)}"
                for weight, value in zip(step["weights"], step["values"], strict=True)
            ),
        })
    arithmetic = answer["arithmetic"]["length"]
    return {
        "input": values,
        "size": size,
        "padded": padded,
        "steps": steps,
        "output": answer["output"],
        "output_shape": answer["output_shape"],
        "arithmetic": arithmetic,
        "applied": answer["kernel"]["applied"],
        "operation": answer["operation"],
    }


# --- /receptive-field --------------------------------------------------------------------

_LAYER_FIELDS = ("kind", "kernel", "stride", "padding", "dilation")
_KINDS: dict[str, str] = {"conv": "Conv", "max_pool": "Max pool", "avg_pool": "Average pool"}
_MAX_LAYERS = 10
_MAX_LAYER_NUMBER = 16
_RF_SIZES = (16, 32, 64, 128, 256)

EXAMPLES: tuple[tuple[str, str, tuple[StackLayer, ...]], ...] = (
    ("quiz", "The quiz: 3x3 conv, 2x2 max pool, 3x3 conv", (
        StackLayer("conv", 3), StackLayer("max_pool", 2, stride=2), StackLayer("conv", 3),
    )),
    ("two-convs", "Two 3x3 convs", (StackLayer("conv", 3), StackLayer("conv", 3))),
    ("dilated", "3x3 conv, then a 3x3 conv with dilation 2", (
        StackLayer("conv", 3), StackLayer("conv", 3, dilation=2),
    )),
    ("encoder", "The autoencoder's encoder (same padding)", (
        StackLayer("conv", 3, padding="same"), StackLayer("max_pool", 2, 2, "same"),
        StackLayer("conv", 3, padding="same"), StackLayer("max_pool", 2, 2, "same"),
        StackLayer("conv", 3, padding="same"), StackLayer("max_pool", 2, 2, "same"),
    )),
)
"""Stacks worth trying, the lesson's quiz first (its answer: 8)."""


def stack_query(layers: tuple[StackLayer, ...] | list[StackLayer]) -> str:
    """The /receptive-field query string that builds ``layers``."""
    parts = [
        f"kind={layer.kind}&kernel={layer.kernel}&stride={layer.stride}"
        f"&padding={layer.padding}&dilation={layer.dilation}"
        for layer in layers
    ]
    return "&".join(parts)


@router.get("/receptive-field")
async def receptive_field_page(request: Request) -> Response:
    """Build a stack of conv and pooling layers; see how far one output cell can see."""
    settings = app_settings(request)
    query = request.query_params
    layers = parse_layers(query.multi_items(), settings.max_kernel_size)
    edit = query.get("edit", "")
    if edit == "add":
        layers.append(StackLayer("conv", 3))
    elif edit.startswith("remove-") and edit[7:].isdigit() and len(layers) > 1:
        index = int(edit[7:]) - 1
        layers = [layer for position, layer in enumerate(layers) if position != index]
    if len(layers) > _MAX_LAYERS:
        raise InvalidInput(f"At most {_MAX_LAYERS} layers, please.", field="layers")
    size = _choice_number(query.get("size"), "size", _RF_SIZES, default=32)
    sample = query.get("sample") or "cat"
    if sample not in SAMPLE_NAMES:
        raise InvalidInput(f"sample must be one of {', '.join(SAMPLE_NAMES)}.", field="sample")
    view = stack_view(layers, size, query.get("row"), query.get("column"))
    view["image"] = _square_picture(settings.static_dir / "samples" / f"{sample}.jpg", size)
    context = {
        "stack": view,
        # Row and column stay empty (the centre cell) until the learner picks one.
        "form": {"size": size, "sample": sample, "row": query.get("row", ""),
                 "column": query.get("column", "")},
        "kinds": _KINDS,
        "sizes": _RF_SIZES,
        "samples": SAMPLE_NAMES,
        "examples": [(key, label, stack_query(stack)) for key, label, stack in EXAMPLES],
        "max_kernel_size": settings.max_kernel_size,
        "max_layers": _MAX_LAYERS,
    }
    template = "partials/receptive_result.html" if wants_fragment(request) else "receptive.html"
    return render(request, template, context)


def parse_layers(items: list[tuple[str, str]], max_kernel_size: int) -> list[StackLayer]:
    """Layers from repeated query fields (``kind=conv&kernel=3&...&kind=max_pool&...``).

    >>> parse_layers([("kind", "conv"), ("kernel", "3"), ("kind", "max_pool"),
    ...               ("kernel", "2"), ("stride", "1"), ("stride", "2")], 31)[1]
    StackLayer(kind='max_pool', kernel=2, stride=2, padding='valid', dilation=1)
    """
    columns: dict[str, list[str]] = {name: [] for name in _LAYER_FIELDS}
    for name, value in items:
        if name in columns:
            columns[name].append(value.strip())
    count = len(columns["kind"])
    if count == 0:
        return [StackLayer("conv", 3)]
    layers: list[StackLayer] = []
    for index in range(count):
        def given(name: str, default: str, index: int = index) -> str:
            listed = columns[name]
            return listed[index] if index < len(listed) and listed[index] else default

        field = f"layer-{index + 1}"
        kind = given("kind", "conv")
        if kind not in _KINDS:
            raise InvalidInput(f"Layer {index + 1}: kind must be conv, max_pool or avg_pool, "
                               f"not {kind!r}.", field=field)
        layer_kind: LayerKind = kind  # type: ignore[assignment]  # checked just above
        padding_text = given("padding", "valid")
        padding: Padding
        if padding_text in ("valid", "same", "full"):
            padding = padding_text  # type: ignore[assignment]
        else:
            padding = _layer_number(padding_text, "padding", index, 0)
        layers.append(StackLayer(
            kind=layer_kind,
            kernel=_layer_number(given("kernel", "3"), "kernel", index, 1, max_kernel_size),
            stride=_layer_number(given("stride", "1"), "stride", index, 1),
            padding=padding,
            dilation=_layer_number(given("dilation", "1"), "dilation", index, 1),
        ))
    return layers


def _layer_number(
    text: str, name: str, index: int, lowest: int, highest: int = _MAX_LAYER_NUMBER
) -> int:
    if not text.isdigit() or not lowest <= int(text) <= highest:
        raise InvalidInput(
            f"Layer {index + 1}: {name} must be a whole number from {lowest} to {highest}, "
            f"not {text!r}.",
            field=f"layer-{index + 1}",
        )
    return int(text)


def _choice_number(text: str | None, name: str, choices: tuple[int, ...], default: int) -> int:
    if not text:
        return default
    if not text.isdigit() or int(text) not in choices:
        listed = ", ".join(map(str, choices))
        raise InvalidInput(f"{name} must be one of {listed}, not {text!r}.", field=name)
    return int(text)


def stack_view(
    layers: list[StackLayer], size: int, row_text: str | None, column_text: str | None
) -> dict[str, Any]:
    """Each layer's output size, jump and receptive field, with the formulas filled in."""
    fields = receptive_field(layers, input_size=size)
    rows = []
    previous_size, previous_jump = size, 1
    for layer, field in zip(layers, fields, strict=True):
        arithmetic = axis_arithmetic(
            previous_size, layer.kernel, stride=layer.stride, dilation=layer.dilation,
            padding=layer.padding, axis_name=f"of layer {field.index}",
        )
        rows.append({
            "layer": layer,
            "label": _KINDS[layer.kind],
            "field": field,
            "effective_kernel": effective_kernel_size(layer.kernel, layer.dilation),
            "size_formula": arithmetic.formula,
            # Written like webapp.arithmetic's own formulas, which sit beside it.
            "jump_formula": f"{previous_jump} x {layer.stride} = {field.jump}",
        })
        previous_size, previous_jump = field.output_size, field.jump
    last = fields[-1]
    row = _cell(row_text, last.output_size)
    column = _cell(column_text, last.output_size)
    top, bottom = receptive_box(last, row)
    left, right = receptive_box(last, column)
    # The view box shows the image and any part of the field that reaches into padding.
    low = min(0.0, top, left) - 1
    high = max(float(size), bottom + 1, right + 1) + 1
    centres = (
        [last.start + index * last.jump for index in range(last.output_size)]
        if last.output_size <= 32 else []
    )
    return {
        "layers": rows,
        "size": size,
        "output_size": last.output_size,
        "receptive_field": last.receptive_field,
        "jump": last.jump,
        "start": last.start,
        "row": row,
        "column": column,
        "box": {"top": top, "left": left, "height": bottom - top + 1, "width": right - left + 1},
        "inside": {
            "top": max(top, 0.0), "left": max(left, 0.0),
            "height": min(bottom, size - 1.0) - max(top, 0.0) + 1,
            "width": min(right, size - 1.0) - max(left, 0.0) + 1,
        },
        "centre": {"y": last.start + row * last.jump + 0.5,
                   "x": last.start + column * last.jump + 0.5},
        "centres": [centre + 0.5 for centre in centres],
        "view_box": f"{low:g} {low:g} {high - low:g} {high - low:g}",
        "view": {"low": low, "extent": high - low},
    }


def _cell(text: str | None, count: int) -> int:
    """An output index from the query, kept inside the output (the centre by default)."""
    if text is None or not text.strip().isdigit():
        return (count - 1) // 2
    return min(int(text), count - 1)


@lru_cache(maxsize=32)
def _square_picture(path: Path, size: int) -> str:
    """A sample photo cropped to a square and scaled to ``size`` pixels, as a data URL."""
    with Image.open(io.BytesIO(path.read_bytes())) as opened:
        opened.load()
        image = ImageOps.fit(opened.convert("RGB"), (size, size), Image.Resampling.BOX)
    return data_url(encode_image(np.asarray(image)), "png")



# --- /reconstruct --------------------------------------------------------------------------


@router.get("/reconstruct")
async def reconstruct_page(request: Request) -> Response:
    """Draw a digit and see what an autoencoder keeps of it (``?model=wide`` picks one).

    The drawing itself goes to POST /reconstruct (`webapp.server.routes.reconstruct`), which answers
    the page with a fragment. Here: the form, the chosen model's layer table, and the
    lesson's figure, ten held-out digits and their reconstructions. htmx asking again (the
    model changed) gets only that figure, and with ``inside`` the model's table as well
    (asked for while nothing is drawn: a drawing's answer brings its own table).
    """
    models = loaded_models(request)
    available = list(models)
    name = request.query_params.get("model") or (available[0].name if available else None)
    model = models.get(name) if name is not None else None
    figure = None
    if model is not None:
        digits = await samples(request, count=10, model=model.name)
        figure = {"model": model.name, "digits": digits}
    inside = layer_table(model, {}) if model is not None else None
    if wants_fragment(request):
        return render(request, "partials/reconstruct_samples.html", {
            "figure": figure,
            "inside_out_of_band": inside if "inside" in request.query_params else None,
        })
    context = {
        "models": [candidate.describe() for candidate in available],
        "unavailable": models.unavailable,
        "chosen": model,
        "figure": figure,
        "inside": inside,
        # The noise's seed: the same noisy digit for every model and every redraw, until
        # the learner asks for new noise.
        "seed": secrets.randbelow(2**31),
    }
    return render(request, "reconstruct.html", context)
