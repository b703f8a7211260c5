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

from reflog.log import Log
from reflog.storage.sim import CrashReport

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


def guaranteed_end(durable_end: int, batches: BatchMap, report: CrashReport) -> int:
    """The offset below which every batch must survive: ``durable_end``, lowered past destroyed sectors.

    ``durable_end`` is the offset below which the log was fsynced before the power loss;
    each batch at or after the first destroyed byte of its file is excused.
    """
    end = durable_end
    for path, positions in batches.items():
        first_bad = report.first_destroyed_byte(path)
        if first_bad is None:
            continue
        for position, base in reversed(positions):
            if position <= first_bad:
                end = min(end, base)
                break
    return end
