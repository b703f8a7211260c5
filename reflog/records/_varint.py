"""Kafka's variable-length integers: zigzag-encoded signed LEB128 (protobuf's ``sint32``/``sint64``).

A ``varint`` carries an int32 in at most 5 bytes, a ``varlong`` an int64 in at most 10.
Each byte holds 7 bits, least significant group first; the high bit says "more follows".
Zigzag maps signed to unsigned so small magnitudes stay short: 0→0, -1→1, 1→2, -2→3, ...

Readers accept only the canonical encoding, the one every Kafka encoder writes: no more
bytes than the type allows, no bits beyond the type's width, and no redundant trailing
zero group (``0x80 0x00`` for 0). Anything else raises :class:`CorruptRecordError`.
Kafka's Java reader is laxer (it drops the excess bits of a 5-byte varint); see the
records spec, "Deviations".
"""

from __future__ import annotations

from reflog.errors import CorruptRecordError

__all__ = ["read_unsigned_varint32", "read_varint", "read_varlong", "write_varint", "write_varlong", "zigzag"]


def zigzag(value: int) -> int:
    """The zigzag (unsigned) form of a signed ``value``: 2v for v >= 0, -2v - 1 for v < 0."""
    return value << 1 if value >= 0 else ((-value) << 1) - 1


def _write_unsigned(out: bytearray, raw: int) -> None:
    while raw > 0x7F:
        out.append((raw & 0x7F) | 0x80)
        raw >>= 7
    out.append(raw)


def write_varint(out: bytearray, value: int) -> None:
    """Append ``value`` (the caller guarantees it fits int32) as a zigzag varint."""
    _write_unsigned(out, zigzag(value))


def write_varlong(out: bytearray, value: int) -> None:
    """Append ``value`` (the caller guarantees it fits int64) as a zigzag varlong."""
    _write_unsigned(out, zigzag(value))


def _read_unsigned(
    buf: memoryview, pos: int, end: int, *, max_bytes: int, bits: int, what: str, minimal: bool = True
) -> tuple[int, int]:
    start = pos
    result = 0
    shift = 0
    while True:
        if pos >= end:
            raise CorruptRecordError(f"{what} at byte {start} runs past the end of its field")
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            break
        if pos - start >= max_bytes:
            raise CorruptRecordError(f"{what} at byte {start} is longer than {max_bytes} bytes")
        shift += 7
    if result >> bits:
        raise CorruptRecordError(f"{what} at byte {start} overflows {bits} bits")
    if minimal and byte == 0 and pos - start > 1:
        raise CorruptRecordError(f"{what} at byte {start} is not minimally encoded")
    return result, pos


def read_varint(buf: memoryview, pos: int, end: int) -> tuple[int, int]:
    """Read a zigzag varint (int32) from ``buf[pos:end]``; return ``(value, next position)``.

    Raises :class:`CorruptRecordError` when it runs past ``end``, exceeds 5 bytes or
    32 bits, or is not minimally encoded.
    """
    if pos < end:  # fast paths for the one- and two-byte encodings (most record fields)
        first = buf[pos]
        if first < 0x80:
            return (first >> 1) ^ -(first & 1), pos + 1
        if pos + 1 < end:
            second = buf[pos + 1]
            if 0 < second < 0x80:  # a zero second byte is not minimal: the slow path refuses it
                raw = (first & 0x7F) | (second << 7)
                return (raw >> 1) ^ -(raw & 1), pos + 2
    raw, pos = _read_unsigned(buf, pos, end, max_bytes=5, bits=32, what="varint")
    return (raw >> 1) ^ -(raw & 1), pos


def read_varlong(buf: memoryview, pos: int, end: int) -> tuple[int, int]:
    """Read a zigzag varlong (int64) from ``buf[pos:end]``; return ``(value, next position)``.

    Raises :class:`CorruptRecordError` when it runs past ``end``, exceeds 10 bytes or
    64 bits, or is not minimally encoded.
    """
    if pos < end:  # fast path for the one-byte encoding (small timestamp deltas)
        first = buf[pos]
        if first < 0x80:
            return (first >> 1) ^ -(first & 1), pos + 1
    raw, pos = _read_unsigned(buf, pos, end, max_bytes=10, bits=64, what="varlong")
    return (raw >> 1) ^ -(raw & 1), pos


def read_unsigned_varint32(buf: memoryview, pos: int, end: int, what: str) -> tuple[int, int]:
    """Read a plain (not zigzag) unsigned LEB128 of at most 5 bytes and 32 bits.

    This is snappy's length preamble. Redundant zero groups are tolerated here, as the
    snappy library itself tolerates them. Raises :class:`CorruptRecordError` otherwise.
    """
    return _read_unsigned(buf, pos, end, max_bytes=5, bits=32, what=what, minimal=False)
