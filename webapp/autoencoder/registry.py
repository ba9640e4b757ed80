"""Autoencoders: the trained MNIST models, loaded once, run on the best provider.

Each model is an ONNX file written by ``models/train.py`` and a model card beside it
(``models/<name>.json``). The graph takes ``digit`` (N x 1 x 28 x 28, ink in [0, 1]) and
gives ``reconstruction`` plus every layer's activation as extra outputs, so that a learner
can look inside. The graph's metadata names the layers (``convlens.layers``) and the one
whose output is the compressed code (``convlens.latent``).

Everything convlens knows about a model's layers is read from the graph itself: output
shapes from a real run, parameters from the initializers (``<layer>.weight``,
``<layer>.bias``). Nothing else in the app touches onnxruntime.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime
from numpy.typing import NDArray

from webapp.autoencoder.onnxfile import MalformedOnnx, initializer_shapes
from webapp.autoencoder.providers import (
    ALIASES,
    CPU,
    choose_providers,
    is_gpu,
    needs_cuda_libraries,
    with_options,
)
from webapp.errors import ModelUnavailable, UnknownName
from webapp.translation import gettext as _

logger = logging.getLogger("convlens")

DIGIT_SHAPE = (28, 28)
PREFERRED_ORDER = ("seed", "deconv", "wide", "denoise")
"""How the models are listed: the lesson's own first."""


_cuda_libraries_loaded = False
"""Whether this process has called ``onnxruntime.preload_dlls`` (once is enough)."""


def load_cuda_libraries() -> str:
    """Load the CUDA and cuDNN libraries of the ``nvidia-*`` wheels, once per process,
    before any session: onnxruntime-gpu finds them only this way, or its CUDA provider
    falls back to the CPU. Returns what happened, for `/health`: "preloaded", or why not.

    onnxruntime builds older than 1.21 lack ``preload_dlls``; they find CUDA through the
    system's library path, as a CUDA container image sets it.
    """
    global _cuda_libraries_loaded
    preload = getattr(onnxruntime, "preload_dlls", None)
    if preload is None:
        return f"onnxruntime {onnxruntime.__version__} has no preload_dlls"
    if not _cuda_libraries_loaded:
        preload()
        _cuda_libraries_loaded = True
    return "preloaded"


class ModelLoadError(RuntimeError):
    """A model file that is missing, corrupt or not what convlens expects (start-up)."""


@dataclass(frozen=True)
class LayerInfo:
    """One layer as Keras prints it: a conv and its activation count as one."""

    name: str
    type: str
    activation: str | None
    output_shape: tuple[int, int, int]
    """Height, width, channels: the lesson's order (the graph itself is NCHW)."""
    params: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type,
            "activation": self.activation,
            "output_shape": list(self.output_shape),
            "params": self.params,
        }


@dataclass(frozen=True)
class ModelRun:
    """What one batch of digits became, layer by layer (NHWC arrays)."""

    reconstructions: NDArray[np.float32]
    """N x 28 x 28, in [0, 1]."""
    activations: dict[str, NDArray[np.float32]]
    """Layer name to N x H x W x C; only the latent layer unless all layers were asked for."""


class OnnxAutoencoder:
    """One model: its inference session, its layer table and its card."""

    def __init__(self, name: str, path: Path, providers: list[str]) -> None:
        self.name = name
        self.path = path
        card_path = path.with_suffix(".json")
        try:
            self.card: dict[str, Any] = json.loads(card_path.read_text())
        except (OSError, ValueError) as error:
            raise ModelLoadError(f"Model card {card_path} could not be read: {error}") from None
        options = onnxruntime.SessionOptions()
        # One digit is a few million multiply-adds: a thread pool per request costs more
        # than it saves, and the work queue already runs requests side by side.
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        try:
            self.session = onnxruntime.InferenceSession(
                str(path), sess_options=options, providers=with_options(providers)
            )
        except Exception as error:
            raise ModelLoadError(f"Model file {path} could not be loaded: {error}") from None
        self.providers: list[str] = list(self.session.get_providers())
        metadata = self.session.get_modelmeta().custom_metadata_map
        try:
            specs = json.loads(metadata["convlens.layers"])
            self.latent_layer: str = metadata["convlens.latent"]
        except (KeyError, ValueError):
            raise ModelLoadError(
                f"Model file {path} lacks convlens.layers/convlens.latent metadata; "
                "export it with models/train.py."
            ) from None
        outputs = [output.name for output in self.session.get_outputs()]
        if outputs[0] != "reconstruction" or self.latent_layer not in outputs:
            raise ModelLoadError(f"Model file {path} has unexpected outputs {outputs}.")
        params = self._params_per_layer()
        # The real shapes: one blank digit through the whole graph.
        blank = self.session.run(None, {"digit": np.zeros((1, 1, *DIGIT_SHAPE), np.float32)})
        shapes = {name: value.shape[1:] for name, value in zip(outputs, blank, strict=True)}
        self.layers = [
            LayerInfo(
                name=spec["name"],
                type=spec["type"],
                activation=spec.get("activation"),
                output_shape=(shapes[spec["name"]][1], shapes[spec["name"]][2],
                              shapes[spec["name"]][0]),
                params=params.get(spec["name"], 0),
            )
            for spec in specs
        ]
        # Only the layers' own weights: constants such as a resize's scales are not parameters.
        self.params = sum(layer.params for layer in self.layers)

    def _params_per_layer(self) -> dict[str, int]:
        """Weights per layer, counted from the graph's initializers (``layer.weight``)."""
        counts: dict[str, int] = {}
        try:
            shapes = initializer_shapes(self.path)
        except MalformedOnnx as error:
            raise ModelLoadError(f"Model file {self.path} is malformed: {error}") from None
        for name, shape in shapes.items():
            layer = name.rsplit(".", 1)[0]
            counts[layer] = counts.get(layer, 0) + math.prod(shape)
        return counts

    @property
    def provider(self) -> str:
        """The provider the model's layers run on (the first one the session kept)."""
        return self.providers[0]

    def run(self, digits: NDArray[np.float32], *, all_layers: bool = False) -> ModelRun:
        """Reconstruct ``digits`` (N x 28 x 28, in [0, 1])."""
        names = ["reconstruction", self.latent_layer]
        if all_layers:
            names += [layer.name for layer in self.layers if layer.name != self.latent_layer]
        batch = np.ascontiguousarray(digits, dtype=np.float32)[:, np.newaxis, :, :]
        values = self.session.run(names, {"digit": batch})
        activations = {
            name: np.ascontiguousarray(value.transpose(0, 2, 3, 1))
            for name, value in zip(names[1:], values[1:], strict=True)
        }
        return ModelRun(reconstructions=values[0][:, 0], activations=activations)

    def describe(self) -> dict[str, Any]:
        """What `GET /models` says about this model."""
        card = self.card
        return {
            "name": self.name,
            "status": "ok",
            "title": card.get("title", self.name),
            "description": card.get("description", ""),
            "params": self.params,
            "latent": {"layer": self.latent_layer,
                       "shape": list(self._layer(self.latent_layer).output_shape)},
            "layers": [layer.as_dict() for layer in self.layers],
            "metrics": card.get("metrics", {}),
            "training": {
                key: card[key]
                for key in ("data", "augmentation", "epochs", "batch_size", "optimizer",
                            "schedule", "training_seconds", "command", "lesson_recipe",
                            "onnx_sha256")
                if key in card
            },
            "providers": self.providers,
        }

    def _layer(self, name: str) -> LayerInfo:
        return next(layer for layer in self.layers if layer.name == name)


class ModelRegistry:
    """Every model in the model folder, loaded once at start-up."""

    def __init__(
        self,
        model_dir: Path,
        *,
        providers: str | None = None,
        require_gpu: bool = False,
        skip_broken: bool = False,
    ) -> None:
        available = onnxruntime.get_available_providers()
        self.available_providers = list(available)
        self.requested_providers = choose_providers(available, providers)
        self.warnings: list[str] = []
        self.cuda_libraries = "not needed"
        if needs_cuda_libraries(available, providers):
            try:
                self.cuda_libraries = load_cuda_libraries()
            except Exception as error:
                # A library that will not load: the GPU sessions fail, and fall back below.
                self.cuda_libraries = f"preload_dlls failed: {error}"
                self._warn(f"onnxruntime.preload_dlls failed: {error}")
        for name in (providers or "").split(","):
            full_name = ALIASES.get(name.strip().lower(), name.strip())
            if full_name and full_name not in available:
                self._warn(f"CONVLENS_PROVIDERS: {full_name} is not in this onnxruntime "
                           f"({', '.join(available)}); skipped")
        self.models: dict[str, OnnxAutoencoder] = {}
        self.unavailable: dict[str, str] = {}
        paths = sorted(model_dir.glob("*.onnx"), key=_model_order)
        if not paths:
            message = f"No models (*.onnx) in {model_dir}; set CONVLENS_MODEL_DIR."
            if not skip_broken:
                raise ModelLoadError(message)
            logger.error(message)
        for path in paths:
            try:
                model = self._load(path)
            except ModelLoadError as error:
                if not skip_broken:
                    raise
                logger.error("model %s unavailable: %s", path.stem, error)
                self.unavailable[path.stem] = str(error)
                continue
            wanted_gpu = [p for p in self.requested_providers if is_gpu(p)]
            if wanted_gpu and not any(is_gpu(p) for p in model.providers):
                self._warn(f"model {path.stem}: {', '.join(wanted_gpu)} failed to load; "
                           "running on the CPU")
            self.models[path.stem] = model
        if require_gpu and not any(
            is_gpu(p) for model in self.models.values() for p in model.providers
        ):
            raise ModelLoadError(
                "CONVLENS_REQUIRE_GPU is set but no model runs on a GPU provider (available: "
                f"{self.available_providers}). Install onnxruntime-gpu with CUDA, or unset it."
            )

    def _load(self, path: Path) -> OnnxAutoencoder:
        """The model at ``path`` on the requested providers, or on the CPU alone when a GPU
        provider makes the session fail outright (onnxruntime usually falls back by itself,
        but not for every failure)."""
        try:
            return OnnxAutoencoder(path.stem, path, self.requested_providers)
        except ModelLoadError as error:
            if not any(is_gpu(provider) for provider in self.requested_providers):
                raise
            model = OnnxAutoencoder(path.stem, path, [CPU])
            self._warn(f"model {path.stem}: GPU providers failed ({error}); running on the CPU")
            return model

    def _warn(self, message: str) -> None:
        """A warning for the log and for /health, where an operator looks first."""
        logger.warning(message)
        self.warnings.append(message)

    def __iter__(self) -> Iterator[OnnxAutoencoder]:
        return iter(self.models.values())

    def get(self, name: str) -> OnnxAutoencoder:
        """The model called ``name``, or an error listing the valid names."""
        if name in self.models:
            return self.models[name]
        if name in self.unavailable:
            raise ModelUnavailable(
                _("Model %(name)s is unavailable: %(reason)s", name=repr(name),
                  reason=self.unavailable[name]),
                field="model",
            )
        raise UnknownName("model", name, list(self.models), field="model")

    def health(self) -> dict[str, Any]:
        """The providers part of `/health`: what could run, what does run."""
        return {
            "providers": {
                "available": self.available_providers,
                "requested": self.requested_providers,
                "cuda_libraries": self.cuda_libraries,
                "warnings": self.warnings,
            },
            "models": {
                **{
                    model.name: {"status": "ok", "providers": model.providers,
                                 "active": model.provider}
                    for model in self
                },
                **{
                    name: {"status": "unavailable", "error": error}
                    for name, error in self.unavailable.items()
                },
            },
        }


def _model_order(path: Path) -> tuple[int, str]:
    name = path.stem
    rank = PREFERRED_ORDER.index(name) if name in PREFERRED_ORDER else len(PREFERRED_ORDER)
    return (rank, name)
