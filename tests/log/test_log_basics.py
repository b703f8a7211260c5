"""Appends, reads, offsets, rolling, indexes and retention, on both storage backends."""

from __future__ import annotations

import os
import socket

import pytest

from reflog.clock import ManualClock
from reflog.errors import CorruptRecordError, MessageTooLargeError, OffsetOutOfRangeError
from reflog.log import Log, LogConfig, segment_name
from reflog.records import Compression, parse_header
from reflog.storage import Filesystem, OsFilesystem
from tests.log.helpers import CountingFs, batch, values_of

pytestmark = pytest.mark.req("LOG-20")


def open_log(fs: Filesystem, clock: ManualClock, **config: int) -> Log:
    return Log.open(
        fs, "data/t-0", LogConfig.from_properties({k.replace("_", "."): v for k, v in config.items()}), clock
    )


@pytest.mark.req("LOG-9")
def test_leader_append_assigns_contiguous_offsets_and_stamps_epoch(
    any_fs: Filesystem, clock: ManualClock
) -> None:
    log = open_log(any_fs, clock)
    first = log.append_as_leader(batch([b"a", b"b", b"c"], base_offset=999), leader_epoch=4)
    second = log.append_as_leader(batch([b"d"]) + batch([b"e", b"f"]), leader_epoch=5)
    assert (first.first_offset, first.last_offset, first.record_count) == (0, 2, 3)
    assert (second.first_offset, second.last_offset, second.batch_count) == (3, 5, 2)
    assert log.log_end_offset == 6
    fetched = log.read(0, 1 << 20)
    assert fetched.records is not None
    assert values_of(fetched.records) == [b"a", b"b", b"c", b"d", b"e", b"f"]
    headers = [parse_header(fetched.records, 0)]
    assert headers[0].base_offset == 0 and headers[0].partition_leader_epoch == 4
    assert log.epoch_cache.entries == ((4, 0), (5, 3))


@pytest.mark.req("LOG-9")
def test_leader_append_writes_nothing_when_any_batch_is_invalid(
    any_fs: Filesystem, clock: ManualClock
) -> None:
    log = open_log(any_fs, clock)
    good = batch([b"ok"])
    bad = bytearray(batch([b"bad"]))
    bad[-1] ^= 0x01
    with pytest.raises(CorruptRecordError):
        log.append_as_leader(good + bytes(bad), leader_epoch=0)
    with pytest.raises(CorruptRecordError):
        log.append_as_leader(b"", leader_epoch=0)
    assert log.log_end_offset == 0 and log.active_segment.size == 0


@pytest.mark.req("LOG-9")
def test_batch_larger_than_max_message_bytes_is_refused(any_fs: Filesystem, clock: ManualClock) -> None:
    log = open_log(any_fs, clock, max_message_bytes=200)
    with pytest.raises(MessageTooLargeError) as info:
        log.append_as_leader(batch([b"x" * 300]), leader_epoch=0)
    assert info.value.error_code == 10  # MESSAGE_TOO_LARGE, as Kafka's RecordTooLargeException
    assert log.log_end_offset == 0


@pytest.mark.req("LOG-9")
def test_follower_append_keeps_offsets_and_requires_increasing_offsets(
    any_fs: Filesystem, clock: ManualClock
) -> None:
    log = open_log(any_fs, clock)
    log.append_as_follower(batch([b"a", b"b"], base_offset=0, epoch=2))
    with pytest.raises(CorruptRecordError):
        log.append_as_follower(batch([b"overlap"], base_offset=1, epoch=2))
    log.append_as_follower(batch([b"c"], base_offset=2, epoch=3))
    log.append_as_follower(batch([b"gap"], base_offset=5, epoch=3))  # a compacted leader's gap
    assert log.log_end_offset == 6
    assert log.epoch_cache.entries == ((2, 0), (3, 2))
    assert values_of(log.read_records(3, 1 << 20)) == [b"gap"]


@pytest.mark.req("LOG-1", "LOG-4")
def test_segments_roll_on_segment_bytes_and_are_named_by_base_offset(
    any_fs: Filesystem, clock: ManualClock
) -> None:
    log = open_log(any_fs, clock, segment_bytes=300)
    for i in range(10):
        log.append_as_leader(batch([bytes([i]) * 100]), leader_epoch=0)
    bases = [s.base_offset for s in log.segments]
    assert len(bases) > 3 and bases == sorted(bases) and bases[0] == 0
    assert all(s.size <= 300 for s in log.segments)
    names = set(any_fs.listdir("data/t-0"))
    for base in bases:
        for suffix in (".log", ".index", ".timeindex"):
            assert segment_name(base) + suffix in names
    assert segment_name(42) == "00000000000000000042"
    # Rolled segments were fsynced: the recovery point reached the active segment's base.
    assert log.recovery_point == bases[-1]


@pytest.mark.req("LOG-4")
def test_segment_rolls_when_it_is_older_than_segment_ms(any_fs: Filesystem, clock: ManualClock) -> None:
    log = open_log(any_fs, clock, segment_ms=60_000)
    log.append_as_leader(batch([b"a"]), leader_epoch=0)
    clock.advance(59)
    log.append_as_leader(batch([b"b"]), leader_epoch=0)
    assert len(log.segments) == 1
    clock.advance(2)
    log.append_as_leader(batch([b"c"]), leader_epoch=0)
    assert [s.base_offset for s in log.segments] == [0, 2]


@pytest.mark.req("LOG-4")
def test_segment_rolls_when_its_offset_index_is_full(any_fs: Filesystem, clock: ManualClock) -> None:
    log = open_log(any_fs, clock, index_interval_bytes=1, segment_index_bytes=8 * 3)
    for i in range(8):
        log.append_as_leader(batch([bytes([i])]), leader_epoch=0)
    assert len(log.segments) >= 2
    assert all(s.offset_index.entries <= 3 for s in log.segments)


@pytest.mark.req("LOG-2", "LOG-3")
def test_sparse_index_every_interval_and_lookup_does_not_scan(
    os_fs: OsFilesystem, clock: ManualClock
) -> None:
    counting = CountingFs(os_fs)
    log = Log.open(counting, "data/t-0", LogConfig(index_interval_bytes=4096), clock)
    for i in range(2000):
        log.append_as_leader(batch([b"%06d" % i + b"x" * 90], timestamp=i), leader_epoch=0)
    segment = log.active_segment
    batch_size = segment.size // 2000
    assert segment.offset_index.entries == pytest.approx(segment.size / 4096, rel=0.1)
    assert segment.time_index.entries == segment.offset_index.entries
    counting.pread_bytes = 0
    fetched = log.read(1990, 1, verify=False)
    assert fetched.region is not None and fetched.region.length == batch_size
    # The floor index entry is at most index.interval.bytes behind: the walk reads a few headers, not 200 KB.
    assert counting.pread_bytes < 4096 + 2 * batch_size
    assert 0 < counting.pread_bytes < segment.size / 10
    assert segment.time_index.lookup(1500) <= 1500


@pytest.mark.req("LOG-6")
def test_read_returns_whole_batches_within_max_bytes_at_least_one(
    any_fs: Filesystem, clock: ManualClock
) -> None:
    log = open_log(any_fs, clock)
    for i in range(5):
        log.append_as_leader(batch([bytes([i]) * 50, bytes([i]) * 50]), leader_epoch=0)
    size = log.active_segment.size // 5
    fetched = log.read(3, 1)  # offset 3 is inside the second batch; max_bytes below one batch
    assert fetched.region is not None and fetched.records is not None
    assert fetched.region.position == size and fetched.region.length == size
    assert values_of(fetched.records) == [b"\x01" * 50] * 2
    fetched = log.read(0, 3 * size + 5)
    assert fetched.size == 3 * size
    fetched = log.read(0, 1 << 20, max_offset=5)
    assert fetched.size == 2 * size  # batch 4..5 reaches max_offset and is left out
    assert log.read(10, 100).region is None
    assert log.read(4, 100, max_offset=4).region is None


@pytest.mark.req("LOG-8")
def test_read_outside_the_log_is_offset_out_of_range(any_fs: Filesystem, clock: ManualClock) -> None:
    log = open_log(any_fs, clock)
    log.append_as_leader(batch([b"a"]), leader_epoch=0)
    with pytest.raises(OffsetOutOfRangeError) as info:
        log.read(2, 100)
    assert info.value.error_code == 1
    with pytest.raises(OffsetOutOfRangeError):
        log.read(-1, 100)


@pytest.mark.req("LOG-6")
def test_os_region_can_be_sent_with_sendfile(os_fs: OsFilesystem, clock: ManualClock) -> None:
    log = open_log(os_fs, clock)
    log.append_as_leader(batch([b"hello"], compression=Compression.NONE), leader_epoch=0)
    log.append_as_leader(batch([b"zero-copy"]), leader_epoch=0)
    fetched = log.read(1, 1 << 20)
    assert fetched.region is not None
    fd = os_fs.sendfile_fd(fetched.region.handle)
    assert fd is not None
    left, right = socket.socketpair()
    with left, right:
        sent = os.sendfile(left.fileno(), fd, fetched.region.position, fetched.region.length)
        assert sent == fetched.region.length
        received = right.recv(1 << 16)
    assert values_of(received) == [b"zero-copy"]


@pytest.mark.req("LOG-5")
def test_retention_bytes_deletes_oldest_segments_only(any_fs: Filesystem, clock: ManualClock) -> None:
    log = open_log(any_fs, clock, segment_bytes=250, retention_bytes=600)
    for i in range(12):
        log.append_as_leader(batch([bytes([i]) * 100]), leader_epoch=0)
    before = [s.base_offset for s in log.segments]
    deleted = log.delete_retention_segments()
    assert deleted > 0
    assert [s.base_offset for s in log.segments] == before[deleted:]
    assert log.size_in_bytes <= 600 + 250
    assert log.log_start_offset == before[deleted]
    with pytest.raises(OffsetOutOfRangeError):
        log.read(0, 100)
    fetched = log.read(log.log_start_offset, 1 << 20)
    assert fetched.records is not None
    assert segment_name(before[0]) + ".log" not in any_fs.listdir("data/t-0")


@pytest.mark.req("LOG-5")
def test_retention_ms_uses_record_timestamps_and_respects_max_offset(
    any_fs: Filesystem, clock: ManualClock
) -> None:
    log = open_log(any_fs, clock, segment_bytes=200, retention_ms=10_000)
    now_ms = int(clock.now() * 1000)
    for i in range(6):
        log.append_as_leader(batch([bytes([i]) * 100], timestamp=now_ms), leader_epoch=0)
    clock.advance(11)
    assert log.delete_retention_segments(max_offset=0) == 0  # nothing below the high watermark
    deleted = log.delete_retention_segments()
    assert deleted == 6  # every segment expired: the log rolled first and kept an empty active segment
    assert log.log_start_offset == log.log_end_offset == 6
    assert log.active_segment.is_empty


@pytest.mark.req("LOG-5")
def test_retention_defaults_keep_everything(any_fs: Filesystem, clock: ManualClock) -> None:
    log = open_log(any_fs, clock, segment_bytes=200)
    for i in range(6):
        log.append_as_leader(batch([bytes([i]) * 100], timestamp=int(clock.now() * 1000)), leader_epoch=0)
    clock.advance(24 * 3600)
    assert log.delete_retention_segments() == 0


@pytest.mark.req("LOG-12")
def test_flush_fsyncs_an_index_only_when_it_changed(any_fs: Filesystem, clock: ManualClock) -> None:
    counting = CountingFs(any_fs)
    log = Log.open(counting, "data/t-0", LogConfig(flush_messages=1, index_interval_bytes=1000), clock)
    counting.fsyncs.clear()
    log.append_as_leader(batch([b"small"]), leader_epoch=0)
    assert [p.rsplit(".", 1)[-1] for p in counting.fsyncs if "checkpoint" not in p] == ["log"]
    counting.fsyncs.clear()
    log.append_as_leader(batch([b"x" * 1200]), leader_epoch=0)  # crosses index.interval.bytes
    assert [p.rsplit(".", 1)[-1] for p in counting.fsyncs if "checkpoint" not in p] == ["log"]
    counting.fsyncs.clear()
    log.append_as_leader(batch([b"small"]), leader_epoch=0)  # the first batch after it gets the entry
    assert sorted(p.rsplit(".", 1)[-1] for p in counting.fsyncs) == ["index", "log", "timeindex"]
