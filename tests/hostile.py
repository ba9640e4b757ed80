"""Hand-made hostile files: forged headers, truncations, bombs, odd modes."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
from PIL import Image

from tests.conftest import encode, gradient_photo


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return (
        struct.pack(">I", len(data)) + kind + data
        + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    )


def forged_png(width: int, height: int) -> bytes:
    """A ~60-byte PNG whose header declares ``width`` x ``height`` RGB pixels."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header)
        + png_chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + png_chunk(b"IEND", b"")
    )


def truncated_png() -> bytes:
    data = encode(gradient_photo(64, 64))
    return data[: len(data) // 2]


def tiff_bytes() -> bytes:
    return encode(gradient_photo(8, 8), "TIFF")


def animated_gif(frames: int = 40) -> bytes:
    images = [Image.new("RGB", (16, 16), (frame * 6 % 256, 0, 0)) for frame in range(frames)]
    buffer = io.BytesIO()
    images[0].save(buffer, "GIF", save_all=True, append_images=images[1:], duration=20, loop=0)
    return buffer.getvalue()


def image_in_mode(mode: str) -> bytes:
    """A small PNG (JPEG for CMYK) in one of Pillow's odd modes."""
    base = Image.fromarray(gradient_photo(12, 10))
    if mode == "I;16":
        wide = (np.arange(120, dtype=np.uint16).reshape(12, 10) * 500).astype(np.uint16)
        image = Image.fromarray(wide)
    elif mode == "P":
        image = base.convert("P")
        image.info["transparency"] = 0
    else:
        image = base.convert(mode)
    buffer = io.BytesIO()
    image.save(buffer, "JPEG" if mode == "CMYK" else "PNG")
    return buffer.getvalue()


def rotated_jpeg() -> bytes:
    """A 40x20 (w x h) JPEG whose EXIF says: rotate me 90 degrees to stand upright."""
    image = Image.fromarray(gradient_photo(20, 40))
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90 CW
    exif[0x010F] = "SecretCam"  # Make: must not leak into outputs
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", exif=exif)
    return buffer.getvalue()
