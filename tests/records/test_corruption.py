"""Malformed input: strict decoding rules, fuzzing, mutations and single-bit damage."""

from __future__ import annotations

import struct

import cramjam
import pytest
from hypothesis import given
from hypothesis import strategies as st

from reflog.errors import CorruptRecordError
from reflog.records import (
    BATCH_HEADER_SIZE,
    Compression,
    Header,
    Record,
    RecordBatch,
    TimestampType,
    build_batch,
    crc32c,
    decode_batch,
    parse_header,
    verify_crc,
)
from reflog.records._compression import compress as compress_section
from tests.records._helpers import (
    BASE_OFFSET,
    BATCH_LENGTH,
    CRC,
    CRC_COVERED_FROM,
    LEADER_EPOCH,
    MAGIC,
    forge_batch,
    raw_record,
    record_lists,
    sample_records,
    varint,
)

LIMIT = 1 << 20


def decode_or_none(raw: bytes, pos: int = 0) -> RecordBatch | None:
    """Decode, mapping CorruptRecordError to None; any other exception fails the test.

    Also checks that the three entry points agree: a batch decode_batch accepts passes
    verify_crc and parse_header, and one parse_header refuses, decode_batch refuses.
    """
    try:
        header = parse_header(raw, pos)
    except CorruptRecordError:
        header = None
    try:
        checked = verify_crc(raw, pos)
    except CorruptRecordError:
        checked = None
    try:
        batch = decode_batch(raw, pos, max_uncompressed_bytes=LIMIT)
    except CorruptRecordError:
        batch = None
    if header is None:
        assert checked is None
    if checked is None:
        assert batch is None
    else:
        assert checked == header
    if batch is not None:
        assert batch.header == header
        assert len(batch.records) == batch.header.records_count
    return batch


def _framed(body: bytes) -> bytes:
    """A record from its body (attributes onwards): prefix the length varint."""
    return varint(len(body)) + body


# -- strict structural checks --------------------------------------------------------------------


@pytest.mark.req("REC-15")
def test_compacted_batches_with_gaps_are_accepted() -> None:
    # As Kafka's log cleaner leaves them: deltas 0, 2, 5 kept of 0..7, lastOffsetDelta still 7.
    section = raw_record(offset_delta=0) + raw_record(offset_delta=2, key=None) + raw_record(offset_delta=5)
    batch = decode_batch(forge_batch(section, records_count=3, last_offset_delta=7, base_offset=100))
    assert [r.offset for r in batch.records] == [100, 102, 105]
    assert batch.header.next_offset == 108
    # Every record removed: an empty batch that keeps its offset range.
    empty = decode_batch(forge_batch(b"", records_count=0, last_offset_delta=4, base_offset=100))
    assert empty.records == ()
    assert empty.header.next_offset == 105


@pytest.mark.req("REC-15")
@pytest.mark.parametrize(
    ("section", "count", "last_offset_delta", "why"),
    [
        (raw_record(), 2, 1, "fewer records than declared"),
        (raw_record() + raw_record(offset_delta=1), 1, 1, "more records than declared"),
        (raw_record(length_adjust=1), 1, 0, "record length too long"),
        (raw_record(length_adjust=-1), 1, 0, "record length too short"),
        (raw_record(length_adjust=-100) + b"\x00" * 10, 1, 0, "negative record length"),
        (raw_record(offset_delta=0) + raw_record(offset_delta=0), 2, 1, "repeated offset delta"),
        (raw_record(offset_delta=1) + raw_record(offset_delta=0), 2, 1, "decreasing offset delta"),
        (raw_record(offset_delta=2), 1, 1, "offset delta beyond lastOffsetDelta"),
        (raw_record(offset_delta=-1), 1, 0, "negative offset delta"),
        (raw_record(raw_key_length=varint(5), key=b"abc"), 1, 0, "key length disagrees with the key"),
        (
            _framed(b"\x00\x00\x00" + varint(-1) + varint(-1) + varint(1) + varint(10) + b"h" + varint(-1)),
            1,
            0,
            "header key runs past the record",
        ),
        (
            varint(7) + b"\x00\x00\x00\x01\x00" + varint(-1) + b"\x00",
            1,
            0,
            "negative header count",
        ),
        (varint(0), 1, 0, "empty record"),
        (raw_record() + b"\x00", 1, 0, "a byte after the last record"),
    ],
)
def test_malformed_records_are_corrupt(section: bytes, count: int, last_offset_delta: int, why: str) -> None:
    with pytest.raises(CorruptRecordError):
        decode_batch(forge_batch(section, records_count=count, last_offset_delta=last_offset_delta))


@pytest.mark.req("REC-15")
def test_header_key_length_must_not_be_negative() -> None:
    body = b"\x00\x00\x00" + varint(-1) + varint(-1) + varint(1) + varint(-1) + varint(-1)
    with pytest.raises(CorruptRecordError):
        decode_batch(forge_batch(varint(len(body)) + body, records_count=1))


@pytest.mark.req("REC-15")
def test_timestamps_must_fit_int64() -> None:
    near_max = 2**63 - 10
    ok = forge_batch(raw_record(timestamp_delta=9), records_count=1, base_timestamp=near_max)
    assert decode_batch(ok).records[0].timestamp == 2**63 - 1
    over = forge_batch(raw_record(timestamp_delta=10), records_count=1, base_timestamp=near_max)
    with pytest.raises(CorruptRecordError):
        decode_batch(over)
    under = forge_batch(raw_record(timestamp_delta=-1), records_count=1, base_timestamp=-(2**63))
    with pytest.raises(CorruptRecordError):
        decode_batch(under)


def _xerial(section: bytes) -> bytes:
    block = bytes(cramjam.snappy.compress_raw(section))
    return b"\x82SNAPPY\x00" + bytes([0, 0, 0, 1, 0, 0, 0, 1]) + len(block).to_bytes(4, "big") + block


_LZ4_FRAME = build_batch([Record(b"k", b"v")], compression=Compression.LZ4)[BATCH_HEADER_SIZE:]

# Inputs Kafka's Java reader tolerates and reflog refuses (specs/records.md, "Deviations").
STRICTER_THAN_KAFKA = {
    "magic 1 (legacy format)": forge_batch(b"", records_count=0, magic=1),
    "key length -2": forge_batch(raw_record(key=None, raw_key_length=varint(-2)), records_count=1),
    "value length -5": forge_batch(
        _framed(b"\x00\x00\x00" + varint(-1) + varint(-5) + b"\x00"), records_count=1
    ),
    "header value length -3": forge_batch(
        _framed(b"\x00\x00\x00" + varint(-1) + varint(-1) + varint(1) + varint(1) + b"h" + varint(-3)),
        records_count=1,
    ),
    "non-minimal varint": forge_batch(
        _framed(b"\x00\x00\x80\x00" + varint(-1) + varint(-1) + varint(0)), records_count=1
    ),
    "5-byte varint with bits beyond 32": forge_batch(
        raw_record(key=b"abc", raw_key_length=b"\x86\x80\x80\x80\x10"), records_count=1
    ),
    "header key not UTF-8": forge_batch(raw_record(headers=[(b"\xff\xfe", b"v")]), records_count=1),
    "record attributes 1": forge_batch(raw_record(attributes=1), records_count=1),
    "batch attribute bit 7": forge_batch(b"", records_count=0, attributes=0x80),
    "bytes after records with recordsCount 0": forge_batch(raw_record(), records_count=0),
    "bytes after a gzip stream": forge_batch(
        bytes(cramjam.gzip.compress(raw_record())) + b"junk", records_count=1, attributes=1
    ),
    "a second lz4 frame": forge_batch(
        _LZ4_FRAME + _LZ4_FRAME,
        records_count=1,
        attributes=3,
    ),
    "repeated offset delta": forge_batch(raw_record() + raw_record(), records_count=2),
    "offset delta beyond lastOffsetDelta": forge_batch(raw_record(offset_delta=3), records_count=1),
    "cut xerial block length": forge_batch(
        _xerial(raw_record()) + b"\x00\x00", records_count=1, attributes=2
    ),
}


@pytest.mark.req("REC-29", "REC-2", "REC-3", "REC-4", "REC-15", "REC-23")
@pytest.mark.parametrize("name", list(STRICTER_THAN_KAFKA))
def test_stricter_than_kafka(name: str) -> None:
    raw = STRICTER_THAN_KAFKA[name]
    with pytest.raises(CorruptRecordError):
        decode_batch(raw)


@pytest.mark.req("REC-29")
def test_stricter_cases_are_otherwise_well_formed() -> None:
    # Each case differs from an accepted batch only in the one aspect it names.
    assert decode_batch(forge_batch(raw_record(key=None, raw_key_length=varint(-1)), records_count=1))
    assert decode_batch(forge_batch(raw_record(headers=[(b"ok", b"v")]), records_count=1))
    assert decode_batch(forge_batch(raw_record(key=b"abc", raw_key_length=b"\x06"), records_count=1))
    assert decode_batch(forge_batch(_xerial(raw_record()), records_count=1, attributes=2))
    gz = bytes(cramjam.gzip.compress(raw_record()))
    assert decode_batch(forge_batch(gz, records_count=1, attributes=1))


# -- fuzzing -------------------------------------------------------------------------------------


@pytest.mark.req("REC-16")
@given(st.binary(max_size=400), st.integers(0, 3))
def test_any_bytes_decode_or_raise_corrupt(data: bytes, pos: int) -> None:
    decode_or_none(data, min(pos, len(data)))


_ATTRIBUTES = st.one_of(
    st.sampled_from([0, 1, 2, 3, 4, 8, 0x10, 0x20, 0x40, 0x0B, 0x19]),
    st.integers(-(2**15), 2**15 - 1),
)


@pytest.mark.req("REC-16")
@given(
    section=st.binary(max_size=300),
    count=st.integers(-1, 8),
    last_offset_delta=st.integers(-1, 10),
    attributes=_ATTRIBUTES,
    base_timestamp=st.integers(-(2**63), 2**63 - 1),
)
def test_forged_headers_with_valid_crc(
    section: bytes, count: int, last_offset_delta: int, attributes: int, base_timestamp: int
) -> None:
    # A correct CRC gets random records sections past verify_crc into the record decoder.
    raw = forge_batch(
        section,
        records_count=count,
        last_offset_delta=last_offset_delta,
        attributes=attributes,
        base_timestamp=base_timestamp,
    )
    decode_or_none(raw)


def _mutate(data: bytes, edits: list[tuple[int, int, int]]) -> bytes:
    out = bytearray(data)
    for kind, where, value in edits:
        if not out:
            out.append(value)
            continue
        i = where % len(out)
        if kind == 0:
            out[i] = value
        elif kind == 1:
            out.insert(i, value)
        elif kind == 2:
            del out[i]
        else:
            del out[i:]
    return bytes(out)


_EDITS = st.lists(
    st.tuples(st.integers(0, 3), st.integers(0, 2**16), st.integers(0, 255)), min_size=1, max_size=4
)


@pytest.mark.req("REC-16")
@given(
    records=record_lists,
    codec=st.sampled_from(list(Compression)),
    edits=_EDITS,
    count_shift=st.integers(-1, 1),
)
def test_mutated_records_sections_with_valid_crc(
    records: list[Record], codec: Compression, edits: list[tuple[int, int, int]], count_shift: int
) -> None:
    # Mutate the uncompressed records, then (re)compress and re-checksum: exercises record
    # parsing behind every codec, and the codecs on garbage that is a valid stream.
    plain = build_batch(records)[BATCH_HEADER_SIZE:]
    mutated = _mutate(plain, edits)
    section = mutated if codec is Compression.NONE else compress_section(codec, mutated)
    count = max(0, len(records) + count_shift)
    raw = forge_batch(
        section, records_count=count, last_offset_delta=max(count - 1, 0) + 2, attributes=int(codec)
    )
    decode_or_none(raw)


@pytest.mark.req("REC-16")
@given(records=record_lists, codec=st.sampled_from(list(Compression)), edits=_EDITS)
def test_mutated_batches(
    records: list[Record], codec: Compression, edits: list[tuple[int, int, int]]
) -> None:
    raw = build_batch(records, compression=codec, timestamp=5)
    mutated = _mutate(raw, edits)
    batch = decode_or_none(mutated)
    if batch is not None and mutated[16:] == raw[16:]:
        # Only baseOffset / partitionLeaderEpoch / batchLength were touched.
        assert [(r.key, r.value) for r in batch.records] == [(r.key, r.value) for r in records]


@pytest.mark.req("REC-16")
@pytest.mark.parametrize("codec", list(Compression))
def test_every_truncation_is_corrupt(codec: Compression) -> None:
    raw = build_batch(sample_records(3), compression=codec)
    for end in range(len(raw)):
        assert decode_or_none(raw[:end]) is None
    assert decode_or_none(raw) is not None


@pytest.mark.req("REC-16", "REC-23")
@given(
    section=st.binary(max_size=200),
    codec=st.sampled_from([c for c in Compression if c is not Compression.NONE]),
)
def test_random_compressed_sections(section: bytes, codec: Compression) -> None:
    decode_or_none(forge_batch(section, records_count=1, attributes=int(codec)))
    # And prefixed with each codec's magic, to get past the first check.
    magic = {
        Compression.GZIP: b"\x1f\x8b\x08\x00",
        Compression.SNAPPY: b"\x82SNAPPY\x00\x00\x00\x00\x01\x00\x00\x00\x01",
        Compression.LZ4: bytes.fromhex("04224d18604082"),
        Compression.ZSTD: b"\x28\xb5\x2f\xfd",
    }[codec]
    decode_or_none(forge_batch(magic + section, records_count=1, attributes=int(codec)))


# -- single-bit damage ---------------------------------------------------------------------------


def _bit_flip_batches(codec: Compression) -> list[bytes]:
    return [
        build_batch(
            sample_records(3),
            compression=codec,
            base_offset=1234,
            partition_leader_epoch=5,
            producer_id=9,
            producer_epoch=1,
            base_sequence=3,
        ),
        build_batch(
            [Record(b"x", b"y" * 50, (Header("k", None),))],
            compression=codec,
            timestamp=1_700_000_000_000,
            timestamp_type=TimestampType.LOG_APPEND_TIME,
        ),
    ]


def _flip(raw: bytes, bit: int) -> bytes:
    out = bytearray(raw)
    out[bit // 8] ^= 1 << (bit % 8)
    return bytes(out)


@pytest.mark.req("REC-24", "REC-25", "REC-26")
@pytest.mark.parametrize("codec", list(Compression))
def test_every_single_bit_flip(codec: Compression) -> None:
    for raw in _bit_flip_batches(codec):
        header = parse_header(raw)
        original = decode_batch(raw)
        follower = build_batch([Record(b"next", b"batch")], base_offset=header.next_offset)
        for bit in range(len(raw) * 8):
            flipped = _flip(raw, bit)
            byte = bit // 8
            if byte in BASE_OFFSET or byte in LEADER_EPOCH:
                # REC-26: outside the CRC; the batch still decodes, only that field changed.
                batch = decode_batch(flipped)
                assert batch.header != original.header
                assert (batch.header.crc, batch.header.records_count) == (header.crc, header.records_count)
                if byte in BASE_OFFSET:
                    shift = batch.header.base_offset - header.base_offset
                    assert shift != 0
                    assert [r.offset for r in batch.records] == [
                        r.offset + shift for r in original.records if r.offset is not None
                    ]
                else:
                    assert batch.records == original.records
                continue
            with pytest.raises(CorruptRecordError):
                verify_crc(flipped)
            with pytest.raises(CorruptRecordError):
                decode_batch(flipped)
            if byte >= CRC_COVERED_FROM:
                # REC-24: the CRC alone catches it, whatever the structural checks say.
                assert crc32c(flipped[CRC_COVERED_FROM:]) != header.crc
            elif byte in CRC:
                parse_header(flipped)  # structurally fine: only the checksum catches it
                assert struct.unpack_from(">I", flipped, 17)[0] != crc32c(flipped[CRC_COVERED_FROM:])
            elif byte in MAGIC:
                with pytest.raises(CorruptRecordError, match="magic"):
                    parse_header(flipped)
            else:
                assert byte in BATCH_LENGTH
                # REC-25: also when more bytes (the next batch of a log) follow.
                with pytest.raises(CorruptRecordError):
                    verify_crc(flipped + follower)
