"""Settings: every limit and location, from ``CONVLENS_*`` environment variables.

The defaults serve a classroom with no configuration at all; ``README.md`` lists them.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parents[2]


class Settings(BaseSettings):
    """convlens settings; each field is read from ``CONVLENS_<FIELD NAME>``."""

    model_config = SettingsConfigDict(env_prefix="CONVLENS_", frozen=True)

    max_body_bytes: int = Field(10 * 1024 * 1024, ge=1024, description="Largest request body.")
    max_pixels: int = Field(
        16_777_216, ge=1, description="Largest image (width x height), checked before decoding."
    )
    max_kernel_size: int = Field(31, ge=1, description="Largest kernel side.")
    max_numeric_size: int = Field(256, ge=1, description="Largest side of a numeric input.")
    max_explained_cells: int = Field(
        400, ge=0, description="Numeric answers include step-by-step sums up to this many cells."
    )
    max_layer_macs: int = Field(
        10_000_000_000, ge=1,
        description="Most multiply-adds one conv layer (filters or a bank) may cost: about "
        "a 16-filter 3x3 layer on a 20-MP RGB photo.",
    )
    compute_threads: int = Field(
        2, ge=1, description="Heavy requests computed at once, each on a thread of the work "
        "queue (processes are `convlens serve --workers`)."
    )
    queue_length: int = Field(
        16, ge=0, description="Heavy requests that may wait; past it the answer is 503."
    )
    request_timeout_seconds: float = Field(
        30.0, gt=0, description="Longest a heavy request may wait and run before a 503."
    )
    photo_cache_bytes: int = Field(
        256 * 1024 * 1024, ge=0,
        description="Decoded photos the pages keep in memory (per process), so that a photo "
        "is uploaded once; least recently used first out. 0 keeps none.",
    )
    photo_cache_seconds: float = Field(
        900.0, gt=0, description="How long a kept photo may go unused before it is dropped."
    )
    model_dir: Path = Field(PROJECT_ROOT / "models", description="Folder of the .onnx models.")
    providers: str | None = Field(
        None,
        description="Comma-separated onnxruntime providers to use, e.g. 'cpu' or 'cuda,cpu'; "
        "default: every GPU provider available, then CPU.",
    )
    require_gpu: bool = Field(False, description="Refuse to start without a GPU provider.")
    skip_broken_models: bool = Field(
        False,
        description="Start even when a model file is missing or corrupt, marking it "
        "unavailable in /health and /models (default: refuse to start, naming the file).",
    )
    static_dir: Path = Field(PROJECT_ROOT / "static", description="Static files (htmx, css).")
    templates_dir: Path = Field(PROJECT_ROOT / "templates", description="Jinja2 templates.")


    @property
    def photo_limits(self) -> dict[str, int]:
        """The limits `webapp.photos.convolve_photo` takes, as keyword arguments."""
        return {"max_pixels": self.max_pixels, "max_kernel_size": self.max_kernel_size}

    @property
    def numeric_limits(self) -> dict[str, int]:
        """The limits `webapp.numeric.numeric_answer` takes, as keyword arguments."""
        return {
            "max_numeric_size": self.max_numeric_size,
            "max_kernel_size": self.max_kernel_size,
            "max_explained_cells": self.max_explained_cells,
        }


@lru_cache
def get_settings() -> Settings:
    """The settings of this process, read once from the environment."""
    return Settings()
