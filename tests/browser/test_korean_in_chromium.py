"""The /convolve and /reconstruct pages in Korean, in a real Chromium: chosen with the switch
and by the browser's language, used (a re-render, a clicked pixel, a drawn digit), with no
English left, Hangul in a real font, and the same numbers and pictures as in English.

The README's Korean screenshots (docs/*-ko.png) are this test's, the top of each cut from the
folder the run prints (``CONVLENS_SCREENSHOTS`` chooses it).
"""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest
from playwright.sync_api import Browser, Page

from tests.browser.conftest import Shoot, assert_clean, open_page
from tests.browser.test_reconstruct_browser import SEVEN, draw, settled, shown
from tests.korean import english_left, numbers, skeleton

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module", autouse=True)
def hangul_font() -> None:
    """A font with Hangul, or the screenshots show boxes: Debian's fonts-noto-cjk, which
    ``.ci/run`` installs (in CI its absence is a failure)."""
    listed = ""
    if shutil.which("fc-list"):
        listed = subprocess.run(["fc-list", ":lang=ko", "family"], capture_output=True,
                                text=True, check=False).stdout
    if listed.strip():
        return
    reason = "no font with Hangul (apt-get install fonts-noto-cjk)"
    if os.environ.get("CI", "").lower() in ("true", "1"):
        pytest.fail(reason)
    pytest.skip(reason)


def _language(page: Page) -> str:
    language: str = page.evaluate("document.documentElement.lang")
    return language


def _hangul_is_drawn(page: Page, selector: str) -> bool:
    """Whether the element's Hangul is drawn in a font that has it (not as empty boxes):
    the font the page asks for, measured against a face with no Hangul at all."""
    drawn: bool = page.evaluate("""selector => {
      const element = document.querySelector(selector);
      const style = getComputedStyle(element);
      const canvas = document.createElement('canvas').getContext('2d');
      const text = '수용 영역 스트라이드 패딩';
      canvas.font = style.fontSize + ' ' + style.fontFamily;
      const asked = canvas.measureText(text).width;
      canvas.font = style.fontSize + ' "Convlens No Such Font"';
      const fallback = canvas.measureText(text).width;
      return document.fonts.check(style.fontSize + ' ' + style.fontFamily, text)
        && asked > 0 && Math.abs(asked - fallback) < asked;
    }""", selector)
    return drawn


START = "/convolve?kernel=sobel-x&stride=2&padding=same"
"""Where both languages start: the switch keeps the view (and the settings) it was on."""


def _use_convolve(page: Page) -> None:
    """Another kernel (an htmx re-render), then a click on an output pixel (explained)."""
    before = page.get_attribute("#output-image", "src")
    page.select_option("#kernel", "box-blur")
    page.wait_for_function("""before => document.querySelector('#output-image').src !== before
      && !document.querySelector('.htmx-request')""", arg=before)
    box = page.locator("#output-image").bounding_box()
    assert box is not None
    page.mouse.click(box["x"] + box["width"] * 0.4, box["y"] + box["height"] * 0.5)
    page.wait_for_selector("#explained")
    page.wait_for_function("() => !document.querySelector('.htmx-request')")


def test_convolve_in_korean_by_the_switch(browser: Browser, live_server: str, page: Page,
                                          shoot: Shoot) -> None:
    # The same use in English first: what the Korean page must show, number for number.
    page.goto(START)
    assert _language(page) == "en"
    _use_convolve(page)
    english = page.content()

    korean_page, problems = open_page(browser, live_server, locale="en-US",
                                      viewport={"width": 1280, "height": 900})
    korean_page.goto(START)
    korean_page.click(".language-switch a[lang='ko']")
    korean_page.wait_for_load_state("networkidle")
    assert _language(korean_page) == "ko"
    assert "lang=ko" in korean_page.url
    _use_convolve(korean_page)
    korean = korean_page.content()

    assert english_left(korean) == []
    assert "커널" in korean_page.inner_text("main")
    assert _hangul_is_drawn(korean_page, "main h1")
    assert korean_page.get_attribute("#output-image", "src") == page.get_attribute(
        "#output-image", "src")
    assert korean_page.inner_text("#output-shape") == page.inner_text("#output-shape")
    assert skeleton(korean) == skeleton(english)
    assert numbers(korean) == numbers(english)
    shoot(korean_page, "convolve-ko")

    # The choice holds on the next page (the cookie), with no ?lang= in the address.
    korean_page.click(".site-nav a[href='/reconstruct']")
    korean_page.wait_for_load_state("networkidle")
    assert _language(korean_page) == "ko"
    assert "lang=" not in korean_page.url
    assert_clean(korean_page, problems)
    korean_page.context.close()


def test_reconstruct_in_korean_by_the_browsers_language(browser: Browser, live_server: str,
                                                         page: Page, shoot: Shoot) -> None:
    page.goto("/reconstruct")
    draw(page, SEVEN)
    page.keyboard.press("Enter")
    settled(page)
    english = shown(page)
    page.hover("#code-maps svg:nth-child(2) rect:nth-child(6)")
    english_readout = page.inner_text("#code-readout")

    korean_page, problems = open_page(browser, live_server, locale="ko-KR",
                                      viewport={"width": 1280, "height": 900})
    korean_page.goto("/reconstruct")
    assert _language(korean_page) == "ko"
    draw(korean_page, SEVEN)
    korean_page.keyboard.press("Enter")
    settled(korean_page)
    korean = shown(korean_page)

    # The same drawing, the same digit fed to the model, the same rebuild and errors.
    assert korean == english
    assert korean_page.inner_text("#bce") == page.inner_text("#bce")
    assert english_left(korean_page.content()) == []
    assert _hangul_is_drawn(korean_page, "main h1")
    # A message the browser builds itself (the code's numbers on hover) is Korean too.
    korean_page.hover("#code-maps svg:nth-child(2) rect:nth-child(6)")
    readout = korean_page.inner_text("#code-readout")
    assert readout != english_readout
    assert numbers(f"<p>{readout}</p>") == numbers(f"<p>{english_readout}</p>")
    assert english_left(f"<p>{readout}</p>") == []
    shoot(korean_page, "reconstruct-ko")
    assert_clean(korean_page, problems)
    korean_page.context.close()


def test_a_phone_in_korean(browser: Browser, live_server: str, shoot: Shoot) -> None:
    """390 px wide in Korean: nothing wider than the screen (Korean breaks between words)."""
    page, problems = open_page(browser, live_server, locale="ko-KR", has_touch=True,
                               is_mobile=True, viewport={"width": 390, "height": 844})
    for path in ("/convolve", "/reconstruct"):
        page.goto(path)
        page.wait_for_load_state("networkidle")
        assert _language(page) == "ko"
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        shoot(page, f"phone{path.replace('/', '-')}-ko")
    assert_clean(page, problems)
    page.context.close()



def test_an_address_pushed_by_htmx_keeps_its_language(browser: Browser, live_server: str) -> None:
    """The lesson pushes each change into the address (hx-push-url): a page opened with
    ?lang=ko keeps it there, so the address bar is still a link that opens in Korean."""
    page, problems = open_page(browser, live_server, locale="en-US",
                               viewport={"width": 1280, "height": 900})
    page.goto("/lesson/padding?lang=ko")
    page.fill("#lesson-input", "0, 1, 2, 3, 4, 5")
    page.wait_for_function("() => location.search.includes('input=')"
                           " && location.search.includes('lang=ko')")
    assert _language(page) == "ko"
    assert english_left(page.content()) == []
    assert_clean(page, problems)
    page.context.close()
