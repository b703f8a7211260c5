"""A client's batch as the leader checks it (LogValidator), offsets past the index's 32-bit range, and
ListOffsets by timestamp (LOG-23, LOG-24, LOG-25)."""

from __future__ import annotations

import pytest

from reflog.clock import ManualClock
from reflog.errors import (
    CorruptRecordError,
    InvalidRecordError,
    MessageTooLargeError,
    RecordBatchTooLargeError,
    ReflogError,
)
from reflog.log import Log, LogConfig
from reflog.log.log import MAX_RELATIVE_OFFSET
from reflog.log.validator import client_batch_steps, validate_client_batch
from reflog.records import Compression, Record, build_batch
from reflog.storage import Filesystem
from reflog.storage.sim import SimFilesystem
from tests.log.helpers import batch, values_of
from tests.records._helpers import forge_batch, raw_record


def gapped(base_offset: int, last_offset_delta: int) -> bytes:
    """One record whose batch spans ``last_offset_delta + 1`` offsets (as compaction leaves them)."""
    return forge_batch(
        raw_record(offset_delta=0),
        records_count=1,
        last_offset_delta=last_offset_delta,
        base_offset=base_offset,
    )


@pytest.mark.req("LOG-23")
def test_an_offset_past_the_index_range_rolls_the_segment(any_fs: Filesystem, clock: ManualClock) -> None:
    # An index entry for every batch, so each append writes a relative offset into the index.
    log = Log.open(any_fs, "data/t-0", LogConfig(index_interval_bytes=1), clock)
    log.append_as_follower(gapped(0, MAX_RELATIVE_OFFSET - 10))  # ends 10 below the range's end
    start = log.log_end_offset
    log.append_as_follower(gapped(start, 100))  # would end 90 past it: a new segment
    assert [s.base_offset for s in log.segments] == [0, start]
    log.append_as_leader(batch([b"after"] * 3), leader_epoch=0)  # the leader path too
    assert log.log_end_offset == start + 101 + 3
    assert values_of(log.read_records(start, 1 << 20)) == [b"v", b"after", b"after", b"after"]
    log.flush()
    log.close()
    reopened = Log.open(any_fs, "data/t-0", LogConfig(index_interval_bytes=1), clock)
    assert reopened.log_end_offset == start + 104 and len(reopened.segments) == 2


CONFIG = LogConfig(max_message_bytes=4096, segment_bytes=8192)


def refusal(records: bytes, config: LogConfig = CONFIG) -> tuple[type[ReflogError], int]:
    with pytest.raises(ReflogError) as info:
        validate_client_batch(records, config)
    return type(info.value), info.value.error_code


@pytest.mark.req("LOG-24")
def test_a_client_batch_is_checked_as_kafka_log_validator_does() -> None:
    one = build_batch([Record(key=None, value=b"v")])
    assert validate_client_batch(one, CONFIG).header.records_count == 1
    # recordsCount must equal lastOffsetDelta + 1, and be at least 1 (INVALID_RECORD, 87).
    invalid = (InvalidRecordError, 87)
    assert refusal(forge_batch(raw_record(), records_count=1, last_offset_delta=4)) == invalid
    assert refusal(forge_batch(b"", records_count=0)) == (InvalidRecordError, 87)
    # Control batches (attributes bit 5) only come from the coordinator.
    assert refusal(forge_batch(raw_record(), records_count=1, attributes=0x20)) == (InvalidRecordError, 87)
    # A producer id with no sequence number.
    assert refusal(forge_batch(raw_record(), records_count=1, producer_id=5, producer_epoch=0)) == (
        InvalidRecordError,
        87,
    )
    # Produce v3+: exactly one batch per partition; none at all is refused too.
    assert refusal(one + one) == (InvalidRecordError, 87)
    assert refusal(b"") == (InvalidRecordError, 87)
    # Sizes: max.message.bytes is MESSAGE_TOO_LARGE (10), segment.bytes RECORD_LIST_TOO_LARGE (18).
    big = build_batch([Record(key=None, value=bytes(5000))])
    assert refusal(big) == (MessageTooLargeError, 10)
    small_segments = LogConfig(max_message_bytes=10_000, segment_bytes=4096)
    assert refusal(big, small_segments) == (RecordBatchTooLargeError, 18)
    # Damage is still CORRUPT_MESSAGE (2).
    damaged = bytearray(one)
    damaged[-1] ^= 1
    assert refusal(bytes(damaged)) == (CorruptRecordError, 2)


def empty_records(n: int) -> bytes:
    return build_batch([Record(key=None, value=None)] * n, compression=Compression.ZSTD)


@pytest.mark.req("LOG-24")
def test_client_validation_runs_in_fixed_steps_with_the_same_verdict() -> None:
    records = empty_records(2500)
    steps = client_batch_steps(records, CONFIG, records_per_step=1000)
    yielded: list[int] = []
    while True:
        try:
            yielded.append(next(steps))
        except StopIteration as done:
            assert done.value.header.records_count == 2500
            break
    assert yielded == [1000, 2000]  # the same steps on every run: they depend only on the batch
    # A fault in the last step is found there, with the error the one-go walk gives.
    section = b"".join(raw_record(offset_delta=i) for i in range(2499)) + raw_record(offset_delta=0)
    bad = forge_batch(section, records_count=2500)
    with pytest.raises(CorruptRecordError) as at_once:
        validate_client_batch(bad, LogConfig())
    in_steps = client_batch_steps(bad, LogConfig(), records_per_step=1000)
    assert next(in_steps) == 1000 and next(in_steps) == 2000
    with pytest.raises(CorruptRecordError) as stepped:
        next(in_steps)
    assert str(stepped.value) == str(at_once.value)


@pytest.mark.req("LOG-25")
def test_offset_for_timestamp_finds_the_first_record_at_or_after_it(clock: ManualClock) -> None:
    fs = SimFilesystem(clock=clock, seed=0)
    log = Log.open(fs, "data/t-0", LogConfig(index_interval_bytes=1, segment_bytes=180), clock)
    stamps = [[100, 110, 120], [130, 140], [150, 160, 170]]
    for group in stamps:
        log.append_as_leader(build_batch([Record(key=None, value=b"x", timestamp=t) for t in group]), 3)
    assert len(log.segments) > 1
    assert log.offset_for_timestamp(100) == (100, 0, 3)
    assert log.offset_for_timestamp(111) == (120, 2, 3)  # inside the first batch: its third record
    assert log.offset_for_timestamp(155) == (160, 6, 3)
    assert log.offset_for_timestamp(171) is None
    assert log.offset_for_timestamp(155, max_offset=6) is None  # at or above the high watermark
    assert log.offset_for_timestamp(155, max_offset=7) == (160, 6, 3)
