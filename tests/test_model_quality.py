"""The committed models: each file matches its card, and is as good as its card says.

Only numpy and onnxruntime (and webapp.autoencoder.onnxfile, which reads the weights'
names and shapes from the file): CI does not install torch or onnx. The held-out digits
are the 500 that `models/train.py` kept away from training (tests/data/mnist-holdout.npz).
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime
import pytest
from numpy.typing import NDArray

from webapp.autoencoder.onnxfile import initializer_shapes

ROOT = Path(__file__).resolve().parent.parent
MODELS_DIR = ROOT / "models"
HOLDOUT = ROOT / "tests" / "data" / "mnist-holdout.npz"

MODEL_NAMES = ["deconv", "denoise", "seed", "wide"]

TARGETS = {
    "seed": {"val_bce": 0.115, "val_mse": 0.018},
    "wide": {"val_bce": 0.095, "val_mse": 0.012},
}
"""Issue 3's targets on the held-out digits."""

LESSON_TABLE = [
    ("conv2d", (28, 28, 16), 160),
    ("max_pooling2d", (14, 14, 16), 0),
    ("conv2d_1", (14, 14, 8), 1160),
    ("max_pooling2d_1", (7, 7, 8), 0),
    ("conv2d_2", (7, 7, 4), 292),
    ("max_pooling2d_2", (4, 4, 4), 0),
    ("conv2d_3", (4, 4, 4), 148),
    ("up_sampling2d", (8, 8, 4), 0),
    ("conv2d_4", (8, 8, 8), 296),
    ("up_sampling2d_1", (16, 16, 8), 0),
    ("conv2d_5", (14, 14, 16), 1168),
    ("up_sampling2d_2", (28, 28, 16), 0),
    ("conv2d_6", (28, 28, 1), 145),
]
"""The lesson's model summary (lesson.md section 4), copied by hand: name, (H, W, C), params."""

NOISE_FACTOR = 0.5
NOISE_SEED = 2022
"""The denoise model is measured on x + 0.5 * this fixed noise, clipped (see its card)."""


@functools.cache
def session(name: str) -> onnxruntime.InferenceSession:
    path = str(MODELS_DIR / f"{name}.onnx")
    return onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])


@functools.cache
def card(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((MODELS_DIR / f"{name}.json").read_text())
    return loaded


@functools.cache
def held_out() -> NDArray[np.float32]:
    """The 500 held-out digits as the models take them: (500, 1, 28, 28) float32 in [0, 1]."""
    with np.load(HOLDOUT) as data:
        digits = data["digits"]
    assert digits.shape == (500, 28, 28)
    assert digits.dtype == np.uint8
    images: NDArray[np.float32] = (digits[:, None] / np.float32(255.0)).astype(np.float32)
    return images


def model_input(name: str) -> NDArray[np.float32]:
    """Clean digits, or for the denoise model the noisy digits its card was measured on."""
    clean = held_out()
    if name != "denoise":
        return clean
    noise = np.random.default_rng(NOISE_SEED).standard_normal(clean.shape)
    return np.clip(clean + NOISE_FACTOR * noise, 0.0, 1.0).astype(np.float32)


@functools.cache
def measured(name: str) -> dict[str, float]:
    """BCE (outputs clipped to [1e-7, 1 - 1e-7]) and MSE against the clean digits."""
    (reconstruction,) = session(name).run(["reconstruction"], {"digit": model_input(name)})
    output = np.clip(reconstruction.astype(np.float64), 1e-7, 1 - 1e-7)
    target = held_out().astype(np.float64)
    bce = -(target * np.log(output) + (1 - target) * np.log(1 - output)).mean()
    return {"val_bce": float(bce), "val_mse": float(((output - target) ** 2).mean())}


def initializer_sizes(path: Path) -> dict[str, int]:
    """Name -> number of values of every initializer (weight tensor) in an ONNX file."""
    return {name: math.prod(shape) for name, shape in initializer_shapes(path).items()}


def layers(name: str) -> list[dict[str, Any]]:
    """The layer list the export wrote into the graph's metadata (`convlens.layers`)."""
    metadata = session(name).get_modelmeta().custom_metadata_map
    listed: list[dict[str, Any]] = json.loads(metadata["convlens.layers"])
    return listed


def test_every_model_has_an_onnx_file_and_a_card() -> None:
    assert sorted(path.stem for path in MODELS_DIR.glob("*.onnx")) == MODEL_NAMES
    assert sorted(path.stem for path in MODELS_DIR.glob("*.json")) == MODEL_NAMES


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_the_card_names_the_files_sha256(name: str) -> None:
    digest = hashlib.sha256((MODELS_DIR / f"{name}.onnx").read_bytes()).hexdigest()
    assert card(name)["onnx_sha256"] == digest


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_the_model_reproduces_its_cards_metrics(name: str) -> None:
    for key, value in measured(name).items():
        assert value == pytest.approx(card(name)["metrics"][key], abs=1e-4), key


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_the_model_meets_its_target(name: str) -> None:
    for key, limit in TARGETS[name].items():
        assert measured(name)[key] <= limit, key


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_the_graph_outputs_the_reconstruction_then_every_layer(name: str) -> None:
    graph = session(name)
    (digit,) = graph.get_inputs()
    assert digit.name == "digit"
    assert digit.shape[1:] == [1, 28, 28]
    assert isinstance(digit.shape[0], str)  # a dynamic batch axis
    names = [output.name for output in graph.get_outputs()]
    assert names == ["reconstruction", *(layer["name"] for layer in layers(name))]
    latent = graph.get_modelmeta().custom_metadata_map["convlens.latent"]
    assert latent in names


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_the_file_is_onnx_ir_version_8(name: str) -> None:
    # ModelProto field 1, ir_version, is written first: key 0x08, then its varint.
    assert (MODELS_DIR / f"{name}.onnx").read_bytes()[:2] == bytes([0x08, 8])


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_every_parameter_belongs_to_a_layer(name: str) -> None:
    sizes = initializer_sizes(MODELS_DIR / f"{name}.onnx")
    layer_names = {layer["name"] for layer in layers(name)}
    parameters = {key for key in sizes if key.endswith((".weight", ".bias"))}
    assert {key.rsplit(".", 1)[0] for key in parameters} <= layer_names
    assert sum(sizes[key] for key in parameters) == card(name)["params"]


def test_the_seed_model_is_the_lessons_layer_for_layer() -> None:
    outputs = session("seed").run(None, {"digit": held_out()[:2]})
    sizes = initializer_sizes(MODELS_DIR / "seed.onnx")
    rows = [
        (
            layer["name"],
            (output.shape[2], output.shape[3], output.shape[1]),  # NCHW -> (H, W, C)
            sizes.get(f"{layer['name']}.weight", 0) + sizes.get(f"{layer['name']}.bias", 0),
        )
        for layer, output in zip(layers("seed"), outputs[1:], strict=True)
    ]
    assert rows == LESSON_TABLE
    assert sum(params for _, _, params in rows) == 3369
    assert [layer["type"] for layer in layers("seed")] == (
        ["Conv2D", "MaxPooling2D"] * 3 + ["Conv2D", "UpSampling2D"] * 3 + ["Conv2D"]
    )
    assert session("seed").get_modelmeta().custom_metadata_map["convlens.latent"] == (
        "max_pooling2d_2"
    )


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_the_last_layer_is_the_reconstruction(name: str) -> None:
    reconstruction, *layer_outputs = session(name).run(None, {"digit": held_out()[:4]})
    np.testing.assert_array_equal(reconstruction, layer_outputs[-1])
    assert reconstruction.shape == (4, 1, 28, 28)
    assert reconstruction.min() >= 0.0
    assert reconstruction.max() <= 1.0


def test_the_held_out_digits_are_50_of_each_class() -> None:
    with np.load(HOLDOUT) as data:
        labels, indices = data["labels"], data["indices"]
    assert np.bincount(labels).tolist() == [50] * 10
    assert labels[:10].tolist() == list(range(10))  # the lesson's figure: one of each
    assert len(set(indices.tolist())) == 500
    with np.load(MODELS_DIR / "samples.npz") as samples:
        np.testing.assert_array_equal(samples["digits"], held_out()[:20, 0] * 255)
        np.testing.assert_array_equal(samples["labels"], labels[:20])
