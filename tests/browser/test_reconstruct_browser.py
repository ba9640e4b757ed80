"""The /reconstruct and /models pages in a real Chromium: drawing with a mouse and a finger,
undo and clear, the models side by side, noise, the lesson's figure.

Every number the page shows is checked against the API's answer for the very PNG the page
sent (noted in the page and posted again, without htmx).
"""

from __future__ import annotations

import io
import itertools
import re
from typing import Any

import httpx
import numpy as np
import pytest
from PIL import Image
from playwright.sync_api import Browser, Page

from tests.browser.conftest import Shoot, assert_clean, open_page

pytestmark = pytest.mark.browser

# A seven, as fractions of the canvas: the bar and the stem, then the cross-stroke.
SEVEN = [
    [(0.25, 0.22), (0.45, 0.22), (0.70, 0.22), (0.62, 0.45), (0.52, 0.65), (0.45, 0.82)],
    [(0.38, 0.50), (0.68, 0.50)],
]


def draw(page: Page, strokes: list[list[tuple[float, float]]]) -> None:
    """Draw ``strokes`` on the canvas with the mouse, as a person would."""
    page.locator("#canvas").scroll_into_view_if_needed()
    box = page.locator("#canvas").bounding_box()
    assert box is not None
    for stroke in strokes:
        points = [(box["x"] + x * box["width"], box["y"] + y * box["height"]) for x, y in stroke]
        page.mouse.move(*points[0])
        page.mouse.down()
        for point in points[1:]:
            page.mouse.move(*point, steps=6)
        page.mouse.up()


# Chromium's DevTools leave a request's body out when it holds a file, so the forms the page
# sends are noted in the page itself (an init script: added by the browser, outside the CSP).
_NOTE_FORMS = """
window.__sentForms = [];
const send = XMLHttpRequest.prototype.send;
XMLHttpRequest.prototype.send = function (body) {
  if (body instanceof FormData) window.__sentForms.push([...body.entries()]);
  return send.call(this, body);
};
"""


def note_forms(page: Page) -> None:
    """From the next page load on, keep every form the page sends (see `sent_forms`)."""
    page.add_init_script(_NOTE_FORMS)


def sent_forms(page: Page) -> list[dict[str, str | bytes]]:
    """The forms sent so far, oldest first; files as bytes."""
    forms: list[list[list[Any]]] = page.evaluate("""async () => Promise.all(
      window.__sentForms.map(form => Promise.all(form.map(async ([name, value]) =>
        [name, value instanceof Blob ? [...new Uint8Array(await value.arrayBuffer())] : value]))))
    """)
    return [{name: bytes(value) if isinstance(value, list) else value for name, value in form}
            for form in forms]


def settled(page: Page) -> None:
    """Wait until the result shown is for the drawing on the canvas and nothing is in flight."""
    page.wait_for_function("""() => {
      const canvas = document.querySelector('#canvas');
      const result = document.querySelector('#reconstruction');
      return result.dataset.version === canvas.dataset.version
        && !document.querySelector('#progress.htmx-request')
        && document.querySelector('#digit-row[data-model]') !== null;
    }""")


def api_answer(live_server: str, form: dict[str, str | bytes], **changes: str) -> dict[str, Any]:
    """What the API (no htmx) answers for the form the page sent, with ``changes``."""
    image = form["image"]
    assert isinstance(image, bytes)
    data = {name: str(value) for name, value in form.items() if name != "image"}
    data.update(changes)
    answer = httpx.post(f"{live_server}/reconstruct", data=data,
                        files={"image": ("drawing.png", image, "image/png")})
    assert answer.status_code == 200, answer.text
    result: dict[str, Any] = answer.json()
    return result


def shown(page: Page) -> dict[str, Any]:
    state: dict[str, Any] = page.evaluate("""() => {
      const row = document.querySelector('#digit-row');
      const size = id => document.getElementById(id)?.naturalWidth ?? null;
      return {model: row.dataset.model, bce: Number(row.dataset.bce), mse: Number(row.dataset.mse),
              input: document.querySelector('#input-image').src,
              noisy: document.querySelector('#noisy-image')?.src ?? null,
              inputWidth: size('input-image'), rebuiltWidth: size('reconstruction-image'),
              drawingWidth: size('sent-drawing'),
              compare: Object.fromEntries([...document.querySelectorAll('#compare [data-model]')]
                .map(item => [item.dataset.model, Number(item.dataset.bce)]))};
    }""")
    return state


def canvas_picture(page: Page) -> str:
    picture: str = page.evaluate("document.querySelector('#canvas').toDataURL()")
    return picture


def test_a_drawn_seven_is_rebuilt_with_the_apis_numbers(page: Page, live_server: str,
                                                        shoot: Shoot) -> None:
    note_forms(page)
    page.goto("/reconstruct")
    page.uncheck("#live")
    draw(page, SEVEN)
    page.wait_for_timeout(400)  # longer than the live delay: nothing may be sent
    assert sent_forms(page) == []
    page.keyboard.press("Enter")  # the canvas has the focus since the pen touched it
    settled(page)
    sent = sent_forms(page)
    assert len(sent) == 1
    state = shown(page)
    assert state["model"] == "seed"
    assert (state["inputWidth"], state["rebuiltWidth"], state["drawingWidth"]) == (28, 28, 560)

    # What the page sent: the canvas as a 560x560 PNG, and only the API's fields.
    form = sent[0]
    assert set(form) == {"image", "model", "noise", "seed", "layers"}
    assert isinstance(form["image"], bytes)
    assert Image.open(io.BytesIO(form["image"])).size == (560, 560)
    # The numbers and the 28x28 are the API's for that very PNG.
    api = api_answer(live_server, form)
    assert (state["bce"], state["mse"]) == (api["metrics"]["bce"], api["metrics"]["mse"])
    assert state["input"] == api["input"]["image"]
    assert page.inner_text("#bce") == f"{api['metrics']['bce']:.4f}"
    # Look inside: the input and every layer, with their feature maps.
    assert page.locator("#inside-table img.feature-maps").count() == len(api["layers"]) + 1
    assert page.get_attribute("#inside-total", "data-params") == "3369"
    # The code's numbers on hover.
    page.hover("#code-maps svg:nth-child(2) rect:nth-child(6)")
    assert re.fullmatch(r"Map 2, row 2, column 2: [\d.]+", page.inner_text("#code-readout"))
    value = float(page.inner_text("#code-readout").rsplit(": ", 1)[1])
    assert value == round(api["latent"]["values"][1][1][1], 5)
    shoot(page, "reconstruct-drawn")

    # The same button from the mouse: another request, the same answer.
    page.click("#submit")
    page.wait_for_function("() => window.__sentForms.length === 2"
                           " && !document.querySelector('#progress.htmx-request')")
    assert shown(page)["bce"] == api["metrics"]["bce"]


def test_undo_clear_and_the_ink_colours(page: Page) -> None:
    page.goto("/reconstruct")
    page.uncheck("#live")
    blank = canvas_picture(page)
    assert page.is_disabled("#undo") and page.is_disabled("#clear")
    assert page.is_visible("#canvas-placeholder")
    draw(page, SEVEN[:1])
    first = canvas_picture(page)
    assert first != blank and page.is_hidden("#canvas-placeholder")
    draw(page, SEVEN[1:])
    both = canvas_picture(page)
    assert both != first
    page.click("#undo")
    assert canvas_picture(page) == first  # exactly the pixels there were
    page.keyboard.press("Control+z")
    assert canvas_picture(page) == blank
    assert page.is_disabled("#undo") and page.is_visible("#canvas-placeholder")

    draw(page, SEVEN)
    page.click("#clear")
    assert canvas_picture(page) == blank and page.is_disabled("#clear")
    page.click("#undo")  # a clear can be undone
    assert canvas_picture(page) == both

    # Black on white: the same strokes, the colours swapped.
    page.check("input[name='ink'][value='dark']")
    corner = page.evaluate("Array.from(document.querySelector('#canvas').getContext('2d')"
                           ".getImageData(2, 2, 1, 1).data)")
    assert corner == [255, 255, 255, 255]
    page.check("input[name='ink'][value='light']")
    assert canvas_picture(page) == both


def test_models_compared_and_the_noise_slider(page: Page, live_server: str, shoot: Shoot
                                              ) -> None:
    note_forms(page)
    page.goto("/reconstruct")
    draw(page, SEVEN)  # live: rebuilt once the pen has rested
    settled(page)
    first = shown(page)
    names = [model["name"] for model in httpx.get(f"{live_server}/models").json()
             if model["status"] == "ok"]
    assert list(first["compare"]) == names

    # Pick wide from the comparison: it becomes the model in detail, everywhere.
    page.click("[data-pick-model='wide']")
    page.wait_for_selector("#digit-row[data-model='wide']")
    page.wait_for_selector("#sample-figure[data-model='wide']")
    assert page.is_checked("input[name='model'][value='wide']")
    assert re.search(r"/reconstruct\?(.+&)?model=wide(&|$)", page.url)  # settings in the URL
    assert page.get_attribute("#inside-table", "data-model") == "wide"
    assert page.locator("#code-maps svg").count() == 16  # wide's code is 4x4x16
    wide = shown(page)
    assert wide["compare"] == first["compare"]  # the same drawing, the same numbers
    form = sent_forms(page)[-1]
    for name, bce in wide["compare"].items():
        assert bce == api_answer(live_server, form, model=name)["metrics"]["bce"], name

    # Noise: the model gets a noisy digit, shown next to every model's output.
    assert page.locator("#noisy-image").count() == 0
    page.focus("#noise")
    for _ in range(10):
        page.keyboard.press("ArrowRight")
    assert page.inner_text("#noise-value") == "0.50"
    page.wait_for_selector("#digit-row[data-noise='0.5']")
    page.wait_for_function("() => !document.querySelector('#progress.htmx-request')")
    noisy = shown(page)
    assert noisy["noisy"] is not None and noisy["noisy"] != noisy["input"]
    assert noisy["input"] == wide["input"]  # the clean digit is still the drawing's
    assert page.get_attribute("#compare .compare-input img", "src") == noisy["noisy"]
    form = sent_forms(page)[-1]
    assert form["noise"] == "0.5"
    api = api_answer(live_server, form)
    assert noisy["noisy"] == api["noisy"]["image"] and noisy["bce"] == api["metrics"]["bce"]
    shoot(page, "reconstruct-wide-with-noise")

    seed = page.get_attribute("#digit-row", "data-seed")
    page.click("#new-noise")
    page.wait_for_function("seed => document.querySelector('#digit-row').dataset.seed !== seed",
                           arg=seed)
    assert shown(page)["noisy"] != noisy["noisy"]


def test_the_lessons_figure_loads_a_digit_into_the_canvas(page: Page, live_server: str) -> None:
    note_forms(page)
    page.goto("/reconstruct")
    page.uncheck("#live")  # a click on a digit rebuilds at once all the same
    assert page.locator(".sample-digit").count() == 10
    loaded = page.evaluate("[...document.querySelectorAll('#sample-figure img')]"
                           ".map(image => image.complete && image.naturalWidth)")
    assert loaded == [28] * 20
    blank = canvas_picture(page)
    page.click(".sample-digit[data-index='3']")
    settled(page)
    assert canvas_picture(page) != blank and page.is_hidden("#canvas-placeholder")
    # The model received (nearly) the test digit itself: the canvas holds it scaled up, and
    # the server scales it back as MNIST did.
    sample = httpx.get(f"{live_server}/samples?count=10").json()[3]
    received = np.array(api_answer(live_server, sent_forms(page)[-1])["input"]["pixels"])
    assert np.abs(received - np.array(sample["pixels"])).mean() < 0.05
    # Draw over it, then undo: the digit is back, as loaded.
    with_digit = canvas_picture(page)
    draw(page, SEVEN[1:])
    page.click("#undo")
    assert canvas_picture(page) == with_digit


def test_a_blank_canvas_is_an_error_next_to_it(page: Page, allowed_console: list[str]) -> None:
    allowed_console.append("the server responded with a status of 422")
    page.goto("/reconstruct")
    page.click("#submit")
    page.wait_for_selector("#error-image .problem")
    assert "Nothing drawn" in page.inner_text("#error-image")
    draw(page, SEVEN)  # live: the next answer takes the error away
    settled(page)
    assert page.locator("#error-image .problem").count() == 0


def test_drawing_with_a_finger_on_a_phone(browser: Browser, live_server: str, shoot: Shoot
                                          ) -> None:
    page, problems = open_page(browser, live_server, viewport={"width": 390, "height": 844},
                               color_scheme="dark", has_touch=True, is_mobile=True)
    page.goto("/reconstruct")
    page.locator("#canvas").scroll_into_view_if_needed()
    scrolled = page.evaluate("window.scrollY")
    box = page.locator("#canvas").bounding_box()
    assert box is not None
    touch = page.context.new_cdp_session(page)
    for stroke in SEVEN:
        points = [{"x": box["x"] + x * box["width"], "y": box["y"] + y * box["height"]}
                  for x, y in stroke]
        touch.send("Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": [points[0]]})
        for start, end in itertools.pairwise(points):
            for step in range(1, 7):
                between = {axis: start[axis] + (end[axis] - start[axis]) * step / 6
                           for axis in ("x", "y")}
                touch.send("Input.dispatchTouchEvent",
                           {"type": "touchMove", "touchPoints": [between]})
        touch.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
    settled(page)
    assert page.evaluate("window.scrollY") == scrolled  # the finger drew; the page stayed
    state = shown(page)
    assert state["inputWidth"] == 28 and state["model"] == "seed"
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.locator("#reconstruction").scroll_into_view_if_needed()
    shoot(page, "phone-dark-reconstruct")
    assert_clean(page, problems)
    page.context.close()


def test_the_models_page(page: Page, shoot: Shoot) -> None:
    page.goto("/models")
    rows = page.locator("#models-summary tbody tr")
    assert rows.count() >= 3
    assert page.get_attribute(".total-params", "data-params") == "3369"
    assert page.is_visible("#lesson-recipe")
    page.click("#model-wide a.button")
    page.wait_for_url(re.compile(r"/reconstruct\?(.+&)?model=wide(&|$)"))
    assert page.is_checked("input[name='model'][value='wide']")
    assert page.get_attribute("#inside-table", "data-model") == "wide"
    # Nothing drawn: another model brings its own figure and layer table.
    page.check("input[name='model'][value='seed']")
    page.wait_for_selector("#inside-table[data-model='seed']")
    page.wait_for_selector("#sample-figure[data-model='seed']")
    page.go_back()
    shoot(page, "models")


def test_without_javascript_the_page_says_what_still_works(browser: Browser, live_server: str
                                                            ) -> None:
    page, problems = open_page(browser, live_server, java_script_enabled=False)
    page.goto("/reconstruct")
    assert page.is_hidden("#canvas") and page.is_hidden("#submit")
    assert "Drawing needs JavaScript" in page.inner_text("#reconstruct-form")
    assert page.locator("#sample-figure img.sample-rebuilt").count() == 10
    assert page.locator("#inside-table tbody tr").count() == 14
    assert_clean(page, problems)
    page.context.close()
