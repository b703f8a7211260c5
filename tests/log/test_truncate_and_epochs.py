"""Truncation, the leader-epoch cache and checkpoint files."""

from __future__ import annotations

import pytest

from reflog.clock import ManualClock
from reflog.log import (
    RECOVERY_POINT_FILE,
    UNDEFINED_EPOCH,
    CorruptCheckpointError,
    LeaderEpochCache,
    Log,
    LogConfig,
    LogManager,
    TopicPartition,
    read_checkpoint,
    write_checkpoint,
)
from reflog.storage import Filesystem
from tests.log.helpers import CountingFs, batch, values_of


@pytest.mark.req("LOG-10")
def test_truncate_removes_records_at_and_above_offset(any_fs: Filesystem, clock: ManualClock) -> None:
    log = Log.open(any_fs, "d/t-0", LogConfig(segment_bytes=250), clock)
    for i in range(9):
        log.append_as_leader(batch([bytes([i]) * 100]), leader_epoch=i // 3)
    assert len(log.segments) > 2
    assert log.truncate_to(4) is True
    assert log.log_end_offset == 4
    assert all(s.base_offset < 4 for s in log.segments)
    fetched = log.read(0, 1 << 20)
    data = b"".join(log.iter_batches())
    assert values_of(data) == [bytes([i]) * 100 for i in range(4)]
    assert fetched.records is not None
    assert log.epoch_cache.entries == ((0, 0), (1, 3))
    assert log.truncate_to(4) is False
    log.append_as_leader(batch([b"new"]), leader_epoch=7)
    assert values_of(b"".join(log.iter_batches(4))) == [b"new"]


@pytest.mark.req("LOG-10")
def test_truncate_below_log_start_restarts_the_log(any_fs: Filesystem, clock: ManualClock) -> None:
    log = Log.open(any_fs, "d/t-0", LogConfig(segment_bytes=250, retention_bytes=300), clock)
    for i in range(6):
        log.append_as_leader(batch([bytes([i]) * 100]), leader_epoch=0)
    log.delete_retention_segments()
    start = log.log_start_offset
    assert start > 0
    log.truncate_to(start - 1)
    assert log.log_start_offset == log.log_end_offset == start - 1
    assert len(log.segments) == 1


@pytest.mark.req("LOG-10", "LOG-14")
def test_truncation_is_durable_and_lowers_the_checkpointed_recovery_point(
    any_fs: Filesystem, clock: ManualClock
) -> None:
    counting = CountingFs(any_fs)
    manager = LogManager(counting, "data", clock)
    manager.startup()
    log = manager.create_log("t", 0)
    for i in range(5):
        log.append_as_leader(batch([bytes([i])]), leader_epoch=0)
    log.flush()
    manager.checkpoint_recovery_points()
    assert read_checkpoint(counting, f"data/{RECOVERY_POINT_FILE}") == ["t 0 5"]
    counting.fsyncs.clear()
    log.truncate_to(2)
    assert any(p.endswith(".log") for p in counting.fsyncs)  # the cut is fsynced
    assert log.recovery_point == 2
    assert read_checkpoint(counting, f"data/{RECOVERY_POINT_FILE}") == ["t 0 2"]


@pytest.mark.req("LOG-11")
def test_epoch_cache_assign_truncate_and_end_offset_for() -> None:
    cache = LeaderEpochCache(None, None)
    assert cache.end_offset_for(3, 10) == (UNDEFINED_EPOCH, -1)
    assert cache.assign(1, 0) and cache.assign(3, 5) and cache.assign(4, 9)
    assert not cache.assign(4, 12)  # same latest epoch: no-op
    assert cache.end_offset_for(4, 20) == (4, 20)  # latest epoch: ends at the LEO
    assert cache.end_offset_for(3, 20) == (3, 9)
    assert cache.end_offset_for(2, 20) == (1, 5)  # epoch 2 never led: largest epoch below it
    assert cache.end_offset_for(0, 20) == (0, 0)  # before the first epoch
    assert cache.end_offset_for(9, 20) == (UNDEFINED_EPOCH, -1)  # newer than anything known
    # A conflicting assignment removes entries at or after it.
    cache.assign(2, 5)
    assert cache.entries == ((1, 0), (2, 5))
    cache.assign(3, 7)
    cache.truncate_from_end(7)
    assert cache.entries == ((1, 0), (2, 5))
    cache.truncate_from_start(6)
    assert cache.entries == ((2, 6),)


@pytest.mark.req("LOG-11")
def test_epoch_cache_is_persisted_and_a_corrupt_file_is_rebuilt_from_the_log(
    any_fs: Filesystem, clock: ManualClock
) -> None:
    log = Log.open(any_fs, "d/t-0", LogConfig(), clock)
    for epoch in (0, 0, 2, 5, 5):
        log.append_as_leader(batch([b"x"]), leader_epoch=epoch)
    assert read_checkpoint(any_fs, "d/t-0/leader-epoch-checkpoint") == ["0 0", "2 2", "5 3"]
    log.close()
    handle = any_fs.open("d/t-0/leader-epoch-checkpoint")
    any_fs.pwrite(handle, 0, b"garbage!")
    any_fs.close(handle)
    with pytest.raises(CorruptCheckpointError):
        LeaderEpochCache.load(any_fs, "d/t-0")
    reopened = Log.open(any_fs, "d/t-0", LogConfig(), clock, recovery_point=5, clean_shutdown=True)
    assert reopened.recovery_report is not None and reopened.recovery_report.epoch_cache_rebuilt
    assert reopened.epoch_cache.entries == ((0, 0), (2, 2), (5, 3))


@pytest.mark.req("LOG-14")
def test_checkpoint_write_is_tmp_fsync_rename_dir_fsync(any_fs: Filesystem) -> None:
    counting = CountingFs(any_fs)
    counting.makedirs("cp")
    write_checkpoint(counting, "cp/file", ["a 1", "b 2"])
    assert counting.fsyncs == ["cp/file.tmp"]
    assert counting.renames == [("cp/file.tmp", "cp/file")]
    assert counting.dir_fsyncs == ["cp"]
    assert read_checkpoint(counting, "cp/file") == ["a 1", "b 2"]
    assert read_checkpoint(counting, "cp/missing") is None


@pytest.mark.req("LOG-14")
@pytest.mark.parametrize(
    "content",
    [b"1\n0\n", b"0\n2\na 1\n", b"0\nx\n", b"0\n1\na 1", b"\xff\xfe\n", b"", b"0\n"],
    ids=["bad-version", "count-mismatch", "bad-count", "no-newline", "not-utf8", "empty", "no-count"],
)
def test_a_checkpoint_that_does_not_parse_is_a_typed_error(any_fs: Filesystem, content: bytes) -> None:
    any_fs.makedirs("cp")
    handle = any_fs.open("cp/file", create=True)
    any_fs.pwrite(handle, 0, content)
    any_fs.close(handle)
    with pytest.raises(CorruptCheckpointError):
        read_checkpoint(any_fs, "cp/file")


@pytest.mark.req("REP-16")
def test_high_watermark_checkpoint_round_trip_and_corruption(any_fs: Filesystem, clock: ManualClock) -> None:
    manager = LogManager(any_fs, "data", clock)
    manager.startup()
    assert manager.read_high_watermarks() == {}
    manager.write_high_watermarks({TopicPartition("t", 0): 7, TopicPartition("u", 2): 0})
    assert manager.read_high_watermarks() == {("t", 0): 7, ("u", 2): 0}
    handle = any_fs.open("data/replication-offset-checkpoint")
    any_fs.pwrite(handle, 0, b"junk")
    any_fs.close(handle)
    assert manager.read_high_watermarks() == {}  # never trusted: the HW is learned again
