"""Shared helpers for the record codec tests: an independent encoder for hand-made batches,
Hypothesis strategies for records, and a bitwise CRC-32C.

The helpers here deliberately do not use reflog's own varint or CRC code, so tests built
on them check reflog against a second implementation.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

import crc32c
from hypothesis import strategies as st

from reflog.records import Compression, Header, Record, TimestampType

HEADER_STRUCT = struct.Struct(">qiibIhiqqqhii")
INT64_MAX = 2**63 - 1
INT64_MIN = -(2**63)

# Field byte ranges of the header, as [start, end).
BASE_OFFSET = range(0, 8)
BATCH_LENGTH = range(8, 12)
LEADER_EPOCH = range(12, 16)
MAGIC = range(16, 17)
CRC = range(17, 21)
CRC_COVERED_FROM = 21


def crc32c_bitwise(data: bytes | bytearray | memoryview) -> int:
    """CRC-32C, one bit at a time (reflected polynomial 0x82F63B78); slow but obviously right."""
    crc = 0xFFFFFFFF
    for byte in bytes(data):
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 & -(crc & 1))
    return crc ^ 0xFFFFFFFF


def uvarint(raw: int) -> bytes:
    """Unsigned LEB128."""
    out = bytearray()
    while True:
        group = raw & 0x7F
        raw >>= 7
        if raw:
            out.append(group | 0x80)
        else:
            out.append(group)
            return bytes(out)


def varint(value: int) -> bytes:
    """Zigzag LEB128 (Kafka's varint/varlong)."""
    return uvarint(2 * value if value >= 0 else -2 * value - 1)


def nullable(data: bytes | None) -> bytes:
    return varint(-1) if data is None else varint(len(data)) + data


def raw_record(
    *,
    key: bytes | None = b"k",
    value: bytes | None = b"v",
    headers: Sequence[tuple[bytes, bytes | None]] = (),
    timestamp_delta: int = 0,
    offset_delta: int = 0,
    attributes: int = 0,
    length_adjust: int = 0,
    raw_key_length: bytes | None = None,
) -> bytes:
    """One record encoded by hand; ``length_adjust`` and ``raw_key_length`` forge malformed ones."""
    body = bytes([attributes]) + varint(timestamp_delta) + varint(offset_delta)
    body += raw_key_length + (key or b"") if raw_key_length is not None else nullable(key)
    body += nullable(value) + varint(len(headers))
    for header_key, header_value in headers:
        body += varint(len(header_key)) + header_key + nullable(header_value)
    return varint(len(body) + length_adjust) + body


def forge_batch(
    section: bytes,
    *,
    records_count: int,
    last_offset_delta: int | None = None,
    attributes: int = 0,
    base_offset: int = 0,
    partition_leader_epoch: int = 0,
    magic: int = 2,
    base_timestamp: int = 0,
    max_timestamp: int = 0,
    producer_id: int = -1,
    producer_epoch: int = -1,
    base_sequence: int = -1,
    batch_length: int | None = None,
    crc: int | None = None,
) -> bytes:
    """A batch around an arbitrary records ``section``, with a correct CRC unless ``crc`` is given."""
    if last_offset_delta is None:
        last_offset_delta = max(records_count - 1, 0)
    if batch_length is None:
        batch_length = 49 + len(section)
    head = bytearray(
        HEADER_STRUCT.pack(
            base_offset,
            batch_length,
            partition_leader_epoch,
            magic,
            0,
            attributes,
            last_offset_delta,
            base_timestamp,
            max_timestamp,
            producer_id,
            producer_epoch,
            base_sequence,
            records_count,
        )
    )
    batch = head + section
    # The crc32c package directly (not reflog's wrapper); test_format checks it against crc32c_bitwise.
    struct.pack_into(">I", batch, 17, crc32c.crc32c(batch[21:]) if crc is None else crc)
    return bytes(batch)


# -- Hypothesis strategies -----------------------------------------------------------------------

#: Timestamps whose pairwise differences fit int64 (the format stores deltas as varlongs).
timestamps = st.integers(min_value=-(2**62) + 1, max_value=2**62 - 1)

_payloads = st.one_of(
    st.none(),
    st.binary(max_size=40),
    # Repetitive payloads, so that the codecs actually compress and kafka-python keeps them compressed.
    st.tuples(st.binary(min_size=1, max_size=6), st.integers(20, 400)).map(lambda t: t[0] * t[1]),
)

headers = st.builds(Header, key=st.text(max_size=8), value=st.none() | st.binary(max_size=12))

records = st.builds(
    Record,
    key=_payloads,
    value=_payloads,
    headers=st.lists(headers, max_size=3).map(tuple),
    timestamp=st.none() | timestamps,
)

record_lists = st.lists(records, max_size=12)

codecs = st.sampled_from(list(Compression))
timestamp_types = st.sampled_from(list(TimestampType))

#: Keyword arguments of ``build_batch`` other than the records.
batch_options = st.fixed_dictionaries(
    {
        "base_offset": st.integers(0, 2**62),
        "partition_leader_epoch": st.integers(-(2**31), 2**31 - 1),
        "compression": codecs,
        "timestamp": timestamps,
        "timestamp_type": timestamp_types,
        "producer_id": st.integers(-1, 2**63 - 1),
        "producer_epoch": st.integers(-(2**15), 2**15 - 1),
        "base_sequence": st.integers(-(2**31), 2**31 - 1),
        "is_transactional": st.booleans(),
    }
)


def sample_records(n: int = 3) -> list[Record]:
    """A small fixed set of records exercising nulls, empties, headers and timestamps."""
    base = [
        Record(b"key-0", b"value " * 30, (Header("trace", b"abc"), Header("nil", None)), timestamp=1_000),
        Record(None, b"", timestamp=1_007),
        Record(b"", None, (Header("", b""),)),
        Record(b"k" * 200, b"\x00\xff" * 100, timestamp=999),
    ]
    return base[:n]
