"""Scratch: one reusable buffer for pixels converted to floats for a moment.

OpenCV's 2-D filter wants float pixels, a photo arrives as 8-bit ones, and the floats are
needed only while OpenCV reads them. Converting into a *fresh* array is slow for a reason
that has nothing to do with arithmetic: an array that large (48 MiB for a 2048^2 RGB image
in float32) is above malloc's mmap threshold, so every page of it is mapped and zeroed by
the kernel on first touch. Measured at 2048^2: 16 ms into a fresh array, 6 ms into one
already mapped. So one buffer is lent out, handed back, and kept for the next request.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
from numpy.typing import NDArray

KEPT_BYTES = 256 << 20
"""The largest buffer kept between uses: a 16-megapixel RGB image in float32 fits (201 MB).
Only one is kept; a second conversion running at the same time gets a fresh array."""

_lock = threading.Lock()
_kept: NDArray[np.float32] | None = None


@contextmanager
def floats_of(cells: NDArray[np.generic]) -> Iterator[NDArray[np.float32]]:
    """``cells`` as float32, in a lent buffer that is valid until the ``with`` block ends.

    >>> with floats_of(np.array([[0, 255]], dtype=np.uint8)) as floats:
    ...     floats.tolist()
    [[0.0, 255.0]]
    """
    global _kept
    with _lock:
        buffer, _kept = _kept, None
    if buffer is None or buffer.size < cells.size:
        buffer = np.empty(cells.size, dtype=np.float32)
    floats = buffer[: cells.size].reshape(cells.shape)
    np.copyto(floats, cells, casting="unsafe")  # 8-bit to float32 is exact
    try:
        yield floats
    finally:
        if buffer.nbytes <= KEPT_BYTES:
            with _lock:
                if _kept is None or _kept.size < buffer.size:
                    _kept = buffer
