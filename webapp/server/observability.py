"""Observability: an access log line and Prometheus metrics for every request.

Each request gets an id (the client's ``X-Request-ID`` when it sends a sane one), echoed in
the response, and one structured log line (JSON, logger ``convlens.access``) with the route,
status and time taken. `/metrics` serves the Prometheus text format through the maintained
``prometheus_client`` library: requests and latency per route, the work queue's depth and
rejections, the photo cache's size, hits and misses, and which provider each model runs on.

Several server processes (``convlens serve --workers N``) answer one port, and a scrape
reaches whichever process the kernel hands the connection to. So that `/metrics` counts
every process's requests, not one's, ``convlens serve`` puts prometheus_client in its
multiprocess mode (`shared_metrics_directory`): every process keeps its values in files of
one directory, and the process answering a scrape adds them all up (`Metrics.exposition`).
"""

from __future__ import annotations

import json
import logging
import os
import random
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from webapp.server.photocache import CacheStats

access_log = logging.getLogger("convlens.access")

_SANE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")

MULTIPROCESS_DIRECTORY = "PROMETHEUS_MULTIPROC_DIR"
"""prometheus_client's own variable: where several processes keep their values."""


@contextmanager
def shared_metrics_directory(processes: int) -> Iterator[None]:
    """For ``processes`` server processes, a fresh directory in `MULTIPROCESS_DIRECTORY`,
    set before any of them starts (prometheus_client decides its mode when it is imported)
    and removed when they have all exited. Fresh, because files left by an earlier run
    would be counted as this run's. A directory the operator set is used as it is, and
    kept. One process needs none: it serves its own values."""
    if processes <= 1 or os.environ.get(MULTIPROCESS_DIRECTORY):
        yield
        return
    directory = tempfile.mkdtemp(prefix="convlens-metrics-")
    os.environ[MULTIPROCESS_DIRECTORY] = directory
    try:
        yield
    finally:
        del os.environ[MULTIPROCESS_DIRECTORY]
        shutil.rmtree(directory, ignore_errors=True)


class Metrics:
    """The app's Prometheus metrics, in a registry of its own (one per app, so tests that
    build many apps do not collide).

    Under several processes (`MULTIPROCESS_DIRECTORY` set) the values live in that
    directory's files instead, and the gauges say how to add the processes up: the queue
    depth over the processes alive, rejections over every process since start-up (one
    that has exited still refused those requests), the provider as the largest.
    """

    def __init__(self) -> None:
        self.multiprocess = bool(os.environ.get(MULTIPROCESS_DIRECTORY))
        self._queue: tuple[Callable[[], int], Callable[[], int]] | None = None
        self._photos: Callable[[], CacheStats] | None = None
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "convlens_requests", "HTTP requests answered", ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "convlens_request_seconds", "Time to answer a request", ["method", "route"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=self.registry,
        )
        self.queue_depth = Gauge(
            "convlens_queue_depth", "Heavy requests running or waiting",
            registry=self.registry, multiprocess_mode="livesum",
        )
        self.rejected = Gauge(
            "convlens_rejected_requests", "Heavy requests refused with 503 since start-up",
            registry=self.registry, multiprocess_mode="sum",
        )
        self.photo_cache_bytes = Gauge(
            "convlens_photo_cache_bytes", "Bytes of decoded photos the pages keep",
            registry=self.registry, multiprocess_mode="livesum",
        )
        self.photo_cache_entries = Gauge(
            "convlens_photo_cache_entries", "Decoded photos (one per working size) kept",
            registry=self.registry, multiprocess_mode="livesum",
        )
        self.photo_cache_hits = Gauge(
            "convlens_photo_cache_hits", "Photo keys found in the cache since start-up",
            registry=self.registry, multiprocess_mode="sum",
        )
        self.photo_cache_misses = Gauge(
            "convlens_photo_cache_misses",
            "Photo keys the cache no longer held (the page sent the photo again) since start-up",
            registry=self.registry, multiprocess_mode="sum",
        )
        self.provider = Gauge(
            "convlens_model_provider", "1 for the execution provider each model runs on",
            ["model", "provider"], registry=self.registry, multiprocess_mode="max",
        )

    def follow(self, depth: Callable[[], int], rejected: Callable[[], int]) -> None:
        """Read the queue's numbers at scrape time, so they are never stale.

        Under several processes a scrape cannot call another process's functions: each
        process writes its numbers when a request of its own starts or ends (every change
        of its queue happens between the two) and when it answers a scrape.
        """
        if self.multiprocess:
            self._queue = (depth, rejected)
            self.refresh()
        else:
            self.queue_depth.set_function(depth)
            self.rejected.set_function(lambda: float(rejected()))

    def follow_photo_cache(self, stats: Callable[[], CacheStats]) -> None:
        """Read the photo cache's numbers at scrape time, like the queue's (`follow`)."""
        if self.multiprocess:
            self._photos = stats
            self.refresh()
            return
        self.photo_cache_bytes.set_function(lambda: float(stats().bytes))
        self.photo_cache_entries.set_function(lambda: float(stats().entries))
        self.photo_cache_hits.set_function(lambda: float(stats().hits))
        self.photo_cache_misses.set_function(lambda: float(stats().misses))

    def refresh(self) -> None:
        """Write the queue's and the photo cache's numbers to this process's file (several
        processes only)."""
        if self._queue is not None:
            depth, rejected = self._queue
            self.queue_depth.set(depth())
            self.rejected.set(rejected())
        if self._photos is not None:
            photos = self._photos()
            self.photo_cache_bytes.set(photos.bytes)
            self.photo_cache_entries.set(photos.entries)
            self.photo_cache_hits.set(photos.hits)
            self.photo_cache_misses.set(photos.misses)

    def exposition(self) -> tuple[bytes, str]:
        """The body and media type of `/metrics`: this app's metrics or, under several
        processes, every process's added up, whichever process answers."""
        if not self.multiprocess:
            return generate_latest(self.registry), CONTENT_TYPE_LATEST
        self.refresh()
        every_process = CollectorRegistry()
        multiprocess.MultiProcessCollector(every_process)  # type: ignore[no-untyped-call]
        return generate_latest(every_process), CONTENT_TYPE_LATEST

    def close(self) -> None:
        """This process is leaving: its queue depth stops counting (its counters stay)."""
        if self.multiprocess:
            multiprocess.mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]


def new_request_id() -> str:
    """32 random hex digits, like ``uuid4().hex``.

    From Python's own generator (seeded from the OS once per process, and again in a forked
    child), not the OS's on every request: an id needs to be unique, not secret. And
    ``os.urandom`` lets go of the GIL around its system call; on a busy server the event
    loop then waits for a worker thread to hand it back.
    """
    return f"{random.getrandbits(128):032x}"


class AccessLog:
    """ASGI middleware: request id, timing, one log line and the request metrics; under
    several processes, also the process's metrics lifetime (`Metrics.close` at shutdown)."""

    def __init__(self, app: ASGIApp, *, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan" and self.metrics.multiprocess:
            await self.app(scope, receive, self._closing(send))
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self.metrics.multiprocess:
            self.metrics.refresh()
        sent = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        request_id = sent if _SANE_REQUEST_ID.match(sent) else new_request_id()
        started = time.perf_counter()
        status = 500  # what the client sees if the app fails before answering

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message)["X-Request-ID"] = request_id
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            route = getattr(scope.get("route"), "path", "unmatched")
            method = scope["method"]
            self.metrics.requests.labels(method, route, str(status)).inc()
            self.metrics.latency.labels(method, route).observe(elapsed)
            if self.metrics.multiprocess:
                self.metrics.refresh()
            access_log.info(json.dumps({
                "request_id": request_id,
                "method": method,
                "path": scope["path"],
                "route": route,
                "status": status,
                "ms": round(elapsed * 1000, 2),
                "client": (scope.get("client") or ("?",))[0],
            }))

    def _closing(self, send: Send) -> Send:
        """``send``, closing the metrics once the app has shut down."""

        async def send_then_close(message: Message) -> None:
            if message["type"] in ("lifespan.shutdown.complete", "lifespan.shutdown.failed"):
                self.metrics.close()
            await send(message)

        return send_then_close
