"""The model card (models/<name>.json): what a model is, how it was made, how well it does.

A card is two things put together: the facts a run measured or produced (`Facts`: the
layer table, metrics, the export's check, versions) and words. The words are not here: they
are in models/cards/, `common.md` for what every card says and `<name>.md` for one model.
Each `## key` section there is one paragraph, and `key` is where it lands in the card
(`## data.source` becomes card["data"]["source"]); `{placeholders}` are filled with numbers
from the recipe and the run.

No torch here: the test suite rebuilds the committed cards from their own facts and checks
that the words come out unchanged.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from models.training.data import (
    HOLDOUT_PATH,
    HOLDOUT_PER_CLASS,
    NOISE_FACTOR,
    NOISE_SEED,
    ROOT,
    SEED,
)
from models.training.recipes import AUGMENTATION, LESSON_BATCH_SIZE, ModelSpec, Recipe

CARDS_DIR = Path(__file__).resolve().parent.parent / "cards"

MODEL_KEYS = {
    "title",
    "description",
    "architecture.why",
    "lesson_recipe.recipe",
    "lesson_recipe.explanation",
}
"""The sections a model's own file may hold; the rest are in common.md."""


@dataclass(frozen=True)
class ExportCheck:
    """How the ONNX file was written, and how closely onnxruntime matches PyTorch on it."""

    sha256: str
    opset: int
    ir_version: int
    outputs: list[str]
    tolerance: float  # the largest difference allowed, scaled as export.MAX_DIFF says
    max_abs_diff: float
    max_scaled_diff: float
    max_abs_diff_by_output: dict[str, float]


@dataclass(frozen=True)
class Facts:
    """Everything on a card that a run measured or produced, rather than wrote in words."""

    layers: list[dict[str, Any]]  # architectures.layer_table
    train_size: int
    holdout_size: int
    augmentation: dict[str, Any]  # augmentation_trial or augmentation_followed
    metrics: dict[str, float]
    training_seconds: float
    export: ExportCheck
    drawing_to_digit: str  # where the app's drawing preprocessing lived for this run
    torch_version: str
    onnx_version: str
    onnxruntime_version: str
    machine: str
    command: str
    lesson_recipe: dict[str, Any] | None = None  # the seed model's: lesson_recipe_record


def read_text(path: Path) -> dict[str, str]:
    """The `## key` sections of a card text file, each one paragraph on one line.

    What comes before the first section is for the file's reader and is skipped.
    """
    sections: dict[str, list[str]] = {}
    lines: list[str] | None = None
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if line.startswith("## "):
            key = line[3:].strip()
            if key in sections:
                raise ValueError(f"{path}:{number}: section {key!r} appears twice")
            lines = sections[key] = []
        elif lines is not None:
            if line.strip():
                if lines and lines[-1] == "":
                    raise ValueError(f"{path}:{number}: a section holds one paragraph")
                lines.append(line.strip())
            elif lines:
                lines.append("")
    return {key: " ".join(line for line in lines if line) for key, lines in sections.items()}


def card_text(name: str) -> dict[str, str]:
    """Every paragraph of one model's card: common.md, then models/cards/<name>.md."""
    common = read_text(CARDS_DIR / "common.md")
    own = read_text(CARDS_DIR / f"{name}.md")
    if misplaced := set(own) - MODEL_KEYS:
        raise ValueError(f"{name}.md: {sorted(misplaced)} belong in common.md")
    return common | own


def describe_recipe(recipe: Recipe, text: dict[str, str]) -> dict[str, Any]:
    """The recipe as the card records it: epochs, batch size, optimizer, schedule, loss."""
    optimizer: dict[str, Any]
    if recipe.optimizer == "adam":
        optimizer = {"name": "Adam", "betas": [0.9, 0.999], "eps": 1e-8}
    else:
        optimizer = {"name": "Adadelta", "rho": 0.95, "eps": 1e-7}
    # OneCycleLR's defaults: it starts at max_lr / 25 and ends at that / 1e4.
    schedule = text[f"schedule.{recipe.schedule}"].format(
        learning_rate=recipe.learning_rate,
        start=recipe.learning_rate / 25,
        end=recipe.learning_rate / 25e4,
    )
    return {
        "epochs": recipe.epochs,
        "batch_size": recipe.batch_size,
        "optimizer": optimizer | {"learning_rate": recipe.learning_rate},
        "schedule": schedule,
        "loss": text["loss"],
    }


def transforms_record(text: dict[str, str]) -> dict[str, Any]:
    """The augmentation's ranges, as every card lists them."""
    rotation, shift = AUGMENTATION.rotation_degrees, AUGMENTATION.shift_pixels
    return {
        "rotation_degrees": [-rotation, rotation],
        "scale": list(AUGMENTATION.scale),
        "shift_pixels": [-shift, shift],
        "stroke_blend": list(AUGMENTATION.stroke_blend),
        "stroke": text["augmentation.transforms.stroke"],
        "applied_to": text["augmentation.transforms.applied_to"],
    }


def augmentation_trial(
    use: bool,
    without: dict[str, float],
    with_: dict[str, float],
    seconds: tuple[float, float],
) -> dict[str, Any]:
    """The seed card's record of training without and with augmentation, and what was kept.

    `seconds` is the training time (without, with).
    """
    text = read_text(CARDS_DIR / "common.md")
    decision = text["augmentation.decision"].format(
        kept="with" if use else "without",
        val_bce_change=with_["val_bce"] - without["val_bce"],
        drawn_bce_change=with_["drawn_bce"] - without["drawn_bce"],
    )
    return {
        "used": use,
        "transforms": transforms_record(text),
        "without": without,
        "with": with_,
        "training_seconds": {"without": round(seconds[0], 1), "with": round(seconds[1], 1)},
        "change_with_augmentation": {key: round(with_[key] - without[key], 6) for key in without},
        "rule": text["augmentation.rule"],
        "decision": decision,
    }


def augmentation_followed(seed_record: dict[str, Any]) -> dict[str, Any]:
    """The other cards' record: they follow the decision in the seed card's `augmentation`."""
    text = read_text(CARDS_DIR / "common.md")
    return {
        "used": bool(seed_record["used"]),
        "transforms": transforms_record(text),
        "decided_on": "seed",
        "decision": text["augmentation.followed"].format(decision=seed_record["decision"]),
    }


def lesson_recipe_record(epochs: int, runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The seed card's `lesson_recipe`: the lesson's own recipe at both learning rates."""
    text = card_text("seed")
    return {
        "recipe": text["lesson_recipe.recipe"].format(epochs=epochs, batch_size=LESSON_BATCH_SIZE),
        "runs": runs,
        "explanation": text["lesson_recipe.explanation"],
    }


def build_card(name: str, spec: ModelSpec, facts: Facts) -> dict[str, Any]:
    """The model card: what the model is, how it was made, and how well it does."""
    text = card_text(name)
    values = {
        "holdout_per_class": HOLDOUT_PER_CLASS,
        "noise_factor": NOISE_FACTOR,
        "noise_seed": NOISE_SEED,
        "holdout_size": facts.holdout_size,
        "drawing_to_digit": facts.drawing_to_digit,
        "tolerance": facts.export.tolerance,
    }

    def words(key: str) -> str:
        return text[key].format_map(values)

    latent = next(row for row in facts.layers if row["name"] == spec.latent)
    card: dict[str, Any] = {
        "name": name,
        "title": words("title"),
        "description": words("description"),
        "architecture": {
            "input_shape": [28, 28, 1],
            "layers": facts.layers,
            "latent": {
                "layer": spec.latent,
                "shape": latent["output_shape"],
                "size": math.prod(latent["output_shape"]),
            },
        },
        "params": sum(row["params"] for row in facts.layers),
    }
    if "architecture.why" in text:
        card["architecture"]["why"] = words("architecture.why")
    card["data"] = {
        "source": words("data.source"),
        "train_size": facts.train_size,
        "holdout_size": facts.holdout_size,
        "stratification": words("data.stratification"),
        "split_seed": SEED,
        "holdout_file": HOLDOUT_PATH.relative_to(ROOT).as_posix(),
        "scaling": words("data.scaling"),
    }
    if spec.recipe.noisy_input:
        card["data"]["noise"] = {
            "factor": NOISE_FACTOR,
            "evaluation_seed": NOISE_SEED,
            "training": words("data.noise.training"),
            "evaluation": words("data.noise.evaluation"),
        }
    card["augmentation"] = facts.augmentation
    card |= describe_recipe(spec.recipe, text)
    card["metrics"] = facts.metrics
    card["metrics_note"] = words("metrics_note")
    if spec.targets:
        card["targets"] = spec.targets
    export = facts.export
    card |= {
        "training_seconds": round(facts.training_seconds, 1),
        "onnx_file": f"models/{name}.onnx",
        "onnx_sha256": export.sha256,
        "onnx_opset": export.opset,
        "onnx_ir_version": export.ir_version,
        "onnx_outputs": export.outputs,
        "max_abs_diff_vs_pytorch": export.max_abs_diff,
        "max_abs_diff_vs_pytorch_by_output": export.max_abs_diff_by_output,
        "max_scaled_diff_vs_pytorch": export.max_scaled_diff,
        "export_check": words("export_check"),
        "torch_version": facts.torch_version,
        "onnx_version": facts.onnx_version,
        "onnxruntime_version": facts.onnxruntime_version,
        "machine": facts.machine,
        "command": facts.command,
    }
    if facts.lesson_recipe is not None:
        card["lesson_recipe"] = facts.lesson_recipe
    return card


def card_json(card: dict[str, Any]) -> str:
    """The card as models/<name>.json holds it."""
    return json.dumps(card, indent=2) + "\n"


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
