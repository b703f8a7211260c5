"""The append pipeline: what every append does to its bytes before the segment writes them.

One pipeline for the leader's and the follower's appends, over the real log and the in-memory
one (:class:`reflog.replication.replica_log.MemoryLog`), each step done once:

1. split the bytes into batches and check each header and CRC-32C once
   (:func:`reflog.records.verified_batches`), unless the caller hands over batches it already
   checked: a :class:`~reflog.log.validator.ValidatedBatch` (a produced batch the broker
   validated, records walked) or the :class:`~reflog.records.VerifiedBatch` es a follower
   split from a fetch response;
2. a leader: ``max.message.bytes`` and the walk over every record
   (:func:`reflog.records.validate_records`, no second CRC), skipped for a ``ValidatedBatch``;
3. a leader: the next offsets and its epoch, stamped by :func:`reflog.records.stamp_batch`
   (outside the CRC, so nothing is checked again); a follower: increasing offsets.

Nothing is written unless every batch passed. Every fault raises
:class:`~reflog.errors.CorruptRecordError` (or :class:`~reflog.errors.MessageTooLargeError`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from reflog.errors import CorruptRecordError, MessageTooLargeError
from reflog.log.validator import ValidatedBatch
from reflog.records import VerifiedBatch, stamp_batch, validate_records, verified_batches


class LogAppendInfo(NamedTuple):
    """Where an append landed: offsets ``first_offset..last_offset`` inclusive."""

    first_offset: int
    last_offset: int
    record_count: int
    batch_count: int


def leader_batches(
    records: bytes | ValidatedBatch,
    next_offset: int,
    leader_epoch: int,
    *,
    max_message_bytes: int | None = None,
    walk_records: bool = True,
) -> list[VerifiedBatch]:
    """``records`` checked and stamped with offsets from ``next_offset`` and ``leader_epoch``.

    Each batch in turn: its CRC (once), its size against ``max_message_bytes`` (``None``: not
    checked), then, with ``walk_records``, every record. A :class:`ValidatedBatch` was checked
    and walked by the validator, so only its size is. Raises :class:`CorruptRecordError` for bad
    bytes or no batch, :class:`MessageTooLargeError` above ``max_message_bytes``.
    """
    if isinstance(records, ValidatedBatch):
        checked: Sequence[VerifiedBatch] = [_sized(records, max_message_bytes)]
    else:
        checked = []
        for batch in verified_batches(records):
            checked.append(_sized(batch, max_message_bytes))
            if walk_records:
                validate_records(batch)
    if not checked:
        raise CorruptRecordError("no record batch in append")
    stamped: list[VerifiedBatch] = []
    for batch in checked:
        stamped.append(stamp_batch(batch, next_offset, leader_epoch))
        next_offset = stamped[-1].header.next_offset
    return stamped


def follower_batches(
    records: bytes | Sequence[VerifiedBatch], log_end_offset: int, *, where: str = ""
) -> Sequence[VerifiedBatch]:
    """The batches of a follower's append, CRC-checked once, starting at ``log_end_offset``.

    ``records`` is the fetch response's bytes, or the batches the caller already split from
    them (:func:`reflog.records.verified_batches`). The first batch must start at or above
    ``log_end_offset`` and each next one at or above where the previous ended: a compacted
    leader's log has gaps between batches (Kafka's ``UnexpectedAppendOffsetException`` and
    "out of order offsets" rules). Raises :class:`CorruptRecordError` for bad bytes, no batch,
    or offsets that go back (its message ending with ``where``, e.g. ``" in <directory>"``).
    """
    batches = list(verified_batches(records)) if isinstance(records, bytes) else records
    if not batches:
        raise CorruptRecordError("no record batch in append")
    expected = log_end_offset
    for batch in batches:
        if batch.header.base_offset < expected:
            raise CorruptRecordError(
                f"follower append at offset {batch.header.base_offset}, expected {expected} or above{where}"
            )
        expected = batch.header.next_offset
    return batches


def append_info(batches: Sequence[VerifiedBatch]) -> LogAppendInfo:
    """The :class:`LogAppendInfo` of appending ``batches`` (at least one)."""
    return LogAppendInfo(
        batches[0].header.base_offset,
        batches[-1].header.last_offset,
        sum(batch.header.records_count for batch in batches),
        len(batches),
    )


def _sized(batch: VerifiedBatch, max_message_bytes: int | None) -> VerifiedBatch:
    size = batch.header.size
    if max_message_bytes is not None and size > max_message_bytes:
        raise MessageTooLargeError(f"batch of {size} bytes exceeds max.message.bytes={max_message_bytes}")
    return batch


__all__ = ["LogAppendInfo", "append_info", "follower_batches", "leader_batches"]
