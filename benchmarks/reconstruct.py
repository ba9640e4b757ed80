"""Benchmark the autoencoders: in-process latency, and /reconstruct against /health over HTTP.

    python benchmarks/reconstruct.py            # about a minute
    python benchmarks/reconstruct.py --no-latency --rounds 9   # only /reconstruct vs /health

1. In-process latency of each model (`OnnxAutoencoder.run`) at batch 1 and batch 256, median of
   many runs, with the time per digit. Target: batch 1 under 1 ms on the CPU.
2. HTTP throughput of `POST /reconstruct` (a 280x280 PNG drawing: decoding, MNIST
   preprocessing, the seed model and the JSON answer) against `GET /health` on the same
   one-worker uvicorn server, with the same concurrency, in rounds: each round measures
   /health, then /reconstruct, and gives one ratio; the median ratio is the result. A
   round's two rates are a few seconds apart, so a neighbour's load on this shared machine
   moves both; rates measured minutes apart would not share it.
   Target: /reconstruct at least half of /health's requests per second, i.e. the model and
   the preprocessing cost no more than the framework does. Printed with it: the CPU time
   per request of the server and of this client (Linux /proc), since both share the
   machine's cores: on 2 cores the client's share decides much of either rate.

   The client sends the drawing as one multipart/form-data body encoded once, as load
   tools (wrk, hey, ab -p) send a prepared body: the server reads the very bytes that
   httpx's ``files=`` would send. Encoded per request, httpx writes the form to the socket
   in many small pieces, which cost this client more CPU per request than the whole
   /health request costs the server, taken from the cores the server runs on.
   ``--encode-each-time`` measures that way instead.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.results import Report, write_section  # noqa: E402
from tests.drawings import drawing, holdout_digits  # noqa: E402
from tests.servers import running_server  # noqa: E402
from webapp.autoencoder.registry import ModelRegistry  # noqa: E402
from webapp.server.settings import Settings  # noqa: E402

say = Report()
"""The tables as printed, kept for benchmarks/RESULTS.md."""

def latency_table() -> None:
    models = ModelRegistry(Settings().model_dir, providers="cpu")
    digits = holdout_digits()[0][:256].astype(np.float32) / 255.0
    say("1. In-process latency (CPU), median")
    say(f"{'model':>8} {'params':>7} {'batch 1 ms':>11} {'batch 256 ms':>13} {'per digit ms':>13}"
          f" {'target':>8}")
    for model in models:
        one = digits[:1]
        for _ in range(20):
            model.run(one)
        singles = []
        for _ in range(300):
            started = time.perf_counter()
            model.run(one)
            singles.append(time.perf_counter() - started)
        batches = []
        for _ in range(7):
            started = time.perf_counter()
            model.run(digits)
            batches.append(time.perf_counter() - started)
        single, batch = statistics.median(singles) * 1000, statistics.median(batches) * 1000
        flag = "ok" if single < 1.0 else "MISSED"
        say(f"{model.name:>8} {model.params:>7} {single:>11.3f} {batch:>13.1f} "
              f"{batch / 256:>13.4f} {'< 1 ms':>8} {flag}")


async def throughput(send: Callable[[httpx.AsyncClient], Awaitable[httpx.Response]],
                     client: httpx.AsyncClient, seconds: float, concurrency: int) -> float:
    """Requests per second that ``concurrency`` clients get answered with 200."""
    done = 0
    deadline = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal done
        while time.perf_counter() < deadline:
            response = await send(client)
            assert response.status_code == 200, response.text
            done += 1

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return done / (time.perf_counter() - started)


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds that process ``pid`` has used (all its threads); 0 where
    /proc is missing."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def measured(send: Callable[[httpx.AsyncClient], Awaitable[httpx.Response]],
                   client: httpx.AsyncClient, seconds: float, concurrency: int,
                   server_pid: int) -> tuple[float, float, float]:
    """``(requests per second, server CPU ms per request, client CPU ms per request)``."""
    server_before, client_before = cpu_seconds(server_pid), time.process_time()
    started = time.perf_counter()
    rate = await throughput(send, client, seconds, concurrency)
    requests = max(rate * (time.perf_counter() - started), 1.0)
    return (rate, (cpu_seconds(server_pid) - server_before) * 1000 / requests,
            (time.process_time() - client_before) * 1000 / requests)


async def http_table(base: str, server_pid: int, seconds: float, concurrency: int,
                     rounds: int, encode_each_time: bool = False) -> None:
    picture = drawing()

    async def health(client: httpx.AsyncClient) -> httpx.Response:
        return await client.get(f"{base}/health")

    async def reconstruct_encoding_each_time(client: httpx.AsyncClient) -> httpx.Response:
        return await client.post(f"{base}/reconstruct",
                                 files={"image": ("d.png", picture, "image/png")},
                                 data={"model": "seed"})

    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:
        form = client.build_request("POST", f"{base}/reconstruct",
                                    files={"image": ("d.png", picture, "image/png")},
                                    data={"model": "seed"})
        body, content_type = form.read(), form.headers["content-type"]

        async def reconstruct_encoded_once(client: httpx.AsyncClient) -> httpx.Response:
            return await client.post(f"{base}/reconstruct", content=body,
                                     headers={"content-type": content_type})

        reconstruct = (reconstruct_encoding_each_time if encode_each_time
                       else reconstruct_encoded_once)
        await throughput(health, client, 0.5, concurrency)  # warm-up
        await throughput(reconstruct, client, 0.5, concurrency)
        health_runs, reconstruct_runs = [], []
        for _ in range(rounds):
            health_runs.append(
                await measured(health, client, seconds, concurrency, server_pid))
            reconstruct_runs.append(
                await measured(reconstruct, client, seconds, concurrency, server_pid))
    ratios = sorted(done[0] / reference[0]
                    for done, reference in zip(reconstruct_runs, health_runs, strict=True))
    ratio = statistics.median(ratios)
    health_rate, health_server, health_client = (
        statistics.median(run[i] for run in health_runs) for i in range(3))
    reconstruct_rate, reconstruct_server, reconstruct_client = (
        statistics.median(run[i] for run in reconstruct_runs) for i in range(3))
    sending = "encoded per request" if encode_each_time else "one body encoded once"
    say(f"\n2. HTTP throughput, one uvicorn worker, {concurrency} concurrent clients, "
          f"{rounds} rounds of {seconds:g} s each ({sending}):")
    say(f"   GET /health {health_rate:.0f} req/s, POST /reconstruct {reconstruct_rate:.0f} req/s "
          "(medians)")
    say(f"   ratio per round {' '.join(f'{value:.2f}' for value in ratios)}: "
          f"median {ratio:.2f} (target >= 0.5) {'ok' if ratio >= 0.5 else 'MISSED'}")
    say(f"   CPU per request, server / this client: /health {health_server:.1f} / "
          f"{health_client:.1f} ms, /reconstruct {reconstruct_server:.1f} / "
          f"{reconstruct_client:.1f} ms ({os.cpu_count()} cores in all)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="per measurement")
    parser.add_argument("--rounds", type=int, default=5,
                        help="pairs of measurements (/health, then /reconstruct)")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--encode-each-time", action="store_true",
                        help="let httpx encode the multipart form for every request")
    parser.add_argument("--no-latency", action="store_true", help="only the HTTP table")
    parser.add_argument("--no-write", action="store_true",
                        help="print only; leave benchmarks/RESULTS.md alone")
    args = parser.parse_args()
    if not args.no_latency:
        latency_table()
    with running_server("--workers", "1") as (base, server):
        asyncio.run(http_table(base, server.pid, args.seconds, args.concurrency, args.rounds,
                               args.encode_each_time))

    if not args.no_write:
        write_section(
            "reconstruct.py", "python benchmarks/reconstruct.py " + " ".join(sys.argv[1:]),
            say.lines,
        )


if __name__ == "__main__":
    main()
