"""The small-CNN page in Chromium: build three blocks, click a cell of the deepest maps, see
its receptive field drawn on the photo and its explanation equal to the JSON route's."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page

from tests.browser.conftest import Shoot, assert_clean, open_page
from tests.browser.test_accessibility import SIZES, violations

pytestmark = pytest.mark.browser


def _three_blocks(page: Page) -> None:
    page.goto("/stack")
    assert page.locator("li.block").count() == 2
    page.click("button.add-block")
    page.wait_for_selector("#stack-maps[data-blocks='3']")


def _click_deep_cell(page: Page) -> dict[str, Any]:
    picture = page.locator("[data-grid='3-maps'] img")
    box = picture.bounding_box()
    assert box is not None
    picture.click(position={"x": box["width"] * 0.3, "y": box["height"] * 0.3})
    page.wait_for_selector("#stack-explained[data-block='3']")
    explained: dict[str, Any] = page.evaluate(
        "() => Object.assign({}, document.getElementById('stack-explained').dataset)")
    return explained


def _json_cell(live_server: str, url: str, explained: dict[str, Any]) -> dict[str, Any]:
    """The same stack and cell asked of POST /stack as a program would."""
    query = httpx.URL(url).params
    blocks = [
        {name: query[f"block-{index}-{name}"] for name in ("bank", "activation", "padding", "pool")}
        | {"maps": int(query[f"block-{index}-maps"])}
        for index in (1, 2, 3)
    ]
    cell = {name: int(explained[name]) for name in ("block", "map", "row", "column")}
    answer = httpx.post(f"{live_server}/stack", json={
        "sample": query["sample"], "max_side": int(query["max_side"]), "color": query["color"],
        "random_seed": int(query["random_seed"]), "blocks": blocks, "cell": cell,
    })
    assert answer.status_code == 200
    data: dict[str, Any] = answer.json()["cell"]
    return data


def test_three_blocks_a_deep_cell_its_field_and_its_numbers(
    page: Page, live_server: str, shoot: Shoot
) -> None:
    _three_blocks(page)
    explained = _click_deep_cell(page)
    # Three 3x3 "same" convs with a 2x2 pool after the first two: 3, 4, 8, 10, 18.
    box = page.locator("#stack-field-box")
    assert box.is_visible()
    assert (box.get_attribute("width"), box.get_attribute("height")) == ("18.0", "18.0")
    drawn = box.bounding_box()
    svg = page.locator("#stack-field-svg").bounding_box()
    assert drawn is not None and svg is not None
    view_width = float(str(page.get_attribute("#stack-field-svg", "viewBox")).split()[2])
    # 18 photo pixels at the picture's scale, plus the outline's 3 px stroke.
    assert drawn["width"] == pytest.approx(18 * svg["width"] / view_width + 3, abs=1)
    assert page.inner_text("#stack-field-size") == "18 \u00d7 18"
    # The explanation is the API's, number for number.
    data = _json_cell(live_server, page.url, explained)
    assert float(explained["output"]) == data["output"]
    assert float(explained["total"]) == data["total"]
    assert float(explained["value"]) == data["value"]
    assert page.locator(".stack-channel").count() == 8  # block 2's eight maps are its channels
    assert "cell=3%2C" in page.url
    shoot(page, "stack-desktop")
    # The link restores the stack and the explained cell.
    page.goto(page.url)
    assert page.locator("li.block").count() == 3
    restored = page.get_attribute("#stack-explained", "data-output")
    assert restored is not None and float(restored) == data["output"]


def test_phone_width_touch_and_keyboard(browser: Browser, live_server: str, shoot: Shoot) -> None:
    page, problems = open_page(browser, live_server, viewport={"width": 390, "height": 844},
                               has_touch=True, is_mobile=True)
    _three_blocks(page)
    assert page.evaluate("document.scrollingElement.scrollWidth") <= 390
    picture = page.locator("[data-grid='3-maps'] img")
    box = picture.bounding_box()
    assert box is not None
    picture.tap(position={"x": box["width"] * 0.3, "y": box["height"] * 0.3})
    page.wait_for_selector("#stack-explained[data-block='3']")
    assert page.locator("#stack-field-box").is_visible()
    # The picker, by keyboard alone.
    page.fill("#pick-block", "2")
    page.fill("#pick-map", "5")
    page.fill("#pick-row", "3")
    page.fill("#pick-column", "4")
    page.focus("#pick-column")
    page.keyboard.press("Enter")
    page.wait_for_selector("#stack-explained[data-cell='2,5,3,4']")
    assert page.inner_text("#stack-field-size") == "8 \u00d7 8"
    assert page.evaluate("document.scrollingElement.scrollWidth") <= 390
    shoot(page, "stack-phone")
    assert_clean(page, problems)
    page.context.close()


def test_a_bank_that_does_not_fit_its_block_is_named(
    page: Page, allowed_console: list[str]
) -> None:
    allowed_console.append("422")
    page.goto("/stack")
    page.select_option("#block-2-bank", "colour-opponents")
    problem = page.locator("#error-block-2-bank .problem")
    problem.wait_for()
    assert "Block 2" in problem.inner_text() and "4 channels" in problem.inner_text()
    assert page.get_attribute("#block-2-bank", "aria-invalid") == "true"


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("size", list(SIZES))
def test_no_serious_axe_violations_with_a_cell_explained(
    browser: Browser, live_server: str, size: str, scheme: str
) -> None:
    phone = size == "phone"
    page, problems = open_page(browser, live_server, viewport=SIZES[size], bypass_csp=True,
                               color_scheme=scheme, is_mobile=phone, has_touch=phone)
    page.goto("/stack?block-1-bank=edges&block-2-bank=random-he&block-2-maps=4&cell=2,1,3,4")
    page.wait_for_load_state("networkidle")
    assert page.locator("#stack-explained").is_visible()
    found = violations(page)
    assert found == [], "\n".join(f"{v['id']} ({v['impact']}): {v['help']}\n  " +
                                  "\n  ".join(v["nodes"]) for v in found)
    assert_clean(page, problems)
    page.context.close()
