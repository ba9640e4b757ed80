"""Property-based fuzz of the image decoding path: hostile bytes in, a clear answer out.

Every call into the decoding path (`decode_image`, and `open_upright` followed by
`drawing_to_digit` for the autoencoder) must do one of two things, whatever the bytes:

* return a valid result: uint8 pixels of the shape the file declares, or a (28, 28)
  float32 digit in [0, 1];
* raise one of convlens's own errors (`InvalidImage`, `UnsupportedImageFormat`,
  `ImageTooLarge`, `NothingDrawn`), which the API answers as a 4xx problem.

Never another exception (that would be a 500), never a hang (each call is timed), and
never a huge allocation: a header declaring more pixels than the cap is refused before a
row is decoded (checked in a child process whose address space is capped).

The inputs are (a) random bytes, (b) valid PNG, JPEG, GIF, WebP and BMP files (and a few
formats outside the allow-list) made with Pillow, then mutated by flipping, inserting,
deleting, overwriting and truncating bytes, and (c) valid files whose header dimensions
are rewritten. A few mutated files also go through the HTTP API.

Hypothesis runs derandomized (the same examples on every run, so CI is reproducible) with
its deadline off: the time bound is this module's own, per call.
"""

from __future__ import annotations

import io
import json
import os
import struct
import subprocess
import sys
import textwrap
import time
import zlib
from collections.abc import Callable, Iterator
from functools import cache, partial
from pathlib import Path
from typing import TypeVar

import httpx2
import numpy as np
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, event, given, note, settings
from hypothesis import strategies as st
from PIL import Image

from webapp.autoencoder.preprocessing import drawing_to_digit
from webapp.errors import (
    ConvlensError,
    ImageTooLarge,
    InvalidImage,
    NothingDrawn,
    UnsupportedImageFormat,
)
from webapp.images import ALLOWED_FORMATS, decode_image, open_upright
from webapp.server.app import create_app
from webapp.server.settings import Settings

MAX_PIXELS: int = Settings.model_fields["max_pixels"].default
"""The default pixel cap (16.8 MP): forged headers are checked against what ships."""

FUZZ_PIXELS = 1_048_576
"""The cap for the rest of the fuzz. A mutated header can declare up to the cap, and a
16 MP decode takes about a second: a 1 MP cap keeps every example cheap, so the time bound
below catches a hang or a blow-up, not a legitimately large picture."""

SECONDS_PER_CALL = 2.0
"""No single decode may take longer than this on a slow CI core."""

T = TypeVar("T")

IMAGE_ERRORS = (InvalidImage, UnsupportedImageFormat, ImageTooLarge)
DRAWING_ERRORS = (*IMAGE_ERRORS, NothingDrawn)

# Pillow reports corrupt metadata in a mutated file (a broken EXIF block, a TIFF tag past the
# end of the file) with a UserWarning and carries on. The project turns warnings into errors,
# which would make those files fail inside Pillow here when in production they go on to be
# decoded: ignoring Pillow's own UserWarnings lets the fuzz take the production code paths.
# (DecompressionBombWarning is a RuntimeWarning: `open_image` still turns it into a 413.)
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning:PIL")

FUZZ = settings(
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)


# --- the corpus: small valid files, made with Pillow --------------------------------------


def _save(image: Image.Image, image_format: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, image_format, **options)
    return buffer.getvalue()


def _picture(height: int, width: int, seed: int) -> Image.Image:
    """A small RGB picture: random pixels over a dark stroke, so drawings find some ink."""
    pixels = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    pixels[height // 4 : height // 4 + max(1, height // 8), :, :] //= 8
    return Image.fromarray(pixels)


def _animated(image_format: str) -> bytes:
    frames = [_picture(12, 10, seed) for seed in range(4)]
    return _save(frames[0], image_format, save_all=True, append_images=frames[1:], duration=20)


def _rotated_jpeg() -> bytes:
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90 degrees to stand upright
    return _save(_picture(8, 14, 7), "JPEG", exif=exif)


@cache
def corpus() -> list[tuple[str, bytes]]:
    """Named valid files: every allowed format in several modes, and a few outside it."""
    rgb = _picture(16, 12, 1)
    files = [
        ("png-rgb", _save(rgb, "PNG")),
        ("png-rgba", _save(rgb.convert("RGBA"), "PNG")),
        ("png-palette", _save(rgb.convert("P"), "PNG", transparency=0)),
        ("png-la", _save(rgb.convert("LA"), "PNG")),
        ("png-1bit", _save(rgb.convert("1"), "PNG")),
        ("png-16bit", _save(Image.fromarray(np.arange(192, dtype=np.uint16).reshape(16, 12)
                                            * 300), "PNG")),
        ("png-interlaced", _save(rgb, "PNG", interlace=1)),
        ("png-1x1", _save(_picture(1, 1, 2), "PNG")),
        ("apng", _animated("PNG")),
        ("jpeg-rgb", _save(rgb, "JPEG", quality=80)),
        ("jpeg-gray", _save(rgb.convert("L"), "JPEG")),
        ("jpeg-cmyk", _save(rgb.convert("CMYK"), "JPEG")),
        ("jpeg-progressive", _save(rgb, "JPEG", progressive=True)),
        ("jpeg-exif-rotated", _rotated_jpeg()),
        ("gif", _save(rgb.convert("P"), "GIF")),
        ("gif-animated", _animated("GIF")),
        ("webp-lossy", _save(rgb, "WEBP", quality=70)),
        ("webp-lossless", _save(rgb, "WEBP", lossless=True)),
        ("webp-alpha", _save(rgb.convert("RGBA"), "WEBP")),
        ("webp-animated", _animated("WEBP")),
        ("bmp-rgb", _save(rgb, "BMP")),
        ("bmp-1bit", _save(rgb.convert("1"), "BMP")),
        ("bmp-palette", _save(rgb.convert("P"), "BMP")),
        # Outside the allow-list: must be refused as such (415), mutated or not.
        ("tiff", _save(rgb, "TIFF")),
        ("ico", _save(rgb, "ICO")),
        ("ppm", _save(rgb, "PPM")),
        ("tga", _save(rgb, "TGA")),
    ]
    return files


# --- the property ---------------------------------------------------------------------------


def _timed(call: Callable[[], T]) -> tuple[T | None, ConvlensError | None]:
    """``call()``'s result or convlens error; any other exception escapes (a fuzz failure)."""
    start = time.perf_counter()
    result: T | None = None
    error: ConvlensError | None = None
    try:
        result = call()
    except ConvlensError as raised:
        error = raised
    elapsed = time.perf_counter() - start
    assert elapsed < SECONDS_PER_CALL, f"one call took {elapsed:.2f} s"
    return result, error


def declared_size(data: bytes) -> tuple[int, int]:
    """(width, height) as the file's header declares them."""
    with Image.open(io.BytesIO(data)) as image:
        width, height = image.size
    return width, height


def check_decoding(data: bytes, *, max_pixels: int = FUZZ_PIXELS) -> str:
    """Run the whole decoding path on ``data``; returns what happened, for the statistics."""
    outcome = "decoded"
    for color in ("rgb", "gray"):
        decoded, error = _timed(partial(decode_image, data, max_pixels=max_pixels, color=color))
        if error is not None:
            assert isinstance(error, IMAGE_ERRORS), repr(error)
            assert error.message, "an error must say what is wrong"
            outcome = type(error).__name__
            continue
        assert decoded is not None
        pixels = decoded.pixels
        assert pixels.dtype == np.uint8
        assert pixels.ndim == (3 if color == "rgb" else 2)
        if color == "rgb":
            assert pixels.shape[2] == 3
        height, width = pixels.shape[:2]
        assert 1 <= width * height <= max_pixels
        # EXIF orientation may turn the picture a quarter: the declared sides, either way.
        declared = declared_size(data)
        assert (width, height) in (declared, declared[::-1])
        assert decoded.format in ALLOWED_FORMATS
    check_drawing(data, max_pixels=max_pixels)
    return outcome


def check_drawing(data: bytes, *, max_pixels: int = FUZZ_PIXELS) -> None:
    """`open_upright` then `drawing_to_digit`: a (28, 28) digit in [0, 1], or a 4xx error."""
    image, error = _timed(lambda: open_upright(data, max_pixels=max_pixels))
    if error is not None:
        assert isinstance(error, IMAGE_ERRORS), repr(error)
        return
    assert image is not None
    digit, error = _timed(partial(drawing_to_digit, image))
    if error is not None:
        assert isinstance(error, DRAWING_ERRORS), repr(error)
        return
    assert digit is not None
    assert digit.shape == (28, 28)
    assert digit.dtype == np.float32
    assert np.isfinite(digit).all()
    assert 0.0 <= float(digit.min()) <= float(digit.max()) <= 1.0


# --- (a) random bytes and (b) mutated valid files --------------------------------------------

MUTATIONS = ("flip", "insert", "delete", "overwrite", "truncate")


def fix_png_crcs(data: bytes) -> bytes:
    """``data`` with every PNG chunk's CRC made right, so a mutation reaches zlib and the
    filters instead of stopping at Pillow's CRC check (unchanged when the chunks don't parse)."""
    if not data.startswith(b"\x89PNG\r\n\x1a\n"):
        return data
    fixed, position = bytearray(data[:8]), 8
    while position + 12 <= len(data):
        (length,) = struct.unpack(">I", data[position : position + 4])
        end = position + 12 + length
        if end > len(data):
            break
        kind, payload = data[position + 4 : position + 8], data[position + 8 : end - 4]
        fixed += _png_chunk(kind, payload)
        position = end
    return bytes(fixed + data[position:])


@st.composite
def mutated_files(draw: st.DrawFn) -> bytes:
    """A corpus file with one to four byte-level mutations, biased towards the header."""
    _, original = draw(st.sampled_from(corpus()))
    data = bytearray(original)
    for _ in range(draw(st.sampled_from([1, 1, 2, 4]))):
        if not data:
            break
        # Half the mutations hit the first 64 bytes, where the format and size live.
        end = draw(st.sampled_from([min(64, len(data)), len(data)]))
        position = draw(st.integers(0, end - 1))
        kind = draw(st.sampled_from(MUTATIONS))
        if kind == "flip":
            data[position] ^= 1 << draw(st.integers(0, 7))
        elif kind == "insert":
            data[position:position] = draw(st.binary(min_size=1, max_size=16))
        elif kind == "delete":
            del data[position : position + draw(st.integers(1, 16))]
        elif kind == "overwrite":
            patch = draw(st.binary(min_size=1, max_size=8))
            data[position : position + len(patch)] = patch
        else:
            del data[position:]
    return fix_png_crcs(bytes(data)) if draw(st.booleans()) else bytes(data)


def test_corpus_decodes_cleanly() -> None:
    """The unmutated files: the allowed ones decode, the others are refused as a format."""
    for name, data in corpus():
        outcome = check_decoding(data)
        expected = "decoded" if not name.startswith(("tiff", "ico", "ppm", "tga")) else (
            "UnsupportedImageFormat")
        assert outcome == expected, name


@settings(FUZZ, max_examples=200)
@given(data=st.binary(max_size=2048))
def test_random_bytes(data: bytes) -> None:
    check_decoding(data)


@settings(FUZZ, max_examples=200)
@given(prefix=st.sampled_from([b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF89a", b"GIF87a",
                               b"RIFF\x00\x00\x00\x00WEBPVP8 ", b"BM", b"II*\x00"]),
       rest=st.binary(max_size=512))
def test_random_bytes_behind_a_magic_number(prefix: bytes, rest: bytes) -> None:
    """Random bytes that a format sniffer takes for an image reach the real parsers."""
    event(check_decoding(prefix + rest))


@settings(FUZZ, max_examples=600)
@given(data=mutated_files())
def test_mutated_files(data: bytes) -> None:
    note(f"data = {data!r}")  # the file itself, to replay a failure by hand
    event(check_decoding(data))  # pytest --hypothesis-show-statistics shows the outcomes


# --- (c) valid headers declaring forged dimensions -------------------------------------------


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    crc = zlib.crc32(kind + payload) & 0xFFFFFFFF
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)


def forge_png(width: int, height: int) -> bytes:
    """A real PNG whose IHDR (with a correct CRC) declares ``width`` x ``height``."""
    data = _save(_picture(16, 12, 3), "PNG")
    ihdr = struct.pack(">II", width, height) + data[24:29]
    return data[:8] + _png_chunk(b"IHDR", ihdr) + data[33:]


def forge_gif(width: int, height: int) -> bytes:
    """A real GIF whose logical screen and first image descriptor declare the size."""
    data = bytearray(_save(_picture(16, 12, 4).convert("P"), "GIF"))
    data[6:10] = struct.pack("<HH", width, height)
    position = 13 + (3 << ((data[10] & 7) + 1) if data[10] & 0x80 else 0)
    while data[position] == 0x21:  # extension blocks: label, then sized sub-blocks
        position += 2
        while data[position]:
            position += data[position] + 1
        position += 1
    assert data[position] == 0x2C  # the image descriptor
    data[position + 5 : position + 9] = struct.pack("<HH", width, height)
    return bytes(data)


def forge_bmp(width: int, height: int) -> bytes:
    """A real BMP whose BITMAPINFOHEADER declares the size (negative height: top-down)."""
    data = bytearray(_save(_picture(16, 12, 5), "BMP"))
    data[18:26] = struct.pack("<ii", width, height)
    return bytes(data)


def forge_jpeg(width: int, height: int) -> bytes:
    """A real baseline JPEG whose SOF0 segment declares the size."""
    data = bytearray(_save(_picture(16, 12, 6), "JPEG"))
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def forge_webp(width: int, height: int) -> bytes:
    """A real lossy WebP whose VP8 frame header declares the size (14 bits per side)."""
    data = bytearray(_save(_picture(16, 12, 7), "WEBP", quality=50))
    start = data.index(b"\x9d\x01\x2a")
    data[start + 3 : start + 7] = struct.pack("<HH", width & 0x3FFF, height & 0x3FFF)
    return bytes(data)


def forge_webp_canvas(width: int, height: int) -> bytes:
    """A real animated WebP whose VP8X canvas declares the size (24 bits per side).

    Animation frames may be smaller than the canvas, so libwebp accepts the file and
    allocates the canvas when Pillow creates its decoder: the size must be refused first.
    """
    data = bytearray(_animated("WEBP"))
    chunk = data.index(b"VP8X")
    data[chunk + 12 : chunk + 18] = (
        (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little"))
    return bytes(data)


FORGERS: dict[str, tuple[Callable[[int, int], bytes], int]] = {
    # name: (forger, largest side its header can hold)
    "png": (forge_png, 2**31 - 1),
    "gif": (forge_gif, 2**16 - 1),
    "bmp": (forge_bmp, 2**31 - 1),
    "jpeg": (forge_jpeg, 2**16 - 1),
    "webp": (forge_webp, 2**14 - 1),
    "webp-canvas": (forge_webp_canvas, 2**24),
}


@st.composite
def forged_sizes(draw: st.DrawFn, largest: int) -> tuple[int, int]:
    """Sides from tiny to the header's largest, often just around the pixel cap."""
    side = st.one_of(
        st.integers(1, 64),
        st.integers(1, largest),
        st.sampled_from([largest, 4096, 4097, 8192, 65535]).map(lambda n: min(n, largest)),
    )
    return draw(side), draw(side)


@pytest.mark.parametrize("name", FORGERS)
def test_forged_dimensions(name: str) -> None:
    forger, largest = FORGERS[name]

    @settings(FUZZ, max_examples=50)
    @given(size=forged_sizes(largest))
    def forged(size: tuple[int, int]) -> None:
        width, height = size
        data = forger(width, height)
        if width * height > MAX_PIXELS:
            # Over the shipped cap: refused from the header, fast (413, or 422 when the
            # header itself is rejected); `..._never_allocate` checks the memory side.
            for call in (lambda: decode_image(data, max_pixels=MAX_PIXELS),
                         lambda: open_upright(data, max_pixels=MAX_PIXELS)):
                _, error = _timed(call)
                assert isinstance(error, (ImageTooLarge, InvalidImage)), (size, error)
        check_decoding(data)

    forged()


def test_forged_sizes_are_read_from_the_header() -> None:
    """The forgers really forge: Pillow reads the forged size, so the cap is what refuses."""
    for name, (forger, largest) in FORGERS.items():
        side = min(largest, 60_000)
        assert declared_size(forger(side, 16)) == (side, 16), name
        with pytest.raises(ImageTooLarge):
            decode_image(forger(side, side), max_pixels=MAX_PIXELS)


# A child process with its address space capped: decoding any of these headers would need
# hundreds of megabytes to gigabytes, so if a decoder ever ran before the size check, the
# child would fail with MemoryError (or die). Sides: just over the cap (Pillow's own bomb
# check stays silent there), in the zone where only Pillow warns, and each header's largest.
_MEMORY_CHILD = textwrap.dedent(
    """
    import resource, sys
    sys.path.insert(0, {root!r})
    from tests.test_fuzz_decoding import FORGERS, MAX_PIXELS
    from webapp.errors import ImageTooLarge, InvalidImage
    from webapp.images import decode_image
    forged = [
        (f"{{name}} {{side}}x{{side}}", forger(side, side))
        for name, (forger, largest) in FORGERS.items()
        for side in sorted({{min(4097, largest), min(13000, largest), largest}})
    ]
    limit = {limit}
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    for name, data in forged:
        try:
            decode_image(data, max_pixels=MAX_PIXELS)
        except (ImageTooLarge, InvalidImage) as error:
            print(name, type(error).__name__)
        else:
            raise SystemExit(name + " was decoded")
    print("ok")
    """
)


def test_forged_huge_dimensions_never_allocate() -> None:
    root = str(Path(__file__).resolve().parent.parent)
    limit = 1024 * 1024 * 1024  # 1 GiB: a 4097 x 4097 RGBA decode alone needs 64 MiB
    environment = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    child = subprocess.run(
        [sys.executable, "-c", _MEMORY_CHILD.format(root=root, limit=limit)],
        capture_output=True, text=True, timeout=60, env=environment, check=False,
    )
    assert child.returncode == 0, child.stdout[-2000:] + child.stderr[-2000:]
    lines = child.stdout.splitlines()
    assert lines[-1] == "ok"
    assert len(lines) > len(FORGERS)


# --- a bug this fuzz found (a 500), fixed in webapp/images.py --------------------------------


def truncated_animated_gif() -> bytes:
    """A 3-frame GIF cut just after the introducer of its second frame's extension block."""
    frames = [Image.new("RGB", (16, 16), (60 * index, 0, 0)) for index in range(3)]
    data = _save(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=20)
    second = data.index(b"!\xf9", data.index(b"!\xf9") + 1)
    return data[: second + 1]


# `decode_image` counted frames with Pillow's `n_frames`, which parses every later frame's
# header: a truncated one raised IndexError (or struct.error) and escaped as a 500.


def test_truncated_animated_gif_decodes_or_is_refused() -> None:
    check_decoding(truncated_animated_gif())


# --- the same hostile files through the HTTP API ---------------------------------------------


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    with TestClient(create_app()) as test_client:
        yield test_client


def _assert_problem_or_success(response: httpx2.Response) -> None:
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        assert response.status_code in (400, 413, 415, 422), response.text
        assert response.headers["content-type"] == "application/problem+json"
        problem = json.loads(response.text)
        assert problem["status"] == response.status_code
        assert problem["detail"]


@settings(FUZZ, max_examples=25, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                        HealthCheck.too_slow])
@given(data=st.one_of(mutated_files(), forged_sizes(2**16 - 1).map(lambda s: forge_png(*s))))
def test_hostile_files_through_the_api(client: TestClient, data: bytes) -> None:
    upload = {"image": ("upload.png", data, "image/png")}
    for path, fields in (("/convolve", {"kernel": "identity"}), ("/reconstruct", {})):
        start = time.perf_counter()
        response = client.post(path, files=upload, data=fields,
                               headers={"accept": "application/json"})
        assert time.perf_counter() - start < 5 * SECONDS_PER_CALL
        _assert_problem_or_success(response)
    assert client.get("/health").status_code == 200


def test_truncated_animated_gif_through_the_api() -> None:
    with TestClient(create_app(), raise_server_exceptions=False) as test_client:
        response = test_client.post("/convolve", data={"kernel": "identity"},
                                    files={"image": ("a.gif", truncated_animated_gif())})
        _assert_problem_or_success(response)
        assert test_client.get("/health").status_code == 200


def test_the_api_refuses_forged_and_broken_files(client: TestClient) -> None:
    """The clear cases, one each: 413, 415 and 422, and /health still answers."""
    cases = [
        (forge_png(65535, 65535), 413),
        (forge_gif(65535, 65535), 413),
        (dict(corpus())["tiff"], 415),
        (dict(corpus())["png-rgb"][:60], 422),
        (b"not an image at all", 422),
    ]
    for data, status in cases:
        for path, fields in (("/convolve", {"kernel": "identity"}), ("/reconstruct", {})):
            response = client.post(path, files={"image": ("x.png", data, "image/png")},
                                   data=fields)
            assert response.status_code == status, (path, response.text)
            _assert_problem_or_success(response)
    assert client.get("/health").status_code == 200
