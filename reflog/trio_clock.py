"""trio's clock behind the :class:`~reflog.clock.Clock` seam, for the trio shell.

Kept apart from :mod:`reflog.clock` so that the sans-IO core (``reflog.replication``,
``reflog.log``), which reads time only through a ``Clock``, never imports trio (REP-46).
"""

from __future__ import annotations

import trio

__all__ = ["TrioClock"]


class TrioClock:
    """trio's clock (real or ``MockClock``); :meth:`now` must be called inside ``trio.run``.

    Outside a trio run :meth:`now` raises :class:`RuntimeError`, as ``trio.current_time`` does.
    """

    def now(self) -> float:
        return trio.current_time()
