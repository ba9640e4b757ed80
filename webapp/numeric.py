"""Numeric mode: convolve (or pool) a short list of numbers and show every step.

The lesson's example is one call: ``[0, 1, 2, 3, 4]`` with ``[-1, 0, 1]`` gives
``[2, 2, 2]``, and each of those 2s is ``-1*a + 0*b + 1*c`` on real numbers. Pooling answers
in the same shape: ``[1, 3, 2, 5, 4]`` max-pooled by windows of 2 at stride 2 gives
``[3, 5]``, each the largest of its window's values, with no weights at all.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import replace
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, Field

from webapp.arithmetic import AxisArithmetic, convolution_costs
from webapp.banks import Bank, resolve_bank
from webapp.convolution import Convolution, convolve, explain_cell
from webapp.errors import InvalidInput, Overflow
from webapp.kernels import resolve_kernel
from webapp.layer import (
    MAX_CHANNELS,
    MAX_FILTERS,
    Activation,
    FeatureMaps,
    Layer,
    apply_layer,
    check_work,
    explain_map_cell,
    layer_geometry,
    make_layer,
    number_array,
)
from webapp.matrices import number_matrix
from webapp.options import NumericRequest
from webapp.pooling import Pooling, PoolKind, pool, pool_window, reduce_window, window_kernel
from webapp.translation import gettext as _

# --- The JSON answer ---------------------------------------------------------------------
# The API's contract for the numeric mode, as `webapp.photos.PhotoAnswer` is for a photo: a
# convolution and a pooling answer with the same fields, so a client reads both one way.

Numbers = list[float] | list[list[float]]


class NumericArithmetic(BaseModel):
    """The output-size arithmetic: ``length`` for a 1-D input, ``height`` and ``width``
    for a 2-D one."""

    length: AxisArithmetic | None = None
    height: AxisArithmetic | None = None
    width: AxisArithmetic | None = None


class NumericKernel(BaseModel):
    """The kernel (for pooling: the window, ones or the mean's weights) as given and as
    applied (flipped for a true convolution)."""

    name: str
    weights: Numbers
    applied: Numbers


class NumericStep(BaseModel):
    """One output cell worked out: the input cells read, their values and the result.

    A convolution's step adds the ``weights``, their ``products`` and the ``sum`` (the
    result); a pooling's names its ``reduction`` over the real cells (padding left out).
    """

    index: list[int] = Field(description="The output cell: [i] or [row, column].")
    positions: list[int] | list[list[int]] = Field(
        description="The input cells read (outside the input: padding)."
    )
    values: list[float]
    result: float
    weights: list[float] | None = None
    products: list[float] | None = None
    sum: float | None = None
    reduction: Literal["max", "mean"] | None = None


class NumericAnswer(BaseModel):
    """Numbers through a kernel or a pooling: the output, the arithmetic, the costs and,
    for small outputs, every step."""

    input_shape: list[int]
    output: Numbers
    output_shape: list[int]
    padding: dict[str, int] = Field(description="Cells of padding on each side, by name.")
    arithmetic: NumericArithmetic
    kernel: NumericKernel
    operation: str = Field(description="cross-correlation, convolution, max-pool or avg-pool.")
    engine: str
    params: int = Field(description="Weights of the layer (0 for pooling).")
    macs: int = Field(description="Multiply-adds (for pooling: the cells compared or added).")
    linear_params: int = Field(description="Weights of a linear layer in its place.")
    steps: list[NumericStep] | None = Field(
        None, description="Every output cell worked out, for outputs of up to "
        "CONVLENS_MAX_EXPLAINED_CELLS cells."
    )


def numeric_answer(
    request: NumericRequest, *, max_numeric_size: int, max_kernel_size: int,
    max_explained_cells: int,
) -> NumericAnswer:
    """The answer of the numeric mode, with steps for outputs of up to
    ``max_explained_cells`` cells.

    A convolution and a pooling answer with the same fields: ``kernel`` is the pooling
    window, ``params`` is 0 for a pooling, and each step lists the cells read, their
    ``values`` and the ``result`` made of them.
    """
    values = number_matrix(request.input, field="input", max_size=max_numeric_size)
    one_dimensional = values.ndim == 1
    kind = request.pool_kind
    computed: Convolution | Pooling
    if kind is None:
        kernel = resolve_kernel(request.kernel, request.weights, max_size=max_kernel_size)
        computed = convolve(values, kernel.weights, **request.geometry())
        applied = computed.kernel[0] if one_dimensional else computed.kernel
        operation = "convolution" if request.flip else "cross-correlation"
        costs = convolution_costs(values.shape, computed.output.shape, kernel.weights.shape)
    else:
        kernel = window_kernel(kind, request.pool_size, ndim=values.ndim,
                               max_size=max_kernel_size)
        computed = pool(values, kind=kind, size=request.pool_size, stride=request.stride,
                        padding=request.padding, dilation=request.dilation)
        applied = kernel.weights
        operation = request.operation
        # A pooling layer has no weights at all: the lesson's point.
        costs = replace(
            convolution_costs(values.shape, computed.output.shape, kernel.weights.shape),
            params=0,
        )
    output = computed.output
    steps: list[NumericStep] | None = None
    if output.size <= max_explained_cells:
        steps = (
            _convolution_steps(values, computed, request, one_dimensional)
            if isinstance(computed, Convolution)
            else _pooling_steps(values, computed, one_dimensional)
        )
    return NumericAnswer(
        input_shape=list(values.shape),
        output=(output + 0.0).tolist(),  # -0.0 + 0.0 is 0.0: no "-0" in a lesson
        output_shape=list(output.shape),
        padding=computed.padding_sides(),
        arithmetic=(
            NumericArithmetic(length=computed.columns) if one_dimensional
            else NumericArithmetic(height=computed.rows, width=computed.columns)
        ),
        kernel=NumericKernel(name=kernel.name, weights=kernel.weights.tolist(),
                             applied=applied.tolist()),
        operation=operation,
        engine=computed.engine,
        params=costs.params,
        macs=costs.macs,
        linear_params=costs.linear_params,
        steps=steps,
    )


def _cells(output: NDArray[Any], one_dimensional: bool) -> list[tuple[int, int]]:
    """Every output cell as ``(row, column)``; a 1-D output is one row."""
    height, width = (1, output.shape[0]) if one_dimensional else output.shape[:2]
    return [(row, column) for row in range(height) for column in range(width)]


def _convolution_steps(
    values: NDArray[np.float64],
    convolution: Convolution,
    request: NumericRequest,
    one_dimensional: bool,
) -> list[NumericStep]:
    """For each output cell: the input positions read, their values, products and sum."""
    steps: list[NumericStep] = []
    for row, column in _cells(convolution.output, one_dimensional):
        cell = explain_cell(values, convolution, row, column, padding_mode=request.padding_mode)
        total = sum(step.product for step in cell)
        if not math.isfinite(total):
            # The engine's order of addition stayed in range; this one, cell by cell, did not.
            raise Overflow(
                _("weights: a step's sum overflows to infinity, added up in the lesson's "
                  "order; use smaller numbers."),
                field="weights",
            )
        steps.append(NumericStep(
            index=[column] if one_dimensional else [row, column],
            positions=[step.column if one_dimensional else [step.row, step.column]
                       for step in cell],
            values=[step.value for step in cell],
            weights=[step.weight for step in cell],
            products=[step.product + 0.0 for step in cell],  # no "-0.0"
            sum=total + 0.0,
            result=total + 0.0,
        ))
    return steps


def _pooling_steps(
    values: NDArray[np.float64], pooling: Pooling, one_dimensional: bool
) -> list[NumericStep]:
    """For each output cell: the input cells of its window (padding left out, as the
    pooling leaves it out), their values, and their max or mean."""
    reduction = _REDUCTIONS[pooling.kind]
    steps: list[NumericStep] = []
    for row, column in _cells(pooling.output, one_dimensional):
        cells = [cell for cell in pool_window(values, pooling, row, column)
                 if cell.value is not None]
        result = reduce_window(cells, pooling.kind)
        if not math.isfinite(result):
            raise Overflow(
                _("input: the sum of a pooling window overflows to infinity; use smaller "
                  "numbers."),
                field="input",
            )
        steps.append(NumericStep(
            index=[column] if one_dimensional else [row, column],
            positions=[cell.column if one_dimensional else [cell.row, cell.column]
                       for cell in cells],
            values=[cell.value for cell in cells if cell.value is not None],
            reduction=reduction,
            result=result + 0.0,
        ))
    return steps


_REDUCTIONS: dict[PoolKind, Literal["max", "mean"]] = {"max": "max", "average": "mean"}


# --- a whole layer -------------------------------------------------------------------------
# With `filters` (or a `bank`) the numbers go through a conv layer: N filters, each over
# every channel of its group, a bias each, an activation. The answer names each map's
# numbers, and for small layers every cell's sum channel by channel.


class LayerFilters(BaseModel):
    """The layer's weights: ``weights`` as given (N x C_in/groups x k_h x k_w; for a 1-D
    input N x 1 x k), ``applied`` (flipped for a true convolution) and one bias per map."""

    name: str = Field(description="'custom', or the bank's name.")
    shape: list[int]
    weights: list[list[list[float]]] | list[list[list[list[float]]]]
    applied: list[list[list[float]]] | list[list[list[list[float]]]]
    bias: list[float]


class ChannelStep(BaseModel):
    """One input channel's share of an output cell: the window read, the filter's slice
    over it, their products and sum."""

    channel: int
    positions: list[int] | list[list[int]] = Field(
        description="The input cells read (outside the input: padding)."
    )
    values: list[float]
    weights: list[float]
    products: list[float]
    sum: float


class LayerStep(BaseModel):
    """One cell of one feature map worked out: each channel's sum, the bias, their total,
    and the activation of the total (the map's value)."""

    index: list[int] = Field(description="[map, i] for a 1-D input, else [map, row, column].")
    channels: list[ChannelStep]
    bias: float
    total: float
    result: float


class NumericLayerAnswer(BaseModel):
    """Numbers through a conv layer: N feature maps, the arithmetic, the costs (parameters
    ``N * (C_in/groups * k_h * k_w + 1)``) and, for small layers, every cell's sums."""

    input_shape: list[int]
    in_channels: int
    maps: int = Field(description="N: filters, and so feature maps.")
    groups: int
    activation: Activation
    output: list[list[float]] | list[list[list[float]]] = Field(
        description="N x L for a 1-D input, else N x H_out x W_out, after the activation."
    )
    output_shape: list[int]
    padding: dict[str, int] = Field(description="Cells of padding on each side, by name.")
    arithmetic: NumericArithmetic
    filters: LayerFilters
    operation: str = Field(description="cross-correlation or convolution.")
    engine: str
    params: int = Field(description="Weights and biases: N * (C_in/groups * k_h * k_w + 1).")
    macs: int = Field(description="Multiply-adds: N * H_out * W_out * C_in/groups * k_h * k_w.")
    linear_params: int = Field(description="Weights of a dense layer in its place.")
    steps: list[LayerStep] | None = Field(
        None, description="Every cell of every map worked out, for layers of up to "
        "CONVLENS_MAX_EXPLAINED_CELLS output cells."
    )


def layer_answer(
    request: NumericRequest, *, max_numeric_size: int, max_kernel_size: int,
    max_explained_cells: int, max_layer_macs: int, learned: Mapping[str, Bank] | None = None,
) -> NumericLayerAnswer:
    """The numeric mode with ``filters`` or a ``bank``: the input (1-D, 2-D, or 3-D
    ``C_in x H x W``) through a whole conv layer."""
    if request.operation != "convolve":
        raise InvalidInput(
            _("filters make a conv layer; operation %(operation)s takes none (use "
              "'convolve', or leave filters out to pool).", operation=repr(request.operation)),
            field="filters" if request.filters is not None else "bank",
        )
    planes, raw_ndim = _layer_input(request.input, max_numeric_size)
    one_dimensional = raw_ndim == 1
    layer = _numbers_layer(request, planes.shape[0], one_dimensional, max_kernel_size, learned)
    rows, columns = layer_geometry(planes.shape[1], planes.shape[2], layer,
                                   stride=request.stride, padding=request.padding,
                                   dilation=request.dilation, one_dimensional=one_dimensional)
    check_work(layer, rows, columns, max_macs=max_layer_macs)
    maps = apply_layer(planes, layer, one_dimensional=one_dimensional, **request.geometry())
    costs = maps.costs()
    output = maps.output[:, 0] if one_dimensional else maps.output
    steps: list[LayerStep] | None = None
    if (output.size <= max_explained_cells
            and costs.macs <= max_explained_cells * max_kernel_size**2):
        steps = _layer_steps(planes, maps, request, one_dimensional)
    def shown(filters: NDArray[np.float64]) -> NDArray[np.float64]:
        """The filters in the request's shape: a 1-D input's have no height axis."""
        return filters[:, :, 0] if one_dimensional else filters

    input_shape = ([planes.shape[2]] if one_dimensional
                   else list(planes.shape[1:]) if raw_ndim == 2 else list(planes.shape))
    return NumericLayerAnswer(
        input_shape=input_shape,
        in_channels=layer.in_channels,
        maps=layer.maps,
        groups=layer.groups,
        activation=layer.activation,
        output=(output + 0.0).tolist(),  # no "-0" in a lesson
        output_shape=list(output.shape),
        padding=maps.padding_sides(),
        arithmetic=(NumericArithmetic(length=maps.columns) if one_dimensional
                    else NumericArithmetic(height=maps.rows, width=maps.columns)),
        filters=LayerFilters(name=layer.name, shape=list(shown(layer.filters).shape),
                             weights=shown(layer.filters).tolist(),
                             applied=shown(maps.applied).tolist(), bias=layer.bias.tolist()),
        operation="convolution" if request.flip else "cross-correlation",
        engine=maps.engine,
        params=costs.params,
        macs=costs.macs,
        linear_params=costs.linear_params,
        steps=steps,
    )


def _layer_input(value: object, max_size: int) -> tuple[NDArray[np.float64], int]:
    """The input as ``C_in x H x W`` floats, and its own number of dimensions."""
    three_dimensional = (isinstance(value, list) and bool(value) and isinstance(value[0], list)
                         and bool(value[0]) and isinstance(value[0][0], list))
    if three_dimensional:
        planes = number_array(value, ndim=3, field="input",
                              max_sizes=(MAX_CHANNELS, max_size, max_size))
        return planes, 3
    matrix = number_matrix(value, field="input", max_size=max_size)
    if matrix.ndim == 1:
        return matrix[np.newaxis, np.newaxis, :], 1
    return matrix[np.newaxis], 2


def _numbers_layer(
    request: NumericRequest, channels: int, one_dimensional: bool, max_kernel_size: int,
    learned: Mapping[str, Bank] | None,
) -> Layer:
    """The layer a numeric request asks for, checked against an input of ``channels``."""
    bias = (None if request.bias is None
            else number_array(request.bias, ndim=1, field="bias", max_sizes=(MAX_FILTERS,)))
    if request.filters is not None:
        depth = 3 if one_dimensional else 4
        limits = (MAX_FILTERS, MAX_CHANNELS, max_kernel_size, max_kernel_size)[:depth]
        filters = number_array(request.filters, ndim=depth, field="filters", max_sizes=limits)
        if one_dimensional:
            filters = filters[:, :, np.newaxis, :]
        return make_layer(filters, bias, in_channels=channels, groups=request.groups,
                          activation=request.activation)
    assert request.bank is not None
    if request.groups < 1 or channels % request.groups:
        raise InvalidInput(_("groups must divide the input's %(channels)s channels; "
                             "%(groups)s does not.", channels=channels, groups=request.groups),
                           field="groups")
    bank = resolve_bank(request.bank, channels=channels // request.groups, seed=request.seed,
                        learned=learned)
    if one_dimensional and bank.filters.shape[2] != 1:
        raise InvalidInput(
            _("bank %(bank)s has %(height)sx%(width)s filters; a 1-D input needs filters of "
              "one row (send a 2-D input).", bank=repr(bank.name),
              height=bank.filters.shape[2], width=bank.filters.shape[3]),
            field="bank",
        )
    filters = np.tile(bank.filters, (request.groups, 1, 1, 1))
    return make_layer(filters, bank.bias if bias is None else bias, in_channels=channels,
                      groups=request.groups, activation=request.activation, name=bank.name,
                      field="bank")


def _layer_steps(
    planes: NDArray[np.float64], maps: FeatureMaps, request: NumericRequest,
    one_dimensional: bool,
) -> list[LayerStep]:
    """Every cell of every map: each channel's window, weights, products and sum."""
    steps: list[LayerStep] = []
    for index in range(maps.layer.maps):
        for row in range(maps.rows.output):
            for column in range(maps.columns.output):
                cell = explain_map_cell(planes, maps, index, row, column,
                                        padding_mode=request.padding_mode)
                if not math.isfinite(cell.total):
                    raise Overflow(
                        _("filters: a step's sum overflows to infinity, added up in the "
                          "lesson's order; use smaller numbers."),
                        field="filters",
                    )
                steps.append(LayerStep(
                    index=[index, column] if one_dimensional else [index, row, column],
                    channels=[
                        ChannelStep(
                            channel=terms.channel,
                            positions=[step.column if one_dimensional else [step.row, step.column]
                                       for step in terms.steps],
                            values=[step.value for step in terms.steps],
                            weights=[step.weight for step in terms.steps],
                            products=[step.product + 0.0 for step in terms.steps],
                            sum=terms.sum + 0.0,
                        )
                        for terms in cell.channels
                    ],
                    bias=cell.bias + 0.0,
                    total=cell.total + 0.0,
                    result=cell.output + 0.0,
                ))
    return steps
