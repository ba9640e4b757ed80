"""The strided loop (webapp.engine): column phases, bands and threads."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from tests.reference import reference_correlate
from webapp import engine
from webapp.arithmetic import axis_arithmetic
from webapp.engine import column_phases, strided_correlate, tap_table


@pytest.mark.parametrize(("width", "step", "span"), [(10, 2, 5), (11, 2, 6), (11, 3, 4), (7, 3, 5)])
def test_column_phases_pick_every_step_th_column(width: int, step: int, span: int) -> None:
    image = np.arange(3 * width * 2, dtype=np.uint8).reshape(3, width, 2)
    phases = column_phases(image, step, span).reshape(step, 3, span, 2)
    for phase in range(step):
        columns = image[:, phase::step][:, :span]
        assert_array_equal(phases[phase, :, : columns.shape[1]], columns)
        assert not phases[phase, :, columns.shape[1] :].any()  # zeros past the edge


@pytest.mark.parametrize("dtype", [np.uint8, np.float32, np.float64])
def test_large_outputs_split_into_bands_and_threads_and_agree(
    dtype: type[np.generic], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(engine, "BAND_BYTES", 4096)  # many bands per thread
    monkeypatch.setattr(engine, "CELLS_PER_THREAD", 1000)
    monkeypatch.setattr(engine, "_threads", 3)  # more threads than this machine may have
    rng = np.random.default_rng(3)
    image = (rng.random((301, 257, 3)) * 255).astype(dtype)
    kernel = rng.standard_normal((7, 5))
    rows = axis_arithmetic(301, 7, stride=2, dilation=2)
    columns = axis_arithmetic(257, 5, stride=3, dilation=2)
    compute = np.float64 if dtype == np.float64 else np.float32
    result = strided_correlate(image, kernel, rows, columns, compute)
    expected = reference_correlate(
        image.astype(np.float64), kernel, stride=1, dilation=2, rows=(0, 0), columns=(0, 0),
        mode="zeros",
    )[::2, ::3]
    assert result.dtype == compute and result.shape == expected.shape
    assert_allclose(result, expected, rtol=1e-5, atol=1e-2)


@pytest.mark.parametrize(("stride", "dilation", "channels"),
                         [(1, 1, 1), (2, 1, 3), (3, 2, 1), (2, 3, 3), (1, 4, 3)])
def test_each_tap_reads_the_cells_of_the_definition(
    stride: int, dilation: int, channels: int
) -> None:
    """Tap (u, v) of output (i, j) reads padded cell (s*i + d*u, s*j + d*v): the table's row,
    phase and start say exactly that, once for each non-zero tap and never for a zero one."""
    kernel = np.random.default_rng(1).standard_normal((3, 4))
    kernel[1, 2] = 0.0
    columns = axis_arithmetic(31, 4, stride=stride, dilation=dilation)
    places, weights = tap_table(kernel, columns, channels, np.float64)
    assert len(weights) == np.count_nonzero(kernel) == 11
    for (u, phase, start), weight, v in zip(places, weights, np.nonzero(kernel)[1],
                                                 strict=True):
        assert weight == kernel[u, v]
        assert start % channels == 0
        for j in range(columns.output):  # cell j of the run is column phase + s * (j + start)
            assert phase + stride * (j + start // channels) == stride * j + dilation * v


def test_a_kernel_of_zeros_gives_zeros() -> None:
    """No taps at all: the output is written all the same, as zeros."""
    axis = axis_arithmetic(9, 3, stride=2)
    image = np.full((9, 9, 3), 200, np.uint8)
    assert not strided_correlate(image, np.zeros((3, 3)), axis, axis, np.float32).any()


def test_compile_ahead_leaves_nothing_for_a_request_to_compile() -> None:
    """Every input the engine hands the loop (8-bit, float32 or float64 pixels; one channel
    or three; any stride, dilation or padding) finds a version compiled at start-up."""
    from webapp.convolution import convolve

    engine.compile_ahead()
    compiled = len(engine._correlate_rows.signatures)
    rng = np.random.default_rng(2)
    kernel = rng.standard_normal((3, 3))
    for dtype in (np.uint8, np.float32, np.float64):
        for shape in ((20, 21), (20, 21, 3)):
            image = (rng.random(shape) * 255).astype(dtype)
            for options in ({"stride": 2}, {"dilation": 2, "padding": "same"},
                            {"stride": 3, "padding": 2, "padding_mode": "reflect"}, {}):
                convolve(image, kernel, **options)
    assert len(engine._correlate_rows.signatures) == compiled


def test_no_waiting_for_a_helper_that_never_got_a_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    """With every loop thread busy (other requests' helpers), the calling thread computes
    every band itself and returns: it does not wait for a thread to come free."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    busy = ThreadPoolExecutor(max_workers=1)
    release = threading.Event()
    busy.submit(release.wait, 30)
    monkeypatch.setattr(engine, "_pool", busy)
    monkeypatch.setattr(engine, "_threads", 2)
    monkeypatch.setattr(engine, "CELLS_PER_THREAD", 1000)
    try:
        image = np.random.default_rng(4).integers(0, 256, (64, 64, 3), dtype=np.uint8)
        axis = axis_arithmetic(64, 3, stride=2)
        done = ThreadPoolExecutor(max_workers=1).submit(
            strided_correlate, image, np.ones((3, 3)), axis, axis, np.float32
        )
        result = done.result(timeout=10)  # the busy thread is held for 30 s
        expected = reference_correlate(
            image.astype(np.float64), np.ones((3, 3)), stride=1, dilation=1, rows=(0, 0),
            columns=(0, 0), mode="zeros",
        )[::2, ::2]
        assert_allclose(result, expected, rtol=1e-5)
    finally:
        release.set()
        busy.shutdown()
