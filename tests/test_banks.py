"""Filter banks (`webapp.banks`): shapes, sources, and the learned ones equal to the trained
models' first layers, as weights and as feature maps."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import onnxruntime
import pytest

from webapp.arithmetic import conv_parameters
from webapp.autoencoder.onnxfile import float_initializers, initializer_shapes
from webapp.banks import (
    COLOUR_OPPONENTS,
    DESIGNED,
    EDGES,
    GABOR,
    RANDOM,
    Bank,
    BankAnswer,
    catalog,
    he_bank,
    learned_bank,
    resolve_bank,
)
from webapp.errors import InvalidInput, UnknownName
from webapp.kernels import SOBEL_X, SOBEL_Y
from webapp.layer import apply_layer, make_layer

ROOT = Path(__file__).resolve().parents[1]
MODELS = ROOT / "models"
HOLDOUT = ROOT / "tests" / "data" / "mnist-holdout.npz"


@pytest.mark.parametrize(("bank", "shape", "channels"), [
    (EDGES, (4, 1, 3, 3), None),
    (COLOUR_OPPONENTS, (3, 3, 1, 1), 3),
    (GABOR, (8, 1, 11, 11), None),
])
def test_designed_banks_shapes_and_citations(
    bank: Bank, shape: tuple[int, ...], channels: int | None
) -> None:
    assert bank.filters.shape == shape
    assert bank.bias.shape == (shape[0],)
    assert bank.channels == channels
    assert bank.citation and bank.description and bank.label
    assert not bank.filters.flags.writeable


def test_edges_are_sobel_in_four_directions() -> None:
    assert np.array_equal(EDGES.filters[0, 0], SOBEL_X)
    assert np.array_equal(EDGES.filters[1, 0], SOBEL_Y)
    # the diagonals are Sobel turned by 45 degrees: positive towards their corner
    assert EDGES.filters[2, 0, 2, 2] > 0 and EDGES.filters[3, 0, 2, 0] > 0
    assert all(abs(float(kernel.sum())) < 1e-12 for kernel in EDGES.filters[:, 0])


def test_spread_banks_answer_the_channels_mean() -> None:
    rng = np.random.default_rng(0)
    photo = rng.integers(0, 256, (3, 20, 20)).astype(np.float64)
    over_rgb = EDGES.over(3)
    assert over_rgb.filters.shape == (4, 3, 3, 3)
    rgb = apply_layer(photo, make_layer(over_rgb.filters, in_channels=3)).output
    gray = apply_layer(photo.mean(axis=0, keepdims=True),
                       make_layer(EDGES.filters, in_channels=1)).output
    np.testing.assert_allclose(rgb, gray, atol=1e-9)


def test_colour_opponents_by_hand() -> None:
    red, yellow, gray = ([255.0, 0.0, 0.0], [255.0, 255.0, 0.0], [100.0, 100.0, 100.0])
    values = np.array([red, yellow, gray]).T[:, np.newaxis, :]  # 3 channels x 1 x 3 pixels
    maps = apply_layer(values, make_layer(COLOUR_OPPONENTS.filters, in_channels=3)).output
    red_green, blue_yellow, luminance = maps[:, 0]
    assert red_green[0] == pytest.approx(255 / math.sqrt(2))
    assert blue_yellow[1] == pytest.approx(-510 / math.sqrt(6))
    assert red_green[2] == pytest.approx(0) and blue_yellow[2] == pytest.approx(0)
    assert luminance[2] == pytest.approx(300 / math.sqrt(3))


def test_gabor_kernels_ignore_flat_areas_and_turn() -> None:
    for kernel in GABOR.filters[:, 0]:
        assert abs(float(kernel.sum())) < 1e-9
        assert float(kernel[kernel > 0].sum()) == pytest.approx(1.0)
    # 0 and 90 degrees are each other turned by a quarter
    np.testing.assert_allclose(GABOR.filters[0, 0], GABOR.filters[2, 0].T, atol=1e-9)


def test_random_bank_is_he_initialised_and_seeded() -> None:
    bank = he_bank(16, maps=64, size=3, seed=5)
    assert bank.filters.shape == (64, 16, 3, 3)
    assert float(bank.filters.std()) == pytest.approx(math.sqrt(2 / (16 * 9)), rel=0.05)
    assert np.array_equal(bank.filters, he_bank(16, maps=64, size=3, seed=5).filters)
    assert not np.array_equal(bank.filters, he_bank(16, maps=64, size=3, seed=6).filters)
    assert resolve_bank(RANDOM, channels=3, seed=2).filters.shape == (16, 3, 3, 3)


def _learned(model: str) -> Bank:
    weights = float_initializers(MODELS / f"{model}.onnx")
    return learned_bank(model, model, "conv2d", weights["conv2d.weight"], weights["conv2d.bias"])


KNOWN = {
    # read with the onnx package (onnx.numpy_helper.to_array): conv2d.weight[0, 0, 1, 1],
    # conv2d.weight[-1, 0, 2, 0], conv2d.bias[-1]
    "seed": (0.1463383287191391, -0.33032163977622986, 0.17286156117916107),
    "wide": (0.0018089598743245006, -0.043921925127506256, 0.0002006975992117077),
}


@pytest.mark.parametrize(("model", "maps"), [("seed", 16), ("wide", 32)])
def test_learned_banks_are_the_onnx_initializers(model: str, maps: int) -> None:
    bank = _learned(model)
    assert bank.filters.shape == (maps, 1, 3, 3) == initializer_shapes(
        MODELS / f"{model}.onnx")["conv2d.weight"]
    assert bank.name == f"learned-{model}" and f"models/{model}.onnx" in bank.citation
    assert bank.activation == "relu"
    assert conv_parameters(3, 3, 1, maps) == bank.filters.size + bank.bias.size
    centre, corner, last_bias = KNOWN[model]
    assert bank.filters[0, 0, 1, 1] == centre and bank.filters[-1, 0, 2, 0] == corner
    assert bank.bias[-1] == last_bias
    onnx = pytest.importorskip("onnx", reason="the onnx package (train extra) reads them too")
    graph = onnx.load(str(MODELS / f"{model}.onnx")).graph
    tensors = {t.name: onnx.numpy_helper.to_array(t) for t in graph.initializer}
    assert np.array_equal(bank.filters, tensors["conv2d.weight"].astype(np.float64))
    assert np.array_equal(bank.bias, tensors["conv2d.bias"].astype(np.float64))


def test_every_float_initializer_has_its_shape() -> None:
    for model in ("seed", "wide", "deconv", "denoise"):
        shapes = initializer_shapes(MODELS / f"{model}.onnx")
        arrays = float_initializers(MODELS / f"{model}.onnx")
        assert {name: array.shape for name, array in arrays.items()} == shapes


@pytest.mark.parametrize("model", ["seed", "wide"])
def test_learned_bank_gives_the_models_first_feature_maps(model: str) -> None:
    """A held-out digit through the ONNX model: its first layer's activation equals this
    layer with the bank, its bias and a ReLU (padding 'same', as the model was built)."""
    bank = _learned(model)
    digit = np.load(HOLDOUT)["digits"][7].astype(np.float32) / 255
    session = onnxruntime.InferenceSession(str(MODELS / f"{model}.onnx"),
                                           providers=["CPUExecutionProvider"])
    (first,) = session.run(["conv2d"], {"digit": digit[np.newaxis, np.newaxis]})
    layer = make_layer(bank.filters, bank.bias, in_channels=1, activation="relu")
    ours = apply_layer(digit[np.newaxis].astype(np.float64), layer, padding="same")
    assert ours.output.shape == first.shape[1:] == (bank.filters.shape[0], 28, 28)
    np.testing.assert_allclose(ours.output, first[0], atol=1e-5)
    float32 = apply_layer(digit[np.newaxis], layer, padding="same")
    np.testing.assert_allclose(float32.output, first[0], atol=1e-5)


def test_resolve_bank_errors_name_the_bank() -> None:
    with pytest.raises(UnknownName, match="edges, gabor") as unknown:
        resolve_bank("sobel", channels=3)
    assert unknown.value.field == "bank"
    with pytest.raises(InvalidInput, match="color=rgb") as wrong:
        resolve_bank("colour-opponents", channels=1)
    assert wrong.value.field == "bank"


def test_catalog_lists_every_bank_typed() -> None:
    seed = _learned("seed")
    banks = catalog({seed.name: seed})
    assert [bank.name for bank in banks] == [*DESIGNED, RANDOM, "learned-seed"]
    answer = BankAnswer.of(banks[0])
    assert answer.shape == [4, 1, 3, 3] and answer.channels is None
