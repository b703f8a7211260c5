"""What a partition's segment files hold: how a produce case's records were really batched.

:func:`stored_batches` walks the batch headers of every segment of a topic's partition 0 under
a data directory (any broker's), so the produce section checks "batched" and "unbatched" rather
than assuming them (PERF-10, PERF-11). Failure modes: none raised for a damaged or preallocated
tail, where the walk stops at the first header that does not parse; ``OSError`` from reading a
segment propagates.
"""

from __future__ import annotations

import glob
import os

import attrs

from reflog.bench.settings import KiB
from reflog.errors import CorruptRecordError
from reflog.records import BATCH_HEADER_SIZE, parse_header


@attrs.frozen
class StoredBatches:
    """The batches in a partition's segment files: how a case's records were really batched."""

    batches: int
    records: int
    bytes: int

    def __sub__(self, other: StoredBatches) -> StoredBatches:
        return StoredBatches(
            self.batches - other.batches, self.records - other.records, self.bytes - other.bytes
        )

    @property
    def records_per_batch(self) -> float:
        return self.records / self.batches if self.batches else 0.0

    @property
    def batch_kib(self) -> float:
        return self.bytes / self.batches / KiB if self.batches else 0.0


def stored_batches(data_dir: str, topic: str) -> StoredBatches:
    """Walk the batch headers of every segment of ``topic``-0 under ``data_dir`` (any broker)."""
    batches = records = size = 0
    for path in sorted(glob.glob(os.path.join(data_dir, "**", f"{topic}-0", "*.log"), recursive=True)):
        with open(path, "rb") as segment:
            position = 0
            while True:
                segment.seek(position)
                head = segment.read(BATCH_HEADER_SIZE)
                if len(head) < BATCH_HEADER_SIZE:
                    break
                try:
                    header = parse_header(head)
                except CorruptRecordError:
                    break  # a preallocated or partly written tail
                batches += 1
                records += header.records_count
                size += header.size
                position += header.size
    return StoredBatches(batches, records, size)


__all__ = ["StoredBatches", "stored_batches"]
