"""Rewriting a stored batch with only some of its records, as Kafka's log cleaner does.

:func:`rebuild_batch` is Kafka's ``MemoryRecords.buildRetainedRecordsInto`` (with
``writeEmptyHeader`` for a batch that keeps no record): the new batch keeps the original's base
offset *and last offset* (so the offsets a batch spans, and the producer's last sequence, never
change), its leader epoch, producer id, epoch and base sequence, timestamp type, transactional and
control bits and compression codec; the kept records keep their own offsets and timestamps (offset
deltas then have gaps). A delete horizon (KIP-534) goes in the base timestamp with attribute bit 6
set; the record timestamps stay exact, their deltas now relative to it. The CRC-32C is computed
afresh.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

from reflog.errors import ReflogUsageError
from reflog.records._compression import compress
from reflog.records._crc import crc32c
from reflog.records._encode import _encode_record
from reflog.records._types import (
    BATCH_HEADER_SIZE,
    COMPRESSION_MASK,
    DELETE_HORIZON_MASK,
    LOG_OVERHEAD,
    MAGIC_V2,
    NO_TIMESTAMP,
    BatchHeader,
    Compression,
    Record,
    TimestampType,
)
from reflog.records._verify import CRC_AT, CRC_FROM, HEADER

__all__ = ["rebuild_batch"]


def rebuild_batch(
    header: BatchHeader, records: Sequence[Record], *, delete_horizon_ms: int | None = None
) -> bytes:
    """The batch ``header`` described, holding only ``records`` (decoded from it, in order).

    ``delete_horizon_ms`` (``None``: the original's, if it had one) is stored as Kafka 3.1+
    does. An empty ``records`` gives Kafka's empty header: no records, uncompressed, the
    original's offsets and max timestamp. Raises :class:`ReflogUsageError` for a record that
    has no offset or timestamp (not decoded) or whose offset lies outside the batch, or for
    offsets that do not strictly increase.
    """
    horizon = header.delete_horizon_ms if delete_horizon_ms is None else delete_horizon_ms
    previous = -1
    for record in records:
        if record.offset is None or record.timestamp is None:
            raise ReflogUsageError("rebuild_batch takes decoded records (with offset and timestamp)")
        delta = record.offset - header.base_offset
        if not previous < delta <= header.last_offset_delta:
            raise ReflogUsageError(
                f"record offset {record.offset} outside "
                f"({header.base_offset + previous}, {header.last_offset}]"
            )
        previous = delta
    codec = header.compression if records else Compression.NONE
    if records:
        stamps = [r.timestamp for r in records if r.timestamp is not None]
        base_timestamp = stamps[0] if horizon is None else horizon
        append_time = header.timestamp_type is TimestampType.LOG_APPEND_TIME
        max_timestamp = header.max_timestamp if append_time else max(stamps)
        body = bytearray()
        for record, stamp in zip(records, stamps, strict=True):
            assert record.offset is not None
            _encode_record(body, record.offset - header.base_offset, record, stamp, base_timestamp)
        section = bytes(body) if codec is Compression.NONE else compress(codec, bytes(body))
    else:
        base_timestamp = NO_TIMESTAMP if horizon is None else horizon
        max_timestamp = header.max_timestamp
        section = b""
    attributes = (header.attributes & ~COMPRESSION_MASK & ~DELETE_HORIZON_MASK) | int(codec)
    if horizon is not None:
        attributes |= DELETE_HORIZON_MASK
    out = bytearray(BATCH_HEADER_SIZE)
    HEADER.pack_into(
        out,
        0,
        header.base_offset,
        BATCH_HEADER_SIZE - LOG_OVERHEAD + len(section),
        header.partition_leader_epoch,
        MAGIC_V2,
        0,  # CRC, filled in below
        attributes,
        header.last_offset_delta,
        base_timestamp,
        max_timestamp,
        header.producer_id,
        header.producer_epoch,
        header.base_sequence,
        len(records),
    )
    out += section
    struct.pack_into(">I", out, CRC_AT, crc32c(memoryview(out)[CRC_FROM:]))
    return bytes(out)
