"""Execution-provider selection: what is asked for, what really runs."""

from __future__ import annotations

from typing import Any

import onnxruntime
import pytest

from webapp.autoencoder import registry
from webapp.autoencoder.providers import CPU, choose_providers, is_gpu, needs_cuda_libraries
from webapp.autoencoder.registry import ModelRegistry
from webapp.errors import InvalidInput
from webapp.server.settings import Settings

MODEL_DIR = Settings().model_dir

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


# onnxruntime.preload_dlls: the CUDA and cuDNN libraries of the nvidia-* wheels, loaded
# before any session exactly when a session may use them. Faked here: no GPU needed.

CUDA_BUILD = ["TensorrtExecutionProvider", "CUDAExecutionProvider", CPU]


@pytest.mark.parametrize(
    ("available", "requested", "expected"),
    [
        ([CPU], None, False),
        (["AzureExecutionProvider", CPU], None, False),
        (CUDA_BUILD, None, True),
        (["CUDAExecutionProvider", CPU], None, True),
        (["TensorrtExecutionProvider", CPU], None, True),
        (["ROCMExecutionProvider", CPU], None, False),
        (CUDA_BUILD, "cpu", False),  # the GPU build, told not to use it
        (CUDA_BUILD, "coreml,cpu", False),
        (CUDA_BUILD, "cuda,cpu", True),
        ([CPU], "cuda", True),  # asked for: the libraries may be what was missing
        ([CPU], "trt,cpu", True),
    ],
)
def test_cuda_libraries_are_needed_when_a_cuda_provider_may_run(
    available: list[str], requested: str | None, expected: bool
) -> None:
    assert needs_cuda_libraries(available, requested) is expected


class FakeRuntime:
    """onnxruntime claiming ``available``; records, in order, the calls to ``preload_dlls``
    and the sessions made. Every session really runs on the CPU, as a GPU provider that does
    not load leaves it, on any machine: the tests need no GPU and behave the same on one."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, available: list[str],
                 *, preload: bool = True, fails: bool = False) -> None:
        self.calls: list[str] = []
        self.asked: list[list[tuple[str, dict[str, str]]]] = []
        monkeypatch.setattr(registry, "_cuda_libraries_loaded", False)
        monkeypatch.setattr(onnxruntime, "get_available_providers", lambda: available)
        if preload:
            monkeypatch.setattr(onnxruntime, "preload_dlls", self.preload_dlls, raising=False)
        else:
            monkeypatch.delattr(onnxruntime, "preload_dlls", raising=False)
        self.fails = fails
        session = onnxruntime.InferenceSession

        def recorded_session(path: str, sess_options: Any,
                             providers: list[tuple[str, dict[str, str]]]) -> Any:
            self.calls.append("session")
            self.asked.append(providers)
            return session(path, sess_options=sess_options, providers=[CPU])

        monkeypatch.setattr(onnxruntime, "InferenceSession", recorded_session)

    def preload_dlls(self, cuda: bool = True, cudnn: bool = True, msvc: bool = True,
                     directory: str | None = None) -> None:
        self.calls.append("preload_dlls")
        if self.fails:
            raise OSError("libcudnn.so.9: cannot open shared object file")


def test_preload_dlls_is_called_once_before_any_session_when_cuda_is_available(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    runtime = FakeRuntime(monkeypatch, ["CUDAExecutionProvider", CPU])
    models = ModelRegistry(MODEL_DIR)
    assert runtime.calls[0] == "preload_dlls"
    assert runtime.calls.count("preload_dlls") == 1
    assert runtime.calls.count("session") >= len(models.models)
    assert models.health()["providers"]["cuda_libraries"] == "preloaded"
    # CUDA asked for, the CPU got: /health says what each model really got.
    # Without TF32, so that a batch's numbers equal single calls' and the CPU's.
    assert all(asked[0] == ("CUDAExecutionProvider", {"use_tf32": "0"})
               for asked in runtime.asked)
    assert {model["active"] for model in models.health()["models"].values()} == {CPU}
    # Once per process: a second registry (another app in the same process) does not repeat it.
    ModelRegistry(MODEL_DIR)
    assert runtime.calls.count("preload_dlls") == 1


def test_preload_dlls_is_called_when_cuda_is_asked_for(monkeypatch: pytest.MonkeyPatch) -> None:
    runtime = FakeRuntime(monkeypatch, [CPU])
    ModelRegistry(MODEL_DIR, providers="cuda,cpu")
    assert runtime.calls[0] == "preload_dlls"


@pytest.mark.parametrize(("available", "requested"), [([CPU], None), (CUDA_BUILD, "cpu")])
def test_preload_dlls_is_not_called_when_no_cuda_provider_will_run(
    monkeypatch: pytest.MonkeyPatch, available: list[str], requested: str | None
) -> None:
    runtime = FakeRuntime(monkeypatch, available)
    models = ModelRegistry(MODEL_DIR, providers=requested)
    assert "preload_dlls" not in runtime.calls
    assert models.health()["providers"]["cuda_libraries"] == "not needed"


def test_an_onnxruntime_without_preload_dlls_still_loads_every_model(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    runtime = FakeRuntime(monkeypatch, ["CUDAExecutionProvider", CPU], preload=False)
    models = ModelRegistry(MODEL_DIR)
    assert "preload_dlls" not in runtime.calls
    assert models.models and not models.unavailable
    assert "has no preload_dlls" in models.health()["providers"]["cuda_libraries"]


def test_a_failing_preload_is_a_warning_and_the_models_run_on_the_cpu(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    runtime = FakeRuntime(monkeypatch, ["CUDAExecutionProvider", CPU], fails=True)
    models = ModelRegistry(MODEL_DIR)
    assert runtime.calls[0] == "preload_dlls"
    health = models.health()
    assert "libcudnn.so.9" in health["providers"]["cuda_libraries"]
    assert any("preload_dlls failed" in warning for warning in health["providers"]["warnings"])
    assert health["models"]["seed"]["active"] == CPU
