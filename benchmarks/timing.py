"""Timing for the benchmarks: every contender measured in the same rounds, alternately.

These machines are shared and noisy; a neighbour's load moves everything measured at the
same moment alike, so ratios of interleaved medians hold where absolute times do not.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence


def interleaved(
    functions: Sequence[Callable[[], object]], rounds: int, calls: int = 1
) -> list[float]:
    """Median seconds per call of each function, alternated round by round (``calls``
    calls each a round), after one warm-up call of each."""
    for function in functions:
        function()
    times: list[list[float]] = [[] for _ in functions]
    for _ in range(rounds):
        for function, kept in zip(functions, times, strict=True):
            started = time.perf_counter()
            for _ in range(calls):
                function()
            kept.append((time.perf_counter() - started) / calls)
    return [statistics.median(kept) for kept in times]
