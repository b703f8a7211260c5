"""The page cache: cached pages, LRU lists, dirty tracking, write-back, read-ahead, throttling.

Promises (the numbers come from :class:`~reflog.storage.sim.WritebackPolicy`):

* **Writes** land in cached pages and mark them dirty; a partial write of an uncached page
  below EOF first reads it (read-modify-write). Nothing is written to the device by a
  write itself unless the writer hits the hard dirty limit (it then writes back until
  below it) or memory pressure evicts a dirty page (a forced single-page write).
* **Write-back** takes a file's dirty pages in the policy's order, coalesces contiguous
  pages into runs of at most ``max_run_pages`` and writes each run with one device I/O.
  A failed I/O still marks its pages clean (Linux), bumps the inode's error sequence and
  is recorded in :attr:`PageCache.failed_writes`.
* **Triggers**: :meth:`PageCache.tick` runs the periodic pass (every
  ``dirty_writeback_interval_s``, inodes dirty for ``dirty_expire_s`` or longer) and
  background write-back (while more than ``background_pages`` are dirty).
* **Throttling**: above the freerun ceiling each write adds a pause (at most
  ``max_pause_s``) to a debt the writer collects with :meth:`PageCache.take_throttle_delay`.
* **Reads** count a hit or a miss per page; a miss issues one device read covering a
  read-ahead window when the access is sequential, only the requested pages otherwise.
* **Eviction** keeps at most ``memory_pages`` cached: victims come from the inactive
  list's cold end; a second access promotes a page to the active list.

Every operation costs time proportional to the pages it touches, except write-back
passes and truncation (proportional to the file's dirty or cached pages).
Device read errors surface as :class:`~reflog.errors.StorageError` (``EIO``).
"""

from __future__ import annotations

import bisect
import errno as errno_mod
import math
import random
from collections import OrderedDict
from collections.abc import Callable

from reflog.clock import Clock
from reflog.errors import StorageError
from reflog.storage.sim._device import Device, DeviceReadError, mask_page
from reflog.storage.sim._faults import DiskFaults
from reflog.storage.sim._inode import Inode, Page, ReadAhead
from reflog.storage.sim._policy import PAGE_SIZE, WritebackOrder, WritebackPolicy
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


class PageCache:
    """All cached pages of one simulated machine; see the module docstring."""

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
    ) -> None:
        self.policy = policy
        self._device = device
        self._faults = faults
        self._stats = stats
        self._clock = clock
        self._rng = rng
        self._path_of = path_of
        self._inactive: OrderedDict[Page, None] = OrderedDict()
        self._active: OrderedDict[Page, None] = OrderedDict()
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

    @property
    def cached_pages(self) -> int:
        return len(self._inactive) + len(self._active)

    # -- LRU -----------------------------------------------------------------------------------------

    def _insert(self, inode: Inode, index: int, data: bytes | None) -> Page:
        page = Page(inode, index, data)
        inode.pages[index] = page
        self._inactive[page] = None
        return page

    def _touch(self, page: Page) -> None:
        """Mark an access (Linux ``mark_page_accessed``): the second one promotes to active."""
        if page.active:
            self._active.move_to_end(page)
        elif page.referenced:
            del self._inactive[page]
            page.referenced = False
            page.active = True
            self._active[page] = None
            if len(self._active) > len(self._inactive):
                demoted, _ = self._active.popitem(last=False)
                demoted.active = False
                self._inactive[demoted] = None
        else:
            page.referenced = True

    def _remove(self, page: Page) -> None:
        """Take a page out of the cache without writing it (its dirtiness is forgotten)."""
        if page.dirty:
            self._clean(page)
        (self._active if page.active else self._inactive).pop(page, None)
        page.inode.pages.pop(page.index, None)

    def _clean(self, page: Page) -> None:
        page.dirty = False
        inode = page.inode
        inode.dirty.discard(page.index)
        self.dirty_pages -= 1
        if not inode.dirty:
            inode.dirtied_when = None
            self._dirty_inodes.pop(inode.ino, None)

    def _mark_dirty(self, page: Page, now: float) -> None:
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

    def _shrink(self) -> None:
        """Evict from the inactive list's cold end until the cache fits in memory."""
        limit = self.policy.memory_pages
        while self.cached_pages > limit:
            if not self._inactive:
                demoted, _ = self._active.popitem(last=False)
                demoted.active = False
                self._inactive[demoted] = None
                continue
            victim = next(iter(self._inactive))
            if victim.dirty:
                self._stats.evictions_dirty += 1
                self._write_run(victim.inode, victim.index, 1, eviction=True)
            else:
                self._stats.evictions_clean += 1
            self._remove(victim)

    # -- writes ---------------------------------------------------------------------------------------

    def write(self, inode: Inode, offset: int, data: bytes | memoryview, path: str) -> None:
        """Copy ``data`` into the cache at ``offset``, dirtying pages; then evict and throttle.

        Raises :class:`StorageError` (``EIO``) if a read-modify-write read fails, before
        any byte of the file changes.
        """
        view = memoryview(data).cast("B")
        n = len(view)
        if n == 0:
            return
        end = offset + n
        first, last = offset // PAGE_SIZE, (end - 1) // PAGE_SIZE
        for idx in {first, last}:
            if idx not in inode.pages and self._needs_read(inode.size, offset, end, idx):
                self._stats.rmw_reads += 1
                self._load(inode, idx, 1, path)
        now = self._clock.now()
        src = 0
        for idx in range(first, last + 1):
            page = inode.pages.get(idx)
            if page is None:
                page = self._insert(inode, idx, None)
            self._touch(page)
            base = idx * PAGE_SIZE
            a = max(offset, base) - base
            b = min(end, base + PAGE_SIZE) - base
            page.data[a:b] = view[src : src + b - a]
            src += b - a
            if not page.dirty:
                self._mark_dirty(page, now)
        inode.size = max(inode.size, end)
        self._shrink()
        self._balance()

    @staticmethod
    def _needs_read(size: int, start: int, end: int, idx: int) -> bool:
        base = idx * PAGE_SIZE
        if base >= size:
            return False
        existing_end = min(size, base + PAGE_SIZE)
        return not (start <= base and end >= existing_end)

    def _balance(self) -> None:
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
        debt, self._throttle_debt = self._throttle_debt, 0.0
        return debt

    def truncate(self, inode: Inode, size: int) -> None:
        """Set the visible size; a shrink drops cached pages beyond it (dirty ones unwritten)."""
        if size < inode.size:
            whole = -(-size // PAGE_SIZE)
            for idx in [i for i in inode.pages if i >= whole]:
                self._remove(inode.pages[idx])
            tail = inode.pages.get(size // PAGE_SIZE)
            if tail is not None and size % PAGE_SIZE:
                tail.data[size % PAGE_SIZE :] = bytes(PAGE_SIZE - size % PAGE_SIZE)
            self._device.truncate(inode.ino, size)
        inode.size = size

    # -- write-back ------------------------------------------------------------------------------------

    def _write_run(self, inode: Inode, first: int, n: int, *, eviction: bool = False) -> None:
        pages = [inode.pages[i] for i in range(first, first + n)]
        result = self._device.write_run(
            inode.ino, first, [bytes(p.data) for p in pages], force_random=eviction
        )
        if not eviction:
            self._stats.writeback_runs += 1
        for page in pages:
            self._clean(page)
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
                    self._remove(page)
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
            self._write_run(inode, first, n)
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

    # -- reads ----------------------------------------------------------------------------------------

    def _load(self, inode: Inode, first: int, n: int, path: str) -> int:
        """Read up to ``n`` uncached pages from ``first`` in one I/O, stopping before a bad page.

        Returns the pages loaded. Raises :class:`StorageError` if ``first`` itself is unreadable.
        """
        n = self._device.readable_pages(inode.ino, first, n)
        try:
            if n == 0:
                raise DeviceReadError(first)
            pages = self._device.read_run(inode.ino, first, n)
        except DeviceReadError as exc:
            raise StorageError(
                f"EIO reading page {exc.page} of {path!r}", errno=errno_mod.EIO, path=path
            ) from None
        for i, data in enumerate(pages):
            self._insert(inode, first + i, mask_page(data, first + i, inode.size))
        return n

    def _uncached_run(self, inode: Inode, first: int, n: int) -> int:
        for idx in range(first, first + n):
            if idx in inode.pages:
                return idx - first
        return n

    def read(self, inode: Inode, ra: ReadAhead, offset: int, length: int, path: str) -> bytes:
        """Bytes ``[offset, offset + length)`` clipped at EOF, through the cache (see module docstring)."""
        return b"".join(self.read_views(inode, ra, offset, length, path))

    def read_views(
        self, inode: Inode, ra: ReadAhead, offset: int, length: int, path: str
    ) -> list[memoryview]:
        """What :meth:`read` returns, as views of the cached pages instead of a copy.

        The same cache accounting as a read (hits, misses, read-ahead, LRU touches). The views
        share the pages' buffers: a later write to the same bytes shows through them, and an
        evicted page's view keeps its last contents. Raises :class:`StorageError` (``EIO``) on a
        latent device error, as :meth:`read` does.
        """
        end = min(offset + length, inode.size)
        if end <= offset:
            return []
        first, last = offset // PAGE_SIZE, (end - 1) // PAGE_SIZE
        eof_pages = -(-inode.size // PAGE_SIZE)
        out: list[memoryview] = []
        stats = self._stats
        idx = first
        while idx <= last:
            page = inode.pages.get(idx)
            if page is not None:
                stats.cache_hits += 1
                if idx != ra.prev_page:
                    self._touch(page)
                if idx == ra.marker:
                    self._async_readahead(inode, ra, eof_pages)
                out.append(self._view(page, idx, offset, end))
                ra.prev_page = idx
                idx += 1
                continue
            loaded = self._sync_read(inode, ra, idx, last=last, eof_pages=eof_pages, path=path)
            for j in range(idx, min(last, idx + loaded - 1) + 1):
                stats.cache_misses += 1
                page = inode.pages[j]
                self._touch(page)
                out.append(self._view(page, j, offset, end))
                ra.prev_page = j
            idx += loaded
        self._shrink()
        return out

    @staticmethod
    def _view(page: Page, idx: int, offset: int, end: int) -> memoryview:
        base = idx * PAGE_SIZE
        return memoryview(page.data)[max(offset, base) - base : min(end, base + PAGE_SIZE) - base]

    def _sync_read(
        self, inode: Inode, ra: ReadAhead, idx: int, *, last: int, eof_pages: int, path: str
    ) -> int:
        """Handle a miss at ``idx``: one device read of a window; returns pages loaded (>= 1)."""
        requested = last - idx + 1
        max_ra = self.policy.readahead_max_pages
        if max_ra > 0 and ra.size > 0 and idx == ra.start + ra.size:
            window = min(max_ra, ra.size * 2)
        elif max_ra > 0 and (idx == 0 or idx in (ra.prev_page, ra.prev_page + 1)):
            window = min(max_ra, 4 * requested)
        else:
            window = 0
        sequential = window > 0
        n = min(max(window, requested), eof_pages - idx)
        n = self._uncached_run(inode, idx, n)
        loaded = self._load(inode, idx, n, path)
        speculative = max(0, idx + loaded - 1 - last)
        self._stats.readahead_pages += speculative
        if sequential:
            ra.start, ra.size = idx, max(window, requested)
            ra.marker = last + 1 if speculative else -1
        return loaded

    def _async_readahead(self, inode: Inode, ra: ReadAhead, eof_pages: int) -> None:
        """The reader reached the window's marker: read the next, larger window ahead of it."""
        start = ra.start + ra.size
        size = min(self.policy.readahead_max_pages, ra.size * 2)
        ra.start, ra.size, ra.marker = start, size, -1
        n = self._uncached_run(inode, start, min(size, eof_pages - start))
        n = self._device.readable_pages(inode.ino, start, n) if n > 0 else 0
        if n <= 0:
            return
        pages = self._device.read_run(inode.ino, start, n)
        for i, data in enumerate(pages):
            self._insert(inode, start + i, mask_page(data, start + i, inode.size))
        self._stats.readahead_pages += n
        ra.marker = start

    # -- whole-cache operations --------------------------------------------------------------------------

    def drop_inode(self, inode: Inode) -> None:
        """Forget every cached page of a file that no longer exists (dirty ones are not written)."""
        for page in list(inode.pages.values()):
            self._remove(page)

    def drop_clean(self) -> int:
        """``drop_caches=1``: drop every clean page, never a dirty one; returns pages dropped."""
        victims = [p for p in (*self._inactive, *self._active) if not p.dirty]
        for page in victims:
            self._remove(page)
        return len(victims)

    def peek(self, inode: Inode, idx: int) -> bytes:
        """A page's visible bytes without I/O, statistics or LRU effects (oracle view)."""
        page = inode.pages.get(idx)
        if page is not None:
            return bytes(page.data)
        return mask_page(self._device.peek(inode.ino, idx), idx, inode.size) or bytes(PAGE_SIZE)

    def unsynced(self) -> list[Page]:
        """Every dirty page, ordered by inode then index."""
        found: list[Page] = []
        for ino in sorted(self._dirty_inodes):
            inode = self._dirty_inodes[ino]
            found.extend(inode.pages[idx] for idx in sorted(inode.dirty))
        return found

    def reset(self) -> None:
        """Power loss: every page is gone."""
        for page in (*self._inactive, *self._active):
            page.inode.pages.clear()
            page.inode.dirty.clear()
            page.inode.dirtied_when = None
        self._inactive.clear()
        self._active.clear()
        self._dirty_inodes.clear()
        self.dirty_pages = 0
        self._throttle_debt = 0.0

    def forget_debt(self) -> None:
        """Process crash: the pause owed by the dead writer is void."""
        self._throttle_debt = 0.0
