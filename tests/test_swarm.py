"""deploy/swarm/stack.yml on a real Docker Swarm: replicas behind haproxy lose no request.

A one-node swarm on the local engine (tests/dockerhost.py starts it): three replicas of
the image tests/test_docker.py builds, haproxy in front, published on a free loopback port.
Requests spread over every replica; one replica killed under load, a rolling update under
load, and a scale from 3 to 1 and back lose no request, because haproxy retries what a dying
replica failed (deploy/swarm/haproxy.cfg). Each load phase prints what it measured.

Everything the test makes (the stack, its network and config, the swarm itself if it
made it) is removed when the module ends, passed or failed. It skips where Docker cannot
run, except under ``CI=true``, where it fails.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np
import pytest

from tests import dockerhost
from tests.conftest import encode
from tests.dockerhost import docker, quietly
from tests.drawings import drawing

pytestmark = [pytest.mark.docker, pytest.mark.swarm]

ROOT = Path(__file__).resolve().parents[1]
SWARM = ROOT / "deploy" / "swarm"
# The image tests/test_docker.py builds: one image on disk for both, built once.
APP_IMAGE = "convlens-test"
HAPROXY_IMAGE = "convlens-haproxy-test"
STACK = "convlens-swarm-test"
SERVICE = f"{STACK}_convlens"
REPLICAS = 3
CLIENTS = 4
LOAD_SECONDS = 20.0
# A replica's start: a copy of the image's file system (vfs), the app's start-up, health.
SETTLE_SECONDS = 240.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def swarm_state() -> str:
    return docker("info", "--format", "{{.Swarm.LocalNodeState}}").strip()


@pytest.fixture(scope="module")
def swarm(request: pytest.FixtureRequest) -> None:
    """A swarm to deploy on: this node's, or one made here and left at the end."""
    base = dockerhost.base_image()
    dockerhost.build(APP_IMAGE, ROOT, base)
    dockerhost.build(HAPROXY_IMAGE, SWARM / "haproxy", base)
    if swarm_state() == "active":
        return
    had_bridge = bool(quietly("network", "inspect", "docker_gwbridge").stdout.strip("[]\n "))

    def leave() -> None:
        quietly("swarm", "leave", "--force", timeout=120)
        if not had_bridge:
            # Made by swarm init for the node's side of its overlay networks.
            quietly("network", "rm", "docker_gwbridge")

    request.addfinalizer(leave)
    # Loopback only: a one-node swarm that no other machine is asked to join. One old task
    # kept per slot, not five: on vfs each is a full copy of the image.
    docker("swarm", "init", "--advertise-addr", "127.0.0.1", "--listen-addr", "127.0.0.1:2377",
           "--task-history-limit", "1")


@dataclass
class Stack:
    url: str

    def tasks(self) -> list[str]:
        """The ids of the app's containers running now."""
        return docker("ps", "--quiet", "--filter", f"label=com.docker.swarm.service.name={SERVICE}",
                      "--filter", "status=running").split()

    def served_by(self, requests: int = 60) -> Counter[str]:
        with httpx.Client(base_url=self.url, timeout=10) as client:
            return Counter(client.get("/health").headers.get("x-served-by", "")
                           for _ in range(requests))

    def settle(self, replicas: int) -> float:
        """Seconds until ``replicas`` tasks are healthy and haproxy sends to each of them."""
        started = time.monotonic()
        while True:
            try:
                healthy = len([task for task in self.tasks() if health(task) == "healthy"])
                spread = self.served_by()
            except httpx.HTTPError:
                healthy, spread = 0, Counter()
            if healthy == replicas and len(spread) == replicas and "" not in spread:
                return time.monotonic() - started
            if time.monotonic() - started > SETTLE_SECONDS:
                logs = quietly("service", "logs", "--tail", "20", f"{STACK}_haproxy").stdout
                pytest.fail(f"not {replicas} healthy replicas behind haproxy after "
                            f"{SETTLE_SECONDS:.0f} s: {healthy} healthy, spread {dict(spread)}"
                            f"\n{docker('service', 'ps', SERVICE)}\n{logs}", pytrace=False)
            time.sleep(1)


def health(container: str) -> str:
    result = quietly("inspect", "--format", "{{json .State.Health}}", container)
    if result.returncode != 0 or result.stdout.strip() == "null":
        return ""
    status: str = json.loads(result.stdout)["Status"]
    return status


@pytest.fixture(scope="module")
def stack(swarm: None, request: pytest.FixtureRequest) -> Iterator[Stack]:
    port = free_port()
    environment = {**os.environ, "CONVLENS_IMAGE": APP_IMAGE, "HAPROXY_IMAGE": HAPROXY_IMAGE,
                   "CONVLENS_PORT": str(port), "CONVLENS_REPLICAS": str(REPLICAS)}

    def remove() -> None:
        quietly("stack", "rm", STACK)
        # stack rm returns before the containers and the network are gone.
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            left = quietly("ps", "--all", "--quiet", "--filter",
                           f"label=com.docker.stack.namespace={STACK}").stdout.split()
            networks = quietly("network", "ls", "--quiet", "--filter",
                               f"label=com.docker.stack.namespace={STACK}").stdout.split()
            if not left and not networks:
                return
            if not left:
                quietly("network", "rm", *networks)
            time.sleep(1)

    request.addfinalizer(remove)
    deployed = subprocess.run(
        ["docker", "stack", "deploy", "--resolve-image", "never", "--compose-file",
         str(SWARM / "stack.yml"), STACK],
        capture_output=True, text=True, timeout=120, check=False, env=environment, cwd=SWARM,
    )
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr
    stack = Stack(f"http://127.0.0.1:{port}")
    print(f"\n{REPLICAS} replicas healthy behind haproxy {stack.settle(REPLICAS):.0f} s "
          "after docker stack deploy")
    yield stack


@dataclass
class Load:
    """``CLIENTS`` threads sending a mix of requests through haproxy until stopped."""

    url: str
    answered: Counter[str] = field(default_factory=Counter)
    served_by: Counter[str] = field(default_factory=Counter)
    lost: list[str] = field(default_factory=list)
    stopping: threading.Event = field(default_factory=threading.Event)
    seconds: float = 0.0

    def requests(self) -> list[tuple[str, Callable[[httpx.Client], httpx.Response],
                                     Callable[[httpx.Response], bool]]]:
        digit = drawing()
        photo = encode(np.full((48, 64, 3), 90, dtype=np.uint8))
        return [
            ("GET /health", lambda client: client.get("/health"),
             lambda answer: answer.json()["status"] == "ok"),
            ("POST /reconstruct", lambda client: client.post(
                "/reconstruct", files={"image": ("digit.png", digit, "image/png")},
                headers={"Accept": "application/json"}),
             lambda answer: len(answer.json()["reconstruction"]["pixels"]) == 28),
            ("POST /convolve", lambda client: client.post(
                "/convolve", files={"image": ("photo.png", photo, "image/png")},
                data={"kernel": "sobel-x"}),
             lambda answer: answer.content.startswith(b"\x89PNG")),
        ]

    def client(self, offset: int) -> None:
        requests = self.requests()
        with httpx.Client(base_url=self.url, timeout=60) as client:
            turn = offset
            while not self.stopping.is_set():
                name, send, good = requests[turn % len(requests)]
                turn += 1
                try:
                    answer = send(client)
                    if answer.status_code == 200 and good(answer):
                        self.answered[name] += 1
                        self.served_by[answer.headers.get("x-served-by", "?")] += 1
                    else:
                        self.lost.append(f"{name}: {answer.status_code} {answer.text[:200]}")
                except (httpx.HTTPError, ValueError, KeyError) as error:
                    self.lost.append(f"{name}: {type(error).__name__} {error}")

    def during(self, action: Callable[[], object], at_least: float = LOAD_SECONDS) -> None:
        """Run the load while ``action`` runs, and for ``at_least`` seconds in all."""
        threads = [threading.Thread(target=self.client, args=(offset,))
                   for offset in range(CLIENTS)]
        started = time.monotonic()
        for thread in threads:
            thread.start()
        try:
            time.sleep(min(5.0, at_least / 4))
            action()
            time.sleep(max(0.0, at_least - (time.monotonic() - started)))
        finally:
            self.stopping.set()
            for thread in threads:
                thread.join(timeout=120)
        self.seconds = time.monotonic() - started

    def report(self, what: str) -> str:
        total = sum(self.answered.values()) + len(self.lost)
        return (f"\n{what}: {total} requests from {CLIENTS} clients in {self.seconds:.0f} s, "
                f"{len(self.lost)} lost; answered {dict(self.answered)}; "
                f"by replica {dict(sorted(self.served_by.items()))}")


def test_requests_spread_over_every_replica(stack: Stack) -> None:
    spread = stack.served_by(REPLICAS * 20)
    print(f"\n{REPLICAS * 20} requests: {dict(sorted(spread.items()))}")
    assert len(spread) == REPLICAS, spread
    # Round robin over healthy replicas: an even share each.
    assert set(spread.values()) == {20}, spread


def test_a_killed_replica_loses_no_request(stack: Stack) -> None:
    load = Load(stack.url)
    victim = stack.tasks()[0]
    load.during(lambda: docker("kill", victim))
    print(load.report(f"docker kill {victim[:12]} under load"))
    assert load.lost == [], load.lost[:10]
    assert sum(load.answered.values()) > 100, load.answered
    print(f"the swarm replaced it: {REPLICAS} healthy again "
          f"{stack.settle(REPLICAS):.0f} s after the load")


def test_a_rolling_update_loses_no_request(stack: Stack) -> None:
    load = Load(stack.url)
    before = set(stack.tasks())
    timings: dict[str, float] = {}

    def update() -> None:
        started = time.monotonic()
        # Without --detach the command returns once every task is replaced and stable.
        docker("service", "update", "--force", "--detach=false", "--quiet", SERVICE,
               timeout=SETTLE_SECONDS * REPLICAS)
        timings["update"] = time.monotonic() - started

    load.during(update)
    print(load.report(f"docker service update --force under load ({timings['update']:.0f} s)"))
    assert load.lost == [], load.lost[:10]
    assert not before & set(stack.tasks()), "the update replaced no task"
    stack.settle(REPLICAS)


def test_scaling_down_and_up_loses_no_request(stack: Stack) -> None:
    for replicas in (1, REPLICAS):
        load = Load(stack.url)

        def scale(replicas: int = replicas) -> None:
            docker("service", "scale", "--detach=false", f"{SERVICE}={replicas}",
                   timeout=SETTLE_SECONDS)

        load.during(scale, at_least=10.0)
        print(load.report(f"docker service scale to {replicas} under load"))
        assert load.lost == [], load.lost[:10]
        print(f"{replicas} replicas serving {stack.settle(replicas):.0f} s after the load")
        assert len(stack.tasks()) == replicas
