"""Measure one server process's resident memory, idle and under heavy requests.

The memory requests and limits of deploy/kubernetes and deploy/swarm come from this: it
starts ``uvicorn webapp.main:app`` on a loopback port, sends a warm-up, then has 4 clients
send photos of SIZE x SIZE pixels to /convolve and drawings to /reconstruct, and prints
the process's RSS (sampled every 0.1 s) and its peak (VmHWM).

    .venv/bin/python deploy/memory.py --size 1024      # a megapixel photo
    .venv/bin/python deploy/memory.py --size 4096      # the largest (CONVLENS_MAX_PIXELS)
"""

from __future__ import annotations

import argparse
import io
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.drawings import drawing  # noqa: E402


def mebibytes(pid: int, key: str) -> float:
    """A ``/proc/PID/status`` size line (VmRSS, VmHWM) in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024
    raise KeyError(key)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1024, help="photo side (default: %(default)s)")
    parser.add_argument("--port", type=int, default=8765,
                        help="loopback port (default: %(default)s)")
    parser.add_argument("--requests", type=int, default=8, help="per client (default: %(default)s)")
    arguments = parser.parse_args()
    url = f"http://127.0.0.1:{arguments.port}"
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "webapp.main:app", "--port", str(arguments.port),
         "--no-access-log"], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        started = time.monotonic()
        while server.poll() is None:
            try:
                if httpx.get(url + "/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        else:
            raise SystemExit(f"the server exited with {server.returncode}")
        print(f"ready after {time.monotonic() - started:.1f} s: "
              f"RSS {mebibytes(server.pid, 'VmRSS'):.0f} MiB")
        cat = (ROOT / "static" / "samples" / "cat.jpg").read_bytes()
        for _ in range(3):
            httpx.post(url + "/convolve", files={"image": ("cat.jpg", cat, "image/jpeg")},
                       data={"kernel": "sobel-x"}, timeout=60)
        print(f"idle after a warm-up: RSS {mebibytes(server.pid, 'VmRSS'):.0f} MiB")
        buffer = io.BytesIO()
        with Image.open(io.BytesIO(cat)) as image:
            image.convert("RGB").resize((arguments.size, arguments.size)).save(
                buffer, "JPEG", quality=90)
        photo, digit = buffer.getvalue(), drawing()
        statuses: Counter[int] = Counter()

        def client() -> None:
            with httpx.Client(base_url=url, timeout=120) as http:
                for turn in range(arguments.requests):
                    if turn % 2:
                        kernel = "gaussian-blur-5" if turn % 4 == 1 else "sobel-x"
                        answer = http.post("/convolve", data={"kernel": kernel}, files={
                            "image": ("photo.jpg", photo, "image/jpeg")})
                    else:
                        answer = http.post("/reconstruct", headers={"Accept": "application/json"},
                                           files={"image": ("digit.png", digit, "image/png")})
                    statuses[answer.status_code] += 1

        clients = [threading.Thread(target=client) for _ in range(4)]
        samples: list[float] = []
        for thread in clients:
            thread.start()
        while any(thread.is_alive() for thread in clients):
            samples.append(mebibytes(server.pid, "VmRSS"))
            time.sleep(0.1)
        print(f"4 clients, {arguments.size}x{arguments.size} photos and drawings, "
              f"answers {dict(statuses)}: RSS at most {max(samples):.0f} MiB sampled, "
              f"peak {mebibytes(server.pid, 'VmHWM'):.0f} MiB, "
              f"after {mebibytes(server.pid, 'VmRSS'):.0f} MiB")
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
