"""Building, parsing, checking and decoding v2 record batches.

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

Decoding is strict: every malformed input raises :class:`CorruptRecordError` and nothing
else; building refuses values the format cannot represent with :class:`ReflogUsageError`.
"""

from __future__ import annotations

import struct
from collections.abc import Generator, Iterator, Sequence

from reflog.errors import CorruptRecordError, ReflogUsageError
from reflog.records._compression import compress, decompress
from reflog.records._crc import crc32c
from reflog.records._types import (
    BATCH_HEADER_SIZE,
    COMPRESSION_MASK,
    INT16_MAX,
    INT16_MIN,
    INT32_MAX,
    INT32_MIN,
    INT64_MAX,
    INT64_MIN,
    KNOWN_ATTRIBUTE_BITS,
    LOG_OVERHEAD,
    MAGIC_V2,
    NO_TIMESTAMP,
    TIMESTAMP_TYPE_MASK,
    TRANSACTIONAL_MASK,
    BatchHeader,
    Compression,
    Header,
    Record,
    RecordBatch,
    TimestampType,
)
from reflog.records._varint import read_varint, read_varlong, write_varint, write_varlong

__all__ = [
    "DEFAULT_MAX_UNCOMPRESSED_BYTES",
    "build_batch",
    "decode_batch",
    "parse_header",
    "validate_batch_steps",
    "verify_crc",
    "with_base_offset",
    "with_partition_leader_epoch",
]

BytesLike = bytes | bytearray | memoryview

DEFAULT_MAX_UNCOMPRESSED_BYTES = 64 * 1024 * 1024

_HEADER = struct.Struct(">qiibIhiqqqhii")
assert _HEADER.size == BATCH_HEADER_SIZE

_INT64 = (INT64_MIN, INT64_MAX)
_BASE_OFFSET_AT = 0
_PARTITION_LEADER_EPOCH_AT = 12
_CRC_AT = 17
#: The CRC covers everything from the attributes to the end of the batch.
_CRC_FROM = 21
#: The smallest possible record: length, attributes, timestampDelta, offsetDelta,
#: keyLength, valueLength and headersCount, one byte each.
_MIN_RECORD_SIZE = 7


def _view(buf: BytesLike, pos: int) -> memoryview:
    if isinstance(pos, bool) or not isinstance(pos, int) or pos < 0:
        raise ReflogUsageError(f"pos must be a non-negative int, got {pos!r}")
    try:
        return memoryview(buf).cast("B")
    except TypeError as exc:
        raise ReflogUsageError(f"expected a contiguous bytes-like buffer, got {type(buf).__name__}") from exc


# -- header --------------------------------------------------------------------------------------


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
    view = _view(buf, pos)
    if len(view) - pos < BATCH_HEADER_SIZE:
        raise CorruptRecordError(
            f"batch header at byte {pos} is truncated: {max(0, len(view) - pos)} of {BATCH_HEADER_SIZE} bytes"
        )
    header = BatchHeader(*_HEADER.unpack_from(view, pos))
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
    if header.compression is Compression.NONE and records_bytes < _MIN_RECORD_SIZE * header.records_count:
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
    view = _view(buf, pos)
    end = pos + header.size
    if end > len(view):
        raise CorruptRecordError(
            f"batch at byte {pos} is truncated: {len(view) - pos} of {header.size} bytes present"
        )
    computed = crc32c(view[pos + _CRC_FROM : end])
    if computed != header.crc:
        raise CorruptRecordError(f"batch CRC mismatch: stored {header.crc:#010x}, computed {computed:#010x}")
    return header


# -- decoding ------------------------------------------------------------------------------------


def decode_batch(
    buf: BytesLike, pos: int = 0, *, max_uncompressed_bytes: int = DEFAULT_MAX_UNCOMPRESSED_BYTES
) -> RecordBatch:
    """Fully validate and decode the batch at ``buf[pos:]``.

    On top of :func:`verify_crc`: the records section is decompressed (never to more than
    ``max_uncompressed_bytes`` bytes, whatever the input declares) and must hold exactly
    ``records_count`` records and nothing after them. Each record's length must equal the
    bytes its fields use; record attributes must be 0; key, value and header-value lengths
    must be >= -1 (-1 is null) and header-key lengths >= 0; header keys must be valid UTF-8;
    offset deltas must be strictly increasing within ``[0, last_offset_delta]``; every
    timestamp must fit int64.

    Decoded records carry their absolute ``offset`` (``base_offset + offsetDelta``) and
    ``timestamp``: ``base_timestamp + timestampDelta`` for ``CREATE_TIME`` batches, the
    batch's ``max_timestamp`` (the append time) for ``LOG_APPEND_TIME`` ones, as in Kafka.

    Raises :class:`CorruptRecordError` for any malformed input and never another exception
    (:class:`ReflogUsageError` only for bad arguments: negative ``pos`` or limit). Runs in
    time linear in the batch size plus ``max_uncompressed_bytes``.
    """
    _check_limit(max_uncompressed_bytes)
    header = verify_crc(buf, pos)
    section = _records_section(buf, pos, header, max_uncompressed_bytes)
    return RecordBatch(header=header, records=_decode_records(section, header))


def validate_batch(
    buf: BytesLike, pos: int = 0, *, max_uncompressed_bytes: int = DEFAULT_MAX_UNCOMPRESSED_BYTES
) -> BatchHeader:
    """Every check of :func:`decode_batch`, without building the records; returns the header.

    The leader's append path uses it: the same walk over every field of every record, minus
    the copies of keys and values and the :class:`Record` objects. Raises
    :class:`CorruptRecordError` exactly when :func:`decode_batch` would.
    """
    _check_limit(max_uncompressed_bytes)
    header = verify_crc(buf, pos)
    section = _records_section(buf, pos, header, max_uncompressed_bytes)
    for _ in _validate_records(section, header, max(1, header.records_count)):
        pass  # one step: the whole batch at once
    return header


def validate_batch_steps(
    buf: BytesLike,
    pos: int = 0,
    *,
    records_per_step: int,
    max_uncompressed_bytes: int = DEFAULT_MAX_UNCOMPRESSED_BYTES,
) -> Generator[int, None, BatchHeader]:
    """:func:`validate_batch` in steps of ``records_per_step`` records; the generator returns the header.

    It yields (the number of records checked so far) after each step but the last, so an event
    loop can run other work between steps: a batch of millions of tiny records, small on the
    wire once compressed, is then never one long synchronous walk. The steps are the same on
    every run (they depend only on the batch). The CRC check and the decompression (bounded by
    ``max_uncompressed_bytes``) happen before the first step. Raises :class:`CorruptRecordError`
    exactly when :func:`validate_batch` would, and :class:`ReflogUsageError` for
    ``records_per_step < 1``.
    """
    _check_limit(max_uncompressed_bytes)
    if isinstance(records_per_step, bool) or not isinstance(records_per_step, int) or records_per_step < 1:
        raise ReflogUsageError(f"records_per_step must be a positive int, got {records_per_step!r}")
    header = verify_crc(buf, pos)
    section = _records_section(buf, pos, header, max_uncompressed_bytes)
    yield from _validate_records(section, header, records_per_step)
    return header


def _validate_records(data: memoryview, header: BatchHeader, step: int) -> Iterator[int]:
    """Check ``header.records_count`` records in windows of ``step``; yield between windows.

    Each window runs the fast walk and, when it is not sure, the exact walk over the same
    window (which raises the precise error, or returns for a valid window the fast walk could
    not follow). The exact walk's checks and messages are those of :func:`_decode_records`.
    """
    count = header.records_count
    end = len(data)
    if _MIN_RECORD_SIZE * count > end:
        raise CorruptRecordError(f"{end} bytes of records cannot hold {count} records")
    pos, previous_delta, done = 0, -1, 0
    while done < count:
        window = min(step, count - done)
        walked = _window_valid(data, header, pos, previous_delta, window)
        if walked is None:
            walked = _decode_window(data, header, pos, previous_delta, first=done, count=window, records=None)
        pos, previous_delta = walked
        done += window
        if done < count:
            yield done
    if pos != end:
        raise CorruptRecordError(f"{end - pos} bytes follow the last of {count} records")


def _records_valid(data: memoryview, header: BatchHeader) -> bool:
    """``True`` only if :func:`_decode_records` would accept ``data``; ``False`` when unsure."""
    count = header.records_count
    if _MIN_RECORD_SIZE * count > len(data):
        return False
    walked = _window_valid(data, header, 0, -1, count)
    return walked is not None and walked[0] == len(data)


def _window_valid(
    data: memoryview, header: BatchHeader, pos: int, previous_delta: int, count: int
) -> tuple[int, int] | None:
    """The position and last offset delta after ``count`` records, if surely valid; ``None`` when unsure.

    The leader's hot path: the same checks in the same order as ``_decode_window``, with
    one-byte varints (and two-byte record lengths) decoded inline instead of through function
    calls, and nothing built. It never raises and never reports a window the exact walk refuses
    as valid: every failed check, every field outside the inline cases that a reader refuses,
    and every unexpected exception returns ``None``, and the caller then runs the exact walk,
    which raises the precise error. Longer varints go through the exact readers.
    """
    try:
        return _walk_records(data, header, pos, previous_delta, count)
    except Exception:  # a refused varint, a bad header key...: let the exact walk say what
        return None


def _walk_records(
    data: memoryview, header: BatchHeader, pos: int, previous_delta: int, count: int
) -> tuple[int, int] | None:
    # A varint of one byte, or of two (a second byte in 1..0x7F: a zero second byte is not
    # minimal), is decoded inline; any other goes to the exact reader. Fields are not checked
    # one by one against the record's end: positions only grow (lengths below -1 are refused),
    # so ending exactly at the record's end proves every field lay inside it. Reading past the
    # end of ``data`` raises IndexError, which the caller turns into ``None``.
    end = len(data)
    last_delta = header.last_offset_delta
    # timestamp = base_timestamp + delta must fit int64: bound the delta instead.
    low_delta = INT64_MIN - header.base_timestamp
    high_delta = INT64_MAX - header.base_timestamp
    for _ in range(count):
        first = data[pos]
        if first < 0x80:
            length = (first >> 1) ^ -(first & 1)
            pos += 1
        elif 0 < (second := data[pos + 1]) < 0x80:
            raw = (first & 0x7F) | (second << 7)
            length = (raw >> 1) ^ -(raw & 1)
            pos += 2
        else:
            length, pos = read_varint(data, pos, end)
        if length <= 0 or length > end - pos:  # negative, empty, or past the end
            return None
        record_end = pos + length
        if data[pos]:  # attributes must be 0
            return None
        first = data[pos + 1]
        if first < 0x80:
            timestamp_delta = (first >> 1) ^ -(first & 1)
            pos += 2
        elif 0 < (second := data[pos + 2]) < 0x80:
            raw = (first & 0x7F) | (second << 7)
            timestamp_delta = (raw >> 1) ^ -(raw & 1)
            pos += 3
        else:
            timestamp_delta, pos = read_varlong(data, pos + 1, record_end)
        if not low_delta <= timestamp_delta <= high_delta:
            return None
        first = data[pos]
        if first < 0x80:
            offset_delta = (first >> 1) ^ -(first & 1)
            pos += 1
        elif 0 < (second := data[pos + 1]) < 0x80:
            raw = (first & 0x7F) | (second << 7)
            offset_delta = (raw >> 1) ^ -(raw & 1)
            pos += 2
        else:
            offset_delta, pos = read_varint(data, pos, record_end)
        if not previous_delta < offset_delta <= last_delta:
            return None
        previous_delta = offset_delta
        # key, then value: -1 (null) or a length
        first = data[pos]
        if first == 1:
            pos += 1
        else:
            if first < 0x80:
                field_length = (first >> 1) ^ -(first & 1)
                pos += 1
            elif 0 < (second := data[pos + 1]) < 0x80:
                raw = (first & 0x7F) | (second << 7)
                field_length = (raw >> 1) ^ -(raw & 1)
                pos += 2
            else:
                field_length, pos = read_varint(data, pos, record_end)
            if field_length < 0:
                return None
            pos += field_length
        first = data[pos]
        if first == 1:
            pos += 1
        else:
            if first < 0x80:
                field_length = (first >> 1) ^ -(first & 1)
                pos += 1
            elif 0 < (second := data[pos + 1]) < 0x80:
                raw = (first & 0x7F) | (second << 7)
                field_length = (raw >> 1) ^ -(raw & 1)
                pos += 2
            else:
                field_length, pos = read_varint(data, pos, record_end)
            if field_length < 0:
                return None
            pos += field_length
        # headers
        if data[pos] == 0:  # none: the common case
            pos += 1
        else:
            if pos >= record_end:
                return None
            header_count, pos = read_varint(data, pos, record_end)
            if header_count < 0 or 2 * header_count > record_end - pos:
                return None
            for _ in range(header_count):
                key_length, pos = read_varint(data, pos, record_end)
                if key_length < 0 or key_length > record_end - pos:
                    return None
                str(data[pos : pos + key_length], "utf-8")  # raises for a key that is not UTF-8
                pos += key_length
                _, pos = _read_nullable(data, pos, record_end, "header value", False)
        if pos != record_end:
            return None
    return pos, previous_delta


def _check_limit(max_uncompressed_bytes: object) -> None:
    if isinstance(max_uncompressed_bytes, bool) or not isinstance(max_uncompressed_bytes, int):
        raise ReflogUsageError(f"max_uncompressed_bytes must be an int, got {max_uncompressed_bytes!r}")
    if max_uncompressed_bytes < 0:
        raise ReflogUsageError(f"max_uncompressed_bytes must be >= 0, got {max_uncompressed_bytes}")


def _records_section(
    buf: BytesLike, pos: int, header: BatchHeader, max_uncompressed_bytes: int
) -> memoryview:
    view = _view(buf, pos)
    section = view[pos + BATCH_HEADER_SIZE : pos + header.size]
    codec = header.compression
    if codec is Compression.NONE:
        return section
    return memoryview(decompress(codec, section, max_uncompressed_bytes))


def _read_nullable(
    data: memoryview, pos: int, end: int, what: str, build: bool = True
) -> tuple[bytes | None, int]:
    length, pos = read_varint(data, pos, end)
    if length == -1:
        return None, pos
    if length < -1:
        raise CorruptRecordError(f"{what} length {length} is negative")
    if length > end - pos:
        raise CorruptRecordError(f"{what} of {length} bytes runs past the end of its record")
    return (bytes(data[pos : pos + length]) if build else None), pos + length


def _decode_records(data: memoryview, header: BatchHeader, *, build: bool = True) -> tuple[Record, ...]:
    count = header.records_count
    if _MIN_RECORD_SIZE * count > len(data):
        raise CorruptRecordError(f"{len(data)} bytes of records cannot hold {count} records")
    records: list[Record] = []
    pos, _ = _decode_window(data, header, 0, -1, first=0, count=count, records=records if build else None)
    end = len(data)
    if pos != end:
        raise CorruptRecordError(f"{end - pos} bytes follow the last of {count} records")
    return tuple(records)


def _decode_window(
    data: memoryview,
    header: BatchHeader,
    pos: int,
    previous_delta: int,
    *,
    first: int,
    count: int,
    records: list[Record] | None,
) -> tuple[int, int]:
    """The exact walk over records ``first .. first + count - 1`` from byte ``pos``.

    Appends them to ``records`` unless it is ``None`` (validation only); returns the position
    and offset delta after the last one. Raises :class:`CorruptRecordError` at the first fault.
    """
    build = records is not None
    log_append_time = header.timestamp_type is TimestampType.LOG_APPEND_TIME
    end = len(data)
    for index in range(first, first + count):
        length, pos = read_varint(data, pos, end)
        if length < 0 or length > end - pos:
            raise CorruptRecordError(f"record {index} has invalid length {length}")
        record_end = pos + length
        if pos >= record_end:
            raise CorruptRecordError(f"record {index} is empty")
        if data[pos] != 0:
            raise CorruptRecordError(f"record {index} has attributes {data[pos]:#04x}; they must be 0")
        pos += 1
        timestamp_delta, pos = read_varlong(data, pos, record_end)
        offset_delta, pos = read_varint(data, pos, record_end)
        if not previous_delta < offset_delta <= header.last_offset_delta:
            raise CorruptRecordError(
                f"record {index} has offset delta {offset_delta}; expected one in "
                f"({previous_delta}, {header.last_offset_delta}]"
            )
        previous_delta = offset_delta
        timestamp = header.base_timestamp + timestamp_delta
        if not INT64_MIN <= timestamp <= INT64_MAX:
            raise CorruptRecordError(f"record {index} has a timestamp outside int64")
        key, pos = _read_nullable(data, pos, record_end, "key", build)
        value, pos = _read_nullable(data, pos, record_end, "value", build)
        header_count, pos = read_varint(data, pos, record_end)
        if header_count < 0 or 2 * header_count > record_end - pos:
            raise CorruptRecordError(f"record {index} has invalid header count {header_count}")
        headers: list[Header] = []
        for _ in range(header_count):
            key_length, pos = read_varint(data, pos, record_end)
            if key_length < 0 or key_length > record_end - pos:
                raise CorruptRecordError(f"record {index} has invalid header key length {key_length}")
            try:
                header_key = str(data[pos : pos + key_length], "utf-8")
            except UnicodeDecodeError as exc:
                raise CorruptRecordError(f"record {index} has a header key that is not UTF-8") from exc
            pos += key_length
            header_value, pos = _read_nullable(data, pos, record_end, "header value", build)
            if build:
                headers.append(Header(header_key, header_value))
        if pos != record_end:
            raise CorruptRecordError(
                f"record {index} declares {length} bytes but its fields use {length - (record_end - pos)}"
            )
        if records is None:
            continue
        records.append(
            Record(
                key=key,
                value=value,
                headers=tuple(headers),
                timestamp=header.max_timestamp if log_append_time else timestamp,
                offset=header.base_offset + offset_delta,
            )
        )
    return pos, previous_delta


# -- building ------------------------------------------------------------------------------------


def _check_int(name: str, value: object, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ReflogUsageError(f"{name} must be an int, got {type(value).__name__}")
    if not low <= value <= high:
        raise ReflogUsageError(f"{name}={value} is outside [{low}, {high}]")
    return value


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
    _check_int("base_offset", base_offset, INT64_MIN, INT64_MAX)
    _check_int("partition_leader_epoch", partition_leader_epoch, INT32_MIN, INT32_MAX)
    _check_int("timestamp", timestamp, INT64_MIN, INT64_MAX)
    _check_int("producer_id", producer_id, INT64_MIN, INT64_MAX)
    _check_int("producer_epoch", producer_epoch, INT16_MIN, INT16_MAX)
    _check_int("base_sequence", base_sequence, INT32_MIN, INT32_MAX)
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
            timestamps.append(_check_int(f"records[{index}].timestamp", record.timestamp, *_INT64))
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
    _HEADER.pack_into(
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
    struct.pack_into(">I", out, _CRC_AT, crc32c(memoryview(out)[_CRC_FROM:]))
    return bytes(out)


# -- patching the fields outside the CRC ---------------------------------------------------------


def with_base_offset(batch: BytesLike, base_offset: int) -> bytes:
    """A copy of ``batch`` with ``baseOffset`` (bytes 0-7) set to ``base_offset``.

    ``baseOffset`` is outside the CRC, so the CRC stays valid and every other byte is
    unchanged. The header is checked with :func:`parse_header` first
    (:class:`CorruptRecordError`); ``base_offset`` must fit int64 together with the
    batch's last offset (:class:`ReflogUsageError`).
    """
    header = parse_header(batch)
    _check_int("base_offset", base_offset, INT64_MIN, INT64_MAX - header.last_offset_delta)
    out = bytearray(batch)
    struct.pack_into(">q", out, _BASE_OFFSET_AT, base_offset)
    return bytes(out)


def with_partition_leader_epoch(batch: BytesLike, epoch: int) -> bytes:
    """A copy of ``batch`` with ``partitionLeaderEpoch`` (bytes 12-15) set to ``epoch``.

    The epoch is outside the CRC, so the CRC stays valid and every other byte is
    unchanged. The header is checked with :func:`parse_header` first
    (:class:`CorruptRecordError`); ``epoch`` must fit int32 (:class:`ReflogUsageError`).
    """
    parse_header(batch)
    _check_int("epoch", epoch, INT32_MIN, INT32_MAX)
    out = bytearray(batch)
    struct.pack_into(">i", out, _PARTITION_LEADER_EPOCH_AT, epoch)
    return bytes(out)
