"""Numeric mode: convolve (or pool) a short list of numbers and show every step.

The lesson's example is one call: ``[0, 1, 2, 3, 4]`` with ``[-1, 0, 1]`` gives
``[2, 2, 2]``, and each of those 2s is ``-1*a + 0*b + 1*c`` on real numbers. Pooling answers
in the same shape: ``[1, 3, 2, 5, 4]`` max-pooled by windows of 2 at stride 2 gives
``[3, 5]``, each the largest of its window's values, with no weights at all.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import numpy as np
from numpy.typing import NDArray

from webapp.arithmetic import convolution_costs
from webapp.convolution import Convolution, convolve, explain_cell
from webapp.errors import Overflow
from webapp.kernels import Kernel, resolve_kernel
from webapp.matrices import number_matrix
from webapp.options import NumericRequest
from webapp.pooling import Pooling, PoolKind, pool, pool_window, reduce_window, window_kernel


def convolve_numbers(
    request: NumericRequest, *, max_numeric_size: int, max_kernel_size: int,
    max_explained_cells: int,
) -> dict[str, Any]:
    """The JSON answer of the numeric mode, with steps for outputs of up to
    ``max_explained_cells`` cells.

    A convolution and a pooling answer with the same keys: ``kernel`` is the pooling
    window (``applied`` as its cells are read), ``params`` is 0 for a pooling, and each
    step lists the cells read, their ``values`` and the ``result`` made of them (a
    convolution's steps add the ``weights``, ``products`` and their ``sum``; a pooling's
    name the ``reduction``, max or mean, over the real cells only).
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
    answer: dict[str, Any] = {
        "input_shape": list(values.shape),
        "output": (output + 0.0).tolist(),  # -0.0 + 0.0 is 0.0: no "-0" in a lesson
        "output_shape": list(output.shape),
        "padding": computed.padding_sides(),
        "arithmetic": (
            {"length": computed.columns.as_dict()}
            if one_dimensional
            else {"height": computed.rows.as_dict(), "width": computed.columns.as_dict()}
        ),
        "kernel": _kernel_answer(kernel, applied),
        "operation": operation,
        "engine": computed.engine,
        **vars(costs),
    }
    if output.size <= max_explained_cells:
        answer["steps"] = (
            _convolution_steps(values, computed, request, one_dimensional)
            if isinstance(computed, Convolution)
            else _pooling_steps(values, computed, one_dimensional)
        )
    return answer


def _kernel_answer(kernel: Kernel, applied: NDArray[np.float64]) -> dict[str, Any]:
    return {"name": kernel.name, "weights": kernel.weights.tolist(), "applied": applied.tolist()}


def _cells(output: NDArray[Any], one_dimensional: bool) -> list[tuple[int, int]]:
    """Every output cell as ``(row, column)``; a 1-D output is one row."""
    height, width = (1, output.shape[0]) if one_dimensional else output.shape[:2]
    return [(row, column) for row in range(height) for column in range(width)]


def _convolution_steps(
    values: NDArray[np.float64],
    convolution: Convolution,
    request: NumericRequest,
    one_dimensional: bool,
) -> list[dict[str, Any]]:
    """For each output cell: the input positions read, their values, products and sum."""
    steps: list[dict[str, Any]] = []
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
        steps.append(
            {
                "index": [column] if one_dimensional else [row, column],
                "positions": [
                    step.column if one_dimensional else [step.row, step.column]
                    for step in cell
                ],
                "values": [step.value for step in cell],
                "weights": [step.weight for step in cell],
                "products": [step.product + 0.0 for step in cell],  # no "-0.0"
                "sum": total,
                "result": total + 0.0,
            }
        )
    return steps


def _pooling_steps(
    values: NDArray[np.float64], pooling: Pooling, one_dimensional: bool
) -> list[dict[str, Any]]:
    """For each output cell: the input cells of its window (padding left out, as the
    pooling leaves it out), their values, and their max or mean."""
    reduction = _REDUCTIONS[pooling.kind]
    steps: list[dict[str, Any]] = []
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
        steps.append(
            {
                "index": [column] if one_dimensional else [row, column],
                "positions": [
                    cell.column if one_dimensional else [cell.row, cell.column]
                    for cell in cells
                ],
                "values": [cell.value for cell in cells],
                "reduction": reduction,
                "result": result + 0.0,
            }
        )
    return steps


_REDUCTIONS: dict[PoolKind, str] = {"max": "max", "average": "mean"}
