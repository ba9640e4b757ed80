"""deploy/swarm/stack.yml on a real Docker Swarm: replicas behind haproxy lose no request.

A one-node swarm on the local engine (tests/dockerhost.py starts it): three replicas of
the image tests/test_docker.py builds, haproxy in front, published on a free loopback port.
Requests spread over every replica; one replica killed under load, a rolling update under
load, and a scale from 3 to 1 and back lose no request, because haproxy retries what a dying
replica failed (deploy/swarm/haproxy.cfg). Each load phase prints what it measured.

Beside the programs (which keep no cookies, so haproxy balances them round robin) one
learner's browser works the /convolve page as static/js/convolve.js does: it uploads its
photo once and then sends the photo's key, kept on the replica that holds the photo by
haproxy's cookie. The killed replica is that one: the learner's next change is answered
410 photo-expired by another replica, the photo goes again with that change, and no change
is lost.

Everything the test makes (the stack, its network and config, the swarm itself if it
made it) is removed when the module ends, passed or failed. It skips where Docker cannot
run, except under ``CI=true``, where it fails.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.cookiejar import CookieJar, DefaultCookiePolicy
from pathlib import Path

import httpx
import numpy as np
import pytest

from tests import dockerhost
from tests.conftest import encode, gradient_photo
from tests.dockerhost import docker, quietly
from tests.drawings import drawing
from tests.test_pages import browser_form
from webapp.server.photocache import photo_key

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
# Load kept up after the kill, so that the learner's next changes meet the loss.
AFTER_KILL_SECONDS = 10.0


def cookieless(url: str, timeout: float) -> httpx.Client:
    """A program's client: it keeps no cookie, so haproxy balances its requests round robin
    (httpx keeps cookies by default, and haproxy's affinity cookie would pin it)."""
    return httpx.Client(base_url=url, timeout=timeout,
                        cookies=CookieJar(policy=DefaultCookiePolicy(allowed_domains=[])))


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
        with cookieless(self.url, timeout=10) as client:
            return Counter(client.get("/health").headers.get("x-served-by", "")
                           for _ in range(requests))

    def photo_holder(self) -> str:
        """The app container serving the learner's keyed changes now: the one whose photo
        cache finds keys, asked of each replica itself (its /metrics, by docker exec), not
        of haproxy. Programs never use the cache, and affinity keeps the learner on one
        replica, so exactly one replica's hits grow."""
        tasks = self.tasks()
        asked = [subprocess.Popen(["docker", "exec", task, "python", "-c", CACHE_HITS_GROWTH],
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
                 for task in tasks]
        growth = {task: process.communicate(timeout=60)[0].strip()
                  for task, process in zip(tasks, asked, strict=True)}
        holders = [task for task, grew in growth.items() if grew.isdigit() and int(grew) > 0]
        assert len(holders) == 1, (
            f"photo cache hits that grew in 2 s, by replica: {growth}; exactly one replica "
            "should hold the learner's photo and answer its keyed changes (haproxy's cookie)")
        return holders[0]

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


CACHE_HITS_GROWTH = """
import time, urllib.request
def hits():
    metrics = urllib.request.urlopen("http://127.0.0.1:8000/metrics", timeout=10).read()
    return sum(float(line.split()[-1]) for line in metrics.decode().splitlines()
               if line.startswith("convlens_photo_cache_hits"))
first = hits()
time.sleep(2)
print(int(hits() - first))
"""
"""Run in an app container: by how much its photo cache's hits grew in 2 s."""


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


PAGE = {"HX-Request": "true"}
PHOTO_SIZE = (150, 200)
# The learner's changes, in turn: a kernel and a stride (3 x 3 kernels, no padding).
CHANGES = (("sobel-x", 1), ("box-blur", 2), ("sharpen", 3), ("sobel-y", 2))
KEPT_KEY = re.compile(r'data-photo-key="([0-9a-f]*)"')
INPUT_PICTURE = re.compile(r'id="input-image" src="([^"]+)"')
# The photo-expired problem (urn:convlens:problem:photo-expired) as the page gets it: a
# fragment for the photo_key field's error slot (webapp/server/problems.py).
PHOTO_EXPIRED = ('data-field="photo_key" data-status="410"', "<strong>Photo expired.</strong>")


def learner_photo() -> bytes:
    """A small photo (well under haproxy's 32 KiB buffer, so its upload is retried like
    any request), a new one for each learner: a key no replica holds from an earlier one."""
    pixels = gradient_photo(*PHOTO_SIZE)
    pixels[:8, :8] = np.random.default_rng().integers(0, 256, (8, 8, 3), dtype=np.uint8)
    return encode(pixels, "JPEG", quality=90)


def output_shape(stride: int) -> str:
    """The output's size the page shows for a 3 x 3 kernel at ``stride``."""
    height, width = ((side - 3) // stride + 1 for side in PHOTO_SIZE)
    return f"{height} \u00d7 {width} \u00d7 3"


def is_photo_expired(answer: httpx.Response) -> bool:
    return (answer.status_code == 410 and "#error-photo_key" in answer.headers.get(
        "hx-retarget", "") and all(part in answer.text for part in PHOTO_EXPIRED))


@dataclass
class PhotoClient:
    """One learner's browser on the /convolve page, as static/js/convolve.js behaves: the
    photo goes once, and every later change sends the key the answer named (data-photo-key)
    instead; a change answered 410 photo-expired goes again with the photo. It keeps
    haproxy's cookie, as a browser does. Every answer is logged as (when it came, what it
    was, which replica answered): upload, change (by key), expired (a 410), picture."""

    url: str
    photo: bytes = field(default_factory=learner_photo)
    key: str = ""
    log: list[tuple[float, str, str]] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)

    def count(self, kind: str, since: float = 0.0, until: float = float("inf")) -> int:
        return sum(1 for when, what, _ in self.log if what == kind and since <= when < until)

    def replicas(self, since: float = 0.0, until: float = float("inf")) -> Counter[str]:
        return Counter(by for when, _, by in self.log if since <= when < until)

    def run(self, stopping: threading.Event) -> None:
        pictures: set[str] = set()  # the browser keeps them (immutable)
        with httpx.Client(base_url=self.url, timeout=60) as browser:
            turn = 0
            while not stopping.is_set():
                kernel, stride = CHANGES[turn % len(CHANGES)]
                turn += 1
                fields = {"kernel": kernel, "stride": str(stride), "max_side": "1024"}
                try:
                    if self.key:
                        answer = self.send(browser, None, {**fields, "photo_key": self.key})
                        if is_photo_expired(answer):
                            self.logged("expired", answer)
                            self.key = ""  # the same change goes again, with the photo
                        else:
                            self.shown(answer, stride, "change")
                            continue
                    answer = self.send(browser, self.photo, fields)
                    self.key = self.shown(answer, stride, "upload")
                    picture = INPUT_PICTURE.search(answer.text)
                    if self.key and picture and picture.group(1) not in pictures:
                        fetched = browser.get(picture.group(1))
                        if fetched.status_code == 200:
                            pictures.add(picture.group(1))
                            self.logged("picture", fetched)
                        elif fetched.status_code == 410:
                            self.logged("expired", fetched)
                            self.key = ""  # the page sends the photo again, once
                        else:
                            self.failed.append(f"GET {picture.group(1)}: "
                                               f"{fetched.status_code} {fetched.text[:200]}")
                except httpx.HTTPError as error:
                    self.failed.append(f"{kernel} stride {stride} "
                                       f"({'by key' if self.key else 'upload'}): "
                                       f"{type(error).__name__} {error}")

    def send(self, browser: httpx.Client, photo: bytes | None,
             fields: dict[str, str]) -> httpx.Response:
        body, content_type = browser_form(photo, fields)
        return browser.post("/convolve", content=body,
                            headers={"content-type": content_type, **PAGE})

    def shown(self, answer: httpx.Response, stride: int, kind: str) -> str:
        """The key the answer names, once it is checked to show this change; "" if not."""
        kept = KEPT_KEY.search(answer.text)
        if (answer.status_code != 200 or output_shape(stride) not in answer.text
                or not kept or kept.group(1) != photo_key(self.photo)):
            self.failed.append(f"{kind} (stride {stride}): {answer.status_code} "
                               f"{answer.text[:300]}")
            return ""
        self.logged(kind, answer)
        return kept.group(1)

    def logged(self, kind: str, answer: httpx.Response) -> None:
        self.log.append((time.monotonic(), kind, answer.headers.get("x-served-by", "?")))

    def report(self) -> str:
        return (f"\nthe learner: {self.count('upload')} uploads, {self.count('change')} "
                f"changes by key, {self.count('expired')} answered 410 photo-expired and "
                f"sent again with the photo, {len(self.failed)} failed; "
                f"by replica {dict(sorted(self.replicas().items()))}")


@dataclass
class Load:
    """``CLIENTS`` programs sending a mix of requests through haproxy until stopped, and a
    learner on the /convolve page (`PhotoClient`)."""

    url: str
    answered: Counter[str] = field(default_factory=Counter)
    served_by: Counter[str] = field(default_factory=Counter)
    lost: list[str] = field(default_factory=list)
    stopping: threading.Event = field(default_factory=threading.Event)
    seconds: float = 0.0
    learner: PhotoClient = field(init=False)

    def __post_init__(self) -> None:
        self.learner = PhotoClient(self.url)

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
        with cookieless(self.url, timeout=60) as client:
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

    def during(self, action: Callable[[], object], at_least: float = LOAD_SECONDS,
               after: float = 0.0) -> None:
        """Run the load while ``action`` runs, for ``at_least`` seconds in all and
        ``after`` seconds at least after the action."""
        threads = [threading.Thread(target=self.client, args=(offset,))
                   for offset in range(CLIENTS)]
        threads.append(threading.Thread(target=self.learner.run, args=(self.stopping,)))
        started = time.monotonic()
        for thread in threads:
            thread.start()
        try:
            time.sleep(min(5.0, at_least / 4))
            action()
            time.sleep(max(after, at_least - (time.monotonic() - started)))
        finally:
            self.stopping.set()
            for thread in threads:
                thread.join(timeout=120)
        self.seconds = time.monotonic() - started

    def report(self, what: str) -> str:
        total = sum(self.answered.values()) + len(self.lost)
        return (f"\n{what}: {total} requests from {CLIENTS} clients in {self.seconds:.0f} s, "
                f"{len(self.lost)} lost; answered {dict(self.answered)}; "
                f"by replica {dict(sorted(self.served_by.items()))}{self.learner.report()}")

    def assert_nothing_lost(self) -> None:
        """No program's request failed, and every change the learner made was shown: by
        key, or after a 410 photo-expired with the photo sent again."""
        assert self.lost == [], self.lost[:10]
        assert self.learner.failed == [], self.learner.failed[:10]
        assert self.learner.count("upload") > 0, "the learner's photo never went"


def test_requests_spread_over_every_replica(stack: Stack) -> None:
    spread = stack.served_by(REPLICAS * 20)
    print(f"\n{REPLICAS * 20} requests: {dict(sorted(spread.items()))}")
    assert len(spread) == REPLICAS, spread
    # Round robin over healthy replicas: an even share each.
    assert set(spread.values()) == {20}, spread


def test_a_killed_replica_loses_no_request(stack: Stack) -> None:
    """The replica killed is the one holding the learner's photo: the programs lose
    nothing, and the learner's photo goes again once, with the change it was making."""
    load = Load(stack.url)
    learner = load.learner
    killed: dict[str, float | str] = {}

    def kill_the_photos_replica() -> None:
        victim = stack.photo_holder()
        killed.update(victim=victim, at=time.monotonic())
        docker("kill", victim)

    load.during(kill_the_photos_replica, after=AFTER_KILL_SECONDS)
    at = float(killed["at"])
    print(load.report(f"docker kill {str(killed['victim'])[:12]} (the replica holding the "
                      "learner's photo) under load"))
    load.assert_nothing_lost()
    assert sum(load.answered.values()) > 100, load.answered
    before, after = learner.replicas(until=at), learner.replicas(since=at)
    # The cookie at work: one replica, and not one re-upload, while nothing died.
    assert len(before) == 1 and learner.count("change", until=at) > 0, before
    assert learner.count("expired", until=at) == 0, learner.log[:20]
    expired_after = learner.count("expired", since=at)
    assert expired_after > 0, (
        f"the learner made {learner.count('change', since=at)} changes by key after its "
        f"replica was killed and none was answered 410, so some replica still held its "
        f"photo: affinity did not keep it on one replica, or the kill missed it "
        f"(answers by replica before the kill {dict(before)}, after {dict(after)})")
    print(f"after the kill: {expired_after} answered 410 photo-expired, each followed by "
          f"the photo sent again; the learner's answers by replica before the kill "
          f"{dict(before)}, after {dict(after)}")
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
    load.assert_nothing_lost()
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
        load.assert_nothing_lost()
        print(f"{replicas} replicas serving {stack.settle(replicas):.0f} s after the load")
        assert len(stack.tasks()) == replicas
