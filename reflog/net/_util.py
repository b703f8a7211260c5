"""Small trio helpers shared by the network seam."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import trio


@asynccontextmanager
async def background(start: Callable[..., Awaitable[object]]) -> AsyncIterator[None]:
    """Run ``await nursery.start(start)`` for the duration of the ``async with`` block.

    On exit (normal, exception or cancellation) the task is cancelled and awaited. An
    exception group holding a single exception is unwrapped, so the body's own exception
    propagates as itself rather than inside trio's strict exception group.
    """
    try:
        async with trio.open_nursery() as nursery:
            await nursery.start(start)
            try:
                yield
            finally:
                nursery.cancel_scope.cancel()
    except BaseExceptionGroup as group:
        if len(group.exceptions) == 1:
            raise group.exceptions[0] from group
        raise
