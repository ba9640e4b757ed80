"""POST /reconstruct, GET /models, GET /samples: the MNIST autoencoders.

One route per action, answered in the format that asked: API clients get JSON (or a PNG),
the /reconstruct page (htmx, ``HX-Request``) gets an HTML fragment made from the same
core call, and a browser navigating to /models gets the models page.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Annotated, Any, TypeVar

import numpy as np
from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response
from numpy.typing import NDArray

from webapp.autoencoder.featuremaps import feature_grid, grid_shape
from webapp.autoencoder.providers import is_gpu
from webapp.autoencoder.reconstruction import (
    PixelsRequest,
    Reconstruction,
    ReconstructOptions,
    error_picture,
    reconstruct_digit,
    reconstruct_drawing,
    reconstruct_pixels,
    rounded_values,
    to_gray_pixels,
)
from webapp.autoencoder.registry import Autoencoder, LayerInfo, ModelRegistry
from webapp.errors import InvalidInput
from webapp.images import data_url, encode_image
from webapp.server.bodies import media_type, read_form, read_json, validated
from webapp.server.negotiation import json_of, preferred_media_type, wants_fragment
from webapp.server.state import app_settings, loaded_models, work_queue
from webapp.server.templating import render, wants_page

router = APIRouter(tags=["autoencoder"])
T = TypeVar("T")


_OPENAPI = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["image"],
                    "properties": {
                        "image": {"type": "string", "format": "binary",
                                  "description": "A drawing of a digit, any size."},
                        **ReconstructOptions.model_json_schema()["properties"],
                    },
                }
            },
            "application/json": {"schema": PixelsRequest.model_json_schema()},
        },
    },
    "responses": {
        "200": {"description": "The reconstruction as JSON, or as a PNG (Accept: image/png).",
                "content": {"application/json": {}, "image/png": {}}},
        "404": {"description": "Unknown model; the answer lists the valid names."},
        "422": {"description": "A blank drawing, or a field breaking a rule."},
    },
}


@router.post("/reconstruct", summary="Rebuild a digit with an autoencoder",
             openapi_extra=_OPENAPI, response_model=None)
async def reconstruct(request: Request) -> Response:
    """Send a drawing (multipart ``image``) or a ready 28x28 digit (JSON ``pixels``).

    The answer shows the exact 28x28 the model received, the compressed code, the
    reconstruction with its BCE and MSE against the clean digit, and with ``layers`` every
    layer's feature maps.
    """
    settings, queue = app_settings(request), work_queue(request)
    models = loaded_models(request)
    kind = media_type(request)
    fragment = wants_fragment(request)
    options: ReconstructOptions
    compute: Callable[[], Reconstruction]
    if kind == "application/json":
        options = pixels = validated(PixelsRequest, await read_json(request))
        compute = partial(reconstruct_pixels, pixels, models)
    elif kind == "multipart/form-data":
        data, fields = await read_form(request, file_field="image")
        options = validated(ReconstructOptions, fields)
        if fragment and options.noise > 0 and options.seed is None:
            # The page compares every model on one noisy digit: the noise needs a seed.
            options = options.model_copy(update={"seed": secrets.randbelow(2**32)})
        compute = partial(reconstruct_drawing, data, options, models,
                          max_pixels=settings.max_pixels)
    else:
        raise InvalidInput(
            "Send multipart/form-data (a drawing in `image`) or application/json "
            f"(`pixels`), not {kind or 'an untyped body'}.",
            field="body",
        )
    # One trip to the work queue both reconstructs and builds the answer (pictures encoded,
    # JSON serialised): never on the event loop, and one thread hop, not two.
    if fragment:
        view = await queue.run(
            _answered, compute, partial(_view_of_every_model, options=options, models=models)
        )
        return render(request, "partials/reconstruct_result.html", {"view": view})
    chosen = preferred_media_type(request.headers.get("accept"), ["application/json", "image/png"])
    if chosen == "image/png":
        picture = await queue.run(_answered, compute, _picture_of_output)
        return Response(picture, media_type="image/png")
    body = await queue.run(_answered, compute, partial(json_of, reconstruction_answer))
    return Response(body, media_type="application/json")


def _answered(compute: Callable[[], Reconstruction], answer: Callable[[Reconstruction], T]) -> T:
    """``answer(compute())``: the work and its answer, in one call on the work queue."""
    return answer(compute())


def _picture_of_output(result: Reconstruction) -> bytes:
    return encode_image(to_gray_pixels(result.output))


def _view_of_every_model(
    result: Reconstruction, *, options: ReconstructOptions, models: ModelRegistry
) -> dict[str, Any]:
    return reconstruction_view(result, options, _every_model(result, options, models))


def digit_answer(values: NDArray[np.float32]) -> dict[str, Any]:
    return {
        "pixels": rounded_values(values),
        "image": data_url(encode_image(to_gray_pixels(values))),
    }


def reconstruction_answer(result: Reconstruction) -> dict[str, Any]:
    """The JSON answer of `/reconstruct`; shapes are [height, width, channels]."""
    answer: dict[str, Any] = {
        "model": result.model.name,
        "provider": result.model.provider,
        "input": digit_answer(result.digit),
        "reconstruction": digit_answer(result.output),
        "difference": {"image": data_url(encode_image(error_picture(result.output,
                                                                     result.digit)))},
        "metrics": {"bce": result.bce, "mse": result.mse},
        "latent": {
            "layer": result.model.latent_layer,
            "shape": list(result.latent.shape),
            "values": np.round(result.latent.astype(np.float64), 5).tolist(),
            "image": data_url(encode_image(feature_grid(result.latent))),
        },
    }
    if result.noisy is not None:
        answer["noisy"] = digit_answer(result.noisy)
    if result.layers is not None:
        answer["layers"] = [
            {
                "name": layer.name,
                "type": layer.type,
                "shape": list(activation.shape),
                "params": layer.params,
                "image": data_url(encode_image(feature_grid(activation))),
            }
            for layer, activation in result.layers
        ]
    return answer


@router.get("/models", summary="The autoencoders, their layer tables and training cards",
            response_model=list[dict[str, Any]])
async def list_models(request: Request) -> Response:
    """Each model's layer table and card; models that failed to load say why.

    A browser navigating here (the nav bar's "Models") gets the same answer as a page.
    """
    models = loaded_models(request)
    answer = [model.describe() for model in models] + [
        {"name": name, "status": "unavailable", "error": error}
        for name, error in models.unavailable.items()
    ]
    headers = {"Vary": "Accept, Sec-Fetch-Dest"}
    if wants_page(request):
        return render(request, "models.html", {"models": answer}, headers=headers)
    return JSONResponse(answer, headers=headers)


@router.get("/models/{name}", summary="One autoencoder")
async def get_model(request: Request, name: str) -> dict[str, Any]:
    return loaded_models(request).get(name).describe()


def load_samples(model_dir: Path) -> tuple[NDArray[np.uint8], NDArray[np.int64]]:
    """Held-out MNIST digits (never seen in training) shipped beside the models."""
    with np.load(model_dir / "samples.npz") as samples:
        return samples["digits"], samples["labels"]


@router.get("/samples", summary="Held-out MNIST digits, optionally reconstructed")
async def samples(
    request: Request,
    count: Annotated[int, Query(ge=1, le=20)] = 10,
    model: Annotated[str | None, Query(description="Also reconstruct with this model")] = None,
) -> list[dict[str, Any]]:
    """The lesson's figure: the first held-out test digits, and what a model makes of them."""
    settings, queue = app_settings(request), work_queue(request)
    models = loaded_models(request)
    digits, labels = load_samples(settings.model_dir)
    chosen = digits[:count].astype(np.float32) / 255.0
    answer = [
        {"index": index, "label": int(labels[index]), **digit_answer(chosen[index])}
        for index in range(len(chosen))
    ]
    if model is not None:
        autoencoder = models.get(model)
        run = await queue.run(autoencoder.run, chosen)
        for item, output in zip(answer, run.reconstructions, strict=True):
            item["reconstruction"] = digit_answer(output)
    return answer


# --- The /reconstruct page's fragment ------------------------------------------------------

FEATURE_MAP_SCALE = 3
"""Screen pixels per activation pixel in "Look inside": one scale for every layer, so that
the maps shrink on the way to the code and grow back, as the shapes do."""


def _every_model(
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
    model: Autoencoder, images: dict[str, str], input_image: str | None = None
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
