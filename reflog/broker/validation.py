"""A client's batch validated without holding the event loop (the produce path's first step).

Every broker of a reflog process shares one trio event loop: a batch of millions of tiny
records walked in one go would starve every other broker's heartbeats past their session
timeout. :func:`validate_in_steps` walks :func:`reflog.log.validator.client_batch_steps` (the
steps of :func:`reflog.log.validator.validate_client_batch`) and yields to trio between them.
"""

from __future__ import annotations

from typing import cast

import trio

from reflog.errors import Errors, ReflogError
from reflog.log import LogConfig
from reflog.log.validator import ValidatedBatch, client_batch_steps


async def validate_in_steps(records: bytes, config: LogConfig) -> ValidatedBatch | Errors:
    """Check a client's ``records`` against the topic's log ``config`` (:mod:`reflog.log.validator`).

    Returns the validated batch, or the Kafka error code of the first check that fails
    (``CORRUPT_MESSAGE``, ``INVALID_RECORD``, ``MESSAGE_TOO_LARGE``, ...); never raises for a bad
    batch. Yields to trio (a checkpoint, so it may be cancelled) between steps.
    """
    steps = client_batch_steps(records, config)
    try:
        while True:
            next(steps)
            await trio.lowlevel.checkpoint()
    except StopIteration as done:
        return cast(ValidatedBatch, done.value)
    except ReflogError as exc:
        return Errors.of(exc.error_code)


__all__ = ["validate_in_steps"]
