"""Observability: an access log line and Prometheus metrics for every request.

Each request gets an id (the client's ``X-Request-ID`` when it sends a sane one), echoed in
the response, and one structured log line (JSON, logger ``convlens.access``) with the route,
status and time taken. `/metrics` serves the Prometheus text format through the maintained
``prometheus_client`` library: requests and latency per route, the work queue's depth and
rejections, and which provider each model runs on.
"""

from __future__ import annotations

import json
import logging
import random
import re
import time
from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

access_log = logging.getLogger("convlens.access")

_SANE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class Metrics:
    """The app's Prometheus metrics, in a registry of its own (one per app, so tests that
    build many apps do not collide)."""

    def __init__(self) -> None:
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
            registry=self.registry,
        )
        self.rejected = Gauge(
            "convlens_rejected_requests", "Heavy requests refused with 503 since start-up",
            registry=self.registry,
        )
        self.provider = Gauge(
            "convlens_model_provider", "1 for the execution provider each model runs on",
            ["model", "provider"], registry=self.registry,
        )

    def follow(self, depth: Callable[[], int], rejected: Callable[[], int]) -> None:
        """Read the queue's numbers at scrape time, so they are never stale."""
        self.queue_depth.set_function(depth)
        self.rejected.set_function(lambda: float(rejected()))


def new_request_id() -> str:
    """32 random hex digits, like ``uuid4().hex``.

    From Python's own generator (seeded from the OS once per process, and again in a forked
    child), not the OS's on every request: an id needs to be unique, not secret. And
    ``os.urandom`` lets go of the GIL around its system call; on a busy server the event
    loop then waits for a worker thread to hand it back (70 µs per request, measured with
    cProfile on the event loop under benchmarks/reconstruct.py's load).
    """
    return f"{random.getrandbits(128):032x}"


class AccessLog:
    """ASGI middleware: request id, timing, one log line and the request metrics."""

    def __init__(self, app: ASGIApp, *, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
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
            access_log.info(json.dumps({
                "request_id": request_id,
                "method": method,
                "path": scope["path"],
                "route": route,
                "status": status,
                "ms": round(elapsed * 1000, 2),
                "client": (scope.get("client") or ("?",))[0],
            }))
