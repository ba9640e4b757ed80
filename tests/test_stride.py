"""The strided loop (webapp.stride): column phases, bands and threads."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from tests.reference import reference_correlate
from webapp import stride
from webapp.arithmetic import axis_arithmetic
from webapp.stride import column_phases, strided_correlate


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
    monkeypatch.setattr(stride, "BAND_BYTES", 4096)  # many bands per thread
    monkeypatch.setattr(stride, "CELLS_PER_THREAD", 1000)
    monkeypatch.setattr(stride, "_threads", 3)  # more threads than this machine may have
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
