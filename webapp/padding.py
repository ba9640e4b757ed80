"""Padding: the cells added around an image so that the kernel can reach its edges.

Without padding a convolution shrinks its input (the lesson's ``(5,) -> (3,)``). How many
cells go on each side is arithmetic (`webapp.arithmetic.padding_per_side`); *what* goes in
them is the padding mode, handled here:

==============  ===========================  =============================================
mode            ``[1, 2, 3]`` padded by 2     also called
==============  ===========================  =============================================
``zeros``       ``0 0 | 1 2 3 | 0 0``         constant; the deep-learning default
``reflect``     ``3 2 | 1 2 3 | 2 1``         numpy ``reflect``, PyTorch ``reflect``
``replicate``   ``1 1 | 1 2 3 | 3 3``         numpy ``edge``
``circular``    ``2 3 | 1 2 3 | 1 2``         numpy ``wrap``; the image tiles the plane
==============  ===========================  =============================================
"""

from __future__ import annotations

from typing import Any, Literal

import cv2
import numpy as np
from numpy.typing import NDArray

from webapp.arithmetic import PaddingName, axis_label
from webapp.errors import InvalidArithmetic
from webapp.translation import N_
from webapp.translation import gettext as _

PaddingMode = Literal["zeros", "reflect", "replicate", "circular"]
PADDING_MODES: tuple[PaddingMode, ...] = ("zeros", "reflect", "replicate", "circular")
PADDING_MODE_LABELS: dict[PaddingMode, str] = {
    "zeros": N_("zeros"),
    "reflect": N_("a mirror (reflect)"),
    "replicate": N_("the edge (replicate)"),
    "circular": N_("the other side (circular)"),
}
"""Each mode as the forms offer it: what a learner sees in the padding, then the name
(marked for the catalogue: a form shows ``_(label)``)."""
PADDING_NAME_LABELS: dict[PaddingName, str] = {
    "valid": N_("valid (none)"),
    "same": N_("same"),
    "full": N_("full"),
}
"""The named paddings (`webapp.arithmetic.PaddingName`) as the forms offer them (marked for
the catalogue: the values stay English, a form shows ``_(label)``)."""

# OpenCV's names for the same four rules. BORDER_REFLECT_101 mirrors without repeating the
# edge cell, like numpy's and PyTorch's "reflect" (OpenCV's own BORDER_REFLECT repeats it).
OPENCV_BORDER: dict[PaddingMode, int] = {
    "zeros": cv2.BORDER_CONSTANT,
    "reflect": cv2.BORDER_REFLECT_101,
    "replicate": cv2.BORDER_REPLICATE,
    "circular": cv2.BORDER_WRAP,
}


def check_padding_fits(
    mode: PaddingMode, axis_size: int, padding_lo: int, padding_hi: int, axis_name: str
) -> None:
    """Refuse paddings the mode cannot fill, with the numbers (the same limits as PyTorch).

    ``reflect`` mirrors the axis without its edge cell, so it has ``n - 1`` cells to give;
    ``circular`` wraps around once, so it has ``n``.
    """
    widest = max(padding_lo, padding_hi)
    if mode == "reflect" and widest >= axis_size:
        raise InvalidArithmetic(
            _("reflect padding must be smaller than the %(axis)s it mirrors: padding "
              "%(padding)s >= %(axis)s %(size)s. Use less padding, or 'replicate'/'zeros'.",
              axis=axis_label(axis_name), padding=widest, size=axis_size),
            field="padding_mode",
        )
    if mode == "circular" and widest > axis_size:
        raise InvalidArithmetic(
            _("circular padding can wrap at most the whole %(axis)s: padding %(padding)s > "
              "%(axis)s %(size)s. Use less padding, or 'replicate'/'zeros'.",
              axis=axis_label(axis_name), padding=widest, size=axis_size),
            field="padding_mode",
        )


Cells = NDArray[np.integer[Any] | np.floating[Any]]


def pad(values: Cells, rows: tuple[int, int], columns: tuple[int, int], mode: PaddingMode) -> Cells:
    """``values`` (height x width [x channels]) with ``rows``/``columns`` cells added per side.

    >>> pad(np.array([[1.0, 2.0, 3.0]]), (0, 0), (2, 2), "reflect").tolist()
    [[3.0, 2.0, 1.0, 2.0, 3.0, 2.0, 1.0]]
    """
    (top, bottom), (left, right) = rows, columns
    if top == bottom == left == right == 0:
        return values
    if values.ndim == 3 and values.shape[2] > 4:
        # OpenCV handles up to four channels at once; more are padded one by one.
        return np.stack(
            [pad(values[:, :, c], rows, columns, mode) for c in range(values.shape[2])], axis=2
        )
    padded = cv2.copyMakeBorder(values, top, bottom, left, right, OPENCV_BORDER[mode], value=0)
    if padded.ndim < values.ndim:  # OpenCV drops a trailing channel axis of size 1
        padded = padded[:, :, np.newaxis]
    return np.asarray(padded)


def source_index(position: int, size: int, mode: PaddingMode) -> int | None:
    """Which input cell a (possibly out-of-range) position reads under ``mode``.

    ``None`` means a zero from the padding. This is the rule `pad` applies to every cell,
    written for one cell so that a single output can be explained step by step.

    >>> [source_index(p, 3, "reflect") for p in (-2, -1, 0, 3, 4)]
    [2, 1, 0, 1, 0]
    >>> [source_index(p, 3, "circular") for p in (-2, -1, 3)]
    [1, 2, 0]
    >>> source_index(-1, 3, "zeros") is None
    True
    """
    if 0 <= position < size:
        return position
    if mode == "zeros":
        return None
    if mode == "replicate":
        return min(max(position, 0), size - 1)
    if mode == "circular":
        return position % size
    # reflect: mirror about the edge cells, which are not repeated (period 2n - 2).
    if size == 1:
        return 0
    period = 2 * size - 2
    position %= period
    return position if position < size else period - position
