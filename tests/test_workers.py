"""Several server processes (`convlens serve --workers 2`): right answers from each, and
/metrics counting every process's requests, whichever process answers the scrape."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from prometheus_client.exposition import generate_latest
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import CollectorRegistry

from tests.drawings import holdout_digits
from tests.servers import CONVLENS, ROOT, running_server
from webapp.autoencoder.reconstruction import PixelsRequest, reconstruct_pixels
from webapp.autoencoder.registry import ModelRegistry
from webapp.server.app import create_app
from webapp.server.observability import MULTIPROCESS_DIRECTORY, shared_metrics_directory
from webapp.server.settings import Settings

ROUTE = "/reconstruct"


def answered(exposition: str, route: str = ROUTE) -> float:
    """How many requests to ``route`` the exposition counts as answered with 200."""
    return sum(
        sample.value
        for family in text_string_to_metric_families(exposition)
        if family.name == "convlens_requests"
        for sample in family.samples
        if sample.name == "convlens_requests_total"
        and sample.labels["route"] == route and sample.labels["status"] == "200"
    )


def answered_per_process(directory: Path, scratch: Path) -> dict[str, float]:
    """Requests to `ROUTE` per process, read from each process's own counter file."""
    counts = {}
    for file in directory.glob("counter_*.db"):
        alone = scratch / file.stem
        alone.mkdir(exist_ok=True)
        shutil.copy(file, alone / file.name)
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=str(alone))  # type: ignore[no-untyped-call]
        counts[file.stem.removeprefix("counter_")] = answered(generate_latest(registry).decode())
    return counts


def server_environment(tmp_path: Path) -> dict[str, str]:
    """This process's environment, with temporary files (the metrics directory
    `convlens serve` makes among them) under ``tmp_path``."""
    environment = {key: value for key, value in os.environ.items()
                   if key != MULTIPROCESS_DIRECTORY}
    environment["TMPDIR"] = str(tmp_path)
    return environment


def test_one_process_serves_its_own_metrics() -> None:
    with TestClient(create_app()) as client:
        for _ in range(3):
            client.get("/health")
        exposition = client.get("/metrics").text
    assert answered(exposition, "/health") == 3
    families = {family.name: family for family in text_string_to_metric_families(exposition)}
    assert [sample.value for sample in families["convlens_queue_depth"].samples] == [0.0]
    assert ("seed", 1.0) in {(sample.labels["model"], sample.value)
                             for sample in families["convlens_model_provider"].samples}


def test_two_processes_answer_and_metrics_count_every_request(tmp_path: Path) -> None:
    digits, _ = holdout_digits()
    digit = digits[3].tolist()
    expected = reconstruct_pixels(PixelsRequest(pixels=digit),
                                  ModelRegistry(Settings().model_dir, providers="cpu"))
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    with running_server("--workers", "2", program=CONVLENS,
                        environment=server_environment(tmp_path)) as (base, _):
        (directory,) = tmp_path.glob("convlens-metrics-*")

        def reconstruct(_: int) -> httpx.Response:
            # A connection of its own each time: the processes take turns at accepting.
            return httpx.post(f"{base}{ROUTE}", json={"pixels": digit}, timeout=60)

        sent = 0
        answers: list[httpx.Response] = []
        with ThreadPoolExecutor(8) as pool:
            # 40 requests, and more until both processes have answered some.
            while sent < 40 or sum(
                count > 0 for count in answered_per_process(directory, scratch).values()
            ) < 2:
                assert sent < 400, "one process answered every request"
                answers += pool.map(reconstruct, range(8))
                sent += 8
        for answer in answers:
            assert answer.status_code == 200, answer.text
            body = answer.json()
            assert body["model"] == "seed"
            assert body["metrics"]["mse"] == pytest.approx(expected.mse, abs=1e-6)
            assert body["metrics"]["bce"] == pytest.approx(expected.bce, abs=1e-6)
        assert sum(answered_per_process(directory, scratch).values()) == sent

        # Every scrape counts every process's answers, whichever process gives it. A count
        # is written just after its answer is sent: wait for the last few, then never more.
        deadline = time.monotonic() + 10
        while answered(httpx.get(f"{base}/metrics").text) < sent:
            assert time.monotonic() < deadline, "/metrics never counted every request"
        scrapes = [httpx.get(f"{base}/metrics").text for _ in range(8)]
        assert [answered(scrape) for scrape in scrapes] == [sent] * len(scrapes)
        for family in text_string_to_metric_families(scrapes[-1]):
            if family.name == "convlens_model_provider":
                assert {(s.labels["model"], s.value) for s in family.samples} >= {("seed", 1.0)}
            if family.name == "convlens_queue_depth":
                assert [s.value for s in family.samples] == [0.0]
    # The directory is convlens serve's own: gone once the processes have stopped.
    assert not directory.exists()


PROCESS = """
import json, os, sys
from fastapi.testclient import TestClient
from webapp.server.app import create_app

app = create_app()
with TestClient(app) as client:
    for _ in range(int(sys.argv[1])):
        client.get("/health")
    files = sorted(os.listdir(os.environ["PROMETHEUS_MULTIPROC_DIR"]))
    exposition = app.state.metrics.exposition()[0].decode()
print(json.dumps({"pid": os.getpid(), "files": files, "exposition": exposition,
                  "after": sorted(os.listdir(os.environ["PROMETHEUS_MULTIPROC_DIR"]))}))
"""


def one_process(directory: Path, requests: int) -> dict[str, Any]:
    """A process of a multiprocess server: start, answer ``requests`` GET /health, stop."""
    finished = subprocess.run(
        [sys.executable, "-c", PROCESS, str(requests)], cwd=ROOT, capture_output=True,
        text=True, timeout=120, env={**os.environ, MULTIPROCESS_DIRECTORY: str(directory)},
    )
    assert finished.returncode == 0, finished.stderr
    found: dict[str, Any] = json.loads(finished.stdout.splitlines()[-1])
    return found


def test_a_process_that_stops_keeps_its_counts_but_not_its_queue(tmp_path: Path) -> None:
    first = one_process(tmp_path, 3)
    assert f"gauge_livesum_{first['pid']}.db" in first["files"]
    # Gone at shutdown: a process that has stopped has no queue.
    assert f"gauge_livesum_{first['pid']}.db" not in first["after"]
    assert f"counter_{first['pid']}.db" in first["after"]
    second = one_process(tmp_path, 2)
    assert answered(first["exposition"], "/health") == 3
    # The requests the stopped process answered still count.
    assert answered(second["exposition"], "/health") == 5


def test_the_metrics_directory_is_made_for_several_processes_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(MULTIPROCESS_DIRECTORY, raising=False)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    with shared_metrics_directory(1):
        assert MULTIPROCESS_DIRECTORY not in os.environ
    with shared_metrics_directory(2):
        made = Path(os.environ[MULTIPROCESS_DIRECTORY])
        assert made.parent == tmp_path and made.is_dir()
    assert not made.exists() and MULTIPROCESS_DIRECTORY not in os.environ
    # The operator's own directory is used as it is, and kept.
    own = tmp_path / "own"
    own.mkdir()
    monkeypatch.setenv(MULTIPROCESS_DIRECTORY, str(own))
    with shared_metrics_directory(4):
        assert os.environ[MULTIPROCESS_DIRECTORY] == str(own)
    assert own.is_dir() and os.environ[MULTIPROCESS_DIRECTORY] == str(own)
