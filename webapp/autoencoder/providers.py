"""Execution providers: which hardware onnxruntime runs the models on.

onnxruntime lists the providers its build has (`get_available_providers`), but having a
provider is not being able to use it: the CUDA provider needs the CUDA and cuDNN
libraries, TensorRT needs its own. When a provider fails to load, onnxruntime quietly falls
back to the CPU. So convlens asks for the best providers in order, then reads back what
each session really got (`session.get_providers()`), and reports that.

onnxruntime-gpu from PyPI does not bundle CUDA and cuDNN: it finds them in the ``nvidia-*``
wheels (its ``[cuda,cudnn]`` extras) only after ``onnxruntime.preload_dlls()`` has loaded
them. Without that call the CUDA provider fails to load and the session quietly runs on
the CPU, so `needs_cuda_libraries` says when convlens must make it.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable, Sequence

from webapp.errors import InvalidInput

CPU = "CPUExecutionProvider"

# Best first. TensorRT, then the vendor GPU providers, then the OS accelerators, CPU last.
PRIORITY = (
    "TensorrtExecutionProvider",
    "CUDAExecutionProvider",
    "ROCMExecutionProvider",
    "MIGraphXExecutionProvider",
    "DmlExecutionProvider",
    "CoreMLExecutionProvider",
    CPU,
)
GPU_PROVIDERS = frozenset(PRIORITY) - {CPU}
CUDA_PROVIDERS = frozenset({"TensorrtExecutionProvider", "CUDAExecutionProvider"})
"""The providers that run on NVIDIA's CUDA and cuDNN libraries."""

# Options per provider. TF32 off: by default the CUDA provider lets cuDNN multiply in
# TF32 (a 10-bit mantissa) where an algorithm uses tensor cores, and whether one does
# depends on the batch size, so a digit sent in a batch and the same digit sent alone
# differed in the third decimal, and both differed from the CPU's answer. Models this size
# are bound by kernel launches and copies, not by multiply throughput: full float32 costs
# them nothing that shows (benchmarks/gpu.py measures it).
OPTIONS: dict[str, dict[str, str]] = {"CUDAExecutionProvider": {"use_tf32": "0"}}

# Short names for CONVLENS_PROVIDERS.
ALIASES = {
    "tensorrt": "TensorrtExecutionProvider",
    "trt": "TensorrtExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "rocm": "ROCMExecutionProvider",
    "migraphx": "MIGraphXExecutionProvider",
    "directml": "DmlExecutionProvider",
    "dml": "DmlExecutionProvider",
    "coreml": "CoreMLExecutionProvider",
    "cpu": CPU,
}

TENSORRT_LIBRARIES = ("libnvinfer.so.10", "libnvinfer.so.8", "nvinfer_10.dll", "nvinfer.dll")


def tensorrt_loads() -> bool:
    """Whether the TensorRT runtime library can be loaded on this machine."""
    for library in TENSORRT_LIBRARIES:
        try:
            ctypes.CDLL(library)
        except OSError:
            continue
        return True
    return False


def choose_providers(
    available: Sequence[str],
    requested: str | None = None,
    *,
    tensorrt_available: Callable[[], bool] = tensorrt_loads,
) -> list[str]:
    """The providers to ask onnxruntime for, best first, CPU always last.

    ``requested`` is ``CONVLENS_PROVIDERS``: comma-separated short or full names, in the
    order to try them. Without it, every available provider in `PRIORITY` order.

    >>> choose_providers(["CPUExecutionProvider", "CUDAExecutionProvider"],
    ...                  tensorrt_available=lambda: False)
    ['CUDAExecutionProvider', 'CPUExecutionProvider']
    >>> choose_providers(["CUDAExecutionProvider", "CPUExecutionProvider"], "cpu")
    ['CPUExecutionProvider']
    """
    if requested:
        wanted = requested_names(requested)
        # Asked-for providers this onnxruntime lacks are skipped (the app logs them).
        chosen = [name for name in wanted if name in available]
    else:
        chosen = [
            name
            for name in PRIORITY
            if name in available
            and (name != "TensorrtExecutionProvider" or tensorrt_available())
        ]
    # The CPU provider is the floor every model can stand on.
    if CPU not in chosen:
        chosen.append(CPU)
    return chosen


def requested_names(requested: str) -> list[str]:
    """``CONVLENS_PROVIDERS`` as full provider names, in its order; unknown names refused.

    >>> requested_names("cuda, CPU")
    ['CUDAExecutionProvider', 'CPUExecutionProvider']
    """
    wanted = [ALIASES.get(name.strip().lower(), name.strip()) for name in requested.split(",")]
    unknown = [name for name in wanted if name not in PRIORITY]
    if unknown:
        raise InvalidInput(
            f"CONVLENS_PROVIDERS names unknown providers {unknown}; use any of "
            f"{', '.join(sorted(ALIASES))}.",
            field="providers",
        )
    return wanted


def needs_cuda_libraries(available: Sequence[str], requested: str | None = None) -> bool:
    """Whether the CUDA and cuDNN libraries must be loaded (``onnxruntime.preload_dlls``)
    before any session is made: a provider that runs on them is asked for, or, with no
    ``CONVLENS_PROVIDERS``, this onnxruntime has one. An explicit list without one (``cpu``)
    means no session will use them, and loading them would only cost each process memory.

    >>> needs_cuda_libraries(["CUDAExecutionProvider", "CPUExecutionProvider"])
    True
    >>> needs_cuda_libraries(["CUDAExecutionProvider", "CPUExecutionProvider"], "cpu")
    False
    """
    wanted = requested_names(requested) if requested else available
    return any(name in CUDA_PROVIDERS for name in wanted)


def with_options(providers: Sequence[str]) -> list[tuple[str, dict[str, str]]]:
    """``providers`` as onnxruntime takes them with their options (`OPTIONS`).

    >>> with_options(["CUDAExecutionProvider", "CPUExecutionProvider"])
    [('CUDAExecutionProvider', {'use_tf32': '0'}), ('CPUExecutionProvider', {})]
    """
    return [(name, dict(OPTIONS.get(name, {}))) for name in providers]


def is_gpu(provider: str) -> bool:
    return provider in GPU_PROVIDERS
