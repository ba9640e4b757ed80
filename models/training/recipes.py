"""The four models, and how each one is trained: plain data, read by every other step.

    seed     the lesson's autoencoder exactly: 13 layers, 3,369 parameters, a 64-number code
    deconv   the same encoder; a decoder of transposed convolutions, also 3,369 parameters
    wide     32/32/16 channels, a 256-number code, about 30k parameters: the best quality
    denoise  the wide architecture, trained to turn noisy digits into clean ones

What each model is for, in words, is in its card's text: models/cards/<name>.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Decoder = Literal["upsampling", "transposed"]
"""How a decoder grows the code back to 28x28 (see models/architectures.py)."""


@dataclass(frozen=True)
class Recipe:
    """How a model is trained."""

    epochs: int
    batch_size: int
    learning_rate: float
    optimizer: Literal["adam", "adadelta"] = "adam"  # adadelta: the lesson's
    schedule: Literal["one-cycle", "constant"] = "one-cycle"
    noisy_input: bool = False  # True: learn noisy -> clean (the denoise model)


@dataclass(frozen=True)
class ModelSpec:
    """Everything that makes one model: architecture, recipe and the targets it must meet."""

    decoder: Decoder
    channels: tuple[int, int, int]  # the encoder's three convolutions, mirrored on the way up
    recipe: Recipe
    latent: str = "max_pooling2d_2"  # the layer whose output is the code
    targets: dict[str, float] | None = None  # issue 3's limits on the held-out metrics
    compare_augmentation: bool = False  # train with and without; the others follow seed


MODELS: dict[str, ModelSpec] = {
    "seed": ModelSpec(
        decoder="upsampling",
        channels=(16, 8, 4),
        recipe=Recipe(epochs=150, batch_size=64, learning_rate=1e-2),
        targets={"val_bce": 0.115, "val_mse": 0.018},
        compare_augmentation=True,
    ),
    "deconv": ModelSpec(
        decoder="transposed",
        channels=(16, 8, 4),
        recipe=Recipe(epochs=150, batch_size=64, learning_rate=1e-2),  # seed's recipe
    ),
    "wide": ModelSpec(
        decoder="upsampling",
        channels=(32, 32, 16),
        recipe=Recipe(epochs=40, batch_size=64, learning_rate=5e-3),
        targets={"val_bce": 0.095, "val_mse": 0.012},
    ),
    "denoise": ModelSpec(
        decoder="upsampling",
        channels=(32, 32, 16),
        recipe=Recipe(epochs=40, batch_size=64, learning_rate=5e-3, noisy_input=True),
    ),
}
"""Trained in this order by `--model all`: seed first, since its card decides augmentation."""


@dataclass(frozen=True)
class Augmentation:
    """The ranges the random training distortions are drawn from (see `fit.augment`)."""

    rotation_degrees: float = 15.0
    scale: tuple[float, float] = (0.9, 1.1)
    shift_pixels: float = 2.0
    stroke_blend: tuple[float, float] = (-0.5, 1.0)
    """Stroke thickness: -0.5 is halfway to a 3x3 min filter (thinner), 1 a 3x3 max (thicker)."""


AUGMENTATION = Augmentation()

LESSON_BATCH_SIZE = 256
LESSON_EPOCHS = 50
LESSON_RECIPES = [
    ("tf.keras default: Adadelta learning rate 0.001", 1e-3),
    ("old Keras default: Adadelta learning rate 1.0", 1.0),
]
"""The seed model trained the lesson's way (Adadelta, 50 epochs, batch 256), at the two
learning rates the word 'adadelta' has meant: the seed card's lesson_recipe."""


def lesson_recipe(learning_rate: float, epochs: int) -> Recipe:
    """The note's `model.compile(optimizer='adadelta', loss='binary_crossentropy')`."""
    return Recipe(
        epochs=epochs,
        batch_size=LESSON_BATCH_SIZE,
        learning_rate=learning_rate,
        optimizer="adadelta",
        schedule="constant",
    )
