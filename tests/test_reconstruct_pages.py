"""The autoencoder's pages over HTTP: /reconstruct (the page, its htmx fragment, the lesson's
figure) and /models (a page for browsers, JSON for programs).

tests/browser/test_reconstruct_browser.py draws on the same page in Chromium.
"""

from __future__ import annotations

import base64
import html
import io
import re
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from tests.drawings import blank_drawing, drawing
from tests.html import assert_every_control_labelled, assert_nothing_the_policy_blocks
from tests.test_pages import NAVIGATION, X, attribute
from webapp.server.security import CONTENT_SECURITY_POLICY
from webapp.server.views.reconstruct import FEATURE_MAP_SCALE

HTMX = {"hx-request": "true"}
# A seven drawn large, dark on light, on a 560 px canvas like the page's.
SEVEN = drawing(7, canvas=560, size=400)


def post_drawing(
    client: TestClient, png: bytes = SEVEN, headers: dict[str, str] | None = None, **fields: Any
) -> Any:
    return client.post("/reconstruct", files={"image": ("drawing.png", png, "image/png")},
                       data={name: str(value) for name, value in fields.items()},
                       headers=headers or {})


def model_names(client: TestClient) -> list[str]:
    return [model["name"] for model in client.get("/models").json() if model["status"] == "ok"]


def decoded(url: str) -> Image.Image:
    """The picture inside a ``data:image/png;base64,...`` URL."""
    prefix = "data:image/png;base64,"
    assert url.startswith(prefix)
    return Image.open(io.BytesIO(base64.b64decode(url[len(prefix):])))


def compared(fragment: str) -> dict[str, tuple[float, float]]:
    """Model name to (BCE, MSE), from the fragment's compare row."""
    return {
        name: (float(bce), float(mse))
        for name, bce, mse in re.findall(
            r'<li class="compare-item[^"]*" data-model="([\w-]+)"\s+data-bce="([^"]+)" '
            r'data-mse="([^"]+)"', fragment)
    }


def assert_safe_html(page: str) -> None:
    """Nothing the Content-Security-Policy would block, and every control labelled."""
    assert_nothing_the_policy_blocks(page)
    assert_every_control_labelled(page)


# --- The page --------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/reconstruct", "/models"])
def test_the_pages_are_html_under_the_strict_policy(client: TestClient, path: str) -> None:
    answer = client.get(path, headers=NAVIGATION)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/html")
    assert answer.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert_safe_html(answer.text)
    assert f'href="{path}" aria-current="page"' in answer.text


def test_the_page_offers_a_canvas_every_model_and_the_script(client: TestClient) -> None:
    page = client.get("/reconstruct").text
    assert re.search(r'<canvas id="canvas" width="560" height="560"', page)
    assert '<script src="/static/js/reconstruct.js' in page
    assert client.get("/static/js/reconstruct.js").status_code == 200
    names = re.findall(r'<input type="radio" name="model" value="([\w-]+)"', page)
    assert names == model_names(client)
    assert re.search(r'name="model" value="seed" checked', page)  # the lesson's model first
    # The form sends only what the API takes; the seed keeps the noise the same per page.
    sent = set(re.findall(r'<(?:input|select)[^>]*\bname="([\w-]+)"', page)) - {"ink"}
    assert sent == {"model", "noise", "seed", "layers"}
    assert attribute(page, "seed", "value").isdigit()
    # Error slots for each field the API can name.
    for field in ("image", "model", "noise", "seed"):
        assert f'id="error-{field}"' in page


def test_the_page_opens_with_the_chosen_models_table(client: TestClient) -> None:
    page = client.get("/reconstruct?model=wide").text
    assert re.search(r'name="model" value="wide" checked', page)
    assert attribute(page, "inside-table", "data-model") == "wide"
    wide = client.get("/models/wide").json()
    assert attribute(page, "inside-total", "data-params") == str(wide["params"])
    rows = re.findall(r'<tr data-layer="([\w-]+)"', page)
    assert rows == ["input"] + [layer["name"] for layer in wide["layers"]]


def test_an_unknown_model_is_a_404_that_names_the_valid_ones(client: TestClient) -> None:
    answer = client.get("/reconstruct?model=nope", headers=NAVIGATION)
    assert answer.status_code == 404
    assert "valid names: seed" in html.unescape(answer.text)


def test_the_lessons_figure_is_the_samples_api(client: TestClient) -> None:
    page = client.get("/reconstruct?model=deconv").text
    samples = client.get("/samples?count=10&model=deconv").json()
    buttons = re.findall(r'class="sample-digit" data-index="(\d+)" data-label="(\d+)"', page)
    assert buttons == [(str(item["index"]), str(item["label"])) for item in samples]
    digits = re.findall(r'<img class="digit" src="(data:[^"]+)" width="56"', page)
    rebuilt = re.findall(r'<img class="digit sample-rebuilt" src="(data:[^"]+)"', page)
    assert digits == [item["image"] for item in samples]
    assert rebuilt == [item["reconstruction"]["image"] for item in samples]
    assert attribute(page, "sample-figure", "data-model") == "deconv"


def test_htmx_asking_for_the_page_gets_only_the_figure(client: TestClient) -> None:
    fragment = client.get("/reconstruct?model=wide", headers=HTMX).text
    assert "<html" not in fragment and "<nav" not in fragment
    assert fragment.lstrip().startswith('<section id="sample-figure"')
    assert attribute(fragment, "sample-figure", "data-model") == "wide"
    assert "hx-swap-oob" not in fragment
    # With nothing drawn yet, the page asks for the model's layer table too (out of band).
    with_table = client.get("/reconstruct?model=wide&inside", headers=HTMX).text
    assert re.search(r'<section id="inside" class="inside"[^>]*hx-swap-oob="true"', with_table)
    assert attribute(with_table, "inside-table", "data-model") == "wide"


# --- POST /reconstruct: one route, a fragment for the page ---------------------------------


@pytest.mark.parametrize(
    ("hx_request", "fragment"), [("true", True), ("false", False), (None, False)]
)
def test_reconstruct_answers_htmx_with_a_fragment_and_programs_with_json(
    client: TestClient, hx_request: str | None, fragment: bool
) -> None:
    headers = {"hx-request": hx_request} if hx_request is not None else {}
    answer = post_drawing(client, headers=headers)
    assert answer.status_code == 200
    if fragment:
        assert answer.headers["content-type"].startswith("text/html")
        assert "HX-Request" in answer.headers["vary"]
        assert "<html" not in answer.text
        assert 'id="digit-row"' in answer.text
    else:
        assert answer.headers["content-type"] == "application/json"
        assert answer.json()["model"] == "seed"


def test_the_fragment_shows_exactly_what_the_api_answers(client: TestClient) -> None:
    api = post_drawing(client, model="seed").json()
    fragment = post_drawing(client, headers=HTMX, model="seed", layers="true").text
    assert_safe_html(fragment)
    assert attribute(fragment, "digit-row", "data-model") == "seed"
    # The same pictures: the 28x28 the model received, its rebuild, the error.
    assert attribute(fragment, "input-image", "src") == api["input"]["image"]
    assert attribute(fragment, "reconstruction-image", "src") == api["reconstruction"]["image"]
    assert attribute(fragment, "difference-image", "src") == api["difference"]["image"]
    # The same numbers, to the last digit (the page rounds only what it writes out).
    assert float(attribute(fragment, "digit-row", "data-bce")) == api["metrics"]["bce"]
    assert float(attribute(fragment, "digit-row", "data-mse")) == api["metrics"]["mse"]
    assert f'{api["metrics"]["bce"]:.4f}' in fragment
    assert "ran on CPU" in fragment
    assert 'id="noisy-image"' not in fragment


def test_the_code_is_four_maps_with_every_number(client: TestClient) -> None:
    api = post_drawing(client).json()
    fragment = post_drawing(client, headers=HTMX).text
    assert api["latent"]["shape"] == [4, 4, 4]
    assert len(re.findall(r'<svg class="code-map"', fragment)) == 4
    cells = re.findall(r'data-map="(\d)" data-row="(\d)" data-column="(\d)" data-value="([^"]+)"',
                       fragment)
    assert len(cells) == 64
    code = np.array(api["latent"]["values"])  # height x width x channels
    for channel, row, column, value in cells:
        assert float(value) == code[int(row) - 1, int(column) - 1, int(channel) - 1]
    # One grey scale for the whole code: its largest value is white.
    assert float(attribute(fragment, "code-maps", "data-largest")) == pytest.approx(code.max())
    assert len(re.findall(r'fill="rgb\(255,255,255\)"', fragment)) >= 1


def test_look_inside_lists_every_layer_at_one_scale(client: TestClient) -> None:
    api = post_drawing(client, layers="true").json()
    fragment = post_drawing(client, headers=HTMX, layers="true").text
    # Out of band: it replaces the page's table, which sits outside the result.
    assert re.search(r'<section id="inside" class="inside"[^>]*hx-swap-oob="true"', fragment)
    rows = re.findall(r'<tr data-layer="([\w-]+)"', fragment)
    assert rows == ["input"] + [layer["name"] for layer in api["layers"]]
    assert attribute(fragment, "inside-total", "data-params") == "3369"
    pictures = re.findall(r'<img class="feature-maps" src="([^"]+)"\s+width="(\d+)" '
                          r'height="(\d+)"', fragment)
    assert len(pictures) == len(rows)
    for (url, width, height), layer in zip(pictures[1:], api["layers"], strict=True):
        assert url == layer["image"]
        # Every map at the same scale: the shown size is the picture's size times the scale.
        assert decoded(url).size == (int(width) // FEATURE_MAP_SCALE,
                                     int(height) // FEATURE_MAP_SCALE)
    assert 'data-layer="max_pooling2d_2" class="latent-row"' in fragment


def test_without_layers_the_fragment_leaves_look_inside_alone(client: TestClient) -> None:
    fragment = post_drawing(client, headers=HTMX).text
    assert "hx-swap-oob" not in fragment


def test_every_model_is_compared_on_the_same_drawing(client: TestClient) -> None:
    fragment = post_drawing(client, headers=HTMX, model="wide").text
    row = compared(fragment)
    assert list(row) == model_names(client)
    assert re.search(r'class="compare-item chosen" data-model="wide"', fragment)
    for name, (bce, mse) in row.items():
        api = post_drawing(client, model=name).json()
        assert (bce, mse) == (api["metrics"]["bce"], api["metrics"]["mse"]), name


def test_with_noise_every_model_sees_the_same_noisy_digit(client: TestClient) -> None:
    fragment = post_drawing(client, headers=HTMX, noise="0.5", seed="11").text
    api = post_drawing(client, noise="0.5", seed="11").json()
    assert attribute(fragment, "noisy-image", "src") == api["noisy"]["image"]
    assert attribute(fragment, "input-image", "src") == api["input"]["image"]
    # The row starts with the noisy input, next to each model's output.
    noisy = re.escape(api["noisy"]["image"])
    assert re.search(r'compare-input">\s*<img class="digit" src="' + noisy, fragment)
    row = compared(fragment)
    assert list(row) == model_names(client)
    for name, (bce, _) in row.items():
        assert bce == post_drawing(client, model=name, noise="0.5", seed="11").json()["metrics"][
            "bce"], name


def test_noise_without_a_seed_gets_one_for_the_whole_row(client: TestClient) -> None:
    fragment = post_drawing(client, headers=HTMX, noise="0.3").text
    seed = attribute(fragment, "digit-row", "data-seed")
    assert seed.isdigit()
    api = post_drawing(client, model="deconv", noise="0.3", seed=seed).json()
    assert compared(fragment)["deconv"][0] == api["metrics"]["bce"]


def test_a_blank_drawing_is_reported_next_to_the_canvas(client: TestClient) -> None:
    answer = post_drawing(client, blank_drawing(560), headers=HTMX)
    assert answer.status_code == 422
    assert answer.headers["hx-retarget"].startswith("find #error-image")
    assert "Nothing drawn" in answer.text
    page = client.get("/reconstruct").text
    form = page[page.index('<form id="reconstruct-form"'): page.index("</form>")]
    assert 'id="error-image"' in form


def test_a_field_the_api_refuses_names_itself_in_the_fragment(client: TestClient) -> None:
    answer = post_drawing(client, headers=HTMX, noise="2")
    assert answer.status_code == 422
    assert answer.headers["hx-retarget"].startswith("find #error-noise")


# --- /models: JSON for programs, a page for browsers ------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [{}, {"accept": "application/json"}, {"accept": "text/html"}, {"sec-fetch-dest": "empty"}],
)
def test_programs_keep_getting_json_from_models(client: TestClient, headers: dict[str, str]
                                                ) -> None:
    answer = client.get("/models", headers=headers)
    assert answer.headers["content-type"] == "application/json"
    assert "Sec-Fetch-Dest" in answer.headers["vary"]
    assert [model["name"] for model in answer.json()][:3] == ["seed", "deconv", "wide"]


def test_the_models_page_shows_each_layer_table_and_card(client: TestClient) -> None:
    models = client.get("/models").json()
    page = html.unescape(client.get("/models", headers=NAVIGATION).text)
    assert "Sec-Fetch-Dest" in client.get("/models", headers=NAVIGATION).headers["vary"]
    for model in models:
        if model["status"] != "ok":
            assert f'id="model-{model["name"]}"' in page
            continue
        name = model["name"]
        card = page[page.index(f'<article class="model-card" id="model-{name}"'):]
        card = card[: card.index("</article>")]
        table = card[card.index(f'id="layers-{name}"'): card.index("</table>")]
        # One row per layer plus the input, the shapes as the lesson writes them, the total.
        assert len(re.findall(r"<tr", table)) == len(model["layers"]) + 3  # head, input, foot
        for layer in model["layers"]:
            assert f"<code>{layer['name']}</code>" in table
            assert X.join(map(str, layer["output_shape"])) in table
        assert f'data-params="{model["params"]}">{model["params"]:,}<' in table
        assert sum(layer["params"] for layer in model["layers"]) == model["params"]
        training = model["training"]
        assert training["data"]["source"] in card
        assert f"{training['epochs']}, batches of {training['batch_size']}" in card
        assert training["optimizer"]["name"] in card
        assert f"{model['metrics']['val_bce']:.4f}" in card
        assert training["augmentation"]["decision"] in card
        assert f'href="/reconstruct?model={name}"' in card
        assert ("lesson-recipe" in card) == ("lesson_recipe" in training)


def test_the_models_page_tells_the_lessons_recipe_and_its_score(client: TestClient) -> None:
    seed = client.get("/models/seed").json()
    recipe = seed["training"]["lesson_recipe"]
    page = html.unescape(client.get("/models", headers=NAVIGATION).text)
    section = page[page.index('id="lesson-recipe"'):]
    section = section[: section.index("</section>")]
    assert recipe["recipe"] in section
    for run in recipe["runs"]:
        assert run["label"] in section
        assert f"{run['val_bce']:.4f}" in section
    assert f"{seed['metrics']['val_bce']:.4f}" in section  # and what convlens's seed scores
    assert recipe["explanation"] in section
