"""Convolution: slide a kernel over an image with a stride, a dilation and padding.

Deep-learning layers compute a *cross-correlation*: output cell ``(i, j)`` is

    out[i, j] = sum over (u, v) of kernel[u, v] * padded[s*i + d*u, s*j + d*v]

with stride ``s`` and dilation ``d``. Image processing's true convolution flips the kernel
first (``flip=True``); for symmetric kernels (box, Gaussian, Laplacian) the two agree, for
Sobel or emboss they differ in sign or direction.

How the engine works, and why (``benchmarks/convolve.py`` holds each choice against OpenCV):

* **Separable kernels** at stride 1 (an outer product of a column and a row, like box,
  Gaussian and Sobel) run as two 1-D passes in OpenCV's ``sepFilter2D``, which reads 8-bit
  pixels as they are.
* **Every other case** runs in one compiled loop (`webapp.engine`) that computes only the
  outputs it keeps. **Stride** is never "compute everything, then keep every s-th cell"
  (a quarter of the work at stride 2); **dilation** only moves where each tap reads, so a
  dilated 3x3 costs what a 3x3 costs. It converts 8-bit pixels to floats one row at a time,
  just before they are read, where OpenCV's ``filter2D`` needs the whole image converted
  first; and it spreads its rows over the cores, where ``filter2D`` keeps a 512^2 image on
  one.
* Float pixels (the numeric mode's small examples) with a kernel under 9x9 at stride 1 go
  to ``filter2D``, which reads them without converting: there it is the faster of the two.
* **Padding** is explicit (``webapp.padding``) except for OpenCV at stride 1, which reads
  the border cells itself (its "anchor" is the top-left padding).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import cast

import cv2
import numpy as np
from numpy.typing import NDArray

from webapp.arithmetic import AxisArithmetic, Padding, axis_arithmetic, padding_sides
from webapp.engine import FloatArray, strided_correlate
from webapp.errors import InvalidKernel, Overflow
from webapp.matrices import order_of_magnitude
from webapp.padding import OPENCV_BORDER, Cells, PaddingMode, check_padding_fits, pad, source_index
from webapp.translation import gettext as _


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
            _("A 1-D input needs a 1-D kernel; this kernel is %(ndim)s-D %(shape)s.",
              ndim=kernel.ndim, shape="x".join(map(str, kernel.shape))),
            field="weights",
        )
    if values.ndim not in (1, 2, 3):
        raise InvalidKernel(_("Input must be 1-D, 2-D or 3-D, not %(ndim)s-D.", ndim=values.ndim),
                            field="input")
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

    eight_bit = image.dtype == np.uint8
    _check_range(kernel_2d, compute_dtype, eight_bit=eight_bit)
    output, engine = _correlate(image, compute_dtype, kernel_2d, rows, columns, padding_mode)
    if not eight_bit and not np.isfinite(output).all():
        _refuse_overflow(image, kernel_2d)
    if one_dimensional:
        output = output[0]
    return Convolution(
        output=output, rows=rows, columns=columns, kernel=kernel_2d, engine=engine
    )


def _check_range(
    kernel: NDArray[np.float64], dtype: type[np.float32] | type[np.float64], *, eight_bit: bool
) -> None:
    """Refuse weights whose output could leave the compute type's range, before computing.

    8-bit pixels are at most 255, so ``255 * taps * max|w|`` bounds every partial sum:
    within half of float32's range (room for the display's ``max - min``), no photo can
    overflow, and no output needs scanning. Float inputs are checked after computing
    (`_refuse_overflow`); only the weights must fit the compute type.
    """
    largest = float(np.abs(kernel).max())
    limit = float(np.finfo(dtype).max)
    if eight_bit and 255.0 * kernel.size * largest >= limit / 2:
        raise Overflow(
            _("weights: the output overflows to infinity (weights near %(size)s times pixels "
              "up to 255 pass %(type)s's %(limit)s); use smaller weights.",
              size=order_of_magnitude(kernel), type=dtype.__name__,
              limit=format(limit, ".1e").replace("e+", "e")),
            field="weights",
        )
    if largest >= limit:
        raise Overflow(
            _("weights: the output overflows to infinity (weights near %(size)s pass "
              "%(type)s's %(limit)s); use smaller numbers.",
              size=order_of_magnitude(kernel), type=dtype.__name__,
              limit=format(limit, ".1e").replace("e+", "e")),
            field="weights",
        )


def _refuse_overflow(image: Cells, kernel: NDArray[np.float64]) -> None:
    """An output with infinities or NaN: say which numbers were too large (the larger of the
    input and the weights)."""
    input_largest = float(np.abs(image[np.isfinite(image)]).max(initial=0.0))
    weights_largest = float(np.abs(kernel).max())
    field, values = (
        ("weights", kernel) if weights_largest >= input_largest else ("input", image)
    )
    raise Overflow(
        _("%(field)s: the output overflows to infinity (values near %(size)s); use smaller "
          "numbers.", field=field, size=order_of_magnitude(values)),
        field=field,
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
    eight_bit = image.dtype == np.uint8
    dense = all(axis.stride == 1 and axis.dilation == 1 for axis in (rows, columns))
    separable = _separable_factors(kernel, eight_bit=eight_bit) if dense else None
    if separable is not None or (dense and not eight_bit and kernel.size < LOOP_FROM_TAPS):
        name = "opencv-separable" if separable else "opencv"
        return _opencv_filter(image, dtype, kernel, separable, rows, columns, mode), name
    padded = pad(
        image, (rows.padding_lo, rows.padding_hi), (columns.padding_lo, columns.padding_hi), mode
    )
    return strided_correlate(padded, kernel, rows, columns, dtype), "numba"


LOOP_FROM_TAPS = 81
"""From this many taps (9x9) the compiled loop beats filter2D even on float pixels, which
filter2D reads without converting; below it (5x5, 7x7) filter2D is the faster."""


def _opencv_filter(
    image: Cells,
    dtype: type[np.float32] | type[np.float64],
    kernel: NDArray[np.float64],
    separable: tuple[NDArray[np.float64], NDArray[np.float64]] | None,
    rows: AxisArithmetic,
    columns: AxisArithmetic,
    mode: PaddingMode,
) -> FloatArray:
    """A stride-1, undilated correlation in OpenCV, which pads as it reads when it can."""
    if _reads_its_own_border(rows, columns, mode):
        (row_anchor, top), (column_anchor, left) = _anchor(rows), _anchor(columns)
        result = _filter(
            image, dtype, kernel, separable, (column_anchor, row_anchor), OPENCV_BORDER[mode]
        )
        return result[top : top + rows.output, left : left + columns.output]
    padded = pad(
        image, (rows.padding_lo, rows.padding_hi), (columns.padding_lo, columns.padding_hi), mode
    )
    result = _filter(padded, dtype, kernel, separable, (0, 0), cv2.BORDER_CONSTANT)
    return result[: rows.output, : columns.output]


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
    down, faster than the same filter anchored at 0.

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
    presets come again and again, and the small numpy calls that find the factors delay
    OpenCV's filter long enough for its worker threads to go to sleep."""
    kernel = np.frombuffer(weights, dtype=np.float64).reshape(shape)
    # If kernel == outer(c, r), its column through the largest weight is c times a number
    # and its row through it is r times a number: their outer product over that weight is
    # the kernel again. Any other kernel fails the check. (An SVD says the same, slower.)
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
    pixels it always pays, 3x3 included: OpenCV's row pass reads the bytes directly, so the
    image is never converted to floats as a whole.
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
    ``dtype``. 8-bit pixels come here only with ``factors``: OpenCV's row pass reads them."""
    depth = cv2.CV_64F if dtype is np.float64 else cv2.CV_32F
    if factors is not None:
        column, row = factors
        result = cv2.sepFilter2D(
            image, depth, row.astype(dtype), column.astype(dtype), anchor=anchor, borderType=border
        )
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
