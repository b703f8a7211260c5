"""The byte layout of v2 batches: golden vectors, header fields, varints, CRC, building rules."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reflog.errors import CorruptRecordError, ReflogUsageError
from reflog.records import (
    BATCH_HEADER_SIZE,
    LOG_OVERHEAD,
    BatchHeader,
    Compression,
    Header,
    Record,
    TimestampType,
    build_batch,
    crc32c,
    decode_batch,
    parse_header,
    verify_crc,
    with_base_offset,
    with_partition_leader_epoch,
)
from reflog.records._varint import read_varint, read_varlong
from tests.records._helpers import (
    HEADER_STRUCT,
    crc32c_bitwise,
    forge_batch,
    raw_record,
    sample_records,
    timestamps,
    varint,
)
from tests.records._helpers import records as record_strategy

# -- golden bytes --------------------------------------------------------------------------------

# Derived by hand from the layout in specs/records.md for:
#   build_batch([Record(b"key", b"value", (Header("h", b"1"),), timestamp=1_700_000_000_000),
#                Record(None, b"", timestamp=1_700_000_000_005)],
#               base_offset=5, partition_leader_epoch=7, producer_id=1001, producer_epoch=3,
#               base_sequence=42, is_transactional=True)
GOLDEN_RECORD_0 = bytes.fromhex(
    "24"  # length 18, zigzag -> 36
    "00"  # attributes
    "00"  # timestamp delta 0
    "00"  # offset delta 0
    "06"
    + b"key".hex()  # key length 3 -> 6
    + "0a"
    + b"value".hex()  # value length 5 -> 10
    + "02"  # one header -> 2
    "02"
    + b"h".hex()  # header key length 1 -> 2
    + "02"
    + b"1".hex()  # header value length 1 -> 2
)
GOLDEN_RECORD_1 = bytes.fromhex(
    "0c"  # length 6 -> 12
    "00"  # attributes
    "0a"  # timestamp delta 5 -> 10
    "02"  # offset delta 1 -> 2
    "01"  # key null: -1 -> 1
    "00"  # value length 0
    "00"  # no headers
)
GOLDEN_CRC = 0x19C111F1  # CRC-32C of bytes 21..86, computed bit by bit below
GOLDEN = (
    bytes.fromhex(
        "0000000000000005"  # baseOffset 5
        "0000004b"  # batchLength 75 = 49 + 26
        "00000007"  # partitionLeaderEpoch 7
        "02"  # magic
    )
    + GOLDEN_CRC.to_bytes(4, "big")
    + bytes.fromhex(
        "0010"  # attributes: transactional, CreateTime, no compression
        "00000001"  # lastOffsetDelta 1
        "0000018bcfe56800"  # baseTimestamp 1_700_000_000_000
        "0000018bcfe56805"  # maxTimestamp 1_700_000_000_005
        "00000000000003e9"  # producerId 1001
        "0003"  # producerEpoch 3
        "0000002a"  # baseSequence 42
        "00000002"  # recordsCount 2
    )
    + GOLDEN_RECORD_0
    + GOLDEN_RECORD_1
)


@pytest.mark.req("REC-1", "REC-3", "REC-5", "REC-10", "REC-11")
def test_golden_batch_bytes() -> None:
    built = build_batch(
        [
            Record(b"key", b"value", (Header("h", b"1"),), timestamp=1_700_000_000_000),
            Record(None, b"", timestamp=1_700_000_000_005),
        ],
        base_offset=5,
        partition_leader_epoch=7,
        producer_id=1001,
        producer_epoch=3,
        base_sequence=42,
        is_transactional=True,
    )
    assert len(GOLDEN) == 87
    assert crc32c_bitwise(GOLDEN[21:]) == GOLDEN_CRC
    assert built == GOLDEN
    batch = decode_batch(GOLDEN)
    assert batch.records == (
        Record(b"key", b"value", (Header("h", b"1"),), timestamp=1_700_000_000_000, offset=5),
        Record(None, b"", (), timestamp=1_700_000_000_005, offset=6),
    )


# Test vectors from the Go client IBM/sarama (record_test.go, MIT licence): one record with
# key 01020304, value 050607, header 08090a -> 0b0c, timestamp delta 5 ms; batches written by
# sarama's own encoder (gzip with mtime set, snappy without xerial framing, lz4 with a
# content checksum, 4 MiB blocks and an uncompressed block).
_SARAMA_COMMON = bytes(
    [0, 0, 1, 88, 141, 205, 89, 56]  # base timestamp 1479847795000
    + [0] * 8  # max timestamp 0
    + [0] * 8  # producer id 0
    + [0, 0]  # producer epoch
    + [0, 0, 0, 0]  # base sequence
    + [0, 0, 0, 1]  # one record
)


def _sarama(length: int, crc: list[int], codec: int, section: list[int]) -> bytes:
    return (
        bytes(8) + length.to_bytes(4, "big") + bytes(4) + b"\x02" + bytes(crc) + bytes([0, codec]) + bytes(4)
    ) + (_SARAMA_COMMON + bytes(section))


_SARAMA_RECORD = [40, 0, 10, 0, 8, 1, 2, 3, 4, 6, 5, 6, 7, 2, 6, 8, 9, 10, 4, 11, 12]
SARAMA_VECTORS = {
    Compression.NONE: _sarama(70, [84, 121, 97, 253], 0, _SARAMA_RECORD),
    Compression.GZIP: _sarama(
        95,
        [231, 74, 206, 165],
        1,
        [
            *[31, 139, 8, 0, 0, 9, 110, 136, 0, 255],  # gzip header (mtime set, OS 255)
            *[0, 21, 0, 234, 255],  # deflate stored block of 21 bytes
            *_SARAMA_RECORD,
            *[3, 0],  # empty final block
            *[173, 201, 88, 103, 21, 0, 0, 0],  # CRC-32, ISIZE 21
        ],
    ),
    Compression.SNAPPY: _sarama(72, [21, 0, 159, 97], 2, [21, 80, *_SARAMA_RECORD]),
    Compression.LZ4: _sarama(
        89,
        [169, 74, 119, 197],
        3,
        [4, 34, 77, 24, 100, 112, 185, 21, 0, 0, 128, *_SARAMA_RECORD, 0, 0, 0, 0, 12, 59, 239, 146],
    ),
}


@pytest.mark.req("REC-10", "REC-17", "REC-18", "REC-19")
@pytest.mark.parametrize("codec", list(SARAMA_VECTORS))
def test_sarama_vectors_decode(codec: Compression) -> None:
    batch = decode_batch(SARAMA_VECTORS[codec])
    assert batch.header.compression is codec
    assert batch.header.base_timestamp == 1_479_847_795_000
    assert batch.records == (
        Record(
            b"\x01\x02\x03\x04",
            b"\x05\x06\x07",
            (Header("\x08\x09\x0a", b"\x0b\x0c"),),
            timestamp=1_479_847_795_005,
            offset=0,
        ),
    )


@pytest.mark.req("REC-1", "REC-2", "REC-10")
def test_sarama_empty_and_control_batches() -> None:
    def empty(crc: list[int], attributes: int) -> bytes:
        return (
            bytes(8)
            + bytes([0, 0, 0, 49])
            + bytes(4)
            + b"\x02"
            + bytes(crc)
            + bytes([0, attributes])
            + bytes(40)
        )

    plain = decode_batch(empty([89, 95, 183, 221], 0))
    assert plain.records == ()
    assert plain.header.size == 61
    assert not plain.header.is_control
    control = decode_batch(empty([81, 46, 67, 217], 32))
    assert control.header.is_control
    assert control.records == ()


# -- header fields -------------------------------------------------------------------------------


@pytest.mark.req("REC-1", "REC-2")
def test_header_fields_and_properties() -> None:
    raw = build_batch(
        sample_records(2),
        base_offset=100,
        partition_leader_epoch=9,
        compression=Compression.ZSTD,
        timestamp=5_000,
        timestamp_type=TimestampType.LOG_APPEND_TIME,
        producer_id=77,
        producer_epoch=2,
        base_sequence=10,
        is_transactional=True,
    )
    assert (BATCH_HEADER_SIZE, LOG_OVERHEAD) == (61, 12)
    fields = HEADER_STRUCT.unpack_from(raw)
    header = parse_header(raw)
    assert header == BatchHeader(*fields)
    assert header.batch_length == len(raw) - LOG_OVERHEAD
    assert header.size == len(raw)
    assert header.magic == 2
    assert header.attributes == 4 | 8 | 16
    assert header.compression is Compression.ZSTD
    assert header.timestamp_type is TimestampType.LOG_APPEND_TIME
    assert header.is_transactional
    assert not header.is_control
    assert header.delete_horizon_ms is None
    assert header.last_offset_delta == 1
    assert header.last_offset == 101
    assert header.next_offset == 102
    assert header.records_count == 2
    assert (header.producer_id, header.producer_epoch, header.base_sequence) == (77, 2, 10)
    assert header.max_timestamp == 5_000


@pytest.mark.req("REC-2")
@pytest.mark.parametrize(
    ("attributes", "ok"),
    [
        (0x00, True),
        (0x04, True),
        (0x05, False),  # codec 5
        (0x06, False),
        (0x07, False),
        (0x20, True),  # control
        (0x40, True),  # delete horizon
        (0x7F & ~0x03, True),  # every defined bit with codec 4
        (0x80, False),  # bit 7
        (0x0100, False),
        (-0x8000, False),  # bit 15
    ],
)
def test_attribute_bits(attributes: int, ok: bool) -> None:
    raw = forge_batch(b"", records_count=0, attributes=attributes, base_timestamp=1234)
    if ok:
        header = parse_header(raw)
        assert header.is_control == bool(attributes & 0x20)
        assert header.delete_horizon_ms == (1234 if attributes & 0x40 else None)
    else:
        with pytest.raises(CorruptRecordError):
            parse_header(raw)


# -- varints -------------------------------------------------------------------------------------


@pytest.mark.req("REC-4")
@given(st.integers(-(2**31), 2**31 - 1))
def test_varint_round_trip(value: int) -> None:
    encoded = varint(value)
    assert len(encoded) <= 5
    assert read_varint(memoryview(encoded), 0, len(encoded)) == (value, len(encoded))


@pytest.mark.req("REC-4")
@given(st.integers(-(2**63), 2**63 - 1))
def test_varlong_round_trip(value: int) -> None:
    encoded = varint(value)
    assert len(encoded) <= 10
    assert read_varlong(memoryview(encoded), 0, len(encoded)) == (value, len(encoded))


@pytest.mark.req("REC-4")
@pytest.mark.parametrize(
    ("encoded", "reader"),
    [
        (b"\x80\x00", read_varint),  # 0 with a redundant group
        (b"\xff\xff\xff\xff\x1f", read_varint),  # 35 bits
        (b"\x80\x80\x80\x80\x80\x01", read_varint),  # 6 bytes
        (b"\x80", read_varint),  # truncated
        (b"", read_varint),
        (b"\xff" * 9 + b"\x02", read_varlong),  # 65 bits
        (b"\x80" * 10 + b"\x01", read_varlong),  # 11 bytes
        (b"\x81\x80\x00", read_varlong),
    ],
)
def test_non_canonical_varints_are_corrupt(encoded: bytes, reader: object) -> None:
    assert callable(reader)
    with pytest.raises(CorruptRecordError):
        reader(memoryview(encoded), 0, len(encoded))


@pytest.mark.req("REC-4")
def test_varint_limits_are_accepted() -> None:
    for value in (-(2**31), 2**31 - 1, 0, -1, 63, -64, 64):
        encoded = varint(value)
        assert read_varint(memoryview(encoded), 0, len(encoded))[0] == value
    for value in (-(2**63), 2**63 - 1):
        encoded = varint(value)
        assert len(encoded) == 10
        assert read_varlong(memoryview(encoded), 0, len(encoded))[0] == value


# -- CRC ----------------------------------------------------------------------------------------


@pytest.mark.req("REC-11")
@given(st.binary(max_size=300))
def test_crc32c_helper_matches_bitwise_reference(data: bytes) -> None:
    assert crc32c(data) == crc32c_bitwise(data)
    assert crc32c(memoryview(data)) == crc32c(bytearray(data))


@pytest.mark.req("REC-11")
def test_crc32c_check_value_and_coverage() -> None:
    assert crc32c(b"123456789") == 0xE3069283
    raw = build_batch(
        sample_records(3), compression=Compression.GZIP, base_offset=3, partition_leader_epoch=4
    )
    (stored,) = struct.unpack_from(">I", raw, 17)
    assert stored == crc32c(raw[21:]) == crc32c_bitwise(raw[21:])


# -- building ------------------------------------------------------------------------------------


@pytest.mark.req("REC-5", "REC-8")
@given(
    st.lists(record_strategy, min_size=1, max_size=12),
    timestamps,
    st.sampled_from(list(TimestampType)),
)
def test_build_timestamps_and_offset_deltas(
    records: list[Record], default: int, ts_type: TimestampType
) -> None:
    raw = build_batch(records, timestamp=default, timestamp_type=ts_type, base_offset=10)
    header = parse_header(raw)
    resolved = [default if r.timestamp is None else r.timestamp for r in records]
    assert header.base_timestamp == resolved[0]
    assert header.records_count == len(records)
    assert header.last_offset_delta == len(records) - 1
    if ts_type is TimestampType.CREATE_TIME:
        assert header.max_timestamp == max(resolved)
    else:
        assert header.max_timestamp == default
    decoded = decode_batch(raw)
    assert [r.offset for r in decoded.records] == list(range(10, 10 + len(records)))
    expected_ts = resolved if ts_type is TimestampType.CREATE_TIME else [default] * len(records)
    assert [r.timestamp for r in decoded.records] == expected_ts


@pytest.mark.req("REC-6")
@pytest.mark.parametrize("codec", list(Compression))
@pytest.mark.parametrize("ts_type", list(TimestampType))
def test_empty_batch(codec: Compression, ts_type: TimestampType) -> None:
    raw = build_batch([], compression=codec, timestamp=42, timestamp_type=ts_type, base_offset=8)
    assert len(raw) == BATCH_HEADER_SIZE
    header = parse_header(raw)
    assert header.compression is Compression.NONE
    assert header.timestamp_type is ts_type
    assert (header.records_count, header.last_offset_delta) == (0, 0)
    assert (header.base_timestamp, header.max_timestamp) == (-1, 42)
    assert decode_batch(raw).records == ()


@pytest.mark.req("REC-7")
@pytest.mark.parametrize(
    ("records", "options"),
    [
        ([], {"base_offset": 2**63}),
        ([], {"partition_leader_epoch": 2**31}),
        ([], {"producer_epoch": 2**15}),
        ([], {"producer_epoch": -(2**15) - 1}),
        ([], {"base_sequence": -(2**31) - 1}),
        ([], {"producer_id": 2**63}),
        ([], {"timestamp": 2**63}),
        ([], {"compression": 5}),
        ([], {"timestamp_type": 2}),
        ([], {"base_offset": True}),
        ([], {"is_transactional": 1}),
        ([Record(b"k", b"v")] * 2, {"base_offset": 2**63 - 1}),
        ([Record(b"k", b"v", timestamp=-(2**63)), Record(b"k", b"v", timestamp=2**63 - 1)], {}),
        ([Record(b"k", b"v", timestamp=2**63)], {}),
        ([Record("k", b"v")], {}),  # type: ignore[arg-type]
        ([Record(b"k", 5)], {}),  # type: ignore[arg-type]
        ([Record(b"k", b"v", (Header(b"x", b"y"),))], {}),  # type: ignore[arg-type]
        ([Record(b"k", b"v", (Header("x", "y"),))], {}),  # type: ignore[arg-type]
        ([Record(b"k", b"v", (Header("\udc80", None),))], {}),
        ([Record(b"k", b"v", (("x", b"y"),))], {}),  # type: ignore[arg-type]
        ([(b"k", b"v")], {}),
    ],
)
def test_build_refuses_unrepresentable_values(records: list[Record], options: dict[str, object]) -> None:
    with pytest.raises(ReflogUsageError):
        build_batch(records, **options)  # type: ignore[arg-type]


@pytest.mark.req("REC-7")
def test_build_accepts_extreme_representable_values() -> None:
    raw = build_batch(
        [Record(b"k", b"v", timestamp=2**63 - 1), Record(b"k", b"v", timestamp=0)],
        base_offset=2**63 - 2,
        partition_leader_epoch=-(2**31),
        producer_id=-(2**63),
        producer_epoch=2**15 - 1,
        base_sequence=2**31 - 1,
    )
    header = parse_header(raw)
    assert header.last_offset == 2**63 - 1
    assert [r.timestamp for r in decode_batch(raw).records] == [2**63 - 1, 0]


# -- header checks and CRC verification ----------------------------------------------------------


@pytest.mark.req("REC-12")
@pytest.mark.parametrize(
    ("raw", "why"),
    [
        (forge_batch(b"", records_count=0)[:60], "truncated header"),
        (forge_batch(b"", records_count=0, magic=1), "magic 1"),
        (forge_batch(b"", records_count=0, magic=3), "magic 3"),
        (forge_batch(b"", records_count=0, batch_length=48), "batch length below 49"),
        (forge_batch(b"", records_count=0, last_offset_delta=-1), "negative last offset delta"),
        (forge_batch(b"", records_count=-1, last_offset_delta=0), "negative count"),
        (forge_batch(raw_record() * 3, records_count=3, last_offset_delta=1), "count above offsets"),
        (
            forge_batch(b"", records_count=0, base_offset=2**63 - 1, last_offset_delta=1),
            "last offset overflow",
        ),
        (forge_batch(b"\x00" * 13, records_count=2), "too short for 2 records"),
    ],
)
def test_parse_header_refuses(raw: bytes, why: str) -> None:
    with pytest.raises(CorruptRecordError):
        parse_header(raw)


@pytest.mark.req("REC-12")
def test_parse_header_needs_only_the_header_and_ignores_the_crc() -> None:
    raw = build_batch(sample_records(3), compression=Compression.SNAPPY)
    truncated = raw[:BATCH_HEADER_SIZE]
    assert parse_header(truncated) == parse_header(raw)
    bad_crc = bytearray(raw)
    bad_crc[17] ^= 0xFF
    assert parse_header(bytes(bad_crc)).crc != parse_header(raw).crc
    # And at an offset inside a larger buffer.
    assert parse_header(b"xyz" + raw, 3) == parse_header(raw)
    with pytest.raises(ReflogUsageError):
        parse_header(raw, -1)


@pytest.mark.req("REC-13")
def test_verify_crc() -> None:
    raw = build_batch(sample_records(3), compression=Compression.LZ4)
    assert verify_crc(raw) == parse_header(raw)
    # Bytes after the batch are not part of it.
    assert verify_crc(raw + b"garbage") == parse_header(raw)
    assert verify_crc(b"\x00" * 5 + raw + raw, 5 + len(raw)) == parse_header(raw)
    with pytest.raises(CorruptRecordError, match="truncated"):
        verify_crc(raw[:-1])
    damaged = bytearray(raw)
    damaged[-1] ^= 1
    with pytest.raises(CorruptRecordError, match="CRC"):
        verify_crc(bytes(damaged))
    wrong_crc = bytearray(raw)
    wrong_crc[20] ^= 0x80
    with pytest.raises(CorruptRecordError, match="CRC"):
        verify_crc(bytes(wrong_crc))


@pytest.mark.req("REC-14")
@given(st.integers(-(2**62), 2**62), st.integers(-(2**31), 2**31 - 1), st.sampled_from(list(Compression)))
def test_patching_offset_and_epoch_keeps_crc(base_offset: int, epoch: int, codec: Compression) -> None:
    raw = build_batch(sample_records(3), compression=codec, base_offset=1, partition_leader_epoch=2)
    moved = with_base_offset(raw, base_offset)
    assert moved[8:] == raw[8:]
    assert parse_header(moved).base_offset == base_offset
    restamped = with_partition_leader_epoch(moved, epoch)
    assert restamped[:12] == moved[:12]
    assert restamped[16:] == moved[16:]
    decoded = decode_batch(restamped)
    assert decoded.header.partition_leader_epoch == epoch
    assert decoded.header.crc == parse_header(raw).crc
    assert [r.offset for r in decoded.records] == [base_offset, base_offset + 1, base_offset + 2]
    original = decode_batch(raw).records
    assert [(r.key, r.value, r.headers, r.timestamp) for r in decoded.records] == [
        (r.key, r.value, r.headers, r.timestamp) for r in original
    ]


@pytest.mark.req("REC-14")
def test_patching_refuses_bad_input() -> None:
    raw = build_batch(sample_records(2))
    with pytest.raises(ReflogUsageError):
        with_base_offset(raw, 2**63 - 1)  # the last offset would overflow
    with pytest.raises(ReflogUsageError):
        with_partition_leader_epoch(raw, 2**31)
    with pytest.raises(CorruptRecordError):
        with_base_offset(raw[:20], 0)
    with pytest.raises(CorruptRecordError):
        with_partition_leader_epoch(b"\x00" * 61, 0)
