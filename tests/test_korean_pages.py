"""Every page in Korean: chosen by the switch, by ``?lang=ko`` or by ``Accept-Language``, with
``<html lang="ko">``, no English left for the reader, and the same elements and numbers as
in English."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from tests.korean import english_left, numbers, skeleton
from webapp.server.language import COOKIE

PAGES = (
    "/",
    "/lesson/padding",
    "/lesson/padding?padding=1&stride=2",
    "/convolve",
    "/convolve?kernel=sobel-x&stride=2&padding=same",
    "/receptive-field",
    "/stack",
    "/reconstruct",
    "/models",
    "/no-such-page",
)
"""Every page a reader navigates to (the last is the page a mistyped address gets)."""


BROWSER = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8", "Sec-Fetch-Dest": "document"}
"""What a browser navigating to a page asks for (some routes answer programs with JSON)."""


def _html_lang(page: str) -> str:
    found = re.search(r'<html lang="([a-z]+)"', page)
    assert found, "no <html lang>"
    return found.group(1)


@pytest.mark.parametrize("path", PAGES)
def test_a_page_in_korean_by_the_address(client: TestClient, path: str) -> None:
    separator = "&" if "?" in path else "?"
    answer = client.get(f"{path}{separator}lang=ko", headers=BROWSER)
    assert answer.headers["content-language"] == "ko"
    assert _html_lang(answer.text) == "ko"
    assert english_left(answer.text) == []


@pytest.mark.parametrize("path", PAGES)
def test_a_page_in_korean_by_accept_language(client: TestClient, path: str) -> None:
    answer = client.get(path, headers={**BROWSER, "Accept-Language": "ko-KR,ko;q=0.9,en;q=0.8"})
    assert _html_lang(answer.text) == "ko"
    assert english_left(answer.text) == []
    assert "Accept-Language" in answer.headers["vary"]


@pytest.mark.parametrize("path", PAGES)
def test_a_page_is_the_same_page_in_both_languages(client: TestClient, path: str) -> None:
    """Only the words change: the same elements, attributes and numbers, in English and Korean."""
    english = client.get(path, headers={**BROWSER, "Accept-Language": "en"})
    korean = client.get(path, headers={**BROWSER, "Accept-Language": "ko"})
    assert english.status_code == korean.status_code
    assert _html_lang(english.text) == "en"
    assert skeleton(korean.text) == skeleton(english.text)
    assert numbers(korean.text) == numbers(english.text)


def test_the_switch_sets_the_language_for_every_later_page(client: TestClient) -> None:
    home = client.get("/")
    switch = re.search(r'<a href="([^"]+)" lang="ko" hreflang="ko"', home.text)
    assert switch, "no link to the Korean page in the nav"
    assert "한국어" in home.text
    korean = client.get(switch.group(1))
    assert _html_lang(korean.text) == "ko"
    assert client.cookies.get(COOKIE) == "ko"
    for path in PAGES[1:]:
        later = client.get(path, headers=BROWSER).text
        assert _html_lang(later) == "ko", path
        assert english_left(later) == [], path
    back = re.search(r'<a href="([^"]+)" lang="en" hreflang="en"', korean.text)
    assert back
    assert _html_lang(client.get(back.group(1), headers=BROWSER).text) == "en"
    assert _html_lang(client.get("/convolve", headers=BROWSER).text) == "en"


def test_the_address_wins_over_the_cookie_and_the_browser(client: TestClient) -> None:
    client.cookies.set(COOKIE, "en")
    answer = client.get("/convolve?lang=ko", headers={"Accept-Language": "en"})
    assert _html_lang(answer.text) == "ko"
    client.cookies.clear()
    neither = client.get("/convolve", headers={**BROWSER, "Accept-Language": "fr, de"})
    assert _html_lang(neither.text) == "en"


def test_the_language_parameter_is_not_a_field_of_any_route(client: TestClient) -> None:
    assert client.get("/kernels?lang=ko").status_code == 200
    assert client.get("/receptive-field?lang=xx&layers=conv:3:1:1:1").status_code == 200
