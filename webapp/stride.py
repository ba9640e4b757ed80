"""Stride: a strided convolution that computes only the outputs it keeps.

With stride ``s`` and dilation ``d``, output cell ``(i, j)`` reads the padded cells
``(s*i + d*u, s*j + d*v)`` for every kernel tap ``(u, v)``. The obvious way, correlating at
every position and then keeping every s-th row and column, does ``s * s`` times the work
(four times at stride 2) and moves four times the memory. Here nothing is computed twice:

* **Rows** cost nothing: output row ``i`` reads input rows ``s*i + d*u``, picked by index.
* **Columns** are split once into their ``s`` *phases*: phase ``p`` holds columns
  ``p, p + s, p + 2s, ...`` side by side. Tap ``v`` of output column ``j`` reads column
  ``s*j + d*v``, which is cell ``j + (d*v) // s`` of phase ``(d*v) % s``. So for one output
  row and one tap, the cells read are a *contiguous* run of one phase row:

      output_row[:] += weight * phase_row[offset : offset + width]

  a loop the compiler turns into SIMD multiply-adds. Splitting the phases is OpenCV's
  nearest-neighbour resize by an exact factor (it picks source column ``s*j``), one pass.

The loop over rows and taps is compiled by numba (``nogil``): large outputs are cut into
bands of rows computed on several threads at once. 8-bit pixels stay 8-bit in the phases
(a quarter of the bytes to move) and become floats inside the multiply-add.
"""

from __future__ import annotations

import itertools
import os
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import cast

import cv2
import numpy as np
from numba import njit
from numpy.typing import NDArray

from webapp.arithmetic import AxisArithmetic, axis_arithmetic
from webapp.padding import Cells
from webapp.workqueue import lower_priority

FloatArray = NDArray[np.float32] | NDArray[np.float64]
"""Raw outputs. Inputs on their way through the engine are `Cells`: 8-bit, float32, float64."""

CELLS_PER_THREAD = 1 << 16
"""Outputs (cells x channels) below which a second thread costs more than it saves."""

_threads = max(1, min(4, os.cpu_count() or 1))
# Its threads run at the work queue's lower priority: the event loop always comes first.
_pool = ThreadPoolExecutor(
    max_workers=_threads, thread_name_prefix="convlens-stride", initializer=lower_priority
)


def strided_correlate(
    padded: Cells,
    kernel: NDArray[np.float64],
    rows: AxisArithmetic,
    columns: AxisArithmetic,
    dtype: type[np.float32] | type[np.float64],
) -> FloatArray:
    """Valid cross-correlation of ``padded`` (height x width [x channels]) with ``kernel``,
    at the strides and dilations of ``rows`` and ``columns``: ``(out_h, out_w[, c])``."""
    image = padded if padded.ndim == 3 else padded[:, :, np.newaxis]
    channels = image.shape[2]
    output: FloatArray = np.empty((rows.output, columns.output * channels), dtype=dtype)
    weights = cast(FloatArray, kernel.astype(dtype))
    threads = min(_threads, max(1, output.size // CELLS_PER_THREAD), rows.output)
    edges = np.linspace(0, rows.output, threads + 1).astype(int)
    bands = [partial(_correlate_band_by_band, image, weights, rows, columns, output,
                     int(first), int(last))
             for first, last in itertools.pairwise(edges)]
    if threads == 1:
        bands[0]()
    else:
        for running in [_pool.submit(band) for band in bands]:
            running.result()
    shaped = output.reshape(rows.output, columns.output, channels)
    return shaped if padded.ndim == 3 else shaped[:, :, 0]


BAND_BYTES = 1 << 20
"""Column phases split for one band of output rows at a time, at most about this size: the
loop then reads them from the core's cache, not from memory, right after they were made."""


def _correlate_band_by_band(
    image: Cells,
    weights: FloatArray,
    rows: AxisArithmetic,
    columns: AxisArithmetic,
    output: FloatArray,
    first_row: int,
    last_row: int,
) -> None:
    """Output rows ``first_row`` to ``last_row`` (exclusive), a cache-sized band at a time."""
    channels = image.shape[2]
    span = columns.output + columns.dilation * (weights.shape[1] - 1) // columns.stride
    bytes_per_input_row = columns.stride * span * channels * image.itemsize
    band = max(1, BAND_BYTES // (bytes_per_input_row * rows.stride))
    reach = rows.dilation * (weights.shape[0] - 1) + 1  # input rows one output row reads
    for start in range(first_row, last_row, band):
        stop = min(start + band, last_row)
        top = rows.stride * start
        phases = column_phases(
            image[top : top + rows.stride * (stop - start - 1) + reach], columns.stride, span
        )
        _correlate_rows(phases, weights, rows.stride, rows.dilation, columns.stride,
                        columns.dilation, channels, output, start, stop)


def column_phases(image: Cells, stride: int, span: int) -> Cells:
    """``(stride, height, span * channels)``: phase ``p`` is columns ``p, p + stride, ...``,
    ``span`` of them (zeros past the image's right edge), channels interleaved."""
    height, width, channels = image.shape
    if stride == 1 and width == span:
        return cast(Cells, np.ascontiguousarray(image).reshape(1, height, width * channels))
    phases = np.empty((stride, height, span, channels), dtype=image.dtype)
    for phase in range(stride):
        exact = min(span, (width - phase) // stride)  # whole blocks of `stride` columns
        if exact > 0:
            pick_every_step(image[:, phase : phase + stride * exact], height, exact,
                            out=phases[phase, :, :exact])
        available = min(span, max(0, (width - phase + stride - 1) // stride))
        if available > exact:  # the last column, when the width is not a whole block
            phases[phase, :, exact:available] = image[:, phase + stride * exact :: stride][
                :, : available - exact
            ]
        phases[phase, :, max(exact, available) :] = 0
    return cast(Cells, phases.reshape(stride, height, span * channels))


def pick_every_step(block: Cells, rows: int, columns: int, out: Cells | None = None) -> Cells:
    """``block[::row_step, ::column_step]`` for a block exactly ``rows * row_step`` by
    ``columns * column_step`` cells, into ``out`` when given (it may be row-strided).

    Several times faster than numpy's strided copy of interleaved channels: OpenCV's
    nearest-neighbour resize by an exact integer factor picks source cell ``step * i``, and
    it is vectorised.
    """
    picked = cv2.resize(block, (columns, rows), dst=out, interpolation=cv2.INTER_NEAREST)
    if picked.ndim < block.ndim:  # OpenCV drops a trailing channel axis of size 1
        picked = picked[:, :, np.newaxis]
    return cast(Cells, np.asarray(picked))


@njit(nogil=True, fastmath=True, cache=True)
def _correlate_rows(  # type: ignore[no-untyped-def]
    phases, kernel, row_stride, row_dilation, column_stride, column_dilation, channels,
    output, first_row, last_row,
):
    """Output rows ``first_row`` to ``last_row`` (exclusive), every tap of every cell once;
    ``phases`` start at the first input row that ``first_row`` reads."""
    width = output.shape[1]
    taps = kernel.shape[1]
    total = np.zeros(width, dtype=output.dtype)
    for row in range(first_row, last_row):
        total[:] = 0
        for u in range(kernel.shape[0]):
            source = row_stride * (row - first_row) + row_dilation * u
            # Up to four taps per pass over the running total: its load and store are then
            # shared by four multiply-adds (measured: 15-20% faster than one tap a pass).
            v = 0
            while v + 4 <= taps:
                _multiply_add_4(
                    total, kernel[u, v], kernel[u, v + 1], kernel[u, v + 2], kernel[u, v + 3],
                    _cells(phases, source, v, column_stride, column_dilation, channels, width),
                    _cells(phases, source, v + 1, column_stride, column_dilation, channels, width),
                    _cells(phases, source, v + 2, column_stride, column_dilation, channels, width),
                    _cells(phases, source, v + 3, column_stride, column_dilation, channels, width),
                )
                v += 4
            while v + 2 <= taps:
                _multiply_add_2(
                    total, kernel[u, v], kernel[u, v + 1],
                    _cells(phases, source, v, column_stride, column_dilation, channels, width),
                    _cells(phases, source, v + 1, column_stride, column_dilation, channels, width),
                )
                v += 2
            if v < taps:
                _multiply_add(
                    total, kernel[u, v],
                    _cells(phases, source, v, column_stride, column_dilation, channels, width),
                )
        output[row, :] = total


@njit(nogil=True, cache=True, inline="always")
def _cells(phases, source, v, column_stride, column_dilation, channels, width):  # type: ignore[no-untyped-def]
    """The cells tap ``v`` reads for a whole output row: one contiguous run of a phase row."""
    tap = column_dilation * v
    start = (tap // column_stride) * channels
    return phases[tap % column_stride, source, start : start + width]


@njit(nogil=True, fastmath=True, cache=True)
def _multiply_add_4(total, w0, w1, w2, w3, c0, c1, c2, c3):  # type: ignore[no-untyped-def]
    """``total += w0 * c0 + w1 * c1 + w2 * c2 + w3 * c3``, vectorised by the compiler."""
    for index in range(total.shape[0]):
        total[index] += w0 * c0[index] + w1 * c1[index] + w2 * c2[index] + w3 * c3[index]


@njit(nogil=True, fastmath=True, cache=True)
def _multiply_add(total, weight, cells):  # type: ignore[no-untyped-def]
    """``total += weight * cells``."""
    for index in range(total.shape[0]):
        total[index] += weight * cells[index]


@njit(nogil=True, fastmath=True, cache=True)
def _multiply_add_2(total, w0, w1, c0, c1):  # type: ignore[no-untyped-def]
    """``total += w0 * c0 + w1 * c1``."""
    for index in range(total.shape[0]):
        total[index] += w0 * c0[index] + w1 * c1[index]


def compile_ahead() -> None:
    """Compile (or load from numba's on-disk cache) the loop for every input type the
    engine passes it, so that no request waits for the compiler."""
    kernel = np.ones((2, 2))
    for dtype, compute in ((np.uint8, np.float32), (np.float32, np.float32),
                           (np.float64, np.float64)):
        image = np.zeros((4, 4, 1), dtype=dtype)
        axis = axis_arithmetic(4, 2, stride=2)
        strided_correlate(image, kernel, axis, axis, compute)
