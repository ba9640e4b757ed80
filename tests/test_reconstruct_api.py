"""The autoencoders over HTTP: /reconstruct, /models, /samples, providers and faults."""

from __future__ import annotations

import io
import logging
import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from tests.drawings import blank_drawing, drawing, holdout_digits
from webapp.autoencoder.registry import ModelLoadError
from webapp.server.app import create_app
from webapp.server.settings import Settings

MODELS = ["seed", "deconv", "wide", "denoise"]

# The lesson's table (section 4): every layer after the input, as Keras prints it.
LESSON_TABLE = [
    ("conv2d", "Conv2D", [28, 28, 16], 160),
    ("max_pooling2d", "MaxPooling2D", [14, 14, 16], 0),
    ("conv2d_1", "Conv2D", [14, 14, 8], 1160),
    ("max_pooling2d_1", "MaxPooling2D", [7, 7, 8], 0),
    ("conv2d_2", "Conv2D", [7, 7, 4], 292),
    ("max_pooling2d_2", "MaxPooling2D", [4, 4, 4], 0),
    ("conv2d_3", "Conv2D", [4, 4, 4], 148),
    ("up_sampling2d", "UpSampling2D", [8, 8, 4], 0),
    ("conv2d_4", "Conv2D", [8, 8, 8], 296),
    ("up_sampling2d_1", "UpSampling2D", [16, 16, 8], 0),
    ("conv2d_5", "Conv2D", [14, 14, 16], 1168),
    ("up_sampling2d_2", "UpSampling2D", [28, 28, 16], 0),
    ("conv2d_6", "Conv2D", [28, 28, 1], 145),
]


def post_drawing(client: TestClient, data: bytes, **fields: Any) -> Any:
    return client.post(
        "/reconstruct",
        files={"image": ("drawing.png", data, "image/png")},
        data={name: str(value) for name, value in fields.items()},
    )


def test_seed_layer_table_equals_the_lesson(client: TestClient) -> None:
    seed = client.get("/models/seed").json()
    table = [(layer["name"], layer["type"], layer["output_shape"], layer["params"])
             for layer in seed["layers"]]
    assert table == LESSON_TABLE
    assert seed["params"] == 3369
    assert seed["latent"] == {"layer": "max_pooling2d_2", "shape": [4, 4, 4]}


def test_models_lists_every_model_with_its_card(client: TestClient) -> None:
    models = client.get("/models").json()
    assert [model["name"] for model in models] == MODELS
    for model in models:
        assert model["params"] == sum(layer["params"] for layer in model["layers"])
        assert {"val_bce", "val_mse"} <= set(model["metrics"])
        assert model["providers"][-1] == "CPUExecutionProvider"
        assert model["training"]["onnx_sha256"]
    seed = models[0]
    assert "lesson_recipe" in seed["training"]
    assert 25_000 <= models[2]["params"] <= 40_000  # wide


def test_unknown_model_lists_the_valid_names(client: TestClient) -> None:
    response = post_drawing(client, drawing(), model="huge")
    assert response.status_code == 404
    assert "seed, deconv, wide, denoise" in response.json()["detail"]
    assert client.get("/models/huge").status_code == 404


@pytest.mark.parametrize("model", MODELS)
def test_reconstruct_a_drawing(client: TestClient, model: str) -> None:
    answer = post_drawing(client, drawing(), model=model).json()
    assert answer["model"] == model
    assert answer["provider"] == "CPUExecutionProvider"
    digit = np.array(answer["input"]["pixels"])
    rebuilt = np.array(answer["reconstruction"]["pixels"])
    assert digit.shape == rebuilt.shape == (28, 28)
    assert rebuilt.min() >= 0
    assert rebuilt.max() <= 1
    # A sensible reconstruction: the same digit back, far better than a flat grey guess.
    assert np.corrcoef(digit.ravel(), rebuilt.ravel())[0, 1] > 0.8
    bce = -np.mean(digit * np.log(np.clip(rebuilt, 1e-7, 1)) +
                   (1 - digit) * np.log(np.clip(1 - rebuilt, 1e-7, 1)))
    assert answer["metrics"]["bce"] == pytest.approx(bce, abs=2e-3)
    assert answer["metrics"]["mse"] == pytest.approx(np.mean((digit - rebuilt) ** 2), abs=1e-4)
    assert answer["input"]["image"].startswith("data:image/png;base64,")
    assert "layers" not in answer
    assert "noisy" not in answer


def test_latent_code_of_the_lesson_model(client: TestClient) -> None:
    answer = post_drawing(client, drawing(), model="seed").json()
    assert answer["latent"]["shape"] == [4, 4, 4]
    assert np.array(answer["latent"]["values"]).shape == (4, 4, 4)
    assert answer["latent"]["layer"] == "max_pooling2d_2"


def test_layers_are_the_activations_of_this_request(client: TestClient) -> None:
    answer = post_drawing(client, drawing(), model="seed", layers="true").json()
    table = client.get("/models/seed").json()["layers"]
    assert [(layer["name"], layer["shape"]) for layer in answer["layers"]] == [
        (layer["name"], layer["output_shape"]) for layer in table
    ]
    for layer in answer["layers"]:
        assert layer["image"].startswith("data:image/png;base64,")


def test_png_answer_is_the_reconstruction(client: TestClient) -> None:
    response = client.post(
        "/reconstruct", files={"image": ("d.png", drawing(), "image/png")},
        headers={"accept": "image/png"},
    )
    assert response.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(response.content)).size == (28, 28)


def test_json_pixels_go_to_the_model_unchanged(client: TestClient) -> None:
    digits, _ = holdout_digits()
    raw = digits[3]
    answer = client.post("/reconstruct", json={"pixels": raw.tolist(), "model": "wide"}).json()
    assert np.allclose(answer["input"]["pixels"], raw / 255.0, atol=1e-5)
    scaled = client.post(
        "/reconstruct", json={"pixels": (raw / 255.0).tolist(), "model": "wide"}
    ).json()
    assert scaled["metrics"] == pytest.approx(answer["metrics"], abs=1e-5)


@pytest.mark.parametrize(
    ("kind", "dark_on_light", "mode"),
    [("light on dark", False, "L"), ("dark on light", True, "RGB"), ("rgba", True, "RGBA"),
     ("gray dark on light", True, "L")],
)
def test_drawing_styles_reach_the_model_alike(
    client: TestClient, kind: str, dark_on_light: bool, mode: str
) -> None:
    reference = np.array(post_drawing(client, drawing(dark_on_light=False, mode="L"))
                         .json()["input"]["pixels"])
    styled = np.array(post_drawing(client, drawing(dark_on_light=dark_on_light, mode=mode))
                      .json()["input"]["pixels"])
    assert np.abs(styled - reference).mean() < 0.02, kind


def test_small_corner_and_large_centre_reach_the_model_alike(client: TestClient) -> None:
    large = post_drawing(client, drawing(size=220, at=(30, 30))).json()["input"]["pixels"]
    small = post_drawing(client, drawing(size=60, at=(200, 10))).json()["input"]["pixels"]
    assert np.abs(np.array(large) - np.array(small)).mean() < 0.05


def test_noise_is_added_to_the_input_and_scored_against_the_clean_digit(
    client: TestClient,
) -> None:
    clean = post_drawing(client, drawing(), model="denoise").json()
    noisy = post_drawing(client, drawing(), model="denoise", noise=0.5, seed=3).json()
    again = post_drawing(client, drawing(), model="denoise", noise=0.5, seed=3).json()
    assert noisy["input"]["pixels"] == clean["input"]["pixels"]
    clean_digit = np.array(clean["input"]["pixels"])
    assert np.abs(np.array(noisy["noisy"]["pixels"]) - clean_digit).mean() > 0.1
    assert noisy["metrics"] == again["metrics"]
    # The denoiser cleans up: its output is much closer to the clean digit than its input.
    noisy_input_mse = np.mean(
        (np.array(noisy["noisy"]["pixels"]) - np.array(clean["input"]["pixels"])) ** 2
    )
    assert noisy["metrics"]["mse"] < noisy_input_mse / 2


@pytest.mark.parametrize(
    ("send", "status", "fragment"),
    [
        (lambda c: post_drawing(c, blank_drawing()), 422, "Nothing drawn"),
        (lambda c: post_drawing(c, b"not an image"), 422, "not an image"),
        (lambda c: post_drawing(c, drawing(), noise=2), 422, "noise"),
        (lambda c: post_drawing(c, drawing(), layers="maybe"), 422, "layers"),
        (lambda c: c.post("/reconstruct", json={"pixels": [[0] * 28] * 27}), 422, "28 rows"),
        (lambda c: c.post("/reconstruct", json={"pixels": [[0] * 28] * 28 + [[1] * 28]}), 422,
         "at most 28"),
        (lambda c: c.post("/reconstruct", json={"pixels": [[-1] * 28] * 28}), 422, "0..1"),
        (lambda c: c.post("/reconstruct", json={"model": "seed"}), 422, "pixels"),
        (lambda c: c.post("/reconstruct", content=b"x", headers={"content-type": "text/plain"}),
         422, "multipart"),
    ],
)
def test_reconstruct_errors(client: TestClient, send: Any, status: int, fragment: str) -> None:
    response = send(client)
    assert response.status_code == status, response.text
    assert fragment in response.text


def test_samples_are_held_out_digits_with_reconstructions(client: TestClient) -> None:
    plain = client.get("/samples").json()
    assert [item["label"] for item in plain] == [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]
    digits, _ = holdout_digits()
    assert np.allclose(plain[0]["pixels"], digits[0] / 255.0, atol=1e-5)
    rebuilt = client.get("/samples", params={"model": "seed", "count": 3}).json()
    assert len(rebuilt) == 3
    assert np.array(rebuilt[0]["reconstruction"]["pixels"]).shape == (28, 28)
    assert client.get("/samples", params={"count": 0}).status_code == 422


def test_health_shows_available_and_active_providers(client: TestClient) -> None:
    health = client.get("/health").json()
    assert "CPUExecutionProvider" in health["providers"]["available"]
    assert health["models"]["seed"]["active"] == "CPUExecutionProvider"


def test_a_gpu_provider_that_cannot_load_falls_back_to_the_cpu(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, "convlens"), \
            TestClient(create_app(Settings(providers="cuda,cpu"))) as client:
        health = client.get("/health").json()
        assert health["models"]["seed"]["active"] == "CPUExecutionProvider"
        assert "CUDAExecutionProvider" in health["providers"]["warnings"][0]
        assert post_drawing(client, drawing()).status_code == 200
    assert "CUDAExecutionProvider is not in this onnxruntime" in caplog.text


def test_a_provider_that_fails_inside_onnxruntime_falls_back_with_a_warning(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A GPU provider that onnxruntime lists but cannot use: simulated by making this CPU
    build claim CUDA, whose session creation then fails. Every model must still run."""
    import onnxruntime

    monkeypatch.setattr(onnxruntime, "get_available_providers",
                        lambda: ["CUDAExecutionProvider", "CPUExecutionProvider"])
    with TestClient(create_app(Settings())) as client:
        health = client.get("/health").json()
    assert health["providers"]["requested"] == ["CUDAExecutionProvider", "CPUExecutionProvider"]
    assert health["models"]["seed"]["active"] == "CPUExecutionProvider"
    assert any("running on the CPU" in w for w in health["providers"]["warnings"])


def test_require_gpu_refuses_to_start_on_a_cpu_machine() -> None:
    with pytest.raises(ModelLoadError, match="CONVLENS_REQUIRE_GPU"), \
            TestClient(create_app(Settings(require_gpu=True))):
        pass


def test_missing_or_corrupt_model_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match=re.escape(str(tmp_path))), \
            TestClient(create_app(Settings(model_dir=tmp_path))):
        pass
    source = Settings().model_dir
    shutil.copy(source / "seed.json", tmp_path / "seed.json")
    (tmp_path / "seed.onnx").write_bytes(b"definitely not onnx")
    with pytest.raises(ModelLoadError, match=r"seed\.onnx"), \
            TestClient(create_app(Settings(model_dir=tmp_path))):
        pass


def test_a_broken_model_can_be_marked_unavailable(broken_model_dir: Path) -> None:
    settings = Settings(model_dir=broken_model_dir, skip_broken_models=True)
    with TestClient(create_app(settings)) as client:
        assert client.get("/health").json()["models"]["wide"]["status"] == "unavailable"
        response = post_drawing(client, drawing(), model="wide")
        assert response.status_code == 503
        assert "wide" in response.json()["detail"]
        assert post_drawing(client, drawing(), model="seed").status_code == 200
