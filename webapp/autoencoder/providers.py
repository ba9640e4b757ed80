"""Execution providers: which hardware onnxruntime runs the models on.

onnxruntime lists the providers its build has (`get_available_providers`), but having a
provider is not being able to use it: the CUDA provider needs the CUDA and cuDNN
libraries, TensorRT needs its own. When a provider fails to load, onnxruntime quietly falls
back to the CPU. So convlens asks for the best providers in order, then reads back what
each session really got (`session.get_providers()`), and reports that.
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
        wanted = [ALIASES.get(name.strip().lower(), name.strip()) for name in requested.split(",")]
        unknown = [name for name in wanted if name not in PRIORITY]
        if unknown:
            raise InvalidInput(
                f"CONVLENS_PROVIDERS names unknown providers {unknown}; use any of "
                f"{', '.join(sorted(ALIASES))}.",
                field="providers",
            )
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


def is_gpu(provider: str) -> bool:
    return provider in GPU_PROVIDERS
