"""Decoding and validating v2 record batches: the walk over every field of every record.

:func:`decode_batch` builds the records; :func:`validate_batch` and
:func:`validate_batch_steps` make the same checks without building them;
:func:`validate_records` and :func:`validate_records_steps` make them on a
:class:`~reflog.records.VerifiedBatch` without computing its CRC again (the append pipeline).
Decoding is strict: every malformed input raises :class:`CorruptRecordError` and nothing else.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator

from reflog.errors import CorruptRecordError, ReflogUsageError
from reflog.records._compression import decompress
from reflog.records._types import (
    BATCH_HEADER_SIZE,
    INT64_MAX,
    INT64_MIN,
    BatchHeader,
    Compression,
    Header,
    Record,
    RecordBatch,
    TimestampType,
    VerifiedBatch,
)
from reflog.records._varint import read_varint, read_varlong
from reflog.records._verify import MIN_RECORD_SIZE, BytesLike, as_view, verify_crc

__all__ = [
    "DEFAULT_MAX_UNCOMPRESSED_BYTES",
    "decode_batch",
    "validate_batch",
    "validate_batch_steps",
    "validate_records",
    "validate_records_steps",
]

DEFAULT_MAX_UNCOMPRESSED_BYTES = 64 * 1024 * 1024


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
    _check_step(records_per_step)
    header = verify_crc(buf, pos)
    section = _records_section(buf, pos, header, max_uncompressed_bytes)
    yield from _validate_records(section, header, records_per_step)
    return header


def validate_records(
    batch: VerifiedBatch, *, max_uncompressed_bytes: int = DEFAULT_MAX_UNCOMPRESSED_BYTES
) -> None:
    """:func:`validate_batch` for a batch whose CRC was already checked: the records walk alone.

    The append pipeline's step after :func:`~reflog.records.verified_batches`, so a batch's CRC
    is computed once. Raises :class:`CorruptRecordError` exactly when :func:`validate_batch`
    would on ``batch.raw`` (whose header and CRC passed), :class:`ReflogUsageError` for a bad limit.
    """
    _check_limit(max_uncompressed_bytes)
    header = batch.header
    section = _records_section(batch.raw, 0, header, max_uncompressed_bytes)
    for _ in _validate_records(section, header, max(1, header.records_count)):
        pass  # one step: the whole batch at once


def validate_records_steps(
    batch: VerifiedBatch,
    *,
    records_per_step: int,
    max_uncompressed_bytes: int = DEFAULT_MAX_UNCOMPRESSED_BYTES,
) -> Generator[int, None, None]:
    """:func:`validate_records` in steps, yielding as :func:`validate_batch_steps` does (no CRC).

    Raises :class:`CorruptRecordError` exactly when :func:`validate_batch_steps` would on a batch
    whose CRC passed, :class:`ReflogUsageError` for ``records_per_step < 1`` or a bad limit.
    """
    _check_limit(max_uncompressed_bytes)
    _check_step(records_per_step)
    section = _records_section(batch.raw, 0, batch.header, max_uncompressed_bytes)
    yield from _validate_records(section, batch.header, records_per_step)


def _check_step(records_per_step: object) -> None:
    if isinstance(records_per_step, bool) or not isinstance(records_per_step, int) or records_per_step < 1:
        raise ReflogUsageError(f"records_per_step must be a positive int, got {records_per_step!r}")


def _validate_records(data: memoryview, header: BatchHeader, step: int) -> Iterator[int]:
    """Check ``header.records_count`` records in windows of ``step``; yield between windows.

    Each window runs the fast walk and, when it is not sure, the exact walk over the same
    window (which raises the precise error, or returns for a valid window the fast walk could
    not follow). The exact walk's checks and messages are those of :func:`_decode_records`.
    """
    count = header.records_count
    end = len(data)
    if MIN_RECORD_SIZE * count > end:
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
    if MIN_RECORD_SIZE * count > len(data):
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
    view = as_view(buf, pos)
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
    if MIN_RECORD_SIZE * count > len(data):
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
