"""The model's fixed geometry and its tunable write-back policy (defaults after Linux).

:class:`WritebackPolicy` is a frozen value: it is validated once at construction and
never changes under a running :class:`~reflog.storage.sim.SimFilesystem`. Invalid
combinations raise :class:`~reflog.errors.ReflogUsageError`.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Literal

from reflog.errors import ReflogUsageError

#: Bytes per page of the simulated page cache (and per device block).
PAGE_SIZE = 4096
#: Bytes per sector: the unit the device writes atomically (torn writes tear at sector boundaries).
SECTOR_SIZE = 512
#: Sectors per page.
SECTORS_PER_PAGE = PAGE_SIZE // SECTOR_SIZE


def pages_spanning(size: int) -> int:
    """How many pages hold the first ``size`` bytes of a file (``size`` rounded up to pages)."""
    return -(-size // PAGE_SIZE)


WritebackOrder = Literal["cyclic", "ascending", "random"]
AfterEio = Literal["clean_keep_new", "clean_revert_old"]


class PowerLossMode(enum.Enum):
    """What a power loss keeps of the data that was not yet durable.

    * ``CLEAN`` -- nothing: the device holds exactly its durable media (LazyFS ``clear-cache``);
    * ``PARTIAL`` -- each unsynced page write independently survives or not, in any order
      (LazyFS ``torn-seq``, ALICE, CrashMonkey);
    * ``TORN`` -- as ``PARTIAL``, and a surviving page may be torn at sector granularity,
      its bad sectors holding old bytes, zeros or garbage (FoundationDB's ``AsyncFileNonDurable``).
    """

    CLEAN = "clean"
    PARTIAL = "partial"
    TORN = "torn"


@dataclass(frozen=True)
class WritebackPolicy:
    """Page-cache sizing, write-back triggers and device behaviour; defaults follow Linux.

    Byte thresholds, when set, override the matching ratio (as writing ``dirty_bytes``
    zeroes ``dirty_ratio`` in Linux). Ratios are shares of ``memory_bytes``, the
    "available memory" that also bounds the cache.
    """

    #: Memory available to the page cache; the cache never holds more pages than this.
    memory_bytes: int = 64 * 1024 * 1024
    #: ``vm.dirty_background_ratio``: above this share of memory dirty, background write-back starts.
    dirty_background_ratio: float = 0.10
    #: ``vm.dirty_ratio``: at this share of memory dirty, the writer must write back itself.
    dirty_ratio: float = 0.20
    #: ``vm.dirty_background_bytes``; overrides ``dirty_background_ratio`` when set.
    dirty_background_bytes: int | None = None
    #: ``vm.dirty_bytes``; overrides ``dirty_ratio`` when set.
    dirty_bytes: int | None = None
    #: ``vm.dirty_expire_centisecs`` / 100: an inode dirty this long is written at the next periodic pass.
    dirty_expire_s: float = 30.0
    #: ``vm.dirty_writeback_centisecs`` / 100: period of the flusher's wake-up (0 disables periodic passes).
    dirty_writeback_interval_s: float = 5.0
    #: ``MAX_PAUSE`` of ``balance_dirty_pages``: the longest single throttling pause.
    max_pause_s: float = 0.2
    #: Longest run of contiguous dirty pages written by one device I/O (256 pages = 1 MiB).
    max_run_pages: int = 256
    #: Order of a file's dirty pages in write-back: ``cyclic`` (Linux ``writeback_index``), ``ascending``,
    #: ``random``.
    writeback_order: WritebackOrder = "cyclic"
    #: Largest read-ahead window in pages (32 pages = 128 KiB); 0 disables read-ahead.
    readahead_max_pages: int = 32
    #: Whether written-back pages first sit in a volatile device cache until a flush barrier.
    device_volatile_cache: bool = True
    #: After a failed write-back the pages are marked clean and the cache either keeps the new bytes
    #: (ext4/XFS, ``clean_keep_new``) or drops them so reads return the old media bytes (btrfs-like).
    after_eio: AfterEio = "clean_keep_new"

    def __post_init__(self) -> None:
        if self.memory_bytes < 8 * PAGE_SIZE:
            raise ReflogUsageError(f"memory_bytes must be at least 8 pages, got {self.memory_bytes}")
        for name in ("dirty_background_ratio", "dirty_ratio"):
            value = getattr(self, name)
            if not 0.0 < value <= 1.0:
                raise ReflogUsageError(f"{name} must be in (0, 1], got {value}")
        for name in ("dirty_background_bytes", "dirty_bytes"):
            value = getattr(self, name)
            if value is not None and value < PAGE_SIZE:
                raise ReflogUsageError(f"{name} must be at least one page, got {value}")
        if self.background_pages >= self.hard_pages:
            raise ReflogUsageError(
                f"the background threshold ({self.background_pages} pages) must lie below "
                f"the dirty limit ({self.hard_pages} pages)"
            )
        if self.hard_pages > self.memory_pages:
            raise ReflogUsageError("the dirty limit cannot exceed the memory available to the cache")
        if self.dirty_expire_s < 0 or self.dirty_writeback_interval_s < 0 or self.max_pause_s < 0:
            raise ReflogUsageError("times must not be negative")
        if self.max_run_pages < 1:
            raise ReflogUsageError("max_run_pages must be at least 1")
        if self.readahead_max_pages < 0:
            raise ReflogUsageError("readahead_max_pages must not be negative")
        if self.writeback_order not in ("cyclic", "ascending", "random"):
            raise ReflogUsageError(f"unknown writeback_order {self.writeback_order!r}")
        if self.after_eio not in ("clean_keep_new", "clean_revert_old"):
            raise ReflogUsageError(f"unknown after_eio {self.after_eio!r}")

    @property
    def memory_pages(self) -> int:
        """Capacity of the page cache in pages."""
        return self.memory_bytes // PAGE_SIZE

    @property
    def background_pages(self) -> int:
        """Dirty pages above which background write-back runs."""
        if self.dirty_background_bytes is not None:
            return self.dirty_background_bytes // PAGE_SIZE
        return int(self.memory_pages * self.dirty_background_ratio)

    @property
    def hard_pages(self) -> int:
        """Dirty pages at which a writer must write back before it may continue."""
        if self.dirty_bytes is not None:
            return self.dirty_bytes // PAGE_SIZE
        return int(self.memory_pages * self.dirty_ratio)

    @property
    def freerun_pages(self) -> int:
        """The "freerun" ceiling, midway between the background and hard limits; writers pause above it."""
        return (self.background_pages + self.hard_pages) // 2
