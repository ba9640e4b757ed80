"""Convolution: slide a kernel over an image with a stride, a dilation and padding.

Deep-learning layers compute a *cross-correlation*: output cell ``(i, j)`` is

    out[i, j] = sum over (u, v) of kernel[u, v] * padded[s*i + d*u, s*j + d*v]

with stride ``s`` and dilation ``d``. Image processing's true convolution flips the kernel
first (``flip=True``); for symmetric kernels (box, Gaussian, Laplacian) the two agree, for
Sobel or emboss they differ in sign or direction.

How the engine works, and why (measured in ``benchmarks/convolve.py``):

* At **stride 1** the sums run in OpenCV's ``filter2D`` (or ``sepFilter2D`` when the kernel
  is separable, i.e. an outer product of a column and a row, like box, Gaussian and Sobel).
  8-bit pixels go to ``sepFilter2D`` as they are; for ``filter2D`` they become floats, a
  large image's in a reused buffer (`webapp.scratch`) rather than freshly mapped memory.
* **Stride** is never "compute everything, then keep every s-th cell": `webapp.stride`
  computes only the kept outputs (a quarter of the work at stride 2), reading each one's
  cells as contiguous runs of the image's column phases, in a compiled loop.
* **Dilation** at stride 1 spreads the taps apart. Rather than a kernel full of inserted
  zeros, the output is split by ``i mod d`` ("à trous"): each output phase is an ordinary
  dense correlation of every d-th input cell, so a dilated 3x3 costs what a 3x3 costs.
* **Padding** is explicit (``webapp.padding``) except in the common stride-1 case, where
  OpenCV reads the border cells itself (its "anchor" is the top-left padding).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import cast

import cv2
import numpy as np
from numpy.typing import NDArray

from webapp.arithmetic import AxisArithmetic, Padding, axis_arithmetic, padding_sides
from webapp.errors import InvalidKernel
from webapp.memory import MMAP_THRESHOLD_BYTES
from webapp.padding import OPENCV_BORDER, Cells, PaddingMode, check_padding_fits, pad, source_index
from webapp.scratch import floats_of
from webapp.stride import FloatArray, pick_every_step, strided_correlate


@dataclass(frozen=True)
class Convolution:
    """A convolution's raw output and the arithmetic that produced it."""

    output: FloatArray
    """Signed, unclipped values: ``(out_w,)``, ``(out_h, out_w)`` or ``(out_h, out_w, c)``."""
    rows: AxisArithmetic
    columns: AxisArithmetic
    kernel: NDArray[np.float64]
    """The kernel as applied: 2-D, flipped when a true convolution was asked for."""
    engine: str

    def padding_sides(self) -> dict[str, int]:
        """Cells of padding on each side, by name."""
        return padding_sides(self.rows, self.columns)


def convolve(
    values: NDArray[np.generic],
    kernel: NDArray[np.float64],
    *,
    stride: int = 1,
    padding: Padding = "valid",
    padding_mode: PaddingMode = "zeros",
    dilation: int = 1,
    flip: bool = False,
) -> Convolution:
    """Cross-correlate ``values`` with ``kernel`` (a true convolution with ``flip=True``).

    ``values`` is 1-D (a signal), 2-D (a gray image) or 3-D (height x width x channels,
    each channel with the same kernel). A 1-D kernel on a 2-D image is one row (1 x k).
    Float64 input is computed in float64 (exact small examples); anything else in float32.

    The lesson's example, then with one zero of padding on each side:

    >>> lesson = np.array([0, 1, 2, 3, 4], dtype=np.float64)
    >>> edge = np.array([-1, 0, 1], dtype=np.float64)
    >>> convolve(lesson, edge).output.tolist()
    [2.0, 2.0, 2.0]
    >>> convolve(lesson, edge, padding=1).output.tolist()
    [1.0, 2.0, 2.0, 2.0, -3.0]
    >>> convolve(lesson, edge, flip=True).output.tolist()
    [-2.0, -2.0, -2.0]
    """
    one_dimensional = values.ndim == 1
    if one_dimensional and kernel.ndim != 1:
        raise InvalidKernel(
            f"A 1-D input needs a 1-D kernel; this kernel is {kernel.ndim}-D "
            f"{'x'.join(map(str, kernel.shape))}.",
            field="weights",
        )
    if values.ndim not in (1, 2, 3):
        raise InvalidKernel(f"Input must be 1-D, 2-D or 3-D, not {values.ndim}-D.", field="input")
    kernel_2d: NDArray[np.float64] = np.asarray(kernel, dtype=np.float64)
    if kernel_2d.ndim == 1:
        kernel_2d = kernel_2d[np.newaxis, :]
    if flip:
        kernel_2d = kernel_2d[::-1, ::-1]
    # 8-bit pixels stay 8-bit until the engine needs floats: the strided path then converts
    # only the cells it reads, and copies a quarter of the bytes while splitting phases.
    compute_dtype = np.float64 if values.dtype == np.float64 else np.float32
    image: Cells = (
        values  # type: ignore[assignment]  # checked just here: uint8 or the compute dtype
        if values.dtype in (np.uint8, compute_dtype)
        else values.astype(compute_dtype)
    )
    if one_dimensional:
        image = image[np.newaxis, :]
    height, width = image.shape[:2]

    # A 1-D signal has a single axis: padding applies to it alone.
    rows = axis_arithmetic(
        height,
        kernel_2d.shape[0],
        stride=1 if one_dimensional else stride,
        dilation=dilation,
        padding="valid" if one_dimensional else padding,
        axis_name="height",
    )
    columns = axis_arithmetic(
        width, kernel_2d.shape[1], stride=stride, dilation=dilation, padding=padding,
        axis_name="width",
    )
    check_padding_fits(padding_mode, height, rows.padding_lo, rows.padding_hi, "height")
    check_padding_fits(padding_mode, width, columns.padding_lo, columns.padding_hi, "width")

    output, engine = _correlate(image, compute_dtype, kernel_2d, rows, columns, padding_mode)
    if one_dimensional:
        output = output[0]
    return Convolution(
        output=output, rows=rows, columns=columns, kernel=kernel_2d, engine=engine
    )


def _correlate(
    image: Cells,
    dtype: type[np.float32] | type[np.float64],
    kernel: NDArray[np.float64],
    rows: AxisArithmetic,
    columns: AxisArithmetic,
    mode: PaddingMode,
) -> tuple[FloatArray, str]:
    """The engine: valid cross-correlation of the padded image, only at the kept outputs."""
    strided = rows.stride > 1 or columns.stride > 1
    # The strided loop takes the kernel as it is: no need to look for separable factors.
    separable = None if strided else _separable_factors(kernel, eight_bit=image.dtype == np.uint8)
    name = "opencv-separable" if separable else "opencv"
    if _reads_its_own_border(rows, columns, mode):
        # Stride 1, no dilation, padding within the kernel: filter2D pads as it reads.
        (row_anchor, top), (column_anchor, left) = _anchor(rows), _anchor(columns)
        result = _filter(
            image, dtype, kernel, separable, (column_anchor, row_anchor), OPENCV_BORDER[mode]
        )
        return result[top : top + rows.output, left : left + columns.output], name

    padded = pad(
        image, (rows.padding_lo, rows.padding_hi), (columns.padding_lo, columns.padding_hi), mode
    )
    if strided:
        return strided_correlate(padded, kernel, rows, columns, dtype), "numba-strided"
    row_pieces, column_pieces = _axis_pieces(rows), _axis_pieces(columns)
    if len(row_pieces) * len(column_pieces) > len(row_pieces[0].taps) * len(
        column_pieces[0].taps
    ) * MAX_PIECES_PER_TAP:
        # A huge dilation splits into thousands of tiny pieces, each a Python-level call;
        # one strided view per kernel tap is then far cheaper.
        return _shift_and_add(padded, kernel, rows, columns, dtype), "numpy-shift-and-add"
    row_spans = [_span(piece, rows.output) for piece in row_pieces]
    column_spans = [_span(piece, columns.output) for piece in column_pieces]
    padded = _extend_to(
        padded,
        max(start + step * count for start, step, count in row_spans),
        max(start + step * count for start, step, count in column_spans),
    )
    output: FloatArray | None = None
    used_separable = False
    if any(piece.output_step > 1 for piece in row_pieces + column_pieces):
        output = np.zeros((rows.output, columns.output, *image.shape[2:]), dtype=dtype)
    for row_piece, row_span in zip(row_pieces, row_spans, strict=True):
        row_count = row_span[2] - len(row_piece.taps) + 1
        for column_piece, column_span in zip(column_pieces, column_spans, strict=True):
            column_count = column_span[2] - len(column_piece.taps) + 1
            piece = _gather(padded, row_span, column_span)
            sub_kernel = kernel[np.ix_(row_piece.taps, column_piece.taps)]
            sub_factors = (
                (separable[0][row_piece.taps], separable[1][column_piece.taps])
                if separable is not None and _two_passes_pay(sub_kernel, piece.dtype == np.uint8)
                else None
            )
            used_separable = used_separable or sub_factors is not None
            result = _filter(piece, dtype, sub_kernel, sub_factors, (0, 0), cv2.BORDER_CONSTANT)
            result = result[:row_count, :column_count]
            if output is None:
                output = result  # the first phase needs no zeros to be added to
            else:
                output[
                    row_piece.output_start :: row_piece.output_step,
                    column_piece.output_start :: column_piece.output_step,
                ] += result
    assert output is not None  # every axis has at least one piece
    return output, "opencv-separable-a-trous" if used_separable else "opencv-a-trous"


MAX_PIECES_PER_TAP = 4
"""Past this many pieces per kernel tap, `_shift_and_add` beats the phase split."""


def _shift_and_add(
    padded: Cells,
    kernel: NDArray[np.float64],
    rows: AxisArithmetic,
    columns: AxisArithmetic,
    dtype: type[np.float32] | type[np.float64],
) -> FloatArray:
    """The textbook way: for each tap, add weight x (the input cells it reads, as a view)."""
    output = np.zeros((rows.output, columns.output, *padded.shape[2:]), dtype=dtype)
    for u in range(kernel.shape[0]):
        top = u * rows.dilation
        for v in range(kernel.shape[1]):
            if kernel[u, v] == 0:
                continue
            left = v * columns.dilation
            cells = padded[
                top : top + rows.stride * (rows.output - 1) + 1 : rows.stride,
                left : left + columns.stride * (columns.output - 1) + 1 : columns.stride,
            ]
            output += dtype(kernel[u, v]) * cells
    return output


def _span(piece: _AxisPiece, outputs: int) -> tuple[int, int, int]:
    """``(start, step, count)`` of the input cells a piece reads along its axis."""
    count = len(range(piece.output_start, outputs, piece.output_step))
    return (piece.input_start, piece.input_step, count + len(piece.taps) - 1)


def _extend_to(padded: Cells, height: int, width: int) -> Cells:
    """``padded`` grown at the bottom/right to at least ``height`` x ``width``.

    `_gather` reads whole blocks of ``step`` cells; the cells past the last one it keeps
    are never used, so what they hold does not matter.
    """
    extra_rows, extra_columns = max(height - padded.shape[0], 0), max(width - padded.shape[1], 0)
    if extra_rows == extra_columns == 0:
        return padded
    return pad(padded, (0, extra_rows), (0, extra_columns), "zeros")


def _gather(padded: Cells, rows: tuple[int, int, int], columns: tuple[int, int, int]) -> Cells:
    """Every ``step``-th cell from ``start``, ``count`` of them, along both axes: the same
    as ``padded[r0 : : rs, c0 : : cs]`` cut to the counts, made by `pick_every_step`."""
    (row_start, row_step, row_count), (column_start, column_step, column_count) = rows, columns
    block = padded[
        row_start : row_start + row_step * row_count,
        column_start : column_start + column_step * column_count,
    ]
    if row_step == column_step == 1:
        return block
    return pick_every_step(block, row_count, column_count)


def _reads_its_own_border(rows: AxisArithmetic, columns: AxisArithmetic, mode: PaddingMode) -> bool:
    """Whether filter2D can pad by itself: stride 1, no dilation, padding within the kernel."""
    return (
        mode != "circular"  # filter2D has no wrap-around border
        and all(
            axis.stride == 1
            and axis.dilation == 1
            and axis.padding_lo + axis.padding_hi <= axis.kernel - 1
            for axis in (rows, columns)
        )
    )


def _anchor(axis: AxisArithmetic) -> tuple[int, int]:
    """Where filter2D anchors the kernel along ``axis``, and the first cell of its result
    that is ours (filter2D's result has the input's size, ours may be smaller).

    The anchor is the padding before the first cell, except when the kernel's centre gives
    the same cells: OpenCV's fast paths for symmetric kernels (box, Gaussian, Laplacian)
    need the centre anchor. A "valid" correlation is then the centre-anchored result cut
    down (measured: a 3x3 Gaussian on 8-bit pixels 1.5-1.9x faster than anchored at 0).

    >>> rows = axis_arithmetic(10, 3)  # valid: 8 outputs, output 0 centred on input 1
    >>> _anchor(rows)
    (1, 1)
    >>> _anchor(axis_arithmetic(10, 3, padding="full"))  # 2 cells of padding first
    (2, 0)
    """
    centre = axis.kernel // 2  # OpenCV's default anchor
    offset = centre - axis.padding_lo
    if offset >= 0 and offset + axis.output <= axis.input:
        return centre, offset
    return axis.padding_lo, 0


@dataclass(frozen=True)
class _AxisPiece:
    """Along one axis: which input cells meet which kernel taps to make which outputs.

    Output cells ``output_start, output_start + output_step, ...`` are the dense stride-1
    correlation of input cells ``input_start, input_start + input_step, ...`` with the
    kernel taps ``taps``. The pieces of an axis add up to the whole strided, dilated output.
    """

    input_start: int
    input_step: int
    taps: NDArray[np.intp]
    output_start: int
    output_step: int


def _axis_pieces(axis: AxisArithmetic) -> list[_AxisPiece]:
    """Split one axis of a strided, dilated correlation into dense stride-1 correlations.

    Output ``i`` reads padded cell ``s*i + d*u`` for tap ``u``. Grouping the taps by the
    input phase ``r = (d*u) mod s`` (polyphase) removes the stride; within a phase the
    taps are still ``d / gcd(s, d)`` apart, and grouping the outputs by ``i mod d'``
    (à trous) removes that dilation too.
    """
    s, d, k = axis.stride, axis.dilation, axis.kernel
    common = math.gcd(s, d)
    tap_period, dilation_left = s // common, d // common
    pieces: list[_AxisPiece] = []
    for first_tap in range(min(tap_period, k)):
        phase = (d * first_tap) % s
        offset = (d * first_tap - phase) // s  # in phase cells, where this tap group starts
        taps = np.arange(first_tap, k, tap_period, dtype=np.intp)
        for output_phase in range(min(dilation_left, axis.output)):
            pieces.append(
                _AxisPiece(
                    input_start=phase + s * (offset + output_phase),
                    input_step=s * dilation_left,
                    taps=taps,
                    output_start=output_phase,
                    output_step=dilation_left,
                )
            )
    return pieces


def _separable_factors(
    kernel: NDArray[np.float64], *, eight_bit: bool
) -> tuple[NDArray[np.float64], NDArray[np.float64]] | None:
    """``(column, row)`` with ``kernel == outer(column, row)``, if the kernel has rank 1 and
    two 1-D passes pay off (`_two_passes_pay`). Box, Gaussian, Sobel, Prewitt and Scharr
    kernels all have rank 1."""
    if not _two_passes_pay(kernel, eight_bit):
        return None
    return _rank_one_factors(kernel.shape, np.ascontiguousarray(kernel).tobytes())


@functools.lru_cache(maxsize=256)
def _rank_one_factors(
    shape: tuple[int, ...], weights: bytes
) -> tuple[NDArray[np.float64], NDArray[np.float64]] | None:
    """`_separable_factors` for the kernel with these float64 bytes, remembered: the same
    presets come again and again. (Measured: 20 µs of small numpy calls before OpenCV's
    filter cost 0.2 ms at 512^2, its worker threads having gone to sleep meanwhile.)"""
    kernel = np.frombuffer(weights, dtype=np.float64).reshape(shape)
    # If kernel == outer(c, r), its column through the largest weight is c times a number
    # and its row through it is r times a number: their outer product over that weight is
    # the kernel again. Any other kernel fails the check. (An SVD says the same, at 40 µs.)
    row_index, column_index = np.unravel_index(np.argmax(np.abs(kernel)), kernel.shape)
    pivot = kernel[row_index, column_index]
    if pivot == 0:
        return None
    column, row = kernel[:, column_index].copy(), kernel[row_index, :] / pivot
    if np.max(np.abs(np.outer(column, row) - kernel)) > 1e-9 * abs(pivot):
        return None
    column.flags.writeable = row.flags.writeable = False  # shared by every later caller
    return column, row


def _two_passes_pay(kernel: NDArray[np.float64], eight_bit: bool) -> bool:
    """Whether two 1-D passes beat one 2-D pass, if the kernel is separable.

    Two passes cost ``k_h + k_w`` multiply-adds per cell instead of ``k_h * k_w``; on float
    pixels that pays only from 5x5 up (OpenCV's direct 3x3 filter is as fast). On 8-bit
    pixels it always pays: OpenCV's row pass reads the bytes directly, so the image is never
    converted to floats as a whole (measured: 0.4-0.6 of filter2D's time, 3x3 included).
    """
    if eight_bit:
        return kernel.size > 1
    return kernel.size >= 25 and min(kernel.shape) > 1


def _filter(
    image: Cells,
    dtype: type[np.float32] | type[np.float64],
    kernel: NDArray[np.float64],
    factors: tuple[NDArray[np.float64], NDArray[np.float64]] | None,
    anchor: tuple[int, int],
    border: int,
) -> FloatArray:
    """One dense stride-1 correlation in OpenCV, the output the size of the input, in
    ``dtype``; 8-bit pixels become floats inside OpenCV or in a lent scratch buffer."""
    depth = cv2.CV_64F if dtype is np.float64 else cv2.CV_32F
    if factors is not None:
        column, row = factors
        result = cv2.sepFilter2D(
            image, depth, row.astype(dtype), column.astype(dtype), anchor=anchor, borderType=border
        )
    elif image.dtype == np.uint8 and image.size * 4 > MMAP_THRESHOLD_BYTES:
        # OpenCV's own 8-bit-to-float 2-D filter is slower than converting first (3.5x at
        # 7x7): it has no vectorised path for that pair of types. Floats this large would
        # be freshly mapped pages, so they go to the reused buffer instead.
        with floats_of(image) as floats:
            result = cv2.filter2D(floats, depth, kernel.astype(dtype), anchor=anchor,
                                  borderType=border)
    elif image.dtype == np.uint8:
        # Smaller ones come from the heap, most likely the block just freed by the last
        # image, still in the cache: faster than the scratch buffer (measured at 512^2).
        result = cv2.filter2D(image.astype(dtype), depth, kernel.astype(dtype), anchor=anchor,
                              borderType=border)
    else:
        result = cv2.filter2D(image, depth, kernel.astype(dtype), anchor=anchor, borderType=border)
    if result.ndim < image.ndim:  # OpenCV drops a trailing channel axis of size 1
        result = result[:, :, np.newaxis]
    return cast(FloatArray, np.asarray(result, dtype=dtype))


@dataclass(frozen=True)
class CellStep:
    """One kernel tap of one output cell: where it reads, what it reads, what it adds."""

    row: int
    column: int
    """Input coordinates (outside the input when the cell is padding)."""
    value: float
    weight: float
    product: float


def explain_cell(
    values: NDArray[np.generic],
    convolution: Convolution,
    row: int,
    column: int,
    *,
    padding_mode: PaddingMode,
    channel: int = 0,
) -> list[CellStep]:
    """Every product that adds up to one output cell, on the real input values.

    Works cell by cell (`webapp.padding.source_index`), independently of the engine, so a
    learner can redo the sum by hand.
    """
    rows, columns, kernel = convolution.rows, convolution.columns, convolution.kernel
    image = np.asarray(values, dtype=np.float64)
    if image.ndim == 1:
        image = image[np.newaxis, :]
    if image.ndim == 3:
        image = image[:, :, channel]
    steps: list[CellStep] = []
    for u in range(kernel.shape[0]):
        y = rows.stride * row + rows.dilation * u - rows.padding_lo
        source_y = source_index(y, image.shape[0], padding_mode)
        for v in range(kernel.shape[1]):
            x = columns.stride * column + columns.dilation * v - columns.padding_lo
            source_x = source_index(x, image.shape[1], padding_mode)
            value = 0.0 if source_y is None or source_x is None else image[source_y, source_x]
            weight = float(kernel[u, v])
            steps.append(
                CellStep(row=y, column=x, value=float(value), weight=weight,
                         product=float(value) * weight)
            )
    return steps
