"""Images: untrusted bytes in, pixels out; pixels in, clean bytes out.

Uploads come from anyone, so decoding follows the image servers people trust (imgproxy,
thumbor) and Pillow's security notes: an allow-list of formats, the pixel count checked
from the header *before* any pixel is decoded, first frame only, never a partial image.
Encoded outputs carry no metadata from the upload (no EXIF, ICC or text chunks).
"""

from __future__ import annotations

import base64
import contextlib
import io
import warnings
from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageOps, UnidentifiedImageError

from webapp.errors import ImageTooLarge, InvalidImage, UnsupportedImageFormat

ALLOWED_FORMATS = ("PNG", "JPEG", "WEBP", "GIF", "BMP")
Color = Literal["rgb", "gray"]
COLOR_LABELS: dict[Color, str] = {"rgb": "RGB, each channel alike", "gray": "Gray (luma first)"}
"""Each colour mode as the forms offer it."""
OutputFormat = Literal["png", "webp", "jpeg"]
MEDIA_TYPES: dict[OutputFormat, str] = {
    "png": "image/png",
    "webp": "image/webp",
    "jpeg": "image/jpeg",
}


@dataclass(frozen=True)
class DecodedImage:
    """An upload's pixels: uint8, height x width x 3 (rgb) or height x width (gray)."""

    pixels: NDArray[np.uint8]
    format: str
    frames: int


def open_image(data: bytes, *, max_pixels: int, field: str = "image") -> Image.Image:
    """Check ``data`` and return a Pillow image with its first frame decoded.

    Format and size are decided from the header alone: a 100-byte PNG declaring
    100,000 x 100,000 pixels is refused before a single row is inflated.
    """
    if not data:
        raise InvalidImage(f"{field} is empty: send the bytes of a PNG, JPEG, WebP, GIF or BMP.",
                           field=field)
    with warnings.catch_warnings():
        # Pillow warns (and past twice its limit, raises) on huge images; the pixel cap
        # below is stricter, so both become the same clear 413.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(data))
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
            raise ImageTooLarge(
                f"{field} is too large: {error} convlens takes at most {max_pixels:,} pixels.",
                field=field,
            ) from None
        except UnidentifiedImageError:
            raise InvalidImage(
                f"{field} is not an image convlens can read (PNG, JPEG, WebP, GIF or BMP).",
                field=field,
            ) from None
        except Exception as error:  # a malformed header can raise almost anything
            raise InvalidImage(f"{field} has a corrupt header: {error}", field=field) from None
        if image.format not in ALLOWED_FORMATS:
            raise UnsupportedImageFormat(
                f"{field} is a {image.format} image; convlens accepts "
                f"{', '.join(ALLOWED_FORMATS)}.",
                field=field,
            )
        width, height = image.size
        if width < 1 or height < 1:
            raise InvalidImage(f"{field} has no pixels ({width}x{height}).", field=field)
        if width * height > max_pixels:
            raise ImageTooLarge(
                f"{field} is {width}x{height} = {width * height:,} pixels; the limit is "
                f"{max_pixels:,}. Scale it down first.",
                field=field,
            )
        try:
            image.seek(0)  # animated GIF/WebP/APNG: the first frame only
            image.load()
        except Exception as error:  # truncated or corrupt data: never a partial image
            raise InvalidImage(
                f"{field} could not be decoded (truncated or corrupt): {error}", field=field
            ) from None
    return image


def open_upright(data: bytes, *, max_pixels: int, field: str = "image") -> Image.Image:
    """`open_image`, turned the way its EXIF orientation says (phone photos, drawings)."""
    return _upright(open_image(data, max_pixels=max_pixels, field=field))


def _upright(image: Image.Image) -> Image.Image:
    # A broken EXIF block must not cost the user the picture: it stays as it is.
    with contextlib.suppress(Exception):
        # In place: the usual upload has no orientation to fix, and a copy would be wasted.
        ImageOps.exif_transpose(image, in_place=True)
    return image


def decode_image(
    data: bytes, *, max_pixels: int, color: Color = "rgb", field: str = "image"
) -> DecodedImage:
    """Pixels of an upload, upright (EXIF orientation applied), as 8-bit RGB or gray.

    Alpha is dropped, palettes expanded, CMYK converted, 16-bit gray scaled to 8 bits.
    """
    image = open_image(data, max_pixels=max_pixels, field=field)
    try:
        # Counting a GIF's frames reads every later frame's header: a truncated file
        # fails here, after its first frame decoded fine. One frame is what we use anyway.
        frames = int(getattr(image, "n_frames", 1))
    except Exception:
        frames = 1
    return DecodedImage(
        pixels=to_array(_upright(image), color),
        format=image.format or "?",
        frames=frames,
    )


def to_array(image: Image.Image, color: Color) -> NDArray[np.uint8]:
    """8-bit RGB (height x width x 3) or luma (height x width) pixels of any Pillow mode."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        # Pillow's convert("L") clips 16-bit values at 255; scale the full range instead.
        wide = np.asarray(image, dtype=np.float64)
        top = 65535.0 if image.mode.startswith("I;16") else max(float(wide.max()), 1.0)
        gray = np.clip(wide * (255.0 / top) + 0.5, 0, 255).astype(np.uint8)
        return gray if color == "gray" else np.repeat(gray[:, :, np.newaxis], 3, axis=2)
    if image.mode == "P":
        image = image.convert("RGBA")
    # ITU-R 601-2 luma for gray (Pillow's "L"); alpha is dropped, not composited.
    return np.asarray(image.convert("L" if color == "gray" else "RGB"), dtype=np.uint8)


def encode_image(pixels: NDArray[np.uint8], image_format: OutputFormat = "png") -> bytes:
    """Fresh image bytes with no metadata, fast settings first.

    PNG at zlib level 1 is much faster to write than Pillow's default level 6 for
    slightly larger files: a good trade for an interactive tool.
    """
    height, width = pixels.shape[:2]
    channels = 1 if pixels.ndim == 2 else pixels.shape[2]
    # OpenCV writes gray, RGB and RGBA; gray + alpha goes through Pillow.
    if image_format == "png" and height * width <= SMALL_PICTURE_PIXELS and channels != 2:
        return _small_png(pixels)
    image = Image.fromarray(pixels)
    buffer = io.BytesIO()
    if image_format == "png":
        image.save(buffer, "PNG", compress_level=1)
    elif image_format == "webp":
        image.save(buffer, "WEBP", quality=85, method=0)
    else:
        image.save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


SMALL_PICTURE_PIXELS = 64 * 64
"""Pictures up to this many pixels (28x28 digits, feature maps) are written by OpenCV:
for them Pillow's fixed cost per image outweighs the work of compressing the rows."""

SMALL_PNG_LEVEL = 1
"""OpenCV's zlib level for small PNGs (`cv2.IMWRITE_PNG_COMPRESSION`): benchmarks/pieces.py
compares the levels on /reconstruct's path."""

_TO_BGR = {3: cv2.COLOR_RGB2BGR, 4: cv2.COLOR_RGBA2BGRA}
"""OpenCV reads colour channels as BGR(A); ours are RGB(A). Gray needs no conversion."""


def _small_png(pixels: NDArray[np.uint8]) -> bytes:
    """A PNG of gray, RGB or RGBA pixels by OpenCV: IHDR, IDAT and IEND, no metadata."""
    channels = 1 if pixels.ndim == 2 else pixels.shape[2]
    ordered = cv2.cvtColor(pixels, _TO_BGR[channels]) if channels in _TO_BGR else pixels
    encoded = cv2.imencode(".png", ordered, [cv2.IMWRITE_PNG_COMPRESSION, SMALL_PNG_LEVEL])[1]
    return encoded.tobytes()


def data_url(encoded: bytes, image_format: OutputFormat = "png") -> str:
    """A ``data:`` URL for an encoded image, for JSON answers and inline previews."""
    return f"data:{MEDIA_TYPES[image_format]};base64,{base64.b64encode(encoded).decode('ascii')}"
