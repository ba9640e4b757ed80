"""/: what convlens is, and the lesson's path through the pages."""

from __future__ import annotations

import io
from functools import lru_cache
from typing import Any

import numpy as np
from fastapi import APIRouter, Request
from fastapi.responses import Response
from PIL import Image, ImageOps

from webapp.images import data_url, encode_image
from webapp.options import PhotoOptions
from webapp.photos import convolve_photo, sample_photo
from webapp.server.negotiation import Renderers, Representations, respond
from webapp.server.settings import Settings
from webapp.server.state import app_settings

router = APIRouter(include_in_schema=False)


@router.get("/")
async def home(request: Request) -> Response:
    """The home page, with a small photo, Sobel x, and the edges they make."""
    settings = app_settings(request)
    return await respond(request, Representations(page="home.html"), lambda: _hero(settings),
                         Renderers(view=lambda hero: {"hero": hero}))


@lru_cache(maxsize=4)
def _hero(settings: Settings) -> dict[str, Any]:
    """The home page's picture, computed once per settings."""
    with Image.open(io.BytesIO(sample_photo("cat", settings.static_dir))) as opened:
        opened.load()
        small = ImageOps.contain(opened.convert("RGB"), (180, 120), Image.Resampling.BOX)
    # Mirrored padding: zeros would draw a false edge around the frame.
    options = PhotoOptions(kernel="sobel-x", padding="same", padding_mode="reflect")
    result = convolve_photo(encode_image(np.asarray(small)), options, **settings.photo_limits)
    return {
        "input": data_url(encode_image(result.source.pixels), "png"),
        "output": data_url(result.encoded, "png"),
        "kernel": result.kernel.weights.tolist(),
        "width": small.width,
        "height": small.height,
    }
