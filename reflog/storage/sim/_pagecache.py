"""The page cache: cached pages, LRU lists, writes, read-ahead, eviction, truncation.

Promises (the numbers come from :class:`~reflog.storage.sim.WritebackPolicy`):

* **Writes** land in cached pages and mark them dirty; a partial write of an uncached page
  below EOF first reads it (read-modify-write). Nothing is written to the device by a
  write itself unless the writer hits the hard dirty limit (it then writes back until
  below it) or memory pressure evicts a dirty page (a forced single-page write).
* **Dirty pages, write-back and throttling** belong to :attr:`PageCache.writeback`
  (:mod:`._writeback`): the page cache marks pages dirty and hands it each write for
  ``balance_dirty_pages``.
* **Reads** count a hit or a miss per page; a miss issues one device read covering a
  read-ahead window when the access is sequential, only the requested pages otherwise.
* **Eviction** keeps at most ``memory_pages`` cached: victims come from the inactive
  list's cold end; a second access promotes a page to the active list.

Every operation costs time proportional to the pages it touches, except truncation
(proportional to the file's cached pages).
Device read errors surface as :class:`~reflog.errors.StorageError` (``EIO``).
"""

from __future__ import annotations

import errno as errno_mod
import random
from collections import OrderedDict
from collections.abc import Callable

from reflog.clock import Clock
from reflog.errors import StorageError
from reflog.storage.sim._device import Device, DeviceReadError, mask_page
from reflog.storage.sim._faults import DiskFaults
from reflog.storage.sim._inode import Inode, Page, ReadAhead
from reflog.storage.sim._policy import PAGE_SIZE, WritebackPolicy
from reflog.storage.sim._stats import IOStats
from reflog.storage.sim._writeback import Writeback


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
        self._stats = stats
        self._clock = clock
        self._inactive: OrderedDict[Page, None] = OrderedDict()
        self._active: OrderedDict[Page, None] = OrderedDict()
        #: Dirty tracking, write-back and throttling over these pages.
        self.writeback = Writeback(
            policy=policy,
            device=device,
            faults=faults,
            stats=stats,
            clock=clock,
            rng=rng,
            path_of=path_of,
            discard=self._remove,
        )

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
            self.writeback.clean(page)
        (self._active if page.active else self._inactive).pop(page, None)
        page.inode.pages.pop(page.index, None)

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
                self.writeback.write_run(victim.inode, victim.index, 1, eviction=True)
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
                self.writeback.mark_dirty(page, now)
        inode.size = max(inode.size, end)
        self._shrink()
        self.writeback.balance()

    @staticmethod
    def _needs_read(size: int, start: int, end: int, idx: int) -> bool:
        base = idx * PAGE_SIZE
        if base >= size:
            return False
        existing_end = min(size, base + PAGE_SIZE)
        return not (start <= base and end >= existing_end)

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

    def reset(self) -> None:
        """Power loss: every page is gone."""
        for page in (*self._inactive, *self._active):
            page.inode.pages.clear()
            page.inode.dirty.clear()
            page.inode.dirtied_when = None
        self._inactive.clear()
        self._active.clear()
        self.writeback.reset()
