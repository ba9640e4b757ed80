"""benchmarks/RESULTS.md: each benchmark script's latest output, in a section of its own.

Several scripts share the file; each replaces only its own ``## <script>`` section, headed
by when and where it ran (date, cores, CPU model, Python and the libraries that decide the
speed), so a ratio is never read without its machine.
"""

from __future__ import annotations

import datetime
import os
import platform
from importlib import metadata
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
TITLE = "# Benchmark results"
INTRO = (
    "Each section is the latest output of one script in `benchmarks/`, written by the script "
    "itself (run it to replace its section). Ratios compare convlens with a reference "
    "measured in the same run, interleaved, as medians: the machines are shared and noisy, "
    "so absolute times mean little."
)
LIBRARIES = ("numpy", "numba", "opencv-python-headless", "pillow", "onnxruntime",
             "onnxruntime-gpu", "fastapi")
"""Distributions named with their versions (onnxruntime-gpu provides the same module as
onnxruntime, so whichever of the two is installed is named)."""


def cpu_model() -> str:
    """The CPU's model name (Linux /proc/cpuinfo), else what `platform` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def library_versions() -> str:
    found = []
    for name in LIBRARIES:
        try:
            found.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            continue
    return ", ".join(found)


def machine() -> str:
    """One line: when and where the numbers below it were measured."""
    today = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return (f"Run {today} on {os.cpu_count()} cores ({cpu_model()}), "
            f"Python {platform.python_version()}, {library_versions()}.")


def write_section(script: str, command: str, lines: list[str]) -> None:
    """Put ``lines`` in RESULTS.md as the ``## <script>`` section, after the command and
    the machine line: replaced where it is, appended otherwise; the other sections stay."""
    heading = f"## {script}"
    text = RESULTS.read_text() if RESULTS.exists() else f"{TITLE}\n\n{INTRO}\n"
    body = "\n".join([heading, "", f"`{command}`. {machine()}", "", "```", *lines, "```"])
    start = text.find(f"\n{heading}\n")
    if start < 0:
        text = text.rstrip() + "\n\n" + body + "\n"
    else:
        following = text.find("\n## ", start + 1)
        rest = text[following:] if following >= 0 else "\n"
        text = text[: start + 1] + body + "\n" + rest
    RESULTS.write_text(text)


class Report:
    """Lines printed as they come and kept for RESULTS.md."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def __call__(self, line: str = "") -> None:
        print(line, flush=True)
        self.lines.extend(line.split("\n"))
