"""Feature maps laid out as one picture: each channel stretched over its own range."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.typing import NDArray

from webapp.autoencoder.featuremaps import feature_grid, grid_shape


def one_map_at_a_time(activation: NDArray[np.float32], gap: int = 1) -> NDArray[np.uint8]:
    """The picture built the plain way, a channel at a time, for the fast one to match."""
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


@pytest.mark.parametrize("channels", [1, 2, 3, 4, 5, 8, 16, 32])
@pytest.mark.parametrize(("height", "width"), [(28, 28), (7, 7), (4, 4), (1, 1), (3, 5)])
@pytest.mark.parametrize("gap", [0, 1, 2])
def test_the_grid_matches_one_map_at_a_time(
    channels: int, height: int, width: int, gap: int
) -> None:
    rng = np.random.default_rng(channels * 100 + height)
    activation = (rng.standard_normal((height, width, channels)) * 3).astype(np.float32)
    activation[:, :, ::3] = np.maximum(activation[:, :, ::3], 0)  # ReLU-like maps
    if channels > 1:
        activation[:, :, 1] = 0.7  # a dead channel: black
    assert np.array_equal(feature_grid(activation, gap=gap), one_map_at_a_time(activation, gap))


def test_each_map_spans_black_to_white_and_dead_maps_are_black() -> None:
    ramp = np.linspace(-2, 6, 16, dtype=np.float32).reshape(4, 4)
    activation = np.stack([ramp, np.full((4, 4), 3.0, np.float32), ramp / 100], axis=2)
    picture = feature_grid(activation)
    assert picture.shape == (4 * 2 + 1, 4 * 2 + 1)  # 3 maps in a 2 x 2 grid
    assert picture[0, 0] == 0 and picture[3, 3] == 255  # the first map's min and max
    assert (picture[:4, 5:] == 0).all()  # the constant map
    assert picture[5, 0] == 0 and picture[8, 3] == 255  # a weak map, stretched all the same
    assert (picture[5:, 5:] == 40).all() and (picture[4, :] == 40).all()  # empty cell, gap
