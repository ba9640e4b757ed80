"""The pages in a real Chromium: what a learner clicks, and what they see."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
import numpy as np
import pytest
from playwright.sync_api import Browser, FilePayload, Page

from tests.browser.conftest import Shoot, assert_clean, open_page
from tests.conftest import encode, gradient_photo

pytestmark = pytest.mark.browser

PHOTO = gradient_photo(48, 64)
X = "\u00d7"


def output_state(page: Page) -> dict[str, Any]:
    """The output picture as the browser has it, and the shape the page states."""
    state: dict[str, Any] = page.evaluate(
        """() => {
          const image = document.querySelector('#output-image');
          const shape = document.querySelector('#output-shape');
          return {src: image.src, naturalWidth: image.naturalWidth,
                  naturalHeight: image.naturalHeight, shape: shape.textContent,
                  height: Number(shape.dataset.height), width: Number(shape.dataset.width)};
        }"""
    )
    return state


def wait_for_new_output(page: Page, before: dict[str, Any]) -> dict[str, Any]:
    page.wait_for_function(
        """old => {
          const image = document.querySelector('#output-image');
          return image && image.src !== old && image.complete && image.naturalWidth > 0;
        }""",
        arg=before["src"],
    )
    after = output_state(page)
    # The picture's pixels are the shape the page states.
    assert (after["naturalHeight"], after["naturalWidth"]) == (after["height"], after["width"])
    return after


def upload_photo(page: Page) -> dict[str, Any]:
    before = output_state(page)
    page.set_input_files("#image", files=FilePayload(
        name="gradient.png", mimeType="image/png", buffer=encode(PHOTO)))
    return wait_for_new_output(page, before)


def test_the_output_follows_kernel_stride_and_padding(page: Page, shoot: Shoot) -> None:
    page.goto("/convolve")
    first = output_state(page)
    assert (first["naturalHeight"], first["naturalWidth"]) == (298, 449)  # the cat, 3x3 valid
    uploaded = upload_photo(page)
    assert uploaded["shape"] == f"46 {X} 62 {X} 3"
    assert not page.is_checked("input[name='sample'][value='cat']")

    page.select_option("#kernel", "box-blur")
    blurred = wait_for_new_output(page, uploaded)
    assert blurred["shape"] == uploaded["shape"]  # same geometry, another picture

    page.fill("#stride", "2")
    strided = wait_for_new_output(page, blurred)
    assert strided["shape"] == f"23 {X} 31 {X} 3"

    page.select_option("#padding", "same")
    padded = wait_for_new_output(page, strided)
    assert padded["shape"] == f"24 {X} 32 {X} 3"
    assert "floor((64 + 0 + 1 - 3) / 2) + 1 = 32" in page.inner_text("#numbers")

    page.fill("#padding-cells", "3")
    cells = wait_for_new_output(page, padded)
    assert page.input_value("#padding") == ""  # the choice follows the number
    assert cells["shape"] == f"26 {X} 34 {X} 3"

    # A custom kernel typed in the matrix: a 1x3 row after removing two rows.
    page.click("[data-matrix='remove-row']")
    page.click("[data-matrix='remove-row']")
    page.fill("#matrix input[data-row='0'][data-column='1']", "4")
    custom = wait_for_new_output(page, cells)
    assert page.input_value("#kernel") == ""
    assert json.loads(page.input_value("#weights")) == [[1 / 9, 4, 1 / 9]]
    # One row of three taps, 3 cells of padding, stride 2: (48 + 6 - 1) // 2 + 1 = 27 rows.
    assert custom["shape"] == f"27 {X} 34 {X} 3"
    shoot(page, "convolve-after-edits")


def test_a_number_typed_in_is_sent_once(page: Page) -> None:
    """Typing says "input", leaving the field says "change": one request, not two."""
    page.goto("/convolve")
    before = output_state(page)
    sent: list[str] = []
    page.on("request", lambda request: sent.append(request.url)
            if request.method == "POST" and request.url.endswith("/convolve") else None)
    page.fill("#stride", "2")
    wait_for_new_output(page, before)
    page.press("#stride", "Tab")  # leaves the field: "change", with nothing changed
    page.wait_for_timeout(600)  # past the change's delay
    assert len(sent) == 1
    page.fill("#stride", "3")  # a real change still goes
    page.press("#stride", "Tab")
    page.wait_for_function("() => document.querySelector('#output-shape').dataset.width"
                           " && !document.querySelector('.htmx-request')")
    page.wait_for_timeout(600)
    assert len(sent) == 2


def test_an_explained_pixel_sums_like_the_api(page: Page, live_server: str, shoot: Shoot
                                              ) -> None:
    page.goto("/convolve")
    uploaded = upload_photo(page)
    page.fill("#stride", "2")
    shown = wait_for_new_output(page, uploaded)
    assert shown["shape"] == f"23 {X} 31 {X} 3"

    # Click the middle of output pixel (row 5, column 9), once the picture has its place
    # (the same box two frames apart: the zoom lays the new picture out after it loads).
    page.wait_for_function(SETTLED_PICTURE)
    box = page.locator("#output-image").bounding_box()
    assert box is not None
    page.mouse.click(box["x"] + (9 + 0.5) * box["width"] / shown["width"],
                     box["y"] + (5 + 0.5) * box["height"] / shown["height"])
    page.wait_for_selector("#explained")
    chosen = (page.get_attribute("#explained", "data-row"),
              page.get_attribute("#explained", "data-column"))
    assert chosen == ("5", "9"), (chosen, box, shown)
    assert page.is_visible(".window-box") and page.is_visible(".cell-box")

    def api_value(channel: int, row: int, column: int) -> float:
        answer = httpx.post(f"{live_server}/convolve", json={
            "input": PHOTO[:, :, channel].tolist(), "kernel": "sobel-x", "stride": 2,
        })
        value: float = answer.json()["output"][row][column]
        return value

    explained = float(page.get_attribute("#explained", "data-sum") or "nan")
    assert explained == api_value(0, 5, 9)
    assert page.inner_text("#explained-sum") == f"{explained:g}"

    # The keyboard: arrows move the chosen pixel, and it is explained where they stop.
    page.focus("#output-frame")
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowDown")
    page.wait_for_selector("#explained[data-row='6'][data-column='10']")
    page.select_option("#explain-channel", "2")
    page.wait_for_selector("#explained[data-channel='2'][data-row='6']")
    assert float(page.get_attribute("#explained", "data-sum") or "nan") == api_value(2, 6, 10)

    # Change the geometry: the explanation follows the same pixel, and while the new one is
    # on its way the explanation still shown keeps its window outlined on the new pictures.
    page.evaluate(WATCH_THE_WINDOW_BOX)
    page.fill("#stride", "1")
    page.wait_for_selector("#explained[data-row='6'][data-column='10'][data-top='6']")
    assert page.evaluate("window.__windowBoxHidden") == [], "the window box blinked out"
    assert page.is_visible(".window-box")
    shoot(page, "convolve-explained")


SETTLED_PICTURE = """() => new Promise(resolve => {
  const place = () => JSON.stringify(document.querySelector('#output-image')
    .getBoundingClientRect());
  const before = place();
  requestAnimationFrame(() => requestAnimationFrame(() => resolve(place() === before)));
})"""
"""Whether the output picture keeps its box from one frame to the next."""


# Records each time the page settles (a MutationObserver runs once the script that changed
# the page is done, before anything is painted) with an explanation shown but its window box
# hidden or gone: what a learner would see blink.
WATCH_THE_WINDOW_BOX = """() => {
  window.__windowBoxHidden = [];
  new MutationObserver(() => {
    const box = document.querySelector('#result .window-box');
    const explained = document.getElementById('explained');
    if (explained && (!box || box.hidden)) {
      window.__windowBoxHidden.push(explained.dataset.top + ',' + explained.dataset.left);
    }
  }).observe(document.getElementById('main'), {subtree: true, childList: true,
                                               attributes: true});
}"""


def test_an_error_appears_next_to_its_field(page: Page, allowed_console: list[str]) -> None:
    # Chromium itself logs every answer over 400; this one is the point of the test.
    allowed_console.append("the server responded with a status of 422")
    page.goto("/convolve")
    page.select_option("#kernel", "motion-blur")  # 9 taps: dilation 64 spans 513 > 451 pixels
    page.fill("#dilation", "64")
    page.wait_for_selector("#error-padding .problem")
    assert "would be empty" in page.inner_text("#error-padding")
    assert page.get_attribute("#padding", "aria-invalid") == "true"
    assert "is-stale" in (page.get_attribute("#result", "class") or "")
    page.fill("#dilation", "2")
    page.wait_for_function("() => !document.querySelector('#error-padding .problem')")
    page.wait_for_function("() => !document.querySelector('#result.is-stale')")


def test_pooling_from_the_convolve_page(page: Page) -> None:
    page.goto("/convolve")
    before = output_state(page)
    assert not page.is_visible("#pool_size")
    page.check("input[name='operation'][value='max-pool']")
    pooled = wait_for_new_output(page, before)
    assert page.input_value("#stride") == "2"  # pooling moves by its own size
    assert pooled["shape"] == f"150 {X} 225 {X} 3"
    assert page.is_visible("#pool_size") and not page.is_visible("#kernel")
    assert "pooling has none" in page.inner_text("#numbers")


def test_stepping_through_the_padding_lesson(page: Page, shoot: Shoot) -> None:
    page.goto("/lesson/padding")
    assert page.inner_text("#lesson-output") == "[2, 2, 2]"
    visible = page.locator(".step:visible")
    for step in range(3):
        assert page.inner_text(".step-now") == str(step + 1)
        assert visible.count() == 1
        assert visible.first.get_attribute("data-index") == str(step)
        assert visible.first.locator(".step-sum").inner_text() == "2"
        assert page.locator(".out.current").inner_text() == "2"
        if step < 2:
            page.click("[data-step='next']")
    assert page.get_attribute("[data-step='next']", "aria-disabled") == "true"
    shoot(page, "lesson-third-step")

    # One zero of padding on each side keeps all five values; the URL keeps the settings.
    page.select_option("#lesson-padding", "1")
    page.wait_for_function(
        "() => document.querySelector('#lesson-output').textContent === '[1, 2, 2, 2, -3]'"
    )
    assert "padding=1" in page.url
    page.click("[data-step='all']")
    assert page.locator(".step:visible").count() == 5
    assert page.locator(".step:visible .strip .values td.padding").count() == 10
    shoot(page, "lesson-padded")
    # One at a time again, with the keyboard: the arrows step while the stepper has focus.
    page.click("[data-step='all']")
    page.focus("[data-step='next']")
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    assert page.inner_text(".step-now") == "5"
    assert page.locator(".step:visible .step-sum").inner_text() == "-3"
    page.keyboard.press("ArrowLeft")
    assert page.locator(".out.current").inner_text() == "2"


def test_building_the_quiz_stack_reads_8(page: Page, shoot: Shoot) -> None:
    page.goto("/receptive-field")
    assert page.get_attribute("#receptive-field", "data-value") == "3"

    def field_becomes(value: str) -> None:
        page.wait_for_selector(f"#receptive-field[data-value='{value}']")

    page.click("[data-edit='add']")
    page.select_option("#kind-2", "max_pool")
    page.fill("#kernel-2", "2")
    page.fill("#stride-2", "2")
    field_becomes("4")
    page.click("[data-edit='add']")
    field_becomes("8")  # the added layer is a 3x3 conv
    assert page.inner_text("#receptive-field") == f"8 {X} 8"
    assert page.locator("#layers > li").count() == 3
    assert re.search(r"kind=max_pool", page.url)
    shoot(page, "receptive-field-quiz")

    # Click the top-left corner of the picture: output cell (0, 0), whose field starts at 0.
    box = page.locator("#field-svg image").bounding_box()
    assert box is not None
    page.mouse.click(box["x"] + 2, box["y"] + 2)
    page.wait_for_selector("#field-svg[data-box-top='0.0'][data-box-left='0.0']")
    assert page.input_value("#row") == "0"

    page.click("[aria-label='Remove layer 2']")
    field_becomes("5")  # two 3x3 convs
    page.click("[data-example='quiz']")
    field_becomes("8")


def test_the_convolve_form_works_without_javascript(browser: Browser, live_server: str,
                                                    shoot: Shoot) -> None:
    page, problems = open_page(browser, live_server, java_script_enabled=False,
                               viewport={"width": 1280, "height": 900})
    page.goto("/convolve")
    assert page.is_hidden(".matrix-editor")
    page.select_option("#kernel", "box-blur")
    page.fill("#stride", "3")
    with page.expect_navigation():
        page.click("button[type='submit'].primary")
    assert page.url.endswith("/convolve")
    assert page.inner_text("#output-shape") == f"100 {X} 150 {X} 3"
    assert page.input_value("#kernel") == "box-blur"
    natural = page.evaluate("document.querySelector('#output-image').naturalWidth")
    assert natural == 150
    shoot(page, "convolve-without-javascript")
    assert_clean(page, problems)
    page.context.close()


@pytest.mark.parametrize("path", ["/", "/convolve", "/lesson/padding", "/receptive-field"])
def test_pages_on_a_phone_in_the_dark(browser: Browser, live_server: str, shoot: Shoot,
                                      path: str) -> None:
    page, problems = open_page(browser, live_server, viewport={"width": 390, "height": 844},
                               color_scheme="dark", has_touch=True, is_mobile=True)
    page.goto(path)
    page.wait_for_load_state("networkidle")
    # Nothing wider than the screen but what scrolls on purpose (tables, the nav bar).
    overflow = page.evaluate("document.documentElement.scrollWidth")
    assert overflow <= 390
    background = page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert np.mean([int(part) for part in re.findall(r"\d+", background)[:3]]) < 60
    if path == "/convolve":
        page.tap("#output-frame")
        page.wait_for_selector("#explained")
    name = path.strip("/").replace("/", "-") or "home"
    shoot(page, f"phone-dark-{name}")
    assert_clean(page, problems)
    page.context.close()


def test_desktop_screenshots(page: Page, shoot: Shoot) -> None:
    for path, name in [("/", "home"), ("/convolve", "convolve"),
                       ("/receptive-field?kind=conv&kernel=3&kind=max_pool&kernel=2&stride=1"
                        "&stride=2&kind=conv&kernel=3", "receptive-field")]:
        page.goto(path)
        page.wait_for_load_state("networkidle")
        shoot(page, f"desktop-{name}")
