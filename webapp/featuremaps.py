"""Feature maps: a layer's channels laid out side by side as one picture.

A conv layer with 16 channels gives 16 small images; tiled in a near-square grid with a
one-pixel gap, they show at a glance what each filter responds to.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray


def grid_shape(channels: int) -> tuple[int, int]:
    """Rows and columns of a near-square grid for ``channels`` maps (wider than tall).

    >>> grid_shape(16), grid_shape(8), grid_shape(1), grid_shape(32)
    ((4, 4), (2, 4), (1, 1), (4, 8))
    """
    columns = math.ceil(math.sqrt(channels))
    while channels % columns and columns < channels:
        columns += 1
    if columns * columns > channels * 2 and channels > 2:
        columns = math.ceil(math.sqrt(channels))
    rows = math.ceil(channels / columns)
    return rows, columns


def feature_grid(activation: NDArray[np.float32], *, gap: int = 1) -> NDArray[np.uint8]:
    """An 8-bit picture of one layer's activation (height x width x channels).

    Each map is stretched over its own min..max, so a weak but structured channel stays
    visible; a channel that is constant (often a dead ReLU) is drawn black.
    """
    height, width, channels = activation.shape
    rows, columns = grid_shape(channels)
    picture = np.full(
        (rows * height + (rows - 1) * gap, columns * width + (columns - 1) * gap), 40, np.uint8
    )
    for channel in range(channels):
        values = activation[:, :, channel]
        low, high = float(values.min()), float(values.max())
        scaled = (
            np.zeros_like(values, dtype=np.uint8)
            if high - low < 1e-12
            else ((values - low) * (255.0 / (high - low)) + 0.5).astype(np.uint8)
        )
        row, column = divmod(channel, columns)
        top, left = row * (height + gap), column * (width + gap)
        picture[top : top + height, left : left + width] = scaled
    return picture
