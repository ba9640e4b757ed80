"""The work queue: heavy work off the event loop, bounded, and at a lower CPU priority."""

from __future__ import annotations

import asyncio
import os
import sys
import threading
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import numpy as np
import pytest

from webapp.arithmetic import axis_arithmetic
from webapp.engine import strided_correlate
from webapp.errors import ServerBusy
from webapp.priority import WORKER_NICENESS
from webapp.server.workqueue import WorkQueue

T = TypeVar("T")


def own_priority() -> int:
    return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())


def run_async(coroutine: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run`` on a thread of its own: other tests (Playwright's sync API) may
    leave an event loop running on this one."""
    with ThreadPoolExecutor(max_workers=1) as thread:
        return thread.submit(asyncio.run, coroutine).result()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread priority is Linux's")
def test_workers_run_below_the_event_loops_priority() -> None:
    queue = WorkQueue(threads=1, queue_length=1, timeout_seconds=5)
    try:
        worker = run_async(queue.run(own_priority))
    finally:
        queue.shutdown()
    assert worker == min(own_priority() + WORKER_NICENESS, 19)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread priority is Linux's")
def test_the_strided_loops_threads_run_at_the_workers_priority() -> None:
    import webapp.engine as engine

    seen: list[int] = []
    original = engine._correlate_rows

    def spy(*arguments: object) -> None:
        seen.append(own_priority())
        original(*arguments)

    image = np.zeros((400, 400, 3), np.uint8)
    axis = axis_arithmetic(400, 3, stride=2)
    # The worker that runs the request computes one band itself and hands the others to
    # the loop's own threads: all of them below the event loop.
    queue = WorkQueue(threads=1, queue_length=1, timeout_seconds=30)
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(engine, "_correlate_rows", spy)
            patch.setattr(engine, "CELLS_PER_THREAD", 1000)
            patch.setattr(engine, "_threads", 2)
            run_async(queue.run(strided_correlate, image, np.ones((3, 3)), axis, axis,
                                np.float32))
    finally:
        queue.shutdown()
    assert len(seen) >= 2 and all(priority > own_priority() for priority in seen)


def test_a_full_queue_refuses_at_once() -> None:
    async def scenario() -> None:
        queue = WorkQueue(threads=1, queue_length=0, timeout_seconds=5)
        release = threading.Event()
        try:
            running = asyncio.ensure_future(queue.run(release.wait, 5))
            await asyncio.sleep(0.05)
            with pytest.raises(ServerBusy):
                await queue.run(int)
            release.set()
            assert await running is True
        finally:
            release.set()
            queue.shutdown()

    run_async(scenario())
