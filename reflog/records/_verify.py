"""Reading and checking v2 batch headers and CRCs: the cheap checks every path makes first.

Layout (all integers big-endian; byte offsets from the start of the batch)::

     0 baseOffset            int64   \\ outside the CRC; the broker
     8 batchLength           int32    | rewrites baseOffset and the epoch
    12 partitionLeaderEpoch  int32   /  without touching the CRC
    16 magic                 int8    (= 2)
    17 crc                   uint32  CRC-32C of bytes 21..end
    21 attributes            int16
    23 lastOffsetDelta       int32
    27 baseTimestamp         int64
    35 maxTimestamp          int64
    43 producerId            int64
    51 producerEpoch         int16
    53 baseSequence          int32
    57 recordsCount          int32
    61 records (the whole section compressed when attributes say so)

Every malformed header or batch raises :class:`CorruptRecordError` and nothing else.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator

from reflog.errors import CorruptRecordError, ReflogUsageError
from reflog.records._crc import crc32c
from reflog.records._types import (
    BATCH_HEADER_SIZE,
    COMPRESSION_MASK,
    INT64_MAX,
    KNOWN_ATTRIBUTE_BITS,
    LOG_OVERHEAD,
    MAGIC_V2,
    BatchHeader,
    Compression,
    VerifiedBatch,
)

__all__ = ["parse_header", "verified_batches", "verify_crc"]

BytesLike = bytes | bytearray | memoryview

HEADER = struct.Struct(">qiibIhiqqqhii")
assert HEADER.size == BATCH_HEADER_SIZE

BASE_OFFSET_AT = 0
PARTITION_LEADER_EPOCH_AT = 12
CRC_AT = 17
#: The CRC covers everything from the attributes to the end of the batch.
CRC_FROM = 21
#: The smallest possible record: length, attributes, timestampDelta, offsetDelta,
#: keyLength, valueLength and headersCount, one byte each.
MIN_RECORD_SIZE = 7


def as_view(buf: BytesLike, pos: int) -> memoryview:
    """``buf`` as a byte view; :class:`ReflogUsageError` for a bad ``pos`` or a non-bytes buffer."""
    if isinstance(pos, bool) or not isinstance(pos, int) or pos < 0:
        raise ReflogUsageError(f"pos must be a non-negative int, got {pos!r}")
    try:
        return memoryview(buf).cast("B")
    except TypeError as exc:
        raise ReflogUsageError(f"expected a contiguous bytes-like buffer, got {type(buf).__name__}") from exc


def check_int(name: str, value: object, low: int, high: int) -> int:
    """``value`` if it is an int in ``[low, high]``, else :class:`ReflogUsageError` naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ReflogUsageError(f"{name} must be an int, got {type(value).__name__}")
    if not low <= value <= high:
        raise ReflogUsageError(f"{name}={value} is outside [{low}, {high}]")
    return value


def parse_header(buf: BytesLike, pos: int = 0) -> BatchHeader:
    """Parse and structurally check the batch header at ``buf[pos:]``.

    Checks only what the 61 header bytes can show: they are all present; magic is 2;
    ``batch_length`` covers at least the rest of the header; the attribute bits name a
    defined codec and no undefined bit is set; ``last_offset_delta >= 0``;
    ``0 <= records_count <= last_offset_delta + 1``; the last offset fits int64; and an
    uncompressed batch is long enough for ``records_count`` minimal records.

    It does not check the CRC and does not need the rest of the batch to be present.
    Raises :class:`CorruptRecordError` on any failed check, :class:`ReflogUsageError` for
    a negative ``pos`` or a buffer that is not bytes-like.
    """
    view = as_view(buf, pos)
    if len(view) - pos < BATCH_HEADER_SIZE:
        raise CorruptRecordError(
            f"batch header at byte {pos} is truncated: {max(0, len(view) - pos)} of {BATCH_HEADER_SIZE} bytes"
        )
    header = BatchHeader(*HEADER.unpack_from(view, pos))
    if header.magic != MAGIC_V2:
        raise CorruptRecordError(f"batch at byte {pos} has magic {header.magic}; only magic 2 is supported")
    if header.batch_length < BATCH_HEADER_SIZE - LOG_OVERHEAD:
        raise CorruptRecordError(
            f"batch length {header.batch_length} is below the minimum {BATCH_HEADER_SIZE - LOG_OVERHEAD}"
        )
    if header.attributes & ~KNOWN_ATTRIBUTE_BITS:
        raise CorruptRecordError(f"batch attributes {header.attributes:#06x} set undefined bits")
    if (header.attributes & COMPRESSION_MASK) > max(Compression):
        raise CorruptRecordError(f"batch names undefined codec {header.attributes & COMPRESSION_MASK}")
    if header.last_offset_delta < 0:
        raise CorruptRecordError(f"last offset delta {header.last_offset_delta} is negative")
    if header.records_count < 0:
        raise CorruptRecordError(f"records count {header.records_count} is negative")
    if header.records_count > header.last_offset_delta + 1:
        raise CorruptRecordError(
            f"records count {header.records_count} exceeds the batch's {header.last_offset_delta + 1} offsets"
        )
    if header.last_offset > INT64_MAX:
        raise CorruptRecordError(f"last offset {header.last_offset} does not fit int64")
    records_bytes = header.batch_length - (BATCH_HEADER_SIZE - LOG_OVERHEAD)
    if header.compression is Compression.NONE and records_bytes < MIN_RECORD_SIZE * header.records_count:
        raise CorruptRecordError(
            f"{records_bytes} bytes of records cannot hold {header.records_count} records"
        )
    return header


def verify_crc(buf: BytesLike, pos: int = 0) -> BatchHeader:
    """:func:`parse_header`, then check that the whole batch is present and its CRC matches.

    The CRC is CRC-32C over the bytes from ``attributes`` to the end of the batch. Bytes
    after the batch (``buf[pos + size:]``) are ignored. Raises :class:`CorruptRecordError`
    when a header check fails, the batch is truncated, or the CRC differs.
    """
    header = parse_header(buf, pos)
    view = as_view(buf, pos)
    end = pos + header.size
    if end > len(view):
        raise CorruptRecordError(
            f"batch at byte {pos} is truncated: {len(view) - pos} of {header.size} bytes present"
        )
    computed = crc32c(view[pos + CRC_FROM : end])
    if computed != header.crc:
        raise CorruptRecordError(f"batch CRC mismatch: stored {header.crc:#010x}, computed {computed:#010x}")
    return header


def verified_batches(records: BytesLike) -> Iterator[VerifiedBatch]:
    """Split ``records`` (batches back to back) into :class:`VerifiedBatch` es, one CRC each.

    Lazy: each batch's header is parsed and its CRC-32C computed (:func:`verify_crc`) when the
    iteration reaches it, so a caller checking each batch in turn sees the first fault first.
    Each batch's bytes are copied out of ``records`` unless they are the whole ``bytes`` object.
    Yields nothing for empty ``records``; raises :class:`CorruptRecordError` at the first
    malformed, truncated or corrupt batch.
    """
    view = as_view(records, 0)
    position = 0
    while position < len(view):
        header = verify_crc(view, position)
        end = position + header.size
        if isinstance(records, bytes) and position == 0 and end == len(records):
            yield VerifiedBatch(records, header)
        else:
            yield VerifiedBatch(bytes(view[position:end]), header)
        position = end
