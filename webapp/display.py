"""Display: turning a convolution's signed, unbounded output into 0..255 pixels.

An edge kernel answers with negative numbers wherever the image gets darker; clipping to
0..255 (what most demos do) silently throws half of the answer away. The four ways:

* ``clip``       values outside 0..255 are cut: right for blurs and sharpening.
* ``abs``        the size of the response, whatever its sign: edges of both directions.
* ``normalize``  the output's own min..max stretched to 0..255.
* ``diverging``  blue for negative, white for zero, red for positive, scaled by the largest
                 magnitude; a colour image shows the mean of its channels.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from webapp.translation import N_

Display = Literal["clip", "abs", "normalize", "diverging"]
DISPLAY_LABELS: dict[Display, str] = {
    "clip": N_("clip to 0..255"),
    "abs": N_("absolute value"),
    "normalize": N_("stretch min..max"),
    "diverging": N_("blue \u2212 / white 0 / red +"),
}
"""Each display as the forms offer it: what it does to the numbers (marked for the
catalogue: a form shows ``_(label)``)."""

# Anchor colours of the diverging map (ColorBrewer's RdBu, reversed so that red is positive).
_DIVERGING_ANCHORS = np.array(
    [
        [5, 48, 97],
        [33, 102, 172],
        [146, 197, 222],
        [247, 247, 247],
        [244, 165, 130],
        [178, 24, 43],
        [103, 0, 31],
    ],
    dtype=np.float64,
)
# Zero maps to index 128 (white); -max to 1 and +max to 255, symmetric around it.
_ANCHOR_POSITIONS = np.linspace(1.0, 255.0, len(_DIVERGING_ANCHORS))
DIVERGING_COLOURS: NDArray[np.uint8] = np.stack(
    [
        np.interp(np.arange(256), _ANCHOR_POSITIONS, _DIVERGING_ANCHORS[:, channel])
        for channel in range(3)
    ],
    axis=1,
).round().astype(np.uint8)


def default_display(kernel: NDArray[np.float64]) -> Display:
    """``diverging`` for kernels whose weights sum to zero (edge and gradient detectors,
    whose answers are signed around zero), ``clip`` for the rest (blurs, sharpening)."""
    scale = float(np.abs(kernel).sum()) or 1.0
    return "diverging" if abs(float(kernel.sum())) <= 1e-6 * scale else "clip"


def to_pixels(output: NDArray[np.floating], display: Display) -> NDArray[np.uint8]:
    """8-bit pixels showing ``output`` (height x width [x channels]) the ``display`` way.

    >>> to_pixels(np.array([[-10.0, 0.0, 300.0]]), "clip").tolist()
    [[0, 0, 255]]
    >>> to_pixels(np.array([[-10.0, 0.0, 10.0]]), "abs").tolist()
    [[10, 0, 10]]
    >>> to_pixels(np.array([[-10.0, 0.0, 10.0]]), "normalize").tolist()
    [[0, 128, 255]]
    >>> to_pixels(np.array([[-1.0, 0.0, 1.0]]), "diverging")[0, 1].tolist()
    [247, 247, 247]
    """
    if display == "clip":
        return _rounded(output)
    if display == "abs":
        return _rounded(np.abs(output))
    if display == "normalize":
        low, high = float(output.min()), float(output.max())
        if high == low:
            return np.zeros(output.shape, dtype=np.uint8)
        return _rounded((output - low) * (255.0 / (high - low)))
    signed = output.mean(axis=2) if output.ndim == 3 else output
    magnitude = float(np.abs(signed).max()) or 1.0
    index = _rounded(signed * (127.0 / magnitude) + 128.0)
    colours: NDArray[np.uint8] = DIVERGING_COLOURS[index]
    return colours


def _rounded(values: NDArray[np.floating]) -> NDArray[np.uint8]:
    # Round half up, then clip, in place on a float32 copy to keep large images cheap.
    result: NDArray[np.float32] = np.add(values, 0.5, dtype=np.float32)
    np.clip(result, 0, 255, out=result)
    return result.astype(np.uint8)


def grid_shape(count: int) -> tuple[int, int]:
    """Rows and columns of a near-square grid for ``count`` pictures (wider than tall).

    >>> grid_shape(16), grid_shape(8), grid_shape(1), grid_shape(32)
    ((4, 4), (2, 4), (1, 1), (4, 8))
    """
    columns = math.ceil(math.sqrt(count))
    while count % columns and columns < count:
        columns += 1
    if columns * columns > count * 2 and count > 2:
        columns = math.ceil(math.sqrt(count))
    rows = math.ceil(count / columns)
    return rows, columns


GRID_GAP = 1
"""Pixels between two tiles of a grid."""
GRID_BACKGROUND = 40
"""The dark grey of the gaps and of the cells no picture fills."""


def tile(pictures: NDArray[np.uint8], *, gap: int = GRID_GAP) -> NDArray[np.uint8]:
    """``pictures`` (count x height x width [x 3]) laid out in a `grid_shape` grid, row by
    row, ``gap`` pixels apart: a layer's feature maps at one glance.

    >>> tile(np.full((3, 1, 2), 255, np.uint8)).tolist()  # a 2 x 2 grid, one cell empty
    [[255, 255, 40, 255, 255], [40, 40, 40, 40, 40], [255, 255, 40, 40, 40]]
    """
    count, height, width = pictures.shape[:3]
    rows, columns = grid_shape(count)
    colour = pictures.shape[3:]
    tiles = np.full((rows * columns, height + gap, width + gap, *colour), GRID_BACKGROUND,
                    np.uint8)
    tiles[:count, :height, :width] = pictures
    picture = tiles.reshape(rows, columns, height + gap, width + gap, *colour).swapaxes(1, 2)
    return np.ascontiguousarray(
        picture.reshape(rows * (height + gap), columns * (width + gap), *colour)[
            : rows * (height + gap) - gap, : columns * (width + gap) - gap
        ]
    )


def feature_map_pictures(maps: NDArray[np.floating], display: Display) -> NDArray[np.uint8]:
    """Each of a layer's maps (count x height x width) as pixels the ``display`` way, each
    on its own scale for ``normalize`` and ``diverging`` (a weak map stays visible); as
    colour pictures when ``diverging``."""
    return np.stack([to_pixels(plane, display) for plane in maps])


def default_layer_display(activation: str) -> Display:
    """``normalize`` for maps that cannot be negative (after ReLU or sigmoid),
    ``diverging`` for signed ones (no activation, leaky ReLU, tanh)."""
    return "normalize" if activation in ("relu", "sigmoid") else "diverging"
