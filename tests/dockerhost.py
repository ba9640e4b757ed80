"""The Docker engine the image tests run on: started where needed, images built on it.

``../shared/tools/docker-local-base`` starts an engine on machines that cannot reach a
registry, and gives the stand-in base image to build on; without it, an engine already
running builds on the Dockerfile's own base. With neither, or when that base cannot be had
(docker-local-base fails, the engine cannot pull it), the tests are skipped with a one-line
reason, except under ``CI=true``, where they fail: CI must not pass without running them.
tests/test_docker.py and tests/test_swarm.py share it.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from pathlib import Path
from typing import NoReturn

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCKER_LOCAL_BASE = ROOT.parent / "shared" / "tools" / "docker-local-base"


def docker_unavailable(reason: str) -> NoReturn:
    if os.environ.get("CI", "").lower() in {"1", "true"}:
        pytest.fail(f"{reason}; CI is set, so the Docker tests must run here.", pytrace=False)
    pytest.skip(reason)


def docker(*arguments: str, timeout: float = 120) -> str:
    """The output of ``docker <arguments>``, or a failure that shows what docker said."""
    result = subprocess.run(
        ["docker", *arguments], capture_output=True, text=True, timeout=timeout, check=False
    )
    if result.returncode != 0:
        pytest.fail(
            f"docker {' '.join(arguments)} failed (exit {result.returncode}):\n"
            f"{(result.stdout + result.stderr)[-4000:]}",
            pytrace=False,
        )
    return result.stdout


def quietly(*arguments: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """``docker <arguments>`` whose failure is no test's business (a clean-up)."""
    return subprocess.run(["docker", *arguments], capture_output=True, text=True,
                          timeout=timeout, check=False)


def engine_running() -> bool:
    if shutil.which("docker") is None:
        return False
    info = subprocess.run(["docker", "info"], capture_output=True, timeout=60, check=False)
    return info.returncode == 0


def last_line(output: str) -> str:
    """The last line a command printed: a skip reason is one line in pytest's summary."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    return lines[-1][:300] if lines else "no output"


def base_image(dockerfile: Path = ROOT / "Dockerfile") -> str | None:
    """The base to build on: docker-local-base's stand-in, else ``dockerfile``'s default."""
    if DOCKER_LOCAL_BASE.exists():
        # The first run installs and starts the engine and debootstraps the base: minutes.
        result = subprocess.run(
            ["bash", str(DOCKER_LOCAL_BASE)], capture_output=True, text=True, timeout=1800,
            check=False,
        )
        if result.returncode != 0:
            docker_unavailable(f"{DOCKER_LOCAL_BASE.name} failed: {last_line(result.stderr)}")
        return result.stdout.split()[-1]
    if not engine_running():
        docker_unavailable(f"no Docker engine, and no {DOCKER_LOCAL_BASE} to start one")
    # An engine with no registry (offline, a mirror-only network, a pull limit) has the
    # engine but not the base: that is this machine's limit, not a fault of the image.
    default = re.search(r"^ARG BASE_IMAGE=(\S+)", dockerfile.read_text(), re.M)
    assert default, f"{dockerfile} names no default BASE_IMAGE"
    if not image_id(default.group(1)):
        try:
            pull = subprocess.run(["docker", "pull", default.group(1)], capture_output=True,
                                  text=True, timeout=600, check=False)
            failure = last_line(pull.stderr or pull.stdout) if pull.returncode else ""
        except subprocess.TimeoutExpired:
            failure = "no answer in 600 s"
        if failure:
            docker_unavailable(f"the Docker engine cannot pull the base image "
                               f"{default.group(1)} ({failure})")
    return None


def image_id(name: str) -> str:
    """The id of the image called ``name``, or "" if there is none."""
    result = quietly("image", "inspect", "--format", "{{.Id}}", name, timeout=60)
    return result.stdout.strip() if result.returncode == 0 else ""


def build(tag: str, context: Path, base: str | None) -> str:
    """``tag`` built from ``context`` on ``base``; reruns reuse every unchanged layer."""
    arguments = ["--build-arg", f"BASE_IMAGE={base}"] if base else []
    previous = image_id(tag)
    started = time.monotonic()
    docker("build", "--network", "host", *arguments, "-t", tag, str(context), timeout=1800)
    print(f"\ndocker build {tag} ({base or 'default base'}): {time.monotonic() - started:.0f} s")
    if previous and previous != image_id(tag):
        # The image this build replaced: its own layers are nobody's cache now, and each
        # is a full copy of the file system on the vfs storage docker-local-base uses.
        quietly("rmi", previous)
    return tag
