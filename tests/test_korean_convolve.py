"""/convolve in Korean beyond its first page: every answer htmx swaps in (a result for a sample
or an upload, pooled or convolved, one pixel explained, a field's problem) has no English
left for the reader and is the same answer as in English, element for element and number for
number; and "Copy link" copies an address that opens in the language it was copied in."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import encode, gradient_photo
from tests.korean import (
    assert_same_but_the_words,
    browser_messages,
    english_left,
)
from tests.test_pages import browser_form
from webapp.server.language import COOKIE
from webapp.server.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
HTMX = {"HX-Request": "true"}
X = "\u00d7"  # the multiplication sign the pages write


@pytest.fixture
def settings() -> Settings:
    # The page needs no model; the MNIST models may not be trained yet.
    return Settings(skip_broken_models=True)


def post(client: TestClient, language: str, path: str = "/convolve", photo: bytes | None = None,
         **fields: Any) -> tuple[int, str]:
    """An htmx POST of the page's form in ``language`` (by ``Accept-Language``)."""
    body, content_type = browser_form(photo, {name: str(value) for name, value in fields.items()})
    answer = client.post(path, content=body, headers={
        "content-type": content_type, "Accept-Language": language, **HTMX,
    })
    assert answer.headers["content-language"] == language
    return answer.status_code, answer.text


def assert_same_answer_in_korean(client: TestClient, path: str = "/convolve",
                                 photo: bytes | None = None, **fields: Any) -> str:
    """The Korean answer: all in Korean, and the English answer in every other respect."""
    english_status, english = post(client, "en", path, photo, **fields)
    korean_status, korean = post(client, "ko", path, photo, **fields)
    assert korean_status == english_status
    assert_same_but_the_words(english, korean)
    return korean


RESULTS = [
    pytest.param({"sample": "cat", "kernel": "box-blur"}, id="a preset on a sample"),
    pytest.param({"sample": "coffee", "kernel": "sobel-x", "stride": 2, "padding": "same",
                  "display": "diverging"}, id="signed values in blue and red"),
    pytest.param({"sample": "camera", "kernel": "laplacian", "display": "abs", "flip": "true",
                  "color": "gray", "dilation": 3}, id="flipped, dilated, in gray"),
    pytest.param({"sample": "cat", "kernel": "emboss", "display": "normalize", "stride": 3,
                  "padding": 1, "max_side": 256}, id="a stride that leaves cells unread"),
    pytest.param({"sample": "cat", "weights": json.dumps([[1] * 11] * 11)},
                 id="a kernel too large to print"),
    pytest.param({"sample": "cat", "operation": "max-pool", "pool_size": 2, "stride": 2},
                 id="max pooling"),
    pytest.param({"sample": "coffee", "operation": "avg-pool", "pool_size": 3, "stride": 2,
                  "padding": "same"}, id="average pooling with padding"),
]


@pytest.mark.parametrize("fields", RESULTS)
def test_a_result_for_a_sample_in_korean(client: TestClient, fields: dict[str, Any]) -> None:
    korean = assert_same_answer_in_korean(client, **fields)
    assert 'id="output-shape"' in korean
    assert "합성곱" in korean or "풀링" in korean


def test_a_result_for_an_uploaded_photo_in_korean(client: TestClient) -> None:
    photo = encode(gradient_photo(48, 64))
    korean = assert_same_answer_in_korean(client, photo=photo, kernel="sharpen", stride=2)
    assert f"입력 사진, 가로 64 {X} 세로 48 픽셀" in korean


def test_a_photo_fitted_to_the_working_size_says_so_in_korean(client: TestClient) -> None:
    korean = assert_same_answer_in_korean(client, sample="cat", kernel="identity", max_side=128)
    assert "px로 줄여서 작업합니다" in korean


EXPLAINED = [
    pytest.param({"sample": "cat", "kernel": "sobel-x", "row": 0, "column": 0, "channel": 2},
                 id="a colour pixel on the padding"),
    pytest.param({"sample": "cat", "kernel": "box-blur", "padding": "same", "row": 0,
                  "column": 0, "channel": 0}, id="a pixel whose window holds padding"),
    pytest.param({"sample": "camera", "color": "gray", "kernel": "laplacian", "dilation": 2,
                  "row": 7, "column": 9}, id="a gray pixel of a dilated kernel"),
    pytest.param({"sample": "cat", "weights": json.dumps([[1] * 7] * 7), "row": 3, "column": 4},
                 id="a sum too long to write out"),
    pytest.param({"sample": "cat", "operation": "max-pool", "pool_size": 3, "stride": 2,
                  "padding": "same", "row": 0, "column": 0, "channel": 1},
                 id="a max-pooled pixel beside the padding"),
    pytest.param({"sample": "coffee", "operation": "avg-pool", "pool_size": 2, "stride": 2,
                  "row": 5, "column": 6}, id="an average-pooled pixel"),
]


@pytest.mark.parametrize("fields", EXPLAINED)
def test_one_pixel_explained_in_korean(client: TestClient, fields: dict[str, Any]) -> None:
    korean = assert_same_answer_in_korean(client, "/convolve/explain", **fields)
    assert 'id="explained"' in korean
    assert "출력 픽셀" in korean


def test_a_long_sum_says_how_many_terms_it_leaves_out_in_korean(client: TestClient) -> None:
    _, korean = post(client, "ko", "/convolve/explain", sample="cat",
                     weights=json.dumps([[1] * 7] * 7), row=3, column=4)
    assert "… 외 25개" in korean  # 49 terms: 24 written out, then the rest counted


PROBLEMS = [
    pytest.param("/convolve", {"sample": "cat", "kernel": "box-blur", "stride": 0}, "stride",
                 id="a stride of 0"),
    pytest.param("/convolve/explain", {"sample": "cat", "kernel": "sobel-x", "row": 1000,
                                       "column": 0}, "row", id="a row below the output"),
    pytest.param("/convolve/explain", {"sample": "cat", "kernel": "sobel-x", "row": 0,
                                       "column": 9999}, "column", id="a column past it"),
    pytest.param("/convolve/explain", {"sample": "cat", "kernel": "sobel-x", "color": "gray",
                                       "row": 0, "column": 0, "channel": 1}, "channel",
                 id="a channel a gray output lacks"),
]


@pytest.mark.parametrize(("path", "fields", "field"), PROBLEMS)
def test_a_fields_problem_in_korean(client: TestClient, path: str, fields: dict[str, Any],
                                    field: str) -> None:
    korean = assert_same_answer_in_korean(client, path, **fields)
    assert f'data-field="{field}"' in korean


def test_a_programs_problem_names_its_field_in_english_and_explains_in_korean(
    client: TestClient
) -> None:
    body, content_type = browser_form(None, {"sample": "cat", "kernel": "sobel-x",
                                             "row": "1000", "column": "0"})
    answer = client.post("/convolve/explain", content=body, headers={
        "content-type": content_type, "accept": "application/json", "Accept-Language": "ko",
    })
    problem = answer.json()
    assert answer.status_code == 422
    assert problem["field"] == "row"
    assert "298보다 작아야 합니다" in problem["detail"]
    assert "1000" in problem["detail"]


def test_the_cookie_keeps_the_fragments_in_korean(client: TestClient) -> None:
    client.cookies.set(COOKIE, "ko")
    body, content_type = browser_form(None, {"sample": "cat", "kernel": "box-blur"})
    answer = client.post("/convolve", content=body,
                         headers={"content-type": content_type, **HTMX})
    assert answer.headers["content-language"] == "ko"
    assert english_left(answer.text) == []
    assert "곱셈-덧셈" in answer.text


def test_the_english_fragments_read_as_before(client: TestClient) -> None:
    _, english = post(client, "en", sample="cat", kernel="box-blur")
    assert "cross-correlation with" in english
    assert f"(3{X}3 per channel, 3 channels, no bias)" in english
    assert "The stride does not divide" not in english
    _, pooled = post(client, "en", sample="cat", operation="avg-pool", pool_size=2, stride=2)
    assert "the last 1 padded cell of the width is never read." in pooled
    _, explained = post(client, "en", "/convolve/explain", sample="cat", kernel="box-blur",
                        row=1, column=2, channel=1)
    assert "Output pixel at row 1, column 2, green channel" in explained


# --- The browser's words ----------------------------------------------------------------------

_SHARE = """
const fs = require("fs");
const [convlens, share, messages, address, secure] = process.argv.slice(1);  // node -e: no script
const listeners = {};
const status = { textContent: "" };
const button = { dataset: {}, parentNode: { querySelector: () => status } };
button.closest = () => button;
let copied = null;
global.window = { isSecureContext: secure === "yes" };
global.location = new URL(address);
global.history = { state: null, replaceState() {} };
global.navigator = { clipboard: { writeText(text) { copied = text; return Promise.resolve(); } } };
global.document = {
  documentElement: { lang: "ko", classList: { add() {} } },
  getElementById: (id) => id === "convlens-messages" ? { textContent: messages } : null,
  querySelector: () => null,
  querySelectorAll: () => [],
  addEventListener(type, listener) { (listeners[type] = listeners[type] || []).push(listener); },
  removeEventListener() {},
  execCommand() { throw new Error("no clipboard here"); },
};
eval(fs.readFileSync(convlens, "utf8"));
eval(fs.readFileSync(share, "utf8"));
listeners.click.forEach((listener) => listener({ target: button }));
setTimeout(() => {
  console.log(JSON.stringify({ copied: copied, status: status.textContent }));
  process.exit(0);
}, 10);
"""


def _copy_link(client: TestClient, address: str, *, secure: bool) -> dict[str, str]:
    """What share.js copies and says when "Copy link" is clicked on a Korean page at
    ``address``: run in Node with the page's own messages and a stand-in for the DOM."""
    node = shutil.which("node")
    if node is None:
        pytest.skip("Node.js is not installed")
    page = client.get("/convolve?lang=ko").text
    messages = json.dumps(browser_messages(page))
    run = subprocess.run(
        [node, "-e", _SHARE, str(ROOT / "static/js/convlens.js"),
         str(ROOT / "static/js/share.js"), messages, address, "yes" if secure else "no"],
        capture_output=True, text=True, timeout=30, check=False,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    result: dict[str, str] = json.loads(run.stdout)
    return result


def test_a_copied_link_opens_in_the_language_it_was_copied_in(client: TestClient) -> None:
    address = "http://convlens.test/convolve?kernel=box-blur&stride=2#pixel=3,4,0"
    clicked = _copy_link(client, address, secure=True)
    assert clicked["copied"] == (
        "http://convlens.test/convolve?kernel=box-blur&stride=2&lang=ko#pixel=3,4,0"
    )
    assert clicked["status"] == "링크를 복사했습니다."
    # The link opens the same view, in Korean, for someone without the cookie.
    client.cookies.clear()
    opened = client.get(clicked["copied"].removeprefix("http://convlens.test"),
                        headers={"Accept": "text/html", "Sec-Fetch-Dest": "document"})
    assert '<html lang="ko">' in opened.text
    assert 'value="box-blur" data-weights' in opened.text


def test_a_link_that_cannot_be_copied_is_shown_with_its_language(client: TestClient) -> None:
    clicked = _copy_link(client, "http://convlens.test/convolve?kernel=sobel-y", secure=False)
    assert clicked["copied"] is None
    assert clicked["status"] == (
        "이 링크를 직접 복사하십시오: http://convlens.test/convolve?kernel=sobel-y&lang=ko"
    )


def test_the_scripts_of_the_page_have_their_korean(client: TestClient) -> None:
    page = client.get("/convolve?lang=ko").text
    messages = browser_messages(page)
    for english in ("Its weights sum to %(sum)s.", "Your own kernel.",
                    "Weight in row %(row)s, column %(column)s", "red", "gray",
                    f"Each pixel is shown %(size)s {X} %(size)s screen pixels.",
                    "Shown at %(percent)s%% of the pictures' pixels.", "Link copied."):
        assert messages.get(english), english
