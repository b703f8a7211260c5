"""Time as a seam: the log and the simulated storage read time only through a :class:`Clock`.

In a trio program the clock is trio's own (:class:`reflog.trio_clock.TrioClock`), which tests
replace with ``trio.testing.MockClock``; synchronous tests use :class:`ManualClock`, advanced by
hand. Times are in seconds as ``float``; Kafka's millisecond configs are converted at the edge.
This module imports no trio, so the sans-IO core may depend on it (REP-46).
"""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    """A monotonic source of time in seconds."""

    def now(self) -> float:
        """Current time in seconds; never decreases."""
        ...


class ManualClock:
    """A clock that only moves when :meth:`advance` is called (for synchronous tests)."""

    def __init__(self, start: float = 0.0) -> None:
        self._now = start

    def now(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        """Move time forward by ``seconds`` (must be >= 0)."""
        if seconds < 0:
            raise ValueError("time never moves backwards")
        self._now += seconds


class WallClock:
    """The process's monotonic wall clock (benchmarks and real servers only)."""

    def now(self) -> float:
        return time.monotonic()
