"""The pages over HTTP: each page, its fragments, its plain-form fallback and its errors.

These run without a browser (tests/browser/ drives the same pages in Chromium).
"""

from __future__ import annotations

import hashlib
import html
import io
import json
import re
from pathlib import Path
from typing import Any, get_args

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from tests.conftest import encode, gradient_photo
from tests.html import assert_every_control_labelled, assert_nothing_the_policy_blocks
from webapp.arithmetic import LayerKind, PaddingName
from webapp.display import DISPLAY_LABELS, Display
from webapp.images import ALLOWED_FORMATS, COLOR_LABELS, Color
from webapp.kernels import PRESETS
from webapp.options import OPERATION_LABELS, Operation, SampleName
from webapp.padding import PADDING_MODE_LABELS, PADDING_NAME_LABELS, PaddingMode
from webapp.server.security import CONTENT_SECURITY_POLICY
from webapp.server.settings import PROJECT_ROOT, Settings
from webapp.server.views.receptive import EXAMPLES, stack_query

PAGES = ["/", "/convolve", "/lesson/padding", "/receptive-field"]
# What a browser sends when it navigates: following a link, posting a form itself.
NAVIGATION = {
    "accept": "text/html,application/xhtml+xml,application/xml;q=0.9,image/webp,*/*;q=0.8",
    "sec-fetch-dest": "document",
    "sec-fetch-mode": "navigate",
}
X = "\u00d7"  # the multiplication sign the pages write
QUIZ = "kind=conv&kernel=3&kind=max_pool&kernel=2&stride=1&stride=2&kind=conv&kernel=3"


@pytest.fixture
def settings() -> Settings:
    # The pages need no model; the MNIST models may not be trained yet.
    return Settings(skip_broken_models=True)


def post_photo(
    client: TestClient,
    data: bytes | None = None,
    headers: dict[str, str] | None = None,
    path: str = "/convolve",
    **fields: Any,
) -> Any:
    """POST a photo form; ``data=None`` sends an empty file part, as a browser does."""
    body, content_type = browser_form(data, {name: str(value) for name, value in fields.items()})
    return client.post(path, content=body,
                       headers={"content-type": content_type, **(headers or {})})


def browser_form(data: bytes | None, fields: dict[str, str] | list[tuple[str, str]]) -> tuple[
    bytes, str
]:
    """A multipart body exactly as a browser builds it, empty file part included.

    (httpx leaves out ``filename=""``, which every browser sends for an empty file input.)
    """
    boundary = "----convlensTestBoundary"
    parts = []
    for name, value in fields.items() if isinstance(fields, dict) else fields:
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
                     f"{value}\r\n".encode())
    filename = "photo.png" if data else ""
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="image"; '
        f'filename="{filename}"\r\nContent-Type: application/octet-stream\r\n\r\n'.encode()
        + (data or b"") + b"\r\n"
    )
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def text_of(page: str, element_id: str) -> str:
    """The text inside the element with ``element_id`` (tags stripped)."""
    match = re.search(rf'<(\w+)[^>]*\sid="{element_id}"[^>]*>(.*?)</\1>', page, re.S)
    assert match, f"no element #{element_id}"
    return html.unescape(re.sub(r"<[^>]+>", "", match.group(2))).strip()


def attribute(page: str, element_id: str, name: str) -> str:
    match = re.search(rf'<[^>]*id="{element_id}"[^>]*>', page)
    assert match, f"no element #{element_id}"
    value = re.search(rf'\s{name}="([^"]*)"', match.group(0))
    assert value, f"#{element_id} has no {name}"
    return html.unescape(value.group(1))


# --- Every page ----------------------------------------------------------------------------


@pytest.mark.parametrize("path", PAGES)
def test_each_page_is_html_under_a_strict_policy(client: TestClient, path: str) -> None:
    answer = client.get(path)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/html")
    policy = answer.headers["content-security-policy"]
    assert policy == CONTENT_SECURITY_POLICY
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    assert answer.headers["x-content-type-options"] == "nosniff"
    page = answer.text
    assert_nothing_the_policy_blocks(page)
    # Every page has the nav bar, with the API docs.
    for link in ("/lesson/padding", "/convolve", "/receptive-field", "/reconstruct", "/models",
                 "/docs"):
        assert f'href="{link}"' in page


@pytest.mark.parametrize("path", PAGES)
def test_every_control_has_a_label(client: TestClient, path: str) -> None:
    assert_every_control_labelled(client.get(path).text)


def test_htmx_is_vendored_with_the_documented_checksum(client: TestClient) -> None:
    script = client.get("/static/vendor/htmx.min.js")
    assert script.status_code == 200
    readme = (PROJECT_ROOT / "static" / "vendor" / "README.md").read_text()
    assert hashlib.sha256(script.content).hexdigest() in readme
    assert "version:'2.0.11'" in script.text.replace('"', "'")
    for asset in ("/static/css/convlens.css", "/static/js/convlens.js",
                  "/static/js/convolve.js", "/static/js/lesson.js", "/static/js/receptive.js",
                  "/static/favicon.svg"):
        assert client.get(asset).status_code == 200, asset


def test_htmx_is_configured_for_the_policy(client: TestClient) -> None:
    page = client.get("/").text
    meta = re.search(r'<meta name="htmx-config" content="([^"]+)"', page)
    assert meta
    config = json.loads(html.unescape(meta.group(1)))
    assert config["allowEval"] is False
    assert config["selfRequestsOnly"] is True
    assert config["includeIndicatorStyles"] is False
    # Its indicator styles are ours instead.
    css = (PROJECT_ROOT / "static" / "css" / "convlens.css").read_text()
    assert ".htmx-request .htmx-indicator" in css
    assert "prefers-color-scheme: dark" in css
    assert "image-rendering: pixelated" in css


def labelled_options(page: str, select_id: str) -> dict[str, str]:
    """The <option>s of the <select> with ``select_id``: value to label, in order."""
    match = re.search(rf'<select[^>]*\sid="{select_id}"[^>]*>(.*?)</select>', page, re.S)
    assert match, f"no select #{select_id}"
    options = re.findall(r'<option value="([^"]*)"[^>]*>(.*?)</option>', match.group(1), re.S)
    return {html.unescape(value): html.unescape(label).strip() for value, label in options}


def options_of(page: str, select_id: str) -> list[str]:
    """The values of the <option>s of the <select> with ``select_id``, in order."""
    return list(labelled_options(page, select_id))


def radios_of(page: str, name: str) -> list[str]:
    """The values of the radio buttons called ``name``, in order."""
    pattern = rf'<input type="radio" name="{name}" value="([^"]*)"'
    return [html.unescape(value) for value in re.findall(pattern, page)]


# The forms read every choice from the core's Literal types (webapp.server.templating.CHOICES):
# an option typed into a template, or a value missing from one, fails here.
PADDING_NAMES = list(get_args(PaddingName))
PADDING_CELLS = ["1", "2", "3", "4"]


def test_the_convolve_form_offers_exactly_the_types_values(client: TestClient) -> None:
    page = client.get("/convolve").text
    assert radios_of(page, "sample") == list(get_args(SampleName))
    assert radios_of(page, "operation") == list(get_args(Operation))
    assert options_of(page, "kernel") == ["", *PRESETS]  # "": your own weights
    assert options_of(page, "padding") == [*PADDING_NAMES, ""]  # "": a number of cells
    assert options_of(page, "padding_mode") == list(get_args(PaddingMode))
    assert options_of(page, "color") == list(get_args(Color))
    assert options_of(page, "display") == ["", *get_args(Display)]  # "": the kernel's own
    accepted = attribute(page, "image", "accept").split(",")
    assert accepted == [f"image/{name.lower()}" for name in ALLOWED_FORMATS]


def test_the_lesson_form_offers_exactly_the_types_values(client: TestClient) -> None:
    page = client.get("/lesson/padding").text
    assert options_of(page, "lesson-padding") == [*PADDING_NAMES, *PADDING_CELLS[:3]]
    assert options_of(page, "lesson-mode") == list(get_args(PaddingMode))


def test_the_receptive_form_offers_exactly_the_types_values(client: TestClient) -> None:
    page = client.get("/receptive-field").text
    assert options_of(page, "sample") == list(get_args(SampleName))
    layers = re.findall(r'<select[^>]*\sid="kind-(\d+)"', page)
    assert layers  # the example stack and the template for a new layer (kind-0)
    for number in layers:
        assert options_of(page, f"kind-{number}") == list(get_args(LayerKind))
        assert options_of(page, f"padding-{number}") == [*PADDING_NAMES, *PADDING_CELLS]


LABELLED: list[tuple[Any, dict[Any, str]]] = [
    (Operation, OPERATION_LABELS),
    (PaddingName, PADDING_NAME_LABELS),
    (PaddingMode, PADDING_MODE_LABELS),
    (Display, DISPLAY_LABELS),
    (Color, COLOR_LABELS),
]


@pytest.mark.parametrize(("kind", "labels"), LABELLED)
def test_every_choice_has_a_label_in_the_core(kind: Any, labels: dict[Any, str]) -> None:
    assert list(labels) == list(get_args(kind))
    assert all(label.strip() for label in labels.values())


def test_the_forms_show_the_cores_labels(client: TestClient) -> None:
    page = client.get("/convolve").text
    shown: dict[str, dict[Any, str]] = {
        "padding": PADDING_NAME_LABELS,
        "padding_mode": PADDING_MODE_LABELS,
        "color": COLOR_LABELS,
        "display": DISPLAY_LABELS,
    }
    for select_id, labels in shown.items():
        offered = labelled_options(page, select_id)
        assert {value: offered[value] for value in labels} == labels, select_id
    for value, label in OPERATION_LABELS.items():
        assert re.search(rf'value="{value}"[^>]*> {re.escape(label)}</label>', page), value


def test_no_cdn_anywhere() -> None:
    for template in (PROJECT_ROOT / "templates").rglob("*.html"):
        assert not re.search(r'(src|href)="(https?:)?//', template.read_text()), template


def test_home_walks_the_lessons_path(client: TestClient) -> None:
    page = client.get("/").text
    order = [page.index(f'href="{link}"><span class="path-number">')
             for link in ("/lesson/padding", "/convolve", "/receptive-field", "/reconstruct")]
    assert order == sorted(order)


def test_unknown_pages_are_html_for_browsers_and_json_for_programs(client: TestClient) -> None:
    for_browser = client.get("/no-such-page", headers=NAVIGATION)
    assert for_browser.status_code == 404
    assert for_browser.headers["content-type"].startswith("text/html")
    assert "<nav" in for_browser.text
    for_program = client.get("/no-such-page")
    assert for_program.headers["content-type"] == "application/problem+json"


# --- /convolve: one route, three formats ---------------------------------------------------


@pytest.mark.parametrize(
    ("hx_request", "fragment"), [("true", True), ("false", False), (None, False)]
)
def test_convolve_answers_htmx_with_a_fragment_and_programs_with_json(
    client: TestClient, photo_png: bytes, hx_request: str | None, fragment: bool
) -> None:
    headers = {"accept": "application/json"}
    if hx_request is not None:
        headers["hx-request"] = hx_request
    answer = post_photo(client, photo_png, headers, kernel="box-blur", stride=2)
    assert answer.status_code == 200
    assert "HX-Request" in answer.headers["vary"]
    if fragment:
        assert answer.headers["content-type"].startswith("text/html")
        assert "<html" not in answer.text
        assert text_of(answer.text, "output-shape") == f"23 {X} 31 {X} 3"
        assert 'id="numbers" class="numbers" aria-label="The numbers" hx-swap-oob="true"' in (
            answer.text
        )
        assert "floor((64 + 0 + 0 - 3) / 2) + 1 = 31" in answer.text
    else:
        body = answer.json()
        assert body["output_shape"] == [23, 31, 3]
        assert body["operation"] == "cross-correlation"


@pytest.mark.parametrize(
    ("hx_request", "fragment"), [("true", True), ("false", False), (None, False)]
)
@pytest.mark.parametrize(
    ("path", "marker"),
    [
        ("/lesson/padding", 'id="lesson-output"'),
        (f"/receptive-field?{QUIZ}", 'id="receptive-field"'),
        ("/convolve", 'id="output-shape"'),
    ],
)
def test_pages_answer_htmx_with_their_fragment(
    client: TestClient, path: str, marker: str, hx_request: str | None, fragment: bool
) -> None:
    headers = {"hx-request": hx_request} if hx_request is not None else {}
    page = client.get(path, headers=headers).text
    assert marker in page
    assert ("<html" not in page) == fragment
    assert ("<nav" not in page) == fragment


def test_a_browser_without_javascript_gets_the_whole_page_back(client: TestClient) -> None:
    # What a browser sends for the form as drawn: no file chosen, the cat sample, a preset,
    # and both padding controls (the number left empty).
    body, content_type = browser_form(None, [
        ("sample", "cat"), ("operation", "convolve"), ("kernel", "box-blur"), ("weights", ""),
        ("stride", "1"), ("dilation", "1"), ("padding", "valid"), ("padding", ""),
        ("padding_mode", "zeros"), ("color", "rgb"), ("display", ""), ("pool_size", "2"),
    ])
    answer = client.post("/convolve", content=body,
                         headers={"content-type": content_type, **NAVIGATION})
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/html")
    page = answer.text
    assert "<nav" in page and 'id="convolve-form"' in page
    assert text_of(page, "output-shape") == f"298 {X} 449 {X} 3"
    # The form comes back as it was sent.
    assert re.search(r'<option value="box-blur"[^>]*selected', page)
    assert re.search(r'value="cat" checked', page)


def test_only_a_navigating_browser_gets_the_page(client: TestClient, photo_png: bytes) -> None:
    # A program that merely accepts HTML keeps the image, as the API always answered it.
    program = post_photo(client, photo_png, {"accept": "text/html"}, kernel="identity")
    assert program.headers["content-type"] == "image/png"
    browser = post_photo(client, photo_png, NAVIGATION, kernel="identity")
    assert browser.headers["content-type"].startswith("text/html")


def test_a_number_of_padding_cells_wins_over_the_padding_choice(client: TestClient) -> None:
    body, content_type = browser_form(None, [
        ("sample", "cat"), ("kernel", "identity"), ("padding", "same"), ("padding", "2"),
    ])
    answer = client.post("/convolve", content=body,
                         headers={"content-type": content_type, "accept": "application/json"})
    assert answer.json()["padding"] == {"top": 2, "bottom": 2, "left": 2, "right": 2}


def test_the_sample_photo_stands_in_for_an_empty_upload(client: TestClient, photo_png: bytes
                                                        ) -> None:
    sample = post_photo(client, None, {"accept": "application/json"}, sample="camera",
                        kernel="identity")
    assert sample.json()["input_shape"] == [512, 512, 3]
    upload_wins = post_photo(client, photo_png, {"accept": "application/json"},
                             sample="camera", kernel="identity")
    assert upload_wins.json()["input_shape"] == [48, 64, 3]
    unknown = post_photo(client, None, {"accept": "application/json"}, sample="dog")
    assert unknown.status_code == 422
    assert unknown.json()["field"] == "sample"


def test_the_convolve_page_can_be_preset_from_its_query(client: TestClient) -> None:
    page = client.get("/convolve?sample=coffee&kernel=gaussian-blur&stride=2&padding=same").text
    assert text_of(page, "output-shape") == f"200 {X} 300 {X} 3"
    assert re.search(r'<option value="gaussian-blur"[^>]*selected', page)


# --- Pooling through /convolve -------------------------------------------------------------


@pytest.mark.parametrize("operation", ["max-pool", "avg-pool"])
def test_pooling_a_photo_through_the_api(client: TestClient, operation: str) -> None:
    pixels = gradient_photo()
    answer = post_photo(client, encode(pixels), {"accept": "application/json"},
                        operation=operation, pool_size=2, stride=2, kernel="no-such-kernel")
    assert answer.status_code == 200  # the kernel is not used when pooling
    body = answer.json()
    assert body["output_shape"] == [24, 32, 3]
    assert body["operation"] == operation
    assert body["params"] == 0
    assert body["macs"] == 24 * 32 * 3 * 4
    image = np.asarray(Image.open(io.BytesIO(post_photo(
        client, encode(pixels), operation=operation, pool_size=2, stride=2).content)))
    blocks = pixels.astype(np.float64).reshape(24, 2, 32, 2, 3)
    expected = blocks.max(axis=(1, 3)) if operation == "max-pool" else blocks.mean(axis=(1, 3))
    np.testing.assert_allclose(image, np.floor(expected + 0.5), atol=0)


def test_pool_size_over_the_kernel_cap_names_its_field(client: TestClient, photo_png: bytes
                                                       ) -> None:
    answer = post_photo(client, photo_png, {"accept": "application/json"},
                        operation="max-pool", pool_size=40)
    assert answer.status_code == 422
    assert answer.json()["field"] == "pool_size"


# --- Errors next to the field ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"stride": 0}, "stride"),
        ({"dilation": 200}, "padding"),  # the output would be empty: the padding is at fault
        ({"weights": "[[1, 2], [3]]"}, "weights"),
        ({"kernel": "blurry"}, "kernel"),
        ({"padding_mode": "reflect", "padding": 400}, "padding_mode"),
    ],
)
def test_htmx_errors_are_fragments_aimed_at_their_field(
    client: TestClient, photo_png: bytes, fields: dict[str, Any], field: str
) -> None:
    answer = post_photo(client, photo_png, {"hx-request": "true"},
                        **{"kernel": "box-blur", **fields})
    assert answer.status_code in (404, 422)
    assert answer.headers["content-type"].startswith("text/html")
    assert answer.headers["hx-retarget"] == f"find #error-{field}, find .form-problem, #problem"
    assert answer.headers["hx-reswap"] == "innerHTML"
    assert f'data-field="{field}"' in answer.text
    assert "<html" not in answer.text
    # The /convolve page has a slot for that field.
    assert f'id="error-{field}"' in client.get("/convolve").text


def test_api_errors_stay_problem_json(client: TestClient, photo_png: bytes) -> None:
    answer = post_photo(client, photo_png, stride=0)
    assert answer.status_code == 422
    assert answer.headers["content-type"] == "application/problem+json"
    assert "hx-retarget" not in answer.headers


def test_a_browser_without_javascript_gets_an_error_page(client: TestClient, photo_png: bytes
                                                         ) -> None:
    answer = post_photo(client, photo_png, NAVIGATION, stride=0)
    assert answer.status_code == 422
    assert answer.headers["content-type"].startswith("text/html")
    assert 'data-field="stride"' in answer.text
    assert 'href="/convolve"' in answer.text


def test_an_unsafe_field_name_is_never_a_selector(client: TestClient, photo_png: bytes) -> None:
    answer = post_photo(client, photo_png, {"hx-request": "true"}, **{"x]{} #y": "1"})
    assert answer.status_code == 422
    assert answer.headers["hx-retarget"] == "find .form-problem, #problem"


# --- One pixel explained, equal to the API --------------------------------------------------


def explained(client: TestClient, data: bytes, **fields: Any) -> tuple[float, str]:
    answer = post_photo(client, data, {"hx-request": "true"}, path="/convolve/explain", **fields)
    assert answer.status_code == 200, answer.text
    return float(attribute(answer.text, "explained", "data-sum")), answer.text


@pytest.mark.parametrize(
    "geometry",
    [
        {"kernel": "sobel-x"},
        {"kernel": "sobel-x", "stride": 2, "padding": "same"},
        {"kernel": "laplacian", "padding": 2, "padding_mode": "reflect", "dilation": 2},
        {"kernel": "emboss", "flip": "true", "padding": "full", "padding_mode": "circular"},
        {"weights": "[[1, 2, 3, 4, 5]]", "stride": 3, "padding": 1, "padding_mode": "replicate"},
    ],
)
@pytest.mark.parametrize(("where", "channel"), [((0, 0), 0), ((-1, -1), 2), ((0.5, 0.3), 1)])
def test_the_explained_sum_is_what_the_numeric_api_computes(
    client: TestClient, geometry: dict[str, Any], where: tuple[float, float], channel: int
) -> None:
    pixels = gradient_photo(16, 14)
    numeric = {name: value for name, value in geometry.items() if name != "weights"}
    if "weights" in geometry:
        numeric["weights"] = json.loads(geometry["weights"])
    numeric["flip"] = geometry.get("flip") == "true"
    body = client.post(
        "/convolve", json={"input": pixels[:, :, channel].tolist(), **numeric}
    ).json()
    height, width = body["output_shape"]
    # The first, the last and a middle cell of whatever shape this geometry gives.
    row, column = (int(where[0] * height) % height, int(where[1] * width) % width)
    total, fragment = explained(client, encode(pixels), row=row, column=column,
                                channel=channel, **geometry)
    assert total == body["output"][row][column]
    step = next(item for item in body["steps"] if item["index"] == [row, column])
    assert total == step["sum"]
    assert fragment.count('class="product"') == len(step["products"])


def test_a_pooled_pixel_is_explained_as_the_max_of_its_window(client: TestClient) -> None:
    pixels = gradient_photo(24, 20)
    total, fragment = explained(client, encode(pixels), operation="max-pool", pool_size=3,
                                stride=2, row=4, column=5, channel=0)
    assert total == pixels[8:11, 10:13, 0].max()
    assert "The largest" in fragment
    mean, _ = explained(client, encode(pixels), operation="avg-pool", pool_size=3,
                        stride=2, row=4, column=5, channel=1)
    assert mean == pytest.approx(pixels[8:11, 10:13, 1].mean())


def test_explaining_a_cell_outside_the_output_names_the_field(client: TestClient,
                                                              photo_png: bytes) -> None:
    answer = post_photo(client, photo_png, {"hx-request": "true"}, path="/convolve/explain",
                        kernel="sobel-x", row=46, column=0)
    assert answer.status_code == 422
    assert answer.headers["hx-retarget"].startswith("find #error-row,")
    assert "below 46" in answer.text


# --- The padding lesson ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "output"),
    [
        ("", "[2, 2, 2]"),
        ("?padding=1", "[1, 2, 2, 2, -3]"),
        ("?flip=true", "[-2, -2, -2]"),
        ("?stride=2", "[2, 2]"),
        ("?padding=same&padding_mode=replicate", "[1, 2, 2, 2, 1]"),
        ("?input=1+2+4+8&weights=1,1", "[3, 6, 12]"),
    ],
)
def test_the_padding_lesson(client: TestClient, query: str, output: str) -> None:
    page = client.get(f"/lesson/padding{query}").text
    assert text_of(page, "lesson-output") == output
    sums = [float(value) for value in re.findall(r'class="step"[^>]*data-sum="([^"]+)"', page)]
    assert sums == json.loads(output)


def test_the_lesson_shows_each_window_and_the_notes_slip(client: TestClient) -> None:
    page = client.get("/lesson/padding").text
    assert "[3, 2, 2]" in page  # the note's printed answer, explained as a slip
    assert "shape (5,) → (3,)" in page
    assert "floor((5 + 0 + 0 - 3) / 1) + 1 = 3" in page
    first_step = page[page.index('id="step-0"') : page.index('id="step-1"')]
    assert f"-1{X}0 + 0{X}1 + 1{X}2" in first_step


def test_lesson_input_errors_name_the_field(client: TestClient) -> None:
    answer = client.get("/lesson/padding?input=0,one,2", headers={"hx-request": "true"})
    assert answer.status_code == 422
    assert answer.headers["hx-retarget"].startswith("find #error-input,")
    assert "'one' is not a number" in html.unescape(answer.text)


# --- The receptive field ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "field"), [("quiz", 8), ("two-convs", 5), ("dilated", 7), ("encoder", 22)]
)
def test_the_example_stacks(client: TestClient, key: str, field: int) -> None:
    stack = next(layers for name, _, layers in EXAMPLES if name == key)
    page = client.get(f"/receptive-field?{stack_query(stack)}").text
    assert attribute(page, "receptive-field", "data-value") == str(field)
    assert f'href="/receptive-field?{html.escape(stack_query(stack))}"' in page


def test_the_quiz_box_is_drawn_on_the_picture(client: TestClient) -> None:
    page = client.get(f"/receptive-field?{QUIZ}&size=32&row=0&column=0").text
    assert re.search(r'class="field-box" x="0.0" y="0.0" width="8.0" height="8.0"', page)
    # Layer by layer: 3, 4, 8 with the formulas filled in.
    assert "1 + (3 - 1) x 1 = 3" in page
    assert "3 + (2 - 1) x 1 = 4" in page
    assert "4 + (3 - 1) x 2 = 8" in page
    assert "1 x 2 = 2" in page


def test_layers_are_added_and_removed_without_javascript(client: TestClient) -> None:
    def layers(page: str) -> list[str]:  # the rows of the list, not the <template>'s
        return re.findall(r'id="error-layer-([1-9]\d*)"', page)

    added = client.get(f"/receptive-field?{QUIZ}&edit=add").text
    assert layers(added) == ["1", "2", "3", "4"]
    removed = client.get(f"/receptive-field?{QUIZ}&edit=remove-2").text
    assert layers(removed) == ["1", "2"]
    assert attribute(removed, "receptive-field", "data-value") == "5"


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("kind=conv&kernel=0", "layer-1"),
        ("kind=conv&kernel=3&kind=pool&kernel=2", "layer-2"),
        ("kind=conv&kernel=3&size=33", "size"),
        ("kind=conv&kernel=31&kind=conv&kernel=31", "layer-2"),  # 32 -> 2 -> empty
    ],
)
def test_stack_errors_name_the_layer(client: TestClient, query: str, field: str) -> None:
    answer = client.get(f"/receptive-field?{query}", headers={"hx-request": "true"})
    assert answer.status_code == 422
    assert answer.headers["hx-retarget"].startswith(f"find #error-{field},")


def test_template_and_static_paths_come_from_the_settings(tmp_path: Path) -> None:
    templates = tmp_path / "templates"
    (templates / "partials").mkdir(parents=True)
    (templates / "home.html").write_text("custom home {{ path }}")
    from webapp.server.app import create_app

    settings = Settings(skip_broken_models=True, templates_dir=templates)
    with TestClient(create_app(settings)) as client:
        assert client.get("/").text == "custom home /"
