"""The convolution engine: hand-checked tables, then a sweep against an independent reference."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose
from scipy import signal

from tests.reference import reference_correlate
from webapp.arithmetic import Padding
from webapp.convolution import convolve, explain_cell
from webapp.errors import InvalidArithmetic, InvalidKernel
from webapp.padding import PADDING_MODES

LESSON = np.array([0, 1, 2, 3, 4], dtype=np.float64)
EDGE = np.array([-1, 0, 1], dtype=np.float64)


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({}, [2, 2, 2]),  # the note printed [3, 2, 2]: an arithmetic slip
        ({"padding": 1}, [1, 2, 2, 2, -3]),
        ({"padding": "same"}, [1, 2, 2, 2, -3]),
        ({"padding": "full"}, [0, 1, 2, 2, 2, -3, -4]),
        ({"stride": 2}, [2, 2]),
        ({"stride": 2, "padding": 1}, [1, 2, -3]),
        ({"flip": True}, [-2, -2, -2]),
        ({"dilation": 2}, [4]),
        ({"padding": 1, "padding_mode": "replicate"}, [1, 2, 2, 2, 1]),
        ({"padding": 1, "padding_mode": "reflect"}, [0, 2, 2, 2, 0]),
        ({"padding": 1, "padding_mode": "circular"}, [-3, 2, 2, 2, -3]),
    ],
)
def test_lesson_example(options: dict[str, object], expected: list[float]) -> None:
    result = convolve(LESSON, EDGE, **options)  # type: ignore[arg-type]
    assert result.output.tolist() == expected


def test_padding_modes_on_a_tiny_matrix() -> None:
    # A 1x1 identity kernel with padding 1 shows what each mode puts in the border.
    tiny = np.array([[1, 2], [3, 4]], dtype=np.float64)
    one_by_one = np.array([[1]], dtype=np.float64)
    expected = {
        "zeros": [[0, 0, 0, 0], [0, 1, 2, 0], [0, 3, 4, 0], [0, 0, 0, 0]],
        "replicate": [[1, 1, 2, 2], [1, 1, 2, 2], [3, 3, 4, 4], [3, 3, 4, 4]],
        "reflect": [[4, 3, 4, 3], [2, 1, 2, 1], [4, 3, 4, 3], [2, 1, 2, 1]],
        "circular": [[4, 3, 4, 3], [2, 1, 2, 1], [4, 3, 4, 3], [2, 1, 2, 1]],
    }
    for mode, grid in expected.items():
        result = convolve(tiny, one_by_one, padding=1, padding_mode=mode)  # type: ignore[arg-type]
        assert result.output.tolist() == grid, mode


def test_reflect_and_circular_padding_limits_name_the_numbers() -> None:
    three = np.array([1.0, 2.0, 3.0])
    convolve(three, np.ones(5), padding=2, padding_mode="reflect")  # 2 < 3: fine
    with pytest.raises(InvalidArithmetic, match="padding 3 >= width 3"):
        convolve(three, np.ones(7), padding=3, padding_mode="reflect")
    convolve(three, np.ones(7), padding=3, padding_mode="circular")  # 3 <= 3: fine
    with pytest.raises(InvalidArithmetic, match="padding 4 > width 3"):
        convolve(three, np.ones(9), padding=4, padding_mode="circular")


def test_dimensions_rules() -> None:
    with pytest.raises(InvalidKernel, match="1-D input needs a 1-D kernel"):
        convolve(LESSON, np.ones((3, 3)))
    image = np.arange(12, dtype=np.float64).reshape(3, 4)
    row_kernel = convolve(image, EDGE)  # a 1-D kernel on a 2-D image is one row
    assert row_kernel.output.shape == (3, 2)
    assert row_kernel.output.tolist() == [[2, 2], [2, 2], [2, 2]]


def test_flip_is_true_convolution() -> None:
    rng = np.random.default_rng(7)
    image, kernel = rng.random((9, 11)), rng.standard_normal((3, 4))
    flipped = convolve(image, kernel, flip=True)
    assert_allclose(flipped.output, signal.convolve2d(image, kernel, mode="valid"), atol=1e-10)


def test_each_channel_gets_the_same_kernel() -> None:
    rng = np.random.default_rng(3)
    image = rng.random((10, 12, 3)).astype(np.float32)
    kernel = rng.standard_normal((3, 3))
    together = convolve(image, kernel, stride=2, padding="same").output
    for channel in range(3):
        alone = convolve(image[:, :, channel], kernel, stride=2, padding="same").output
        assert_allclose(together[:, :, channel], alone, atol=1e-6)


def test_explain_cell_adds_up_to_the_output() -> None:
    rng = np.random.default_rng(11)
    image = rng.random((6, 7))
    kernel = rng.standard_normal((3, 3))
    for mode in PADDING_MODES:
        result = convolve(image, kernel, stride=2, padding=2, dilation=2, padding_mode=mode)
        for row in range(result.output.shape[0]):
            for column in range(result.output.shape[1]):
                steps = explain_cell(image, result, row, column, padding_mode=mode)
                assert sum(step.product for step in steps) == pytest.approx(
                    result.output[row, column], abs=1e-9
                )


PADDINGS = st.one_of(st.sampled_from(["valid", "same", "full"]), st.integers(0, 4))
MODES = st.sampled_from(["zeros", "reflect", "replicate", "circular"])


@settings(max_examples=300, deadline=None)
@given(
    height=st.integers(1, 24),
    width=st.integers(1, 24),
    channels=st.sampled_from([0, 1, 3]),
    kernel_height=st.integers(1, 7),
    kernel_width=st.integers(1, 7),
    stride=st.integers(1, 4),
    dilation=st.integers(1, 3),
    padding=PADDINGS,
    mode=MODES,
    separable=st.booleans(),
    eight_bit=st.booleans(),
    seed=st.integers(0, 2**32 - 1),
)
def test_engine_equals_independent_reference(
    height: int, width: int, channels: int, kernel_height: int, kernel_width: int, stride: int,
    dilation: int, padding: str | int, mode: str, separable: bool, eight_bit: bool, seed: int,
) -> None:
    """Any size, kernel, stride, dilation, padding and mode: the same numbers as numpy+scipy.

    Float inputs are in [0, 1]; 8-bit inputs (as decoded photos arrive) are compared after
    scaling by 1/255, so both are held to 1e-4 of the pixel range.
    """
    rng = np.random.default_rng(seed)
    shape = (height, width, channels) if channels else (height, width)
    image = rng.random(shape).astype(np.float32)
    if eight_bit:
        image = (image * 255).astype(np.uint8)
    kernel = (
        np.outer(rng.standard_normal(kernel_height), rng.standard_normal(kernel_width))
        if separable
        else rng.standard_normal((kernel_height, kernel_width))
    )
    try:
        result = convolve(image, kernel, stride=stride, padding=padding,  # type: ignore[arg-type]
                          padding_mode=mode, dilation=dilation)  # type: ignore[arg-type]
    except InvalidArithmetic:
        return  # an empty output or a padding the mode cannot fill: refused, as it should be
    expected = reference_correlate(
        image.astype(np.float64), kernel, stride=stride, dilation=dilation,
        rows=(result.rows.padding_lo, result.rows.padding_hi),
        columns=(result.columns.padding_lo, result.columns.padding_hi), mode=mode,
    )
    assert result.output.shape == expected.shape
    scale = 255.0 if eight_bit else 1.0
    assert_allclose(result.output / scale, expected / scale, atol=1e-4)


def test_large_separable_kernel_takes_the_separable_path() -> None:
    image = np.random.default_rng(0).random((40, 40)).astype(np.float32)
    gaussian = np.outer([1, 4, 6, 4, 1], [1, 4, 6, 4, 1]) / 256
    assert convolve(image, gaussian).engine == "opencv-separable"
    # Any dilation or stride takes the compiled loop, which reads each kept output's cells
    # once, wherever the dilation puts them.
    assert convolve(image, gaussian, dilation=2).engine == "numba"
    assert convolve(image, gaussian, stride=2).engine == "numba"


def test_eight_bit_pixels_take_two_passes_for_any_separable_kernel() -> None:
    """On 8-bit pixels even a 3x3 Sobel runs as two 1-D passes (OpenCV's row pass reads the
    bytes), and the sums are the reference's; a non-separable one takes the compiled loop."""
    rng = np.random.default_rng(3)
    image = rng.integers(0, 256, (37, 41, 3), dtype=np.uint8)
    sobel = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], dtype=np.float64)
    sharpen = np.array([[0, -1, 0], [-1, 5, -1], [0, -1, 0]], dtype=np.float64)
    for kernel, engine in ((sobel, "opencv-separable"), (sharpen, "numba"),
                           (np.array([[1.0, 2.0, 1.0]]), "opencv-separable")):
        result = convolve(image, kernel, padding="same", padding_mode="reflect")
        assert result.engine == engine
        expected = reference_correlate(
            image.astype(np.float64), result.kernel, stride=1, dilation=1,
            rows=(result.rows.padding_lo, result.rows.padding_hi),
            columns=(result.columns.padding_lo, result.columns.padding_hi), mode="reflect",
        )
        assert_allclose(result.output, expected, atol=1e-3)


@pytest.mark.parametrize("mode", ["zeros", "reflect", "replicate", "circular"])
@pytest.mark.parametrize("dilation", [1, 2])
def test_eight_bit_pixels_with_other_kernels_take_the_compiled_loop(
    monkeypatch: pytest.MonkeyPatch, mode: str, dilation: int
) -> None:
    """8-bit pixels and a kernel that is not separable: the compiled loop, in bands on
    several threads, with every padding mode, and the reference's sums."""
    import webapp.engine

    monkeypatch.setattr(webapp.engine, "CELLS_PER_THREAD", 100)
    monkeypatch.setattr(webapp.engine, "BAND_BYTES", 512)
    rng = np.random.default_rng(11)
    kernel = rng.standard_normal((3, 4))
    for shape in ((29, 31, 3), (17, 13)):
        image = rng.integers(0, 256, shape, dtype=np.uint8)
        result = convolve(image, kernel, padding="same", padding_mode=mode,  # type: ignore[arg-type]
                          dilation=dilation)
        assert result.engine == "numba"
        expected = reference_correlate(
            image.astype(np.float64), kernel, stride=1, dilation=dilation,
            rows=(result.rows.padding_lo, result.rows.padding_hi),
            columns=(result.columns.padding_lo, result.columns.padding_hi), mode=mode,
        )
        assert_allclose(result.output, expected, atol=1e-3)


@pytest.mark.parametrize(
    ("stride", "dilation", "padding"),
    [(1, 9, "same"), (1, 20, 40), (3, 7, 30), (2, 40, 90)],
)
@pytest.mark.parametrize("ring_bytes", [1 << 21, 0])
def test_huge_dilations_stay_cheap(
    stride: int, dilation: int, padding: Padding, ring_bytes: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A huge dilation reads a few rows far apart: the loop keeps only those as floats
    (with no room for a row per dilated step, one per kernel row: ``ring_bytes`` 0)."""
    import webapp.engine

    monkeypatch.setattr(webapp.engine, "RING_BYTES", ring_bytes)
    rng = np.random.default_rng(5)
    image = rng.random((23, 19, 3)).astype(np.float32)
    kernel = rng.standard_normal((3, 4))
    result = convolve(image, kernel, stride=stride, dilation=dilation, padding=padding)
    assert result.engine == "numba"
    expected = reference_correlate(
        image.astype(np.float64), kernel, stride=stride, dilation=dilation,
        rows=(result.rows.padding_lo, result.rows.padding_hi),
        columns=(result.columns.padding_lo, result.columns.padding_hi), mode="zeros",
    )
    assert_allclose(result.output, expected, atol=1e-4)
