"""What one log must still hold after a power loss, given what the simulated disk reports.

The storage guarantee is: after a power loss the recovered log is a prefix of what was
appended and holds every batch that was fsynced, except batches sharing a sector that a
torn write replaced with zeros or garbage. Kafka's format appends into the partly filled
last page of a segment, so a torn write of that page can destroy bytes that were already
durable; :meth:`reflog.storage.sim.CrashReport.first_destroyed_byte` says where.

Use it in two steps: :func:`batch_map` of the live log *before* the power loss, then
:func:`guaranteed_end` with the crash report.
"""

from __future__ import annotations

from collections.abc import Sequence

from reflog.log import Log
from reflog.storage.sim import PAGE_SIZE, CrashReport, FailedWrite

BatchMap = dict[str, list[tuple[int, int]]]
"""Per segment file, its batches as ``(position, base offset)``, in file order."""


def batch_map(log: Log) -> BatchMap:
    """Where each batch of a live log sits in its segment file.

    Raises :class:`reflog.errors.CorruptRecordError` if a segment is already damaged.
    """
    return {
        segment.log_path: [(found.position, found.header.base_offset) for found in segment.batches_from(0)]
        for segment in log.segments
    }


def guaranteed_end(
    durable_end: int,
    batches: BatchMap,
    report: CrashReport,
    failed_writes: Sequence[FailedWrite] = (),
) -> int:
    """The offset below which every batch must survive: ``durable_end``, lowered past destroyed sectors.

    ``durable_end`` is the offset below which the log was fsynced before the power loss;
    each batch at or after the first destroyed byte of its file is excused. So is each batch at
    or after the first page of a failed write-back (``failed_writes``): Linux marks such pages
    clean, so a later fsync that succeeds does not write them, and the bytes a reader sees in the
    page cache never reach the device (PostgreSQL's "fsyncgate"). A broker that halted on the
    EIO and restarted without a reboot trusts those cached pages, as Kafka would.
    """
    end = durable_end
    for path, positions in batches.items():
        destroyed = report.first_destroyed_byte(path)
        lost = [w.first_page * PAGE_SIZE for w in failed_writes if w.path == path]
        candidates = [b for b in (destroyed, min(lost, default=None)) if b is not None]
        if not candidates:
            continue
        first_bad = min(candidates)
        for position, base in reversed(positions):
            if position <= first_bad:
                end = min(end, base)
                break
    return end
