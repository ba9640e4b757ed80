"""The API as a Python team consumes it: a client generated from ``/openapi.json`` by
openapi-python-client, with zero warnings, calling the real app and getting typed answers.
"""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import encode, gradient_photo
from webapp.server.app import create_app

GENERATOR = Path(sys.executable).with_name("openapi-python-client")
PACKAGE = "convlens_client"


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModuleType]:
    """The client package, generated into a temporary folder and imported from there."""
    folder = tmp_path_factory.mktemp("client")
    document = folder / "openapi.json"
    document.write_text(json.dumps(create_app().openapi()))
    config = folder / "config.yaml"
    config.write_text("post_hooks: []\n")  # no formatter run on the generated code
    result = subprocess.run(
        [str(GENERATOR), "generate", "--path", str(document), "--meta", "none",
         "--output-path", str(folder / PACKAGE), "--config", str(config)],
        capture_output=True, text=True, check=False, timeout=300,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "warning" not in output.lower(), output
    sys.path.insert(0, str(folder))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(folder))
        for name in [name for name in sys.modules if name.split(".")[0] == PACKAGE]:
            del sys.modules[name]


@pytest.fixture(scope="module")
def client(generated: ModuleType) -> Iterator[Any]:
    """The generated client, talking to the app in-process (Starlette's TestClient is an
    httpx client); it asks for JSON, as a program reading typed answers does."""
    with TestClient(create_app(), headers={"accept": "application/json"}) as http:
        api = generated.Client(base_url="http://testserver")
        api.set_httpx_client(http)
        yield api


def module(name: str) -> Any:
    return importlib.import_module(f"{PACKAGE}.{name}")


def test_the_client_convolves_numbers(client: Any) -> None:
    models = module("models")
    request = models.NumericRequest.from_dict({"input": [0, 1, 2, 3, 4], "weights": [-1, 0, 1]})
    answer = module("api.convolution.convolve").sync(client=client, body=request)
    assert isinstance(answer, models.NumericAnswer), answer
    assert answer.output == [2, 2, 2]
    assert answer.output_shape == [3]


def test_the_client_pools_numbers(client: Any) -> None:
    models = module("models")
    request = models.NumericRequest.from_dict(
        {"input": [1, 3, 2, 5, 4], "operation": "max-pool", "pool_size": 2, "stride": 2}
    )
    answer = module("api.convolution.convolve").sync(client=client, body=request)
    assert isinstance(answer, models.NumericAnswer), answer
    assert answer.output == [3, 5]


def test_the_client_convolves_a_photo(client: Any) -> None:
    models, types = module("models"), module("types")
    photo = types.File(payload=encode(gradient_photo(height=16, width=24)), file_name="photo.png",
                       mime_type="image/png")
    body = models.ConvolveFilesBody(image=photo, kernel="sobel-x", stride=2)
    answer = module("api.convolution.convolve").sync(client=client, body=body)
    assert isinstance(answer, models.PhotoAnswer), answer
    assert answer.input_shape == [16, 24, 3]
    assert answer.output_shape == [7, 11, 3]
    assert answer.arithmetic.width.formula.endswith("= 11")
    assert answer.image.startswith("data:image/png;base64,")


def test_the_client_reconstructs_pixels(client: Any) -> None:
    models = module("models")
    digit = [[1.0 if 10 <= column <= 17 and 4 <= row <= 23 else 0.0 for column in range(28)]
             for row in range(28)]
    request = models.PixelsRequest.from_dict({"pixels": digit, "model": "seed"})
    answer = module("api.autoencoder.reconstruct").sync(client=client, body=request)
    assert isinstance(answer, models.ReconstructionAnswer), answer
    assert answer.model == "seed"
    assert len(answer.reconstruction.pixels) == 28
    assert 0 <= answer.metrics.mse <= 1


def test_the_client_lists_kernels_and_models(client: Any) -> None:
    models = module("models")
    kernels = module("api.convolution.list_kernels").sync(client=client)
    assert all(isinstance(kernel, models.PresetAnswer) for kernel in kernels)
    assert "sobel-x" in {kernel.name for kernel in kernels}
    described = module("api.autoencoder.list_models").sync(client=client)
    assert all(isinstance(model, models.ModelDescription) for model in described)
    seed = next(model for model in described if model.name == "seed")
    assert seed.params == 3369


def test_the_client_parses_problems(client: Any) -> None:
    models = module("models")
    missing = module("api.autoencoder.get_model").sync("nope", client=client)
    assert isinstance(missing, models.Problem), missing
    assert missing.status == 404 and "seed" in missing.detail
    request = models.NumericRequest.from_dict({"input": [1, 2, 3], "stride": 0})
    refused = module("api.convolution.convolve").sync(client=client, body=request)
    assert isinstance(refused, models.Problem), refused
    assert refused.status == 422 and refused.field == "stride"


def test_the_client_runs_a_whole_layer(client: Any) -> None:
    """Two filters over a 2-channel input, with a bias and a ReLU: N x H_out x W_out."""
    models = module("models")
    request = models.NumericRequest.from_dict({
        "input": [[[1, 2, 3], [4, 5, 6]], [[0, 1, 0], [1, 0, 1]]],
        "filters": [[[[1, 1]], [[1, 1]]], [[[-1, -1]], [[0, 0]]]],
        "bias": [0.5, 0],
        "activation": "relu",
    })
    answer = module("api.convolution.convolve").sync(client=client, body=request)
    assert isinstance(answer, models.NumericLayerAnswer), answer
    # Filter 0 sums both channels' pairs plus 0.5; filter 1 is negative, so ReLU gives 0.
    assert answer.output == [[[4.5, 6.5], [10.5, 12.5]], [[0, 0], [0, 0]]]
    assert answer.params == 2 * (2 * 1 * 2 + 1)
    banks = module("api.convolution.list_banks").sync(client=client)
    assert all(isinstance(bank, models.BankAnswer) for bank in banks)
    assert {"edges", "learned-seed"} <= {bank.name for bank in banks}
