"""Print the runtime dependencies of pyproject.toml, one a line: the input of the locks.

``requirements/refresh`` pipes this into ``uv pip compile`` to write the lock files the
image installs from (``requirements/runtime.lock``, ``requirements/runtime-gpu.lock``).
``--onnxruntime onnxruntime-gpu`` swaps the CPU build of onnxruntime for the GPU one
(the image's GPU variant), keeping the version range.

    python docker/requirements.py pyproject.toml --onnxruntime onnxruntime-gpu
"""

from __future__ import annotations

import argparse
import re
import tomllib
from pathlib import Path

# "onnxruntime" as a whole name: not "onnxruntime-gpu", which a pyproject may already name.
ONNXRUNTIME = re.compile(r"^onnxruntime(?=$|[\s\[<>=!~;])")


def requirements(pyproject: Path, onnxruntime: str = "onnxruntime") -> list[str]:
    """``[project] dependencies`` of ``pyproject``, onnxruntime renamed to ``onnxruntime``."""
    with pyproject.open("rb") as file:
        dependencies: list[str] = tomllib.load(file)["project"]["dependencies"]
    return [ONNXRUNTIME.sub(onnxruntime, dependency) for dependency in dependencies]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pyproject", type=Path)
    parser.add_argument("--onnxruntime", default="onnxruntime",
                        help="the onnxruntime package to install (default: %(default)s)")
    arguments = parser.parse_args()
    print("\n".join(requirements(arguments.pyproject, arguments.onnxruntime)))


if __name__ == "__main__":
    main()
