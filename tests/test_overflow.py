"""No 500 from numbers: finite inputs whose results leave the float range (1e308s, an integer
of 400 digits) get a 422 naming the field, and every 200 holds finite numbers only.

Each request goes through the real app; the project turns warnings into errors, so a numpy
overflow warning on the way would fail here as it would log in production.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import encode, gradient_photo
from webapp.server.app import create_app

FUZZ = settings(deadline=None, derandomize=True, database=None, max_examples=150,
                suppress_health_check=[HealthCheck.too_slow,
                                       HealthCheck.function_scoped_fixture])
JSON_TYPE = {"content-type": "application/json"}
FIELDS = {"input", "weights", "pixels", "body", "padding", "padding_mode", "pool_size",
          "kernel"}


@pytest.fixture(scope="module")
def app_client() -> Iterator[TestClient]:
    with TestClient(create_app()) as client:
        yield client


@pytest.fixture(scope="module")
def small_photo() -> bytes:
    return encode(gradient_photo(6, 5))


def problem(response: Any, field: str) -> str:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["field"] == field, body
    detail: str = body["detail"]
    assert detail.startswith(f"{field}") and detail.endswith("."), detail
    return detail


def all_finite(value: object) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, list):
        return all(map(all_finite, value))
    if isinstance(value, dict):
        return all(map(all_finite, value.values()))
    return True


@pytest.mark.parametrize(
    ("body", "field", "detail"),
    [
        ({"input": [1, 2, 3], "weights": [1e308, 1e308]}, "weights",
         "weights: the output overflows to infinity (values near 1e308); use smaller numbers."),
        ({"input": [1e308, 1e308, 1e308], "weights": [1, 1]}, "input",
         "input: the output overflows to infinity (values near 1e308); use smaller numbers."),
        ({"input": [[1e308, -1e308], [-1e308, 1e308]], "weights": [[1, -1], [-1, 1]]}, "input",
         "input: the output overflows to infinity"),
        ({"input": [1e308, 1e308], "operation": "avg-pool", "pool_size": 2}, "input",
         "input: the sum of a pooling window overflows to infinity (values near 1e308)"),
    ],
)
def test_numbers_that_overflow_are_a_422(
    app_client: TestClient, body: dict[str, Any], field: str, detail: str
) -> None:
    assert problem(app_client.post("/convolve", json=body), field).startswith(detail)


def test_huge_numbers_that_stay_finite_are_answered(app_client: TestClient) -> None:
    answer = app_client.post("/convolve", json={"input": [1e308, -1e308, 1e308],
                                                "operation": "max-pool", "pool_size": 2})
    assert answer.status_code == 200
    assert answer.json()["output"] == [1e308, 1e308]
    tiny = app_client.post("/convolve", json={"input": [5e-324, 1.0], "weights": [5e-324]})
    assert tiny.json()["output"] == [0.0, 5e-324]


@pytest.mark.parametrize(
    ("content", "field", "words"),
    [
        (b'{"input": [1' + b"0" * 400 + b'], "weights": [1]}', "input", "401-digit integer"),
        (b'{"input": [1' + b"0" * 5000 + b'], "weights": [1]}', "body", "4300 digits"),
        (b'{"input": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", "body", "nested too deeply"),
    ],
)
def test_numbers_json_cannot_hold_as_floats_are_a_422(
    app_client: TestClient, content: bytes, field: str, words: str
) -> None:
    response = app_client.post("/convolve", content=content, headers=JSON_TYPE)
    assert words in problem(response, field)


def test_photo_weights_that_overflow_float32_are_a_422(
    app_client: TestClient, small_photo: bytes
) -> None:
    def post(weights: str) -> Any:
        return app_client.post("/convolve", files={"image": ("a.png", small_photo, "image/png")},
                               data={"weights": weights}, headers={"accept": "application/json"})

    # Before: 200 with stats min/max/mean all null.
    assert "weights near 1e308" in problem(post("[[1e308, 1e308]]"), "weights")
    assert "weights near 1e36" in problem(post("[[1e36]]"), "weights")  # 255 * 1e36 > 3.4e38/2
    answer = post("[[1e30, -1e30]]")
    assert answer.status_code == 200
    assert all_finite(answer.json()["stats"]) and None not in answer.json()["stats"].values()


@pytest.mark.parametrize(
    "pixels",
    [[[1e308] * 28] * 28, [[-1e308] * 28] * 28, [[5e-324] * 28] * 28],
)
def test_reconstruct_pixels_out_of_range(app_client: TestClient, pixels: Any) -> None:
    response = app_client.post("/reconstruct", json={"pixels": pixels})
    if pixels[0][0] == 5e-324:  # tiny but inside 0..1: a blank digit, answered
        assert response.status_code == 200
        assert all_finite(response.json())
    else:
        assert "pixels must lie in 0..1" in problem(response, "pixels")


@pytest.mark.parametrize("content", [b'{"pixels": [[NaN]]}', b'{"pixels": [[Infinity]]}',
                                     b'{"pixels": [[1' + b"0" * 400 + b"]]}"])
def test_reconstruct_pixels_that_are_not_floats(app_client: TestClient, content: bytes) -> None:
    response = app_client.post("/reconstruct", content=content, headers=JSON_TYPE)
    assert response.status_code == 422, response.text
    assert response.json()["field"] in {"body", "pixels"}


# --- any finite float: 200 with finite numbers, or 422 naming a field -------------------

extreme = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([1e308, -1e308, 1.7976931348623157e308, 5e-324, -5e-324, 3.4e38, 1e-300]),
    st.integers(-10, 10),
)


def matrices(side: int) -> st.SearchStrategy[Any]:
    rows = st.integers(1, side).flatmap(lambda width: st.lists(
        st.lists(extreme, min_size=width, max_size=width), min_size=1, max_size=side))
    return st.one_of(st.lists(extreme, min_size=1, max_size=side), rows)


numeric_bodies = st.fixed_dictionaries(
    {"input": matrices(7), "weights": matrices(5)},
    optional={
        "operation": st.sampled_from(["convolve", "max-pool", "avg-pool"]),
        "pool_size": st.integers(1, 3),
        "stride": st.integers(1, 3),
        "padding": st.sampled_from(["valid", "same", "full", 0, 1, 2]),
        "padding_mode": st.sampled_from(["zeros", "reflect", "replicate", "circular"]),
        "dilation": st.integers(1, 2),
        "flip": st.booleans(),
    },
)


def answered_or_refused(response: Any) -> None:
    assert response.status_code in (200, 422), response.text
    body = json.loads(response.text)  # Python's json reads NaN and Infinity: none may come
    assert all_finite(body), body
    if response.status_code == 422:
        assert body["field"] in FIELDS, body
        assert body["detail"].endswith("."), body


@FUZZ
@given(body=numeric_bodies)
def test_any_finite_numbers_never_make_a_500(app_client: TestClient, body: dict[str, Any]) -> None:
    answered_or_refused(app_client.post("/convolve", json=body))


@settings(FUZZ, max_examples=60)
@given(weights=matrices(4), display=st.sampled_from(["clip", "abs", "normalize", "diverging"]))
def test_any_finite_photo_weights_never_make_a_500(
    app_client: TestClient, small_photo: bytes, weights: Any, display: str
) -> None:
    response = app_client.post(
        "/convolve", files={"image": ("a.png", small_photo, "image/png")},
        data={"weights": json.dumps(weights), "display": display, "padding": "same"},
        headers={"accept": "application/json"},
    )
    answered_or_refused(response)
