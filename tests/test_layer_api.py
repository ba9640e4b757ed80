"""POST /convolve with a whole layer (filters or a bank) and GET /banks, over HTTP."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from tests.conftest import encode, gradient_photo
from webapp.server.app import create_app
from webapp.server.settings import Settings

JSON = {"accept": "application/json"}
TWO_CHANNELS = [[[1, 2, 3], [4, 5, 6], [7, 8, 9]], [[0, 1, 0], [1, 0, 1], [0, 1, 0]]]


def post_photo(client: TestClient, headers: dict[str, str] | None = None,
               **fields: Any) -> Any:
    return client.post(
        "/convolve",
        files={"image": ("upload.png", encode(gradient_photo()), "application/octet-stream")},
        data={name: str(value) for name, value in fields.items()},
        headers=headers or {},
    )


def test_three_dimensional_input_through_a_full_layer(client: TestClient) -> None:
    body = client.post("/convolve", json={
        "input": TWO_CHANNELS,
        "filters": [[[[1, 0], [0, 1]], [[1, 1], [1, 1]]], [[[0, 0], [0, 0]], [[0, 0], [0, -1]]]],
        "bias": [1, 0.5],
        "activation": "relu",
    }).json()
    # map 0, cell (0, 0): red 1 + 5, green 0 + 1 + 1 + 0, bias 1 -> 9
    assert body["output"] == [[[9, 11], [15, 17]], [[0.5, 0], [0, 0.5]]]
    assert body["output_shape"] == [2, 2, 2]
    assert body["input_shape"] == [2, 3, 3]
    assert (body["in_channels"], body["maps"], body["groups"]) == (2, 2, 1)
    assert body["params"] == 2 * (2 * 2 * 2 + 1)
    assert body["macs"] == 2 * 2 * 2 * 2 * 2 * 2
    assert body["linear_params"] == 18 * 8 + 8
    first = body["steps"][0]
    assert first["index"] == [0, 0, 0]
    assert [channel["sum"] for channel in first["channels"]] == [6, 2]
    assert first["channels"][0]["products"] == [1, 0, 0, 5]
    assert (first["bias"], first["total"], first["result"]) == (1, 9, 9)
    # map 1, cell (0, 0): -1 x green's 0 + bias 0.5; cell (0, 1): -1 x 1 + 0.5 -> relu 0
    second = body["steps"][5]
    assert second["index"] == [1, 0, 1]
    assert (second["total"], second["result"]) == (-0.5, 0)


def test_a_one_dimensional_layer(client: TestClient) -> None:
    body = client.post("/convolve", json={
        "input": [0, 1, 2, 3, 4], "filters": [[[-1, 0, 1]], [[1, 1, 1]]], "padding": 1,
    }).json()
    assert body["output"] == [[1, 2, 2, 2, -3], [1, 3, 6, 9, 7]]
    assert body["arithmetic"]["length"]["output"] == 5
    assert body["filters"]["shape"] == [2, 1, 3]
    assert body["steps"][0]["index"] == [0, 0]


def test_groups_and_flip(client: TestClient) -> None:
    body = client.post("/convolve", json={
        "input": TWO_CHANNELS, "filters": [[[[1, 2]]], [[[1, 2]]]], "groups": 2, "flip": True,
    }).json()
    # a true convolution flips [1, 2] to [2, 1]; each filter sees its own channel
    assert body["output"][0][0] == [2 * 1 + 2, 2 * 2 + 3]
    assert body["output"][1][0] == [0 + 1, 2 + 0]
    assert body["params"] == 2 * (1 * 1 * 2 + 1)
    assert body["operation"] == "convolution"
    assert body["filters"]["applied"] == [[[[2, 1]]], [[[2, 1]]]]


@pytest.mark.parametrize("activation", ["none", "relu", "leaky-relu", "sigmoid", "tanh"])
def test_each_activation(client: TestClient, activation: str) -> None:
    body = client.post("/convolve", json={
        "input": [[-2, 3]], "filters": [[[[1]]]], "activation": activation,
    }).json()
    expected: list[float] = {"none": [-2.0, 3.0], "relu": [0.0, 3.0],
                             "leaky-relu": [-0.02, 3.0],
                             "sigmoid": [float(1 / (1 + np.exp(2))), float(1 / (1 + np.exp(-3)))],
                             "tanh": [float(np.tanh(-2)), float(np.tanh(3))]}[activation]
    np.testing.assert_allclose(body["output"][0][0], expected, rtol=1e-12)
    assert body["activation"] == activation


def test_a_bank_by_name(client: TestClient) -> None:
    grid = [[0, 0, 9, 9]] * 4
    body = client.post("/convolve", json={"input": grid, "bank": "edges"}).json()
    assert body["filters"]["name"] == "edges"
    assert body["output"][0] == [[36, 36], [36, 36]]  # sobel-x, as the one-kernel mode says
    assert body["output"][1] == [[0, 0], [0, 0]]
    seeded = client.post("/convolve", json={"input": grid, "bank": "random-he", "seed": 3}).json()
    again = client.post("/convolve", json={"input": grid, "bank": "random-he", "seed": 3}).json()
    assert seeded["output"] == again["output"] and seeded["maps"] == 16


def test_no_steps_for_large_layers(client: TestClient) -> None:
    body = client.post("/convolve", json={
        "input": [[1.0] * 30] * 30, "filters": [[[[1]]]] * 2,
    }).json()
    assert "steps" not in body and body["output_shape"] == [2, 30, 30]


def test_one_kernel_answers_are_unchanged(client: TestClient) -> None:
    body = client.post("/convolve", json={"input": [0, 1, 2, 3, 4], "weights": [-1, 0, 1]})
    assert body.json()["output"] == [2, 2, 2] and "kernel" in body.json()


@pytest.mark.parametrize(("fields", "field", "words"), [
    ({"filters": [[[[1, 1]]]]}, "filters", "spans 1 channel, but the input has 2"),
    ({"filters": [[[[1]], [[1]]]] * 3, "groups": 2}, "groups", "divide both"),
    ({"filters": [[[[1]], [[1]]]], "groups": 3}, "groups", "divide both"),
    ({"filters": [[[[1]], [[1]]]], "bias": [1, 2]}, "bias", "one number per filter"),
    ({"filters": [[[[1]], [[1]]]] * 65}, "filters", "at most 64"),
    ({"filters": [[[[1]], [[1]]]], "operation": "max-pool"}, "filters", "conv layer"),
    ({"filters": [[[1, 2], [1]]]}, "filters", "4-D|ragged|nested"),
    ({"filters": [[[[1, "x"]], [[1, 1]]]]}, "filters", "numbers only"),
    ({"bank": "nope"}, "bank", "valid names"),
    ({"bank": "colour-opponents"}, "bank", "3 channel"),
])
def test_layer_errors_name_the_field(
    client: TestClient, fields: dict[str, Any], field: str, words: str
) -> None:
    response = client.post("/convolve", json={"input": TWO_CHANNELS, **fields})
    assert response.status_code in (404, 422), response.text
    problem = response.json()
    assert problem["field"] == field
    assert __import__("re").search(words, problem["detail"]), problem["detail"]


def test_work_cap_is_a_setting() -> None:
    with TestClient(create_app(Settings(max_layer_macs=100))) as client:
        response = client.post("/convolve", json={"input": [[1] * 20] * 20,
                                                  "filters": [[[[1]]]]})
    assert response.status_code == 422
    assert response.json()["field"] == "filters"
    assert "multiply-adds" in response.json()["detail"]


def test_photo_through_a_bank_answers_the_maps_grid(client: TestClient) -> None:
    response = post_photo(client, bank="edges", activation="relu")
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/png"
    picture = Image.open(io.BytesIO(response.content))
    assert picture.size == (2 * 62 + 1, 2 * 46 + 1)  # 4 maps of 62x46 in a 2 x 2 grid
    body = post_photo(client, JSON, bank="edges", activation="relu", stride=2).json()
    assert body["input_shape"] == [48, 64, 3]
    assert body["output_shape"] == [4, 23, 31]
    assert body["grid"] == {"rows": 2, "columns": 2, "gap": 1}
    assert body["params"] == 4 * (3 * 3 * 3 + 1)
    assert body["macs"] == 4 * 23 * 31 * 27
    assert body["display"] == "normalize" and len(body["stats"]) == 4
    assert all(stat["min"] >= 0 for stat in body["stats"])
    assert body["image"].startswith("data:image/png;base64,")


def test_photo_with_filters_bias_and_groups_as_form_fields(client: TestClient) -> None:
    body = post_photo(client, JSON, filters="[[[[1]]],[[[0]]],[[[-1]]]]", bias="[0,5,0]",
                      groups=3).json()
    assert body["output_shape"] == [3, 48, 64]
    assert body["stats"][1] == {"min": 5, "max": 5, "mean": 5}
    assert body["filters"]["bias"] == [0, 5, 0]


def test_photo_layer_matches_the_numbers_layer(client: TestClient) -> None:
    pixels = gradient_photo(height=6, width=7)
    photo = client.post(
        "/convolve", files={"image": ("p.png", encode(pixels), "image/png")},
        data={"bank": "colour-opponents"}, headers=JSON,
    ).json()
    numbers = client.post("/convolve", json={
        "input": np.moveaxis(pixels, 2, 0).tolist(), "bank": "colour-opponents",
    }).json()
    for stats, plane in zip(photo["stats"], numbers["output"], strict=True):
        assert stats["max"] == pytest.approx(np.max(plane), rel=1e-6)
        assert stats["min"] == pytest.approx(np.min(plane), abs=1e-4)


def test_learned_bank_on_a_gray_photo(client: TestClient) -> None:
    body = post_photo(client, JSON, bank="learned-seed", color="gray", padding="same",
                      activation="relu").json()
    assert body["output_shape"] == [16, 48, 64]
    assert body["grid"]["columns"] == 4
    refused = post_photo(client, JSON, bank="learned-seed")
    assert refused.status_code == 422 and refused.json()["field"] == "bank"


def test_photo_maps_over_the_pixel_cap_are_refused() -> None:
    with TestClient(create_app(Settings(max_pixels=48 * 64 * 2))) as client:
        response = post_photo(client, JSON, bank="edges")
    assert response.status_code == 422
    assert response.json()["field"] == "filters" and "values" in response.json()["detail"]


def test_banks_are_listed_typed(client: TestClient) -> None:
    banks = {bank["name"]: bank for bank in client.get("/banks").json()}
    assert {"edges", "colour-opponents", "gabor", "random-he", "learned-seed",
            "learned-wide"} <= set(banks)
    assert banks["learned-seed"]["shape"] == [16, 1, 3, 3]
    assert banks["learned-wide"]["shape"] == [32, 1, 3, 3]
    assert banks["colour-opponents"]["channels"] == 3 and "channels" not in banks["edges"]
    assert all(bank["citation"] for bank in banks.values())
    assert len(banks["learned-seed"]["bias"]) == 16


def test_openapi_documents_the_layer(client: TestClient) -> None:
    document = client.get("/openapi.json").json()
    schemas = document["components"]["schemas"]
    assert {"NumericLayerAnswer", "PhotoLayerAnswer", "BankAnswer"} <= set(schemas)
    request = schemas["NumericRequest"]["properties"]
    assert {"filters", "bank", "bias", "groups", "activation", "seed"} <= set(request)
    form = document["paths"]["/convolve"]["post"]["requestBody"]["content"][
        "multipart/form-data"]["schema"]["properties"]
    assert form["filters"]["type"] == "string"
