"""Convolution arithmetic: output sizes, padding, parameter counts and receptive fields.

Everything here is a pure function of a few integers, so a learner can check each number by
hand. The formulas follow Dumoulin & Visin, "A guide to convolution arithmetic for deep
learning" (arXiv:1603.07285); the bracketed names (R6, R15, ...) are its "Relationships".

Per spatial axis: ``n`` input size, ``k`` kernel size, ``s`` stride, ``d`` dilation,
``p_lo``/``p_hi`` zero padding before/after, ``o`` output size.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Literal

from webapp.errors import InvalidArithmetic, InvalidInput
from webapp.translation import N_
from webapp.translation import gettext as _

PaddingName = Literal["valid", "same", "full"]
Padding = PaddingName | int
"""``"valid"`` (none), ``"same"`` (TensorFlow's), ``"full"``, or cells added on every side."""


def effective_kernel_size(kernel_size: int, dilation: int = 1) -> int:
    """How many input cells a dilated kernel spans [R15]: ``k + (k - 1)(d - 1)``.

    >>> effective_kernel_size(3, dilation=2)
    5
    """
    return kernel_size + (kernel_size - 1) * (dilation - 1)


def padding_per_side(
    input_size: int, kernel_size: int, *, stride: int = 1, dilation: int = 1, padding: Padding
) -> tuple[int, int]:
    """The zero cells added before and after one axis, as ``(p_lo, p_hi)``.

    ``"same"`` is TensorFlow's: the output has ``ceil(n / s)`` cells and the total padding
    ``max((o - 1) s + k_eff - n, 0)`` is split with the odd cell at the end.

    >>> padding_per_side(5, 3, padding="same")
    (1, 1)
    >>> padding_per_side(6, 4, stride=2, padding="same")
    (1, 1)
    >>> padding_per_side(5, 4, padding="same")
    (1, 2)
    >>> padding_per_side(5, 3, padding="full")
    (2, 2)
    """
    k_eff = effective_kernel_size(kernel_size, dilation)
    if padding == "valid":
        return (0, 0)
    if padding == "full":
        return (k_eff - 1, k_eff - 1)
    if padding == "same":
        output = math.ceil(input_size / stride)
        total = max((output - 1) * stride + k_eff - input_size, 0)
        return (total // 2, total - total // 2)
    if isinstance(padding, bool) or not isinstance(padding, int) or padding < 0:
        raise InvalidInput(
            _("padding must be 'valid', 'same', 'full' or an integer >= 0, not %(value)s.",
              value=repr(padding)),
            field="padding",
        )
    return (padding, padding)


def output_size(
    input_size: int,
    kernel_size: int,
    *,
    stride: int = 1,
    dilation: int = 1,
    padding_lo: int = 0,
    padding_hi: int = 0,
) -> int:
    """Cells along one axis after the convolution [R6, R15].

    ``o = floor((n + p_lo + p_hi - k_eff) / s) + 1``; zero or less means no output at all.

    >>> output_size(5, 3)                       # the lesson's example: (5,) -> (3,)
    3
    >>> output_size(5, 3, padding_lo=1, padding_hi=1)
    5
    >>> output_size(7, 3, stride=2)
    3
    """
    k_eff = effective_kernel_size(kernel_size, dilation)
    return (input_size + padding_lo + padding_hi - k_eff) // stride + 1


@dataclass(frozen=True)
class AxisArithmetic:
    """The arithmetic of one axis, with the numbers a learner can check."""

    input: int
    kernel: int
    dilation: int
    effective_kernel: int
    stride: int
    padding_lo: int
    padding_hi: int
    output: int
    dropped: int
    """Padded input cells past the last window: a stride that does not divide leaves them out."""
    formula: str

    def as_dict(self) -> dict[str, int | str]:
        return asdict(self)


AXIS_NAMES = (N_("height"), N_("width"), N_("axis"))
"""The axes a message names (an ``axis_name``), for the catalogue: `axis_label` translates."""

_OUTPUTS = {"height": N_("output height"), "width": N_("output width"),
            "axis": N_("output axis")}
_LAYER = re.compile(r"of layer (\d+)")


def axis_label(axis_name: str) -> str:
    """An axis as a message names it ("height", "width"), in the request's language."""
    return _(axis_name) if axis_name in AXIS_NAMES else axis_name


def _output_of(axis_name: str) -> str:
    """"output height", or "output of layer 2" for a stack's layer (``axis_name`` "of layer
    2"), in the request's language: the subject of an empty output's message."""
    layer = _LAYER.fullmatch(axis_name)
    if layer:
        return _("output of layer %(index)s", index=layer.group(1))
    if axis_name in _OUTPUTS:
        return _(_OUTPUTS[axis_name])
    return f"output {axis_name}"


def axis_arithmetic(
    input_size: int,
    kernel_size: int,
    *,
    stride: int = 1,
    dilation: int = 1,
    padding: Padding = "valid",
    axis_name: str = "axis",
) -> AxisArithmetic:
    """Resolve the padding and compute the output size of one axis, or say why there is none.

    >>> axis_arithmetic(5, 3).formula
    'floor((5 + 0 + 0 - 3) / 1) + 1 = 3'
    >>> axis_arithmetic(8, 3, stride=2).dropped
    1
    """
    if stride < 1:
        raise InvalidArithmetic(_("stride must be >= 1, got %(stride)s.", stride=stride),
                                field="stride")
    if dilation < 1:
        raise InvalidArithmetic(_("dilation must be >= 1, got %(dilation)s.", dilation=dilation),
                                field="dilation")
    padding_lo, padding_hi = padding_per_side(
        input_size, kernel_size, stride=stride, dilation=dilation, padding=padding
    )
    k_eff = effective_kernel_size(kernel_size, dilation)
    span = input_size + padding_lo + padding_hi - k_eff
    output = span // stride + 1
    formula = (
        f"floor(({input_size} + {padding_lo} + {padding_hi} - {k_eff}) / {stride}) + 1 = {output}"
    )
    if output < 1:
        raise InvalidArithmetic(
            _("The %(output)s would be empty: %(formula)s. The effective kernel (%(effective)s "
              "= %(kernel)s + (%(kernel)s - 1) x (%(dilation)s - 1)) is larger than the padded "
              "input (%(padded)s); add padding or use a smaller kernel or dilation.",
              output=_output_of(axis_name), formula=formula, effective=k_eff,
              kernel=kernel_size, dilation=dilation, padded=input_size + padding_lo + padding_hi),
            field="padding",
        )
    return AxisArithmetic(
        input=input_size,
        kernel=kernel_size,
        dilation=dilation,
        effective_kernel=k_eff,
        stride=stride,
        padding_lo=padding_lo,
        padding_hi=padding_hi,
        output=output,
        dropped=span % stride,
        formula=formula,
    )


def padding_sides(rows: AxisArithmetic, columns: AxisArithmetic) -> dict[str, int]:
    """Cells of padding on each side of an image, by name."""
    return {
        "top": rows.padding_lo,
        "bottom": rows.padding_hi,
        "left": columns.padding_lo,
        "right": columns.padding_hi,
    }


def conv_parameters(
    kernel_height: int,
    kernel_width: int,
    in_channels: int,
    out_channels: int,
    *,
    groups: int = 1,
    bias: bool = True,
) -> int:
    """Weights of a conv layer: ``k_h * k_w * (c_in / groups) * c_out (+ c_out biases)``.

    >>> conv_parameters(3, 3, 1, 16)     # the autoencoder's first layer
    160
    """
    return kernel_height * kernel_width * (in_channels // groups) * out_channels + (
        out_channels if bias else 0
    )


def linear_parameters(in_features: int, out_features: int, *, bias: bool = True) -> int:
    """Weights of a linear layer: every output looks at every input (``in * out + out``).

    The lesson's point: a 28x28 image mapped to 28x28 by a linear layer needs 615,440
    weights; a 3x3 convolution doing a similar job needs 10.

    >>> linear_parameters(784, 784)
    615440
    """
    return in_features * out_features + (out_features if bias else 0)


LayerKind = Literal["conv", "max_pool", "avg_pool"]
LAYER_KIND_LABELS: dict[LayerKind, str] = {
    "conv": N_("Conv"), "max_pool": N_("Max pool"), "avg_pool": N_("Average pool")
}
"""How the pages name each kind of layer."""


@dataclass(frozen=True)
class StackLayer:
    """One conv or pooling layer of a stack, as far as geometry is concerned."""

    kind: LayerKind
    kernel: int
    stride: int = 1
    padding: Padding = "valid"
    dilation: int = 1


@dataclass(frozen=True)
class LayerField:
    """What one layer of a stack sees of the input."""

    index: int
    kind: LayerKind
    output_size: int
    receptive_field: int
    """Input cells, per axis, that can affect one output cell of this layer."""
    jump: int
    """Input cells between two neighbouring output cells of this layer."""
    start: float
    """Input coordinate of the centre of output cell 0 (can be negative: padding)."""
    padding_lo: int
    padding_hi: int
    formula: str


def receptive_field(
    layers: Sequence[StackLayer], input_size: int | None = None
) -> list[LayerField]:
    """The receptive field, jump and centre of every layer in a stack, from the input up.

    ``r_l = r_{l-1} + (k_eff - 1) * j_{l-1}`` and ``j_l = j_{l-1} * s_l`` with
    ``r_0 = j_0 = 1``. The lesson's quiz: a 3x3 conv, a 2x2 max pool, a 3x3 conv see 8x8.

    >>> [f.receptive_field for f in receptive_field([StackLayer("conv", 3)] * 2)]
    [3, 5]
    >>> quiz = [StackLayer("conv", 3), StackLayer("max_pool", 2, stride=2), StackLayer("conv", 3)]
    >>> [f.receptive_field for f in receptive_field(quiz)]
    [3, 4, 8]
    """
    fields: list[LayerField] = []
    field, jump, start = 1, 1, 0.0
    size = input_size if input_size is not None else 0
    for index, layer in enumerate(layers, start=1):
        k_eff = effective_kernel_size(layer.kernel, layer.dilation)
        if input_size is not None:
            arithmetic = axis_arithmetic(
                size,
                layer.kernel,
                stride=layer.stride,
                dilation=layer.dilation,
                padding=layer.padding,
                axis_name=f"of layer {index}",
            )
            padding_lo, padding_hi, size = (
                arithmetic.padding_lo,
                arithmetic.padding_hi,
                arithmetic.output,
            )
        else:
            # Without an input size "same" padding is the symmetric half-padding.
            if layer.stride < 1 or layer.dilation < 1:
                raise InvalidArithmetic(
                    _("Layer %(index)s: stride and dilation must be >= 1.", index=index),
                    field="layers",
                )
            padding_lo, padding_hi = padding_per_side(
                k_eff, layer.kernel, stride=1, dilation=layer.dilation, padding=layer.padding
            )
        new_field = field + (k_eff - 1) * jump
        formula = f"{field} + ({k_eff} - 1) x {jump} = {new_field}"
        start = start + ((k_eff - 1) / 2 - padding_lo) * jump
        field, jump = new_field, jump * layer.stride
        fields.append(
            LayerField(
                index=index,
                kind=layer.kind,
                output_size=size,
                receptive_field=field,
                jump=jump,
                start=start,
                padding_lo=padding_lo,
                padding_hi=padding_hi,
                formula=formula,
            )
        )
    return fields


def receptive_box(field: LayerField, cell: int) -> tuple[float, float]:
    """The input interval ``[first, last]`` (in input cells) seen by output cell ``cell``.

    >>> quiz = [StackLayer("conv", 3), StackLayer("max_pool", 2, stride=2), StackLayer("conv", 3)]
    >>> receptive_box(receptive_field(quiz)[-1], 0)
    (0.0, 7.0)
    """
    if cell < 0:
        raise InvalidInput(_("cell must be >= 0, got %(cell)s.", cell=cell), field="cell")
    centre = field.start + cell * field.jump
    half = (field.receptive_field - 1) / 2
    return (centre - half, centre + half)


@dataclass(frozen=True)
class Costs:
    """What a per-channel (depthwise) convolution costs, and a linear layer in its place."""

    params: int
    """Kernel weights: one kernel per channel, no bias (``k_h * k_w * c``)."""
    macs: int
    """Multiply-adds: ``out_h * out_w * k_h * k_w * c``."""
    linear_params: int
    """A linear layer mapping every input cell to every output cell, bias included."""


def convolution_costs(
    input_shape: Sequence[int], output_shape: Sequence[int], kernel_shape: Sequence[int]
) -> Costs:
    """Costs of applying one kernel to each channel, as the lesson compares them.

    >>> convolution_costs((5,), (3,), (3,))      # the lesson's 1-D example
    Costs(params=3, macs=9, linear_params=18)
    >>> convolution_costs((28, 28, 1), (28, 28, 1), (3, 3)).linear_params
    615440
    """
    channels = input_shape[2] if len(input_shape) == 3 else 1
    kernel_height, kernel_width = (1, kernel_shape[0]) if len(kernel_shape) == 1 else kernel_shape
    output_cells = math.prod(output_shape[:2]) if len(output_shape) >= 2 else output_shape[0]
    return Costs(
        params=conv_parameters(
            kernel_height, kernel_width, channels, channels, groups=channels, bias=False
        ),
        macs=output_cells * kernel_height * kernel_width * channels,
        linear_params=linear_parameters(math.prod(input_shape), math.prod(output_shape)),
    )


@dataclass(frozen=True)
class LayerCosts:
    """What a convolutional layer costs, and a dense (linear) layer in its place."""

    params: int
    """Weights and biases: ``N * (C_in / groups * k_h * k_w + 1)``."""
    macs: int
    """Multiply-adds: ``N * out_h * out_w * (C_in / groups) * k_h * k_w``."""
    linear_params: int
    """A dense layer from every input value to every output value, bias included."""


def layer_multiply_adds(
    output_height: int,
    output_width: int,
    out_channels: int,
    channels_per_group: int,
    kernel_height: int,
    kernel_width: int,
) -> int:
    """Multiply-adds of a conv layer: each of the ``N * out_h * out_w`` outputs sums
    ``C_in / groups * k_h * k_w`` products (the bias is one addition more, not counted).

    >>> layer_multiply_adds(28, 28, 16, 1, 3, 3)   # the autoencoder's first layer
    112896
    >>> layer_multiply_adds(512, 512, 16, 3, 3, 3)  # 3 -> 16 channels on a 512^2 photo
    113246208
    """
    return (
        output_height * output_width * out_channels * channels_per_group
        * kernel_height * kernel_width
    )


def layer_costs(
    input_shape: Sequence[int],
    output_shape: Sequence[int],
    kernel_shape: Sequence[int],
    *,
    groups: int = 1,
) -> LayerCosts:
    """Costs of a conv layer from ``C_in x H x W`` to ``N x out_h x out_w`` with
    ``k_h x k_w`` filters in ``groups`` groups, beside a dense layer doing the same mapping.

    A full layer (``groups=1``): every filter spans every input channel. A depthwise one
    (``groups = C_in = N``): one 2-D kernel per channel, ``C_in`` times fewer weights.

    >>> layer_costs((3, 32, 32), (16, 30, 30), (3, 3))
    LayerCosts(params=448, macs=388800, linear_params=44251200)
    >>> layer_costs((3, 32, 32), (3, 30, 30), (3, 3), groups=3).params  # depthwise
    30
    """
    in_channels = input_shape[0]
    out_channels, output_height, output_width = output_shape
    kernel_height, kernel_width = kernel_shape
    return LayerCosts(
        params=conv_parameters(
            kernel_height, kernel_width, in_channels, out_channels, groups=groups
        ),
        macs=layer_multiply_adds(
            output_height, output_width, out_channels, in_channels // groups,
            kernel_height, kernel_width,
        ),
        linear_params=linear_parameters(math.prod(input_shape), math.prod(output_shape)),
    )
