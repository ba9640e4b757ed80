"""The malloc tuning the server applies at start-up (webapp.server.memory)."""

from __future__ import annotations

import ctypes
import ctypes.util

import pytest

from webapp.server.memory import keep_freed_buffers


def test_glibc_accepts_the_tuning_and_a_second_call_is_harmless() -> None:
    if not hasattr(ctypes.CDLL(ctypes.util.find_library("c")), "mallopt"):
        pytest.skip("this C library has no mallopt (not glibc)")
    assert keep_freed_buffers() is True
    assert keep_freed_buffers() is True


def test_without_mallopt_nothing_changes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ctypes.util, "find_library", lambda name: "/nonexistent/libc.so")
    assert keep_freed_buffers() is False
