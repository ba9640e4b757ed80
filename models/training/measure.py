"""The metrics every model is judged by: BCE and MSE on the held-out digits and on their
drawn-like versions, the same whether the model runs in PyTorch or in onnxruntime."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from models.training.data import add_noise

CLIP = 1e-7
"""Outputs are clipped to [1e-7, 1 - 1e-7] before the log in BCE, as Keras does."""

Reconstruct = Callable[[NDArray[np.float32]], NDArray[np.float32]]
"""A model as a numpy function: (N, 1, 28, 28) digits in, their reconstructions out."""


def reconstruction_metrics(
    reconstruction: NDArray[np.float32], target: NDArray[np.float32]
) -> dict[str, float]:
    """BCE (outputs clipped to [1e-7, 1 - 1e-7]) and MSE, means over every pixel."""
    output = np.clip(reconstruction.astype(np.float64), CLIP, 1.0 - CLIP)
    clean = target.astype(np.float64)
    bce = -(clean * np.log(output) + (1.0 - clean) * np.log(1.0 - output)).mean()
    return {"bce": float(bce), "mse": float(((output - clean) ** 2).mean())}


@dataclass
class Benchmarks:
    """What every model is measured on: held-out digits and their drawn-like versions."""

    clean: NDArray[np.float32]
    drawn: NDArray[np.float32]
    clean_noise: NDArray[np.float64] = field(repr=False)
    drawn_noise: NDArray[np.float64] = field(repr=False)

    def measure(self, run: Reconstruct, *, noisy_input: bool) -> dict[str, float]:
        """val_bce, val_mse, drawn_bce, drawn_mse; noisy inputs (clean targets) for denoise."""
        metrics: dict[str, float] = {}
        for prefix, images, noise in [
            ("val", self.clean, self.clean_noise),
            ("drawn", self.drawn, self.drawn_noise),
        ]:
            model_input = add_noise(images, noise) if noisy_input else images
            for key, value in reconstruction_metrics(run(model_input), images).items():
                metrics[f"{prefix}_{key}"] = round(value, 6)
        return metrics
