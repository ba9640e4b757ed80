"""Pooling: hand-checked tables, then an independent reference (numpy reshapes, scipy.ndimage)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray
from scipy import ndimage

from webapp.arithmetic import Padding, padding_per_side
from webapp.errors import InvalidArithmetic, InvalidInput
from webapp.pooling import PoolKind, pool, pool_window, reduce_window

GRID = np.arange(16, dtype=np.float64).reshape(4, 4)


@pytest.mark.parametrize(
    ("values", "options", "expected"),
    [
        # 2x2, stride 2: one value in four.
        (GRID, {"kind": "max", "size": 2}, [[5, 7], [13, 15]]),
        (GRID, {"kind": "average", "size": 2}, [[2.5, 4.5], [10.5, 12.5]]),
        # Stride 1: overlapping windows.
        (GRID, {"kind": "max", "size": 2, "stride": 1},
         [[5, 6, 7], [9, 10, 11], [13, 14, 15]]),
        # 3x3 over the whole 4x4 with stride 1: two windows per axis.
        (GRID, {"kind": "average", "size": 3, "stride": 1}, [[5, 6], [9, 10]]),
        # Dilation 2: taps (0, 2) on each axis; the window spans 3 cells.
        (GRID, {"kind": "max", "size": 2, "stride": 1, "dilation": 2}, [[10, 11], [14, 15]]),
        # A stride that does not divide: the last column and row are dropped.
        (np.arange(25.0).reshape(5, 5), {"kind": "max", "size": 2}, [[6, 8], [16, 18]]),
        # Padding is ignored: the corner windows average their real cells only.
        (np.ones((2, 2)) * 4, {"kind": "average", "size": 2, "stride": 2, "padding": 1},
         [[4, 4], [4, 4]]),
        (GRID, {"kind": "max", "size": 2, "stride": 2, "padding": 1},
         [[0, 2, 3], [8, 10, 11], [12, 14, 15]]),
        # 1-D: a signal with one axis.
        (np.array([1.0, 3.0, 2.0, 5.0]), {"kind": "max", "size": 2}, [3, 5]),
        (np.array([1.0, 3.0, 2.0, 5.0, 4.0]), {"kind": "average", "size": 2, "padding": "same"},
         [2, 3.5, 4]),
        # Negative values: max keeps the least negative, padding (-inf inside) never wins.
        (np.array([[-5.0, -2.0], [-7.0, -9.0]]), {"kind": "max", "size": 2, "padding": "same"},
         [[-2]]),
    ],
)
def test_pool_matches_hand_checked_tables(
    values: NDArray[np.float64], options: dict[str, Any], expected: list[Any]
) -> None:
    np.testing.assert_array_equal(pool(values, **options).output, np.array(expected))


def test_the_lessons_same_max_pooling_turns_7x7_into_4x4() -> None:
    feature_map = np.arange(49, dtype=np.float64).reshape(7, 7)
    pooled = pool(feature_map, kind="max", size=2, padding="same")
    assert pooled.output.shape == (4, 4)
    assert (pooled.rows.padding_lo, pooled.rows.padding_hi) == (0, 1)
    # The last column of windows holds column 6 and a padding cell: column 6 wins.
    assert pooled.output[:, 3].tolist() == [13, 27, 41, 48]


def test_stride_defaults_to_the_window_size() -> None:
    assert pool(GRID, kind="max", size=2).columns.stride == 2


def test_pooling_each_channel_alone() -> None:
    image = np.stack([GRID, -GRID, GRID * 10], axis=2)
    pooled = pool(image, kind="max", size=2).output
    assert pooled.shape == (2, 2, 3)
    np.testing.assert_array_equal(pooled[:, :, 1], [[0, -2], [-8, -10]])
    np.testing.assert_array_equal(pooled[:, :, 2], [[50, 70], [130, 150]])


def test_eight_bit_pixels_are_pooled_in_float32() -> None:
    pixels = np.array([[0, 255], [7, 9]], dtype=np.uint8)
    pooled = pool(pixels, kind="average", size=2).output
    assert pooled.dtype == np.float32
    assert pooled.tolist() == [[67.75]]


def _reference(
    values: NDArray[np.float64], kind: PoolKind, size: int, stride: int, padding: Padding,
    dilation: int,
) -> NDArray[np.float64]:
    """scipy.ndimage on the padded image: max filter, or sum / count of real cells."""
    lo_r, hi_r = padding_per_side(values.shape[0], size, stride=stride, dilation=dilation,
                                  padding=padding)
    lo_c, hi_c = padding_per_side(values.shape[1], size, stride=stride, dilation=dilation,
                                  padding=padding)
    span = size + (size - 1) * (dilation - 1)
    footprint = np.zeros((span, span), dtype=bool)
    footprint[::dilation, ::dilation] = True
    pad = ((lo_r, hi_r), (lo_c, hi_c))
    if kind == "max":
        padded = np.pad(values, pad, constant_values=-np.inf)
        filtered = ndimage.maximum_filter(padded, footprint=footprint, mode="constant",
                                          cval=-np.inf)
    else:
        sums = ndimage.correlate(np.pad(values, pad), footprint.astype(float), mode="constant")
        counts = ndimage.correlate(np.pad(np.ones_like(values), pad),
                                   footprint.astype(float), mode="constant")
        filtered = sums / np.where(counts == 0, 1, counts)
    # scipy centres a window of `span` cells on index span // 2: the window starting at
    # padded cell i is read at i + span // 2, for every i where a whole window fits.
    last_row = values.shape[0] + lo_r + hi_r - span
    last_column = values.shape[1] + lo_c + hi_c - span
    centre = span // 2
    return np.asarray(filtered[
        centre : centre + last_row + 1 : stride, centre : centre + last_column + 1 : stride
    ], dtype=np.float64)


@pytest.mark.parametrize("kind", ["max", "average"])
@pytest.mark.parametrize(
    ("size", "stride", "padding", "dilation"),
    [
        (2, 2, "valid", 1),
        (3, 1, "valid", 1),
        (3, 2, "same", 1),
        (2, 2, "same", 1),
        (3, 3, 1, 1),
        (2, 1, "valid", 3),
        (3, 2, "same", 2),
        (4, 3, 2, 1),
        (5, 2, "full", 1),
    ],
)
def test_pool_agrees_with_scipy_ndimage(
    kind: PoolKind, size: int, stride: int, padding: Padding, dilation: int
) -> None:
    values = np.random.default_rng(size * 100 + stride * 10 + dilation).normal(size=(13, 11))
    ours = pool(values, kind=kind, size=size, stride=stride, padding=padding,
                dilation=dilation).output
    np.testing.assert_allclose(ours, _reference(values, kind, size, stride, padding, dilation),
                               rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("kind", ["max", "average"])
def test_non_overlapping_pooling_agrees_with_a_numpy_reshape(kind: PoolKind) -> None:
    image = np.random.default_rng(7).integers(0, 256, size=(12, 18, 3)).astype(np.uint8)
    blocks = image.astype(np.float64).reshape(4, 3, 6, 3, 3)
    expected = blocks.max(axis=(1, 3)) if kind == "max" else blocks.mean(axis=(1, 3))
    np.testing.assert_allclose(pool(image, kind=kind, size=3).output, expected, rtol=1e-6)


@pytest.mark.parametrize("kind", ["max", "average"])
def test_every_explained_window_reduces_to_its_output(kind: PoolKind) -> None:
    values = np.random.default_rng(3).normal(size=(6, 7))
    pooled = pool(values, kind=kind, size=3, stride=2, padding="same")
    height, width = pooled.output.shape
    for row in range(height):
        for column in range(width):
            window = pool_window(values, pooled, row, column)
            assert len(window) == 9
            assert reduce_window(window, kind) == pytest.approx(pooled.output[row, column])
    # The corner window reaches into the padding, which the reduction leaves out.
    corner = pool_window(values, pooled, 0, 0)
    assert any(cell.value is None for cell in corner)


def test_a_window_of_padding_alone_is_refused() -> None:
    with pytest.raises(InvalidArithmetic) as raised:
        pool(np.ones((4, 4)), kind="max", size=2, padding=2)
    assert raised.value.field == "padding"
    assert "only padding" in raised.value.message


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"kind": "max", "size": 0}, "pool_size"),
        ({"kind": "median", "size": 2}, "operation"),
        ({"kind": "max", "size": 5}, "padding"),  # larger than the 4x4 input: empty output
        ({"kind": "max", "size": 2, "stride": 0}, "stride"),
    ],
)
def test_bad_pooling_names_the_field(options: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        pool(GRID, **options)
    assert raised.value.field == field


def test_pooling_is_numeric_core_and_never_imports_fastapi() -> None:
    import subprocess
    import sys

    check = ("import sys, webapp.pooling; print(sorted(m for m in sys.modules "
             "if 'fastapi' in m or 'starlette' in m))")
    result = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == "[]"
