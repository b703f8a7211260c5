"""Partition changes: the one place a broker's long polls wait (Kafka's purgatory watch keys).

Every request that waits for a partition to move (a consumer fetch waiting for ``min_bytes``, a
follower's fetch waiting for an append, a produce waiting for its ``acks``, the Kafka Fetch long
poll over many partitions, Kafka's ``DelayedFetch``) waits here, for a change of the partitions
it named. The broker calls :meth:`PartitionChanges.notify` whenever a partition's log end offset,
high watermark, leadership or ISR moves (an append, a replica fetch, an AlterPartition answer,
applied metadata); a waiter then looks again at what it waits for, since a change need not be
the one it needs. A waiter never spins: it wakes only on a notification or at its deadline.

Two ways to wait, one mechanism:

* :meth:`PartitionChanges.wait_for_change`: one wait, for a caller that looks at the partitions
  and starts waiting with no ``await`` in between (so no change can fall between the two);
* :meth:`PartitionChanges.watch`, a context manager: the changes from its start on are kept,
  level-triggered, so a caller whose look itself awaits (reading thousands of partitions,
  yielding to other tasks) sees at its next :meth:`ChangeWatch.wait` a change that came during
  the look. As Kafka's ``tryCompleteElseWatch`` watches the keys before its last try.

Cancelling a waiter (its client disconnected, the broker died) leaves nothing registered.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator

import trio

from reflog.vocabulary import TopicPartition


class ChangeWatch:
    """A watch over some partitions, open within :meth:`PartitionChanges.watch`."""

    def __init__(self) -> None:
        self._changed = trio.Event()

    def _fire(self) -> None:
        self._changed.set()

    async def wait(self, deadline: float) -> None:
        """Return at the first change since the watch opened or the previous wait returned, or
        at ``deadline`` (trio time, seconds), whichever is first; at once (after a checkpoint) if
        such a change already came. Never raises but for trio's cancellation."""
        with trio.move_on_at(deadline):
            await self._changed.wait()
        if self._changed.is_set():
            self._changed = trio.Event()


class PartitionChanges:
    """Who waits for which partition; :meth:`notify` wakes them (see the module docstring)."""

    def __init__(self) -> None:
        self._watches: dict[TopicPartition, set[ChangeWatch]] = {}

    def notify(self, tp: TopicPartition) -> None:
        """Wake every wait on ``tp``: something about the partition changed."""
        for watch in self._watches.get(tp, ()):
            watch._fire()

    @contextlib.contextmanager
    def watch(self, tps: Iterable[TopicPartition]) -> Iterator[ChangeWatch]:
        """Watch ``tps`` (none: a watch that only ever waits out its deadline) while the block runs."""
        watch = ChangeWatch()
        watched = set(tps)
        for tp in watched:
            self._watches.setdefault(tp, set()).add(watch)
        try:
            yield watch
        finally:
            for tp in watched:
                waiting = self._watches.get(tp)
                if waiting is not None:
                    waiting.discard(watch)
                    if not waiting:
                        del self._watches[tp]

    async def wait_for_change(self, tps: Iterable[TopicPartition], deadline: float) -> None:
        """Return when any of ``tps`` changes after this call, or at ``deadline`` (trio time)."""
        with self.watch(tps) as watch:
            await watch.wait(deadline)

    def waiting(self) -> int:
        """How many partitions have a wait on them (0 once every waiter is done or cancelled)."""
        return len(self._watches)


__all__ = ["ChangeWatch", "PartitionChanges"]
