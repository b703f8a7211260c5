"""What the replication core needs from a replica's log, and a fast in-memory log for models.

:class:`ReplicaLog` is the slice of :class:`reflog.log.Log` the sans-IO core uses, so the
same rules run over the real segmented log (on the OS or the simulated page cache) and over
:class:`MemoryLog`, which keeps batches in a list. ``MemoryLog`` exists for the Hypothesis
state machines of the replication core: it stores the real batch bytes (so "the same batch
on every replica" is a byte comparison) and models the one storage fact replication cares
about: a power loss keeps only the flushed prefix, a process crash keeps everything.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Protocol

from reflog.errors import OffsetOutOfRangeError
from reflog.log.append import LogAppendInfo, append_info, follower_batches, leader_batches
from reflog.log.config import LogConfig
from reflog.log.epoch_cache import LeaderEpochCache
from reflog.log.recovery import assign_epoch
from reflog.log.validator import ValidatedBatch
from reflog.records import BatchHeader, VerifiedBatch


class ReplicaLog(Protocol):
    """A partition log as the replication core uses it (see :class:`reflog.log.Log` for semantics)."""

    epoch_cache: LeaderEpochCache
    #: The topic's log settings (``max.message.bytes``, ``segment.bytes``...) the leader validates by.
    config: LogConfig

    @property
    def log_start_offset(self) -> int: ...

    @property
    def log_end_offset(self) -> int: ...

    def append_as_leader(self, records: bytes | ValidatedBatch, leader_epoch: int) -> LogAppendInfo:
        """Check (a ``ValidatedBatch`` was checked), stamp and append batches (:mod:`reflog.log.append`)."""
        ...

    def append_as_follower(self, records: bytes | Sequence[VerifiedBatch]) -> LogAppendInfo:
        """Append fetched batches (bytes, or batches already CRC-checked) at the log end offset."""
        ...

    def truncate_to(self, offset: int) -> bool: ...

    def truncate_fully_and_start_at(self, offset: int) -> None: ...

    def maybe_increment_log_start_offset(self, offset: int) -> bool:
        """Move the log start up to ``offset`` (at most the log end offset); whether it moved."""
        ...

    def read_records(self, fetch_offset: int, max_bytes: int, max_offset: int | None = None) -> bytes:
        """Whole batches from the one holding ``fetch_offset`` (at least one), or ``b""``."""
        ...

    def batch_headers(self) -> Iterator[BatchHeader]:
        """The header of every batch in the log, in offset order (to rebuild producer state)."""
        ...

    def iter_batches(self, start_offset: int | None = None) -> Iterator[bytes]:
        """Every batch's bytes from ``start_offset`` (default: the log start), in offset order."""
        ...


class MemoryLog:
    """An in-memory :class:`ReplicaLog`: a list of batches, a flushed prefix, an epoch cache.

    ``flush()`` marks everything durable; ``lose_power()`` keeps only the flushed prefix
    (what a power loss leaves after recovery with Kafka's defaults); a process crash keeps
    everything, so it needs no method.
    """

    def __init__(self) -> None:
        self._batches: list[tuple[bytes, BatchHeader]] = []
        self._start = 0
        self.flushed_offset = 0
        self.epoch_cache = LeaderEpochCache(None, None)
        self.config = LogConfig()

    @property
    def batches(self) -> tuple[tuple[bytes, BatchHeader], ...]:
        return tuple(self._batches)

    @property
    def log_start_offset(self) -> int:
        return self._start

    @property
    def log_end_offset(self) -> int:
        return self._batches[-1][1].next_offset if self._batches else self._start

    def append_as_leader(self, records: bytes | ValidatedBatch, leader_epoch: int) -> LogAppendInfo:
        # The append pipeline with the CRC check alone (a model's log: no size check, no record walk).
        return self._append(leader_batches(records, self.log_end_offset, leader_epoch, walk_records=False))

    def append_as_follower(self, records: bytes | Sequence[VerifiedBatch]) -> LogAppendInfo:
        return self._append(follower_batches(records, self.log_end_offset))

    def _append(self, batches: Sequence[VerifiedBatch]) -> LogAppendInfo:
        for batch in batches:
            self._batches.append((batch.raw, batch.header))
            assign_epoch(self.epoch_cache, batch.header)
        return append_info(batches)

    def truncate_to(self, offset: int) -> bool:
        if offset >= self.log_end_offset:
            self.epoch_cache.truncate_from_end(offset)  # as Kafka: the cache is truncated in any case
            return False
        if offset < self._start:
            self._batches = []
            self._start = offset
        else:
            self._batches = [(raw, h) for raw, h in self._batches if h.base_offset < offset]
        self.epoch_cache.truncate_from_end(self.log_end_offset)
        self.flushed_offset = min(self.flushed_offset, self.log_end_offset)
        return True

    def truncate_fully_and_start_at(self, offset: int) -> None:
        self._batches = []
        self._start = offset
        self.flushed_offset = offset
        self.epoch_cache.replace([])

    def maybe_increment_log_start_offset(self, offset: int) -> bool:
        if offset <= self._start:
            return False
        if offset > self.log_end_offset:
            raise OffsetOutOfRangeError(f"log start {offset} beyond the log end {self.log_end_offset}")
        self._start = offset
        self._batches = [(raw, h) for raw, h in self._batches if h.next_offset > offset]
        self.epoch_cache.truncate_from_start(offset)
        return True

    def read_records(self, fetch_offset: int, max_bytes: int, max_offset: int | None = None) -> bytes:
        end = self.log_end_offset if max_offset is None else min(max_offset, self.log_end_offset)
        if fetch_offset < self._start or fetch_offset > self.log_end_offset:
            raise OffsetOutOfRangeError(
                f"offset {fetch_offset} outside [{self._start}, {self.log_end_offset}]"
            )
        out: list[bytes] = []
        size = 0
        for raw, header in self._batches:
            if header.next_offset <= fetch_offset:
                continue
            if header.last_offset >= end or (out and size + len(raw) > max_bytes):
                break
            out.append(raw)
            size += len(raw)
        return b"".join(out)

    def flush(self) -> None:
        self.flushed_offset = self.log_end_offset

    def lose_power(self) -> None:
        """Keep only the flushed prefix and rebuild the epoch cache from it (recovery)."""
        self._batches = [(raw, h) for raw, h in self._batches if h.next_offset <= self.flushed_offset]
        self.epoch_cache = LeaderEpochCache(None, None)
        for _, header in self._batches:
            assign_epoch(self.epoch_cache, header)

    def batch_headers(self) -> Iterator[BatchHeader]:
        return (header for _, header in self._batches)

    def iter_batches(self, start_offset: int | None = None) -> Iterator[bytes]:
        start = self._start if start_offset is None else start_offset
        return (raw for raw, header in self._batches if header.next_offset > start)

    def batch_at(self, offset: int) -> bytes | None:
        """The bytes of the batch holding ``offset``, or ``None``."""
        for raw, header in self._batches:
            if header.base_offset <= offset <= header.last_offset:
                return raw
        return None
