"""Benchmark the autoencoders on every execution provider present: batch 1, 256 and 1024.

    python benchmarks/gpu.py                  # every provider this onnxruntime can run
    python benchmarks/gpu.py --no-write       # print only; leave benchmarks/RESULTS.md alone

For the CPU and for each GPU provider that onnxruntime lists (CUDA; TensorRT where its
library loads), the models are loaded through convlens's own `ModelRegistry`, as the server
loads them: the same provider choice (``CONVLENS_PROVIDERS`` short names), the same
``onnxruntime.preload_dlls`` call, the same one-thread session options. Each row is the
median of several timed runs of `OnnxAutoencoder.run` on held-out MNIST digits (repeated up to
the batch size), after warm-up runs, with the time per digit. A GPU run includes the copies
to and from the device: that is what a request pays.

Each configuration first says which providers every model really got: a GPU provider that
onnxruntime lists but cannot use (no driver, no device, missing CUDA libraries) falls back
to the CPU, and the rows then say so instead of passing CPU times off as GPU ones. On a
machine without a GPU provider the script says so and prints the CPU rows.

The output is also written as the ``## gpu.py`` section of ``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime
from numpy.typing import NDArray

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.results import Report, write_section  # noqa: E402
from tests.drawings import holdout_digits  # noqa: E402
from webapp.autoencoder.providers import CPU, tensorrt_loads  # noqa: E402
from webapp.autoencoder.registry import ModelRegistry, OnnxAutoencoder  # noqa: E402
from webapp.server.settings import Settings  # noqa: E402

BATCHES = (1, 256, 1024)

# What to benchmark, in CONVLENS_PROVIDERS' own words: TensorRT and CUDA each keep the CPU
# as their floor, as the server does.
CONFIGURATIONS = (
    ("CPU", "cpu", CPU),
    ("CUDA", "cuda,cpu", "CUDAExecutionProvider"),
    ("TensorRT", "tensorrt,cuda,cpu", "TensorrtExecutionProvider"),
)


@dataclass(frozen=True)
class Row:
    model: str
    configuration: str
    active: str
    batch: int
    runs: int
    median_ms: float

    def cells(self) -> list[str]:
        per_digit_us = self.median_ms * 1000 / self.batch
        return [self.model, self.configuration, self.active, str(self.batch),
                f"{self.median_ms:.3f}", f"{per_digit_us:.2f}",
                f"{self.batch / self.median_ms * 1000:,.0f}", str(self.runs)]


HEADER = ["model", "asked for", "active provider", "batch", "median ms", "µs per digit",
          "digits/s", "runs"]


def median_ms(
    model: OnnxAutoencoder, digits: NDArray[np.float32], seconds: float
) -> tuple[float, int]:
    """Median milliseconds of ``model.run(digits)`` and how many runs it is the median of:
    enough runs to fill about ``seconds``, at least 5 and at most 200, after warm-up runs
    (the first GPU runs allocate memory and pick kernels)."""
    for _ in range(3):
        model.run(digits)
    started = time.perf_counter()
    model.run(digits)
    once = max(time.perf_counter() - started, 1e-6)
    runs = int(min(200, max(5, seconds / once)))
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        model.run(digits)
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000, runs


def gpu_name() -> str | None:
    """The GPU as nvidia-smi names it, or None without one (or without nvidia-smi)."""
    if shutil.which("nvidia-smi") is None:
        return None
    try:
        found = subprocess.run(
            ["nvidia-smi", "--query-gpu=name,driver_version,memory.total",
             "--format=csv,noheader"],
            capture_output=True, text=True, timeout=30, check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return found or None


def table(rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(HEADER) + " |",
            "|" + "|".join(" --- " for _ in HEADER) + "|",
            *("| " + " | ".join(row) + " |" for row in rows)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=1.0,
                        help="time to spend on each row's timed runs (default: %(default)s)")
    parser.add_argument("--no-write", action="store_true",
                        help="print only; do not update benchmarks/RESULTS.md")
    args = parser.parse_args()

    say = Report()
    available = onnxruntime.get_available_providers()
    # The package's own version: onnxruntime-gpu's metadata is not "onnxruntime"'s.
    say(f"onnxruntime {onnxruntime.__version__} ({onnxruntime.get_device()} build); "
        f"GPU: {gpu_name() or 'none found'}.")
    say(f"Providers this onnxruntime has: {', '.join(available)}.")
    configurations = []
    for label, requested, provider in CONFIGURATIONS:
        if provider not in available:
            continue
        if provider == "TensorrtExecutionProvider" and not tensorrt_loads():
            say("TensorRT: listed by this onnxruntime, but its library (libnvinfer) does not "
                "load here; skipped.")
            continue
        configurations.append((label, requested, provider))
    if len(configurations) == 1:
        say("No GPU provider in this onnxruntime: CPU rows only (install onnxruntime-gpu "
            "on a machine with an NVIDIA GPU for the GPU rows).")
    say("Sessions as the server makes them: one intra-op thread each. Each row: the median "
        "of the timed runs of `OnnxAutoencoder.run`, copies to and from the device included.")

    digits = holdout_digits()[0].astype(np.float32) / 255.0
    batches = {size: np.ascontiguousarray(np.resize(digits, (size, 28, 28)))
               for size in BATCHES}
    rows: list[Row] = []
    model_dir = Settings().model_dir
    for label, requested, provider in configurations:
        models = ModelRegistry(model_dir, providers=requested)
        health = models.health()["providers"]
        say()
        say(f"{label} (CONVLENS_PROVIDERS={requested}): requested {health['requested']}; "
            f"CUDA libraries: {health['cuda_libraries']}.")
        for warning in health["warnings"]:
            say(f"  warning: {warning}")
        for model in models:
            say(f"  {model.name}: session providers {model.providers}"
                + ("" if model.provider == provider else
                   f"; {provider} did not load, so these rows are the CPU's"))
            for size, batch in batches.items():
                milliseconds, runs = median_ms(model, batch, args.seconds)
                rows.append(Row(model.name, label, model.provider, size, runs, milliseconds))
    say()
    for line in table([row.cells() for row in rows]):
        say(line)
    if not args.no_write:
        write_section("gpu.py", "python benchmarks/gpu.py", say.lines)
        print("\nWritten to benchmarks/RESULTS.md (## gpu.py).")


if __name__ == "__main__":
    main()
