"""Shared fixtures: an app with its lifespan running, and small hand-made images."""

from __future__ import annotations

import io
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from numpy.typing import NDArray
from PIL import Image

from webapp.server.app import compile_loops, create_app
from webapp.server.settings import Settings


@pytest.fixture(scope="session", autouse=True)
def compiled_loops() -> None:
    """Compile the numba loops once, first: on a fresh clone that takes 10-20 s, and the
    servers that tests start in subprocesses then load them from numba's disk cache
    instead of each compiling them while a test waits for /health."""
    compile_loops()


@pytest.fixture
def settings() -> Settings:
    return Settings()


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def encode(pixels: NDArray[np.uint8], image_format: str = "PNG", **options: object) -> bytes:
    """Bytes of an image file made from ``pixels``."""
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, image_format, **options)
    return buffer.getvalue()


def step_edge(height: int = 16, width: int = 16) -> NDArray[np.uint8]:
    """Dark on the left half, bright on the right: the picture every edge kernel is for."""
    _, columns = np.mgrid[0:height, 0:width]
    return np.where(columns < width // 2, 40, 200).astype(np.uint8)


def gradient_photo(height: int = 48, width: int = 64) -> NDArray[np.uint8]:
    """A smooth colour image with a bright square: structure in every channel."""
    rows, columns = np.mgrid[0:height, 0:width]
    red = columns * 255 // max(width - 1, 1)
    green = rows * 255 // max(height - 1, 1)
    blue = np.full((height, width), 90)
    blue[height // 4 : height // 2, width // 4 : width // 2] = 250
    return np.stack([red, green, blue], axis=2).astype(np.uint8)


@pytest.fixture
def photo_png() -> bytes:
    return encode(gradient_photo())


@pytest.fixture
def broken_model_dir(tmp_path: Path) -> Path:
    """A model folder with ``seed`` as trained and a ``wide`` whose ONNX file is broken."""
    source = Settings().model_dir
    for name in ("seed.onnx", "seed.json", "samples.npz"):
        shutil.copy(source / name, tmp_path / name)
    (tmp_path / "wide.onnx").write_bytes(b"\x08\x07broken")
    return tmp_path
