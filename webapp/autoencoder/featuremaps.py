"""Feature maps: a layer's channels laid out side by side as one picture.

A conv layer with 16 channels gives 16 small images; tiled in a near-square grid with a
one-pixel gap, they show at a glance what each filter responds to.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from webapp.display import grid_shape as grid_shape  # the one grid, shared with the core


def feature_grid(activation: NDArray[np.float32], *, gap: int = 1) -> NDArray[np.uint8]:
    """An 8-bit picture of one layer's activation (height x width x channels).

    Each map is stretched over its own min..max, so a weak but structured channel stays
    visible; a channel that is constant (often a dead ReLU) is drawn black. The gaps, and
    the grid's cells that no channel fills, are dark grey (40).

    >>> feature_grid(np.array([[[0.0, 5.0]], [[1.0, 5.0]]], dtype=np.float32)).tolist()
    [[0, 40, 0], [255, 40, 0]]
    """
    height, width, channels = activation.shape
    rows, columns = grid_shape(channels)
    # All channels at once (a layer has up to 32 maps, and the page draws every layer of
    # every model): per channel, (value - min) * 255 / (max - min), rounded, in float32.
    low = activation.min(axis=(0, 1))
    spread = activation.max(axis=(0, 1)).astype(np.float64) - low
    live = spread >= 1e-12
    scale = np.where(live, 255.0 / np.where(live, spread, 1.0), 0.0).astype(np.float32)
    scaled = ((activation - low) * scale + np.float32(0.5)).astype(np.uint8)
    # One tile per grid cell, the map in its top-left corner and the gap to its right and
    # below; the tiles laid side by side, and the last gap cut off.
    tiles = np.full((rows * columns, height + gap, width + gap), 40, np.uint8)
    tiles[:channels, :height, :width] = scaled.transpose(2, 0, 1)
    picture = tiles.reshape(rows, columns, height + gap, width + gap).transpose(0, 2, 1, 3)
    return np.ascontiguousarray(
        picture.reshape(rows * (height + gap), columns * (width + gap))[
            : rows * (height + gap) - gap, : columns * (width + gap) - gap
        ]
    )
