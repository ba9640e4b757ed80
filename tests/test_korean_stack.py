"""/stack in Korean beyond its GET page: the stack's htmx answers for several blocks, one
cell explained, the field errors, and the banks' labels; each with no English left for the
reader and the same elements and numbers as the English answer."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from tests.korean import (
    HANGUL,
    assert_same_but_the_words,
)
from webapp.banks import COLOUR_OPPONENTS, EDGES, he_bank, shown_label
from webapp.errors import InvalidInput
from webapp.server.app import create_app
from webapp.server.language import COOKIE
from webapp.server.settings import Settings
from webapp.translation import javascript_messages, speaking

EMPTY_UPLOAD = {"image": ("empty", b"", "application/octet-stream")}
"""The page's file field when no photo is chosen: the sample stands in."""

Block = dict[str, object]


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    with TestClient(create_app(Settings(skip_broken_models=True))) as test_client:
        yield test_client


def _form(blocks: list[Block], **fields: object) -> dict[str, str]:
    """The page's form for ``blocks`` (each field as block-N-<field>), plus ``fields``."""
    form = {"sample": "cat", "max_side": "256", "color": "rgb", "random_seed": "3"}
    for index, block in enumerate(blocks, start=1):
        settings = {"bank": "random-he", "maps": 8, "activation": "relu", "padding": "same",
                    "pool": "max"} | block
        form.update({f"block-{index}-{name}": str(value) for name, value in settings.items()})
    form.update({name: str(value) for name, value in fields.items()})
    return form


def _both(client: TestClient, path: str, form: dict[str, str],
          korean: dict[str, str] | None = None) -> tuple[str, str, int]:
    """The htmx answer to ``form`` in English and in Korean (by ``Accept-Language`` unless
    ``korean`` says otherwise); the status codes must agree."""
    english = client.post(path, data=form, files=EMPTY_UPLOAD,
                          headers={"HX-Request": "true", "Accept-Language": "en"})
    answer = client.post(path, data=form, files=EMPTY_UPLOAD,
                         headers={"HX-Request": "true",
                                  **(korean or {"Accept-Language": "ko"})})
    assert answer.status_code == english.status_code
    assert answer.headers["content-language"] == "ko"
    assert english.headers["content-language"] == "en"
    return english.text, answer.text, answer.status_code


STACKS: list[tuple[list[Block], dict[str, object]]] = [
    # The page's own stack: designed edges, then random He filters.
    ([{"bank": "edges"}, {"bank": "random-he", "maps": 8}], {}),
    # Every activation and pooling, valid padding, and an explained cell (out of band) that
    # reads 12 channels, more than the explanation draws.
    ([{"bank": "edges", "activation": "relu", "pool": "max"},
      {"bank": "random-he", "maps": 12, "activation": "none", "padding": "valid",
       "pool": "average"},
      {"bank": "random-he", "maps": 3, "activation": "sigmoid", "pool": "none"}],
     {"cell": "3,1,2,2"}),
    # A 1x1 bank over the colour photo, leaky ReLU, no pooling, a cell on the photo.
    ([{"bank": "colour-opponents", "activation": "leaky-relu", "pool": "none"}],
     {"cell": "1,2,0,0"}),
    # A learned bank (one channel) on the gray photo, then Gabor over its 16 maps with tanh,
    # at a larger working size.
    ([{"bank": "learned-seed"}, {"bank": "gabor", "activation": "tanh", "pool": "none"}],
     {"color": "gray", "max_side": 512}),
]


@pytest.mark.parametrize(("blocks", "fields"), STACKS)
def test_the_stacks_answer_is_korean_with_the_same_maps_and_numbers(
    client: TestClient, blocks: list[Block], fields: dict[str, object]
) -> None:
    english, korean, status = _both(client, "/stack", _form(blocks, **fields))
    assert status == 200
    assert_same_but_the_words(english, korean)
    assert "블록 1" in korean


def test_the_cookie_chosen_by_the_switch_keeps_the_stack_korean(client: TestClient) -> None:
    form = _form([{"bank": "edges"}, {"bank": "random-he", "maps": 4, "pool": "none"}],
                 cell="2,3,1,1")
    english, korean, _ = _both(client, "/stack", form, korean={"Cookie": f"{COOKIE}=ko"})
    assert_same_but_the_words(english, korean)
    assert "수용 영역(receptive field)" in korean


@pytest.mark.parametrize(("blocks", "cell"), [
    # On the colour photo: the red, green and blue channels, part of the window in padding.
    ([{"bank": "edges"}], {"block": 1, "map": 0, "row": 0, "column": 0}),
    # On the gray photo through Gabor's 11x11 filters.
    ([{"bank": "gabor"}], {"block": 1, "map": 5, "row": 20, "column": 30}),
    # Twelve maps read by block 3 (the first eight drawn), and a block with no activation.
    ([{"bank": "edges"}, {"bank": "random-he", "maps": 12, "activation": "none"},
      {"bank": "random-he", "maps": 3, "activation": "none", "pool": "none"}],
     {"block": 3, "map": 1, "row": 4, "column": 5}),
])
def test_a_cell_is_explained_in_korean_on_the_same_numbers(
    client: TestClient, blocks: list[Block], cell: dict[str, int]
) -> None:
    color = "gray" if blocks[0]["bank"] == "gabor" else "rgb"
    english, korean, status = _both(client, "/stack/explain",
                                    _form(blocks, color=color, **cell))
    assert status == 200
    assert_same_but_the_words(english, korean)
    assert "id=\"stack-explained\"" in korean


def test_a_missing_picker_field_is_refused_in_korean_beside_it(client: TestClient) -> None:
    form = _form([{"bank": "edges"}], block=1, map=0, row=0)
    english, korean, status = _both(client, "/stack/explain", form)
    assert status == 422
    assert_same_but_the_words(english, korean)
    assert "열 번호(column)" in korean


def test_a_bank_made_for_other_channels_is_refused_in_korean(client: TestClient) -> None:
    """Colour opponents read three channels; block 1's edges make four maps."""
    form = _form([{"bank": "edges"}, {"bank": "colour-opponents"}])
    english, korean, status = _both(client, "/stack", form)
    assert status == 422
    assert_same_but_the_words(english, korean)


def test_the_json_api_speaks_korean_only_in_its_words(client: TestClient) -> None:
    body = {"sample": "cat", "blocks": [{"bank": "edges"}, {"bank": "colour-opponents"}]}
    english = client.post("/stack", json=body, headers={"Accept-Language": "en"}).json()
    korean = client.post("/stack", json=body, headers={"Accept-Language": "ko"}).json()
    assert korean["field"] == english["field"] == "block-2-bank"
    assert korean["type"] == english["type"]
    assert HANGUL.search(korean["detail"]) and not HANGUL.search(english["detail"])


def test_a_linked_cell_the_stack_no_longer_has_is_said_in_korean(client: TestClient) -> None:
    form = _form([{"bank": "edges"}], cell="2,0,0,0")
    english, korean, status = _both(client, "/stack", form)
    assert status == 200
    assert_same_but_the_words(english, korean)
    assert "고른 칸이 이제 이 맵에 없습니다" in korean


def test_the_banks_labels_are_translated_where_shown_and_english_in_the_api(
    client: TestClient,
) -> None:
    with speaking("ko"):
        assert HANGUL.search(shown_label(EDGES))
        assert HANGUL.search(shown_label(he_bank(3)))
    assert shown_label(EDGES) == EDGES.label == "Edges, four directions"
    listed = client.get("/banks", headers={"Accept-Language": "ko"}).json()
    assert listed[0]["label"] == "Edges, four directions"


def test_a_bank_over_the_wrong_channels_says_so_in_korean() -> None:
    with speaking("ko"), pytest.raises(InvalidInput) as raised:
        COLOUR_OPPONENTS.over(1)
    assert HANGUL.search(raised.value.message)
    assert "color=rgb" in raised.value.message
    assert raised.value.field == "bank"


def test_the_remove_buttons_label_is_korean_in_the_browser_too() -> None:
    """static/js/stack.js renumbers the blocks' remove buttons with this message."""
    assert javascript_messages("ko")["Remove block %(number)s"] == "블록 %(number)s 삭제"
