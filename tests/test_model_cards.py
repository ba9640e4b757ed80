"""The card builder (models/training/cards.py) writes the committed cards word for word.

Each committed card is rebuilt from its own measured facts (layer table, metrics, the
export's check, versions) plus the recipes and the words in models/cards/*.md, and must come
out byte-identical: moving or editing the words cannot silently change what a card says.
No torch needed: the card builder imports none.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from models.training import cards
from models.training.recipes import LESSON_EPOCHS, MODELS

MODELS_DIR = Path(__file__).resolve().parent.parent / "models"

TRAINED_WITH_DRAWING_TO_DIGIT = "webapp.preprocessing.drawing_to_digit"
"""Where the drawing preprocessing lived when the committed models were trained (it has
since moved to webapp.autoencoder.preprocessing); their cards name it so."""


def committed(name: str) -> tuple[str, dict[str, Any]]:
    text = (MODELS_DIR / f"{name}.json").read_text()
    card: dict[str, Any] = json.loads(text)
    return text, card


def augmentation_of(name: str, card: dict[str, Any]) -> dict[str, Any]:
    """The augmentation record, rebuilt from the numbers the card measured."""
    record = card["augmentation"]
    if "decided_on" in record:
        return cards.augmentation_followed(committed(record["decided_on"])[1]["augmentation"])
    seconds = record["training_seconds"]
    return cards.augmentation_trial(
        record["used"], record["without"], record["with"], (seconds["without"], seconds["with"])
    )


def facts_of(name: str, card: dict[str, Any]) -> cards.Facts:
    """What the run behind a committed card measured and produced."""
    lesson = card.get("lesson_recipe")
    return cards.Facts(
        layers=card["architecture"]["layers"],
        train_size=card["data"]["train_size"],
        holdout_size=card["data"]["holdout_size"],
        augmentation=augmentation_of(name, card),
        metrics=card["metrics"],
        training_seconds=card["training_seconds"],
        export=cards.ExportCheck(
            sha256=card["onnx_sha256"],
            opset=card["onnx_opset"],
            ir_version=card["onnx_ir_version"],
            outputs=card["onnx_outputs"],
            tolerance=1e-5,  # export.MAX_DIFF (export.py needs torch)
            max_abs_diff=card["max_abs_diff_vs_pytorch"],
            max_scaled_diff=card["max_scaled_diff_vs_pytorch"],
            max_abs_diff_by_output=card["max_abs_diff_vs_pytorch_by_output"],
        ),
        drawing_to_digit=TRAINED_WITH_DRAWING_TO_DIGIT,
        torch_version=card["torch_version"],
        onnx_version=card["onnx_version"],
        onnxruntime_version=card["onnxruntime_version"],
        machine=card["machine"],
        command=card["command"],
        lesson_recipe=(
            None if lesson is None else cards.lesson_recipe_record(LESSON_EPOCHS, lesson["runs"])
        ),
    )


@pytest.mark.parametrize("name", sorted(MODELS))
def test_the_card_builder_writes_the_committed_card(name: str) -> None:
    text, card = committed(name)
    rebuilt = cards.build_card(name, MODELS[name], facts_of(name, card))
    assert rebuilt == card
    assert cards.card_json(rebuilt) == text


def test_a_card_text_section_holds_one_paragraph(tmp_path: Path) -> None:
    path = tmp_path / "words.md"
    path.write_text("# Heading for the reader\n\nskipped\n\n## title\n\nOne line\nthen more\n")
    assert cards.read_text(path) == {"title": "One line then more"}
    path.write_text("## title\n\nOne paragraph.\n\nAnother.\n")
    with pytest.raises(ValueError, match="one paragraph"):
        cards.read_text(path)


def test_a_model_file_cannot_hold_words_every_card_shares(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "common.md").write_text("## loss\n\nbinary cross-entropy\n")
    (tmp_path / "wide.md").write_text("## title\n\nWide\n\n## loss\n\nsomething else\n")
    monkeypatch.setattr(cards, "CARDS_DIR", tmp_path)
    with pytest.raises(ValueError, match="belong in common"):
        cards.card_text("wide")
