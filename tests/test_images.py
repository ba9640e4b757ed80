"""Decoding untrusted uploads and encoding clean outputs."""

from __future__ import annotations

import io
import zlib

import numpy as np
import pytest
from numpy.typing import NDArray
from PIL import Image

from tests.conftest import encode, gradient_photo
from tests.hostile import (
    animated_gif,
    forged_png,
    image_in_mode,
    png_chunk,
    rotated_jpeg,
    tiff_bytes,
    truncated_png,
)
from webapp.errors import ImageTooLarge, InvalidImage, UnsupportedImageFormat
from webapp.images import (
    LIBSPNG_MAX_BYTES,
    LIBSPNG_MAX_PIXELS,
    _checked_header,
    _is_plain_png,
    _stored_zlib,
    decode_image,
    encode_image,
    open_image,
    open_upright,
    small_png,
)

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
     ((4, 6, 4), "RGBA")],
)
def test_small_pngs_are_written_by_hand_and_read_back_exactly(
    shape: tuple[int, ...], mode: str
) -> None:
    pixels = np.random.default_rng(len(shape)).integers(0, 256, shape, dtype=np.uint8)
    encoded = encode_image(pixels)
    assert encoded == small_png(pixels)  # the small-picture path was the one taken
    reopened = Image.open(io.BytesIO(encoded))
    assert reopened.format == "PNG" and reopened.mode == mode
    expected = pixels.reshape(shape[:2]) if mode == "L" else pixels
    assert np.array_equal(np.asarray(reopened), expected)


def test_large_pngs_still_go_through_pillow() -> None:
    pixels = np.random.default_rng(0).integers(0, 256, (80, 90, 3), dtype=np.uint8)
    encoded = encode_image(pixels)
    assert encoded != small_png(pixels)
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(encoded))), pixels)


@pytest.mark.parametrize("size", [1, 65535, 65536, 200_000])
def test_stored_zlib_streams_read_back(size: int) -> None:
    data = np.random.default_rng(size).integers(0, 256, size, dtype=np.uint8).tobytes()
    assert zlib.decompress(_stored_zlib(data)) == data


def _pillow_pixels(data: bytes) -> NDArray[np.uint8]:
    return np.asarray(Image.open(io.BytesIO(data)))


def _takes_libspng(data: bytes) -> bool:
    return _is_plain_png(data, _checked_header(data, max_pixels=CAP, field="image"))


def _noise_and_gradient(height: int, width: int) -> NDArray[np.uint8]:
    """Random pixels beside a gradient: Pillow's encoder picks every row filter on it."""
    pixels = gradient_photo(height, width)
    pixels[:, : width // 2] = np.random.default_rng(height).integers(
        0, 256, (height, width // 2, 3), dtype=np.uint8
    )
    return pixels


@pytest.mark.parametrize("mode", ["L", "RGB", "RGBA"])
@pytest.mark.parametrize("size", [(1, 1), (31, 17), (96, 120)])
def test_plain_pngs_decode_by_libspng_to_pillows_very_pixels(
    mode: str, size: tuple[int, int]
) -> None:
    image = Image.fromarray(_noise_and_gradient(*size)).convert(mode)
    if mode == "RGBA":  # an alpha channel that varies too
        image.putalpha(Image.fromarray(_noise_and_gradient(*size)[:, :, 1]))
    for level in (0, 6, 9):
        data = encode(np.asarray(image), compress_level=level)
        assert _takes_libspng(data)
        decoded = open_image(data, max_pixels=CAP)
        assert decoded.mode == mode and decoded.size == image.size
        assert np.array_equal(np.asarray(decoded), _pillow_pixels(data))


def test_a_drawing_from_the_page_takes_libspng() -> None:
    from tests.drawings import drawing

    data = drawing(canvas=560, size=400, mode="RGBA")  # the page's canvas, as toBlob makes it
    assert _takes_libspng(data)
    assert np.array_equal(np.asarray(open_upright(data, max_pixels=CAP)), _pillow_pixels(data))


def _png_with(chunk: bytes, before: bytes = b"IDAT") -> bytes:
    """A plain RGB PNG with one more ``chunk`` inserted before its first ``before`` chunk."""
    data = encode(gradient_photo(12, 10))
    at = data.index(before) - 4
    return data[:at] + chunk + data[at:]


def _png_with_exif_orientation() -> bytes:
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise
    buffer = io.BytesIO()
    Image.fromarray(gradient_photo(20, 40)).save(buffer, "PNG", exif=exif)
    return buffer.getvalue()


def _interlaced(data: bytes) -> bytes:
    """``data`` with its IHDR's interlace method set to 1 (Adam7): enough for the check."""
    header = png_chunk(b"IHDR", data[16:28] + b"\x01")
    return data[:8] + header + data[8 + len(header) :]


@pytest.mark.parametrize(
    "data",
    [
        image_in_mode("P"),  # a palette, with transparency
        image_in_mode("I;16"),  # 16 bits
        image_in_mode("LA"),  # grey + alpha
        _png_with(png_chunk(b"tRNS", b"\x00\x01\x00\x02\x00\x03")),  # a transparent colour
        _png_with_exif_orientation(),
        _png_with(png_chunk(b"iTXt", b"XML:com.adobe.xmp\x00\x00\x00\x00\x00<x/>")),
        _png_with(png_chunk(b"tEXt", b"Raw profile type exif\x00...")),
        _png_with(png_chunk(b"zzZz", b"an unknown chunk")),
        _interlaced(encode(gradient_photo(12, 10))),
        encode(np.zeros((641, 640, 3), np.uint8)),  # more pixels than LIBSPNG_MAX_PIXELS
        encode(np.random.default_rng(0).integers(0, 256, (160, 160, 3), dtype=np.uint8)),
    ],
    ids=["palette", "16-bit", "grey+alpha", "tRNS", "eXIf", "XMP", "text", "unknown", "interlaced",
         "many pixels", "many bytes"],
)
def test_other_pngs_stay_with_pillow(data: bytes) -> None:
    assert not _takes_libspng(data)


def test_the_libspng_limits_are_the_documented_ones() -> None:
    assert LIBSPNG_MAX_PIXELS == 640 * 640 and LIBSPNG_MAX_BYTES == 64 * 1024
    assert len(encode(np.random.default_rng(0).integers(0, 256, (160, 160, 3), np.uint8))) > (
        LIBSPNG_MAX_BYTES
    )


def test_a_png_orientation_is_still_applied() -> None:
    stored = Image.open(io.BytesIO(_png_with_exif_orientation()))
    assert stored.size == (40, 20)
    assert open_upright(_png_with_exif_orientation(), max_pixels=CAP).size == (20, 40)


@pytest.mark.parametrize("cut", [0.3, 0.6, 0.95])
def test_a_truncated_plain_png_is_refused_not_half_decoded(cut: float) -> None:
    data = encode(_noise_and_gradient(96, 120))
    assert _takes_libspng(data)
    with pytest.raises(InvalidImage, match="truncated or corrupt"):
        open_image(data[: int(len(data) * cut)], max_pixels=CAP)


def test_a_corrupt_plain_png_is_refused() -> None:
    data = bytearray(encode(_noise_and_gradient(96, 120)))
    start = data.index(b"IDAT") + 4
    data[start + 20 : start + 60] = bytes(40)  # zeros in the middle of the deflate stream
    with pytest.raises(InvalidImage, match="truncated or corrupt"):
        open_image(bytes(data), max_pixels=CAP)
