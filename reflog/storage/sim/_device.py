"""The simulated block device: durable media plus an optional volatile write cache.

Per file (by inode number) the device keeps

* ``media`` -- durable pages; only these survive a power loss in ``CLEAN`` mode;
* ``volatile`` -- pages written but not yet flushed (only with a volatile device cache);
* ``durable_size`` -- the file size recorded durably (set by :meth:`Device.commit_size`);
* a pending *trim*: a truncation that is visible but not yet durable. Reads through the
  device (:meth:`Device.read_run`, :meth:`Device.peek`) see the trimmed bytes as zeros,
  while the media keeps them until the size is committed, or a power loss decides.

Every write or read is one I/O, counted in :class:`~reflog.storage.sim.IOStats` as
sequential when it starts where the previous I/O *in the same direction* ended (same
file, next page), else random. The device never raises :class:`~reflog.errors.StorageError`
itself: a failed write is returned as an errno, an unreadable page raises
:class:`DeviceReadError` for the page cache to translate. Pages are immutable ``bytes``
of exactly ``PAGE_SIZE``; a missing page reads as zeros.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from reflog.storage.sim._faults import DiskFaults
from reflog.storage.sim._policy import PAGE_SIZE
from reflog.storage.sim._report import DeviceIO
from reflog.storage.sim._stats import IOStats

ZERO_PAGE = bytes(PAGE_SIZE)
#: A mask limit beyond any file offset: the page is not masked at all.
NO_MASK = 1 << 62


class DeviceReadError(Exception):
    """The device could not read ``page`` (latent sector error). Internal to the model."""

    def __init__(self, page: int) -> None:
        super().__init__(f"unreadable page {page}")
        self.page = page


@dataclass(frozen=True)
class WriteResult:
    """Outcome of one write I/O: ``errno`` when it failed, and where the data actually landed."""

    errno: int | None
    landed_page: int


def mask_page(data: bytes | None, page: int, limit: int) -> bytes | None:
    """``data`` of ``page`` with every byte at file offset >= ``limit`` zeroed (``None`` = all zeros)."""
    start = page * PAGE_SIZE
    if data is None or start >= limit:
        return None
    if start + PAGE_SIZE <= limit:
        return data
    keep = limit - start
    return data[:keep] + bytes(PAGE_SIZE - keep)


class _DeviceFile:
    __slots__ = ("durable_size", "fresh", "media", "media_top", "trim_at", "volatile")

    def __init__(self) -> None:
        self.media: dict[int, bytes] = {}
        self.volatile: dict[int, bytes] = {}
        self.durable_size = 0
        #: One past the highest page index ever stored in media (an upper bound).
        self.media_top = 0
        #: Smallest size truncated to since the last size commit, or ``None``.
        self.trim_at: int | None = None
        #: Pages written since ``trim_at`` was set, each with the offset from which a later
        #: truncation zeroes it (``NO_MASK``: none); other pages are masked at ``trim_at``.
        self.fresh: dict[int, int] = {}

    def store_media(self, page: int, data: bytes) -> None:
        self.media[page] = data
        if page >= self.media_top:
            self.media_top = page + 1

    def view(self, page: int) -> bytes | None:
        data = self.volatile.get(page)
        if data is not None:
            return data
        data = self.media.get(page)
        if self.trim_at is not None:
            return mask_page(data, page, self.fresh.get(page, self.trim_at))
        return data

    def truncate(self, size: int) -> None:
        """A visible, not yet durable shrink: see :meth:`Device.truncate`."""
        whole = -(-size // PAGE_SIZE)
        for page in [p for p in self.volatile if p >= whole]:
            del self.volatile[page]
        tail = size // PAGE_SIZE
        if size % PAGE_SIZE and tail in self.volatile:
            self.volatile[tail] = mask_page(self.volatile[tail], tail, size) or ZERO_PAGE
        self.trim_at = size if self.trim_at is None else min(self.trim_at, size)
        for page in [p for p in self.fresh if p >= tail]:
            if page * PAGE_SIZE >= size:
                del self.fresh[page]
            else:
                self.fresh[page] = min(self.fresh[page], size)

    def apply_trim(self) -> None:
        """Make a pending truncation real on the media (each page masked as :meth:`view` does)."""
        if self.trim_at is None:
            return
        for page in range(self.trim_at // PAGE_SIZE, self.media_top):
            data = self.media.get(page)
            if data is None:
                continue
            masked = mask_page(data, page, self.fresh.get(page, self.trim_at))
            if masked is None:
                del self.media[page]
            else:
                self.media[page] = masked
        self.trim_at = None
        self.fresh = {}

    def trim_media(self, limit: int) -> None:
        """Zero every media byte at offset >= ``limit``."""
        for page in range(limit // PAGE_SIZE, self.media_top):
            data = self.media.get(page)
            if data is None:
                continue
            masked = mask_page(data, page, limit)
            if masked is None:
                del self.media[page]
            else:
                self.media[page] = masked
        self.media_top = min(self.media_top, -(-limit // PAGE_SIZE))


class Device:
    """Media and volatile cache of every file; see the module docstring for the model."""

    def __init__(self, *, volatile_cache: bool, stats: IOStats, faults: DiskFaults) -> None:
        self.volatile_cache = volatile_cache
        self._stats = stats
        self._faults = faults
        self._files: dict[int, _DeviceFile] = {}
        self._unflushed: dict[int, None] = {}
        self._last_write_end: tuple[int, int] | None = None
        self._last_read_end: tuple[int, int] | None = None
        #: Every device operation in order, when tracing is on (``None``: off).
        self.trace: list[DeviceIO] | None = None

    def _file(self, ino: int) -> _DeviceFile:
        found = self._files.get(ino)
        if found is None:
            found = self._files[ino] = _DeviceFile()
        return found

    # -- I/O ---------------------------------------------------------------------------------------

    def write_run(
        self, ino: int, first_page: int, pages: Sequence[bytes], *, force_random: bool = False
    ) -> WriteResult:
        """Write ``pages`` at ``first_page`` in one I/O; into the volatile cache if there is one.

        Consults the fault registry: an injected write failure stores nothing and returns
        its errno; a pending misdirection stores the pages elsewhere in the same file.
        ``force_random`` counts the I/O as random whatever its position (eviction writes).
        """
        n = len(pages)
        nbytes = n * PAGE_SIZE
        stats = self._stats
        stats.write_ios += 1
        stats.bytes_written += nbytes
        stats.device_busy_seconds += self._faults.io_cost(nbytes)
        sequential = not force_random and self._last_write_end == (ino, first_page)
        if sequential:
            stats.seq_write_ios += 1
        else:
            stats.rand_write_ios += 1
        if self.trace is not None:
            self.trace.append(DeviceIO("write", ino, first_page, n, sequential))
        self._last_write_end = (ino, first_page + n)
        failed = self._faults.take_write_failure(ino, first_page, n)
        if failed is not None:
            return WriteResult(failed, first_page)
        delta = self._faults.take_misdirect(ino)
        landed = first_page if delta is None else max(0, first_page + delta)
        f = self._file(ino)
        for i, data in enumerate(pages):
            self._store(ino, f, landed + i, data)
        return WriteResult(None, landed)

    def _store(self, ino: int, f: _DeviceFile, page: int, data: bytes) -> None:
        if self.volatile_cache:
            f.volatile[page] = data
            self._unflushed[ino] = None
        else:
            f.store_media(page, data)
        if f.trim_at is not None:
            f.fresh[page] = NO_MASK

    def readable_pages(self, ino: int, first_page: int, n_pages: int) -> int:
        """How many pages from ``first_page`` (at most ``n_pages``) can be read before a bad one."""
        bad = self._faults.first_bad_page(ino, first_page, n_pages)
        return n_pages if bad is None else bad - first_page

    def read_run(self, ino: int, first_page: int, n_pages: int) -> list[bytes]:
        """Read ``n_pages`` from ``first_page`` in one I/O (the device's current view, trims applied).

        Raises :class:`DeviceReadError` for the first page with a latent read error.
        """
        bad = self._faults.first_bad_page(ino, first_page, n_pages)
        if bad is not None:
            raise DeviceReadError(bad)
        nbytes = n_pages * PAGE_SIZE
        stats = self._stats
        stats.read_ios += 1
        stats.bytes_read += nbytes
        stats.device_busy_seconds += self._faults.io_cost(nbytes)
        sequential = self._last_read_end == (ino, first_page)
        if sequential:
            stats.seq_read_ios += 1
        else:
            stats.rand_read_ios += 1
        if self.trace is not None:
            self.trace.append(DeviceIO("read", ino, first_page, n_pages, sequential))
        self._last_read_end = (ino, first_page + n_pages)
        f = self._files.get(ino)
        if f is None:
            return [ZERO_PAGE] * n_pages
        return [f.view(page) or ZERO_PAGE for page in range(first_page, first_page + n_pages)]

    def flush(self) -> None:
        """Barrier: move every volatile page of every file to media."""
        self._stats.device_flushes += 1
        self._stats.device_busy_seconds += self._faults.io_cost(0)
        if self.trace is not None:
            self.trace.append(DeviceIO("flush", -1, 0, 0, False))
        for ino in self._unflushed:
            f = self._files.get(ino)
            if f is None:
                continue
            for page, data in f.volatile.items():
                f.store_media(page, data)
            f.volatile.clear()
        self._unflushed.clear()

    # -- metadata -------------------------------------------------------------------------------------

    def truncate(self, ino: int, size: int) -> None:
        """A visible (not yet durable) shrink to ``size``: drop unflushed pages beyond it, trim reads."""
        self._file(ino).truncate(size)

    def commit_size(self, ino: int, size: int) -> None:
        """Make ``size`` the durable size: apply a pending trim to media and zero media beyond ``size``.

        Called after a flush barrier, so the file has no volatile pages.
        """
        f = self._file(ino)
        f.apply_trim()
        f.durable_size = size
        f.trim_media(size)

    def durable_size(self, ino: int) -> int:
        f = self._files.get(ino)
        return 0 if f is None else f.durable_size

    def has_pending_trim(self, ino: int) -> bool:
        f = self._files.get(ino)
        return f is not None and f.trim_at is not None

    # -- oracle views (no I/O, no faults) ---------------------------------------------------------

    def peek(self, ino: int, page: int) -> bytes | None:
        """The device's current view of a page (volatile over media, trims applied); ``None`` = zeros."""
        f = self._files.get(ino)
        return None if f is None else f.view(page)

    def peek_media(self, ino: int, page: int) -> bytes | None:
        """The durable media's page; ``None`` = zeros."""
        f = self._files.get(ino)
        return None if f is None else f.media.get(page)

    # -- faults and power loss ----------------------------------------------------------------------

    def flip_bit(self, ino: int, offset: int, bit: int) -> None:
        """Flip one bit of the media (decay at rest)."""
        f = self._file(ino)
        page, at = divmod(offset, PAGE_SIZE)
        data = bytearray(f.media.get(page) or ZERO_PAGE)
        data[at] ^= 1 << bit
        f.store_media(page, bytes(data))

    def unsynced_writes(self) -> list[tuple[int, int, bytes]]:
        """Every page in the volatile cache as ``(ino, page, bytes)``, sorted."""
        found: list[tuple[int, int, bytes]] = []
        for ino in sorted(self._unflushed):
            f = self._files.get(ino)
            if f is not None:
                found.extend((ino, page, f.volatile[page]) for page in sorted(f.volatile))
        return found

    def drop_volatile(self) -> None:
        """Power loss: the volatile cache is gone."""
        for ino in self._unflushed:
            f = self._files.get(ino)
            if f is not None:
                f.volatile.clear()
        self._unflushed.clear()
        self._last_write_end = None
        self._last_read_end = None

    def resolve_trim(self, ino: int, *, applied: bool) -> None:
        """Power loss: a pending truncation either reached the journal (``applied``) or is forgotten."""
        f = self._files.get(ino)
        if f is None:
            return
        if applied:
            f.apply_trim()
        else:
            f.trim_at = None
            f.fresh = {}

    def land(self, ino: int, page: int, data: bytes) -> None:
        """Power loss: an unsynced page write reached the media after all."""
        self._file(ino).store_media(page, data)

    def settle_size(self, ino: int, size: int) -> None:
        """Power loss: the file's size after the crash is ``size``; nothing lies beyond it."""
        f = self._file(ino)
        f.durable_size = size
        f.trim_media(size)

    def inodes(self) -> list[int]:
        """Inode numbers the device holds data or metadata for."""
        return sorted(self._files)

    def forget(self, ino: int) -> None:
        """Free a file's blocks: no name, journal entry or handle refers to it any more."""
        self._files.pop(ino, None)
        self._unflushed.pop(ino, None)
