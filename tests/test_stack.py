"""The small CNN: the stack against layers and poolings chained by hand, the explanation of
a cell against the JSON route's number, and the route's errors, each naming its field."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
from fastapi.testclient import TestClient

from webapp.arithmetic import StackLayer, receptive_field
from webapp.banks import EDGES, he_bank
from webapp.errors import ConvlensError
from webapp.layer import apply_layer, make_layer
from webapp.pooling import pool
from webapp.server.app import create_app
from webapp.server.settings import Settings
from webapp.stack import BlockSpec, CellChoice, explain_stack_cell, run_stack

MACS, VALUES = 10**10, 2**24


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    with TestClient(create_app(Settings(skip_broken_models=True))) as test_client:
        yield test_client


def _photo(height: int = 37, width: int = 52) -> np.ndarray:
    return np.random.default_rng(7).integers(0, 256, (height, width, 3), dtype=np.uint8)


def _pooled_by_hand(maps: np.ndarray, kind: str) -> np.ndarray:
    # pool() works on height x width x channels: channels last, then back.
    out = pool(np.moveaxis(maps, 0, 2), kind=kind, size=2, stride=2).output  # type: ignore[arg-type]
    return np.moveaxis(out, 2, 0)


def test_stack_equals_layers_and_poolings_chained_by_hand() -> None:
    photo = _photo()
    specs = [BlockSpec(bank="edges", activation="relu", pool="max"),
             BlockSpec(bank="random-he", maps=5, activation="tanh", padding="valid",
                       pool="average"),
             BlockSpec(bank="random-he", maps=3, activation="none", pool="none")]
    result = run_stack(photo, specs, seed=11, max_layer_macs=MACS, max_values=VALUES)

    values = np.moveaxis(photo, 2, 0)
    edges = EDGES.over(3)
    first = apply_layer(values, make_layer(edges.filters, edges.bias, in_channels=3,
                                           activation="relu"), padding="same")
    first_out = _pooled_by_hand(first.output, "max")
    second_bank = he_bank(4, maps=5, seed=11 + 1)
    second = apply_layer(first_out, make_layer(second_bank.filters, in_channels=4,
                                               activation="tanh"), padding="valid")
    second_out = _pooled_by_hand(second.output, "average")
    third_bank = he_bank(5, maps=3, seed=11 + 2)
    third = apply_layer(second_out, make_layer(third_bank.filters, in_channels=5),
                        padding="same")

    expected = [(first.output, first_out), (second.output, second_out),
                (third.output, third.output)]
    assert [block.output.shape for block in result.blocks] == [(4, 18, 26), (5, 8, 12),
                                                              (3, 8, 12)]
    for block, (maps, output) in zip(result.blocks, expected, strict=True):
        np.testing.assert_array_equal(block.maps.output, maps)
        np.testing.assert_array_equal(block.output, output)


def test_a_deep_cell_is_explained_on_the_numbers_its_block_computed() -> None:
    specs = [BlockSpec(bank="edges"), BlockSpec(maps=6), BlockSpec(maps=4, pool="none")]
    result = run_stack(_photo(64, 80), specs, seed=3, max_layer_macs=MACS, max_values=VALUES)
    cell = explain_stack_cell(result, CellChoice(block=3, map=2, row=4, column=7))
    assert len(cell.explained.channels) == 6  # the 6 maps of block 2 are its channels
    total = sum(terms.sum for terms in cell.explained.channels) + cell.explained.bias
    assert cell.explained.total == pytest.approx(total)
    assert cell.explained.output == pytest.approx(max(total, 0.0))  # ReLU
    assert cell.value == pytest.approx(cell.explained.output, rel=1e-5, abs=1e-4)
    # 3x3 same, pool 2 (jump 2), 3x3, pool 2 (jump 4), 3x3: 3, 4, 8, 10, 18.
    layers = [StackLayer("conv", 3, padding="same"), StackLayer("max_pool", 2, 2)] * 2 + [
        StackLayer("conv", 3, padding="same")]
    assert receptive_field(layers)[-1].receptive_field == 18
    assert cell.receptive_field == (18, 18)
    top, left, bottom, right = cell.box
    assert (bottom - top + 1, right - left + 1) == (18, 18)


@pytest.mark.parametrize(("blocks", "field"), [
    ([{"bank": "edges"}, {"bank": "colour-opponents"}], "block-2-bank"),
    ([{"bank": "no-such-bank"}], "block-1-bank"),
    ([{"bank": "edges"}, {"maps": 0}], "block-2-maps"),
    ([{"bank": "edges", "pool": "max"}] * 4 + [{"bank": "edges"}], "blocks"),
    ([{"bank": "edges", "pool": "maximum"}], "block-1-pool"),
])
def test_the_json_route_names_the_block_field_at_fault(
    client: TestClient, blocks: list[dict[str, object]], field: str
) -> None:
    answer = client.post("/stack", json={"sample": "camera", "max_side": 256,
                                         "blocks": blocks})
    assert answer.status_code in (404, 422)
    assert answer.json()["field"] == field
    assert "Block" in answer.json()["detail"] or field in answer.json()["detail"]


@pytest.mark.parametrize(("specs", "field", "words"), [
    ([BlockSpec(bank="edges")] * 3, "block-3-pool", "2x2 pool"),
    ([BlockSpec(bank="edges")] * 2 + [BlockSpec(bank="gabor", padding="valid")],
     "block-3-padding", "11x11"),
])
def test_maps_too_small_for_a_block_are_refused_naming_its_field(
    specs: list[BlockSpec], field: str, words: str
) -> None:
    with pytest.raises(ConvlensError) as raised:
        run_stack(_photo(6, 6), specs, seed=0, max_layer_macs=MACS, max_values=VALUES)
    assert raised.value.field == field
    assert words in raised.value.message


def test_the_json_cell_equals_the_page_explanation(client: TestClient) -> None:
    blocks: list[dict[str, object]] = [{"bank": "edges"}, {"bank": "random-he", "maps": 4},
                                       {"bank": "random-he", "maps": 3, "pool": "none"}]
    cell = {"block": 3, "map": 1, "row": 9, "column": 14}
    answer = client.post("/stack", json={"sample": "cat", "blocks": blocks, "cell": cell})
    assert answer.status_code == 200
    data = answer.json()
    assert [block["params"] for block in data["blocks"]] == [4 * 28, 4 * 37, 3 * 37]
    explained = data["cell"]
    assert explained["value"] == pytest.approx(explained["output"], rel=1e-5, abs=1e-4)
    assert len(explained["channels"]) == 4
    form = {"sample": "cat", "max_side": "256", "color": "rgb", "random_seed": "0",
            **{f"block-{index}-{name}": str(value)
               for index, block in enumerate(blocks, start=1)
               for name, value in ({"maps": 8, "pool": "max"} | block).items()},
            **{name: str(value) for name, value in cell.items()}}
    page = client.post("/stack/explain", data=form, headers={"HX-Request": "true"},
                       files={"image": ("empty", b"", "application/octet-stream")})
    assert page.status_code == 200
    assert f'data-output="{explained["output"]!r}"' in page.text
    assert f'data-total="{explained["total"]!r}"' in page.text
    assert 'width="18.0" height="18.0"' in page.text  # the receptive field on the photo


def test_the_page_restores_its_stack_and_cell_from_the_link(client: TestClient) -> None:
    link = ("/stack?block-1-bank=edges&block-1-pool=none&block-2-bank=random-he"
            "&block-2-maps=2&cell=2,1,3,4")
    page = client.get(link, headers={"Sec-Fetch-Dest": "document", "Accept": "text/html"})
    assert page.status_code == 200
    assert 'data-blocks="2"' in page.text
    assert 'id="stack-explained" data-cell="2,1,3,4"' in page.text
    broken = client.get("/stack?cell=1,2", headers={"Accept": "application/json"})
    assert broken.status_code == 422
    assert broken.json()["field"] == "cell"
