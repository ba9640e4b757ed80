"""Benchmark the convolution engine against OpenCV, and one /convolve request end to end.

    python benchmarks/convolve.py            # the full run (a few minutes on 2 cores)
    python benchmarks/convolve.py --quick    # 512^2 and 2048^2 only, fewer repeats

Every number is a ratio against a reference measured in the same run, interleaved
(engine, reference, engine, reference, ...), median of the repeats: the machines are shared
and noisy, so absolute times mean little. Ratios below 1.0 mean convlens is faster.

1. Engine vs OpenCV: `webapp.convolution.convolve` against `cv2.filter2D` on the same
   RGB photo (then `[::s, ::s]` slicing for stride s, which computes every output and throws
   most away). Kernels: a random (non-separable) one and a Gaussian.
   Targets: stride 1 <= 1.0; stride 2 <= 1.0 at 3x3 and <= 0.5 at 7x7, on 8-bit pixels as
   every uploaded photo arrives. A second table starts both sides from float32 pixels, which
   no request sends (the numeric mode's small inputs are float64): a diagnostic, unjudged.
2. A 9x9 kernel at stride 2 against stride 1, end to end (decode, compute, encode).
   Target: <= 0.6.
3. A whole 2048^2 PNG POST /convolve (in-process ASGI, multipart parsing included) against a
   hand-written Pillow + OpenCV pipeline doing the same work. Target: <= 1.3. And the split
   of the request into decode, compute, display, encode and the rest.
"""

from __future__ import annotations

import argparse
import io
import logging
import statistics
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.results import Report, write_section  # noqa: E402
from benchmarks.timing import interleaved  # noqa: E402
from webapp.convolution import convolve  # noqa: E402
from webapp.images import encode_image  # noqa: E402
from webapp.server.memory import keep_freed_buffers  # noqa: E402

say = Report()
"""The tables as printed, kept for benchmarks/RESULTS.md."""

def photo(size: int) -> NDArray[np.uint8]:
    """A real photo (the bundled cat) scaled to ``size`` x ``size``: PNG sizes like a photo's."""
    cat = Image.open(ROOT / "static" / "samples" / "cat.jpg").convert("RGB")
    return np.asarray(cat.resize((size, size), Image.Resampling.BICUBIC), dtype=np.uint8)


def engine_table(sizes: list[int], repeats: int, source: str) -> None:
    """One table of ratios; ``source`` is "uint8" (pixels as a decoded photo has them: both
    sides convert to float32 on the way; judged against the targets) or "float32" (both
    sides start from floats; a diagnostic)."""
    judged = source == "uint8"
    say(f"\n1. Engine vs OpenCV filter2D (+ slicing for stride 2), RGB from {source}, "
          f"median ratios{'' if judged else ' (diagnostic: no request sends float32 pixels)'}")
    say(f"{'size':>6} {'kernel':>14} {'stride':>6} {'convlens ms':>12} {'opencv ms':>10}"
          f" {'ratio':>6} {'target':>7}")
    rng = np.random.default_rng(0)
    for size in sizes:
        pixels = photo(size)
        image = pixels if source == "uint8" else pixels.astype(np.float32)
        for k in (3, 7):
            gaussian_1d = cv2.getGaussianKernel(k, 0).astype(np.float64)
            kernels = {
                f"random {k}x{k}": rng.standard_normal((k, k)),
                f"gaussian {k}x{k}": gaussian_1d @ gaussian_1d.T,
            }
            for label, kernel in kernels.items():
                kernel32 = kernel.astype(np.float32)
                for stride in (1, 2):
                    def ours(kernel: NDArray[np.float64] = kernel, stride: int = stride,
                             image: NDArray[Any] = image) -> object:
                        return convolve(image, kernel, stride=stride).output

                    def theirs(kernel32: NDArray[np.float32] = kernel32, stride: int = stride,
                               image: NDArray[Any] = image) -> object:
                        floats = image.astype(np.float32, copy=False)
                        full = cv2.filter2D(floats, -1, kernel32, borderType=cv2.BORDER_CONSTANT)
                        return np.ascontiguousarray(full[::stride, ::stride])

                    mine, reference = interleaved([ours, theirs], repeats if size < 4096 else 3)
                    target = 1.0 if stride == 1 or k == 3 else 0.5
                    ratio = mine / reference
                    flag = ("ok" if ratio <= target else "MISSED") if judged else ""
                    say(f"{size:>6} {label:>14} {stride:>6} {mine * 1000:>12.1f} "
                          f"{reference * 1000:>10.1f} {ratio:>6.2f} {'<=' + str(target):>7} {flag}")


def end_to_end(size: int, repeats: int) -> None:
    from fastapi.testclient import TestClient

    from webapp.server.app import create_app

    png = encode_image(photo(size))
    kernel9 = np.outer(*(2 * [cv2.getGaussianKernel(9, 0)[:, 0]]))
    kernel9 = kernel9 + np.random.default_rng(1).standard_normal((9, 9)) * 1e-3  # not separable
    weights = str(kernel9.tolist())

    app = create_app()
    logging.getLogger("convlens.access").setLevel(logging.WARNING)  # one line per request
    with TestClient(app) as client:
        def request(stride: int, weights: str = weights) -> Callable[[], object]:
            def send() -> object:
                response = client.post(
                    "/convolve",
                    files={"image": ("photo.png", png, "image/png")},
                    data={"weights": weights, "stride": str(stride), "padding": "same"},
                )
                assert response.status_code == 200, response.text
                return response

            return send

        strided, dense = interleaved([request(2), request(1)], repeats)
        say(f"\n2. 9x9 kernel, {size}^2 PNG request end to end: stride 2 {strided * 1000:.0f} ms,"
              f" stride 1 {dense * 1000:.0f} ms, ratio {strided / dense:.2f} (target <= 0.6)"
              f" {'ok' if strided / dense <= 0.6 else 'MISSED'}")

        sharpen = [[0, -1, 0], [-1, 5, -1], [0, -1, 0]]
        kernel3 = np.array(sharpen, dtype=np.float32)

        def by_hand() -> object:
            pixels = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))
            output = cv2.filter2D(pixels.astype(np.float32), -1, kernel3,
                                  borderType=cv2.BORDER_CONSTANT)
            shown = np.clip(output + 0.5, 0, 255).astype(np.uint8)
            buffer = io.BytesIO()
            Image.fromarray(shown).save(buffer, "PNG", compress_level=1)
            return buffer.getvalue()

        timings: list[dict[str, float]] = []

        def whole_request() -> object:
            response = client.post(
                "/convolve",
                files={"image": ("photo.png", png, "image/png")},
                data={"kernel": "sharpen", "padding": "same"},
            )
            assert response.status_code == 200, response.text
            timings.append({
                part.split(";dur=")[0]: float(part.split(";dur=")[1])
                for part in response.headers["server-timing"].split(", ")
            })
            return response

        ours, reference = interleaved([whole_request, by_hand], repeats)
        ratio = ours / reference
        say(f"\n3. Whole {size}^2 PNG POST /convolve (sharpen, same): {ours * 1000:.0f} ms vs "
              f"Pillow + OpenCV by hand {reference * 1000:.0f} ms: ratio {ratio:.2f} "
              f"(target <= 1.3) {'ok' if ratio <= 1.3 else 'MISSED'}")
        parts = {name: statistics.median(t[name] for t in timings) for name in timings[0]}
        rest = ours * 1000 - sum(parts.values())
        split = ", ".join(f"{name} {value:.0f} ms" for name, value in parts.items())
        say(f"   split: {split}, the rest (HTTP, multipart, framework) {rest:.0f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="skip 4096^2, fewer repeats")
    parser.add_argument("--no-write", action="store_true",
                        help="print only; leave benchmarks/RESULTS.md alone")
    args = parser.parse_args()
    sizes = [512, 2048] if args.quick else [512, 2048, 4096]
    repeats = 5 if args.quick else 11
    # The server tunes malloc at start-up (webapp.server.memory); measure the engine as it runs
    # there. Both sides of every ratio share the setting.
    tuned = keep_freed_buffers()
    say(f"OpenCV {cv2.__version__}, {cv2.getNumThreads()} threads; numpy {np.__version__}; "
          f"malloc tuning {'on' if tuned else 'unavailable'}")
    for source in ("uint8", "float32"):
        engine_table(sizes, repeats, source)
    end_to_end(2048, max(3, repeats // 2))

    if not args.no_write:
        write_section(
            "convolve.py", "python benchmarks/convolve.py" + (" --quick" if args.quick else ""),
            say.lines,
        )


if __name__ == "__main__":
    main()
