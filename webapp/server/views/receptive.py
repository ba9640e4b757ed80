"""What the receptive-field page shows: a stack of layers, and how far one cell can see."""

from __future__ import annotations

import io
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageOps

from webapp.arithmetic import (
    LAYER_KIND_LABELS,
    LayerKind,
    Padding,
    StackLayer,
    axis_arithmetic,
    effective_kernel_size,
    receptive_box,
    receptive_field,
)
from webapp.errors import InvalidInput
from webapp.images import data_url, encode_image
from webapp.translation import N_
from webapp.translation import gettext as _

_LAYER_FIELDS = ("kind", "kernel", "stride", "padding", "dilation")
MAX_LAYERS = 10
_MAX_LAYER_NUMBER = 16
RF_SIZES = (16, 32, 64, 128, 256)

EXAMPLES: tuple[tuple[str, str, tuple[StackLayer, ...]], ...] = (
    ("quiz", N_("The quiz: 3x3 conv, 2x2 max pool, 3x3 conv"), (
        StackLayer("conv", 3), StackLayer("max_pool", 2, stride=2), StackLayer("conv", 3),
    )),
    ("two-convs", N_("Two 3x3 convs"), (StackLayer("conv", 3), StackLayer("conv", 3))),
    ("dilated", N_("3x3 conv, then a 3x3 conv with dilation 2"), (
        StackLayer("conv", 3), StackLayer("conv", 3, dilation=2),
    )),
    ("encoder", N_("The autoencoder's encoder (same padding)"), (
        StackLayer("conv", 3, padding="same"), StackLayer("max_pool", 2, 2, "same"),
        StackLayer("conv", 3, padding="same"), StackLayer("max_pool", 2, 2, "same"),
        StackLayer("conv", 3, padding="same"), StackLayer("max_pool", 2, 2, "same"),
    )),
)
"""Stacks worth trying, the lesson's quiz first (its answer: 8); each label is marked for the
catalogue and translated where the page shows it."""

FIELD_LABELS = {
    "kernel": N_("Kernel"), "stride": N_("Stride"), "padding": N_("Padding"),
    "dilation": N_("Dilation"), "size": N_("Input size"),
}
"""The fields as the form names them, for the messages about them."""


def stack_query(layers: tuple[StackLayer, ...] | list[StackLayer]) -> str:
    """The /receptive-field query string that builds ``layers``."""
    parts = [
        f"kind={layer.kind}&kernel={layer.kernel}&stride={layer.stride}"
        f"&padding={layer.padding}&dilation={layer.dilation}"
        for layer in layers
    ]
    return "&".join(parts)


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
        if kind not in LAYER_KIND_LABELS:
            raise InvalidInput(_("Layer %(number)s: kind must be conv, max_pool or avg_pool, "
                                 "not %(value)s.", number=index + 1, value=repr(kind)),
                               field=field)
        layer_kind: LayerKind = kind  # narrowed by the membership test just above
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
            # Translators: %(label)s: the field as the form names it; %(name)s: as the API.
            _("Layer %(number)s: %(name)s must be a whole number from %(lowest)s to "
              "%(highest)s, not %(value)s.", number=index + 1, name=name,
              label=_(FIELD_LABELS.get(name, name)), lowest=lowest, highest=highest,
              value=repr(text)),
            field=f"layer-{index + 1}",
        )
    return int(text)


def choice_number(text: str | None, name: str, choices: tuple[int, ...], default: int) -> int:
    if not text:
        return default
    if not text.isdigit() or int(text) not in choices:
        listed = ", ".join(map(str, choices))
        raise InvalidInput(
            # Translators: %(label)s: the field as the form names it; %(name)s: as the API.
            _("%(name)s must be one of %(listed)s, not %(value)s.", name=name,
              label=_(FIELD_LABELS.get(name, name)), listed=listed, value=repr(text)),
            field=name,
        )
    return int(text)


def stack_view(
    layers: list[StackLayer], size: int, row_text: str | None, column_text: str | None
) -> dict[str, Any]:
    """Each layer's output size, jump and receptive field, with the formulas filled in."""
    _check_each_layer(layers, size)
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
            "label": LAYER_KIND_LABELS[layer.kind],
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


def _check_each_layer(layers: list[StackLayer], size: int) -> None:
    """Each layer's sizes worked out in turn, so that a layer the input is too small for is
    the one named (the page marks that layer, not every padding choice of the stack)."""
    for index, layer in enumerate(layers, start=1):
        try:
            size = axis_arithmetic(
                size, layer.kernel, stride=layer.stride, dilation=layer.dilation,
                padding=layer.padding, axis_name=f"of layer {index}",
            ).output
        except InvalidInput as error:
            raise type(error)(error.message, field=f"layer-{index}") from None


def _cell(text: str | None, count: int) -> int:
    """An output index from the query, kept inside the output (the centre by default)."""
    if text is None or not text.strip().isdigit():
        return (count - 1) // 2
    return min(int(text), count - 1)


@lru_cache(maxsize=32)
def square_picture(path: Path, size: int) -> str:
    """A sample photo cropped to a square and scaled to ``size`` pixels, as a data URL.

    Cached: it holds pixels only, the same in every language (the page's words are
    translated when the page is rendered, never cached).
    """
    with Image.open(io.BytesIO(path.read_bytes())) as opened:
        opened.load()
        image = ImageOps.fit(opened.convert("RGB"), (size, size), Image.Resampling.BOX)
    return data_url(encode_image(np.asarray(image)), "png")
