"""The work queue: heavy requests run on a few threads, a few more may wait, the rest hear 503.

A classroom of forty students must not be able to stall the server: convolutions and model
runs never touch the event loop (so `/health` keeps answering), at most ``threads`` run at
once, at most ``queue_length`` wait, and none waits or runs longer than the time limit.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

from webapp.errors import ServerBusy
from webapp.priority import lower_priority
from webapp.translation import gettext as _

Result = TypeVar("Result")


class WorkQueue:
    """A bounded thread pool with admission control and a per-request time limit."""

    def __init__(self, *, threads: int, queue_length: int, timeout_seconds: float) -> None:
        self._executor = ThreadPoolExecutor(
            max_workers=threads, thread_name_prefix="convlens", initializer=lower_priority
        )
        self._capacity = threads + queue_length
        self._timeout = timeout_seconds
        self._lock = threading.Lock()
        self._in_flight = 0
        self.rejected = 0

    @property
    def depth(self) -> int:
        """Requests running or waiting now."""
        return self._in_flight

    def refuse_if_full(self) -> None:
        """`ServerBusy` now, before a heavy request's body is even read, if no place is free.

        `run` decides for good; this early check only spares a full server the work of
        parsing uploads it would refuse anyway.
        """
        with self._lock:
            if self._in_flight >= self._capacity:
                raise self._busy()

    def _busy(self) -> ServerBusy:
        self.rejected += 1
        return ServerBusy(
            _("convlens is busy (%(count)s requests running or waiting); try again in a "
              "moment.", count=self._in_flight),
            retry_after_seconds=1,
        )

    async def run(self, function: Callable[..., Result], *args: Any, **keywords: Any) -> Result:
        """``function(*args, **keywords)`` on a worker thread, or `ServerBusy` when full or too
        slow."""
        with self._lock:
            if self._in_flight >= self._capacity:
                raise self._busy()
            self._in_flight += 1
        try:
            # In the request's context: the work speaks the reader's language
            # (`webapp.translation`), as everything else the request runs does.
            context = contextvars.copy_context()
            future = self._executor.submit(context.run, function, *args, **keywords)
        except BaseException:
            self._release(None)
            raise
        # The slot is freed when the work really ends, not when a waiter gives up on it:
        # a timed-out computation still occupies its thread until it finishes.
        future.add_done_callback(self._release)
        try:
            # asyncio.timeout, not wait_for: wait_for wraps the wait in one more task, a
            # cost every request paid (measured in benchmarks/reconstruct.py).
            async with asyncio.timeout(self._timeout):
                return await asyncio.wrap_future(future)
        except TimeoutError:
            future.cancel()
            raise ServerBusy(
                _("The request took longer than %(seconds)s s and was stopped; try a smaller "
                  "image or kernel.", seconds=format(self._timeout, "g")),
                retry_after_seconds=2,
            ) from None

    def _release(self, _future: Future[Any] | None) -> None:
        with self._lock:
            self._in_flight -= 1

    def shutdown(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
