"""The autoencoder's JSON answers: the API's typed contract for reconstructions and models.

These pydantic models are what ``/openapi.json`` publishes and generated clients parse; each
is built from the core result it describes (`Reconstruction`, `OnnxAutoencoder`), next to it.
Shapes are ``[height, width, channels]``, the lesson's order.
"""

from __future__ import annotations

from typing import Any, Literal, Self

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, Field

from webapp.autoencoder.featuremaps import feature_grid
from webapp.autoencoder.reconstruction import (
    Reconstruction,
    error_picture,
    rounded_values,
    to_gray_pixels,
)
from webapp.autoencoder.registry import OnnxAutoencoder
from webapp.images import data_url, encode_image


class Picture(BaseModel):
    """A picture as a data URL (PNG)."""

    image: str = Field(description="A data URL: data:image/png;base64,...")


class DigitAnswer(Picture):
    """A 28x28 digit: its values and its picture."""

    pixels: list[list[float]] = Field(description="28 rows of 28 values in [0, 1].")

    @classmethod
    def of(cls, values: NDArray[np.float32]) -> Self:
        return cls(pixels=rounded_values(values),
                   image=data_url(encode_image(to_gray_pixels(values))))


class Metrics(BaseModel):
    """How far the reconstruction is from the clean digit."""

    bce: float = Field(description="Binary cross-entropy, the loss the models trained on.")
    mse: float = Field(description="Mean squared error.")


class LatentAnswer(Picture):
    """The code the encoder compressed the digit to."""

    layer: str
    shape: list[int]
    values: list[list[list[float]]]


class LayerAnswer(Picture):
    """One layer's feature maps, tiled into one picture."""

    name: str
    type: str
    shape: list[int]
    params: int


class ReconstructionAnswer(BaseModel):
    """One digit through one model: input, code, output, and how close they are."""

    model: str
    provider: str = Field(description="The onnxruntime provider the model ran on.")
    input: DigitAnswer = Field(description="Exactly the 28x28 the model was given (clean).")
    noisy: DigitAnswer | None = Field(None, description="The input with noise, when asked.")
    reconstruction: DigitAnswer
    difference: Picture = Field(description="Where the reconstruction is lighter or darker.")
    metrics: Metrics
    latent: LatentAnswer
    layers: list[LayerAnswer] | None = Field(None, description="With `layers`: every layer.")

    @classmethod
    def of(cls, result: Reconstruction) -> Self:
        return cls(
            model=result.model.name,
            provider=result.model.provider,
            input=DigitAnswer.of(result.digit),
            noisy=DigitAnswer.of(result.noisy) if result.noisy is not None else None,
            reconstruction=DigitAnswer.of(result.output),
            difference=Picture(
                image=data_url(encode_image(error_picture(result.output, result.digit)))
            ),
            metrics=Metrics(bce=result.bce, mse=result.mse),
            latent=LatentAnswer(
                layer=result.model.latent_layer,
                shape=list(result.latent.shape),
                values=np.round(result.latent.astype(np.float64), 5).tolist(),
                image=data_url(encode_image(feature_grid(result.latent))),
            ),
            layers=None if result.layers is None else [
                LayerAnswer(name=layer.name, type=layer.type, shape=list(activation.shape),
                            params=layer.params,
                            image=data_url(encode_image(feature_grid(activation))))
                for layer, activation in result.layers
            ],
        )


class BatchAnswer(BaseModel):
    """Many digits through one model, answered in the order they were sent."""

    model: str
    results: list[ReconstructionAnswer]

    @classmethod
    def of(cls, results: list[Reconstruction]) -> Self:
        return cls(model=results[0].model.name if results else "",
                   results=[ReconstructionAnswer.of(result) for result in results])


class HeldOutDigit(DigitAnswer):
    """A digit of the MNIST test split that no model saw in training."""

    index: int
    label: int = Field(description="The digit it shows, 0 to 9.")
    reconstruction: DigitAnswer | None = Field(None, description="With `model`: its rebuild.")


class LayerRow(BaseModel):
    """One row of the lesson's layer table."""

    name: str
    type: str
    activation: str | None = Field(None, description="The activation folded into the layer.")
    output_shape: list[int]
    params: int


class LatentLayer(BaseModel):
    layer: str
    shape: list[int]


class ModelDescription(BaseModel):
    """A model as `GET /models` lists it: its layer table and its training card."""

    name: str
    status: Literal["ok", "unavailable"]
    title: str | None = None
    description: str | None = None
    params: int | None = None
    latent: LatentLayer | None = None
    layers: list[LayerRow] | None = None
    metrics: dict[str, Any] | None = Field(None, description="From the model card.")
    training: dict[str, Any] | None = Field(None, description="From the model card.")
    providers: list[str] | None = None
    error: str | None = Field(None, description="Why an unavailable model did not load.")

    @classmethod
    def of(cls, model: OnnxAutoencoder) -> Self:
        return cls.model_validate(model.describe())

    @classmethod
    def unavailable(cls, name: str, error: str) -> Self:
        return cls(name=name, status="unavailable", error=error)
