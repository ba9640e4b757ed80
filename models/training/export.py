"""The ONNX file the app runs, and the proof that it computes what the PyTorch model does.

The file's contract with the app (webapp/autoencoder/): input "digit" (N, 1, 28, 28) in
[0, 1]; outputs "reconstruction", then every layer's activation named by the layer;
initializers `<layer>.weight` and `<layer>.bias`; metadata `convlens.layers` (the layer
list) and `convlens.latent` (which layer is the code).
"""

from __future__ import annotations

import copy
import hashlib
import json
import warnings
from pathlib import Path

import numpy as np
import onnx
import onnxruntime
import torch
from numpy.typing import NDArray

from models.architectures import Autoencoder
from models.training.cards import ExportCheck
from models.training.measure import Reconstruct

ONNX_OPSET = 17
ONNX_IR_VERSION = 8
"""IR 8 (opset 17's): onnx 1.16+ writes newer IR versions, which older onnxruntime refuses
(the app allows onnxruntime >= 1.18)."""

MAX_DIFF = 1e-5
"""How closely the exported graph must match the PyTorch model, on every output: in absolute
terms for values up to 1 (the reconstruction), relative to the output's largest value above
that (inner layers reach 45, where float32 itself only resolves steps of 4e-6)."""


def export_onnx(model: Autoencoder, path: Path, probe: NDArray[np.float32]) -> ExportCheck:
    """Write the ONNX file and prove that onnxruntime computes what PyTorch computes."""
    names = [layer.name for layer in model.layers]
    output_names = ["reconstruction", *names]
    # The TorchScript exporter (dynamo=False): torch 2.13's default torch.export-based one
    # writes an invalid graph (a Conv and its Relu share one output name) when the outputs
    # are named after layers (pytorch/pytorch#158094, #168211), and cannot target opset 17.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(
            model,
            (torch.from_numpy(probe[:2]),),
            str(path),
            dynamo=False,
            opset_version=ONNX_OPSET,
            input_names=["digit"],
            output_names=output_names,
            dynamic_axes={name: {0: "batch"} for name in ["digit", *output_names]},
        )
    graph_model = onnx.load(str(path))
    graph_model.ir_version = ONNX_IR_VERSION
    graph_model.producer_name = "convlens models/train.py"
    layers = [
        {"name": layer.name, "type": layer.kind, "activation": layer.activation}
        for layer in model.layers
    ]
    onnx.helper.set_model_props(
        graph_model, {"convlens.layers": json.dumps(layers), "convlens.latent": model.latent}
    )
    _check_initializer_names(graph_model, model)
    onnx.checker.check_model(graph_model, full_check=True)
    onnx.save(graph_model, str(path))

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    produced = session.run(None, {"digit": probe})
    # The reference is the PyTorch model in float64, i.e. the exact answer: two float32
    # implementations that sum in different orders each differ from it by rounding.
    exact = copy.deepcopy(model).double()
    with torch.no_grad():
        expected = [output.numpy() for output in exact(torch.from_numpy(probe).double())]
    differences = {
        name: float(np.abs(got - want).max())
        for name, got, want in zip(output_names, produced, expected, strict=True)
    }
    scaled = {
        name: differences[name] / max(1.0, float(np.abs(want).max()))
        for name, want in zip(output_names, expected, strict=True)
    }
    if max(scaled.values()) > MAX_DIFF:
        raise SystemExit(f"{path.name}: onnxruntime differs from PyTorch: {differences}")
    return ExportCheck(
        sha256=sha256(path),
        opset=ONNX_OPSET,
        ir_version=ONNX_IR_VERSION,
        outputs=[output.name for output in session.get_outputs()],
        tolerance=MAX_DIFF,
        max_abs_diff=max(differences.values()),
        max_scaled_diff=max(scaled.values()),
        max_abs_diff_by_output={name: float(f"{value:.3g}") for name, value in differences.items()},
    )


def _check_initializer_names(graph_model: onnx.ModelProto, model: Autoencoder) -> None:
    """Fail unless every parameter is an initializer named `<layer>.weight` / `<layer>.bias`."""
    initializers = {init.name: int(np.prod(init.dims)) for init in graph_model.graph.initializer}
    expected = {name: param.numel() for name, param in model.named_parameters()}
    missing = {name: size for name, size in expected.items() if initializers.get(name) != size}
    if missing:
        raise SystemExit(f"initializers renamed by the exporter: {sorted(missing)} not found")


def sha256(path: Path) -> str:
    """The file's SHA-256, which the card records and the tests compare."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def onnx_reconstruct(path: Path) -> Reconstruct:
    """The exported file as a numpy function: the metrics on a card are measured this way."""
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])

    def run(batch: NDArray[np.float32]) -> NDArray[np.float32]:
        reconstruction: NDArray[np.float32] = session.run(["reconstruction"], {"digit": batch})[0]
        return reconstruction

    return run
