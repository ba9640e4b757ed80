"""Reconstruction: a drawing (or a ready 28x28 digit) through an autoencoder, and back.

    drawing bytes -> `webapp.autoencoder.preprocessing.drawing_to_digit` -> 28x28 digit
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

from webapp.autoencoder.preprocessing import drawing_to_digit
from webapp.autoencoder.registry import LayerInfo, ModelRegistry, OnnxAutoencoder
from webapp.display import DIVERGING_COLOURS
from webapp.errors import InvalidInput
from webapp.images import open_upright
from webapp.matrices import number_matrix
from webapp.translation import gettext as _

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


MAX_BATCH = 1024
"""Most digits in one request: a batch holds a work-queue slot for its whole run."""


class PixelsBatchRequest(ReconstructOptions):
    """Ready MNIST-style digits, reconstructed in one run of the model; the options apply to
    each digit as if it were sent alone."""

    pixels: JsonValue = Field(
        ...,
        description=f"1 to {MAX_BATCH} digits, each 28 rows of 28 numbers, ink high; each "
        "digit is 0..1, or 0..255 when any of its values is > 1.",
    )


def is_batch(pixels: JsonValue) -> bool:
    """Whether ``pixels`` is a list of digits (lists three deep), not one digit.

    >>> is_batch([[[0.0] * 28] * 28]), is_batch([[0.0] * 28] * 28)
    (True, False)
    """
    return (
        isinstance(pixels, list) and bool(pixels)
        and isinstance(pixels[0], list) and bool(pixels[0])
        and isinstance(pixels[0][0], list)
    )


@dataclass(frozen=True)
class Reconstruction:
    """One digit through one model, with everything a learner may want to see."""

    model: OnnxAutoencoder
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
    data: bytes, options: ReconstructOptions, models: ModelRegistry, *, max_pixels: int
) -> Reconstruction:
    """A drawing file (any size; PNG, JPEG, WebP, ...) prepared as MNIST was, then rebuilt."""
    model = models.get(options.model)
    image = open_upright(data, max_pixels=max_pixels, field="image")
    return reconstruct_digit(drawing_to_digit(image), model, options)


def reconstruct_pixels(request: PixelsRequest, models: ModelRegistry) -> Reconstruction:
    """A 28x28 digit that is already MNIST-like: no preprocessing, straight to the model."""
    model = models.get(request.model)
    values = number_matrix(request.pixels, field="pixels", max_size=28)
    if values.shape != (28, 28):
        raise InvalidInput(
            _("%(field)s must be 28 rows of 28 numbers, not %(shape)s.", field="pixels",
              shape="x".join(map(str, values.shape))),
            field="pixels",
        )
    if values.min() < 0 or values.max() > 255:
        raise InvalidInput(_("%(field)s must lie in 0..1 (or 0..255).", field="pixels"),
                           field="pixels")
    digit = values / 255.0 if values.max() > 1.0 else values
    return reconstruct_digit(digit.astype(np.float32), model, request)


def reconstruct_pixel_batch(
    request: PixelsBatchRequest, models: ModelRegistry
) -> list[Reconstruction]:
    """Many 28x28 digits through one model in a single run, in the order given; each
    result is what `reconstruct_pixels` gives for that digit alone."""
    model = models.get(request.model)
    return reconstruct_digits(_batch_digits(request.pixels), model, request)


def _batch_digits(pixels: JsonValue) -> NDArray[np.float32]:
    """``pixels`` as N x 28 x 28 float32 in [0, 1], each digit checked and scaled on its
    own, as `reconstruct_pixels` does one."""
    if not isinstance(pixels, list) or not pixels:
        raise InvalidInput(
            _("pixels must be a non-empty list of digits, each 28 rows of 28 numbers."),
            field="pixels",
        )
    if len(pixels) > MAX_BATCH:
        raise InvalidInput(
            _("pixels holds %(count)s digits; at most %(limit)s are allowed per request.",
              count=len(pixels), limit=MAX_BATCH),
            field="pixels",
        )
    digits = np.empty((len(pixels), 28, 28), np.float32)
    for index, item in enumerate(pixels):
        name = f"pixels[{index}]"
        values = _plain_digit(item)
        if values is None:
            values = number_matrix(item, field=name, max_size=28)
        if values.shape != (28, 28):
            raise InvalidInput(
                _("%(field)s must be 28 rows of 28 numbers, not %(shape)s.", field=name,
                  shape="x".join(map(str, values.shape))),
                field=name,
            )
        if values.min() < 0 or values.max() > 255:
            raise InvalidInput(_("%(field)s must lie in 0..1 (or 0..255).", field=name),
                               field=name)
        digits[index] = values / 255.0 if values.max() > 1.0 else values
    return digits


_NUMBER_TYPES = frozenset({int, float})


def _plain_digit(item: JsonValue) -> NDArray[np.float64] | None:
    """``item`` as 28x28 float64 when it is 28 rows of 28 finite numbers, else None.

    The types are checked a row at a time (``set(map(type, row))`` runs in C): a full batch
    is 800,000 numbers, and `number_matrix`'s check of each one in Python would take most
    of the request. Anything else goes through `number_matrix`, whose messages say what is
    wrong. ``bool`` is not ``int`` here, as JSON's true is not a number.
    """
    if not (isinstance(item, list) and len(item) == 28 and all(
        isinstance(row, list) and len(row) == 28 and set(map(type, row)) <= _NUMBER_TYPES
        for row in item
    )):
        return None
    values = np.array(item, dtype=np.float64)
    return values if np.isfinite(values).all() else None


def to_gray_pixels(values: NDArray[np.float32]) -> NDArray[np.uint8]:
    """Values in [0, 1] as 8-bit gray, for pictures of digits: round(255 * value)."""
    scaled = np.clip(values, np.float32(0.0), np.float32(1.0)) * np.float32(255.0)
    gray: NDArray[np.uint8] = (scaled + np.float32(0.5)).astype(np.uint8)
    return gray


def rounded_values(values: NDArray[np.float32], decimals: int = 5) -> list[list[float]]:
    """A 2-D digit's values rounded to ``decimals`` places (as numpy rounds: half to even),
    as lists of Python floats for a JSON answer."""
    rounded: list[list[float]] = np.round(values.astype(np.float64), decimals).tolist()
    return rounded


def error_picture(output: NDArray[np.float32], digit: NDArray[np.float32]) -> NDArray[np.uint8]:
    """RGB: blue where the model lost ink, red where it added some, white where it is right
    (the diverging map, a full unit of error at either end)."""
    # -1 (all ink lost) -> colour 1, 0 -> 128 (white), +1 (ink added) -> 255.
    level = np.rint((output - digit) * np.float32(127.0) + np.float32(128.0))
    picture: NDArray[np.uint8] = DIVERGING_COLOURS[np.clip(level, 0, 255).astype(np.intp)]
    return picture


def bce_and_mse(digit: NDArray[np.float32], output: NDArray[np.float32]) -> tuple[float, float]:
    """Binary cross-entropy (the output clipped to [eps, 1 - eps], as Keras does) and mean
    squared error of ``output`` against ``digit``, in float64."""
    target, values = digit.astype(np.float64), output.astype(np.float64)
    clipped = np.clip(values, EPSILON, 1.0 - EPSILON)
    cross_entropy = -np.mean(target * np.log(clipped) + (1.0 - target) * np.log(1.0 - clipped))
    return float(cross_entropy), float(np.mean((values - target) ** 2))


def add_noise(digit: NDArray[np.float32], amount: float, seed: int | None) -> NDArray[np.float32]:
    """``digit + amount * N(0, 1)``, clipped to [0, 1]: the denoising lesson's corruption."""
    noise = np.random.default_rng(seed).standard_normal(digit.shape).astype(np.float32)
    return np.clip(digit + amount * noise, 0.0, 1.0).astype(np.float32)


def reconstruct_digit(
    digit: NDArray[np.float32], model: OnnxAutoencoder, options: ReconstructOptions
) -> Reconstruction:
    """A prepared 28x28 digit (float32 in [0, 1]: this module's own output, not a user's
    numbers, which `reconstruct_pixels` checks first) through ``model``."""
    noisy = add_noise(digit, options.noise, options.seed) if options.noise > 0 else None
    run = model.run((noisy if noisy is not None else digit)[np.newaxis], all_layers=options.layers)
    output = run.reconstructions[0]
    # Scored against the clean digit: what a denoiser should have recovered.
    bce, mse = bce_and_mse(digit, output)
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
        bce=bce,
        mse=mse,
        latent=run.activations[model.latent_layer][0],
        layers=layers,
    )


def reconstruct_digits(
    digits: NDArray[np.float32], model: OnnxAutoencoder, options: ReconstructOptions
) -> list[Reconstruction]:
    """Prepared digits (N x 28 x 28, float32 in [0, 1], C order) through ``model`` in one
    run: the graph's batch dimension is free, and on a GPU one run of many digits costs
    little more than one of a single digit. Each result equals `reconstruct_digit`'s for
    that digit (its noise drawn the same way, from the same seed)."""
    noisy = (
        np.stack([add_noise(digit, options.noise, options.seed) for digit in digits])
        if options.noise > 0
        else None
    )
    run = model.run(noisy if noisy is not None else digits, all_layers=options.layers)
    results = []
    for index, digit in enumerate(digits):
        output = run.reconstructions[index]
        bce, mse = bce_and_mse(digit, output)
        results.append(Reconstruction(
            model=model,
            digit=digit,
            noisy=noisy[index] if noisy is not None else None,
            output=output,
            bce=bce,
            mse=mse,
            latent=run.activations[model.latent_layer][index],
            layers=(
                [(layer, run.activations[layer.name][index]) for layer in model.layers]
                if options.layers
                else None
            ),
        ))
    return results
