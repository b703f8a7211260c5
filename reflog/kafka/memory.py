"""A process-wide bound on the request bytes the listeners hold (Kafka's ``queued.max.request.bytes``).

Every listener of a ``reflog serve`` process shares one :class:`RequestMemoryPool`. A connection
reserves a request's size as soon as its 4-byte prefix is read, before the payload is buffered,
and releases it once the request is answered; while the pool is full the connection waits without
reading (Kafka mutes the channel), so many connections sending large frames at once queue up
instead of exhausting memory. As Kafka's non-strict pool does, a request is admitted whenever the
pool is empty, even one larger than the capacity (``socket.request.max.bytes`` bounds each frame),
so the bytes held never exceed ``max(capacity, one frame)``.

A capacity of ``-1`` (Kafka's default) means unbounded.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Final

import trio

QUEUED_MAX_REQUEST_BYTES: Final = 256 * 1024 * 1024
"""reflog's default (Kafka's is -1, unbounded; see specs/protocol.md, Deviations)."""


class RequestMemoryPool:
    """Reserve request bytes against a shared capacity; see the module docstring."""

    def __init__(self, capacity: int = QUEUED_MAX_REQUEST_BYTES) -> None:
        self.capacity = capacity
        self.used = 0
        #: The most bytes held at once, and how many reservations had to wait.
        self.peak = 0
        self.waits = 0
        self._lot = trio.lowlevel.ParkingLot()

    def _fits(self, size: int) -> bool:
        return self.capacity < 0 or self.used == 0 or self.used + size <= self.capacity

    @asynccontextmanager
    async def reserve(self, size: int) -> AsyncIterator[None]:
        """Hold ``size`` bytes for the block, first waiting until they fit (no yield when they
        fit at once, to keep the common path cheap). Cancellation-safe."""
        if not self._fits(size):
            self.waits += 1
            while not self._fits(size):
                await self._lot.park()
        self.used += size
        self.peak = max(self.peak, self.used)
        try:
            yield
        finally:
            self.used -= size
            self._lot.unpark_all()


__all__ = ["QUEUED_MAX_REQUEST_BYTES", "RequestMemoryPool"]
