"""Execution-provider selection: what is asked for, what really runs."""

from __future__ import annotations

import pytest

from webapp.autoencoder.providers import CPU, choose_providers, is_gpu
from webapp.errors import InvalidInput

ALL = [
    "TensorrtExecutionProvider", "CUDAExecutionProvider", "ROCMExecutionProvider",
    "MIGraphXExecutionProvider", "DmlExecutionProvider", "CoreMLExecutionProvider", CPU,
    "AzureExecutionProvider",
]


@pytest.mark.parametrize(
    ("available", "tensorrt_loads", "expected"),
    [
        ([CPU], False, [CPU]),
        (["AzureExecutionProvider", CPU], False, [CPU]),  # this machine's onnxruntime
        ([CPU, "CUDAExecutionProvider"], False, ["CUDAExecutionProvider", CPU]),
        (["TensorrtExecutionProvider", "CUDAExecutionProvider", CPU], True,
         ["TensorrtExecutionProvider", "CUDAExecutionProvider", CPU]),
        # onnxruntime-gpu lists TensorRT even where its libraries are missing: skip it.
        (["TensorrtExecutionProvider", "CUDAExecutionProvider", CPU], False,
         ["CUDAExecutionProvider", CPU]),
        (["ROCMExecutionProvider", "MIGraphXExecutionProvider", CPU], False,
         ["ROCMExecutionProvider", "MIGraphXExecutionProvider", CPU]),
        (["DmlExecutionProvider", CPU], False, ["DmlExecutionProvider", CPU]),
        (["CoreMLExecutionProvider", CPU], False, ["CoreMLExecutionProvider", CPU]),
        (ALL, True, ALL[:7]),
    ],
)
def test_default_order_is_best_first_with_the_cpu_last(
    available: list[str], tensorrt_loads: bool, expected: list[str]
) -> None:
    assert choose_providers(available, tensorrt_available=lambda: tensorrt_loads) == expected


@pytest.mark.parametrize(
    ("requested", "expected"),
    [
        ("cpu", [CPU]),
        ("CPU", [CPU]),
        ("cuda", ["CUDAExecutionProvider", CPU]),
        ("cuda,cpu", ["CUDAExecutionProvider", CPU]),
        ("coreml, cuda", ["CoreMLExecutionProvider", "CUDAExecutionProvider", CPU]),
        ("CUDAExecutionProvider", ["CUDAExecutionProvider", CPU]),
        ("trt", ["TensorrtExecutionProvider", CPU]),  # asked for: no library check
    ],
)
def test_convlens_providers_overrides_the_order(requested: str, expected: list[str]) -> None:
    assert choose_providers(ALL, requested, tensorrt_available=lambda: False) == expected


def test_requested_providers_this_build_lacks_are_skipped() -> None:
    assert choose_providers([CPU], "cuda,cpu") == [CPU]
    assert choose_providers([CPU], "cuda") == [CPU]


def test_unknown_provider_names_are_refused_with_the_valid_ones() -> None:
    with pytest.raises(InvalidInput, match=r"unknown providers.*quantum"):
        choose_providers([CPU], "quantum")


def test_gpu_providers() -> None:
    assert is_gpu("CUDAExecutionProvider")
    assert is_gpu("TensorrtExecutionProvider")
    assert not is_gpu(CPU)
