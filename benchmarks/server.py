"""One convlens server for a benchmark: uvicorn in a subprocess on a free loopback port."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent


@contextmanager
def running_server(*uvicorn_options: str) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """Start ``uvicorn webapp.main:app`` (default settings), wait for /health, yield
    ``(base URL, process)``, and stop it afterwards."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "webapp.main:app", "--host", "127.0.0.1",
         "--port", str(port), "--log-level", "warning", "--no-access-log", *uvicorn_options],
        cwd=ROOT,
        stderr=subprocess.DEVNULL,  # convlens's own access log: one line per request
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                if httpx.get(f"{base}/health").status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        yield base, server
    finally:
        server.terminate()
        server.wait(timeout=20)
