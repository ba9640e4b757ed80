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
from webapp.translation import N_
from webapp.translation import gettext as _

ALLOWED_FORMATS = ("PNG", "JPEG", "WEBP", "GIF", "BMP")
Color = Literal["rgb", "gray"]
COLOR_LABELS: dict[Color, str] = {
    "rgb": N_("RGB, each channel alike"), "gray": N_("Gray (luma first)"),
}
"""Each colour mode as the forms offer it (marked for the catalogue: a form shows ``_(label)``)."""
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
    photo_size: tuple[int, int] | None = None
    """The upload's own width and height (upright) when ``pixels`` were fitted to a working
    size (`fit_to_side`); None when the pixels are the photo's full size."""

    @property
    def full_size(self) -> tuple[int, int]:
        """The upload's width and height, whether or not the pixels were fitted."""
        height, width = self.pixels.shape[:2]
        return self.photo_size or (width, height)


def open_image(data: bytes, *, max_pixels: int, field: str = "image") -> Image.Image:
    """Check ``data`` and return a Pillow image with its first frame decoded.

    Format and size are decided from the header alone: a 100-byte PNG declaring
    100,000 x 100,000 pixels is refused before a single row is inflated.
    """
    return _load_first_frame(_checked_header(data, max_pixels=max_pixels, field=field), field)


def _checked_header(data: bytes, *, max_pixels: int, field: str) -> Image.Image:
    """A Pillow image whose header passed every check, no pixel decoded yet."""
    if not data:
        raise InvalidImage(
            _("%(field)s is empty: send the bytes of a PNG, JPEG, WebP, GIF or BMP.", field=field),
            field=field,
        )
    with warnings.catch_warnings():
        # Pillow warns (and past twice its limit, raises) on huge images; the pixel cap
        # below is stricter, so both become the same clear 413.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(data))
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
            raise ImageTooLarge(
                _("%(field)s is too large: %(reason)s convlens takes at most %(limit)s pixels.",
                  field=field, reason=error, limit=format(max_pixels, ",")),
                field=field,
            ) from None
        except UnidentifiedImageError:
            raise InvalidImage(
                _("%(field)s is not an image convlens can read (PNG, JPEG, WebP, GIF or BMP).",
                  field=field),
                field=field,
            ) from None
        except Exception as error:  # a malformed header can raise almost anything
            raise InvalidImage(
                _("%(field)s has a corrupt header: %(reason)s", field=field, reason=error),
                field=field,
            ) from None
        if image.format not in ALLOWED_FORMATS:
            raise UnsupportedImageFormat(
                _("%(field)s is a %(format)s image; convlens accepts %(allowed)s.",
                  field=field, format=image.format, allowed=", ".join(ALLOWED_FORMATS)),
                field=field,
            )
        width, height = image.size
        if width < 1 or height < 1:
            raise InvalidImage(
                _("%(field)s has no pixels (%(width)sx%(height)s).", field=field, width=width,
                  height=height),
                field=field,
            )
        if width * height > max_pixels:
            raise ImageTooLarge(
                _("%(field)s is %(width)sx%(height)s = %(pixels)s pixels; the limit is "
                  "%(limit)s. Scale it down first.", field=field, width=width, height=height,
                  pixels=format(width * height, ","), limit=format(max_pixels, ",")),
                field=field,
            )
    return image


def _load_first_frame(image: Image.Image, field: str) -> Image.Image:
    """``image`` with its first frame decoded, or a clear error: never a partial image."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image.seek(0)  # animated GIF/WebP/APNG: the first frame only
            image.load()
        except Exception as error:  # truncated or corrupt data
            raise InvalidImage(
                _("%(field)s could not be decoded (truncated or corrupt): %(reason)s",
                  field=field, reason=error),
                field=field,
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
    data: bytes, *, max_pixels: int, color: Color = "rgb", field: str = "image",
    max_side: int | None = None,
) -> DecodedImage:
    """Pixels of an upload, upright (EXIF orientation applied), as 8-bit RGB or gray;
    with ``max_side``, fitted so that their longer side is at most that (`fit_to_side`).

    Alpha is dropped, palettes expanded, CMYK converted, 16-bit gray scaled to 8 bits.
    """
    image = _checked_header(data, max_pixels=max_pixels, field=field)
    stored_width, stored_height = image.size
    if max_side is not None:
        # A JPEG can be decoded at 1/2, 1/4 or 1/8 of its size straight from its DCT
        # blocks (libjpeg's scaled decoding, itself an average over each block): a phone
        # photo shown at a working size then never exists at full size in memory. The
        # decoded image stays at least the working size; `fit_to_side` does the rest.
        image.draft(None, fitted_size(stored_width, stored_height, max_side))
    image = _load_first_frame(image, field)
    loaded_width, _ = image.size
    try:
        # Counting a GIF's frames reads every later frame's header: a truncated file
        # fails here, after its first frame decoded fine. One frame is what we use anyway.
        frames = int(getattr(image, "n_frames", 1))
    except Exception:
        frames = 1
    image_format = image.format or "?"
    pixels = to_array(_upright(image), color)
    if max_side is None:
        return DecodedImage(pixels=pixels, format=image_format, frames=frames)
    # EXIF orientation may have turned the picture a quarter: the upload's size turns too.
    turned = pixels.shape[1] != loaded_width
    photo_size = (stored_height, stored_width) if turned else (stored_width, stored_height)
    fitted = fit_to_side(pixels, max_side)
    return DecodedImage(
        pixels=fitted, format=image_format, frames=frames,
        photo_size=None if fitted.shape[:2] == photo_size[::-1] else photo_size,
    )


def fitted_size(width: int, height: int, max_side: int) -> tuple[int, int]:
    """Width and height scaled, keeping the aspect, so that the longer side is at most
    ``max_side``; a picture already that small keeps its size.

    >>> fitted_size(4032, 3024, 1024), fitted_size(3024, 4032, 512), fitted_size(300, 451, 1024)
    ((1024, 768), (384, 512), (300, 451))
    """
    longest = max(width, height)
    if longest <= max_side:
        return width, height
    scale = max_side / longest
    return max(1, round(width * scale)), max(1, round(height * scale))


def fit_to_side(pixels: NDArray[np.uint8], max_side: int) -> NDArray[np.uint8]:
    """``pixels`` shrunk so that the longer side is at most ``max_side``.

    Area averaging (OpenCV's ``INTER_AREA``): each new pixel is the mean of the block of
    old pixels it covers, so fine detail averages out instead of aliasing into patterns
    that a kernel would then pick up as edges.
    """
    height, width = pixels.shape[:2]
    size = fitted_size(width, height, max_side)
    if size == (width, height):
        return pixels
    return np.asarray(cv2.resize(pixels, size, interpolation=cv2.INTER_AREA), dtype=np.uint8)


def in_color(image: DecodedImage, color: Color) -> DecodedImage:
    """An RGB decoded image in ``color``: gray by the luma `to_array` uses, so that a
    photo kept in RGB and turned gray later has the pixels a gray decoding gives."""
    if color == "rgb" or image.pixels.ndim == 2:
        return image
    gray = np.asarray(Image.fromarray(image.pixels).convert("L"), dtype=np.uint8)
    return DecodedImage(pixels=gray, format=image.format, frames=image.frames,
                        photo_size=image.photo_size)


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
