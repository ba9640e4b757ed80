"""Problems in Korean: a client that asks for Korean (``Accept-Language: ko``, the cookie or
``?lang=ko``) gets each problem's ``title``, ``detail`` and ``errors[].message`` in Korean;
``type``, ``status``, ``field`` and ``errors[].field`` never change, and a client that asks
for nothing gets the English of before. People see the same problems in Korean: the htmx
fragment next to the field at fault, and the error page."""

from __future__ import annotations

import html
import io
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from tests.conftest import encode, gradient_photo
from tests.hostile import truncated_png
from tests.korean import HANGUL, english_left, numbers, skeleton
from webapp.server.app import create_app
from webapp.server.language import COOKIE
from webapp.server.settings import Settings

KOREAN = {"Accept-Language": "ko-KR,ko;q=0.9,en;q=0.8"}
HTMX = {"HX-Request": "true"}
BROWSER = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8", "Sec-Fetch-Dest": "document"}

Send = Callable[[TestClient, dict[str, str]], Any]


def _photo(data: bytes, name: str = "upload.png") -> dict[str, Any]:
    return {"files": {"image": (name, data, "application/octet-stream")}}


def _tiff() -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(gradient_photo(8, 8)).save(buffer, "TIFF")
    return buffer.getvalue()


# (what, the settings it needs, the request, status, title in English, field)
PROBLEMS: list[tuple[str, dict[str, Any], Send, int, str, str | None]] = [
    ("unknown kernel", {}, lambda client, headers: client.post(
        "/convolve", json={"input": [0, 1, 2, 3, 4], "kernel": "sobel-z"}, headers=headers),
     404, "Unknown name", "kernel"),
    ("ragged kernel", {}, lambda client, headers: client.post(
        "/convolve", json={"input": [0, 1, 2, 3, 4], "weights": [[1, 2], [3]]}, headers=headers),
     422, "Invalid kernel", "weights"),
    ("empty output", {}, lambda client, headers: client.post(
        "/convolve", json={"input": [0, 1, 2], "weights": [1, 0, 1, 0, 1]}, headers=headers),
     422, "Invalid arithmetic", "padding"),
    ("reflect padding too wide", {}, lambda client, headers: client.post(
        "/convolve", json={"input": [[0, 1], [2, 3]], "weights": [[1] * 5] * 5, "padding": 2,
                           "padding_mode": "reflect"}, headers=headers),
     422, "Invalid arithmetic", "padding_mode"),
    ("several fields", {}, lambda client, headers: client.post(
        "/convolve", json={"input": [0, 1, 2], "weights": [1], "stride": 0, "padding": -3,
                           "strid": 2, "flip": "maybe"}, headers=headers),
     422, "Invalid input", "stride"),
    ("a form's blank field", {}, lambda client, headers: client.post(
        "/convolve", **_photo(encode(gradient_photo(16, 16))),
        data={"kernel": "identity", "stride": ""}, headers=headers),
     422, "Invalid input", "stride"),
    ("image over the pixel cap", {"max_pixels": 1000}, lambda client, headers: client.post(
        "/convolve", **_photo(encode(gradient_photo(40, 40))), data={"kernel": "identity"},
        headers=headers),
     413, "Image too large", "image"),
    ("body over the size cap", {"max_body_bytes": 2048}, lambda client, headers: client.post(
        "/convolve", **_photo(encode(gradient_photo(64, 64)) + b"\0" * 4096),
        data={"kernel": "identity"}, headers=headers),
     413, "Request too large", "body"),
    ("unsupported format", {}, lambda client, headers: client.post(
        "/convolve", **_photo(_tiff(), "photo.tiff"), data={"kernel": "identity"},
        headers=headers),
     415, "Unsupported image format", "image"),
    ("not an image", {}, lambda client, headers: client.post(
        "/convolve", **_photo(b"these are words, not pixels"), data={"kernel": "identity"},
        headers=headers),
     422, "Invalid image", "image"),
    ("truncated image", {}, lambda client, headers: client.post(
        "/convolve", **_photo(truncated_png()), data={"kernel": "identity"},
        headers=headers),
     422, "Invalid image", "image"),
    ("empty image", {}, lambda client, headers: client.post(
        "/convolve", **_photo(b""), data={"kernel": "identity"}, headers=headers),
     422, "Invalid image", "image"),
    ("expired photo key", {}, lambda client, headers: client.post(
        "/convolve", **_photo(b"", "blob"), data={"photo_key": "0" * 32, "kernel": "identity"},
        headers=headers),
     410, "Photo expired", "photo_key"),
    ("unknown page", {}, lambda client, headers: client.get(
        "/no-such-page", headers={"Accept": "application/json", **headers}),
     404, "Not Found", None),
]


@pytest.fixture
def clients() -> Iterator[Callable[[dict[str, Any]], TestClient]]:
    """An app per set of settings (the limits some problems need), each with its lifespan."""
    opened: dict[str, TestClient] = {}

    def client_for(overrides: dict[str, Any]) -> TestClient:
        key = repr(sorted(overrides.items()))
        if key not in opened:
            opened[key] = TestClient(create_app(Settings(**overrides)))
            opened[key].__enter__()
        return opened[key]

    yield client_for
    for client in opened.values():
        client.__exit__(None, None, None)


def _korean_text(text: str) -> list[str]:
    """What ``text`` (plain text, not HTML) still says in English to a Korean reader."""
    return english_left(f"<p>{html.escape(text)}</p>")


def _readable(body: dict[str, Any]) -> list[str]:
    return [body["title"], body["detail"],
            *(item["message"] for item in body.get("errors") or [])]


def _unchanging(body: dict[str, Any]) -> dict[str, Any]:
    """What a problem says the same way in every language."""
    return {"type": body["type"], "status": body["status"], "field": body.get("field"),
            "fields": [item["field"] for item in body.get("errors") or []]}


@pytest.mark.parametrize(("what", "overrides", "send", "status", "title", "field"), PROBLEMS,
                         ids=[row[0] for row in PROBLEMS])
def test_a_problem_speaks_korean_to_a_client_that_asks(
    clients: Callable[[dict[str, Any]], TestClient], what: str, overrides: dict[str, Any],
    send: Send, status: int, title: str, field: str | None,
) -> None:
    client = clients(overrides)
    english = send(client, {})
    korean = send(client, KOREAN)
    for answer in (english, korean):
        assert answer.status_code == status, answer.text
        assert answer.headers["content-type"].startswith("application/problem+json")
    english_body, korean_body = english.json(), korean.json()
    # No header: the English of before, untouched.
    assert english.headers["content-language"] == "en"
    assert english_body["title"] == title
    assert not any(HANGUL.search(text) for text in _readable(english_body))
    assert english_body.get("field") == field
    # Korean: every sentence, one per field, and nothing else changes.
    assert korean.headers["content-language"] == "ko"
    assert _unchanging(korean_body) == _unchanging(english_body)
    for text in _readable(korean_body):
        assert HANGUL.search(text), text
        assert _korean_text(text) == [], text
    assert len(korean_body.get("errors") or []) == len(english_body.get("errors") or [])
    assert korean.headers.get("retry-after") == english.headers.get("retry-after")


def test_the_validation_errors_keep_their_numbers_and_fields(client: TestClient) -> None:
    body = {"input": [0, 1, 2], "weights": [1], "stride": 0, "padding": -3, "strid": 2}
    english = client.post("/convolve", json=body).json()
    korean = client.post("/convolve", json=body, headers=KOREAN).json()
    assert [item["field"] for item in korean["errors"]] == ["stride", "padding", "strid"]
    assert [item["field"] for item in english["errors"]] == ["stride", "padding", "strid"]
    assert english["errors"][0]["message"] == "stride must be a whole number >= 1, not 0."
    assert english["errors"][1]["message"] == (
        "padding must be 'valid', 'same', 'full' or a whole number >= 0, not -3.")
    assert english["errors"][2]["message"] == (
        "strid is not an option of this request; did you mean stride?")
    for ours, theirs in zip(korean["errors"], english["errors"], strict=True):
        assert numbers(f"<p>{ours['message']}</p>") == numbers(f"<p>{theirs['message']}</p>")
    assert "1 이상의 정수" in korean["errors"][0]["message"]
    assert "'valid', 'same', 'full'" in korean["errors"][1]["message"]  # values stay English
    assert "(stride)" in korean["errors"][2]["message"]  # the field it suggests, as named


def test_a_busy_server_says_so_in_korean(photo_png: bytes) -> None:
    with TestClient(create_app(Settings(compute_threads=1, queue_length=0))) as busy:
        queue = busy.app.state.work_queue  # type: ignore[attr-defined]
        queue._in_flight = 1  # one request is running; nothing may wait
        try:
            english = busy.post("/convolve", **_photo(photo_png), data={"kernel": "identity"})
            korean = busy.post("/convolve", **_photo(photo_png), data={"kernel": "identity"},
                               headers=KOREAN)
        finally:
            queue._in_flight = 0
    assert english.status_code == korean.status_code == 503
    assert english.json()["title"] == "Server busy"
    assert korean.json()["type"] == english.json()["type"] == "urn:convlens:problem:server-busy"
    assert korean.headers["retry-after"] == english.headers["retry-after"] == "1"
    for text in _readable(korean.json()):
        assert HANGUL.search(text), text
        assert _korean_text(text) == [], text


@pytest.mark.parametrize("asked", ["cookie", "address"])
def test_the_cookie_and_the_address_ask_for_korean_too(client: TestClient, asked: str) -> None:
    path = "/convolve?lang=ko" if asked == "address" else "/convolve"
    if asked == "cookie":
        client.cookies.set(COOKIE, "ko")
    answer = client.post(path, json={"input": [0, 1, 2], "kernel": "sobel-z"})
    assert answer.status_code == 404
    assert answer.json()["type"] == "urn:convlens:problem:unknown-name"
    assert HANGUL.search(answer.json()["detail"])


HTMX_PROBLEMS = [
    ("unknown kernel", {"kernel": "sobel-z"}),
    ("empty output", {"weights": str([[1] * 31] * 31), "max_side": "16"}),
    ("blank stride", {"kernel": "identity", "stride": ""}),
    ("bad padding", {"kernel": "identity", "padding": "-3", "stride": "0"}),
    ("expired photo", {"kernel": "identity", "photo_key": "0" * 32}),
]


@pytest.mark.parametrize(("what", "fields"), HTMX_PROBLEMS, ids=[row[0] for row in HTMX_PROBLEMS])
def test_the_htmx_problem_fragment_in_korean(
    client: TestClient, photo_png: bytes, what: str, fields: dict[str, str],
) -> None:
    """The fragment swapped next to the field: Korean words, the same elements and numbers."""
    # A later change sends the key and an empty file, as the page does (static/js/convlens.js).
    photo = _photo(b"", "blob") if "photo_key" in fields else _photo(photo_png)

    def send(language: str) -> Any:
        return client.post("/convolve", **photo, data=fields,
                           headers={**HTMX, "Accept-Language": language})

    english, korean = send("en"), send("ko")
    assert 400 <= english.status_code == korean.status_code, english.text
    assert 'class="problem"' in korean.text
    assert korean.headers["hx-retarget"] == english.headers["hx-retarget"]
    assert HANGUL.search(korean.text)
    assert not HANGUL.search(english.text)
    assert english_left(korean.text) == []
    assert skeleton(korean.text) == skeleton(english.text)
    assert numbers(korean.text) == numbers(english.text)


def _error_section(page: str) -> str:
    found = re.search(r'<section class="error-page">.*?</section>', page, re.S)
    assert found, "no error section"
    return found.group(0)


@pytest.mark.parametrize("path", [
    "/convolve?kernel=sobel-z",
    "/convolve?kernel=identity&photo_key=" + "0" * 32,
    "/convolve?kernel=identity&stride=0",
    "/no-such-page",
])
def test_the_error_page_in_korean(client: TestClient, path: str) -> None:
    english = client.get(path, headers={**BROWSER, "Accept-Language": "en"})
    korean = client.get(path, headers={**BROWSER, **KOREAN})
    assert 400 <= english.status_code == korean.status_code
    assert '<html lang="ko"' in korean.text
    # The problem's own part of the page (the nav and the footer are every page's).
    assert english_left(_error_section(korean.text)) == []
    assert skeleton(korean.text) == skeleton(english.text)
    assert numbers(korean.text) == numbers(english.text)
    assert "The API answers the same problem" in english.text
    assert "<code>application/problem+json</code>" in korean.text


def test_outside_a_request_the_core_speaks_english() -> None:
    """The CLI and anything else outside a request: English, whatever was asked before."""
    from webapp.errors import field_errors
    from webapp.translation import speaking

    detail = [{"type": "missing", "loc": ("body", "input"), "input": {}}]
    with speaking("ko"):
        assert field_errors(detail)[0].message == "필수 항목(input)이 없습니다."
    assert field_errors(detail)[0].message == "input is required."
