"""One model from data to card: build, train, decide on augmentation, export, measure, write.

    prepare()      load MNIST, save the held-out digits, make the benchmark sets
    make_model()   one model: train (twice, for seed), export to ONNX, write its card

Seed goes first: the other models follow the augmentation decision its card records.
"""

from __future__ import annotations

import dataclasses
import json
import platform
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import onnx
import onnxruntime
import torch

from models.architectures import (
    Autoencoder,
    autoencoder,
    check_lesson_table,
    keras_summary,
    layer_table,
)
from models.training import cards
from models.training.data import (
    DRAWING_TO_DIGIT,
    SEED,
    Data,
    drawn_like_set,
    evaluation_noise,
    load_data,
    save_holdout,
)
from models.training.export import export_onnx, onnx_reconstruct
from models.training.fit import Checkpoints, torch_reconstruct, train_or_reuse
from models.training.measure import Benchmarks
from models.training.recipes import (
    LESSON_EPOCHS,
    LESSON_RECIPES,
    MODELS,
    ModelSpec,
    lesson_recipe,
)

Log = Callable[[str], None]


@dataclass(frozen=True)
class Run:
    """What every model of one `models/train.py` run shares."""

    data: Data
    benchmarks: Benchmarks
    models_dir: Path  # where the .onnx and .json files go
    epochs: int | None  # overrides every recipe's epochs (quick tries, never commits)
    checkpoints: Checkpoints
    command: str  # the command line the cards record
    log: Log


def prepare(models_dir: Path) -> tuple[Data, Benchmarks]:
    """Load the digits, save the held-out ones, and make the sets every model is measured on."""
    data = load_data()
    save_holdout(data, models_dir)
    clean = data.images(data.holdout)
    benchmarks = Benchmarks(
        clean=clean,
        drawn=drawn_like_set(data),
        clean_noise=evaluation_noise(len(clean)),
        drawn_noise=evaluation_noise(len(clean)),
    )
    return data, benchmarks


def new_model(spec: ModelSpec, seed: int) -> Autoencoder:
    """A freshly initialised model; the seed fixes its initial weights."""
    torch.manual_seed(seed)
    return autoencoder(spec.decoder, spec.channels, spec.latent)


def choose_augmentation(
    plain: dict[str, float], augmented: dict[str, float], targets: dict[str, float] | None
) -> bool:
    """Keep augmentation when it lowers held-out plus drawn-like BCE and still meets targets."""

    def meets(metrics: dict[str, float]) -> bool:
        return all(metrics[key] <= limit for key, limit in (targets or {}).items())

    if meets(augmented) != meets(plain):
        return meets(augmented)
    return augmented["val_bce"] + augmented["drawn_bce"] < plain["val_bce"] + plain["drawn_bce"]


def seed_augmentation_decision(models_dir: Path) -> dict[str, Any]:
    """The augmentation record of the seed model's card, which the other models follow."""
    path = models_dir / "seed.json"
    if not path.exists():
        raise SystemExit(f"{path} is missing: train seed first (its card decides augmentation)")
    record: dict[str, Any] = json.loads(path.read_text())["augmentation"]
    return record


def run_lesson_recipe(run: Run) -> dict[str, Any]:
    """Train the seed model the lesson's way (Adadelta, BCE, 50 epochs, batch 256), at both
    learning rates 'adadelta' has meant: the seed card's `lesson_recipe`."""
    epochs = run.epochs or LESSON_EPOCHS
    runs = []
    for label, learning_rate in LESSON_RECIPES:
        run.log(f"seed, lesson recipe ({label})")
        model = new_model(MODELS["seed"], SEED)
        seconds = train_or_reuse(
            f"seed-lesson-lr{learning_rate:g}",
            model,
            run.data.images(run.data.train),
            lesson_recipe(learning_rate, epochs),
            augmented=False,
            seed=SEED,
            log=run.log,
            checkpoints=run.checkpoints,
        )
        reconstruct = torch_reconstruct(model)
        metrics = run.benchmarks.measure(reconstruct, noisy_input=False)
        output_spread = float(reconstruct(run.benchmarks.clean).std())
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
        run.log(f"  -> val BCE {metrics['val_bce']:.4f}, output std {output_spread:.4f}")
    return cards.lesson_recipe_record(epochs, runs)


def make_model(name: str, run: Run) -> dict[str, Any]:
    """Train one model, export it to ONNX and write its card; returns the card.

    The seed model is trained twice, with and without augmentation, and the better one is
    exported; the other models follow the decision recorded in its card.
    """
    spec = MODELS[name]
    recipe = (
        spec.recipe if run.epochs is None else dataclasses.replace(spec.recipe, epochs=run.epochs)
    )
    images = run.data.images(run.data.train)
    seed = SEED + sorted(MODELS).index(name)  # each model its own, fixed stream
    decided = None if spec.compare_augmentation else seed_augmentation_decision(run.models_dir)
    variants = [False, True] if decided is None else [bool(decided["used"])]
    trained: dict[bool, tuple[Autoencoder, dict[str, float], float]] = {}
    for augmented in variants:
        run.log(f"{name}: {'with' if augmented else 'without'} augmentation")
        model = new_model(spec, seed)
        table = layer_table(model)
        if name == "seed":
            check_lesson_table(table)  # 13 layers, the lesson's shapes, 3,369 parameters
        if augmented == variants[0]:
            run.log(keras_summary(name, table))
        seconds = train_or_reuse(
            f"{name}-{'augmented' if augmented else 'plain'}",
            model,
            images,
            recipe,
            augmented=augmented,
            seed=seed,
            log=run.log,
            checkpoints=run.checkpoints,
        )
        metrics = run.benchmarks.measure(torch_reconstruct(model), noisy_input=recipe.noisy_input)
        run.log(f"  -> {metrics}")
        trained[augmented] = (model, metrics, seconds)

    if decided is None:
        (_, without, seconds_without), (_, with_, seconds_with) = trained[False], trained[True]
        use = choose_augmentation(without, with_, spec.targets)
        augmentation = cards.augmentation_trial(
            use, without, with_, (seconds_without, seconds_with)
        )
    else:
        use = variants[0]
        augmentation = cards.augmentation_followed(decided)
    model, _, seconds = trained[use]

    onnx_path = run.models_dir / f"{name}.onnx"
    export = export_onnx(model, onnx_path, run.benchmarks.clean)
    metrics = run.benchmarks.measure(onnx_reconstruct(onnx_path), noisy_input=recipe.noisy_input)
    facts = cards.Facts(
        layers=layer_table(model),
        train_size=len(run.data.train),
        holdout_size=len(run.data.holdout),
        augmentation=augmentation,
        metrics=metrics,
        training_seconds=seconds,
        export=export,
        drawing_to_digit=DRAWING_TO_DIGIT,
        torch_version=torch.__version__,
        onnx_version=onnx.__version__,
        onnxruntime_version=onnxruntime.__version__,
        machine=f"{platform.machine()}, {torch.get_num_threads()} threads",
        command=run.command,
        lesson_recipe=run_lesson_recipe(run) if name == "seed" else None,
    )
    card = cards.build_card(name, spec, facts)
    (run.models_dir / f"{name}.json").write_text(cards.card_json(card))
    missed = {
        key: metrics[key] for key, limit in (spec.targets or {}).items() if metrics[key] > limit
    }
    run.log(
        f"{name}: {metrics}, exported to {onnx_path.name}"
        + (f", MISSED {missed}" if missed else "")
    )
    return card


def missed_targets(card: dict[str, Any]) -> bool:
    """Whether a card's metrics exceed any of its targets."""
    targets: dict[str, float] = card.get("targets", {})
    return any(card["metrics"][key] > limit for key, limit in targets.items())
