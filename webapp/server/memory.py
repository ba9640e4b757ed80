"""Memory: keep freed image buffers in the process for reuse, instead of handing them back.

glibc's malloc serves large allocations (past 128 KiB, a threshold it raises on its own only
slowly) with a fresh ``mmap`` and gives them back to the OS with ``munmap`` when freed.
Nearly every array in convlens is that large (a 280 x 280 drawing as float32 is 306 KiB; a
2048^2 photo's RGB channels are 12 MiB), and the first touch of every page of a freshly
mapped buffer is a page fault: on large photos those faults can cost more than the
arithmetic. Kept over glibc's own adaptive thresholds because large photo requests run
faster with it (benchmarks/pieces.py).

So the server raises the mmap threshold to glibc's maximum (32 MiB: buffers up to that size
come from the heap, and a freed one is reused by the next request) and lets up to
`KEEP_FREE_BYTES` of free memory stay in the heap instead of trimming it at once. The price
is a resident size that stays near its peak after a burst: bounded, since the work queue
bounds how many requests compute at once.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

MMAP_THRESHOLD_BYTES = 32 * 1024 * 1024
"""Allocations up to this size come from the heap (glibc refuses more on 64-bit)."""

KEEP_FREE_BYTES = 256 * 1024 * 1024
"""Free memory the heap may keep at its top before it is returned to the OS."""

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
"""mallopt() parameter numbers, from glibc's <malloc.h>."""

logger = logging.getLogger("convlens.memory")


def keep_freed_buffers() -> bool:
    """Tune glibc's malloc as the module docstring says; False (and no change) elsewhere.

    Process-wide and idempotent. On a C library without ``mallopt`` (musl, macOS) this does
    nothing: convlens is as correct there, only slower.
    """
    library = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(library)
        mallopt = libc.mallopt
    except (OSError, AttributeError, TypeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    applied = bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)) and bool(
        mallopt(_M_TRIM_THRESHOLD, KEEP_FREE_BYTES)
    )
    if not applied:
        logger.info("malloc tuning not applied: this C library refused mallopt()")
    return applied
