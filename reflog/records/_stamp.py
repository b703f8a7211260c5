"""Patching the two fields the broker assigns, base offset and partition leader epoch.

Both lie outside the CRC (which covers ``attributes`` to the end of the batch), so a patched
batch keeps its checksum and every other byte.
"""

from __future__ import annotations

import dataclasses
import struct

from reflog.records._types import INT32_MAX, INT32_MIN, INT64_MAX, INT64_MIN, VerifiedBatch
from reflog.records._verify import (
    BASE_OFFSET_AT,
    PARTITION_LEADER_EPOCH_AT,
    BytesLike,
    check_int,
    parse_header,
)

__all__ = ["stamp_batch", "with_base_offset", "with_partition_leader_epoch"]

_BASE_OFFSET = struct.Struct(">q")
_EPOCH = struct.Struct(">i")


def with_base_offset(batch: BytesLike, base_offset: int) -> bytes:
    """A copy of ``batch`` with ``baseOffset`` (bytes 0-7) set to ``base_offset``.

    ``baseOffset`` is outside the CRC, so the CRC stays valid and every other byte is
    unchanged. The header is checked with :func:`parse_header` first
    (:class:`CorruptRecordError`); ``base_offset`` must fit int64 together with the
    batch's last offset (:class:`ReflogUsageError`).
    """
    header = parse_header(batch)
    check_int("base_offset", base_offset, INT64_MIN, INT64_MAX - header.last_offset_delta)
    out = bytearray(batch)
    struct.pack_into(">q", out, BASE_OFFSET_AT, base_offset)
    return bytes(out)


def with_partition_leader_epoch(batch: BytesLike, epoch: int) -> bytes:
    """A copy of ``batch`` with ``partitionLeaderEpoch`` (bytes 12-15) set to ``epoch``.

    The epoch is outside the CRC, so the CRC stays valid and every other byte is
    unchanged. The header is checked with :func:`parse_header` first
    (:class:`CorruptRecordError`); ``epoch`` must fit int32 (:class:`ReflogUsageError`).
    """
    parse_header(batch)
    check_int("epoch", epoch, INT32_MIN, INT32_MAX)
    out = bytearray(batch)
    struct.pack_into(">i", out, PARTITION_LEADER_EPOCH_AT, epoch)
    return bytes(out)


def stamp_batch(batch: VerifiedBatch, base_offset: int, partition_leader_epoch: int) -> VerifiedBatch:
    """``batch`` with the base offset and partition leader epoch the leader assigns, in one copy.

    Kafka's ``LogValidator`` step for a leader append (``setLastOffset`` and
    ``setPartitionLeaderEpoch``); reflog has no ``LogAppendTime`` stamping (the batch keeps its
    timestamps). Both fields lie outside the CRC, so the result is still verified and its header
    is ``batch.header`` with the two fields replaced: nothing is parsed or checksummed again.
    Raises :class:`ReflogUsageError` when ``base_offset`` with the batch's last offset does not
    fit int64 or the epoch does not fit int32.
    """
    header = batch.header
    check_int("base_offset", base_offset, INT64_MIN, INT64_MAX - header.last_offset_delta)
    check_int("partition_leader_epoch", partition_leader_epoch, INT32_MIN, INT32_MAX)
    out = bytearray(batch.raw)
    _BASE_OFFSET.pack_into(out, BASE_OFFSET_AT, base_offset)
    _EPOCH.pack_into(out, PARTITION_LEADER_EPOCH_AT, partition_leader_epoch)
    stamped = dataclasses.replace(
        header, base_offset=base_offset, partition_leader_epoch=partition_leader_epoch
    )
    return VerifiedBatch(bytes(out), stamped)
