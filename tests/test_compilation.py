"""No request compiles: start-up compiles every numba signature a request can reach.

numba compiles one version of a loop per argument type, and an array's type includes its
dtype, dimensions, layout (C-contiguous or a view) and whether it is writable. A type that
`webapp.server.app.compile_loops` missed costs the first request that meets it one to four
seconds of compiling. The sweep below sends a request of every kind through the real app
(every kernel shape class, input type, padding mode, stride and dilation path, pooling,
drawings of every kind) and fails if any of them made numba compile, or load from its disk
cache, a version that start-up did not.

The sweep runs in a fresh interpreter: in the test session, earlier tests have already run
the loops on all sorts of arrays, which would hide a version that start-up misses.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, cast

import numpy as np
from numba import njit
from numba.core import event
from numba.core.dispatcher import Dispatcher
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent


def compiled_versions() -> dict[str, set[str]]:
    """Every numba loop in webapp's modules, and the argument types it has versions for."""
    versions: dict[str, set[str]] = {}
    for name, module in list(sys.modules.items()):
        if not name.startswith("webapp") or module is None:
            continue
        for attribute, value in vars(module).items():
            if isinstance(value, Dispatcher):
                versions[f"{name}.{attribute}"] = {str(types) for types in value.signatures}
    return versions


@contextmanager
def compiles_seen() -> Iterator[list[str]]:
    """The loops numba compiles inside the block (a load from its disk cache is not a
    compile event: `compiled_versions` catches those)."""
    seen: list[str] = []

    class Listener(event.Listener):
        def on_start(self, ev: event.Event) -> None:
            data = ev.data
            seen.append(f"{data['dispatcher'].py_func.__qualname__}{tuple(data['args'])}")

        def on_end(self, ev: event.Event) -> None:
            pass

    with event.install_listener("numba:compile", Listener()):
        yield seen


def _png(pixels: Any, image_format: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, image_format)
    return buffer.getvalue()


def _numeric_requests() -> Iterator[dict[str, Any]]:
    """JSON bodies for /convolve with numbers: 1-D and 2-D, integers and fractions, every
    kernel shape class, padding mode, stride, dilation and pooling."""
    rng = np.random.default_rng(5)
    inputs = {
        "1-D": rng.integers(0, 9, 24).tolist(),
        "2-D": rng.integers(0, 9, (17, 19)).tolist(),
        "2-D fractions": rng.random((12, 13)).round(3).tolist(),
    }
    kernels_2d = {
        "separable": [[1, 2, 1], [2, 4, 2], [1, 2, 1]],
        "sharpen": [[0, -1, 0], [-1, 5, -1], [0, -1, 0]],
        "1x1": [[2]],
        "2x2": [[1, -1], [-2, 3]],
        "4x4": rng.standard_normal((4, 4)).round(2).tolist(),
        "9x9": rng.standard_normal((9, 9)).round(2).tolist(),
        "1x3": [[1, 0, -1]],
        "zeros": [[0, 0], [0, 0]],
    }
    kernels_1d = {"edge": [-1, 0, 1], "1": [3], "pair": [1, 1], "long": list(range(1, 10))}
    for name, values in inputs.items():
        kernels = kernels_1d if name == "1-D" else kernels_2d
        for weights in kernels.values():
            for padding in ("valid", "same", "full", 1):
                for mode in ("zeros", "reflect", "replicate", "circular"):
                    for stride, dilation in ((1, 1), (2, 1), (3, 1), (1, 2), (2, 2)):
                        yield {"input": values, "weights": weights, "padding": padding,
                               "padding_mode": mode, "stride": stride, "dilation": dilation}
            yield {"input": values, "weights": weights, "flip": True}
        for operation in ("max-pool", "avg-pool"):
            for stride, pool_size, padding in ((2, 2, "valid"), (1, 3, "same"), (3, 2, 1)):
                yield {"input": values, "operation": operation, "pool_size": pool_size,
                       "stride": stride, "padding": padding}
    # Whole layers (webapp.layer): 3-D input, full and depthwise (the depthwise path runs
    # each channel through the one-kernel engine), every activation.
    volume = rng.integers(0, 9, (3, 11, 12)).tolist()
    for groups, filters in ((1, rng.standard_normal((4, 3, 3, 3)).round(2).tolist()),
                            (3, rng.standard_normal((3, 1, 3, 3)).round(2).tolist())):
        for stride, dilation, padding in ((1, 1, "valid"), (2, 1, "same"), (1, 2, "full")):
            for activation in ("none", "relu", "leaky-relu", "sigmoid", "tanh"):
                yield {"input": volume, "filters": filters, "groups": groups,
                       "activation": activation, "stride": stride, "dilation": dilation,
                       "padding": padding}


def _photo_requests() -> Iterator[tuple[str, bytes, dict[str, str]]]:
    """Multipart photos for /convolve: RGB and gray, PNG and JPEG, every kernel class."""
    rng = np.random.default_rng(6)
    rgb = rng.integers(0, 256, (70, 90, 3), dtype=np.uint8)
    files = {
        "photo.png": _png(rgb),
        "photo.jpg": _png(rgb, "JPEG"),
        "gray.png": _png(rgb[:, :, 0]),
        "rgba.png": _png(np.dstack([rgb, rgb[:, :, :1]])),
    }
    weights = {
        "sharpen": [[0, -1, 0], [-1, 5, -1], [0, -1, 0]],
        "separable": [[1, 2, 1], [2, 4, 2], [1, 2, 1]],
        "1x1": [[1]],
        "2x2": [[1, -1], [-1, 1]],
        "random 5x5": rng.standard_normal((5, 5)).round(2).tolist(),
        "random 9x9": rng.standard_normal((9, 9)).round(2).tolist(),
        "row": [1, 0, -1],
    }
    for name, data in files.items():
        for color in ("rgb", "gray"):
            for kernel in weights.values():
                for stride, dilation, padding in ((1, 1, "valid"), (1, 1, "same"), (2, 1, "same"),
                                                  (3, 1, "valid"), (1, 2, "same"), (2, 3, "full")):
                    for mode in ("zeros", "reflect") if padding != "valid" else ("zeros",):
                        yield name, data, {
                            "weights": json.dumps(kernel), "stride": str(stride),
                            "dilation": str(dilation), "padding": padding, "padding_mode": mode,
                            "color": color,
                        }
            yield name, data, {"kernel": "sobel-x", "color": color, "flip": "true",
                               "display": "normalize", "format": "jpeg"}
            for operation in ("max-pool", "avg-pool"):
                yield name, data, {"operation": operation, "pool_size": "3", "stride": "2",
                                   "color": color}
            for bank in ("edges", "gabor", "random-he"):
                for stride, padding in ((1, "same"), (2, "valid")):
                    yield name, data, {"bank": bank, "color": color, "stride": str(stride),
                                       "padding": padding, "activation": "relu"}
            yield name, data, {"bank": "colour-opponents", "groups": "1"} if color == "rgb" else (
                {"bank": "edges", "color": "gray", "groups": "1"})


def _drawings() -> Iterator[tuple[str, bytes]]:
    """Drawings for /reconstruct: with and without alpha, PNG and JPEG, large and small,
    a thin pen (thickened) and a huge sheet (shrunk)."""
    from tests.drawings import drawing

    for mode in ("RGB", "L", "RGBA", "LA", "P"):
        for canvas, size in ((280, 200), (40, 30)):
            data = drawing(3, canvas=canvas, size=size, mode="RGB" if mode in ("LA", "P") else mode)
            if mode in ("LA", "P"):
                converted = Image.open(io.BytesIO(data)).convert(mode)
                buffer = io.BytesIO()
                converted.save(buffer, "PNG")
                data = buffer.getvalue()
            yield "drawing.png", data
    photo = Image.open(io.BytesIO(drawing(5, canvas=560, size=400)))
    buffer = io.BytesIO()
    photo.save(buffer, "JPEG")
    yield "drawing.jpg", buffer.getvalue()
    sheet = np.full((1500, 1100), 255, np.uint8)
    rows = np.arange(200, 1300)
    sheet[rows, (rows * 0.7).astype(int)] = 0  # a 1 px stroke on a large sheet
    yield "thin.png", _png(sheet)
    yield "sixteen.png", _png(sheet.astype(np.uint16) * 257)


def sweep() -> dict[str, Any]:
    """In this (fresh) interpreter: start-up's compile, then every kind of request; what
    was compiled (or loaded from the disk cache) after start-up."""
    from fastapi.testclient import TestClient

    from webapp.server.app import compile_loops, create_app

    compile_loops()
    before = compiled_versions()
    answers: dict[int, int] = {}
    with compiles_seen() as seen, TestClient(create_app()) as client:
        for body in _numeric_requests():
            status = client.post("/convolve", json=body).status_code
            answers[status] = answers.get(status, 0) + 1
        for name, data, fields in _photo_requests():
            for accept in ("image/*", "application/json"):
                status = client.post("/convolve", files={"image": (name, data)}, data=fields,
                                     headers={"accept": accept}).status_code
                answers[status] = answers.get(status, 0) + 1
        for name, data in _drawings():
            for fields in ({"model": "seed"}, {"model": "wide", "noise": "0.3", "layers": "true"}):
                status = client.post("/reconstruct", files={"image": (name, data)},
                                     data=fields).status_code
                answers[status] = answers.get(status, 0) + 1
        pixels = np.eye(28).tolist()
        for body in ({"pixels": pixels}, {"pixels": (np.eye(28) * 255).tolist(), "layers": True},
                     {"pixels": [pixels, pixels], "noise": 0.2, "seed": 1}):
            status = client.post("/reconstruct", json=body).status_code
            answers[status] = answers.get(status, 0) + 1
        status = client.get("/samples", params={"count": 3, "model": "seed"}).status_code
        answers[status] = answers.get(status, 0) + 1
    after = compiled_versions()
    added = {name: sorted(types - before.get(name, set()))
             for name, types in after.items() if types - before.get(name, set())}
    return {"added": added, "compiled": seen, "answers": answers}


def test_no_request_compiles() -> None:
    """After start-up's compile, no request of any kind makes numba compile."""
    result = subprocess.run(
        [sys.executable, "-c",
         "import json; from tests.test_compilation import sweep; print(json.dumps(sweep()))"],
        cwd=ROOT, capture_output=True, text=True, check=False, timeout=900,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["added"] == {}, report
    assert report["compiled"] == [], report
    # The sweep reached the loops: most requests were answered, not refused.
    assert report["answers"].get("200", 0) > 0.9 * sum(report["answers"].values()), report


def test_the_watch_sees_a_compile() -> None:
    """`compiles_seen` notices a loop being compiled (the sweep's check can fail)."""

    def double(value: float) -> float:
        return 2 * value

    with compiles_seen() as seen:
        cast(Any, njit)(double)(1.5)
    assert seen and "double" in seen[0]
