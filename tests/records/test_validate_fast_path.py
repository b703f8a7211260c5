"""The leader's fast record walk: it accepts every valid batch and nothing ``decode_batch`` refuses (REC-30).

``validate_batch`` first walks the records with varints decoded inline (``_records_valid``); only
when that walk cannot prove the batch valid does it run the exact walk, which raises the precise
error. Two properties keep that sound and fast: the fast walk never says "valid" for a batch the
exact walk refuses (whatever the damage), and it says "valid" for every well-formed batch (so a
valid batch is walked once), including fields whose varints take three or more bytes.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reflog.errors import CorruptRecordError
from reflog.records import (
    BATCH_HEADER_SIZE,
    DEFAULT_MAX_UNCOMPRESSED_BYTES,
    Compression,
    Header,
    Record,
    build_batch,
    decode_batch,
    validate_batch,
    verify_crc,
)
from reflog.records._decode import _records_section, _records_valid
from tests.records._helpers import batch_options, forge_batch, raw_record, record_lists

_sizes = st.sampled_from([0, 1, 63, 64, 100, 1024, 8191, 8192, 20_000])

wide_records = st.lists(
    st.builds(
        Record,
        key=st.none() | _sizes.map(lambda n: b"k" * n),
        value=st.none() | _sizes.map(lambda n: b"v" * n),
        headers=st.lists(
            st.builds(Header, st.text(max_size=70), st.none() | st.binary(max_size=70)), max_size=2
        ).map(tuple),
        timestamp=st.none() | st.integers(-(2**40), 2**40),
    ),
    min_size=1,
    max_size=8,
)


def _fast(batch: bytes) -> bool:
    """The fast walk's verdict on ``batch``; raises for a header or compressed stream refused first."""
    header = verify_crc(batch)
    return _records_valid(_records_section(batch, 0, header, DEFAULT_MAX_UNCOMPRESSED_BYTES), header)


def _decodes(batch: bytes) -> bool:
    try:
        decode_batch(batch)
    except CorruptRecordError:
        return False
    return True


@pytest.mark.req("REC-30")
@given(st.one_of(record_lists.filter(bool), wide_records), batch_options)
def test_the_fast_walk_accepts_every_valid_batch(records: list[Record], options: dict[str, object]) -> None:
    batch = build_batch(records, **options)  # type: ignore[arg-type]
    assert _fast(batch)


@pytest.mark.req("REC-30")
@given(wide_records, st.sampled_from([Compression.NONE, Compression.LZ4]), st.data())
def test_the_fast_walk_never_accepts_what_decode_batch_refuses(
    records: list[Record], codec: Compression, data: st.DataObject
) -> None:
    batch = build_batch(records, compression=codec)
    header = decode_batch(batch).header
    section = bytearray(batch[BATCH_HEADER_SIZE:])
    if codec is Compression.NONE:  # damage the records themselves (compressed: the stream)
        for _ in range(data.draw(st.integers(1, 4))):
            at = data.draw(st.integers(0, len(section) - 1))
            section[at] = data.draw(st.integers(0, 255))
    if data.draw(st.booleans()):
        section = section[: data.draw(st.integers(0, len(section)))]
    forged = forge_batch(
        bytes(section),
        records_count=data.draw(st.sampled_from([header.records_count, header.records_count + 1])),
        last_offset_delta=header.last_offset_delta,
        attributes=header.attributes,
        base_timestamp=data.draw(st.sampled_from([header.base_timestamp, 2**63 - 1, -(2**63)])),
        max_timestamp=header.max_timestamp,
    )
    try:
        fast = _fast(forged)
    except CorruptRecordError:  # the header or the compressed stream is refused before any walk
        return
    if fast:
        assert _decodes(forged)


#: Two records where the first declares one byte more than its fields use, and that byte, read
#: as a length, would make the rest parse as a second record: only "a record ends exactly where
#: its length says" refuses it.
_MISALIGNED = (
    b"\x0e"
    + b"\x00\x00\x00\x01\x01\x00"
    + b"\x0c"  # length 7: six field bytes, then 0x0c
    + b"\x00"
    + b"\x00\x02\x01\x01\x00"  # an empty record; or, from 0x0c, a valid second one
)


@pytest.mark.req("REC-30")
@pytest.mark.parametrize(
    ("section", "count"),
    [
        (raw_record(length_adjust=1), 1),  # declares a byte more than its fields use
        (raw_record(length_adjust=-1), 1),  # declares a byte less
        (raw_record(attributes=1), 1),
        (raw_record(offset_delta=1), 1),  # above last_offset_delta 0
        (raw_record(raw_key_length=b"\x03"), 1),  # key length -2
        (raw_record(raw_key_length=b"\x81\x00"), 1),  # -1, not minimally encoded
        (raw_record(key=b"k" * 100, raw_key_length=b"\xc8\x00"), 1),  # 100, not minimal
        (raw_record(headers=[(b"\xff", b"v")]), 1),  # a header key that is not UTF-8
        (raw_record(value=b"v" * 70)[:-1], 1),  # truncated: the value runs past the section
        (_MISALIGNED, 2),
    ],
)
def test_hand_made_bad_records_are_refused_with_decode_batchs_error(section: bytes, count: int) -> None:
    batch = forge_batch(section, records_count=count)
    with pytest.raises(CorruptRecordError) as by_decode:
        decode_batch(batch)
    with pytest.raises(CorruptRecordError) as by_validate:
        validate_batch(batch)
    assert str(by_validate.value) == str(by_decode.value)
