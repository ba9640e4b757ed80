"""The lock files the image installs from agree with pyproject.toml.

``requirements/refresh`` writes them; this catches a dependency added to pyproject.toml
(or a range moved) without a refresh, which the image's ``pip install --require-hashes``
would otherwise meet only as a missing module at run time.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
LOCKS = {"onnxruntime": ROOT / "requirements" / "runtime.lock",
         "onnxruntime-gpu": ROOT / "requirements" / "runtime-gpu.lock"}
# A pin: "name==version ; marker \" at the start of a line, its hashes on the lines after.
PIN = re.compile(
    r"^(?P<name>[A-Za-z0-9._-]+)==(?P<version>[^\s;\\]+)\s*(?:;(?P<marker>[^\\]+))?\\$"
)
# The Pythons the images run: Debian 12's (the stand-in base), python:3.12-slim, Ubuntu 24.04.
PYTHONS = ["3.11", "3.12"]


def dependencies(onnxruntime: str) -> list[Requirement]:
    with (ROOT / "pyproject.toml").open("rb") as file:
        listed: list[str] = tomllib.load(file)["project"]["dependencies"]
    requirements = [Requirement(text) for text in listed]
    for requirement in requirements:
        if requirement.name == "onnxruntime":
            requirement.name = onnxruntime
    return requirements


def pins(lock: Path, python: str) -> dict[str, Version]:
    """The version of each package that ``lock`` installs on Linux under ``python``."""
    lines = lock.read_text().splitlines()
    environment = {"python_version": python, "python_full_version": f"{python}.0",
                   "sys_platform": "linux", "platform_system": "Linux",
                   "platform_python_implementation": "CPython",
                   "implementation_name": "cpython", "platform_machine": "x86_64"}
    found: dict[str, Version] = {}
    for number, line in enumerate(lines):
        match = PIN.match(line)
        if match is None:
            continue
        assert lines[number + 1].strip().startswith("--hash=sha256:"), line
        marker = match["marker"]
        if marker and not Marker(marker.strip()).evaluate(environment):
            continue
        name = canonicalize_name(match["name"])
        assert name not in found, f"{lock.name} pins {name} twice for Python {python}"
        found[name] = Version(match["version"])
    return found


@pytest.mark.parametrize("python", PYTHONS)
@pytest.mark.parametrize("onnxruntime", sorted(LOCKS))
def test_every_dependency_is_pinned_within_its_range(onnxruntime: str, python: str) -> None:
    pinned = pins(LOCKS[onnxruntime], python)
    for requirement in dependencies(onnxruntime):
        name = canonicalize_name(requirement.name)
        assert name in pinned, f"{LOCKS[onnxruntime].name} lacks {name}: run requirements/refresh"
        assert requirement.specifier.contains(pinned[name], prereleases=True), (
            f"{LOCKS[onnxruntime].name} pins {name} {pinned[name]}, outside {requirement}: "
            "run requirements/refresh"
        )
    # Both provide the onnxruntime module: installed together, they break each other.
    other = "onnxruntime" if onnxruntime == "onnxruntime-gpu" else "onnxruntime-gpu"
    assert other not in pinned


def test_the_locks_pin_the_same_versions_but_onnxruntime() -> None:
    for python in PYTHONS:
        cpu = pins(LOCKS["onnxruntime"], python)
        gpu = pins(LOCKS["onnxruntime-gpu"], python)
        cpu.pop("onnxruntime")
        gpu.pop("onnxruntime-gpu")
        # onnxruntime-gpu may need a package the CPU build does not, never another version.
        assert {name: version for name, version in gpu.items() if name in cpu} == cpu
