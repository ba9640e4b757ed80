"""The lent float buffer: reused, never stale, and safe when two threads convert at once."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from numpy.testing import assert_array_equal

from webapp import scratch
from webapp.scratch import floats_of


def test_the_buffer_is_reused_and_holds_only_the_new_pixels() -> None:
    big = np.full((64, 64, 3), 200, dtype=np.uint8)
    with floats_of(big) as floats:
        first_address = floats.__array_interface__["data"][0]
    small = np.arange(12, dtype=np.uint8).reshape(2, 2, 3)
    with floats_of(small) as floats:
        assert floats.__array_interface__["data"][0] == first_address  # no new mapping
        assert floats.shape == small.shape
        assert_array_equal(floats, small.astype(np.float32))


def test_a_buffer_past_the_limit_is_not_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(scratch, "KEPT_BYTES", 1024)
    monkeypatch.setattr(scratch, "_kept", None)
    with floats_of(np.zeros((32, 32), dtype=np.uint8)):
        pass  # 4 KiB of floats: more than the limit
    assert scratch._kept is None
    with floats_of(np.zeros((8, 8), dtype=np.uint8)):
        pass
    assert scratch._kept is not None and scratch._kept.nbytes == 256


def test_two_threads_never_share_a_buffer() -> None:
    """Each conversion holds its own floats until its block ends, whatever the other does."""
    barrier = threading.Barrier(2)
    failures: list[str] = []

    def convert(value: int) -> None:
        pixels = np.full((256, 256, 3), value, dtype=np.uint8)
        for _ in range(50):
            with floats_of(pixels) as floats:
                barrier.wait()  # both threads now hold a buffer at the same time
                if not np.all(floats == value):
                    failures.append(f"thread {value} saw another thread's pixels")
                barrier.wait()

    threads = [threading.Thread(target=convert, args=(value,)) for value in (7, 250)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
