"""Batches of digits: one run of the model, N answers equal to N single calls, in order."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from pydantic import JsonValue

from tests.drawings import holdout_digits
from webapp.autoencoder.reconstruction import (
    MAX_BATCH,
    PixelsBatchRequest,
    PixelsRequest,
    Reconstruction,
    is_batch,
    reconstruct_pixel_batch,
    reconstruct_pixels,
)
from webapp.autoencoder.registry import ModelRegistry, OnnxAutoencoder
from webapp.errors import InvalidInput
from webapp.server.app import create_app
from webapp.server.settings import Settings

TOLERANCE = 1e-6
BLANK: list[Any] = [[0] * 28] * 28


@pytest.fixture(scope="module")
def models() -> ModelRegistry:
    return ModelRegistry(Settings().model_dir, providers=Settings().providers)


def five_digits() -> list[Any]:
    """Five held-out digits as a client sends them: 0..255 integers, one in 0..1."""
    found, _ = holdout_digits()
    batch: list[Any] = [digit.tolist() for digit in found[10:15]]
    batch[2] = (found[12] / 255.0).tolist()
    return batch


def assert_same(batched: Reconstruction, single: Reconstruction) -> None:
    assert batched.model is single.model
    np.testing.assert_array_equal(batched.digit, single.digit)
    np.testing.assert_allclose(batched.output, single.output, atol=TOLERANCE)
    np.testing.assert_allclose(batched.latent, single.latent, atol=TOLERANCE)
    assert batched.bce == pytest.approx(single.bce, abs=TOLERANCE)
    assert batched.mse == pytest.approx(single.mse, abs=TOLERANCE)
    assert (batched.noisy is None) == (single.noisy is None)
    if batched.noisy is not None and single.noisy is not None:
        np.testing.assert_array_equal(batched.noisy, single.noisy)
    assert (batched.layers is None) == (single.layers is None)
    for (layer, maps), (single_layer, single_maps) in zip(
        batched.layers or [], single.layers or [], strict=True
    ):
        assert layer == single_layer
        # Inside the model the numbers grow past 1, and cuDNN sums a batch in another order
        # than one digit (its algorithm depends on the batch size): on a GPU they differ by
        # a few float32 steps of the layer's largest values. The maps are shown as pictures;
        # the answer's numbers are checked above.
        scale = max(1.0, float(np.abs(single_maps).max()))
        np.testing.assert_allclose(maps, single_maps, rtol=0, atol=TOLERANCE * scale)


@pytest.mark.parametrize(
    "options",
    [
        {"model": "seed"},
        {"model": "deconv", "layers": True},
        {"model": "denoise", "noise": 0.3, "seed": 11},
    ],
)
def test_a_batch_equals_single_calls_in_order(
    models: ModelRegistry, options: dict[str, Any]
) -> None:
    batch = five_digits()
    results = reconstruct_pixel_batch(PixelsBatchRequest(pixels=batch, **options), models)
    assert len(results) == len(batch)
    for digit, batched in zip(batch, results, strict=True):
        assert_same(batched, reconstruct_pixels(PixelsRequest(pixels=digit, **options), models))
    # Different digits, different answers: the order is the order given.
    assert len({round(result.mse, 9) for result in results}) == len(batch)


def test_a_batch_runs_the_model_once(
    models: ModelRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    sizes: list[int] = []
    run = OnnxAutoencoder.run

    def counted(self: OnnxAutoencoder, digits: Any, *, all_layers: bool = False) -> Any:
        sizes.append(len(digits))
        return run(self, digits, all_layers=all_layers)

    monkeypatch.setattr(OnnxAutoencoder, "run", counted)
    reconstruct_pixel_batch(PixelsBatchRequest(pixels=five_digits() * 40), models)
    assert sizes == [200]


def test_the_largest_batch_is_accepted(models: ModelRegistry) -> None:
    results = reconstruct_pixel_batch(PixelsBatchRequest(pixels=[BLANK] * MAX_BATCH), models)
    assert len(results) == MAX_BATCH


def with_first_value(value: object) -> list[Any]:
    """A blank digit whose first value is ``value``."""
    return [[value, *[0] * 27], *BLANK[1:]]


@pytest.mark.parametrize(
    ("pixels", "message"),
    [
        ([], r"pixels must be a non-empty list of digits"),
        ("digits", r"pixels must be a non-empty list of digits"),
        ([BLANK] * (MAX_BATCH + 1), rf"holds {MAX_BATCH + 1} digits; at most {MAX_BATCH}"),
        ([BLANK, BLANK[:27]], r"pixels\[1\] must be 28 rows of 28 numbers, not 27x28"),
        ([BLANK, [*BLANK[:27], [0] * 27]], r"pixels\[1\] is ragged"),
        ([with_first_value(256)], r"pixels\[0\] must lie in 0\.\.1 \(or 0\.\.255\)"),
        ([with_first_value(-1)], r"pixels\[0\] must lie in 0\.\.1"),
        ([with_first_value(True)], r"pixels\[0\] must hold numbers only"),
        ([with_first_value("1")], r"pixels\[0\] must hold numbers only"),
        ([with_first_value(None)], r"pixels\[0\] must hold numbers only"),
        ([with_first_value(float("nan"))], r"pixels\[0\] must hold finite"),
        ([BLANK, 7], r"pixels\[1\] must be a non-empty list"),
    ],
)
def test_bad_batches_are_refused_naming_the_digit(
    models: ModelRegistry, pixels: Any, message: str
) -> None:
    with pytest.raises(InvalidInput, match=message) as refused:
        reconstruct_pixel_batch(PixelsBatchRequest(pixels=pixels), models)
    assert refused.value.field is not None and refused.value.field.startswith("pixels")


def test_a_batch_is_told_from_one_digit() -> None:
    digit: JsonValue = [[0.0] * 28] * 28
    assert is_batch([digit, digit])
    assert not is_batch(digit)
    assert not is_batch([])
    assert not is_batch("pixels")


# The route: POST /reconstruct with JSON `pixels` as N x 28 x 28.


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    with TestClient(create_app()) as test_client:
        yield test_client


def test_the_route_answers_a_batch_as_single_calls_in_order(client: TestClient) -> None:
    batch = five_digits()
    answer = client.post("/reconstruct", json={"pixels": batch, "model": "seed"})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["model"] == "seed"
    assert len(body["results"]) == len(batch)
    for digit, batched in zip(batch, body["results"], strict=True):
        single = client.post("/reconstruct", json={"pixels": digit, "model": "seed"}).json()
        assert batched["model"] == single["model"] == "seed"
        assert batched["input"]["pixels"] == single["input"]["pixels"]
        np.testing.assert_allclose(batched["reconstruction"]["pixels"],
                                   single["reconstruction"]["pixels"], atol=2e-5)
        for name in ("bce", "mse"):
            assert batched["metrics"][name] == pytest.approx(single["metrics"][name],
                                                             abs=TOLERANCE)


def test_the_route_refuses_a_bad_batch_naming_pixels(client: TestClient) -> None:
    answer = client.post("/reconstruct", json={"pixels": [[[0] * 28] * 28] * (MAX_BATCH + 1)})
    assert answer.status_code == 422
    assert "pixels" in answer.text
