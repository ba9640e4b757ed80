"""Numeric mode: convolve (or pool) a short list of numbers and show every step.

The lesson's example is one call: ``[0, 1, 2, 3, 4]`` with ``[-1, 0, 1]`` gives
``[2, 2, 2]``, and each of those 2s is ``-1*a + 0*b + 1*c`` on real numbers. Pooling answers
in the same shape: ``[1, 3, 2, 5, 4]`` max-pooled by windows of 2 at stride 2 gives
``[3, 5]``, each the largest of its window's values, with no weights at all.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, Field

from webapp.arithmetic import AxisArithmetic, convolution_costs
from webapp.convolution import Convolution, convolve, explain_cell
from webapp.errors import Overflow
from webapp.kernels import resolve_kernel
from webapp.matrices import number_matrix
from webapp.options import NumericRequest
from webapp.pooling import Pooling, PoolKind, pool, pool_window, reduce_window, window_kernel

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
                "weights: a step's sum overflows to infinity, added up in the lesson's order; "
                "use smaller numbers.",
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
                "input: the sum of a pooling window overflows to infinity; use smaller "
                "numbers.",
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
