"""What the padding lesson shows: the study note's 1-D example, one window at a time."""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from webapp.errors import InvalidInput
from webapp.options import NumericRequest
from webapp.padding import source_index
from webapp.server.templating import number
from webapp.server.views.convolve import TIMES
from webapp.translation import N_
from webapp.translation import gettext as _

LESSON_INPUT = "0, 1, 2, 3, 4"
LESSON_WEIGHTS = "-1, 0, 1"
MAX_LESSON_VALUES = 24
MAX_LESSON_KERNEL = 9

FIELD_LABELS = {"input": N_("Input"), "weights": N_("Kernel")}
"""The lesson's fields as its form names them, for the messages about them."""


def number_list(text: str, field: str, max_count: int) -> list[float]:
    """Numbers typed by a person: ``0, 1, 2``, ``0 1 2`` or ``[0, 1, 2]``.

    >>> number_list("[0, 1.5 -2]", "input", 8)
    [0.0, 1.5, -2.0]
    """
    parts = [part for part in re.split(r"[\s,;]+", text.strip().strip("[]")) if part]
    # The English names the field as the API does; a translation may name it as the form does.
    names = {"field": field, "label": _(FIELD_LABELS.get(field, field))}
    if not parts:
        raise InvalidInput(
            # Translators: %(label)s: the field as the form names it; %(field)s: as the API.
            _("%(field)s needs at least one number, e.g. 0, 1, 2.", **names), field=field
        )
    if len(parts) > max_count:
        raise InvalidInput(
            # Translators: %(label)s: the field as the form names it; %(field)s: as the API.
            _("%(field)s has %(count)s numbers; this page shows at most %(max_count)s "
              "(the API takes more).", **names, count=len(parts), max_count=max_count),
            field=field,
        )
    numbers: list[float] = []
    for part in parts:
        try:
            value = float(part)
        except ValueError:
            raise InvalidInput(
                # Translators: %(label)s: the field as the form names it; %(field)s: as the API.
                _("%(field)s: %(value)s is not a number; write numbers separated by commas.",
                  **names, value=repr(part)),
                field=field,
            ) from None
        if not np.isfinite(value):
            raise InvalidInput(
                # Translators: %(label)s: the field as the form names it; %(field)s: as the API.
                _("%(field)s: %(value)s is not a finite number.", **names, value=repr(part)),
                field=field,
            )
        numbers.append(value)
    return numbers


def lesson_view(
    values: list[float], numeric: NumericRequest, answer: dict[str, Any]
) -> dict[str, Any]:
    """The padded input as a row of cells, and each output cell's window over it."""
    size = len(values)
    before, after = answer["padding"]["left"], answer["padding"]["right"]
    padded = []
    for position in range(-before, size + after):
        source = source_index(position, size, numeric.padding_mode)
        padded.append({
            "position": position,
            "value": 0.0 if source is None else values[source],
            "padding": not 0 <= position < size,
        })
    steps = []
    for step in answer.get("steps", []):
        taps = dict(zip(step["positions"], zip(step["weights"], step["products"], strict=True),
                        strict=True))
        steps.append({
            "index": step["index"][0],
            "sum": step["sum"],
            "cells": [
                {**cell, "tap": cell["position"] in taps,
                 "weight": taps.get(cell["position"], (None, None))[0],
                 "product": taps.get(cell["position"], (None, None))[1]}
                for cell in padded
            ],
            "expression": " + ".join(
                f"{number(weight)}{TIMES}{number(value)}"
                for weight, value in zip(step["weights"], step["values"], strict=True)
            ),
        })
    arithmetic = answer["arithmetic"]["length"]
    return {
        "input": values,
        "size": size,
        "padded": padded,
        "steps": steps,
        "output": answer["output"],
        "output_shape": answer["output_shape"],
        "arithmetic": arithmetic,
        "applied": answer["kernel"]["applied"],
        "operation": answer["operation"],
    }
