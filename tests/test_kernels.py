"""Kernel presets: the required names, their orientation and their sums."""

from __future__ import annotations

import numpy as np
import pytest
from fastapi.testclient import TestClient
from numpy.testing import assert_allclose

from tests.conftest import encode, step_edge
from webapp.convolution import convolve
from webapp.errors import InvalidKernel, UnknownName
from webapp.kernels import PRESETS, kernel_from_weights, preset, resolve_kernel

REQUIRED = [
    "identity", "box-blur", "gaussian-blur", "gaussian-blur-5", "sharpen", "unsharp-mask",
    "sobel-x", "sobel-y", "prewitt-x", "prewitt-y", "scharr-x", "laplacian", "laplacian-8",
    "outline", "emboss", "motion-blur",
]


def test_every_required_preset_exists() -> None:
    assert set(REQUIRED) <= set(PRESETS)


@pytest.mark.parametrize(
    ("name", "weight_sum"),
    [
        ("identity", 1), ("box-blur", 1), ("gaussian-blur", 1), ("gaussian-blur-5", 1),
        ("sharpen", 1), ("unsharp-mask", 1), ("motion-blur", 1), ("emboss", 1),
        ("sobel-x", 0), ("sobel-y", 0), ("prewitt-x", 0), ("prewitt-y", 0), ("scharr-x", 0),
        ("scharr-y", 0), ("laplacian", 0), ("laplacian-8", 0), ("outline", 0),
    ],
)
def test_preset_sums(name: str, weight_sum: int) -> None:
    """Blurs and sharpeners keep brightness (sum 1); detectors answer 0 on flat areas."""
    assert PRESETS[name].weights.sum() == pytest.approx(weight_sum)


def test_sobel_x_is_positive_where_the_image_gets_brighter_to_the_right() -> None:
    edge = step_edge().astype(np.float64)  # dark left, bright right
    response = convolve(edge, preset("sobel-x").weights, padding="same").output
    assert response[:, 7:9].min() > 0  # at the edge
    assert response[:, 2:5].max() == 0  # flat: nothing
    downward = convolve(edge.T, preset("sobel-y").weights, padding="same").output
    assert downward[7:9, :].min() > 0  # bright below: positive
    assert_allclose(preset("sobel-y").weights, preset("sobel-x").weights.T)


def test_identity_copies_and_blurs_keep_a_flat_image() -> None:
    rng = np.random.default_rng(1)
    image = rng.random((12, 12))
    assert_allclose(convolve(image, preset("identity").weights, padding="same").output, image)
    flat = np.full((12, 12), 0.5)
    for name in ("box-blur", "gaussian-blur", "gaussian-blur-5", "motion-blur"):
        assert_allclose(convolve(flat, preset(name).weights).output, 0.5, atol=1e-12)


def test_unknown_preset_lists_the_valid_names() -> None:
    with pytest.raises(UnknownName, match="valid names: box-blur"):
        preset("blurry")


@pytest.mark.parametrize(
    ("weights", "message"),
    [
        ([[1, 2], [3]], "ragged"),
        ([], "non-empty"),
        ([[]], "empty rows"),
        ([1, [2]], "mixes"),
        ([["a"]], "numbers only"),
        ([[True]], "numbers only"),
        ([[float("nan")]], "finite"),
        ([[float("inf"), 1]], "finite"),
        ([[[1]]], "numbers only"),
        ([[0] * 32], "at most 31"),
        ("[[1]]", "non-empty list"),
    ],
)
def test_bad_weights_are_refused_naming_the_rule(weights: object, message: str) -> None:
    with pytest.raises(InvalidKernel, match=message) as caught:
        kernel_from_weights(weights, max_size=31)
    assert caught.value.field == "weights"


def test_even_and_rectangular_kernels_are_fine() -> None:
    assert kernel_from_weights([[1, 2], [3, 4]], max_size=31).weights.shape == (2, 2)
    assert kernel_from_weights([[1, 2, 3]], max_size=31).weights.shape == (1, 3)


def test_weights_win_over_the_preset_and_one_of_them_is_required() -> None:
    assert resolve_kernel("sobel-x", [[1]], max_size=31).name == "custom"
    with pytest.raises(InvalidKernel) as caught:
        resolve_kernel(None, None, max_size=31)
    assert caught.value.field == "kernel"


def test_get_kernels_lists_every_preset(client: TestClient) -> None:
    answer = client.get("/kernels").json()
    assert [item["name"] for item in answer] == list(PRESETS)
    sobel = next(item for item in answer if item["name"] == "sobel-x")
    assert sobel["weights"] == [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]]
    assert set(sobel) == {"name", "label", "weights", "description"}


@pytest.mark.parametrize("name", list(PRESETS))
def test_every_preset_convolves_a_photo(client: TestClient, name: str) -> None:
    response = client.post(
        "/convolve",
        files={"image": ("edge.png", encode(step_edge(24, 24)), "image/png")},
        data={"kernel": name, "padding": "same"},
        headers={"accept": "application/json"},
    )
    assert response.status_code == 200, response.text
    assert response.json()["output_shape"] == [24, 24, 3]
