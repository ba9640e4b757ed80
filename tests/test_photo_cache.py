"""The photo cache: a page sends a photo once, then its key; the working size; light answers."""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from tests.conftest import encode, gradient_photo
from tests.test_pages import post_photo as post_form
from webapp.errors import InvalidInput, PhotoExpired
from webapp.images import DecodedImage, decode_image, fit_to_side, fitted_size
from webapp.server.app import create_app
from webapp.server.photocache import FULL_SIZE, PhotoCache, checked_key, photo_key
from webapp.server.settings import Settings

HX = {"hx-request": "true"}
X = "\u00d7"
"""The multiplication sign, as the pages write sizes."""
PHOTO = gradient_photo(300, 400)
PHOTO_BYTES = encode(PHOTO, "JPEG", quality=90)


def decoded(side: int, value: int = 0) -> DecodedImage:
    """A side x side RGB photo: side * side * 3 bytes."""
    return DecodedImage(pixels=np.full((side, side, 3), value, np.uint8), format="PNG", frames=1)


def post_photo(client: TestClient, data: bytes | None, headers: dict[str, str],
               path: str = "/convolve", **fields: Any) -> Any:
    """The page's form: the kernel is always named (a blank one is an error)."""
    fields.setdefault("kernel", "sobel-x")
    return post_form(client, data, headers, path, **fields)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


# --- the cache itself ---------------------------------------------------------------------


def test_the_least_recently_used_photo_leaves_first_when_the_budget_is_spent() -> None:
    cache = PhotoCache(max_bytes=3 * 300, max_seconds=60)  # three 10x10 RGB photos
    for name in "abc":
        assert cache.put(name, FULL_SIZE, decoded(10))
    assert cache.get("a", FULL_SIZE) is not None  # "a" is now the most recently used
    assert cache.put("d", FULL_SIZE, decoded(10))
    assert cache.get("b", FULL_SIZE) is None  # the least recently used went
    assert all(cache.get(name, FULL_SIZE) is not None for name in "acd")
    assert cache.stats().bytes == 900 and cache.stats().entries == 3


def test_a_photo_over_the_whole_budget_is_not_kept_and_evicts_nothing() -> None:
    cache = PhotoCache(max_bytes=1000, max_seconds=60)
    assert cache.put("small", FULL_SIZE, decoded(10))
    assert not cache.put("huge", FULL_SIZE, decoded(20))  # 1200 bytes
    assert cache.get("huge", FULL_SIZE) is None
    assert cache.get("small", FULL_SIZE) is not None
    assert cache.stats().bytes == 300


def test_a_photo_unused_past_the_time_limit_is_dropped_and_use_keeps_it() -> None:
    clock = Clock()
    cache = PhotoCache(max_bytes=10_000, max_seconds=100, clock=clock)
    cache.put("used", FULL_SIZE, decoded(10))
    cache.put("idle", FULL_SIZE, decoded(10))
    clock.now = 80
    assert cache.get("used", FULL_SIZE) is not None
    clock.now = 150  # "idle" unused for 150 s, "used" for 70 s
    assert cache.stats().entries == 1
    assert cache.get("idle", FULL_SIZE) is None
    assert cache.get("used", FULL_SIZE) is not None
    clock.now = 251
    with pytest.raises(PhotoExpired) as expired:
        cache.require("used", FULL_SIZE)
    assert expired.value.field == "photo_key"
    assert cache.stats().bytes == 0


def test_working_sizes_are_kept_apart_and_replacing_one_counts_its_bytes_once() -> None:
    cache = PhotoCache(max_bytes=10_000, max_seconds=60)
    cache.put("a", 1024, decoded(10, 1))
    cache.put("a", FULL_SIZE, decoded(20, 2))
    cache.put("a", 1024, decoded(10, 3))
    assert cache.stats().bytes == 300 + 1200
    kept = cache.get("a", 1024)
    assert kept is not None and kept.pixels[0, 0, 0] == 3


def test_hits_and_misses_count_the_keys_clients_name() -> None:
    cache = PhotoCache(max_bytes=10_000, max_seconds=60)
    cache.put("a", FULL_SIZE, decoded(10))
    cache.require("a", FULL_SIZE)
    with pytest.raises(PhotoExpired):
        cache.require("b", FULL_SIZE)
    cache.get("c", FULL_SIZE)  # an upload looking itself up: neither
    stats = cache.stats()
    assert (stats.hits, stats.misses) == (1, 1)


@pytest.mark.parametrize("forged", ["", "xyz", "0" * 31, "0" * 33, "A" * 32, "../" * 11,
                                    "0" * 10_000])
def test_a_forged_key_is_refused_naming_the_field(forged: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        checked_key(forged)
    assert refused.value.field == "photo_key"
    assert len(refused.value.message) < 200  # a long key is not echoed whole


def test_the_key_is_the_hash_of_the_bytes() -> None:
    assert photo_key(PHOTO_BYTES) == photo_key(bytes(PHOTO_BYTES))
    assert re.fullmatch(r"[0-9a-f]{32}", photo_key(PHOTO_BYTES))
    assert photo_key(PHOTO_BYTES) != photo_key(PHOTO_BYTES + b"\0")


# --- fitting to a working size ------------------------------------------------------------


def test_fitting_keeps_the_aspect_and_averages_areas() -> None:
    assert fitted_size(4032, 3024, 1024) == (1024, 768)
    assert fitted_size(3024, 4032, 1024) == (768, 1024)
    assert fitted_size(100, 50, 1024) == (100, 50)
    checker = np.indices((64, 64)).sum(axis=0) % 2 * 255  # the finest detail there is
    fitted = fit_to_side(checker.astype(np.uint8), 32)
    assert fitted.shape == (32, 32)
    assert np.all(np.abs(fitted.astype(int) - 128) <= 1)  # averaged, not aliased


def test_a_phone_photo_decodes_at_the_working_size_turned_upright() -> None:
    rows, columns = np.mgrid[0:3024, 0:4032]
    pixels = np.stack([columns % 256, rows % 256, (rows + columns) % 256], axis=2)
    image = encode(pixels.astype(np.uint8), "JPEG", quality=90)
    working = decode_image(image, max_pixels=16_777_216, max_side=1024)
    assert working.pixels.shape == (768, 1024, 3)
    assert working.full_size == (4032, 3024)
    full = decode_image(image, max_pixels=16_777_216)
    assert full.full_size == (4032, 3024) and full.photo_size is None

    from PIL import Image

    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 clockwise to view"
    turned = encode(pixels.astype(np.uint8), "JPEG", quality=90, exif=exif.tobytes())
    upright = decode_image(turned, max_pixels=16_777_216, max_side=1024)
    assert upright.pixels.shape == (1024, 768, 3)
    assert upright.full_size == (3024, 4032)


# --- the page's requests -------------------------------------------------------------------


def photo_key_in(html: str) -> str:
    found = re.search(r'data-photo-key="([0-9a-f]{32})"', html)
    assert found, "the answer carries the photo's key"
    return found.group(1)


def test_a_page_sends_the_photo_once_then_its_key(client: TestClient) -> None:
    first = post_photo(client, PHOTO_BYTES, HX, kernel="sobel-x", max_side=1024)
    assert first.status_code == 200
    key = photo_key_in(first.text)
    assert key == photo_key(PHOTO_BYTES)
    again = post_photo(client, None, HX, kernel="box-blur", stride=2, photo_key=key,
                       max_side=1024)
    assert again.status_code == 200
    assert photo_key_in(again.text) == key
    assert f"149 {X} 199 {X} 3" in again.text  # (300 - 3) // 2 + 1 by (400 - 3) // 2 + 1
    # The key wins over the sample the form still names.
    sample = post_photo(client, None, HX, photo_key=key, sample="cat", max_side=1024)
    assert f"298 {X} 398 {X} 3" in sample.text


def test_an_unknown_key_is_a_410_that_names_the_photo(client: TestClient) -> None:
    answer = post_photo(client, None, {"accept": "application/json"}, photo_key="0" * 32)
    assert answer.status_code == 410
    problem = answer.json()
    assert problem["type"] == "urn:convlens:problem:photo-expired"
    assert problem["field"] == "photo_key"
    assert "Send the image again" in problem["detail"]
    # The page's fragment goes to the photo's error slot.
    fragment = post_photo(client, None, HX, photo_key="f" * 32)
    assert fragment.status_code == 410
    assert "#error-photo_key" in fragment.headers["hx-retarget"]


@pytest.mark.parametrize("forged", ["nothex", "0" * 64, "<script>"])
def test_a_forged_key_is_a_422_naming_the_field(client: TestClient, forged: str) -> None:
    answer = post_photo(client, None, {"accept": "application/json"}, photo_key=forged)
    assert answer.status_code == 422
    assert answer.json()["field"] == "photo_key"


def test_an_evicted_photo_is_a_410_and_sending_it_again_works(client: TestClient) -> None:
    key = photo_key_in(post_photo(client, PHOTO_BYTES, HX, max_side=1024).text)
    client.app.state.photo_cache.clear()  # type: ignore[attr-defined]
    assert post_photo(client, None, HX, photo_key=key, max_side=1024).status_code == 410
    assert post_photo(client, PHOTO_BYTES, HX, max_side=1024).status_code == 200
    assert post_photo(client, None, HX, photo_key=key, max_side=1024).status_code == 200


def test_the_explanation_reads_the_kept_working_photo(client: TestClient) -> None:
    key = photo_key_in(post_photo(client, PHOTO_BYTES, HX, max_side=256).text)
    answer = post_photo(client, None, HX, "/convolve/explain", photo_key=key, max_side=256,
                        row=189, column=253)  # the last cell of 190 x 254 at 256 x 192
    assert answer.status_code == 200, answer.text
    too_far = post_photo(client, None, HX, "/convolve/explain", photo_key=key, max_side=256,
                         row=190, column=0)
    assert too_far.status_code == 422


def test_the_page_works_at_1024_and_says_so(client: TestClient) -> None:
    big = encode(gradient_photo(1500, 2000), "JPEG", quality=90)
    answer = post_photo(client, big, HX, max_side=1024)
    assert f"766 {X} 1022 {X} 3" in answer.text  # 768 x 1024, 3x3 valid
    assert re.search(rf"Working at 1024 {X} 768 px\s+of your 2000 {X} 1500 px photo", answer.text)
    full = post_photo(client, big, HX, max_side="full")
    assert f"1498 {X} 1998 {X} 3" in full.text and "Working at" not in full.text


def test_the_api_keeps_the_full_size_unless_asked(client: TestClient) -> None:
    big = encode(gradient_photo(1500, 2000), "JPEG", quality=90)
    json_accept = {"accept": "application/json"}
    full = post_photo(client, big, json_accept).json()
    assert full["input_shape"] == [1500, 2000, 3]
    fitted = post_photo(client, big, json_accept, max_side=512).json()
    assert fitted["input_shape"] == [384, 512, 3]


def test_a_control_change_answers_light_html_and_an_immutable_input_picture(
    client: TestClient,
) -> None:
    big = encode(gradient_photo(3024, 4032), "JPEG", quality=90)
    first = post_photo(client, big, HX, max_side=1024)
    key = photo_key_in(first.text)
    change = post_photo(client, None, HX, photo_key=key, max_side=1024, stride=2)
    assert len(change.content) < 300_000
    assert "data:image/png" not in change.text  # the output is a JPEG at this size
    source = re.search(r'id="input-image" src="([^"]+)"', change.text)
    assert source and source.group(1) == f"/convolve/photos/{key}-1024-rgb.jpeg"
    picture = client.get(source.group(1))
    assert picture.status_code == 200 and picture.headers["content-type"] == "image/jpeg"
    assert "immutable" in picture.headers["cache-control"]
    assert decode_image(picture.content, max_pixels=10**7).pixels.shape == (768, 1024, 3)
    unchanged = client.get(source.group(1), headers={"if-none-match": picture.headers["etag"]})
    assert unchanged.status_code == 304 and not unchanged.content


@pytest.mark.parametrize("name", ["x.jpeg", f"{'0' * 32}-1024-rgb.gif",
                                  f"{'0' * 32}-0-rgb.jpeg", f"{'0' * 32}-1024-blue.png"])
def test_a_malformed_picture_name_is_a_422(client: TestClient, name: str) -> None:
    answer = client.get(f"/convolve/photos/{name}", headers={"accept": "application/json"})
    assert answer.status_code == 422 and answer.json()["field"] == "name"


def test_a_gone_picture_is_a_410(client: TestClient) -> None:
    answer = client.get(f"/convolve/photos/{'0' * 32}-1024-rgb.jpeg")
    assert answer.status_code == 410


def test_metrics_show_the_cache(client: TestClient) -> None:
    key = photo_key_in(post_photo(client, PHOTO_BYTES, HX, max_side=1024).text)
    post_photo(client, None, HX, photo_key=key, max_side=1024)
    post_photo(client, None, HX, photo_key="e" * 32, max_side=1024)
    metrics = client.get("/metrics").text

    def value(name: str) -> float:
        found = re.search(rf"^{name} (\S+)$", metrics, re.MULTILINE)
        assert found, name
        return float(found.group(1))

    assert value("convlens_photo_cache_bytes") >= PHOTO.nbytes  # the sample's too
    assert value("convlens_photo_cache_entries") >= 1
    assert value("convlens_photo_cache_hits") == 1
    assert value("convlens_photo_cache_misses") == 1


def test_a_budget_of_nothing_keeps_nothing_and_every_upload_still_works() -> None:
    settings: dict[str, Any] = {"photo_cache_bytes": 0}
    with TestClient(create_app(Settings(**settings))) as client:
        answer = post_photo(client, PHOTO_BYTES, HX, max_side=1024)
        assert answer.status_code == 200
        assert client.app.state.photo_cache.stats().entries == 0  # type: ignore[attr-defined]
        # No key to send back, and the input picture inline (no address could serve it).
        assert 'data-photo-key=""' in answer.text
        assert re.search(r'id="input-image" src="data:image/jpeg;base64,', answer.text)
        assert post_photo(client, None, HX, photo_key=photo_key(PHOTO_BYTES),
                          max_side=1024).status_code == 410


def test_a_shared_link_whose_photo_expired_offers_the_same_view_on_the_sample(
    client: TestClient,
) -> None:
    navigation = {"accept": "text/html", "sec-fetch-dest": "document"}
    gone = client.get(f"/convolve?photo_key={'a' * 32}&kernel=box-blur&stride=2",
                      headers=navigation)
    assert gone.status_code == 410
    links = re.findall(r'href="([^"]*)"[^>]*>Open this view on the sample', gone.text)
    assert len(links) == 1 and "photo_key" not in links[0], links
    same_view = client.get(links[0].replace("&amp;", "&"), headers=navigation)
    assert same_view.status_code == 200
    # The link's settings came along: stride 2, the box blur chosen.
    assert re.search(r'name="stride"[^>]*value="2"', same_view.text)
    assert re.search(r'<option value="box-blur"[^>]*selected>', same_view.text)
