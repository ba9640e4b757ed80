"""Reconstruction: a drawing (or a ready 28x28 digit) through an autoencoder, and back.

    drawing bytes -> `webapp.preprocessing.drawing_to_digit` -> 28x28 digit
    28x28 digit (+ optional noise) -> model -> reconstruction, code, every layer

The API, the pages and the command line all call `reconstruct_drawing` or
`reconstruct_pixels`, so a digit is prepared one way only; `reconstruct_digit` then sends
that same prepared digit through other models (the page compares them all).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field, JsonValue

from webapp.autoencoders import Autoencoder, LayerInfo, ModelRegistry
from webapp.errors import InvalidInput
from webapp.images import open_upright
from webapp.matrices import number_matrix
from webapp.preprocessing import drawing_to_digit
from webapp.settings import Settings

EPSILON = 1e-7
"""Outputs are clipped to [eps, 1 - eps] before the log in the BCE, as Keras does."""


class ReconstructOptions(BaseModel):
    """How to reconstruct: which model, how much noise, whether to look inside."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field("seed", description="A model name from GET /models.")
    noise: float = Field(
        0.0, ge=0.0, le=1.0,
        description="Gaussian noise (this times N(0, 1), clipped) added to the model's input.",
    )
    layers: bool = Field(False, description="Include every layer's feature maps.")
    seed: int | None = Field(
        None, ge=0, le=2**32 - 1, description="Seed of the noise, for a repeatable answer."
    )


class PixelsRequest(ReconstructOptions):
    """A ready MNIST-style digit: 28x28 values in 0..1 (or 0..255)."""

    pixels: JsonValue = Field(
        ..., description="28 rows of 28 numbers, ink high; 0..1, or 0..255 when any is > 1."
    )


@dataclass(frozen=True)
class Reconstruction:
    """One digit through one model, with everything a learner may want to see."""

    model: Autoencoder
    digit: NDArray[np.float32]
    """The clean 28x28 input, as preprocessed."""
    noisy: NDArray[np.float32] | None
    """What the model received when noise was added."""
    output: NDArray[np.float32]
    bce: float
    mse: float
    latent: NDArray[np.float32]
    """The code: height x width x channels (4 x 4 x 4 for the lesson's model)."""
    layers: list[tuple[LayerInfo, NDArray[np.float32]]] | None


def reconstruct_drawing(
    data: bytes, options: ReconstructOptions, models: ModelRegistry, settings: Settings
) -> Reconstruction:
    """A drawing file (any size; PNG, JPEG, WebP, ...) prepared as MNIST was, then rebuilt."""
    model = models.get(options.model)
    image = open_upright(data, max_pixels=settings.max_pixels, field="image")
    return reconstruct_digit(drawing_to_digit(image), model, options)


def reconstruct_pixels(request: PixelsRequest, models: ModelRegistry) -> Reconstruction:
    """A 28x28 digit that is already MNIST-like: no preprocessing, straight to the model."""
    model = models.get(request.model)
    values = number_matrix(request.pixels, field="pixels", max_size=28)
    if values.shape != (28, 28):
        raise InvalidInput(
            f"pixels must be 28 rows of 28 numbers, not {'x'.join(map(str, values.shape))}.",
            field="pixels",
        )
    if values.min() < 0 or values.max() > 255:
        raise InvalidInput("pixels must lie in 0..1 (or 0..255).", field="pixels")
    digit = values / 255.0 if values.max() > 1.0 else values
    return reconstruct_digit(digit.astype(np.float32), model, request)


def to_gray_pixels(values: NDArray[np.float32]) -> NDArray[np.uint8]:
    """Values in [0, 1] as 8-bit gray, for pictures of digits."""
    return (np.clip(values, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def add_noise(digit: NDArray[np.float32], amount: float, seed: int | None) -> NDArray[np.float32]:
    """``digit + amount * N(0, 1)``, clipped to [0, 1]: the denoising lesson's corruption."""
    noise = np.random.default_rng(seed).standard_normal(digit.shape).astype(np.float32)
    return np.clip(digit + amount * noise, 0.0, 1.0).astype(np.float32)


def reconstruct_digit(
    digit: NDArray[np.float32], model: Autoencoder, options: ReconstructOptions
) -> Reconstruction:
    """A prepared 28x28 digit (float32 in [0, 1]: this module's own output, not a user's
    numbers, which `reconstruct_pixels` checks first) through ``model``."""
    noisy = add_noise(digit, options.noise, options.seed) if options.noise > 0 else None
    run = model.run((noisy if noisy is not None else digit)[np.newaxis], all_layers=options.layers)
    output = run.reconstructions[0]
    clipped = np.clip(output, EPSILON, 1 - EPSILON)
    # Scored against the clean digit: what a denoiser should have recovered.
    bce = -np.mean(digit * np.log(clipped) + (1 - digit) * np.log(1 - clipped))
    mse = np.mean((output - digit) ** 2)
    layers = (
        [(layer, run.activations[layer.name][0]) for layer in model.layers]
        if options.layers
        else None
    )
    return Reconstruction(
        model=model,
        digit=digit,
        noisy=noisy,
        output=output,
        bce=float(bce),
        mse=float(mse),
        latent=run.activations[model.latent_layer][0],
        layers=layers,
    )
