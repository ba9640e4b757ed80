"""Thread priority: the computations yield the CPU to the thread that answers requests.

The work queue's threads and the convolution engine's helper threads both lower their own
priority, so a busy server still reads requests and answers /health promptly.
"""

from __future__ import annotations

import contextlib
import os
import threading

WORKER_NICENESS = 5
"""How much lower the workers' CPU priority is than the event loop's (Linux nice steps).

On a machine with fewer cores than busy threads the kernel shares the CPU by priority: the
event loop, which answers /health and reads every request, is served first, and the
computations soak up the rest. Each thread that a worker starts inherits its priority."""


def lower_priority() -> None:
    """Lower the calling thread's CPU priority by `WORKER_NICENESS` (Linux: per thread)."""
    with contextlib.suppress(AttributeError, OSError):  # no per-thread priority here
        thread = threading.get_native_id()
        # Relative to the thread's own: a server started with `nice` stays below it.
        niceness = os.getpriority(os.PRIO_PROCESS, thread) + WORKER_NICENESS
        os.setpriority(os.PRIO_PROCESS, thread, min(niceness, 19))
