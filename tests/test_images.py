"""Decoding untrusted uploads and encoding clean outputs."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from tests.conftest import encode, gradient_photo
from tests.hostile import (
    animated_gif,
    forged_png,
    image_in_mode,
    rotated_jpeg,
    tiff_bytes,
    truncated_png,
)
from webapp.errors import ImageTooLarge, InvalidImage, UnsupportedImageFormat
from webapp.images import decode_image, encode_image

CAP = 16_777_216


@pytest.mark.parametrize("image_format", ["PNG", "JPEG", "WEBP", "GIF", "BMP"])
def test_allowed_formats_decode(image_format: str) -> None:
    decoded = decode_image(encode(gradient_photo(12, 10), image_format), max_pixels=CAP)
    assert decoded.pixels.shape == (12, 10, 3)
    assert decoded.pixels.dtype == np.uint8


@pytest.mark.parametrize("mode", ["RGBA", "P", "LA", "L", "1", "I;16", "CMYK"])
def test_odd_modes_become_rgb_or_gray(mode: str) -> None:
    data = image_in_mode(mode)
    assert decode_image(data, max_pixels=CAP).pixels.shape == (12, 10, 3)
    assert decode_image(data, max_pixels=CAP, color="gray").pixels.shape == (12, 10)


def test_sixteen_bit_gray_is_scaled_not_clipped() -> None:
    pixels = decode_image(image_in_mode("I;16"), max_pixels=CAP, color="gray").pixels
    # 0..59500 of 65535 spans most of 0..255, where Pillow's own convert would clip at 255.
    assert pixels.min() == 0
    assert 225 <= pixels.max() <= 232
    assert len(np.unique(pixels)) > 100


def test_exif_orientation_is_applied() -> None:
    assert decode_image(rotated_jpeg(), max_pixels=CAP).pixels.shape == (40, 20, 3)


def test_animated_gif_gives_its_first_frame() -> None:
    decoded = decode_image(animated_gif(), max_pixels=CAP)
    assert decoded.frames == 40
    assert decoded.pixels[0, 0].tolist() == [0, 0, 0]


def test_one_pixel_image() -> None:
    assert decode_image(encode(np.zeros((1, 1, 3), np.uint8)), max_pixels=CAP).pixels.shape == (
        1, 1, 3,
    )


@pytest.mark.parametrize(
    ("data", "error", "message"),
    [
        (b"", InvalidImage, "empty"),
        (b"hello, I am not an image at all", InvalidImage, "not an image"),
        (truncated_png(), InvalidImage, "truncated or corrupt"),
        (tiff_bytes(), UnsupportedImageFormat, "TIFF"),
        (forged_png(100_000, 100_000), ImageTooLarge, "10000000000 pixels.*16,777,216"),
        (forged_png(5000, 4000), ImageTooLarge, "20,000,000 pixels"),
        (forged_png(0, 10), InvalidImage, "image"),
    ],
)
def test_hostile_uploads_are_refused(data: bytes, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        decode_image(data, max_pixels=CAP)


def test_pixel_cap_is_a_setting() -> None:
    with pytest.raises(ImageTooLarge, match="limit is 100"):
        decode_image(encode(gradient_photo(20, 20)), max_pixels=100)


@pytest.mark.parametrize("image_format", ["png", "webp", "jpeg"])
def test_outputs_carry_no_metadata(image_format: str) -> None:
    pixels = decode_image(rotated_jpeg(), max_pixels=CAP).pixels
    encoded = encode_image(pixels, image_format)  # type: ignore[arg-type]
    assert b"SecretCam" not in encoded
    reopened = Image.open(io.BytesIO(encoded))
    assert not reopened.getexif()
    assert "icc_profile" not in reopened.info
    assert reopened.size == (20, 40)


@pytest.mark.parametrize(
    ("shape", "mode"),
    [((28, 28), "L"), ((9, 5, 1), "L"), ((7, 3, 2), "LA"), ((28, 28, 3), "RGB"),
     ((4, 6, 4), "RGBA"), ((1, 1), "L")],
)
def test_small_pngs_read_back_exactly(shape: tuple[int, ...], mode: str) -> None:
    pixels = np.random.default_rng(len(shape)).integers(0, 256, shape, dtype=np.uint8)
    reopened = Image.open(io.BytesIO(encode_image(pixels)))
    assert reopened.format == "PNG" and reopened.mode == mode
    assert not reopened.info  # no metadata chunk: only the header, the pixels and the end
    expected = pixels.reshape(shape[:2]) if mode == "L" else pixels
    assert np.array_equal(np.asarray(reopened), expected)


@pytest.mark.parametrize("shape", [(80, 90, 3), (70, 70), (65, 64, 4)])
def test_large_pngs_read_back_exactly(shape: tuple[int, ...]) -> None:
    pixels = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(encode_image(pixels)))), pixels)
