"""Benchmark the hand-written pieces that a library could do instead: does each earn its place?

    python benchmarks/pieces.py             # 11 rounds
    python benchmarks/pieces.py --quick     # 5 rounds

(The reconstruction's compiled loops, the max filter that thickens thin strokes and the
small-PNG writer lost this comparison and were replaced by numpy, OpenCV's ``dilate`` and
OpenCV's ``imencode``.)

A piece stays hand-written only where it makes the path a user waits for at least 10%
faster (`TARGET`); otherwise the library's way is used. For each piece, both ways are
timed in the same run, interleaved, median of the rounds, twice: the piece alone, and the
request path it lies on (the in-process work of that request, HTTP aside):

1. small PNGs (no hand-written piece any more: which library and zlib level): the server's
   way, OpenCV's ``imencode`` at `webapp.images.SMALL_PNG_LEVEL`, against OpenCV at other
   levels and Pillow, on the pictures of a /reconstruct answer; with the bytes each writes
   (they travel base64-encoded in the JSON answer);
2. the drawing's block-max shrink (`_shrink_large_drawing`) against numpy's max over a
   reshaped array, on a large drawing;
3. the BOX resample into 28x28 (`_box_resample`) against Pillow's ``resize(BOX, box=...)``;
4. glibc's malloc tuning (`webapp.server.memory`) against glibc's defaults, on a photo
   request;
5. the ONNX initializer reader: no timing (it runs once per model at start-up, on no
   request's path); it stays because onnxruntime cannot list a model's weights and the
   ``onnx`` package is not a runtime dependency.

Ratios are hand-written / library (for 1, the server's way / the alternative): below 1.0
the first is faster. Writes the ``## pieces.py`` section of benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import io
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.results import Report, write_section  # noqa: E402
from benchmarks.timing import interleaved  # noqa: E402
from tests.drawings import drawing  # noqa: E402
from webapp import images  # noqa: E402
from webapp.autoencoder import preprocessing  # noqa: E402
from webapp.autoencoder.answers import ReconstructionAnswer  # noqa: E402
from webapp.autoencoder.reconstruction import ReconstructOptions, reconstruct_drawing  # noqa: E402
from webapp.autoencoder.registry import ModelRegistry  # noqa: E402
from webapp.options import PhotoOptions  # noqa: E402
from webapp.photos import convolve_photo  # noqa: E402
from webapp.server import memory  # noqa: E402
from webapp.server.settings import Settings  # noqa: E402

TARGET = 0.9
"""A hand-written piece must make its path at least 10% faster than the library's way."""

MAX_PIXELS = 16_000_000


@contextmanager
def swapped(module: Any, name: str, replacement: object) -> Iterator[None]:
    original = getattr(module, name)
    setattr(module, name, replacement)
    try:
        yield
    finally:
        setattr(module, name, original)


def pillow_png(level: int) -> Callable[[NDArray[np.uint8]], bytes]:
    """Pillow's PNG encoder at zlib ``level``, as a stand-in for `images._small_png`."""
    def encode(pixels: NDArray[np.uint8]) -> bytes:
        buffer = io.BytesIO()
        Image.fromarray(pixels).save(buffer, "PNG", compress_level=level)
        return buffer.getvalue()
    return encode


def small_png_table(canvas: Callable[[], object], rounds: int, say: Report) -> None:
    """1: the server's small-PNG encoder / each alternative, alone and on /reconstruct."""
    server_png = images._small_png
    pictures: list[NDArray[np.uint8]] = []

    def kept(pixels: NDArray[np.uint8]) -> bytes:
        pictures.append(pixels)
        return server_png(pixels)

    with swapped(images, "_small_png", kept):
        canvas()
    level = images.SMALL_PNG_LEVEL
    shapes = ", ".join("x".join(map(str, picture.shape)) for picture in pictures)
    written = sum(len(server_png(picture)) for picture in pictures)
    say(f"1. small PNGs on /reconstruct ({len(pictures)} pictures: {shapes}): the server's way, "
        f"OpenCV imencode at level {level} ({written:,} bytes), / each alternative")
    say(f"   {'alternative':<20} {'alone':>6} {'its path':>9} {'path ms':>8} {'bytes':>7}")
    alternatives: Sequence[tuple[str, Callable[[], AbstractContextManager[None]]]] = [
        (f"OpenCV level {other}", partial(swapped, images, "SMALL_PNG_LEVEL", other))
        for other in (0, 1, 3, 6, 9) if other != level
    ] + [
        (f"Pillow level {other}", partial(swapped, images, "_small_png", pillow_png(other)))
        for other in (0, 1)
    ]
    for name, alternative in alternatives:
        def encoded_by_alternative(
            alternative: Callable[[], AbstractContextManager[None]] = alternative,
        ) -> list[bytes]:
            with alternative():
                return [images._small_png(picture) for picture in pictures]

        def canvas_by_alternative(
            alternative: Callable[[], AbstractContextManager[None]] = alternative,
        ) -> object:
            with alternative():
                return canvas()

        alone = interleaved([lambda: [server_png(picture) for picture in pictures],
                             encoded_by_alternative], rounds, 200)
        path = interleaved([canvas, canvas_by_alternative], rounds, 20)
        size = sum(len(encoded) for encoded in encoded_by_alternative())
        say(f"   {name:<20} {alone[0] / alone[1]:>6.2f} {path[0] / path[1]:>9.2f} "
            f"{path[1] * 1000:>8.2f} {size:>7,}")
    say()


def numpy_block_max(crop: NDArray[np.float32]) -> NDArray[np.float32]:
    """`_shrink_large_drawing` the plain numpy way: max over the blocks of a reshape."""
    factor = -(-max(crop.shape) // preprocessing.WORKING_SIZE)
    if factor == 1:
        return crop
    height = -(-crop.shape[0] // factor) * factor
    width = -(-crop.shape[1] // factor) * factor
    padded = np.pad(crop, ((0, height - crop.shape[0]), (0, width - crop.shape[1])))
    blocks = padded.reshape(height // factor, factor, width // factor, factor)
    shrunk: NDArray[np.float32] = blocks.max(axis=(1, 3))
    return shrunk


def pillow_box(values: NDArray[np.float64], top: float, left: float,
               side: float) -> NDArray[np.float64]:
    """`_box_resample` with Pillow: the window may reach past the image, where the paper
    is black, so the image is first padded by as much."""
    margin = int(np.ceil(max(0.0, -top, -left, top + side - values.shape[0],
                             left + side - values.shape[1]))) + 1
    padded = np.pad(values.astype(np.float32), margin)
    window = (left + margin, top + margin, left + margin + side, top + margin + side)
    resized = Image.fromarray(padded, "F").resize(
        (preprocessing.DIGIT_SIZE, preprocessing.DIGIT_SIZE), Image.Resampling.BOX, box=window)
    return np.asarray(resized, dtype=np.float64)


def thin_sheet() -> bytes:
    """A large sheet with a 1 px stroke: shrunk, then thickened."""
    sheet = Image.new("L", (1400, 1000), 255)
    ImageDraw.Draw(sheet).line((200, 150, 500, 850), fill=0, width=1)
    ImageDraw.Draw(sheet).line((500, 850, 800, 150), fill=0, width=1)
    buffer = io.BytesIO()
    sheet.save(buffer, "PNG")
    return buffer.getvalue()


def photo_request(size: int) -> Callable[[], object]:
    """The in-process work of a ``size``^2 PNG photo request (sharpen, same)."""
    cat = Image.open(ROOT / "static" / "samples" / "cat.jpg").convert("RGB")
    buffer = io.BytesIO()
    cat.resize((size, size)).save(buffer, "PNG")
    data = buffer.getvalue()
    photo_options = PhotoOptions(kernel="sharpen", padding="same")
    return lambda: convolve_photo(data, photo_options, max_pixels=MAX_PIXELS,
                                  max_kernel_size=31)


def malloc_child(setting: str, size: int, calls: int) -> None:
    """In a fresh process, with or without the server's malloc tuning: the median seconds
    of ``calls`` photo requests after warm-up ones (glibc's own thresholds adapt as a
    process runs, so the comparison is of two processes that have run a while)."""
    if setting == "tuned":
        memory.keep_freed_buffers()
    request = photo_request(size)
    for _ in range(3):
        request()
    times = []
    for _ in range(calls):
        started = time.perf_counter()
        request()
        times.append(time.perf_counter() - started)
    print(statistics.median(times))


def malloc_rounds(size: int, rounds: int) -> tuple[float, float]:
    """Median seconds per photo request with and without the tuning, each round a fresh
    process of each, alternated."""
    times: tuple[list[float], list[float]] = ([], [])
    for _ in range(max(3, rounds // 2)):
        for setting, kept in (("tuned", times[0]), ("none", times[1])):
            output = subprocess.run(
                [sys.executable, __file__, "--malloc-child", setting, "--size", str(size)],
                capture_output=True, text=True, check=True,
            ).stdout
            kept.append(float(output.strip().splitlines()[-1]))
    return statistics.median(times[0]), statistics.median(times[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds")
    parser.add_argument("--no-write", action="store_true", help="leave RESULTS.md alone")
    parser.add_argument("--malloc-child", choices=("tuned", "none"), help=argparse.SUPPRESS)
    parser.add_argument("--size", type=int, default=512, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.malloc_child:
        malloc_child(args.malloc_child, args.size, 15 if args.size <= 512 else 5)
        return
    rounds = 5 if args.quick else 11
    say = Report()
    models = ModelRegistry(Settings().model_dir, providers="cpu")
    options = ReconstructOptions(model="seed")

    def reconstruct(data: bytes) -> Callable[[], object]:
        def run() -> object:
            result = reconstruct_drawing(data, options, models, max_pixels=MAX_PIXELS)
            return ReconstructionAnswer.of(result).model_dump_json()
        return run

    canvas = reconstruct(drawing())
    small_png_table(canvas, rounds, say)

    say(f"{'piece':<52} {'alone':>6} {'its path':>9} {'path ms':>8} {'keep if <=':>10}  verdict")

    def row(piece: str, alone: Sequence[float], path: Sequence[float]) -> None:
        path_ratio = path[0] / path[1]
        verdict = "keep" if path_ratio <= TARGET else "use the library"
        say(f"{piece:<52} {alone[0] / alone[1]:>6.2f} {path_ratio:>9.2f} "
            f"{path[1] * 1000:>8.2f} {TARGET:>10.2f}  {verdict}")

    sheet = thin_sheet()
    ink = preprocessing._ink_channel(Image.open(io.BytesIO(sheet)))
    alone = interleaved([lambda: preprocessing._shrink_large_drawing(ink),
                         lambda: numpy_block_max(ink)], rounds, 10)

    def sheet_by_numpy() -> object:
        with swapped(preprocessing, "_shrink_large_drawing", numpy_block_max):
            return reconstruct(sheet)()

    row("2. block-max shrink vs numpy reshape, sheet", alone,
        interleaved([reconstruct(sheet), sheet_by_numpy], rounds, 5))

    crop = np.zeros((200, 140), np.float64)
    crop[20:180, 30:110] = np.random.default_rng(0).random((160, 80))
    arguments = (-30.5, -50.25, 280.0)
    alone = interleaved([lambda: preprocessing._box_resample(crop, *arguments),
                         lambda: pillow_box(crop, *arguments)], rounds, 50)

    def canvas_by_pillow() -> object:
        with swapped(preprocessing, "_box_resample", pillow_box):
            return canvas()

    row("3. BOX resample vs Pillow resize(BOX), /reconstruct", alone,
        interleaved([canvas, canvas_by_pillow], rounds, 20))

    for size in (512, 2048):
        timed = malloc_rounds(size, rounds)
        row(f"4. malloc tuning vs none, {size}^2 photo request", timed, timed)
    say("5. ONNX initializer reader vs the onnx package: not timed (start-up only, once per "
        "model); kept: onnxruntime does not list initializers, onnx is no runtime dependency")
    say()
    say("alone: the piece by itself; its path: the in-process work of the request it serves "
        "(decode, compute, answer); ratios hand-written / library (in 1, the server's way / "
        f"the alternative), medians of {rounds} interleaved rounds; path ms: the second's.")
    if not args.no_write:
        write_section("pieces.py", "python benchmarks/pieces.py" + (" --quick" if args.quick
                                                                   else ""), say.lines)


if __name__ == "__main__":
    main()
