"""The conv layer (`webapp.layer`) against an independent reference, by hand, and against
today's one-kernel convolution on photos."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray

from tests.reference import reference_correlate
from webapp.arithmetic import padding_per_side
from webapp.convolution import convolve
from webapp.errors import InvalidArithmetic, InvalidInput, Overflow
from webapp.images import decode_image
from webapp.kernels import PRESETS
from webapp.layer import (
    ACTIVATIONS,
    MAX_FILTERS,
    Activation,
    apply_layer,
    check_work,
    explain_map_cell,
    layer_geometry,
    make_layer,
    number_array,
)
from webapp.padding import PADDING_MODES

SAMPLES = Path(__file__).resolve().parents[1] / "static" / "samples"


def reference_activation(values: NDArray[np.float64], activation: Activation) -> Any:
    """The activations written the textbook way, independently of `webapp.layer.activate`."""
    if activation == "relu":
        return np.where(values > 0, values, 0.0)
    if activation == "leaky-relu":
        return np.where(values > 0, values, 0.01 * values)
    if activation == "sigmoid":
        return 1.0 / (1.0 + np.exp(-np.clip(values, -700, 700)))
    if activation == "tanh":
        return np.tanh(values)
    return values


def reference_layer(
    values: NDArray[np.float64], filters: NDArray[np.float64], bias: NDArray[np.float64], *,
    groups: int, activation: Activation, stride: int, dilation: int, padding: Any, mode: str,
    flip: bool,
) -> NDArray[np.float64]:
    """Per input channel a scipy correlation (`tests.reference`), summed over the filter's
    group, plus the bias, through the activation."""
    _, height, width = values.shape
    maps, spans, kernel_height, kernel_width = filters.shape
    kernels = filters[:, :, ::-1, ::-1] if flip else filters
    rows = padding_per_side(height, kernel_height, stride=stride, dilation=dilation,
                            padding=padding)
    columns = padding_per_side(width, kernel_width, stride=stride, dilation=dilation,
                               padding=padding)
    planes = []
    for n in range(maps):
        first = (n // (maps // groups)) * spans
        total = sum(
            reference_correlate(values[first + c], kernels[n, c], stride=stride,
                                dilation=dilation, rows=rows, columns=columns, mode=mode)
            for c in range(spans)
        )
        planes.append(total + bias[n])
    return np.asarray(reference_activation(np.stack(planes), activation))


def _fits(size: int, kernel: int, stride: int, dilation: int, padding: Any, mode: str) -> bool:
    """Whether an axis gives an output the mode can pad (worked out independently)."""
    span = kernel + (kernel - 1) * (dilation - 1)
    lo, hi = padding_per_side(size, kernel, stride=stride, dilation=dilation, padding=padding)
    if size + lo + hi < span:
        return False
    if mode == "reflect" and max(lo, hi) >= size:
        return False
    return not (mode == "circular" and max(lo, hi) > size)


def _random_case(rng: np.random.Generator) -> dict[str, Any]:
    groups = int(rng.choice([1, 1, 2, 3]))
    spans = int(rng.integers(1, 4))
    return {
        "channels": groups * spans,
        "groups": groups,
        "maps": groups * int(rng.integers(1, 4)),
        "spans": spans,
        "height": int(rng.integers(1, 12)),
        "width": int(rng.integers(1, 12)),
        "kernel": (int(rng.integers(1, 5)), int(rng.integers(1, 5))),
        "stride": int(rng.integers(1, 4)),
        "dilation": int(rng.integers(1, 4)),
        "padding": ["valid", "same", "full", int(rng.integers(0, 4))][int(rng.integers(0, 4))],
        "mode": PADDING_MODES[int(rng.integers(0, 4))],
        "flip": bool(rng.integers(0, 2)),
        "activation": ACTIVATIONS[int(rng.integers(0, len(ACTIVATIONS)))],
        "dtype": [np.float64, np.float32, np.uint8][int(rng.integers(0, 3))],
    }


@pytest.mark.parametrize("seed", range(300))
def test_layer_matches_the_scipy_reference(seed: int) -> None:
    rng = np.random.default_rng(seed)
    case = _random_case(rng)
    kernel_height, kernel_width = case["kernel"]
    if case["dtype"] is np.uint8:
        values = rng.integers(0, 256, (case["channels"], case["height"], case["width"])
                              ).astype(np.uint8)
    else:
        values = rng.normal(0, 10, (case["channels"], case["height"], case["width"])
                            ).astype(case["dtype"])
    filters = rng.normal(0, 1, (case["maps"], case["spans"], kernel_height, kernel_width))
    bias = rng.normal(0, 5, case["maps"])
    layer = make_layer(filters, bias, in_channels=case["channels"], groups=case["groups"],
                       activation=case["activation"])
    geometry = {"stride": case["stride"], "padding": case["padding"],
                "padding_mode": case["mode"], "dilation": case["dilation"], "flip": case["flip"]}
    fits = all(
        _fits(size, kernel, case["stride"], case["dilation"], case["padding"], case["mode"])
        for size, kernel in ((case["height"], kernel_height), (case["width"], kernel_width))
    )
    if not fits:
        with pytest.raises(InvalidArithmetic):
            apply_layer(values, layer, **geometry)
        return
    maps = apply_layer(values, layer, **geometry)
    expected = reference_layer(
        values.astype(np.float64), filters, bias, groups=case["groups"],
        activation=case["activation"], stride=case["stride"], dilation=case["dilation"],
        padding=case["padding"], mode=case["mode"], flip=case["flip"],
    )
    assert maps.output.shape == expected.shape
    # float64 input is computed in float64; 8-bit and float32 in float32 (about 7 digits)
    tolerance = 1e-9 if case["dtype"] is np.float64 else 2e-5
    scale = 1.0 + float(np.abs(values).max()) * float(np.abs(filters).sum(axis=(1, 2, 3)).max())
    np.testing.assert_allclose(maps.output, expected, rtol=tolerance, atol=tolerance * scale)
    assert maps.output.dtype == (np.float64 if case["dtype"] is np.float64 else np.float32)


def test_lesson_example_as_a_layer() -> None:
    signal = np.array([[[0.0, 1.0, 2.0, 3.0, 4.0]]])
    edge = make_layer(np.array([[[[-1.0, 0.0, 1.0]]]]), in_channels=1)
    assert apply_layer(signal, edge, one_dimensional=True).output.tolist() == [[[2.0, 2.0, 2.0]]]
    padded = apply_layer(signal, edge, padding=1, one_dimensional=True)
    assert padded.output.tolist() == [[[1.0, 2.0, 2.0, 2.0, -3.0]]]
    assert padded.rows.output == 1  # a 1-D signal is never padded across


def test_two_channels_sum_into_one_map_by_hand() -> None:
    # red [[1, 2], [3, 4]], green all 10; filter: red x 1 + green x (-0.1) on a 1x1 window
    values = np.stack([np.array([[1.0, 2.0], [3.0, 4.0]]), np.full((2, 2), 10.0)])
    layer = make_layer(np.array([[[[1.0]], [[-0.1]]]]), np.array([0.5]), in_channels=2,
                       activation="relu")
    output = apply_layer(values, layer).output
    np.testing.assert_allclose(output, [[[0.5, 1.5], [2.5, 3.5]]])
    assert layer.maps == 1 and layer.in_channels == 2


@pytest.mark.parametrize(("activation", "expected"), [
    ("none", [-2.0, 0.0, 3.0]),
    ("relu", [0.0, 0.0, 3.0]),
    ("leaky-relu", [-0.02, 0.0, 3.0]),
    ("tanh", [np.tanh(-2.0), 0.0, np.tanh(3.0)]),
    ("sigmoid", [1 / (1 + np.exp(2.0)), 0.5, 1 / (1 + np.exp(-3.0))]),
])
def test_activations_by_hand(activation: Activation, expected: list[float]) -> None:
    values = np.array([[[-2.0, 0.0, 3.0]]])
    layer = make_layer(np.ones((1, 1, 1, 1)), in_channels=1, activation=activation)
    np.testing.assert_allclose(apply_layer(values, layer).output[0, 0], expected, rtol=1e-12)


def test_sigmoid_of_huge_sums_is_finite_without_warnings() -> None:
    values = np.array([[[-1e300, 1e300]]])
    layer = make_layer(np.ones((1, 1, 1, 1)), in_channels=1, activation="sigmoid")
    assert apply_layer(values, layer).output.tolist() == [[[0.0, 1.0]]]


def _photo(name: str, color: str = "rgb") -> NDArray[np.uint8]:
    return decode_image((SAMPLES / f"{name}.jpg").read_bytes(), max_pixels=1 << 24,
                        color=color).pixels  # type: ignore[arg-type]


GEOMETRIES = [
    {},
    {"stride": 2},
    {"padding": "same", "padding_mode": "reflect"},
    {"dilation": 2, "padding": 3, "padding_mode": "circular"},
    {"stride": 3, "padding": "full", "flip": True},
]


@pytest.mark.parametrize("kernel", ["sobel-x", "gaussian-blur", "sharpen", "emboss",
                                    "motion-blur", "unsharp-mask"])
@pytest.mark.parametrize("geometry", GEOMETRIES)
def test_depthwise_layer_is_todays_convolution_bit_for_bit(
    kernel: str, geometry: dict[str, Any]
) -> None:
    pixels = _photo("coffee")
    weights = PRESETS[kernel].weights
    today = convolve(pixels, weights, **geometry).output
    layer = make_layer(np.broadcast_to(weights, (3, 1, *weights.shape)), in_channels=3,
                       groups=3)
    maps = apply_layer(np.moveaxis(pixels, 2, 0), layer, **geometry)
    assert np.array_equal(maps.output, np.moveaxis(today, 2, 0))  # bit for bit
    assert maps.engine == convolve(pixels, weights, **geometry).engine


@pytest.mark.parametrize("geometry", GEOMETRIES)
def test_depthwise_with_a_kernel_per_channel_is_each_channels_convolution(
    geometry: dict[str, Any]
) -> None:
    pixels = _photo("camera")
    kernels = [PRESETS[name].weights for name in ("sobel-x", "sobel-y", "laplacian")]
    layer = make_layer(np.stack(kernels)[:, np.newaxis], in_channels=3, groups=3)
    maps = apply_layer(np.moveaxis(pixels, 2, 0), layer, **geometry)
    for channel, weights in enumerate(kernels):
        alone = convolve(np.ascontiguousarray(pixels[:, :, channel]), weights, **geometry)
        assert np.array_equal(maps.output[channel], alone.output)


def test_gray_photo_one_kernel_is_todays_convolution_bit_for_bit() -> None:
    pixels = _photo("cat", "gray")
    weights = PRESETS["sobel-y"].weights
    layer = make_layer(weights[np.newaxis, np.newaxis], in_channels=1)
    maps = apply_layer(pixels[np.newaxis], layer, stride=2, padding="same")
    assert np.array_equal(maps.output[0], convolve(pixels, weights, stride=2,
                                                   padding="same").output)


def test_full_layer_engines_agree_with_each_other_on_a_photo() -> None:
    pixels = np.moveaxis(_photo("cat"), 2, 0)[:, :200, :300]
    rng = np.random.default_rng(3)
    layer = make_layer(rng.normal(0, 0.2, (16, 3, 3, 3)), rng.normal(0, 1, 16), in_channels=3,
                       activation="leaky-relu")
    geometry: dict[str, Any] = {"stride": 2, "padding": "same", "padding_mode": "replicate"}
    float32 = apply_layer(pixels, layer, **geometry)
    float64 = apply_layer(pixels.astype(np.float64), layer, **geometry)
    assert (float32.engine, float64.engine) == ("onnxruntime", "numpy")
    np.testing.assert_allclose(float32.output, float64.output, rtol=1e-5, atol=1e-3)


@pytest.mark.parametrize("seed", range(20))
def test_explained_cell_is_the_layers_number(seed: int) -> None:
    rng = np.random.default_rng(100 + seed)
    case = _random_case(rng)
    values = rng.normal(0, 3, (case["channels"], 9, 9))
    filters = rng.normal(0, 1, (case["maps"], case["spans"], 3, 3))
    layer = make_layer(filters, rng.normal(0, 1, case["maps"]), in_channels=case["channels"],
                       groups=case["groups"], activation=case["activation"])
    maps = apply_layer(values, layer, stride=case["stride"], padding="same",
                       padding_mode=case["mode"], flip=case["flip"])
    for _ in range(5):
        n = int(rng.integers(0, layer.maps))
        row = int(rng.integers(0, maps.rows.output))
        column = int(rng.integers(0, maps.columns.output))
        cell = explain_map_cell(values, maps, n, row, column, padding_mode=case["mode"])
        assert len(cell.channels) == layer.channels_per_group
        assert cell.total == pytest.approx(sum(t.sum for t in cell.channels) + cell.bias)
        assert cell.output == pytest.approx(float(maps.output[n, row, column]), abs=1e-9)


def test_explained_cell_names_its_channels_in_a_group() -> None:
    values = np.arange(4 * 3 * 3, dtype=np.float64).reshape(4, 3, 3)
    layer = make_layer(np.ones((4, 2, 1, 1)), in_channels=4, groups=2)
    maps = apply_layer(values, layer)
    cell = explain_map_cell(values, maps, 3, 1, 2, padding_mode="zeros")  # map 3: group 1
    assert [terms.channel for terms in cell.channels] == [2, 3]
    assert cell.total == values[2, 1, 2] + values[3, 1, 2] == maps.output[3, 1, 2]
    with pytest.raises(InvalidArithmetic, match="map must be from 0 to 3"):
        explain_map_cell(values, maps, 4, 0, 0, padding_mode="zeros")


@pytest.mark.parametrize(("filters", "channels", "groups", "bias", "field", "words"), [
    (np.ones((4, 2, 3, 3)), 3, 1, None, "filters", "spans 2 channels"),
    (np.ones((4, 1, 3, 3)), 3, 2, None, "groups", "divide both"),
    (np.ones((3, 1, 3, 3)), 2, 2, None, "groups", "3 filters"),
    (np.ones((4, 3, 3, 3)), 3, 1, np.ones(3), "bias", "one number per filter \\(4\\)"),
    (np.ones((MAX_FILTERS + 1, 1, 1, 1)), 1, 1, None, "filters", "over the limit of 64"),
    (np.ones((4, 3, 3)), 3, 1, None, "filters", "4-D"),
])
def test_layer_errors_name_the_field(
    filters: NDArray[np.float64], channels: int, groups: int,
    bias: NDArray[np.float64] | None, field: str, words: str,
) -> None:
    with pytest.raises(InvalidInput, match=words) as error:
        make_layer(filters, bias, in_channels=channels, groups=groups)
    assert error.value.field == field


def test_input_with_other_channels_is_refused() -> None:
    layer = make_layer(np.ones((2, 3, 3, 3)), in_channels=3)
    with pytest.raises(InvalidInput, match="the input has 1") as error:
        apply_layer(np.ones((1, 5, 5)), layer)
    assert error.value.field == "filters"


def test_work_over_the_cap_is_refused_before_computing() -> None:
    layer = make_layer(np.ones((16, 3, 3, 3)), in_channels=3)
    rows, columns = layer_geometry(100, 100, layer)
    check_work(layer, rows, columns, max_macs=16 * 98 * 98 * 27)
    with pytest.raises(InvalidInput, match="multiply-adds") as error:
        check_work(layer, rows, columns, max_macs=16 * 98 * 98 * 27 - 1)
    assert error.value.field == "filters"
    with pytest.raises(InvalidInput, match="would hold 153,664 values"):
        check_work(layer, rows, columns, max_macs=10**12, max_values=100_000)


@pytest.mark.parametrize(("values", "filters", "field"), [
    (np.full((1, 3, 3), 1e300), np.full((1, 1, 3, 3), 1e10), "input"),
    (np.full((1, 3, 3), 1.0), np.full((1, 1, 3, 3), 1e308), "filters"),
    (np.full((2, 3, 3), 255, np.uint8), np.full((1, 2, 3, 3), 1e36), "filters"),
])
def test_overflow_names_the_field(
    values: NDArray[Any], filters: NDArray[np.float64], field: str
) -> None:
    layer = make_layer(filters, in_channels=values.shape[0])
    with pytest.raises(Overflow) as error:
        apply_layer(values, layer)
    assert error.value.field == field


@pytest.mark.parametrize(("value", "words"), [
    ([[1, 2], [3]], "ragged: filters\\[1\\] has 1 values where filters\\[0\\] has 2"),
    ([[1, "2"]], "numbers only, not '2'"),
    ([[1, True]], "numbers only, not True"),
    ([[1, 10**400]], "integer past"),
    ([], "non-empty list"),
    ([[[1]]], "numbers only"),
])
def test_number_arrays_refuse_what_is_not_a_box_of_numbers(value: Any, words: str) -> None:
    with pytest.raises(InvalidInput, match=words) as error:
        number_array(value, ndim=2, field="filters", max_sizes=(8, 8))
    assert error.value.field == "filters"
