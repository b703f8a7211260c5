"""Encoding v2 record batches the way Kafka's ``MemoryRecordsBuilder`` does.

Building refuses values the format cannot represent with :class:`ReflogUsageError`.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

from reflog.errors import ReflogUsageError
from reflog.records._compression import compress
from reflog.records._crc import crc32c
from reflog.records._types import (
    BATCH_HEADER_SIZE,
    INT16_MAX,
    INT16_MIN,
    INT32_MAX,
    INT32_MIN,
    INT64_MAX,
    INT64_MIN,
    LOG_OVERHEAD,
    MAGIC_V2,
    NO_TIMESTAMP,
    TIMESTAMP_TYPE_MASK,
    TRANSACTIONAL_MASK,
    Compression,
    Header,
    Record,
    TimestampType,
)
from reflog.records._varint import write_varint, write_varlong
from reflog.records._verify import CRC_AT, CRC_FROM, HEADER, check_int

__all__ = ["build_batch"]

_INT64 = (INT64_MIN, INT64_MAX)


def _write_nullable(out: bytearray, name: str, value: object) -> None:
    if value is None:
        write_varint(out, -1)
        return
    if not isinstance(value, bytes | bytearray):
        raise ReflogUsageError(f"{name} must be bytes or None, got {type(value).__name__}")
    if len(value) > INT32_MAX:
        raise ReflogUsageError(f"{name} of {len(value)} bytes is too long")
    write_varint(out, len(value))
    out += value


def _encode_record(out: bytearray, index: int, record: Record, timestamp: int, base_timestamp: int) -> None:
    body = bytearray(b"\x00")  # attributes: unused, always 0
    write_varlong(body, timestamp - base_timestamp)
    write_varint(body, index)
    _write_nullable(body, f"records[{index}].key", record.key)
    _write_nullable(body, f"records[{index}].value", record.value)
    headers = record.headers
    if not isinstance(headers, tuple | list):
        raise ReflogUsageError(f"records[{index}].headers must be a tuple of Header")
    write_varint(body, len(headers))
    for number, header in enumerate(headers):
        where = f"records[{index}].headers[{number}]"
        if not isinstance(header, Header) or not isinstance(header.key, str):
            raise ReflogUsageError(f"{where} must be a Header with a str key")
        try:
            key = header.key.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise ReflogUsageError(f"{where}.key cannot be encoded as UTF-8") from exc
        write_varint(body, len(key))
        body += key
        _write_nullable(body, f"{where}.value", header.value)
    if len(body) > INT32_MAX:
        raise ReflogUsageError(f"records[{index}] is too large for one batch")
    write_varint(out, len(body))
    out += body


def build_batch(
    records: Sequence[Record],
    *,
    base_offset: int = 0,
    partition_leader_epoch: int = -1,
    compression: Compression = Compression.NONE,
    timestamp: int = 0,
    timestamp_type: TimestampType = TimestampType.CREATE_TIME,
    producer_id: int = -1,
    producer_epoch: int = -1,
    base_sequence: int = -1,
    is_transactional: bool = False,
) -> bytes:
    """Encode ``records`` as one v2 batch, the way Kafka's ``MemoryRecordsBuilder`` does.

    Records get offset deltas 0, 1, 2, ... (their ``offset`` field is ignored), so
    ``last_offset_delta = len(records) - 1``. A record without a timestamp gets
    ``timestamp``. ``base_timestamp`` is the first record's timestamp; ``max_timestamp``
    is the largest record timestamp for ``CREATE_TIME`` and ``timestamp`` (the append
    time) for ``LOG_APPEND_TIME``. The records section is compressed as a whole with
    ``compression`` in Kafka's framing.

    An empty ``records`` builds what Kafka's ``writeEmptyHeader`` writes: no records,
    ``last_offset_delta`` 0, ``base_timestamp`` -1 (NO_TIMESTAMP), ``max_timestamp =
    timestamp``, and no compression (an empty batch is never compressed).

    Only what the format cannot represent is refused, with :class:`ReflogUsageError`:
    a field outside its integer width, a timestamp delta outside int64, a key or value
    that is not bytes/None, a header key that is not a UTF-8-encodable str, more than
    2**31 - 1 records, or a batch longer than int32. Whether the values make sense for a
    log (producer state, non-negative timestamps) is the log's business.
    """
    check_int("base_offset", base_offset, INT64_MIN, INT64_MAX)
    check_int("partition_leader_epoch", partition_leader_epoch, INT32_MIN, INT32_MAX)
    check_int("timestamp", timestamp, INT64_MIN, INT64_MAX)
    check_int("producer_id", producer_id, INT64_MIN, INT64_MAX)
    check_int("producer_epoch", producer_epoch, INT16_MIN, INT16_MAX)
    check_int("base_sequence", base_sequence, INT32_MIN, INT32_MAX)
    try:
        codec = Compression(compression)
        ts_type = TimestampType(timestamp_type)
    except ValueError as exc:
        raise ReflogUsageError(str(exc)) from exc
    if not isinstance(is_transactional, bool):
        raise ReflogUsageError("is_transactional must be a bool")
    count = len(records)
    if count > INT32_MAX:
        raise ReflogUsageError(f"{count} records do not fit one batch")
    if count and base_offset + count - 1 > INT64_MAX:
        raise ReflogUsageError(f"the last offset {base_offset + count - 1} does not fit int64")

    timestamps: list[int] = []
    for index, record in enumerate(records):
        if not isinstance(record, Record):
            raise ReflogUsageError(f"records[{index}] must be a Record, got {type(record).__name__}")
        if record.timestamp is None:
            timestamps.append(timestamp)
        else:
            timestamps.append(check_int(f"records[{index}].timestamp", record.timestamp, *_INT64))
    if count:
        base_timestamp = timestamps[0]
        max_timestamp = timestamp if ts_type is TimestampType.LOG_APPEND_TIME else max(timestamps)
        body = bytearray()
        for index, record in enumerate(records):
            delta = timestamps[index] - base_timestamp
            if not INT64_MIN <= delta <= INT64_MAX:
                raise ReflogUsageError(f"records[{index}].timestamp is too far from the base timestamp")
            _encode_record(body, index, record, timestamps[index], base_timestamp)
        section = bytes(body) if codec is Compression.NONE else compress(codec, bytes(body))
        last_offset_delta = count - 1
    else:
        codec = Compression.NONE
        base_timestamp = NO_TIMESTAMP
        max_timestamp = timestamp
        section = b""
        last_offset_delta = 0

    batch_length = BATCH_HEADER_SIZE - LOG_OVERHEAD + len(section)
    if batch_length > INT32_MAX:
        raise ReflogUsageError(f"batch of {batch_length + LOG_OVERHEAD} bytes exceeds the int32 length field")
    attributes = int(codec)
    if ts_type is TimestampType.LOG_APPEND_TIME:
        attributes |= TIMESTAMP_TYPE_MASK
    if is_transactional:
        attributes |= TRANSACTIONAL_MASK
    out = bytearray(BATCH_HEADER_SIZE)
    HEADER.pack_into(
        out,
        0,
        base_offset,
        batch_length,
        partition_leader_epoch,
        MAGIC_V2,
        0,  # CRC, filled in below
        attributes,
        last_offset_delta,
        base_timestamp,
        max_timestamp,
        producer_id,
        producer_epoch,
        base_sequence,
        count,
    )
    out += section
    struct.pack_into(">I", out, CRC_AT, crc32c(memoryview(out)[CRC_FROM:]))
    return bytes(out)
