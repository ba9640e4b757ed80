"""Stride: the compiled loop that computes only the outputs a convolution keeps.

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
* **Dilation** only moves where a tap reads (``d*u``, ``d*v`` above): a dilated 3x3 costs
  what a 3x3 costs.

At stride 1 there is one phase, the image itself, and this is a plain correlation: the
engine uses it there too for 8-bit pixels and for dilations (`webapp.convolution` says when).

The loop is compiled by numba (``nogil``): large outputs are cut into bands of rows
computed on several threads at once. 8-bit pixels stay 8-bit in the phases (a quarter of
the bytes to move); each input row becomes floats once, just before its taps read it.
"""

from __future__ import annotations

import contextlib
import os
from concurrent.futures import ThreadPoolExecutor
from queue import Empty, SimpleQueue
from typing import cast

import cv2
import numpy as np
from numba import njit
from numpy.typing import NDArray

from webapp.arithmetic import AxisArithmetic, axis_arithmetic
from webapp.padding import Cells
from webapp.priority import lower_priority

FloatArray = NDArray[np.float32] | NDArray[np.float64]
"""Raw outputs. Inputs on their way through the engine are `Cells`: 8-bit, float32, float64."""

CELLS_PER_THREAD = 1 << 16
"""Outputs (cells x channels) below which a second thread costs more than it saves."""

BANDS_PER_THREAD = 2
"""Bands per thread, at least, when several threads share an output."""

BAND_BYTES = 1 << 20
"""Column phases split for one band of output rows at a time, at most about this size: the
loop then reads them from the core's cache, not from memory, right after they were made."""

RING_BYTES = 1 << 21
"""The most the loop keeps of the input rows it reads as floats (per thread)."""

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
    places, weights = tap_table(kernel, columns, channels, dtype)
    threads = min(_threads, max(1, output.size // CELLS_PER_THREAD), rows.output)
    span = columns.output + columns.dilation * (columns.kernel - 1) // columns.stride
    reach = rows.dilation * (rows.kernel - 1) + 1  # input rows one output row reads
    # Output rows per band: their column phases take about BAND_BYTES, and there are
    # enough bands for every thread to take several.
    band = max(1, BAND_BYTES // (rows.stride * columns.stride * span * channels * image.itemsize))
    if threads > 1:
        band = min(band, -(-rows.output // (threads * BANDS_PER_THREAD)))
    # The loop keeps the input rows it reads as floats, one slot per row of its reach; a
    # huge dilation would make that larger than the image, so it then keeps one per
    # kernel row and converts each again for every output row it serves.
    ring_bytes = reach * columns.stride * span * channels * weights.itemsize
    ring_rows = reach if ring_bytes <= RING_BYTES else rows.kernel
    unclaimed: SimpleQueue[int] = SimpleQueue()
    for first in range(0, rows.output, band):
        unclaimed.put(first)

    def take_bands() -> None:
        """Compute bands until none is left: split the band's column phases, then the loop."""
        with contextlib.suppress(Empty):
            while True:
                first = unclaimed.get_nowait()
                last = min(first + band, rows.output)
                top = rows.stride * first
                phases = read_only(column_phases(
                    image[top : top + rows.stride * (last - first - 1) + reach],
                    columns.stride, span,
                ))
                _correlate_rows(phases, places, weights, rows.kernel, rows.stride,
                                rows.dilation, ring_rows, output, first, last)

    # The calling thread starts at once; a helper takes bands from the moment it wakes (up
    # to a millisecond or two later on a busy machine), so nobody waits for a slow start.
    helpers = [_pool.submit(take_bands) for _ in range(threads - 1)]
    take_bands()
    for helper in helpers:
        # A helper still waiting for a thread (other requests' helpers hold them) would
        # find no band left: it is called off rather than waited for.
        if not helper.cancel():
            helper.result()
    shaped = output.reshape(rows.output, columns.output, channels)
    return shaped if padded.ndim == 3 else shaped[:, :, 0]


def tap_table(
    kernel: NDArray[np.float64],
    columns: AxisArithmetic,
    channels: int,
    dtype: type[np.float32] | type[np.float64],
) -> tuple[NDArray[np.int64], FloatArray]:
    """Where each kernel tap reads, and its weight: ``places[t] = (u, phase, start)``.

    Tap ``(u, v)`` of output row ``i`` reads input row ``s*i + d*u``, and there the cells
    ``start : start + width`` of column phase ``phase``.
    Taps whose weight is zero add nothing and are left out: a 3x3 sharpen has five taps.

    >>> axis = axis_arithmetic(8, 3, stride=2)
    >>> places, weights = tap_table(np.array([[0, 1, 0], [1, -4, 1], [0, 1, 0.0]]), axis, 1,
    ...                              np.float64)
    >>> places.tolist()
    [[0, 1, 0], [1, 0, 0], [1, 1, 0], [1, 0, 1], [2, 1, 0]]
    >>> weights.tolist()
    [1.0, 1.0, -4.0, 1.0, 1.0]
    """
    u, v = np.nonzero(kernel)
    along = columns.dilation * v  # how far right of the output's first column a tap reads
    places = np.stack([u, along % columns.stride, (along // columns.stride) * channels], axis=1)
    places = places.astype(np.int64)
    return places, cast(FloatArray, kernel[u, v].astype(dtype))


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


def read_only(cells: Cells) -> Cells:
    """A read-only view of ``cells``: numba compiles one version of the loop per array type,
    writability included, and phases are sometimes the decoded pixels themselves (read-only
    from Pillow) and sometimes a fresh copy; read-only always, they need one version."""
    view = cells.view()
    view.flags.writeable = False
    return view


def pick_every_step(block: Cells, rows: int, columns: int, out: Cells | None = None) -> Cells:
    """``block[::row_step, ::column_step]`` for a block exactly ``rows * row_step`` by
    ``columns * column_step`` cells, into ``out`` when given (it may be row-strided).

    Faster than numpy's strided copy of interleaved channels: OpenCV's
    nearest-neighbour resize by an exact integer factor picks source cell ``step * i``, and
    it is vectorised.
    """
    picked = cv2.resize(block, (columns, rows), dst=out, interpolation=cv2.INTER_NEAREST)
    if picked.ndim < block.ndim:  # OpenCV drops a trailing channel axis of size 1
        picked = picked[:, :, np.newaxis]
    return cast(Cells, np.asarray(picked))


@njit(nogil=True, fastmath=True, cache=True)
def _correlate_rows(  # type: ignore[no-untyped-def]
    phases, places, weights, kernel_rows, row_stride, row_dilation, ring_rows, output,
    first_row, last_row,
):
    """Output rows ``first_row`` to ``last_row`` (exclusive), every tap of every cell once.

    ``phases`` start at the first input row that ``first_row`` reads. ``places`` and
    ``weights`` are the `tap_table`.
    """
    taps = weights.shape[0]
    reach = row_dilation * (kernel_rows - 1) + 1  # input rows one output row reads
    # The input rows being read, as floats, in a ring small enough to stay in the core's
    # fastest cache while every tap reads them. With a slot per row of the reach, input
    # row r lives in slot r % reach (one output row's rows never share a slot), and each
    # is converted once; with a slot per kernel row, once per output row.
    ring = np.empty((ring_rows, phases.shape[0], phases.shape[2]), dtype=output.dtype)
    held = np.full(ring_rows, -1)
    # Where kernel row u's input row is for the current output row, found once per row:
    # a `%` per tap would cost an integer division each, a large share of the loop.
    slots = np.empty(kernel_rows, dtype=np.int64)
    for row in range(first_row, last_row):
        top = row_stride * (row - first_row)
        for u in range(kernel_rows):
            source = top + row_dilation * u
            slot = source % reach if ring_rows == reach else u
            if held[slot] != source:
                for phase in range(phases.shape[0]):
                    _to_floats(phases[phase, source], ring[slot, phase])
                held[slot] = source
            slots[u] = slot
        total = output[row]
        if taps == 0:
            total[:] = 0
        # Up to eight taps per pass over the output row, the first pass writing it: its
        # load and store are shared by eight multiply-adds, not one kernel row's.
        tap = 0
        while tap < taps:
            if taps - tap >= 8:
                _multiply_add_8(total, tap == 0, ring, slots, places, weights, tap)
                tap += 8
            elif taps - tap >= 4:
                _multiply_add_4(total, tap == 0, ring, slots, places, weights, tap)
                tap += 4
            elif taps - tap >= 2:
                _multiply_add_2(total, tap == 0, ring, slots, places, weights, tap)
                tap += 2
            else:
                _multiply_add_1(total, tap == 0, ring, slots, places, weights, tap)
                tap += 1


@njit(nogil=True, cache=True)
def _to_floats(cells, floats):  # type: ignore[no-untyped-def]
    """``floats[:] = cells``: 8-bit or float pixels in the compute type."""
    for index in range(cells.shape[0]):
        floats[index] = cells[index]


@njit(nogil=True, cache=True, inline="always")
def _cells(ring, slots, places, tap, width):  # type: ignore[no-untyped-def]
    """The cells ``tap`` reads for a whole output row: one contiguous run of a phase row."""
    start = places[tap, 2]
    return ring[slots[places[tap, 0]], places[tap, 1], start : start + width]


@njit(nogil=True, fastmath=True, cache=True)
def _multiply_add_8(total, assign, ring, slots, places, weights, tap):  # type: ignore[no-untyped-def]
    """``total (+)= w0 * c0 + ... + w7 * c7`` for taps ``tap`` to ``tap + 7``."""
    width = total.shape[0]
    c0 = _cells(ring, slots, places, tap, width)
    c1 = _cells(ring, slots, places, tap + 1, width)
    c2 = _cells(ring, slots, places, tap + 2, width)
    c3 = _cells(ring, slots, places, tap + 3, width)
    c4 = _cells(ring, slots, places, tap + 4, width)
    c5 = _cells(ring, slots, places, tap + 5, width)
    c6 = _cells(ring, slots, places, tap + 6, width)
    c7 = _cells(ring, slots, places, tap + 7, width)
    w0, w1, w2, w3 = weights[tap], weights[tap + 1], weights[tap + 2], weights[tap + 3]
    w4, w5, w6, w7 = weights[tap + 4], weights[tap + 5], weights[tap + 6], weights[tap + 7]
    zero = w0 * 0  # in the compute type; the weights are finite
    for index in range(width):
        before = zero if assign else total[index]  # never read what np.empty left there
        total[index] = before + (
            w0 * c0[index] + w1 * c1[index] + w2 * c2[index] + w3 * c3[index]
            + w4 * c4[index] + w5 * c5[index] + w6 * c6[index] + w7 * c7[index]
        )


@njit(nogil=True, fastmath=True, cache=True)
def _multiply_add_4(total, assign, ring, slots, places, weights, tap):  # type: ignore[no-untyped-def]
    """``total (+)= w0 * c0 + ... + w3 * c3`` for taps ``tap`` to ``tap + 3``."""
    width = total.shape[0]
    c0 = _cells(ring, slots, places, tap, width)
    c1 = _cells(ring, slots, places, tap + 1, width)
    c2 = _cells(ring, slots, places, tap + 2, width)
    c3 = _cells(ring, slots, places, tap + 3, width)
    w0, w1, w2, w3 = weights[tap], weights[tap + 1], weights[tap + 2], weights[tap + 3]
    zero = w0 * 0
    for index in range(width):
        before = zero if assign else total[index]
        total[index] = before + (
            w0 * c0[index] + w1 * c1[index] + w2 * c2[index] + w3 * c3[index]
        )


@njit(nogil=True, fastmath=True, cache=True)
def _multiply_add_2(total, assign, ring, slots, places, weights, tap):  # type: ignore[no-untyped-def]
    """``total (+)= w0 * c0 + w1 * c1`` for taps ``tap`` and ``tap + 1``."""
    width = total.shape[0]
    c0 = _cells(ring, slots, places, tap, width)
    c1 = _cells(ring, slots, places, tap + 1, width)
    w0, w1 = weights[tap], weights[tap + 1]
    zero = w0 * 0
    for index in range(width):
        before = zero if assign else total[index]
        total[index] = before + (w0 * c0[index] + w1 * c1[index])


@njit(nogil=True, fastmath=True, cache=True)
def _multiply_add_1(total, assign, ring, slots, places, weights, tap):  # type: ignore[no-untyped-def]
    """``total (+)= w0 * c0`` for tap ``tap``."""
    width = total.shape[0]
    c0 = _cells(ring, slots, places, tap, width)
    w0 = weights[tap]
    zero = w0 * 0
    for index in range(width):
        before = zero if assign else total[index]
        total[index] = before + w0 * c0[index]


def compile_ahead() -> None:
    """Compile (or load from numba's on-disk cache) the loop for every input type the
    engine passes it (8-bit, float32 and float64 phases, always read-only), so that no
    request waits for the compiler."""
    kernel = np.ones((2, 2))
    for dtype, compute in ((np.uint8, np.float32), (np.float32, np.float32),
                           (np.float64, np.float64)):
        image = np.zeros((4, 4, 1), dtype=dtype)
        axis = axis_arithmetic(4, 2, stride=2)
        strided_correlate(image, kernel, axis, axis, compute)
