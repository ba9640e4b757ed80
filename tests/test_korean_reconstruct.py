"""/reconstruct and /models in Korean beyond their first page: every answer htmx swaps in (a
drawing rebuilt, with noise, with every layer, by each model beside the others; the lesson's
figure for another model, with its layer table) has no English left for the reader and is the
same answer as in English, element for element and number for number. The model cards' prose
is shown in Korean on the pages, while the JSON answers keep the cards' English."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from markupsafe import escape

from tests.drawings import drawing
from tests.korean import (
    assert_same_but_the_words,
    english_left,
    numbers,
    skeleton,
)
from webapp.server.app import create_app
from webapp.server.language import COOKIE
from webapp.server.settings import Settings
from webapp.server.views.reconstruct import CARD_PROSE, in_reader_language
from webapp.translation import speaking

ROOT = Path(__file__).resolve().parent.parent
HTMX = {"HX-Request": "true"}
BROWSER = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8", "Sec-Fetch-Dest": "document"}
SEVEN = drawing(7, canvas=560, size=400)
MODELS = ("seed", "deconv", "wide", "denoise")


def post(client: TestClient, language: str, **fields: Any) -> tuple[int, str]:
    """The page's htmx POST of a drawn seven, in ``language`` (by ``Accept-Language``)."""
    answer = client.post(
        "/reconstruct", files={"image": ("drawing.png", SEVEN, "image/png")},
        data={name: str(value) for name, value in fields.items()},
        headers={"Accept-Language": language, **HTMX},
    )
    assert answer.headers["content-language"] == language
    return answer.status_code, answer.text


DRAWINGS = [
    pytest.param({}, id="the first model, nothing else"),
    pytest.param({"layers": "true"}, id="with every layer's feature maps"),
    pytest.param({"noise": 0.5, "seed": 7, "layers": "true"}, id="with noise and layers"),
    *(pytest.param({"model": name, "layers": "true"}, id=f"rebuilt by {name}")
      for name in MODELS),
]


@pytest.mark.parametrize("fields", DRAWINGS)
def test_a_drawing_rebuilt_in_korean(client: TestClient, fields: dict[str, Any]) -> None:
    english_status, english = post(client, "en", **fields)
    korean_status, korean = post(client, "ko", **fields)
    assert english_status == korean_status == 200
    assert_same_but_the_words(english, korean)
    # Every model side by side, and the code's cells readable in Korean too.
    assert korean.count('<li class="compare-item compare-input">') == 1
    assert all(f'data-model="{name}"' in korean for name in MODELS)
    assert "이 그림에 대한 모든 모델의 결과" in korean
    assert "1번 맵, 1행 1열: " in korean
    if fields.get("layers"):
        assert 'hx-swap-oob="true"' in korean and "특성 맵" in korean
    if fields.get("noise"):
        assert "노이즈 추가" in korean


@pytest.mark.parametrize("query", [f"?model={name}" for name in MODELS] + [
    "?model=deconv&inside", "?model=wide&inside"])
def test_the_lessons_figure_for_another_model_in_korean(client: TestClient, query: str) -> None:
    """What picking a model swaps in: the figure, and (nothing drawn yet) its layer table."""
    english = client.get(f"/reconstruct{query}", headers={"Accept-Language": "en", **HTMX}).text
    korean = client.get(f"/reconstruct{query}", headers={"Accept-Language": "ko", **HTMX}).text
    assert_same_but_the_words(english, korean)
    assert "수업의 그림" in korean
    assert ("안 들여다보기" in korean) == query.endswith("&inside")


def test_the_cookie_keeps_the_fragments_in_korean(client: TestClient) -> None:
    """htmx requests carry no ``?lang=``: the cookie the switch set keeps them in Korean."""
    client.cookies.set(COOKIE, "ko")
    answer = client.post("/reconstruct", files={"image": ("drawing.png", SEVEN, "image/png")},
                         data={"layers": "true"}, headers=HTMX)
    assert answer.headers["content-language"] == "ko"
    assert english_left(answer.text) == []
    assert "모델이 받은 입력" in answer.text


def _card_prose(name: str) -> list[str]:
    card = json.loads((ROOT / "models" / f"{name}.json").read_text())
    found = []
    for path in CARD_PROSE:
        # The card keeps at its top level what a model's description puts under "training".
        found += _strings_at(card, path[1:] if path[0] == "training" else path)
    return found


def _strings_at(part: Any, path: tuple[str, ...]) -> list[str]:
    if not path:
        return [part] if isinstance(part, str) and part else []
    head, rest = path[0], path[1:]
    if head == "*" and isinstance(part, list):
        return [text for item in part for text in _strings_at(item, rest)]
    if isinstance(part, dict) and head in part:
        return _strings_at(part[head], rest)
    return []


def test_the_models_page_shows_every_cards_prose_in_korean(client: TestClient) -> None:
    english = client.get("/models", headers={**BROWSER, "Accept-Language": "en"}).text
    korean = client.get("/models", headers={**BROWSER, "Accept-Language": "ko"}).text
    assert skeleton(korean) == skeleton(english)
    assert numbers(korean) == numbers(english)
    main = korean[korean.index("<main"):korean.index("</main>")]
    assert english_left(main) == []
    for name in MODELS:
        for text in _card_prose(name):
            with speaking("ko"):
                assert in_reader_language({"title": text})["title"] != text, text
            assert escape(text) not in korean
            assert escape(text) in english
    # A card's literal percent sign is prose, not a format: it shows as written.
    assert "over the first 30% of steps" in english
    assert "처음 30%의 스텝" in korean


def test_the_json_answers_keep_the_cards_english(client: TestClient) -> None:
    """Programs asking in Korean get Korean problems, but the cards are data: unchanged."""
    english = client.get("/models", headers={"Accept-Language": "en"}).json()
    korean = client.get("/models", headers={"Accept-Language": "ko"}).json()
    assert korean == english
    assert english[0]["title"] == "The lesson's autoencoder"


def test_the_card_prose_read_here_is_the_prose_the_catalogue_takes() -> None:
    """`CARD_PROSE` is tools/catalogue.py's, seen through a model's description: the fields a
    page translates are exactly those whose English the catalogue holds."""
    sys.path.insert(0, str(ROOT / "tools"))
    import catalogue

    seen_through_description = tuple(
        path if path[0] in ("title", "description") else ("training", *path)
        for path in catalogue.CARD_PROSE
    )
    assert seen_through_description == CARD_PROSE


def test_a_body_of_the_wrong_kind_is_refused_in_korean(client: TestClient) -> None:
    answer = client.post("/reconstruct", content=b"x",
                         headers={"content-type": "text/plain", "Accept-Language": "ko"})
    assert answer.status_code == 422
    assert "받은 형식: text/plain" in answer.text


def test_an_unavailable_model_is_said_in_korean(broken_model_dir: Path) -> None:
    """A model that failed to load: its label and heading in Korean (the load error itself
    is the registry's, written at start-up)."""
    settings = Settings(model_dir=broken_model_dir, skip_broken_models=True)
    with TestClient(create_app(settings)) as client:
        error = client.get("/models").json()[-1]["error"]
        for path in ("/models", "/reconstruct"):
            english = client.get(path, headers={**BROWSER, "Accept-Language": "en"}).text
            korean = client.get(path, headers={**BROWSER, "Accept-Language": "ko"}).text
            assert skeleton(korean) == skeleton(english)
            assert numbers(korean) == numbers(english)
            main = korean[korean.index("<main"):korean.index("</main>")]
            assert english_left(main.replace(escape(error), "")) == []
            assert "사용할 수 없음" in main

