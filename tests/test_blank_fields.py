"""No silent fallback: a form field sent blank is an error naming it, never its default.

A blank optional field (no preset while the weights are typed, an automatic display, no
seed) still means "nothing chosen"; and of the two padding controls, the one left blank
gives way to the other.
"""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.test_pages import X, browser_form, text_of
from webapp.server.settings import Settings

FORM = [("sample", "cat"), ("operation", "convolve"), ("kernel", "box-blur"), ("weights", ""),
        ("stride", "1"), ("dilation", "1"), ("padding", "valid"), ("padding", ""),
        ("padding_mode", "zeros"), ("color", "rgb"), ("display", ""), ("pool_size", "2")]


@pytest.fixture
def settings() -> Settings:
    return Settings(skip_broken_models=True)


def post(client: TestClient, fields: list[tuple[str, str]]) -> tuple[int, str]:
    body, content_type = browser_form(None, fields)
    answer = client.post("/convolve", content=body,
                         headers={"content-type": content_type, "hx-request": "true"})
    return answer.status_code, answer.text


def with_field(name: str, value: str) -> list[tuple[str, str]]:
    return [(field, value if field == name else given) for field, given in FORM]


def test_the_form_as_drawn_is_answered(client: TestClient) -> None:
    status, fragment = post(client, FORM)
    assert status == 200
    assert text_of(fragment, "output-shape") == f"298 {X} 449 {X} 3"


@pytest.mark.parametrize(("name", "sentence"), [
    ("stride", "stride is empty: type a whole number from 1 to 1024."),
    ("dilation", "dilation is empty: type a whole number from 1 to 1024."),
    ("pool_size", "pool_size is empty: type a whole number from 1 to 1024."),
    ("padding_mode", "padding_mode is empty: choose or type a value."),
])
def test_an_emptied_field_is_an_error_naming_it(client: TestClient, name: str,
                                                sentence: str) -> None:
    status, fragment = post(client, with_field(name, "  "))
    assert status == 422
    assert f'data-field="{name}"' in fragment
    assert sentence in fragment


def test_both_padding_controls_empty_is_an_error(client: TestClient) -> None:
    fields = [(name, "" if name == "padding" else value) for name, value in FORM]
    status, fragment = post(client, fields)
    assert status == 422
    assert 'data-field="padding"' in fragment and "padding is empty" in fragment


def test_the_padding_control_left_blank_gives_way_to_the_other(client: TestClient) -> None:
    # The number of cells after the name (as the page orders them), the name blank.
    fields = [(name, value) for name, value in FORM if name != "padding"]
    status, fragment = post(client, [*fields, ("padding", ""), ("padding", "2")])
    assert status == 200
    assert text_of(fragment, "output-shape") == f"302 {X} 453 {X} 3"


def test_an_empty_kernel_is_an_error_not_a_preset(client: TestClient) -> None:
    status, fragment = post(client, with_field("kernel", ""))
    assert status == 422
    assert 'data-field="kernel"' in fragment and "kernel is required" in fragment
