"""Every row of hardening.md, sent for real: the status, a JSON body naming the problem, an
answer within a time bound, and a server that still answers /health afterwards.

Most rows go through the ASGI app in-process; the ones about the wire (chunked bodies, a
client that hangs up mid-upload, a flood) go to a real uvicorn server on loopback, whose
log is read afterwards for any 500 or traceback.
"""

from __future__ import annotations

import io
import os
import socket
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from tests.conftest import encode, gradient_photo
from tests.drawings import blank_drawing, drawing
from tests.hostile import animated_gif, forged_png, image_in_mode, rotated_jpeg, truncated_png
from tests.servers import running_server
from webapp.server.app import create_app
from webapp.server.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
BOUND_SECONDS = 5.0
"""No hostile request may take longer than this to be answered."""


def tiff_named_png() -> tuple[str, bytes, str]:
    buffer = io.BytesIO()
    Image.fromarray(gradient_photo(8, 8)).save(buffer, "TIFF")
    return ("photo.png", buffer.getvalue(), "image/png")


def upload(data: bytes, name: str = "upload.png") -> dict[str, Any]:
    return {"files": {"image": (name, data, "image/png")}}


ROWS: list[tuple[str, str, Callable[[], dict[str, Any]], set[int], str]] = [
    # (row of hardening.md, path, request, acceptable statuses, words the answer must name)
    ("not multipart", "/convolve",
     lambda: {"content": b"kernel=identity", "headers": {"content-type":
                                                        "application/x-www-form-urlencoded"}},
     {422}, "multipart"),
    ("field missing", "/convolve", lambda: {"data": {"kernel": "identity"},
                                           "files": {"other": ("a", b"x", "text/plain")}},
     {422}, "image"),
    ("wrong field types", "/convolve",
     lambda: {**upload(encode(gradient_photo())), "data": {"kernel": "identity",
                                                            "stride": "fast"}},
     {422}, "stride"),
    ("no boundary", "/convolve",
     lambda: {"content": b"--x\r\n", "headers": {"content-type": "multipart/form-data"}},
     {400, 422}, ""),
    ("many parts", "/convolve",
     lambda: {"data": {f"field{i}": "1" for i in range(2000)},
              "files": {"image": ("a.png", encode(gradient_photo()), "image/png")}},
     {400, 422}, ""),
    ("huge non-file field", "/convolve",
     lambda: {"data": {"weights": "1" * (2 * 1024 * 1024)},
              "files": {"image": ("a.png", encode(gradient_photo()), "image/png")}},
     {400, 413, 422}, ""),
    ("empty file", "/convolve", lambda: {**upload(b""), "data": {"kernel": "identity"}},
     {415, 422}, "empty"),
    ("not an image", "/convolve",
     lambda: {**upload(b"%PDF-1.4 definitely a document"), "data": {"kernel": "identity"}},
     {415, 422}, "image"),
    ("format outside the allow-list, named .png", "/convolve",
     lambda: {"files": {"image": tiff_named_png()}, "data": {"kernel": "identity"}},
     {415}, "TIFF"),
    ("decompression bomb (forged PNG header)", "/convolve",
     lambda: {**upload(forged_png(60_000, 60_000)), "data": {"kernel": "identity"}},
     {413, 422}, "pixels"),
    ("over the pixel cap", "/convolve",
     lambda: {**upload(forged_png(4097, 4097)), "data": {"kernel": "identity"}},
     {413, 422}, "16,777,216"),
    ("truncated image", "/convolve",
     lambda: {**upload(truncated_png()), "data": {"kernel": "identity"}},
     {422}, "truncated"),
    ("kernel not a matrix", "/convolve",
     lambda: {**upload(encode(gradient_photo())), "data": {"weights": '{"a": 1}'}},
     {422}, "weights"),
    ("kernel ragged", "/convolve",
     lambda: {**upload(encode(gradient_photo())), "data": {"weights": "[[1,2],[3]]"}},
     {422}, "ragged"),
    ("kernel NaN", "/convolve",
     lambda: {**upload(encode(gradient_photo())), "data": {"weights": "[[NaN]]"}},
     {422}, "NaN"),
    ("kernel inf", "/convolve",
     lambda: {**upload(encode(gradient_photo())), "data": {"weights": "[[Infinity]]"}},
     {422}, "Infinity"),
    ("kernel over the size cap", "/convolve",
     lambda: {**upload(encode(gradient_photo())), "data": {"weights": str([[1] * 33] * 33)}},
     {422}, "31"),
    ("NaN in a JSON body", "/convolve",
     lambda: {"content": b'{"input": [1, NaN], "weights": [1]}',
              "headers": {"content-type": "application/json"}},
     {422}, "NaN"),
    ("inf in a JSON body", "/convolve",
     lambda: {"content": b'{"input": [1, 2], "weights": [-Infinity]}',
              "headers": {"content-type": "application/json"}},
     {422}, "Infinity"),
    ("stride < 1", "/convolve", lambda: {"json": {"input": [1, 2], "weights": [1], "stride": 0}},
     {422}, "stride"),
    ("dilation < 1", "/convolve",
     lambda: {"json": {"input": [1, 2], "weights": [1], "dilation": 0}}, {422}, "dilation"),
    ("negative padding", "/convolve",
     lambda: {"json": {"input": [1, 2], "weights": [1], "padding": -1}}, {422}, "padding"),
    ("empty output", "/convolve", lambda: {"json": {"input": [1, 2], "weights": [1, 1, 1]}},
     {422}, "floor((2 + 0 + 0 - 3) / 1) + 1 = 0"),
    ("unknown preset", "/convolve",
     lambda: {**upload(encode(gradient_photo())), "data": {"kernel": "sobel-z"}},
     {404, 422}, "sobel-x"),
    ("unknown model", "/reconstruct", lambda: {**upload(drawing()), "data": {"model": "gpt"}},
     {404, 422}, "seed"),
    ("blank drawing", "/reconstruct", lambda: upload(blank_drawing()), {422},
     "image has no ink in it; draw a digit first."),
]


@pytest.mark.parametrize(("row", "path", "request_of", "statuses", "named"), ROWS,
                         ids=[row[0] for row in ROWS])
def test_hostile_input_gets_a_clear_4xx(
    client: TestClient, row: str, path: str, request_of: Callable[[], dict[str, Any]],
    statuses: set[int], named: str,
) -> None:
    started = time.perf_counter()
    response = client.post(path, **request_of())
    elapsed = time.perf_counter() - started
    assert response.status_code in statuses, (row, response.status_code, response.text)
    assert response.headers["content-type"].startswith("application/problem+json"), row
    body = response.json()
    assert body["status"] == response.status_code
    assert named in body["detail"], (row, body)
    assert elapsed < BOUND_SECONDS, (row, elapsed)
    assert client.get("/health").json()["status"] == "ok"


@pytest.mark.parametrize(
    ("row", "data", "expected_shape"),
    [
        ("animated GIF: first frame", animated_gif(200), [16, 16, 3]),
        ("RGBA", image_in_mode("RGBA"), [12, 10, 3]),
        ("palette", image_in_mode("P"), [12, 10, 3]),
        ("LA", image_in_mode("LA"), [12, 10, 3]),
        ("16-bit gray", image_in_mode("I;16"), [12, 10, 3]),
        ("CMYK JPEG", image_in_mode("CMYK"), [12, 10, 3]),
        ("1-bit", image_in_mode("1"), [12, 10, 3]),
        ("1x1", encode(np.zeros((1, 1, 3), np.uint8)), [1, 1, 3]),
        ("EXIF rotation", rotated_jpeg(), [40, 20, 3]),
    ],
)
def test_odd_images_are_handled(
    client: TestClient, row: str, data: bytes, expected_shape: list[int]
) -> None:
    started = time.perf_counter()
    response = client.post("/convolve", **upload(data),
                           data={"kernel": "identity", "padding": "same"},
                           headers={"accept": "application/json"})
    assert response.status_code == 200, (row, response.text)
    assert response.json()["input_shape"] == expected_shape
    assert time.perf_counter() - started < BOUND_SECONDS


def test_outputs_never_echo_the_upload_or_its_name(client: TestClient) -> None:
    response = client.post("/convolve", files={"image": ("secret-name.jpg", rotated_jpeg(),
                                                         "image/jpeg")},
                           data={"kernel": "identity"})
    assert b"SecretCam" not in response.content
    assert "secret-name" not in str(response.headers)


def test_a_request_over_its_time_limit_gets_503() -> None:
    big = encode(gradient_photo(1500, 1500))
    settings = Settings(request_timeout_seconds=0.01)
    with TestClient(create_app(settings)) as client:
        response = client.post("/convolve", **upload(big),
                               data={"weights": str([[1] * 31] * 31), "padding": "same"})
        assert response.status_code == 503
        assert "longer than" in response.json()["detail"]
        assert response.headers["retry-after"]
        assert client.get("/health").status_code == 200


# --- on the wire: a real uvicorn server -------------------------------------------------


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """uvicorn in a subprocess, with a small body cap and queue, and its log file."""
    log = tmp_path_factory.mktemp("server") / "server.log"
    environment = {
        **os.environ,
        "CONVLENS_MAX_BODY_BYTES": str(2 * 1024 * 1024),
        "CONVLENS_COMPUTE_THREADS": "1",
        "CONVLENS_QUEUE_LENGTH": "1",
    }
    # uvicorn's own access log stays on: the check below reads every status it answered.
    with log.open("w") as output, \
            running_server("--log-level", "info", "--access-log", environment=environment,
                           log=output) as (base, _):
        yield base, log
    text = log.read_text()
    assert "Traceback" not in text, text
    assert '"status": 500' not in text, text


def raw_request(base: str, head: bytes, body_chunks: list[bytes], *, close_early: bool = False,
                ) -> bytes:
    """Send a hand-written HTTP/1.1 request; return what the server answered."""
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as connection:
        connection.sendall(head)
        try:
            for chunk in body_chunks:
                connection.sendall(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server refused the body early, as it should
        if close_early:
            return b""
        answer = b""
        try:
            while not answer.endswith(b"}") and len(answer) < 65536:
                data = connection.recv(65536)
                if not data:
                    break
                answer += data
        except (ConnectionResetError, TimeoutError):
            pass
        return answer


def test_chunked_body_over_the_cap_is_refused_while_streaming(
    server: tuple[str, Path],
) -> None:
    base, _ = server
    head = (b"POST /convolve HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
            b"Content-Type: multipart/form-data; boundary=b\r\n\r\n")
    # A well-formed start of a file part, then 4 MiB of its "file": only the cap stops it.
    part = b'--b\r\nContent-Disposition: form-data; name="image"; filename="a.png"\r\n\r\n'
    chunk = b"0" * 65536
    chunks = [b"%x\r\n" % len(part) + part + b"\r\n"]
    chunks += [b"%x\r\n" % len(chunk) + chunk + b"\r\n"] * 64 + [b"0\r\n\r\n"]
    started = time.perf_counter()
    answer = raw_request(base, head, chunks)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert b"limit" in answer
    assert time.perf_counter() - started < BOUND_SECONDS
    assert httpx.get(f"{base}/health").status_code == 200


def test_declared_length_over_the_cap_is_refused_before_the_body(
    server: tuple[str, Path],
) -> None:
    base, _ = server
    head = (b"POST /convolve HTTP/1.1\r\nHost: x\r\nContent-Length: 50000000\r\n"
            b"Content-Type: multipart/form-data; boundary=b\r\n\r\n")
    answer = raw_request(base, head, [])  # not a byte of the body is sent
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]


def test_client_that_disconnects_mid_upload(server: tuple[str, Path]) -> None:
    base, log = server
    head = (b"POST /convolve HTTP/1.1\r\nHost: x\r\nContent-Length: 1500000\r\n"
            b"Content-Type: multipart/form-data; boundary=b\r\n\r\n")
    body = b'--b\r\nContent-Disposition: form-data; name="image"; filename="a.png"\r\n\r\n'
    for _ in range(5):
        raw_request(base, head, [body + b"0" * 200_000], close_early=True)
    time.sleep(0.5)
    assert httpx.get(f"{base}/health").status_code == 200
    assert "Traceback" not in log.read_text()


def test_flood_is_answered_503_past_the_queue_while_health_stays_fast(
    server: tuple[str, Path],
) -> None:
    base, _ = server
    photo = encode(gradient_photo(1200, 1200))

    def heavy(_: int) -> httpx.Response:
        return httpx.post(f"{base}/convolve", files={"image": ("p.png", photo, "image/png")},
                          data={"weights": str([[1] * 21] * 21), "padding": "same"},
                          timeout=60)

    def health(_: int) -> float:
        started = time.perf_counter()
        assert httpx.get(f"{base}/health", timeout=10).status_code == 200
        return time.perf_counter() - started

    with ThreadPoolExecutor(max_workers=12) as pool:
        floods = [pool.submit(heavy, i) for i in range(10)]
        time.sleep(0.2)
        health_times = list(pool.map(health, range(10)))
        answers = [future.result() for future in floods]
    statuses = sorted(response.status_code for response in answers)
    assert set(statuses) <= {200, 503}, statuses
    assert statuses.count(503) >= 5, statuses  # 1 running + 1 waiting admitted at most ...
    assert statuses.count(200) >= 1, statuses
    for response in answers:
        if response.status_code == 503:
            assert response.headers["retry-after"]
            assert "busy" in response.json()["detail"]
    # ... and /health never waits for them (a loose bound: the load benchmark measures it).
    assert max(health_times) < BOUND_SECONDS, health_times
