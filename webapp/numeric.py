"""Numeric mode: convolve a short list of numbers and show every multiplication.

The lesson's example is one call: ``[0, 1, 2, 3, 4]`` with ``[-1, 0, 1]`` gives
``[2, 2, 2]``, and each of those 2s is ``-1*a + 0*b + 1*c`` on real numbers.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from webapp.arithmetic import convolution_costs
from webapp.convolution import Convolution, convolve, explain_cell
from webapp.kernels import resolve_kernel
from webapp.matrices import number_matrix
from webapp.options import NumericRequest


def convolve_numbers(
    request: NumericRequest, *, max_numeric_size: int, max_kernel_size: int,
    max_explained_cells: int,
) -> dict[str, Any]:
    """The JSON answer of the numeric mode, with steps for outputs of up to
    ``max_explained_cells`` cells."""
    values = number_matrix(request.input, field="input", max_size=max_numeric_size)
    kernel = resolve_kernel(request.kernel, request.weights, max_size=max_kernel_size)
    convolution = convolve(values, kernel.weights, **request.geometry())
    output = convolution.output
    one_dimensional = values.ndim == 1
    answer: dict[str, Any] = {
        "input_shape": list(values.shape),
        "output": (output + 0.0).tolist(),  # -0.0 + 0.0 is 0.0: no "-0" in a lesson
        "output_shape": list(output.shape),
        "padding": convolution.padding_sides(),
        "arithmetic": (
            {"length": convolution.columns.as_dict()}
            if one_dimensional
            else {"height": convolution.rows.as_dict(), "width": convolution.columns.as_dict()}
        ),
        "kernel": {"name": kernel.name, "weights": kernel.weights.tolist(),
                   "applied": (convolution.kernel[0] if one_dimensional
                               else convolution.kernel).tolist()},
        "operation": "convolution" if request.flip else "cross-correlation",
        "engine": convolution.engine,
        **vars(convolution_costs(values.shape, output.shape, kernel.weights.shape)),
    }
    if output.size <= max_explained_cells:
        answer["steps"] = _steps(values, convolution, request, one_dimensional)
    return answer


def _steps(
    values: NDArray[np.float64],
    convolution: Convolution,
    request: NumericRequest,
    one_dimensional: bool,
) -> list[dict[str, Any]]:
    """For each output cell: the input positions read, their values, products and sum."""
    steps: list[dict[str, Any]] = []
    height, width = (1, convolution.output.shape[0]) if one_dimensional else (
        convolution.output.shape
    )
    for row in range(height):
        for column in range(width):
            cell = explain_cell(values, convolution, row, column, padding_mode=request.padding_mode)
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
                    "sum": sum(step.product for step in cell),
                }
            )
    return steps
