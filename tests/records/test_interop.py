"""Cross-checks against kafka-python 3.0.12, an independent implementation of the same format."""

from __future__ import annotations

import warnings
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reflog.records import Compression, Header, Record, build_batch, decode_batch
from tests.records._helpers import batch_options, headers, record_lists, timestamps

with warnings.catch_warnings():
    # kafka-python's package import uses deprecated importlib.resources APIs.
    warnings.simplefilter("ignore", DeprecationWarning)
    from kafka.record.default_records import (  # type: ignore[import-untyped]
        DefaultRecordBatch,
        DefaultRecordBatchBuilder,
    )

_payloads = st.one_of(
    st.none(),
    st.binary(max_size=30),
    st.tuples(st.binary(min_size=1, max_size=5), st.integers(20, 300)).map(lambda t: t[0] * t[1]),
)

# kafka-python needs an explicit timestamp for every record.
_kp_records = st.lists(
    st.builds(
        Record,
        key=_payloads,
        value=_payloads,
        headers=st.lists(headers, max_size=3).map(tuple),
        timestamp=timestamps,
    ),
    min_size=1,
    max_size=10,
)

_producer = st.fixed_dictionaries(
    {
        "is_transactional": st.booleans(),
        "producer_id": st.integers(-1, 2**63 - 1),
        "producer_epoch": st.integers(-1, 2**15 - 1),
        "base_sequence": st.integers(-1, 2**31 - 1),
    }
)


def _kafka_python_build(codec: Compression, records: list[Record], producer: dict[str, Any]) -> bytes:
    builder = DefaultRecordBatchBuilder(magic=2, compression_type=int(codec), batch_size=2**30, **producer)
    for delta, record in enumerate(records):
        meta = builder.append(
            delta,
            timestamp=record.timestamp,
            key=record.key,
            value=record.value,
            headers=[(h.key, h.value) for h in record.headers],
        )
        assert meta is not None
    return bytes(builder.build())


def _kafka_python_read(raw: bytes) -> tuple[DefaultRecordBatch, list[Any]]:
    theirs = DefaultRecordBatch(raw)
    assert theirs.validate_crc()
    return theirs, list(theirs)


def _assert_same(raw: bytes) -> None:
    """reflog and kafka-python read the same header fields and records from ``raw``."""
    theirs, their_records = _kafka_python_read(raw)
    ours = decode_batch(raw)
    h = ours.header
    assert (h.base_offset, h.partition_leader_epoch, h.magic, h.crc, h.attributes) == (
        theirs.base_offset,
        theirs.leader_epoch,
        theirs.magic,
        theirs.crc,
        theirs.attributes,
    )
    assert h.size == theirs.size_in_bytes
    assert (h.last_offset_delta, h.last_offset, h.next_offset) == (
        theirs.last_offset_delta,
        theirs.last_offset,
        theirs.next_offset,
    )
    assert (h.base_timestamp, h.max_timestamp) == (theirs.first_timestamp, theirs.max_timestamp)
    assert (h.producer_id, h.producer_epoch, h.base_sequence) == (
        theirs.producer_id,
        theirs.producer_epoch,
        theirs.base_sequence,
    )
    assert h.records_count == theirs.records_count == len(their_records)
    assert int(h.compression) == theirs.compression_type
    assert int(h.timestamp_type) == theirs.timestamp_type
    assert h.is_transactional == theirs.is_transactional
    assert h.is_control == theirs.is_control_batch
    assert [(r.offset, r.timestamp, r.key, r.value, r.headers) for r in ours.records] == [
        (r.offset, r.timestamp, r.key, r.value, tuple(Header(k, v) for k, v in r.headers))
        for r in their_records
    ]


@pytest.mark.req("REC-27")
@pytest.mark.parametrize("codec", list(Compression))
@given(records=_kp_records, producer=_producer)
def test_kafka_python_batches_decode_in_reflog(
    codec: Compression, records: list[Record], producer: dict[str, Any]
) -> None:
    raw = _kafka_python_build(codec, records, producer)
    _assert_same(raw)
    ours = decode_batch(raw)
    assert [(r.key, r.value, r.headers, r.timestamp) for r in ours.records] == [
        (r.key, r.value, r.headers, r.timestamp) for r in records
    ]


@pytest.mark.req("REC-27")
@pytest.mark.parametrize("codec", list(Compression))
def test_kafka_python_compressed_batch(codec: Compression) -> None:
    # Compressible enough that kafka-python keeps the codec (it falls back to none otherwise).
    records = [
        Record(b"key-%d" % i, b"the same value " * 50, (Header("h", b"x"),), timestamp=i) for i in range(20)
    ]
    producer = {"is_transactional": True, "producer_id": 5, "producer_epoch": 1, "base_sequence": 7}
    raw = _kafka_python_build(codec, records, producer)
    batch = decode_batch(raw)
    assert batch.header.compression is codec
    assert batch.header.is_transactional
    _assert_same(raw)


@pytest.mark.req("REC-28")
@pytest.mark.parametrize("codec", list(Compression))
@given(records=record_lists, options=batch_options)
def test_reflog_batches_decode_in_kafka_python(
    codec: Compression, records: list[Record], options: dict[str, Any]
) -> None:
    raw = build_batch(records, **{**options, "compression": codec})
    _assert_same(raw)


@pytest.mark.req("REC-28")
@pytest.mark.parametrize("codec", list(Compression))
def test_kafka_python_sees_damage_to_reflog_batches(codec: Compression) -> None:
    raw = build_batch([Record(b"k", b"value " * 100)], compression=codec)
    assert DefaultRecordBatch(raw).validate_crc()
    damaged = bytearray(raw)
    damaged[-3] ^= 0x10
    assert not DefaultRecordBatch(bytes(damaged)).validate_crc()
