"""A convlens server for tests and benchmarks: uvicorn in a subprocess on a free loopback port."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import httpx

ROOT = Path(__file__).resolve().parent.parent


UVICORN = ("-m", "uvicorn", "webapp.main:app", "--log-level", "warning", "--no-access-log")
CONVLENS = ("-m", "webapp", "serve")
"""The ``convlens serve`` command, which sets up what several processes share."""


@contextmanager
def running_server(
    *uvicorn_options: str,
    environment: dict[str, str] | None = None,
    log: IO[Any] | int = subprocess.DEVNULL,
    program: Sequence[str] = UVICORN,
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """Start ``uvicorn webapp.main:app`` (or ``program``, given ``--host`` and ``--port``;
    settings from ``environment``, default: this process's), wait for /health, yield
    ``(base URL, process)``, and stop it afterwards. Its output goes to ``log`` (by
    default nowhere: convlens logs one line per request)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    server = subprocess.Popen(
        [sys.executable, *program, "--host", "127.0.0.1", "--port", str(port),
         *uvicorn_options],
        cwd=ROOT,
        env=environment,
        stdout=log,
        stderr=log if log is subprocess.DEVNULL else subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):  # up to a minute: a cold start compiles the numba loops
            try:
                if httpx.get(f"{base}/health").status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        yield base, server
    finally:
        server.terminate()
        server.wait(timeout=20)
