"""The reconstruction's arithmetic on whole digits: compiled loops, checked against numpy."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.typing import NDArray

from webapp.autoencoder.reconstruction import (
    EPSILON,
    ReconstructOptions,
    error_picture,
    reconstruct_digit,
    rounded_values,
    to_gray_pixels,
)
from webapp.autoencoder.registry import ModelRegistry
from webapp.display import DIVERGING_COLOURS
from webapp.server.settings import Settings


def digits(count: int = 40) -> list[NDArray[np.float32]]:
    """Random values a little beyond [0, 1], exact halves and the ends included."""
    rng = np.random.default_rng(7)
    found = [(rng.random((28, 28)) * 1.2 - 0.1).astype(np.float32) for _ in range(count)]
    found[0][:2] = np.array([0.0, 1.0, 0.5, 0.25, 1.5 / 255, 0.123455, -0.2, 1.3] * 7,
                            dtype=np.float32).reshape(2, 28)
    return found


def test_gray_pixels_are_numpys_rounding() -> None:
    for values in digits():
        expected = (np.clip(values, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
        assert np.array_equal(to_gray_pixels(values), expected)


def test_rounded_values_are_numpys_rounding() -> None:
    for values in digits():
        assert rounded_values(values) == np.round(values.astype(np.float64), 5).tolist()
    assert rounded_values(np.array([[0.5, 0.25]], np.float32), decimals=1) == [[0.5, 0.2]]


def test_the_error_picture_is_the_diverging_map_of_the_difference() -> None:
    for output, digit in zip(digits(), digits()[::-1], strict=True):
        difference = output - digit
        index = np.clip(np.round(difference * 127 + 128), 0, 255).astype(np.uint8)
        assert np.array_equal(error_picture(output, digit), DIVERGING_COLOURS[index])
    same = np.full((28, 28), 0.4, np.float32)
    assert (error_picture(same, same) == DIVERGING_COLOURS[128]).all()  # white: no error


def test_the_scores_are_keras_binary_cross_entropy_and_mse() -> None:
    models = ModelRegistry(Settings().model_dir, providers="cpu")
    for values in digits(5):
        digit = np.clip(values, 0, 1)
        result = reconstruct_digit(digit, models.get("seed"), ReconstructOptions())
        output = result.output.astype(np.float64)
        clipped = np.clip(output, EPSILON, 1 - EPSILON)
        bce = -np.mean(digit * np.log(clipped) + (1 - digit) * np.log(1 - clipped))
        assert result.bce == pytest.approx(bce, rel=1e-6)
        assert result.mse == pytest.approx(np.mean((output - digit) ** 2), rel=1e-6)
