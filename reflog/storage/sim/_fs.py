"""The facade: :class:`SimFilesystem`, the simulated implementation of the storage seam.

It implements :class:`reflog.storage._fs.Filesystem` exactly (same methods, same
failure modes) on top of a page cache (:mod:`._pagecache`), a device (:mod:`._device`)
and a namespace with durable and visible directory entries (:mod:`._namespace`), and
adds what a test needs: write-back ticks, crash and power-loss simulation, oracle views
of visible and durable bytes (:mod:`._oracle`), I/O counters and fault hooks. Paths and
handles are checked by :mod:`._handle`.

Everything is synchronous, like the system calls it stands for. Time is read only from
the injected :class:`~reflog.clock.Clock`; randomness comes only from
``random.Random(seed)``, so the same seed and the same calls give the same run.

Handles belong to a "process": :meth:`SimFilesystem.crash_process` and
:meth:`SimFilesystem.power_loss` end it, and any later use of its handles raises
:class:`~reflog.errors.ReflogUsageError` (as does a closed or foreign handle, a negative
offset or an absolute / ``..`` path).
"""

from __future__ import annotations

import errno
import os
import random
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from reflog.clock import Clock
from reflog.errors import ReflogUsageError, StorageError
from reflog.storage._fs import FileHandle, Filesystem
from reflog.storage.sim._device import Device
from reflog.storage.sim._faults import DiskFaults
from reflog.storage.sim._handle import SimFileHandle, normalize
from reflog.storage.sim._inode import Inode
from reflog.storage.sim._namespace import Dir, Namespace
from reflog.storage.sim._oracle import OracleViews
from reflog.storage.sim._pagecache import PageCache
from reflog.storage.sim._policy import PAGE_SIZE, PowerLossMode, WritebackPolicy, pages_spanning
from reflog.storage.sim._powerloss import lose_power
from reflog.storage.sim._report import CrashReport
from reflog.storage.sim._stats import IOStats


class SimFilesystem(OracleViews):
    """A page cache over a simulated device, with crash, power-loss and fault injection.

    ``clock`` drives dirty expiry and write-back; use :class:`~reflog.trio_clock.TrioClock`
    under trio (with :func:`reflog.storage.flusher.run_flusher`) or
    :class:`~reflog.clock.ManualClock` in synchronous tests, calling
    :meth:`writeback_tick` yourself. ``seed`` seeds every random choice. The device
    capacity is unlimited unless ``capacity_bytes`` (or ``faults.set_capacity``) says otherwise.
    ``trace_io`` records every device operation in :attr:`io_trace`.
    """

    def __init__(
        self,
        clock: Clock,
        *,
        seed: int = 0,
        policy: WritebackPolicy | None = None,
        capacity_bytes: int | None = None,
        trace_io: bool = False,
    ) -> None:
        self.clock = clock
        self.seed = seed
        self._busy_charged = 0.0
        self.policy = policy if policy is not None else WritebackPolicy()
        self._rng = random.Random(seed)
        #: I/O counters (mutable; see :class:`IOStats`).
        self.stats = IOStats()
        self._namespace = Namespace()
        self._inodes: dict[int, Inode] = {}
        self._next_ino = 1
        self._epoch = 0
        self._handles: list[SimFileHandle] = []
        #: Fault hooks (see :class:`DiskFaults`).
        self.faults = DiskFaults(self._resolve_ino, self._flip_bit, self._used_bytes)
        self.faults.set_capacity(capacity_bytes)
        self._device = Device(
            volatile_cache=self.policy.device_volatile_cache, stats=self.stats, faults=self.faults
        )
        self._cache = PageCache(
            policy=self.policy,
            device=self._device,
            faults=self.faults,
            stats=self.stats,
            clock=clock,
            rng=self._rng,
            path_of=self._path_of,
        )
        if trace_io:
            self._device.trace = []

    # -- internals --------------------------------------------------------------------------------------

    def _check(self, handle: FileHandle) -> tuple[SimFileHandle, Inode]:
        if not isinstance(handle, SimFileHandle):
            raise ReflogUsageError(f"{handle!r} is not a handle of this SimFilesystem")
        handle.validate(self, self._epoch)
        return handle, self._inodes[handle.ino]

    def _path_of(self, ino: int) -> str:
        for path, found in self._namespace.visible_files():
            if found == ino:
                return path
        return f"#{ino}"

    def _flip_bit(self, ino: int, offset: int, bit: int) -> None:
        self._device.flip_bit(ino, offset, bit)

    def _used_bytes(self) -> int:
        return sum(
            pages_spanning(inode.size) * PAGE_SIZE
            for inode in self._inodes.values()
            if inode.linked or inode.open_count > 0
        )

    def _reserve(self, inode: Inode, new_size: int, path: str) -> None:
        capacity = self.faults.capacity_bytes
        if capacity is None or new_size <= inode.size:
            return
        growth = (pages_spanning(new_size) - pages_spanning(inode.size)) * PAGE_SIZE
        if growth > 0 and self._used_bytes() + growth > capacity:
            raise StorageError(f"ENOSPC: no space left for {path!r}", errno=errno.ENOSPC, path=path)

    def _release(self, inode: Inode) -> None:
        """A file with no name and no open handle loses its cached pages (dirty ones unwritten)."""
        if not inode.linked and inode.open_count == 0:
            self._cache.drop_inode(inode)

    def _collect_garbage(self) -> None:
        """Forget inodes no name, journal entry or handle refers to: their pages, blocks and faults."""
        referenced = self._namespace.referenced_inodes()
        referenced.update(h.ino for h in self._handles)
        for ino in [i for i in self._inodes if i not in referenced]:
            self._cache.drop_inode(self._inodes.pop(ino))
        for ino in set(self._device.inodes()) | self.faults.inodes():
            if ino not in referenced:
                self._device.forget(ino)
                self.faults.forget(ino)

    # -- the Filesystem protocol ---------------------------------------------------------------------

    def open(self, path: str, *, create: bool = False) -> SimFileHandle:
        """Open ``path``; create it empty when ``create`` is set (durable after ``fsync_dir`` of its parent).

        Raises :class:`FileNotFoundError` (missing file, or missing parent when creating)
        and :class:`IsADirectoryError`. A new handle reports a write-back error that no
        handle has reported yet once (Linux 4.17+ errseq).
        """
        p = normalize(path)
        node = self._namespace.lookup(p)
        if isinstance(node, Dir):
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), path)
        if node is None:
            if not create:
                raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), path)
            ino = self._next_ino
            self._namespace.create(p, ino)
            self._next_ino += 1
            inode = self._inodes[ino] = Inode(ino)
            inode.linked = True
        else:
            inode = self._inodes[node]
        inode.open_count += 1
        seen = inode.errseq if inode.err_seen else inode.errseq - 1
        handle = SimFileHandle(self, path, inode.ino, self._epoch, seen)
        self._handles.append(handle)
        return handle

    def close(self, handle: FileHandle) -> None:
        """Release ``handle``; dirty pages stay cached. Using it afterwards raises ReflogUsageError."""
        h, inode = self._check(handle)
        h.mark_closed()
        self._handles.remove(h)
        inode.open_count -= 1
        self._release(inode)

    def size(self, handle: FileHandle) -> int:
        """The file's visible size."""
        return self._check(handle)[1].size

    def pwrite(self, handle: FileHandle, offset: int, data: bytes | memoryview) -> None:
        """Write ``data`` at ``offset`` into the page cache (see :mod:`._pagecache` for costs).

        Raises :class:`SimulatedCrash` at a crash point, then :class:`StorageError`
        ``ENOSPC`` (capacity) or ``EIO`` (unreadable page needing read-modify-write), all
        before any byte changes. May leave a throttling pause to collect with
        :meth:`take_throttle_delay`.
        """
        h, inode = self._check(handle)
        if offset < 0:
            raise ReflogUsageError(f"negative offset {offset}")
        self.faults.check_crash("pwrite", h.normalized)
        n = memoryview(data).nbytes
        if n:
            self._reserve(inode, offset + n, h.path)
        self._cache.write(inode, offset, data, h.path)

    def pread(self, handle: FileHandle, offset: int, length: int) -> bytes:
        """Read through the page cache; shorter only at EOF. Raises StorageError EIO on a latent error."""
        h, inode = self._check(handle)
        if offset < 0 or length < 0:
            raise ReflogUsageError(f"negative offset or length ({offset}, {length})")
        return self._cache.read(inode, h.ra, offset, length, h.path)

    def pread_into(self, handle: FileHandle, offset: int, buffer: memoryview) -> int:
        """A read through the page cache, copied into ``buffer``; shorter only at EOF."""
        at = 0
        with self.read_views(handle, offset, buffer.nbytes) as views:
            for view in views:
                buffer[at : at + view.nbytes] = view
                at += view.nbytes
        return at

    @contextmanager
    def read_views(self, handle: FileHandle, offset: int, length: int) -> Iterator[list[memoryview]]:
        """Views of the cached pages holding the range (a read's accounting, no copy)."""
        h, inode = self._check(handle)
        if offset < 0 or length < 0:
            raise ReflogUsageError(f"negative offset or length ({offset}, {length})")
        views = self._cache.read_views(inode, h.ra, offset, length, h.path)
        try:
            yield views
        finally:
            for view in views:
                view.release()

    def truncate(self, handle: FileHandle, size: int) -> None:
        """Set the visible size (shrinking drops cached pages beyond it); durable after fsync.

        An extension needs space like a write and raises ENOSPC before changing anything.
        """
        h, inode = self._check(handle)
        if size < 0:
            raise ReflogUsageError(f"negative size {size}")
        self.faults.check_crash("truncate", h.normalized)
        self._reserve(inode, size, h.path)
        self._cache.truncate(inode, size)

    def fsync(self, handle: FileHandle) -> None:
        """Write back the file's dirty pages (ascending, coalesced), flush the device, commit the size.

        If a write-back of this file failed since this handle last reported an error,
        raises :class:`StorageError` (the failure's errno, usually ``EIO``) *once* and
        neither flushes nor commits the size; the next fsync "succeeds" although the
        failed pages never reached the device (fsyncgate). See :attr:`failed_writes`.
        """
        h, inode = self._check(handle)
        self.faults.check_crash("fsync", h.normalized)
        self.stats.fsyncs += 1
        self._cache.writeback.write_back_inode(inode, "ascending")
        if inode.errseq != h.errseq_seen:
            h.errseq_seen = inode.errseq
            inode.err_seen = True
            self.stats.fsync_errors += 1
            code = next(
                (f.errno for f in reversed(self._cache.writeback.failed_writes) if f.ino == inode.ino),
                errno.EIO,
            )
            raise StorageError(
                f"fsync of {h.path!r} failed: write-back error ({errno.errorcode.get(code, code)})",
                errno=code,
                path=h.path,
            )
        self._device.flush()
        self._device.commit_size(inode.ino, inode.size)

    def fsync_dir(self, path: str) -> None:
        """Make directory ``path``'s entry changes durable (with the earlier changes they depend on).

        Also a device flush barrier. Raises FileNotFoundError / NotADirectoryError.
        """
        p = normalize(path)
        self.faults.check_crash("fsync_dir", p)
        node = self._namespace.lookup(p)
        if node is None:
            raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), path)
        if not isinstance(node, Dir):
            raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), path)
        self.stats.dir_fsyncs += 1
        self._namespace.commit(p)
        self._device.flush()
        self._collect_garbage()

    def rename(self, src: str, dst: str) -> None:
        """Atomically move ``src`` to ``dst`` (replacing a file there); durable after ``fsync_dir``.

        A power loss leaves the old or the new state of the entries, never a partial file:
        renames move inodes, they never copy data.
        """
        s, d = normalize(src), normalize(dst)
        self.faults.check_crash("rename", s, d)
        replaced = self._namespace.rename(s, d)
        if replaced is not None:
            inode = self._inodes[replaced]
            inode.linked = False
            self._release(inode)

    def delete(self, path: str) -> None:
        """Unlink file ``path`` (open handles keep working); durable after ``fsync_dir``."""
        p = normalize(path)
        self.faults.check_crash("delete", p)
        inode = self._inodes[self._namespace.delete(p)]
        inode.linked = False
        self._release(inode)

    def exists(self, path: str) -> bool:
        return self._namespace.lookup(normalize(path)) is not None

    def listdir(self, path: str) -> list[str]:
        return self._namespace.listdir(normalize(path))

    def makedirs(self, path: str) -> None:
        """Create ``path`` and missing parents; each is durable after ``fsync_dir`` of its parent."""
        p = normalize(path)
        if not p:
            return
        parts = p.split("/")
        for i in range(1, len(parts) + 1):
            prefix = "/".join(parts[:i])
            node = self._namespace.lookup(prefix)
            if node is None:
                self._namespace.mkdir(prefix)
            elif not isinstance(node, Dir):
                raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), prefix)

    def sendfile_fd(self, handle: FileHandle) -> int | None:
        """Always ``None``: simulated files have no OS descriptor."""
        self._check(handle)
        return None

    def take_throttle_delay(self) -> float:
        """Seconds a writer owes since the last call (then reset to 0).

        That is the page cache's write throttling plus the device time of every I/O since the
        last call (non-zero only on a slow disk, :meth:`DiskFaults.set_latency`): the broker
        waits it out after an append, so a slow disk slows its writers as a real one would.
        """
        busy = self.stats.device_busy_seconds - self._busy_charged
        self._busy_charged = self.stats.device_busy_seconds
        return self._cache.writeback.take_throttle_delay() + busy

    # -- write-back control -----------------------------------------------------------------------------

    def writeback_tick(self) -> int:
        """Perform all write-back due at ``clock.now()``; returns the pages written.

        Due are: the periodic pass (when ``dirty_writeback_interval_s`` has elapsed since
        the last one; writes every file dirty for ``dirty_expire_s`` or longer, entirely),
        and background write-back while more than the background threshold is dirty.
        Write-back errors are not raised here; they surface at the next ``fsync``.
        """
        return self._cache.writeback.tick()

    def next_writeback_due(self) -> float:
        """Clock time at which :meth:`writeback_tick` next has work (``math.inf``: nothing dirty)."""
        return self._cache.writeback.next_due()

    def set_wakeup_hook(self, hook: Callable[[], None] | None) -> None:
        """Register the (single) callback run when write-back becomes due earlier than announced.

        It is called synchronously from ``pwrite`` when the first page is dirtied and when
        the background threshold is crossed. It must not call back into the file system
        (a trio flusher just cancels its sleep). Raises ReflogUsageError if one is already set.
        """
        if hook is not None and self._cache.writeback.wakeup is not None:
            raise ReflogUsageError("a write-back wake-up hook (flusher) is already attached")
        self._cache.writeback.wakeup = hook

    def sync(self) -> None:
        """``sync(2)``: write back everything, flush, make every size and directory entry durable.

        Write-back errors are recorded as usual (and reported by later fsyncs), not raised.
        """
        self._cache.writeback.write_back_all()
        self._device.flush()
        for inode in self._inodes.values():
            self._device.commit_size(inode.ino, inode.size)
        self._namespace.commit_all()
        self._collect_garbage()

    def drop_clean(self) -> int:
        """``echo 1 > drop_caches``: drop every clean cached page (never a dirty one); returns the count."""
        return self._cache.drop_clean()

    # -- crashes ----------------------------------------------------------------------------------------

    def _end_process(self) -> int:
        count = len(self._handles)
        self._epoch += 1
        for handle in self._handles:
            self._inodes[handle.ino].open_count -= 1
        self._handles.clear()
        for inode in self._inodes.values():
            self._release(inode)
        self._cache.writeback.forget_debt()
        return count

    def crash_process(self) -> None:
        """The process dies (SIGKILL); the kernel lives on.

        The page cache, the device cache and pending directory entries all survive and
        write-back continues; every open handle becomes invalid (ReflogUsageError on use).
        """
        self._end_process()

    def power_loss(
        self,
        mode: PowerLossMode = PowerLossMode.CLEAN,
        *,
        survival_probability: float = 0.5,
        torn_probability: float = 0.5,
        size_probability: float = 0.5,
    ) -> CrashReport:
        """The machine loses power: page cache and volatile device cache are emptied.

        What survives depends on ``mode`` (see :class:`PowerLossMode` and
        :mod:`._powerloss`); ``CLEAN`` leaves exactly :meth:`durable_bytes` of every
        :meth:`durable_paths` file; ``PARTIAL`` and ``TORN`` keep each unsynced page with
        ``survival_probability``, ``TORN`` tears each kept page with ``torn_probability``, and
        an unsynced size change reaches the journal with ``size_probability``. Open handles
        become invalid. Raises :class:`ReflogUsageError` for a probability outside [0, 1]. Returns a
        :class:`CrashReport` of lost, surviving and torn pages and rolled-back directory
        operations. Faults already applied to media stay; pending fault hooks stay armed.
        """
        probabilities = (survival_probability, torn_probability, size_probability)
        if not all(0.0 <= p <= 1.0 for p in probabilities):
            raise ReflogUsageError("probabilities must lie in [0, 1]")
        invalidated = self._end_process()
        report, self._inodes = lose_power(
            mode=mode,
            survival_probability=survival_probability,
            torn_probability=torn_probability,
            size_probability=size_probability,
            rng=self._rng,
            cache=self._cache,
            device=self._device,
            namespace=self._namespace,
            inodes=self._inodes,
            handles_invalidated=invalidated,
        )
        self._collect_garbage()
        return report


if TYPE_CHECKING:

    def _conforms(fs: SimFilesystem) -> Filesystem:
        return fs
