"""Pooling in the numeric mode: POST /convolve with JSON numbers and ``operation``, the same
options a photo takes, every answer worked out by hand."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from webapp.numeric import NumericAnswer

LESSON = [1, 3, 2, 5, 4]


def pooled(client: TestClient, **body: Any) -> dict[str, Any]:
    response = client.post("/convolve", json=body)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


@pytest.mark.parametrize(
    ("options", "output"),
    [
        # Windows [1, 3] and [2, 5]; the 4 is dropped: floor((5 - 2) / 2) + 1 = 2.
        ({"operation": "max-pool", "pool_size": 2, "stride": 2}, [3, 5]),
        ({"operation": "avg-pool", "pool_size": 2, "stride": 2}, [2, 3.5]),
        # Stride 1: windows [1,3] [3,2] [2,5] [5,4].
        ({"operation": "max-pool", "pool_size": 2}, [3, 3, 5, 5]),
        ({"operation": "avg-pool", "pool_size": 2}, [2, 2.5, 3.5, 4.5]),
        # "same" adds one cell after the 4; the last window is [4] alone (padding ignored).
        ({"operation": "max-pool", "pool_size": 2, "stride": 2, "padding": "same"}, [3, 5, 4]),
        ({"operation": "avg-pool", "pool_size": 2, "stride": 2, "padding": "same"}, [2, 3.5, 4]),
        # Dilation 2 reads every other cell: [1, 2], [3, 5], [2, 4].
        ({"operation": "max-pool", "pool_size": 2, "dilation": 2}, [2, 5, 4]),
        ({"operation": "avg-pool", "pool_size": 3, "stride": 2}, [2, 11 / 3]),
    ],
)
def test_one_dimensional_pooling(
    client: TestClient, options: dict[str, Any], output: list[float]
) -> None:
    answer = pooled(client, input=LESSON, **options)
    assert answer["output"] == pytest.approx(output)
    assert answer["output_shape"] == [len(output)]
    assert answer["operation"] == options["operation"]


def test_max_pool_answers_like_a_convolution(client: TestClient) -> None:
    answer = pooled(client, input=LESSON, operation="max-pool", pool_size=2, stride=2)
    convolution = pooled(client, input=LESSON, weights=[1, 1], stride=2)
    # The same keys: a client reads both answers the same way.
    assert set(answer) == set(convolution)
    assert answer["input_shape"] == [5]
    assert answer["arithmetic"]["length"]["formula"] == "floor((5 + 0 + 0 - 2) / 2) + 1 = 2"
    assert answer["arithmetic"]["length"]["dropped"] == 1
    assert answer["padding"] == {"top": 0, "bottom": 0, "left": 0, "right": 0}
    assert answer["kernel"] == {"name": "max-pool", "weights": [1, 1], "applied": [1, 1]}
    # No weights to learn: the lesson's point. A convolution with the same window has 2.
    assert (answer["params"], convolution["params"]) == (0, 2)
    assert answer["macs"] == convolution["macs"] == 4
    assert answer["linear_params"] == convolution["linear_params"] == 5 * 2 + 2
    assert answer["steps"] == [
        {"index": [0], "positions": [0, 1], "values": [1, 3], "reduction": "max", "result": 3},
        {"index": [1], "positions": [2, 3], "values": [2, 5], "reduction": "max", "result": 5},
    ]
    assert [step["result"] for step in convolution["steps"]] == [4, 7]


def test_average_steps_leave_the_padding_out(client: TestClient) -> None:
    answer = pooled(client, input=LESSON, operation="avg-pool", pool_size=2, stride=2,
                    padding="same")
    assert answer["kernel"]["weights"] == [0.5, 0.5]
    assert answer["padding"]["right"] == 1
    last = answer["steps"][-1]
    assert last == {"index": [2], "positions": [4], "values": [4], "reduction": "mean",
                    "result": 4}


def test_two_dimensional_pooling(client: TestClient) -> None:
    grid = [[1, 2, 3, 4],
            [5, 6, 7, 8],
            [9, 10, 11, 12],
            [13, 14, 15, 16]]
    answer = pooled(client, input=grid, operation="max-pool", pool_size=2, stride=2)
    assert answer["output"] == [[6, 8], [14, 16]]
    assert answer["output_shape"] == [2, 2]
    assert answer["arithmetic"]["height"]["output"] == answer["arithmetic"]["width"]["output"] == 2
    assert answer["kernel"]["weights"] == [[1, 1], [1, 1]]
    assert answer["steps"][1] == {
        "index": [0, 1], "positions": [[0, 2], [0, 3], [1, 2], [1, 3]],
        "values": [3, 4, 7, 8], "reduction": "max", "result": 8,
    }
    mean = pooled(client, input=grid, operation="avg-pool", pool_size=2, stride=2)
    assert mean["output"] == [[3.5, 5.5], [11.5, 13.5]]
    assert mean["params"] == 0
    assert mean["kernel"]["weights"] == [[0.25, 0.25], [0.25, 0.25]]


def test_pooling_ignores_the_kernel_and_needs_none(client: TestClient) -> None:
    plain = pooled(client, input=LESSON, operation="max-pool", pool_size=2, stride=2)
    with_weights = pooled(client, input=LESSON, operation="max-pool", pool_size=2, stride=2,
                          weights=[9, 9, 9], kernel="sobel-x")
    assert plain == with_weights


def test_negative_numbers_and_no_minus_zero(client: TestClient) -> None:
    answer = pooled(client, input=[-3, -1, -0.0, -2], operation="max-pool", pool_size=2,
                    stride=2)
    assert answer["output"] == [-1, 0]
    assert "-0" not in str(answer["output"])


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"input": LESSON, "operation": "max-pool", "pool_size": 6}, "padding",
         "floor((5 + 0 + 0 - 6) / 1) + 1 = 0"),
        ({"input": LESSON, "operation": "max-pool", "pool_size": 40}, "pool_size",
         "pool_size is 40; at most 31 is allowed."),
        ({"input": LESSON, "operation": "max-pool", "pool_size": 0}, "pool_size",
         "pool_size must be a whole number >= 1, not 0."),
        ({"input": LESSON, "operation": "max-pool", "pool_size": 2000}, "pool_size",
         "pool_size must be a whole number <= 1024, not 2000."),
        ({"input": LESSON, "operation": "max-pool", "pool_size": "big"}, "pool_size",
         "pool_size must be a whole number, not 'big'."),
        ({"input": LESSON, "operation": "min-pool"}, "operation",
         "operation must be 'convolve', 'max-pool' or 'avg-pool', not 'min-pool'."),
        ({"input": LESSON, "operation": "max-pool", "pool_size": 2, "padding": 2}, "padding",
         "covers only padding"),
        ({"input": LESSON, "operation": "avg-pool", "pool_size": 2, "stride": 0}, "stride",
         "stride must be a whole number >= 1, not 0."),
    ],
)
def test_pooling_errors_name_the_field(
    client: TestClient, body: dict[str, Any], field: str, words: str
) -> None:
    response = client.post("/convolve", json=body)
    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["field"] == field
    assert words in problem["detail"]


@pytest.mark.parametrize(
    "body",
    [
        {"input": LESSON, "operation": "avg-pool", "pool_size": 2, "padding": "same"},
        {"input": LESSON, "weights": [-1, 0, 1], "flip": True},
        {"input": [[1, 2, 3], [4, 5, 6]], "operation": "max-pool", "pool_size": 2},
        {"input": [[1, 2, 3], [4, 5, 6]], "kernel": "identity", "padding": 1},
        {"input": [list(range(40))] * 40, "weights": [1, 1]},  # no steps: 1560 cells
    ],
)
def test_the_answer_is_exactly_the_typed_contract(
    client: TestClient, body: dict[str, Any]
) -> None:
    answer = pooled(client, **body)
    assert NumericAnswer.model_validate(answer).model_dump(exclude_none=True) == answer
    assert ("steps" in answer) == (len(body["input"]) < 40)
