"""What the autoencoder's pages and answers show of a reconstruction.

Plain functions of core results (`webapp.autoencoder.reconstruction.Reconstruction`),
called off the event loop by `webapp.server.routes.reconstruct`.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from webapp.autoencoder.answers import DigitAnswer, HeldOutDigit, ReconstructionAnswer
from webapp.autoencoder.featuremaps import grid_shape
from webapp.autoencoder.providers import is_gpu
from webapp.autoencoder.reconstruction import (
    Reconstruction,
    ReconstructOptions,
    reconstruct_digit,
    to_gray_pixels,
)
from webapp.autoencoder.registry import LayerInfo, ModelRegistry, OnnxAutoencoder
from webapp.images import encode_image
from webapp.translation import translate

CARD_PROSE = (
    ("title",), ("description",), ("training", "data", "source"),
    ("training", "data", "stratification"), ("training", "data", "scaling"),
    ("training", "schedule"), ("training", "augmentation", "decision"),
    ("training", "lesson_recipe", "explanation"),
    ("training", "lesson_recipe", "runs", "*", "label"),
)
"""The card's prose as a model's description (`OnnxAutoencoder.describe`) holds it:
``tools/catalogue.py``'s ``CARD_PROSE``, the card's fields other than title and description
being under ``training``."""


def in_reader_language(described: dict[str, Any]) -> dict[str, Any]:
    """A model's description with its card's prose in the reader's language, for a page.

    The prose is card data, not a format string (a schedule says "30% of steps"), so it is
    looked up unformatted, here, rather than with the templates' ``_()``. The JSON answers
    keep the card's English.
    """
    translated = copy.deepcopy(described)
    for path in CARD_PROSE:
        _translate_at(translated, path)
    return translated


def _translate_at(part: Any, path: tuple[str, ...]) -> None:
    head, rest = path[0], path[1:]
    children = (range(len(part)) if head == "*" and isinstance(part, list)
                else [head] if isinstance(part, dict) and head in part else [])
    for key in children:
        if rest:
            _translate_at(part[key], rest)
        elif isinstance(part[key], str) and part[key]:
            part[key] = translate(part[key])


def picture_of_output(result: Reconstruction, media_type: str = "image/png") -> bytes:
    """The reconstruction alone, as a 28x28 gray PNG."""
    return encode_image(to_gray_pixels(result.output))


def view_of_every_model(
    result: Reconstruction, *, options: ReconstructOptions, models: ModelRegistry
) -> dict[str, Any]:
    """The /reconstruct page's result fragment: this model's answer beside every model's."""
    return {"view": reconstruction_view(result, options, every_model(result, options, models))}


def digit_answer(values: NDArray[np.float32]) -> dict[str, Any]:
    """A digit's values and picture, as the templates read them."""
    return DigitAnswer.of(values).model_dump()


def reconstruction_answer(result: Reconstruction) -> dict[str, Any]:
    """The JSON answer of `/reconstruct`, as the templates read it."""
    return ReconstructionAnswer.of(result).model_dump(exclude_none=True)


def load_samples(model_dir: Path) -> tuple[NDArray[np.uint8], NDArray[np.int64]]:
    """Held-out MNIST digits (never seen in training) shipped beside the models."""
    with np.load(model_dir / "samples.npz") as samples:
        return samples["digits"], samples["labels"]


def held_out_digits(
    model_dir: Path, count: int, autoencoder: OnnxAutoencoder | None = None
) -> list[HeldOutDigit]:
    """The lesson's figure: the first ``count`` held-out digits and, with ``autoencoder``,
    what it makes of them (one batch through the model)."""
    digits, labels = load_samples(model_dir)
    chosen = digits[:count].astype(np.float32) / 255.0
    outputs = autoencoder.run(chosen).reconstructions if autoencoder is not None else None
    return [
        HeldOutDigit(
            index=index, label=int(labels[index]), **DigitAnswer.of(chosen[index]).model_dump(),
            reconstruction=None if outputs is None else DigitAnswer.of(outputs[index]),
        )
        for index in range(len(chosen))
    ]


FEATURE_MAP_SCALE = 3
"""Screen pixels per activation pixel in "Look inside": one scale for every layer, so that
the maps shrink on the way to the code and grow back, as the shapes do."""


def every_model(
    result: Reconstruction, options: ReconstructOptions, models: ModelRegistry
) -> list[Reconstruction]:
    """Every model on the digit ``result`` was made from, with the same noise (same seed)."""
    # The page shows the other models' reconstructions, not their layers.
    others = ReconstructOptions(noise=options.noise, seed=options.seed, layers=False)
    return [
        result if model is result.model else reconstruct_digit(result.digit, model, others)
        for model in models
    ]


def reconstruction_view(
    result: Reconstruction, options: ReconstructOptions, compared: list[Reconstruction]
) -> dict[str, Any]:
    """What the page shows of one reconstruction: the JSON answer's pictures and numbers,
    the code as small maps, every model side by side and, with layers, the lesson's table."""
    answer = reconstruction_answer(result)
    images = {layer["name"]: layer["image"] for layer in answer.get("layers", [])}
    return {
        "answer": answer,
        "model": result.model,
        "noise": options.noise,
        "seed": options.seed,
        "provider": provider_label(result.model.provider),
        "code": code_view(result.latent),
        "compare": [
            {"name": other.model.name, "title": other.model.card.get("title", other.model.name),
             "params": other.model.params, "image": digit_answer(other.output)["image"],
             "bce": other.bce, "mse": other.mse, "chosen": other is result}
            for other in compared
        ],
        # The table starts from what the model received: the noisy digit, if noise was added.
        "inside": layer_table(result.model, images, answer.get("noisy", answer["input"])["image"])
        if result.layers is not None else None,
    }


def code_view(latent: NDArray[np.float32]) -> dict[str, Any]:
    """The code (height x width x channels) as one small map per channel, every map on one
    grey scale from 0 (black) to the code's largest value (white), so maps compare.

    >>> code = np.array([[[0.0, 2.0]], [[1.0, 0.5]]], np.float32)   # 2 x 1 x 2
    >>> view = code_view(code)
    >>> view["maps"][1]          # channel 1, as rows of (value, grey)
    [[(2.0, 255)], [(0.5, 64)]]
    >>> view["size"], view["columns"]
    (4, 2)
    """
    height, width, channels = latent.shape
    largest = float(latent.max())
    scale = 255.0 / largest if largest > 0 else 0.0
    maps = [
        [
            [(round(float(value), 5), int(np.clip(round(float(value) * scale), 0, 255)))
             for value in latent[row, :, channel]]
            for row in range(height)
        ]
        for channel in range(channels)
    ]
    return {"maps": maps, "shape": [height, width, channels], "size": int(latent.size),
            "largest": largest, "columns": grid_shape(channels)[1]}


def layer_table(
    model: OnnxAutoencoder, images: dict[str, str], input_image: str | None = None
) -> dict[str, Any]:
    """The lesson's table for ``model``, row by row: output shape, parameters and, when a
    digit went through (``images``: layer name to its feature maps), what each layer made."""
    scale = FEATURE_MAP_SCALE
    rows: list[dict[str, Any]] = [{
        "name": "input", "type": "Input", "activation": None, "shape": [28, 28, 1],
        "params": 0, "maps": 1, "latent": False, "image": input_image,
        "width": 28 * scale, "height": 28 * scale,
    }]
    for layer in model.layers:
        rows.append(_layer_row(layer, images.get(layer.name), layer.name == model.latent_layer))
    return {"model": model.name, "rows": rows, "params": model.params}


def _layer_row(layer: LayerInfo, image: str | None, latent: bool) -> dict[str, Any]:
    height, width, channels = layer.output_shape
    grid_rows, grid_columns = grid_shape(channels)
    # feature_grid's picture: the maps in a grid, one pixel apart.
    return {
        "name": layer.name, "type": layer.type, "activation": layer.activation,
        "shape": list(layer.output_shape), "params": layer.params, "maps": channels,
        "latent": latent, "image": image,
        "width": (grid_columns * (width + 1) - 1) * FEATURE_MAP_SCALE,
        "height": (grid_rows * (height + 1) - 1) * FEATURE_MAP_SCALE,
    }


def provider_label(provider: str) -> str:
    """An onnxruntime provider as a learner would say it.

    >>> provider_label("CPUExecutionProvider"), provider_label("CUDAExecutionProvider")
    ('CPU', 'GPU (CUDA)')
    """
    name = provider.removesuffix("ExecutionProvider")
    return f"GPU ({name})" if is_gpu(provider) else name
