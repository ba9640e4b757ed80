"""Photos the size people actually have, for the browser tests and benchmarks/pages.py.

A phone photo is 12 MP (4032 x 3024) and a 3-6 MB JPEG. Made from the bundled cat sample,
enlarged, with a gradient and sensor-like noise over it, so that it has detail everywhere
and compresses like a real photo rather than like a flat upscale.
"""

from __future__ import annotations

import io
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image

SAMPLE = Path(__file__).resolve().parent.parent / "static" / "samples" / "cat.jpg"


@lru_cache(maxsize=4)
def phone_photo(width: int = 4032, height: int = 3024, *, seed: int = 12) -> bytes:
    """A ``width`` x ``height`` JPEG (quality 90) with structure and noise."""
    cat = Image.open(SAMPLE).convert("RGB").resize((width, height), Image.Resampling.BICUBIC)
    pixels = np.asarray(cat, dtype=np.float32)
    rows, columns = np.mgrid[0:height, 0:width].astype(np.float32)
    pixels += (columns / width * 50 - rows / height * 30)[:, :, np.newaxis]
    pixels += np.random.default_rng(seed).normal(0, 9, pixels.shape).astype(np.float32)
    buffer = io.BytesIO()
    Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(buffer, "JPEG", quality=90)
    return buffer.getvalue()
