"""Deterministic disk-fault injection for the simulated device (catalogue F5-F8, F12-F14, F16).

:class:`DiskFaults` is a registry the device and the file-system facade consult at
well-defined points; it never acts on its own and uses no randomness, so a seeded run
with the same faults replays exactly. Faults name files by path; the path is resolved
to the file's identity (its inode) when the fault is injected, so a fault follows its
file across renames, as it would on a real disk. Injecting a fault on a path that does
not exist raises :class:`FileNotFoundError`.

Crash points (:meth:`DiskFaults.crash_at`) are matched against paths when the
operation runs and raise :class:`SimulatedCrash` *before* the operation changes
anything; the test then calls ``power_loss`` or ``crash_process``.
"""

from __future__ import annotations

import errno as errno_mod
import fnmatch
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final, Literal

from reflog.errors import ReflogUsageError
from reflog.storage.sim._report import MisdirectedWrite

CrashOp = Literal["pwrite", "fsync", "truncate", "rename", "delete", "fsync_dir"]
CRASH_OPS: Final = frozenset({"pwrite", "fsync", "truncate", "rename", "delete", "fsync_dir"})


class SimulatedCrash(Exception):  # noqa: N818 -- the name says what happened, as trio's Cancelled does
    """A crash point fired: the operation ``op`` on ``path`` was *not* performed.

    Deliberately not a :class:`~reflog.errors.ReflogError`: code under test must not be able
    to catch it as a storage error. The test catches it and then decides what the crash
    was (``crash_process`` or ``power_loss``).
    """

    def __init__(self, op: str, path: str) -> None:
        super().__init__(f"simulated crash before {op} {path!r}")
        self.op = op
        self.path = path


@dataclass
class _WriteFault:
    first_page: int
    end_page: int | None
    persistent: bool
    errno: int


@dataclass
class _CrashPoint:
    op: str
    glob: str
    occurrence: int
    seen: int = 0


@dataclass
class _Latency:
    per_io_s: float = 0.0
    per_byte_s: float = 0.0


@dataclass
class _FileFaults:
    write: list[_WriteFault] = field(default_factory=list)
    bad_pages: set[int] = field(default_factory=set)
    misdirect: int | None = None


class DiskFaults:
    """The fault hooks of one simulated file system (``fs.faults``).

    Data faults (write-back failure, latent read errors, misdirected writes) are keyed by
    file identity; bit flips alter the durable media at once; capacity limits and crash
    points are global. :meth:`clear` removes every pending fault (the damage already
    done to media stays).
    """

    def __init__(
        self,
        resolve: Callable[[str], int],
        flip_bit: Callable[[int, int, int], None],
        used_bytes: Callable[[], int],
    ) -> None:
        self._resolve = resolve
        self._flip_bit = flip_bit
        self._used_bytes = used_bytes
        self._files: dict[int, _FileFaults] = {}
        self._crash_points: list[_CrashPoint] = []
        self._latency = _Latency()
        #: Device capacity in bytes (``None``: unlimited); a write needing more raises ENOSPC.
        self.capacity_bytes: int | None = None
        #: Every misdirected write-back run so far, for oracles.
        self.misdirected: list[MisdirectedWrite] = []

    # -- injection ---------------------------------------------------------------------------

    def fail_writeback(
        self,
        path: str,
        *,
        persistent: bool = False,
        first_page: int = 0,
        n_pages: int | None = None,
        errno: int = errno_mod.EIO,
    ) -> None:
        """Fail the next write-back I/O of ``path`` that touches pages ``[first_page, first_page+n_pages)``.

        ``n_pages=None`` means to the end of the file. With ``persistent`` every such I/O
        fails until :meth:`clear`. A failed I/O marks its pages clean and records a
        :class:`~reflog.storage.sim.FailedWrite`; the next ``fsync`` on each open handle
        reports ``errno`` once (catalogue F5).
        """
        if first_page < 0 or (n_pages is not None and n_pages < 1):
            raise ReflogUsageError("fail_writeback needs first_page >= 0 and n_pages >= 1")
        end = None if n_pages is None else first_page + n_pages
        self._file(path).write.append(_WriteFault(first_page, end, persistent, errno))

    def set_capacity(self, capacity_bytes: int | None) -> None:
        """Limit the device to ``capacity_bytes`` (``None``: unlimited); see :meth:`enospc_after`."""
        if capacity_bytes is not None and capacity_bytes < 0:
            raise ReflogUsageError("capacity must not be negative")
        self.capacity_bytes = capacity_bytes

    def enospc_after(self, extra_bytes: int) -> None:
        """Let the files grow by ``extra_bytes`` more (page-rounded) before writes fail with ENOSPC (F6).

        Space is counted as the page-rounded sizes of all live files. A ``pwrite`` or an
        extending ``truncate`` that needs more raises :class:`~reflog.errors.StorageError`
        (``ENOSPC``) before changing anything.
        """
        self.set_capacity(self._used_bytes() + extra_bytes)

    def bitflip(self, path: str, offset: int, bit: int = 0) -> None:
        """Flip bit ``bit`` (0-7) of byte ``offset`` of ``path`` in the durable media, now (F7).

        The flip models decay at rest: a copy already in the page cache is *not*
        changed, so the flip is seen by the next cold read (after eviction,
        ``drop_clean``, a crash or a power loss) and by ``durable_bytes``. A newer write
        of the same page still waiting in the volatile device cache overwrites it on flush.
        """
        if offset < 0 or not 0 <= bit < 8:
            raise ReflogUsageError("bitflip needs offset >= 0 and 0 <= bit < 8")
        self._flip_bit(self._resolve(path), offset, bit)

    def latent_read_error(self, path: str, first_page: int, n_pages: int = 1) -> None:
        """Make pages ``[first_page, first_page + n_pages)`` of ``path`` unreadable on the device (F8).

        A ``pread`` that must read such a page from the device (it is not cached) raises
        :class:`~reflog.errors.StorageError` (``EIO``); read-ahead stops short of a bad
        page instead of failing. Cached copies still read fine; writes still succeed.
        The error persists until :meth:`clear`.
        """
        if first_page < 0 or n_pages < 1:
            raise ReflogUsageError("latent_read_error needs first_page >= 0 and n_pages >= 1")
        self._file(path).bad_pages.update(range(first_page, first_page + n_pages))

    def misdirect_next_run(self, path: str, delta_pages: int) -> None:
        """Make the next write-back run of ``path`` land ``delta_pages`` away in the same file (F12).

        The I/O "succeeds": its pages are marked clean, the intended range keeps its old
        device bytes, and the landing range (clamped at page 0) is overwritten. Each
        misdirection is recorded in :attr:`misdirected`.
        """
        if delta_pages == 0:
            raise ReflogUsageError("a misdirected write needs a non-zero delta")
        self._file(path).misdirect = delta_pages

    def crash_at(self, op: CrashOp, path_glob: str, occurrence: int = 1) -> None:
        """Raise :class:`SimulatedCrash` at the ``occurrence``-th ``op`` on a path matching ``path_glob``.

        ``op`` is one of ``pwrite``, ``fsync``, ``truncate``, ``rename``, ``delete``,
        ``fsync_dir``. The glob (``fnmatch``, case-sensitive) is matched against the path
        the handle was opened with, the directory for ``fsync_dir`` (``""`` is the root),
        and either side of a ``rename``. The crash fires before the operation changes
        anything, then the crash point is removed (F14, F16).
        """
        if op not in CRASH_OPS:
            raise ReflogUsageError(f"crash_at: unknown op {op!r}; expected one of {sorted(CRASH_OPS)}")
        if occurrence < 1:
            raise ReflogUsageError("crash_at: occurrence counts from 1")
        self._crash_points.append(_CrashPoint(op, path_glob, occurrence))

    def set_latency(self, *, per_io_s: float = 0.0, per_byte_s: float = 0.0) -> None:
        """Slow disk (F13): each device I/O adds ``per_io_s + bytes * per_byte_s`` simulated seconds
        to ``stats.device_busy_seconds``, which writers then wait out (``take_throttle_delay``)."""
        if per_io_s < 0 or per_byte_s < 0:
            raise ReflogUsageError("latency must not be negative")
        self._latency = _Latency(per_io_s, per_byte_s)

    def clear(self) -> None:
        """Remove every pending fault, crash point, capacity limit and latency."""
        self._files.clear()
        self._crash_points.clear()
        self._latency = _Latency()
        self.capacity_bytes = None

    # -- queries used by the model -------------------------------------------------------------

    def check_crash(self, op: str, *paths: str) -> None:
        """Count a matching crash point and raise :class:`SimulatedCrash` when it is due."""
        if not self._crash_points:
            return
        for point in self._crash_points:
            if point.op != op or not any(fnmatch.fnmatchcase(p, point.glob) for p in paths):
                continue
            point.seen += 1
            if point.seen >= point.occurrence:
                self._crash_points.remove(point)
                raise SimulatedCrash(op, paths[0])

    def take_write_failure(self, ino: int, first_page: int, n_pages: int) -> int | None:
        """The errno a write of those pages fails with (consuming a one-shot fault); ``None``: it succeeds."""
        faults = self._files.get(ino)
        if faults is None or not faults.write:
            return None
        end = first_page + n_pages
        for fault in faults.write:
            if fault.first_page < end and (fault.end_page is None or first_page < fault.end_page):
                if not fault.persistent:
                    faults.write.remove(fault)
                return fault.errno
        return None

    def take_misdirect(self, ino: int) -> int | None:
        """The page delta of a pending misdirection of this file's next run (consumed), or ``None``."""
        faults = self._files.get(ino)
        if faults is None or faults.misdirect is None:
            return None
        delta, faults.misdirect = faults.misdirect, None
        return delta

    def first_bad_page(self, ino: int, first_page: int, n_pages: int) -> int | None:
        """The first unreadable page in ``[first_page, first_page + n_pages)``, or ``None``."""
        faults = self._files.get(ino)
        if faults is None or not faults.bad_pages:
            return None
        for page in range(first_page, first_page + n_pages):
            if page in faults.bad_pages:
                return page
        return None

    def io_cost(self, nbytes: int) -> float:
        """Simulated seconds one device I/O of ``nbytes`` takes."""
        return self._latency.per_io_s + nbytes * self._latency.per_byte_s

    def inodes(self) -> set[int]:
        """Inodes that have pending data faults."""
        return set(self._files)

    def forget(self, ino: int) -> None:
        """Drop the faults of a file whose data no longer exists anywhere."""
        self._files.pop(ino, None)

    def _file(self, path: str) -> _FileFaults:
        ino = self._resolve(path)
        return self._files.setdefault(ino, _FileFaults())
