"""Pooling: reduce each window of an image to one number, with no weights at all.

A pooling layer slides a window over its input the way a convolution does (with a stride,
padding and a dilation) but, instead of a weighted sum, it keeps

* ``max``      the largest value of the window: "is this feature anywhere in here?";
* ``average``  the mean of the window: a blur that also shrinks.

It has **zero parameters**. With a 2x2 window and stride 2 it keeps one value in four, so
each layer after it sees twice as far (see `webapp.arithmetic.receptive_field`).

Output cell ``(i, j)`` reduces the taps ``padded[s*i + d*u, s*j + d*v]`` for ``u, v`` in
``0..k-1``, the same cells a convolution with the same geometry would weigh.

**Padding cells are ignored**, never counted: a window at the edge takes the max or the mean
of its real cells only. That is Keras's ``padding="same"`` pooling (the lesson's autoencoder:
7x7 -> 4x4) and PyTorch's max pooling; PyTorch's average pooling instead counts padding as
zeros unless ``count_include_pad=False``. A window made of padding alone has nothing to
reduce, so such paddings are refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from webapp.arithmetic import AxisArithmetic, Padding, axis_arithmetic, axis_label, padding_sides
from webapp.errors import InvalidArithmetic, InvalidInput, Overflow
from webapp.kernels import Kernel
from webapp.matrices import order_of_magnitude
from webapp.translation import gettext as _

PoolKind = Literal["max", "average"]
POOL_KINDS: tuple[PoolKind, ...] = ("max", "average")

PooledArray = NDArray[np.float32] | NDArray[np.float64]


@dataclass(frozen=True)
class Pooling:
    """A pooling's output and the arithmetic of its windows."""

    output: PooledArray
    """``(out_w,)``, ``(out_h, out_w)`` or ``(out_h, out_w, c)``: each channel pooled alone."""
    rows: AxisArithmetic
    columns: AxisArithmetic
    kind: PoolKind
    engine: str = "numpy"

    def padding_sides(self) -> dict[str, int]:
        """Cells of padding on each side, by name (like `webapp.convolution.Convolution`)."""
        return padding_sides(self.rows, self.columns)


@dataclass(frozen=True)
class WindowCell:
    """One tap of one pooling window: where it reads and what it finds."""

    row: int
    column: int
    """Input coordinates (outside the input when the tap lands on padding)."""
    value: float | None
    """The input value, or None for a padding cell (ignored by the reduction)."""


def pool(
    values: NDArray[np.generic],
    *,
    kind: PoolKind,
    size: int,
    stride: int | None = None,
    padding: Padding = "valid",
    dilation: int = 1,
) -> Pooling:
    """Max or average pooling of ``values`` (1-D, 2-D, or height x width x channels).

    ``stride`` defaults to ``size``: windows side by side, none overlapping. Float64 input
    is pooled in float64; anything else (8-bit pixels) in float32.

    >>> grid = np.arange(16, dtype=np.float64).reshape(4, 4)
    >>> grid.tolist()
    [[0.0, 1.0, 2.0, 3.0], [4.0, 5.0, 6.0, 7.0], [8.0, 9.0, 10.0, 11.0], [12.0, 13.0, 14.0, 15.0]]
    >>> pool(grid, kind="max", size=2).output.tolist()
    [[5.0, 7.0], [13.0, 15.0]]
    >>> pool(grid, kind="average", size=2).output.tolist()
    [[2.5, 4.5], [10.5, 12.5]]

    The lesson's autoencoder: "same" max pooling of a 7x7 map keeps 4x4 cells, and the last
    row and column of windows hold a single padding cell each, which is ignored:

    >>> pool(np.ones((7, 7)), kind="max", size=2, padding="same").output.shape
    (4, 4)
    >>> pool(np.array([1.0, 2.0, 3.0]), kind="average", size=2, padding="same").output.tolist()
    [1.5, 3.0]
    """
    if kind not in POOL_KINDS:
        raise InvalidInput(_("kind must be 'max' or 'average', not %(kind)s.", kind=repr(kind)),
                           field="operation")
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise InvalidInput(_("pool_size must be an integer >= 1, got %(size)s.", size=repr(size)),
                           field="pool_size")
    if values.ndim not in (1, 2, 3):
        raise InvalidInput(_("Input must be 1-D, 2-D or 3-D, not %(ndim)s-D.", ndim=values.ndim),
                           field="input")
    stride = size if stride is None else stride
    one_dimensional = values.ndim == 1
    dtype = np.float64 if values.dtype == np.float64 else np.float32
    grid = np.asarray(values, dtype=dtype)
    if one_dimensional:
        grid = grid[np.newaxis, :]
    height, width = grid.shape[:2]
    # A 1-D signal has one axis: the window, stride and padding apply to it alone.
    rows = axis_arithmetic(
        height,
        1 if one_dimensional else size,
        stride=1 if one_dimensional else stride,
        dilation=1 if one_dimensional else dilation,
        padding="valid" if one_dimensional else padding,
        axis_name="height",
    )
    columns = axis_arithmetic(
        width, size, stride=stride, dilation=dilation, padding=padding, axis_name="width"
    )
    row_counts = _real_taps(rows, "height")
    column_counts = _real_taps(columns, "width")

    # Padding holds -inf for max (never the largest) and 0 for average (adds nothing; the
    # division below counts only the real cells).
    fill = -np.inf if kind == "max" else 0.0
    extra_axes = [(0, 0)] * (grid.ndim - 2)
    padded = np.pad(
        grid,
        [(rows.padding_lo, rows.padding_hi), (columns.padding_lo, columns.padding_hi),
         *extra_axes],
        constant_values=fill,
    )
    # Float sums can leave the float range (the mean of 1e308s); checked just below.
    with np.errstate(over="ignore", invalid="ignore"):
        output = _reduce(padded, rows, columns, kind)
    if kind == "average":
        counts = np.outer(row_counts, column_counts).astype(dtype)
        np.divide(output, counts.reshape(counts.shape + (1,) * (output.ndim - 2)), out=output)
    # A max of finite values is one of them; 8-bit pixels cannot overflow a float32 sum.
    if kind == "average" and values.dtype != np.uint8 and not np.isfinite(output).all():
        raise Overflow(
            _("input: the sum of a pooling window overflows to infinity (values near "
              "%(size)s); use smaller numbers.", size=order_of_magnitude(grid)),
            field="input",
        )
    if one_dimensional:
        output = output[0]
    return Pooling(output=output, rows=rows, columns=columns, kind=kind)


def _reduce(
    padded: PooledArray, rows: AxisArithmetic, columns: AxisArithmetic, kind: PoolKind
) -> PooledArray:
    """The max, or the sum, of every window of the padded grid: one pass per tap."""
    output: PooledArray | None = None
    for u in range(rows.kernel):
        top = u * rows.dilation
        band = padded[top : top + rows.stride * (rows.output - 1) + 1 : rows.stride]
        for v in range(columns.kernel):
            left = v * columns.dilation
            tap = band[:, left : left + columns.stride * (columns.output - 1) + 1 : columns.stride]
            if output is None:
                output = tap.copy()
            elif kind == "max":
                np.maximum(output, tap, out=output)
            else:
                output += tap
    assert output is not None  # a window has at least one tap
    return output


def _real_taps(axis: AxisArithmetic, axis_name: str) -> NDArray[np.intp]:
    """How many taps of each window land inside the input along one axis (not on padding)."""
    positions = (
        axis.stride * np.arange(axis.output)[:, np.newaxis]
        + axis.dilation * np.arange(axis.kernel)[np.newaxis, :]
    )
    inside = (positions >= axis.padding_lo) & (positions < axis.padding_lo + axis.input)
    counts: NDArray[np.intp] = inside.sum(axis=1)
    empty = np.flatnonzero(counts == 0)
    if empty.size:
        raise InvalidArithmetic(
            _("Pooling window %(window)s along the %(axis)s covers only padding (%(before)s "
              "before, %(after)s after, window %(size)s): it has no value to keep. Use less "
              "padding.", window=int(empty[0]), axis=axis_label(axis_name),
              before=axis.padding_lo, after=axis.padding_hi, size=axis.effective_kernel),
            field="padding",
        )
    return counts


def window_kernel(kind: PoolKind, size: int, *, ndim: int = 2, max_size: int) -> Kernel:
    """The pooling window as a `Kernel` (ones for max, the mean's weights for average), so
    that answers describe it as they describe a kernel; 1-D for a 1-D input.

    >>> window_kernel("average", 2, ndim=1, max_size=31).weights.tolist()
    [0.5, 0.5]
    """
    if size > max_size:
        raise InvalidInput(_("pool_size is %(size)s; at most %(limit)s is allowed.", size=size,
                             limit=max_size), field="pool_size")
    shape = (size,) if ndim == 1 else (size, size)
    side = f"{size}" if ndim == 1 else f"{size}x{size}"
    if kind == "max":
        return Kernel("max-pool", f"Max pool {side}", np.ones(shape),
                      f"The largest value of each {side} window; no weights.")
    return Kernel("avg-pool", f"Average pool {side}", np.full(shape, 1 / np.prod(shape)),
                  f"The mean of each {side} window; no weights.")


def pool_window(
    values: NDArray[np.generic], pooling: Pooling, row: int, column: int, *, channel: int = 0
) -> list[WindowCell]:
    """The cells that output cell ``(row, column)`` reduces, on the real input values.

    Works cell by cell, independently of `pool`, so a learner can check one answer by hand.

    >>> grid = np.arange(16, dtype=np.float64).reshape(4, 4)
    >>> [cell.value for cell in pool_window(grid, pool(grid, kind="max", size=2), 1, 0)]
    [8.0, 9.0, 12.0, 13.0]
    """
    image = np.asarray(values, dtype=np.float64)
    if image.ndim == 1:
        image = image[np.newaxis, :]
    if image.ndim == 3:
        image = image[:, :, channel]
    rows, columns = pooling.rows, pooling.columns
    cells: list[WindowCell] = []
    for u in range(rows.kernel):
        y = rows.stride * row + rows.dilation * u - rows.padding_lo
        for v in range(columns.kernel):
            x = columns.stride * column + columns.dilation * v - columns.padding_lo
            inside = 0 <= y < image.shape[0] and 0 <= x < image.shape[1]
            cells.append(
                WindowCell(row=y, column=x, value=float(image[y, x]) if inside else None)
            )
    return cells


def reduce_window(cells: list[WindowCell], kind: PoolKind) -> float:
    """The max or the mean of a window's real cells (padding ignored).

    >>> reduce_window([WindowCell(0, 0, 2.0), WindowCell(0, 1, None)], "average")
    2.0
    """
    found = [cell.value for cell in cells if cell.value is not None]
    return max(found) if kind == "max" else sum(found) / len(found)
