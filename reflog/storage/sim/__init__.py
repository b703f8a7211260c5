"""A simulated page cache over a simulated device: the test implementation of the storage seam.

:class:`SimFilesystem` implements :class:`reflog.storage._fs.Filesystem` and models what
Linux does between ``write()`` and the platter: 4 KiB pages, dirty tracking, write-back
that coalesces dirty pages into sequential runs (periodic, background, writer-throttled,
fsync, eviction), read-ahead, two-list eviction, a volatile device cache, Linux's
fsync error semantics, directory entries that are durable only after ``fsync_dir``, and
three kinds of power loss. It knows every file's visible and durable bytes, counts I/O
in :class:`IOStats`, and injects disk faults through :class:`DiskFaults`.

The full model is specified in ``specs/pagecache.md``. Everything is deterministic
given the clock and the seed.
"""

from __future__ import annotations

from reflog.storage.sim._faults import CRASH_OPS, CrashOp, DiskFaults, SimulatedCrash
from reflog.storage.sim._fs import SimFilesystem
from reflog.storage.sim._handle import SimFileHandle
from reflog.storage.sim._policy import (
    PAGE_SIZE,
    SECTOR_SIZE,
    AfterEio,
    PowerLossMode,
    WritebackOrder,
    WritebackPolicy,
)
from reflog.storage.sim._report import (
    CrashReport,
    DeviceIO,
    FailedWrite,
    MisdirectedWrite,
    PageRef,
    SizeOutcome,
    TornPage,
)
from reflog.storage.sim._stats import IOStats

__all__ = [
    "CRASH_OPS",
    "PAGE_SIZE",
    "SECTOR_SIZE",
    "AfterEio",
    "CrashOp",
    "CrashReport",
    "DeviceIO",
    "DiskFaults",
    "FailedWrite",
    "IOStats",
    "MisdirectedWrite",
    "PageRef",
    "PowerLossMode",
    "SimFileHandle",
    "SimFilesystem",
    "SimulatedCrash",
    "SizeOutcome",
    "TornPage",
    "WritebackOrder",
    "WritebackPolicy",
]
