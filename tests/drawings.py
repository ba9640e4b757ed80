"""Drawings as a person makes them on a canvas, built from real held-out MNIST digits."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from PIL import Image

HOLDOUT = Path(__file__).resolve().parent / "data" / "mnist-holdout.npz"


def holdout_digits() -> tuple[NDArray[np.uint8], NDArray[np.int64]]:
    with np.load(HOLDOUT) as data:
        return data["digits"], data["labels"]


def drawing(
    index: int = 7,
    *,
    canvas: int = 280,
    size: int = 200,
    at: tuple[int, int] = (40, 40),
    dark_on_light: bool = True,
    mode: str = "RGB",
) -> bytes:
    """Held-out digit ``index`` drawn ``size`` px tall at ``at`` on a ``canvas`` PNG."""
    digit = holdout_digits()[0][index]
    ink = Image.fromarray(digit).resize((size, size), Image.Resampling.BICUBIC)
    sheet = Image.new("L", (canvas, canvas), 0)
    sheet.paste(ink, at)
    if dark_on_light:
        sheet = Image.eval(sheet, lambda value: 255 - value)
    if mode == "RGBA":
        # Strokes on a transparent canvas, as a browser's canvas.toBlob() gives them.
        alpha = Image.eval(sheet, lambda value: 255 - value) if dark_on_light else sheet
        picture = Image.new("RGBA", (canvas, canvas), (0, 0, 0, 0))
        picture.putalpha(alpha)
    else:
        picture = sheet.convert(mode)
    buffer = io.BytesIO()
    picture.save(buffer, "PNG")
    return buffer.getvalue()


def blank_drawing(canvas: int = 280) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (canvas, canvas), (255, 255, 255)).save(buffer, "PNG")
    return buffer.getvalue()
