"""I/O counters of the simulated page cache and device.

:class:`IOStats` is a plain mutable record owned by one
:class:`~reflog.storage.sim.SimFilesystem` (``fs.stats``); the model only ever
increments it. Tests take a :meth:`IOStats.snapshot` before a step and compare, or
:meth:`IOStats.reset` it. Counters survive crashes and power losses (they describe the
run, not the machine).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass


@dataclass
class IOStats:
    """Counts of cache and device events since construction or the last :meth:`reset`."""

    #: Pages a ``pread`` found in the cache.
    cache_hits: int = 0
    #: Pages a ``pread`` did not find in the cache (each miss triggers one device read).
    cache_misses: int = 0
    #: Pages read from the device speculatively, beyond the pages a ``pread`` asked for.
    readahead_pages: int = 0
    #: Partial-page ``pwrite``s below EOF whose page was not cached (read-modify-write: one device read).
    rmw_reads: int = 0
    #: Clean-to-dirty page transitions.
    pages_dirtied: int = 0
    #: Pages written to the device by write-back (periodic, background, writer, fsync, eviction).
    pages_written_back: int = 0
    #: Coalesced runs submitted by write-back (one device write each; dirty evictions are not runs).
    writeback_runs: int = 0
    #: Write-back I/Os the device failed (injected faults).
    writeback_errors: int = 0
    #: Device write I/Os, of which sequential (starting where the previous write ended) or random.
    write_ios: int = 0
    seq_write_ios: int = 0
    rand_write_ios: int = 0
    #: Bytes the device wrote.
    bytes_written: int = 0
    #: Device read I/Os, of which sequential (starting where the previous read ended) or random.
    read_ios: int = 0
    seq_read_ios: int = 0
    rand_read_ios: int = 0
    #: Bytes the device read.
    bytes_read: int = 0
    #: Device cache flush barriers (fsync, fsync_dir, sync).
    device_flushes: int = 0
    #: Calls of ``fsync`` and those that raised.
    fsyncs: int = 0
    fsync_errors: int = 0
    #: Calls of ``fsync_dir``.
    dir_fsyncs: int = 0
    #: Writer pauses above the freerun ceiling, and their total length in seconds.
    throttle_pauses: int = 0
    throttle_seconds: float = 0.0
    #: Times a writer at the hard dirty limit had to write back pages itself.
    writer_writebacks: int = 0
    #: Pages evicted under memory pressure: clean ones, and dirty ones (each costing a forced write).
    evictions_clean: int = 0
    evictions_dirty: int = 0
    #: Simulated seconds the device spent on I/O (slow-disk fault; 0 unless latency is configured).
    device_busy_seconds: float = 0.0

    def snapshot(self) -> IOStats:
        """An independent copy of the current counters."""
        return dataclasses.replace(self)

    def reset(self) -> None:
        """Set every counter back to zero."""
        for field in dataclasses.fields(self):
            setattr(self, field.name, type(getattr(self, field.name))())

    def delta(self, before: IOStats) -> IOStats:
        """The counts accumulated since ``before`` (a snapshot): ``self - before`` field by field."""
        values = {f.name: getattr(self, f.name) - getattr(before, f.name) for f in dataclasses.fields(self)}
        return IOStats(**values)
