"""POST /convolve over HTTP: answers, content negotiation and every error path."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from tests.conftest import encode, gradient_photo, step_edge
from tests.hostile import animated_gif, forged_png, tiff_bytes, truncated_png
from webapp.server.app import create_app
from webapp.server.settings import Settings

JSON = {"accept": "application/json"}


def post_photo(
    client: TestClient, data: bytes, headers: dict[str, str] | None = None, **fields: Any
) -> Any:
    return client.post(
        "/convolve",
        files={"image": ("upload.png", data, "application/octet-stream")},
        data={name: str(value) for name, value in fields.items()},
        headers=headers or {},
    )


def test_lesson_example_in_one_request(client: TestClient) -> None:
    answer = client.post("/convolve", json={"input": [0, 1, 2, 3, 4], "weights": [-1, 0, 1]})
    assert answer.status_code == 200
    body = answer.json()
    assert body["output"] == [2, 2, 2]
    assert body["output_shape"] == [3]
    assert body["arithmetic"]["length"]["formula"] == "floor((5 + 0 + 0 - 3) / 1) + 1 = 3"
    first = body["steps"][0]
    assert first["values"] == [0, 1, 2]
    assert first["products"] == [0, 0, 2]
    assert first["sum"] == 2
    assert body["operation"] == "cross-correlation"


@pytest.mark.parametrize(
    ("options", "output"),
    [
        ({"padding": 1}, [1, 2, 2, 2, -3]),
        ({"stride": 2}, [2, 2]),
        ({"flip": True}, [-2, -2, -2]),
        ({"padding": "same", "padding_mode": "replicate"}, [1, 2, 2, 2, 1]),
    ],
)
def test_numeric_mode_options(
    client: TestClient, options: dict[str, Any], output: list[int]
) -> None:
    body = client.post(
        "/convolve", json={"input": [0, 1, 2, 3, 4], "weights": [-1, 0, 1], **options}
    ).json()
    assert body["output"] == output


def test_numeric_mode_two_dimensional_with_a_preset(client: TestClient) -> None:
    grid = [[0, 0, 9, 9]] * 4
    body = client.post("/convolve", json={"input": grid, "kernel": "sobel-x"}).json()
    assert body["output"] == [[36, 36], [36, 36]]
    assert body["steps"][0]["positions"][0] == [0, 0]
    assert body["padding"] == {"top": 0, "bottom": 0, "left": 0, "right": 0}


def test_photo_answers_png_by_default(client: TestClient, photo_png: bytes) -> None:
    response = post_photo(client, photo_png, kernel="gaussian-blur", stride=2)
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/png"
    assert "compute;dur=" in response.headers["server-timing"]
    image = Image.open(io.BytesIO(response.content))
    assert image.size == (31, 23)  # floor((64 - 3) / 2) + 1 by floor((48 - 3) / 2) + 1


@pytest.mark.parametrize(("image_format", "media_type"),
                         [("webp", "image/webp"), ("jpeg", "image/jpeg")])
def test_photo_output_formats(
    client: TestClient, photo_png: bytes, image_format: str, media_type: str
) -> None:
    response = post_photo(client, photo_png, kernel="sharpen", format=image_format)
    assert response.headers["content-type"] == media_type
    assert Image.open(io.BytesIO(response.content)).format == image_format.upper()


def test_photo_json_describes_everything(client: TestClient, photo_png: bytes) -> None:
    body = post_photo(
        client, photo_png, JSON, kernel="sobel-x", stride=2, padding="same", dilation=2
    ).json()
    assert body["input_shape"] == [48, 64, 3]
    assert body["output_shape"] == [24, 32, 3]
    assert body["padding"] == {"top": 1, "bottom": 2, "left": 1, "right": 2}
    assert body["arithmetic"]["width"]["effective_kernel"] == 5
    assert body["arithmetic"]["width"]["formula"] == "floor((64 + 1 + 2 - 5) / 2) + 1 = 32"
    assert body["kernel"]["name"] == "sobel-x"
    assert body["display"] == "diverging"  # a signed kernel's default
    assert body["params"] == 27
    assert body["macs"] == 24 * 32 * 9 * 3
    assert body["linear_params"] == 48 * 64 * 3 * 24 * 32 * 3 + 24 * 32 * 3
    assert body["stats"]["min"] < 0 < body["stats"]["max"]
    assert body["engine"] == "numba"  # stride 2: the compiled loop, only the kept outputs
    assert body["image"].startswith("data:image/png;base64,")


def test_gray_and_custom_weights(client: TestClient, photo_png: bytes) -> None:
    body = post_photo(client, photo_png, JSON, weights="[[1, -1]]", color="gray").json()
    assert body["output_shape"] == [48, 63, 1]
    assert body["kernel"] == {"name": "custom", "weights": [[1, -1]]}
    assert body["display"] == "diverging"


def test_raw_output_matches_the_numeric_mode(client: TestClient) -> None:
    """The same kernel on the same gray pixels gives the same numbers through both doors."""
    edge = step_edge(8, 8)
    photo = post_photo(client, encode(edge), JSON, kernel="sobel-x", color="gray",
                       display="normalize").json()
    numeric = client.post("/convolve", json={"input": edge.tolist(), "kernel": "sobel-x"}).json()
    output = np.array(numeric["output"])
    assert photo["stats"] == {"min": output.min(), "max": output.max(),
                              "mean": pytest.approx(output.mean())}


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        (None, "image/png"),
        ("*/*", "image/png"),
        ("image/png", "image/png"),
        ("application/json", "application/json"),
        ("application/json;q=0.9, image/png;q=0.1", "application/json"),
        ("text/html", "image/png"),
    ],
)
def test_content_negotiation(
    client: TestClient, photo_png: bytes, accept: str | None, expected: str
) -> None:
    headers = {"accept": accept} if accept else {}
    response = post_photo(client, photo_png, headers, kernel="identity")
    assert response.headers["content-type"] == expected


def problem(response: Any, status: int, field: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["detail"]
    if field is not None:
        assert body["field"] == field, body
    return body


@pytest.mark.parametrize(
    ("fields", "status", "field", "fragment"),
    [
        ({}, 422, "kernel", "kernel is required"),
        ({"kernel": "blurry"}, 404, "kernel", "valid names"),
        ({"weights": "[[1, 2], [3]]"}, 422, "weights", "ragged"),
        ({"weights": "[[NaN]]"}, 422, "weights", "NaN"),
        ({"weights": "[[1e999]]"}, 422, "weights", "finite"),
        ({"weights": "not json"}, 422, "weights", "not valid JSON"),
        ({"weights": str([[0] * 32] * 32)}, 422, "weights", "31"),
        ({"kernel": "box-blur", "stride": 0}, 422, "stride",
         "stride must be a whole number >= 1, not 0."),
        ({"kernel": "box-blur", "stride": "two"}, 422, "stride", "a whole number, not 'two'"),
        ({"kernel": "box-blur", "dilation": 0}, 422, "dilation", "a whole number >= 1"),
        ({"kernel": "box-blur", "padding": -1}, 422, "padding",
         "padding must be 'valid', 'same', 'full' or a whole number >= 0, not -1."),
        ({"kernel": "box-blur", "padding": "half"}, 422, "padding",
         "padding must be 'valid', 'same', 'full' or a whole number, not 'half'."),
        ({"kernel": "box-blur", "padding_mode": "mirror"}, 422, "padding_mode",
         "padding_mode must be 'zeros', 'reflect', 'replicate' or 'circular', not 'mirror'."),
        ({"kernel": "box-blur", "display": "rainbow"}, 422, "display", ""),
        ({"kernel": "box-blur", "color": "cmyk"}, 422, "color", ""),
        ({"kernel": "box-blur", "format": "gif"}, 422, "format", ""),
        ({"kernel": "box-blur", "strid": 2}, 422, "strid",
         "strid is not an option of this request; did you mean stride?"),
        ({"kernel": "box-blur", "dilation": 40}, 422, "padding", "= -"),
        ({"weights": "[[1]]", "padding": 64, "padding_mode": "reflect"}, 422, "padding_mode",
         "padding 64 >= height 48"),
        ({"kernel": "box-blur", "padding": 4096, "stride": 1}, 422, "padding", "padded image"),
    ],
)
def test_photo_errors_name_the_field(
    client: TestClient, photo_png: bytes, fields: dict[str, Any], status: int, field: str,
    fragment: str,
) -> None:
    body = problem(post_photo(client, photo_png, **fields), status, field)
    assert fragment in body["detail"]


@pytest.mark.parametrize(
    ("data", "status"),
    [
        (b"", 422),
        (b"GIF89a but not really", 422),
        (truncated_png(), 422),
        (tiff_bytes(), 415),
        (forged_png(100_000, 100_000), 413),
        (forged_png(4097, 4097), 413),
    ],
)
def test_hostile_images(client: TestClient, data: bytes, status: int) -> None:
    problem(post_photo(client, data, kernel="identity"), status, "image")
    assert client.get("/health").json()["status"] == "ok"


def test_animated_gif_uses_the_first_frame(client: TestClient) -> None:
    body = post_photo(client, animated_gif(), JSON, kernel="identity").json()
    assert body["output_shape"] == [14, 14, 3]


@pytest.mark.parametrize(
    ("payload", "status", "field"),
    [
        ({"weights": [-1, 0, 1]}, 422, "input"),
        ({"input": [0, 1, 2]}, 422, "kernel"),
        ({"input": [0, 1, 2], "weights": [[1, 0], [0, 1]]}, 422, "weights"),
        ({"input": [[0, 1], [2]], "weights": [1]}, 422, "input"),
        ({"input": [0] * 257, "weights": [1]}, 422, "input"),
        ({"input": [0, 1], "weights": [1, 1, 1]}, 422, "padding"),
        ({"input": ["a"], "weights": [1]}, 422, "input"),
        ({"input": [0, 1, 2], "weights": [1], "stride": -2}, 422, "stride"),
        ([1, 2, 3], 422, "body"),
    ],
)
def test_numeric_errors(
    client: TestClient, payload: Any, status: int, field: str
) -> None:
    problem(client.post("/convolve", json=payload), status, field)


def test_nan_in_json_is_refused(client: TestClient) -> None:
    body = b'{"input": [0, NaN, 2], "weights": [1]}'
    json_type = {"content-type": "application/json"}
    response = client.post("/convolve", content=body, headers=json_type)
    assert "NaN" in problem(response, 422, "body")["detail"]
    response = client.post("/convolve", content=b"{oops", headers=json_type)
    problem(response, 422, "body")


def test_other_body_types_are_refused(client: TestClient) -> None:
    response = client.post("/convolve", content=b"abc", headers={"content-type": "text/plain"})
    assert "multipart/form-data" in problem(response, 422, "body")["detail"]
    problem(client.post("/convolve", data={"kernel": "identity"}), 422)


def test_missing_image_field(client: TestClient) -> None:
    response = client.post("/convolve", files={"photo": ("a.png", b"x", "image/png")},
                           data={"kernel": "identity"})
    assert "image is missing" in problem(response, 422, "image")["detail"]


def test_body_over_the_cap_is_refused_by_content_length(client: TestClient) -> None:
    response = client.post("/convolve", content=b"0" * (10 * 1024 * 1024 + 1),
                           headers={"content-type": "application/json"})
    problem(response, 413, "body")


def test_chunked_body_over_the_cap_is_refused_while_streaming() -> None:
    sent = 0

    def chunks() -> Iterator[bytes]:
        nonlocal sent
        for _ in range(100):
            sent += 64 * 1024
            yield b"0" * (64 * 1024)

    with TestClient(create_app(Settings(max_body_bytes=256 * 1024))) as small:
        response = small.post("/convolve", content=chunks(),
                              headers={"content-type": "application/json"})
        problem(response, 413, "body")
        assert small.get("/health").status_code == 200


def test_limits_are_settings(photo_png: bytes) -> None:
    with TestClient(create_app(Settings(max_kernel_size=3, max_pixels=1000))) as strict:
        problem(post_photo(strict, photo_png, weights=str([[1] * 5] * 5)), 422, "weights")
        problem(post_photo(strict, encode(gradient_photo(40, 40)), kernel="identity"), 413)


def test_busy_server_answers_503_with_retry_after(photo_png: bytes) -> None:
    with TestClient(create_app(Settings(compute_threads=1, queue_length=0))) as busy:
        queue = busy.app.state.work_queue  # type: ignore[attr-defined]
        queue._in_flight = 1  # one request is running; nothing may wait
        response = post_photo(busy, photo_png, kernel="identity")
        assert problem(response, 503)["title"] == "Server busy"
        assert response.headers["retry-after"] == "1"
        assert busy.get("/health").status_code == 200
        queue._in_flight = 0
        assert post_photo(busy, photo_png, kernel="identity").status_code == 200


def test_health(client: TestClient) -> None:
    body = client.get("/health").json()
    assert body["status"] == "ok"
    assert body["version"]


def test_openapi_documents_both_request_kinds(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    content = schema["paths"]["/convolve"]["post"]["requestBody"]["content"]
    assert set(content) == {"multipart/form-data", "application/json"}
    assert "stride" in content["multipart/form-data"]["schema"]["properties"]


def test_the_openapi_page_loads_nothing_from_outside(client: TestClient) -> None:
    page = client.get("/docs")
    assert page.status_code == 200
    assert "/static/vendor/swagger-ui/swagger-ui-bundle.js" in page.text
    assert "https://" not in page.text  # no CDN, no fonts
    assert client.get("/static/vendor/swagger-ui/swagger-ui-bundle.js").status_code == 200
    assert "'self'" in page.headers["content-security-policy"]
    assert "http" not in page.headers["content-security-policy"]


def test_each_invalid_field_is_one_sentence(client: TestClient) -> None:
    """pydantic reports a union field once per member; the answer says it once."""
    body = problem(client.post("/convolve", json={"input": [1, 2, 3], "weights": [1],
                                                  "padding": -3}), 422, "padding")
    assert body["detail"] == (
        "padding must be 'valid', 'same', 'full' or a whole number >= 0, not -3."
    )
    assert body["errors"] == [{"field": "padding", "message": body["detail"]}]
    body = problem(client.post("/convolve", json={"input": [1, 2, 3], "weights": [1],
                                                  "stride": 0, "flip": "maybe"}), 422)
    assert body["detail"] == (
        "stride must be a whole number >= 1, not 0. flip must be true or false, not 'maybe'."
    )
    assert [item["field"] for item in body["errors"]] == ["stride", "flip"]
    body = problem(client.post("/convolve", json={"weights": [1]}), 422, "input")
    assert body["detail"] == "input is required."
