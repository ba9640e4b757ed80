"""The padding lesson and the receptive field in Korean beyond their first page: every fragment
htmx swaps in as the learner changes a setting (padding, stride, dilation, flip, the padding's
mode; a stack of layers and a chosen cell) and every field's problem has no English left for
the reader, and is the same answer as in English, element for element and number for number.
"""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from tests.korean import (
    assert_same_but_the_words,
    browser_messages,
)
from webapp.server.language import COOKIE
from webapp.server.settings import Settings

HTMX = {"HX-Request": "true"}
X = "\u00d7"  # the multiplication sign the pages write
QUIZ = "kind=conv&kernel=3&kind=max_pool&kernel=2&stride=1&stride=2&kind=conv&kernel=3"
"""The study note's open quiz: a 3x3 conv, a 2x2 max pool of stride 2, a 3x3 conv."""


@pytest.fixture
def settings() -> Settings:
    # The pages need no model; the MNIST models may not be trained yet.
    return Settings(skip_broken_models=True)


def both(client: TestClient, path: str, *, by_cookie: bool = False) -> tuple[int, str, str]:
    """The htmx answer to ``path`` in English and in Korean (chosen by ``Accept-Language``,
    or by the cookie the language switch sets, as the htmx requests of a page carry it)."""
    english = client.get(path, headers={**HTMX, "Accept-Language": "en"})
    if by_cookie:
        client.cookies.set(COOKIE, "ko")
        korean = client.get(path, headers=HTMX)
        client.cookies.clear()
    else:
        korean = client.get(path, headers={**HTMX, "Accept-Language": "ko"})
    assert english.headers["content-language"] == "en"
    assert korean.headers["content-language"] == "ko"
    assert english.status_code == korean.status_code
    assert "<html" not in korean.text  # a fragment, not the page
    return korean.status_code, english.text, korean.text


def output_of(page: str, element_id: str) -> str:
    """The text of the <output> with ``element_id``."""
    match = re.search(rf'<output id="{element_id}"[^>]*>(.*?)</output>', page, re.S)
    assert match, element_id
    return re.sub(r"<[^>]+>", "", match.group(1))


# --- The padding lesson ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "output", "korean_says"),
    [
        ("", "[2, 2, 2]", "패딩 없음"),  # the note's example: (5,) -> (3,)
        ("?padding=1", "[1, 2, 2, 2, -3]", "앞에 1칸, 뒤에 1칸"),
        ("?padding=2&stride=2", "[0, 2, 2, -4]", "앞에 2칸, 뒤에 2칸"),
        ("?flip=true", "[-2, -2, -2]", "<code>[1, 0, -1]</code>"),
        ("?stride=3", "[2]", "마지막 2칸은 건너뜁니다"),
        ("?input=0,1,2,3&stride=2", "[2]", "마지막 1칸은 건너뜁니다"),
        ("?dilation=2&padding=2&flip=true", "[-2, -3, -4, 1, 2]", "합성곱(convolution)"),
        ("?padding=same&padding_mode=replicate", "[1, 2, 2, 2, 1]", "교차 상관"),
        ("?padding=3&padding_mode=reflect&stride=2", "[-2, 0, 2, 0, -2]", "앞에 3칸, 뒤에 3칸"),
        ("?padding=same&padding_mode=circular&dilation=2", "[-1, -1, 4, -1, -1]", "회색 칸"),
    ],
    ids=["note", "padding-1", "padding-2-stride-2", "flip", "stride-3", "one-cell-dropped",
         "dilation-flip", "same-replicate", "reflect-stride-2", "same-circular-dilation"],
)
def test_each_lesson_setting_answers_in_korean(
    client: TestClient, query: str, output: str, korean_says: str
) -> None:
    status, english, korean = both(client, f"/lesson/padding{query}", by_cookie="flip" in query)
    assert status == 200
    assert output_of(korean, "lesson-output") == output_of(english, "lesson-output") == output
    assert korean_says in korean
    assert_same_but_the_words(english, korean)


def test_the_notes_slip_is_explained_in_korean(client: TestClient) -> None:
    page = client.get("/lesson/padding", headers={"Accept-Language": "ko"}).text
    assert "<code>[3, 2, 2]</code>라고" in page
    assert f"<code>-1{X}0 + 0{X}1 + 1{X}2 = 2</code>이므로, 3은 계산 실수입니다" in page
    assert "(5,) → (3,)" in page
    assert "3단계 중 <b class=\"step-now\">1</b>단계" in page
    # The stepper's own words, for when the script switches "Show all" and back.
    messages = browser_messages(page)
    assert messages["Show all"] == "모두 보기"
    assert messages["One at a time"] == "하나씩 보기"


@pytest.mark.parametrize(
    ("query", "field", "korean_says"),
    [
        ("?input=0,one,2", "input", "입력 칸(input)에 숫자가 아닌 값('one')이 있습니다"),
        ("?weights=1,inf", "weights", "커널 칸(weights)의 값('inf')은 유한한 수가 아닙니다"),
        ("?input=,,", "input", "숫자를 하나 이상 적어야 합니다. 예: 0, 1, 2."),
        ("?input=" + ",".join(["1"] * 25), "input", "이 페이지는 24개까지만"),
    ],
    ids=["not-a-number", "not-finite", "no-number", "too-many"],
)
def test_a_lesson_field_error_is_korean(
    client: TestClient, query: str, field: str, korean_says: str
) -> None:
    status, english, korean = both(client, f"/lesson/padding{query}")
    assert status == 422
    assert f'data-field="{field}"' in korean
    assert korean_says in korean.replace("&#39;", "'")
    assert_same_but_the_words(english, korean)


# --- The receptive field -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "field", "korean_says"),
    [
        # The quiz, the top-left cell: its 8x8 field starts at the photo's corner.
        (f"{QUIZ}&size=32&row=0&column=0", 8, "출력 칸(0행, 0열)"),
        (f"{QUIZ}&size=64&row=5&column=9", 8, "출력 칸(5행, 9열)"),
        # Same padding: the corner cell's field reaches into the padding, outside the photo.
        ("kind=conv&kernel=3&padding=same&kind=conv&kernel=3&padding=same&row=0&column=0", 5,
         "사진 바깥의 패딩"),
        ("kind=conv&kernel=3&kind=conv&kernel=3&dilation=2", 7, "팽창 2"),
        ("kind=conv&kernel=3&stride=2&kind=avg_pool&kernel=2&stride=2&padding=1", 5, "간격"),
        # Over 32 output cells per side: the centres are not drawn.
        ("kind=conv&kernel=3&size=256", 3, "그리지 않았습니다"),
    ],
    ids=["quiz-corner", "quiz-cell", "same-padding-corner", "dilated", "average-pool",
         "centres-not-drawn"],
)
def test_each_stack_answers_in_korean(
    client: TestClient, query: str, field: int, korean_says: str
) -> None:
    status, english, korean = both(client, f"/receptive-field?{query}",
                                   by_cookie="size=64" in query)
    assert status == 200
    assert f'data-value="{field}"' in korean
    assert f"{field} {X} {field}</output>입니다" in korean
    assert korean_says in korean
    assert_same_but_the_words(english, korean)


def test_padding_names_stay_the_apis_in_korean(client: TestClient) -> None:
    """"same" and "valid" are values the API takes: shown as they are, marked not to translate."""
    korean = client.get(f"/receptive-field?{QUIZ}&padding=same",
                        headers={"Accept-Language": "ko"}).text
    assert '패딩 <span translate="no">same</span>' in korean
    assert '<option value="valid" translate="no"' in korean
    assert "노트의 퀴즈: 3x3 합성곱, 2x2 최대 풀링, 3x3 합성곱" in korean
    messages = browser_messages(korean)
    assert messages["Remove layer %(number)s"] == "레이어 %(number)s 삭제"
    assert messages["centre: %(cell)s"] == "가운데: %(cell)s"


@pytest.mark.parametrize(
    ("query", "field", "korean_says"),
    [
        ("kind=conv&kernel=0", "layer-1", "레이어 1: 커널(kernel) 값은 1부터"),
        ("kind=conv&kernel=3&kind=pool&kernel=2", "layer-2", "레이어 2: 종류는"),
        ("kind=conv&kernel=3&size=33", "size", "입력 크기(size) 값은 16, 32, 64, 128, 256 중"),
        ("kind=conv&kernel=3&sample=dog", "sample", "예시 사진(sample)은"),
        ("&".join(["kind=conv&kernel=1"] * 11), "layers", "레이어는 10개까지만"),
    ],
    ids=["kernel-0", "unknown-kind", "size", "sample", "too-many-layers"],
)
def test_a_stack_field_error_is_korean(
    client: TestClient, query: str, field: str, korean_says: str
) -> None:
    status, english, korean = both(client, f"/receptive-field?{query}")
    assert status == 422
    assert f'data-field="{field}"' in korean
    assert korean_says in korean
    assert_same_but_the_words(english, korean)
