"""Dirty tracking and write-back: which pages are dirty, when they go to the device, and how.

Promises (the numbers come from :class:`~reflog.storage.sim.WritebackPolicy`):

* **Dirty tracking**: :meth:`Writeback.mark_dirty` and :meth:`Writeback.clean` keep the
  dirty page count, each inode's dirty set and the dirty inodes in the order they became
  dirty (Linux ``inode->dirtied_when``).
* **Write-back** takes a file's dirty pages in the policy's order, coalesces contiguous
  pages into runs of at most ``max_run_pages`` and writes each run with one device I/O.
  A failed I/O still marks its pages clean (Linux), bumps the inode's error sequence and
  is recorded in :attr:`Writeback.failed_writes`; under ``after_eio="clean_revert_old"``
  its pages also leave the cache (through the ``discard`` callback).
* **Triggers**: :meth:`Writeback.tick` runs the periodic pass (every
  ``dirty_writeback_interval_s``, inodes dirty for ``dirty_expire_s`` or longer) and
  background write-back (while more than ``background_pages`` are dirty);
  :attr:`Writeback.wakeup` is called when write-back becomes due earlier than announced.
* **Throttling** (:meth:`Writeback.balance`, after each write): at the hard dirty limit
  the writer writes back until below it; above the freerun ceiling each write adds a
  pause (at most ``max_pause_s``) to a debt the writer collects with
  :meth:`Writeback.take_throttle_delay`.

Write-back passes cost time proportional to the file's dirty pages. Nothing here raises:
device write errors are recorded, not thrown.
"""

from __future__ import annotations

import bisect
import math
import random
from collections.abc import Callable

from reflog.clock import Clock
from reflog.storage.sim._device import Device
from reflog.storage.sim._faults import DiskFaults
from reflog.storage.sim._inode import Inode, Page
from reflog.storage.sim._policy import WritebackOrder, WritebackPolicy
from reflog.storage.sim._report import FailedWrite, MisdirectedWrite
from reflog.storage.sim._stats import IOStats

#: Pages background write-back takes from one file before moving to the next (Linux MAX_WRITEBACK_PAGES).
BACKGROUND_CHUNK_PAGES = 1024


def coalesce(indices: list[int], max_run: int) -> list[tuple[int, int]]:
    """Split page indices (kept in order) into runs ``(first, n)`` of contiguous pages, ``n <= max_run``."""
    runs: list[tuple[int, int]] = []
    first = -2
    n = 0
    for idx in indices:
        if n and idx == first + n and n < max_run:
            n += 1
            continue
        if n:
            runs.append((first, n))
        first, n = idx, 1
    if n:
        runs.append((first, n))
    return runs


class Writeback:
    """The dirty state and write-back of one page cache; see the module docstring.

    ``discard`` takes a page out of the cache without writing it (the page cache's own removal).
    """

    def __init__(
        self,
        *,
        policy: WritebackPolicy,
        device: Device,
        faults: DiskFaults,
        stats: IOStats,
        clock: Clock,
        rng: random.Random,
        path_of: Callable[[int], str],
        discard: Callable[[Page], None],
    ) -> None:
        self.policy = policy
        self._device = device
        self._faults = faults
        self._stats = stats
        self._clock = clock
        self._rng = rng
        self._path_of = path_of
        self._discard = discard
        #: Dirty inodes in the order they became dirty.
        self._dirty_inodes: dict[int, Inode] = {}
        self.dirty_pages = 0
        self._throttle_debt = 0.0
        self._background = policy.background_pages
        self._hard = policy.hard_pages
        self._freerun = policy.freerun_pages
        interval = policy.dirty_writeback_interval_s
        self._next_periodic = clock.now() + interval if interval > 0 else math.inf
        #: Called (synchronously) when write-back becomes due earlier than previously announced.
        self.wakeup: Callable[[], None] | None = None
        #: Every failed write-back I/O, oldest first.
        self.failed_writes: list[FailedWrite] = []

    # -- dirty tracking ----------------------------------------------------------------------------

    def clean(self, page: Page) -> None:
        """Mark a dirty page clean (written, or forgotten)."""
        page.dirty = False
        inode = page.inode
        inode.dirty.discard(page.index)
        self.dirty_pages -= 1
        if not inode.dirty:
            inode.dirtied_when = None
            self._dirty_inodes.pop(inode.ino, None)

    def mark_dirty(self, page: Page, now: float) -> None:
        """Mark a clean page dirty at ``now``.

        Wakes the flusher (:attr:`wakeup`) at the first dirty page and when the background
        threshold is crossed.
        """
        page.dirty = True
        page.dirtied_at = now
        inode = page.inode
        inode.dirty.add(page.index)
        if inode.dirtied_when is None:
            inode.dirtied_when = now
            self._dirty_inodes[inode.ino] = inode
        self.dirty_pages += 1
        self._stats.pages_dirtied += 1
        if self.dirty_pages == 1:
            interval = self.policy.dirty_writeback_interval_s
            if interval > 0 and self._next_periodic <= now:
                self._next_periodic = now + interval
            self._wake()
        elif self.dirty_pages == self._background + 1:
            self._wake()

    def _wake(self) -> None:
        if self.wakeup is not None:
            self.wakeup()

    # -- throttling --------------------------------------------------------------------------------

    def balance(self) -> None:
        """``balance_dirty_pages``: writer write-back at the hard limit, pauses above freerun."""
        if self.dirty_pages >= self._hard:
            self._stats.writer_writebacks += 1
            self._write_back_some(lambda: self.dirty_pages < self._hard)
        if self.dirty_pages > self._freerun:
            span = max(1, self._hard - self._freerun)
            pause = self.policy.max_pause_s * min(1.0, (self.dirty_pages - self._freerun) / span)
            self._stats.throttle_pauses += 1
            self._stats.throttle_seconds += pause
            self._throttle_debt += pause

    def take_throttle_delay(self) -> float:
        """The pause the writer owes since the last call (then reset to 0)."""
        debt, self._throttle_debt = self._throttle_debt, 0.0
        return debt

    def forget_debt(self) -> None:
        """Process crash: the pause owed by the dead writer is void."""
        self._throttle_debt = 0.0

    # -- write-back ----------------------------------------------------------------------------------

    def write_run(self, inode: Inode, first: int, n: int, *, eviction: bool = False) -> None:
        """Write pages ``[first, first + n)`` of ``inode`` with one device I/O and mark them clean.

        ``eviction`` is memory pressure forcing out one page (a random I/O, not a write-back run).
        """
        pages = [inode.pages[i] for i in range(first, first + n)]
        result = self._device.write_run(
            inode.ino, first, [bytes(p.data) for p in pages], force_random=eviction
        )
        if not eviction:
            self._stats.writeback_runs += 1
        for page in pages:
            self.clean(page)
        now = self._clock.now()
        if result.errno is not None:
            self._stats.writeback_errors += 1
            inode.errseq += 1
            inode.err_seen = False
            self.failed_writes.append(
                FailedWrite(self._path_of(inode.ino), inode.ino, first, n, result.errno, now)
            )
            if self.policy.after_eio == "clean_revert_old":
                for page in pages:
                    self._discard(page)
            return
        self._stats.pages_written_back += n
        if result.landed_page != first:
            self._faults.misdirected.append(
                MisdirectedWrite(self._path_of(inode.ino), inode.ino, first, result.landed_page, n, now)
            )

    def write_back_inode(
        self,
        inode: Inode,
        order: WritebackOrder,
        *,
        limit: int | None = None,
        stop: Callable[[], bool] | None = None,
    ) -> int:
        """Write back ``inode``'s dirty pages in ``order``, at most ``limit`` pages; returns pages written.

        ``stop`` is checked before each run. A ``cyclic`` pass starts at the inode's
        ``writeback_index`` and leaves it after the last run written.
        """
        if not inode.dirty:
            return 0
        indices = sorted(inode.dirty)
        if order == "cyclic":
            k = bisect.bisect_left(indices, inode.writeback_index)
            indices = indices[k:] + indices[:k]
        runs = coalesce(indices, self.policy.max_run_pages)
        if order == "random":
            self._rng.shuffle(runs)
        written = 0
        for first, run in runs:
            if stop is not None and stop():
                break
            n = run
            if limit is not None:
                if written >= limit:
                    break
                n = min(run, limit - written)
            self.write_run(inode, first, n)
            written += n
            if order == "cyclic":
                inode.writeback_index = first + n
        return written

    def _write_back_some(self, stop: Callable[[], bool]) -> int:
        """Background-style write-back over dirty inodes (oldest first, in chunks) until ``stop()``."""
        written = 0
        while self._dirty_inodes and not stop():
            for inode in list(self._dirty_inodes.values()):
                if stop():
                    break
                written += self.write_back_inode(
                    inode, self.policy.writeback_order, limit=BACKGROUND_CHUNK_PAGES, stop=stop
                )
        return written

    def tick(self) -> int:
        """Do all write-back due at the clock's current time; returns pages written."""
        now = self._clock.now()
        written = 0
        policy = self.policy
        if now >= self._next_periodic:
            self._next_periodic = now + policy.dirty_writeback_interval_s
            cutoff = now - policy.dirty_expire_s
            for inode in list(self._dirty_inodes.values()):
                if inode.dirtied_when is not None and inode.dirtied_when <= cutoff:
                    written += self.write_back_inode(inode, policy.writeback_order)
        if self.dirty_pages > self._background:
            written += self._write_back_some(lambda: self.dirty_pages <= self._background)
        return written

    def next_due(self) -> float:
        """When :meth:`tick` next has work: now if above the background threshold, else the next pass."""
        if self.dirty_pages == 0:
            return math.inf
        if self.dirty_pages > self._background:
            return self._clock.now()
        return self._next_periodic

    def write_back_all(self) -> None:
        """Write back every dirty page (``sync``)."""
        self._write_back_some(lambda: False)

    def unsynced(self) -> list[Page]:
        """Every dirty page, ordered by inode then index."""
        found: list[Page] = []
        for ino in sorted(self._dirty_inodes):
            inode = self._dirty_inodes[ino]
            found.extend(inode.pages[idx] for idx in sorted(inode.dirty))
        return found

    def reset(self) -> None:
        """Power loss: nothing is dirty and no writer owes a pause (the cache empties the pages)."""
        self._dirty_inodes.clear()
        self.dirty_pages = 0
        self._throttle_debt = 0.0
