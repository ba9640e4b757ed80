"""A photo is uploaded once: what goes over the wire when a learner changes the controls."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from playwright.sync_api import Browser, FilePayload, Page, Request

from tests.browser.conftest import Shoot, assert_clean, open_page, serving
from tests.browser.test_pages_in_chromium import output_state, wait_for_new_output
from tests.phonephotos import phone_photo
from webapp.server.app import create_app
from webapp.server.photocache import PhotoCache
from webapp.server.settings import Settings

pytestmark = pytest.mark.browser

X = "\u00d7"
PHONE = phone_photo()  # 4032 x 3024, a few MB


@pytest.fixture(scope="module")
def app() -> FastAPI:
    """An app of this module's own, so that a test can empty its photo cache."""
    return create_app(Settings(skip_broken_models=True))


@pytest.fixture(scope="module")
def server(app: FastAPI) -> Iterator[str]:
    with serving(app) as base_url:
        yield base_url


@pytest.fixture
def phone_page(browser: Browser, server: str) -> Iterator[tuple[Page, list[str]]]:
    page, problems = open_page(browser, server, viewport={"width": 1280, "height": 900})
    yield page, problems
    page.context.close()


def posts_to(page: Page) -> list[Request]:
    """Every POST the page makes from now on, as they go."""
    sent: list[Request] = []
    page.on("request", lambda request: sent.append(request) if request.method == "POST"
            else None)
    return sent


def body_size(request: Request) -> int:
    """The bytes of the request's body as sent: its Content-Length (Chromium counts no
    file part in ``post_data_buffer`` nor in ``sizes()``)."""
    return int(request.all_headers().get("content-length", "0"))


def upload(page: Page) -> dict[str, Any]:
    before = output_state(page)
    page.set_input_files("#image", files=FilePayload(
        name="phone.jpg", mimeType="image/jpeg", buffer=PHONE))
    return wait_for_new_output(page, before)


def test_a_phone_photo_is_sent_once_then_only_its_key(
    phone_page: tuple[Page, list[str]], app: FastAPI, shoot: Shoot
) -> None:
    page, problems = phone_page
    cache: PhotoCache = app.state.photo_cache
    page.goto("/convolve")
    sent = posts_to(page)
    uploaded = upload(page)
    # The default working size: 1024 x 768, a 3x3 kernel keeps 1022 x 766.
    assert uploaded["shape"] == f"766 {X} 1022 {X} 3"
    assert f"Working at 1024 {X} 768 px of your 4032 {X} 3024 px photo" in " ".join(
        page.inner_text("#working-note").split())
    assert [body_size(request) > len(PHONE) for request in sent] == [True]
    hits = cache.stats().hits

    page.fill("#stride", "2")
    strided = wait_for_new_output(page, uploaded)
    assert strided["shape"] == f"383 {X} 511 {X} 3"
    page.select_option("#kernel", "box-blur")
    blurred = wait_for_new_output(page, strided)
    page.select_option("#color", "gray")
    gray = wait_for_new_output(page, blurred)
    assert gray["shape"] == f"383 {X} 511 {X} 1"

    changes = sent[1:]
    assert len(changes) == 3
    assert all(body_size(request) < 10_000 for request in changes), (
        "a control change sends the photo's key, not the photo"
    )
    # Each change found the photo by its key (the gray picture's fetch found it too).
    assert cache.stats().hits - hits >= 3
    # The input picture came by its address, at the working size.
    assert page.evaluate("document.querySelector('#input-image').naturalWidth") == 1024
    shoot(page, "convolve-phone-photo")
    assert_clean(page, problems)


def test_a_photo_the_server_lost_is_sent_again_unnoticed(
    phone_page: tuple[Page, list[str]], app: FastAPI
) -> None:
    page, problems = phone_page
    page.goto("/convolve")
    uploaded = upload(page)
    cache: PhotoCache = app.state.photo_cache
    cache.clear()  # what a restart, an eviction or another replica looks like
    sent = posts_to(page)
    page.fill("#stride", "3")
    strided = wait_for_new_output(page, uploaded)
    assert strided["shape"] == f"256 {X} 341 {X} 3"
    statuses = [request.response().status for request in sent  # type: ignore[union-attr]
                if request.url.endswith("/convolve")]
    assert statuses == [410, 200]  # the key was gone; the photo went again by itself
    assert body_size(sent[-1]) > len(PHONE)
    assert page.inner_text("#result .form-problem, #convolve-form .form-problem") == ""
    assert not page.is_visible("#error-photo_key .problem")
    # And the key works again for the next change.
    page.fill("#stride", "1")
    wait_for_new_output(page, strided)
    assert body_size(sent[-1]) < 10_000
    # Chromium logs every answer over 400, the 410 included: that one was the point.
    assert_clean(page, problems, allowed=["the server responded with a status of 410"])


def test_a_new_working_size_sends_the_photo_again_and_says_so(
    phone_page: tuple[Page, list[str]],
) -> None:
    page, problems = phone_page
    page.goto("/convolve")
    uploaded = upload(page)
    sent = posts_to(page)
    page.select_option("#max_side", "512")
    smaller = wait_for_new_output(page, uploaded)
    assert smaller["shape"] == f"382 {X} 510 {X} 3"
    assert [body_size(request) > len(PHONE) for request in sent] == [True]
    assert f"Working at 512 {X} 384 px" in " ".join(page.inner_text("#working-note").split())
    assert_clean(page, problems)
