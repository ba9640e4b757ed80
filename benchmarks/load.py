"""Load test: a classroom hitting one convlens server at once.

    python benchmarks/load.py                     # 50 clients for 60 s (the issue's test)
    python benchmarks/load.py --clients 10 --seconds 10

Starts one server with the default settings (uvicorn, one process) on a free loopback port,
then runs ``--clients`` concurrent clients for ``--seconds``: each sends a mix of
``POST /convolve`` (photos from 0.25 to 4 megapixels, a random preset, stride and padding)
and ``POST /reconstruct`` (drawings). A separate probe asks ``GET /health`` every 50 ms.
Every request gets an answer or counts as lost. It prints requests served, answers by
status, latency percentiles of the admitted (200) requests, /health latency during the
load, and the server's peak resident memory, and writes them to the ``## load.py`` section
of benchmarks/RESULTS.md.

Targets: no 5xx other than the queue's deliberate 503 answers, nothing lost, /health p99
under 100 ms, peak RSS under 1.5 GB, p99 under 5 s for admitted requests.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import io
import random
import sys
import threading
import time
from pathlib import Path

import httpx
import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.results import Report, write_section  # noqa: E402
from tests.drawings import drawing  # noqa: E402
from tests.servers import running_server  # noqa: E402

PRESETS = ["gaussian-blur", "sobel-x", "sharpen", "laplacian", "box-blur", "emboss"]
say = Report()


def photos() -> list[bytes]:
    """The bundled cat photo as JPEGs of 0.25, 1, 2 and 4 megapixels."""
    cat = Image.open(ROOT / "static" / "samples" / "cat.jpg").convert("RGB")
    sizes = [(600, 400), (1200, 800), (1800, 1150), (2450, 1630)]
    result = []
    for size in sizes:
        buffer = io.BytesIO()
        cat.resize(size, Image.Resampling.BICUBIC).save(buffer, "JPEG", quality=90)
        result.append(buffer.getvalue())
    return result


def percentile(values: list[float], fraction: float) -> float:
    return float(np.percentile(values, fraction * 100)) if values else float("nan")


def watch_memory(pid: int, stop: threading.Event, peak: list[int]) -> None:
    """Track the peak resident set size of ``pid`` (Linux /proc)."""
    status = Path(f"/proc/{pid}/status")
    while not stop.is_set():
        try:
            for line in status.read_text().splitlines():
                if line.startswith("VmRSS:"):
                    peak[0] = max(peak[0], int(line.split()[1]) * 1024)
        except OSError:
            return
        stop.wait(0.1)


async def run_load(base: str, clients: int, seconds: float) -> None:
    rng = random.Random(27)
    pictures, drawings = photos(), [drawing(index) for index in range(10)]
    statuses: collections.Counter[str] = collections.Counter()
    latencies: dict[str, list[float]] = {"convolve": [], "reconstruct": []}
    health_latencies: list[float] = []
    deadline = time.perf_counter() + seconds

    async def client_loop(client: httpx.AsyncClient) -> None:
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            if rng.random() < 0.5:
                kind = "convolve"
                request = client.post(
                    f"{base}/convolve",
                    files={"image": ("photo.jpg", rng.choice(pictures), "image/jpeg")},
                    data={"kernel": rng.choice(PRESETS), "stride": str(rng.choice([1, 2])),
                          "padding": rng.choice(["valid", "same"]), "format": "webp"},
                )
            else:
                kind = "reconstruct"
                request = client.post(
                    f"{base}/reconstruct",
                    files={"image": ("digit.png", rng.choice(drawings), "image/png")},
                    data={"model": rng.choice(["seed", "wide", "deconv", "denoise"]),
                          "layers": rng.choice(["true", "false"])},
                )
            try:
                response = await request
            except httpx.HTTPError as error:
                statuses[f"lost ({type(error).__name__})"] += 1
                continue
            statuses[str(response.status_code)] += 1
            if response.status_code == 200:
                latencies[kind].append(time.perf_counter() - started)
            elif response.status_code == 503:
                await asyncio.sleep(float(response.headers.get("retry-after", "1")))

    async def health_probe(client: httpx.AsyncClient) -> None:
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            response = await client.get(f"{base}/health")
            if response.status_code == 200:
                health_latencies.append(time.perf_counter() - started)
            else:
                statuses[f"health {response.status_code}"] += 1
            await asyncio.sleep(0.05)

    limits = httpx.Limits(max_connections=clients + 1)
    async with httpx.AsyncClient(limits=limits, timeout=60) as client, \
            httpx.AsyncClient(timeout=10) as prober:
        await asyncio.gather(health_probe(prober), *(client_loop(client) for _ in range(clients)))

    served = sum(len(values) for values in latencies.values())
    say(f"{clients} clients, {seconds:.0f} s: {served} requests served (200), "
        f"{served / seconds:.1f}/s")
    say("answers by status: " + ", ".join(f"{k}: {v}" for k, v in sorted(statuses.items())))
    admitted = latencies["convolve"] + latencies["reconstruct"]
    for name, values in [*latencies.items(), ("all admitted", admitted),
                         ("/health during load", health_latencies)]:
        say(f"{name:>20}: n={len(values):>5}  p50 {percentile(values, .5) * 1000:7.1f} ms  "
            f"p95 {percentile(values, .95) * 1000:7.1f} ms  "
            f"p99 {percentile(values, .99) * 1000:7.1f} ms")
    errors_5xx = sum(v for k, v in statuses.items() if k.startswith("5") and k != "503")
    lost = sum(v for k, v in statuses.items() if k.startswith("lost"))
    checks = {
        "no 5xx besides deliberate 503s": errors_5xx == 0,
        "nothing lost": lost == 0,
        "/health p99 < 100 ms": percentile(health_latencies, .99) < 0.1,
        "admitted p99 < 5 s": percentile(admitted, .99) < 5.0,
    }
    for name, ok in checks.items():
        say(f"  {'ok' if ok else 'MISSED'}: {name}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=50, help="concurrent clients (50)")
    parser.add_argument("--seconds", type=float, default=60.0, help="how long they send (60)")
    parser.add_argument("--no-write", action="store_true", help="leave RESULTS.md alone")
    args = parser.parse_args()
    stop, peak = threading.Event(), [0]
    with running_server() as (base, server):
        watcher = threading.Thread(target=watch_memory, args=(server.pid, stop, peak),
                                   daemon=True)
        watcher.start()
        try:
            asyncio.run(run_load(base, args.clients, args.seconds))
        finally:
            stop.set()
    ok = peak[0] < 1.5 * 1024**3
    say(f"server peak RSS {peak[0] / 1024**2:.0f} MiB: {'ok' if ok else 'MISSED'} (< 1.5 GB)")
    if not args.no_write:
        write_section("load.py", " ".join(["python", "benchmarks/load.py", *sys.argv[1:]]),
                      say.lines)


if __name__ == "__main__":
    main()
