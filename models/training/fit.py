"""Training: the augmentation, the loop, and the checkpoints that let a run be redone.

    augment()          random small rotations, scalings, shifts and stroke changes
    train()            the loop: shuffle, (augment), (add noise), BCE, step, schedule
    train_or_reuse()   train, or load the weights an identical earlier run kept

Every random draw comes from a seeded generator, so the same recipe gives the same weights.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
from numpy.typing import NDArray
from torch.nn import functional

from models.architectures import Autoencoder
from models.training.data import NOISE_FACTOR
from models.training.measure import Reconstruct
from models.training.recipes import AUGMENTATION, Recipe


def augment(batch: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Random small rotations, scalings, shifts and stroke-thickness changes.

    A digit drawn in the app reaches the model centred and scaled by the preprocessing, but
    tilted, thicker or thinner than MNIST's: this shows the model such digits while training.
    """
    count = batch.shape[0]

    def uniform(low: float, high: float) -> torch.Tensor:
        return low + (high - low) * torch.rand(count, generator=generator)

    rotation = AUGMENTATION.rotation_degrees
    angle = torch.deg2rad(uniform(-rotation, rotation))
    scale = uniform(*AUGMENTATION.scale)
    # affine_grid works in [-1, 1] coordinates, where one pixel is 2 / 28 wide.
    shift = AUGMENTATION.shift_pixels * 2 / 28
    shift_x, shift_y = uniform(-shift, shift), uniform(-shift, shift)
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack(
        [torch.stack([cos, -sin, shift_x], 1), torch.stack([sin, cos, shift_y], 1)], 1
    )
    grid = functional.affine_grid(theta, list(batch.shape), align_corners=False)
    moved = functional.grid_sample(batch, grid, mode="bilinear", align_corners=False)
    # Stroke thickness: blend with a 3x3 dilation (thicker) or erosion (thinner).
    thicker = functional.max_pool2d(moved, 3, stride=1, padding=1)
    thinner = -functional.max_pool2d(-moved, 3, stride=1, padding=1)
    blend = uniform(*AUGMENTATION.stroke_blend).view(-1, 1, 1, 1)
    return torch.where(
        blend > 0, moved + blend * (thicker - moved), moved - blend * (thinner - moved)
    )


def _optimizer(model: Autoencoder, recipe: Recipe) -> torch.optim.Optimizer:
    if recipe.optimizer == "adam":
        return torch.optim.Adam(model.parameters(), lr=recipe.learning_rate)
    # Keras's Adadelta: rho 0.95, epsilon 1e-7 (PyTorch's defaults are 0.9 and 1e-6).
    return torch.optim.Adadelta(model.parameters(), lr=recipe.learning_rate, rho=0.95, eps=1e-7)


def train(
    model: Autoencoder,
    images: NDArray[np.float32],
    recipe: Recipe,
    *,
    augmented: bool,
    seed: int,
    log: Callable[[str], None],
) -> float:
    """Train in place; returns the wall-clock seconds it took."""
    generator = torch.Generator().manual_seed(seed)
    # channels_last runs these small convolutions about twice as fast on CPU (oneDNN); the
    # cast because torch's stubs lack Module.to's memory_format keyword.
    cast(Any, model).to(memory_format=torch.channels_last)
    data = torch.from_numpy(images).contiguous(memory_format=torch.channels_last)
    steps_per_epoch = math.ceil(len(data) / recipe.batch_size)
    optimizer = _optimizer(model, recipe)
    scheduler = None
    if recipe.schedule == "one-cycle":
        scheduler = torch.optim.lr_scheduler.OneCycleLR(
            optimizer, max_lr=recipe.learning_rate, total_steps=recipe.epochs * steps_per_epoch
        )
    start = time.perf_counter()
    model.train()
    for epoch in range(recipe.epochs):
        order = torch.randperm(len(data), generator=generator)
        total = 0.0
        for step in range(steps_per_epoch):
            target = data[order[step * recipe.batch_size : (step + 1) * recipe.batch_size]]
            if augmented:
                target = augment(target, generator)
            model_input = target
            if recipe.noisy_input:
                noise = torch.randn(target.shape, generator=generator)
                model_input = (target + NOISE_FACTOR * noise).clamp(0.0, 1.0)
            loss = functional.binary_cross_entropy(model.reconstruct(model_input), target)
            optimizer.zero_grad()
            torch.autograd.backward(loss)
            optimizer.step()
            if scheduler is not None:
                scheduler.step()
            total += loss.item() * len(target)
        if (epoch + 1) % 10 == 0 or epoch + 1 == recipe.epochs:
            seconds = time.perf_counter() - start
            loss_mean = total / len(data)
            log(f"  epoch {epoch + 1:>3}/{recipe.epochs}  BCE {loss_mean:.4f}  {seconds:.0f} s")
    model.eval()
    cast(Any, model).to(memory_format=torch.contiguous_format)
    return time.perf_counter() - start


@dataclass(frozen=True)
class Checkpoints:
    """Where trained weights are kept, and whether to reuse them instead of training."""

    directory: Path
    reuse: bool


def train_or_reuse(
    label: str,
    model: Autoencoder,
    images: NDArray[np.float32],
    recipe: Recipe,
    *,
    augmented: bool,
    seed: int,
    log: Callable[[str], None],
    checkpoints: Checkpoints,
) -> float:
    """Train (see `train`), keeping the weights in `checkpoints`; reuse them when asked.

    Training is deterministic, so reusing weights gives the same files as training again:
    it lets a failed export or a card change be redone without the half hour of training.
    The checkpoint's name holds everything that decides the weights.
    """
    key = json.dumps(
        [
            label,
            dataclasses.asdict(recipe),
            augmented,
            dataclasses.asdict(AUGMENTATION),
            seed,
            torch.__version__,
            str(model),
        ],
        sort_keys=True,
    )
    path = checkpoints.directory / f"{label}-{hashlib.sha256(key.encode()).hexdigest()[:16]}.pt"
    if checkpoints.reuse and path.exists():
        saved = torch.load(path, weights_only=True)
        model.load_state_dict(saved["state_dict"])
        model.eval()
        log(f"  reused {path}")
        return float(saved["seconds"])
    seconds = train(model, images, recipe, augmented=augmented, seed=seed, log=log)
    checkpoints.directory.mkdir(parents=True, exist_ok=True)
    torch.save({"state_dict": model.state_dict(), "seconds": seconds}, path)
    return seconds


def torch_reconstruct(model: Autoencoder) -> Reconstruct:
    """The model as a numpy function, for measuring before export."""

    def run(images: NDArray[np.float32]) -> NDArray[np.float32]:
        with torch.no_grad():
            reconstruction: NDArray[np.float32] = model.reconstruct(
                torch.from_numpy(images)
            ).numpy()
        return reconstruction

    return run
