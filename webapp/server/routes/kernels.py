"""GET /kernels: the preset kernels, with their weights and what they do."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from webapp.kernels import PRESETS

router = APIRouter(tags=["convolution"])


@router.get("/kernels", summary="Preset kernels")
async def list_kernels() -> list[dict[str, Any]]:
    """Every preset as ``{"name", "label", "weights", "description"}``."""
    return [kernel.as_dict() for kernel in PRESETS.values()]
