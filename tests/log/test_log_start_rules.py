"""The log start offset DeleteRecords moves (PRO-89), on the log and the log manager: one rule per test."""

from __future__ import annotations

import pytest

from reflog.clock import ManualClock
from reflog.errors import OffsetOutOfRangeError
from reflog.log import Log, LogConfig, LogManager
from reflog.storage.sim import PowerLossMode, SimFilesystem
from tests.log.helpers import batch

pytestmark = pytest.mark.req("PRO-89")


def filled(fs: SimFilesystem, clock: ManualClock, segments: int = 4) -> Log:
    """One one-record batch per segment, at epochs 0, 1, 2, ..."""
    log = Log.open(fs, "data/t-0", LogConfig.from_properties({"segment.bytes": 200}), clock)
    for i in range(segments):
        log.append_as_leader(batch([bytes([i]) * 100]), leader_epoch=i)
    return log


def test_the_start_moves_inside_a_segment_and_only_wholly_older_segments_go(
    sim_fs: SimFilesystem, clock: ManualClock
) -> None:
    log = filled(sim_fs, clock)
    assert [s.base_offset for s in log.segments] == [0, 1, 2, 3]
    assert log.maybe_increment_log_start_offset(2)
    assert log.log_start_offset == 2
    assert [s.base_offset for s in log.segments] == [2, 3]
    assert [e.epoch for e in log.epoch_cache.entries] == [2, 3]  # truncated from the start
    assert not log.maybe_increment_log_start_offset(1)  # never back
    with pytest.raises(OffsetOutOfRangeError):
        log.read(1, 1 << 20)
    assert log.read(2, 1 << 20).records is not None


def test_moving_the_start_to_the_end_keeps_an_empty_active_segment(
    sim_fs: SimFilesystem, clock: ManualClock
) -> None:
    log = filled(sim_fs, clock, segments=2)
    assert log.maybe_increment_log_start_offset(2)
    assert (log.log_start_offset, log.log_end_offset) == (2, 2)
    assert [s.base_offset for s in log.segments] == [2] and log.active_segment.is_empty
    with pytest.raises(OffsetOutOfRangeError):
        log.maybe_increment_log_start_offset(3)  # beyond the log end


def test_the_manager_checkpoints_the_start_and_a_restart_keeps_it(clock: ManualClock) -> None:
    fs = SimFilesystem(clock=clock, seed=5)
    manager = LogManager(fs, "data", clock, default_config=LogConfig(segment_bytes=10_000))
    manager.startup()
    log = manager.create_log("t", 0)
    for i in range(3):
        log.append_as_leader(batch([b"v%d" % i]), leader_epoch=0)
    log.flush()
    assert log.maybe_increment_log_start_offset(2)  # inside the only segment
    fs.power_loss(PowerLossMode.CLEAN)  # the checkpoint was durable before the call returned
    restarted = LogManager(fs, "data", clock, default_config=LogConfig(segment_bytes=10_000))
    restarted.startup()
    assert restarted.logs[("t", 0)].log_start_offset == 2  # type: ignore[index]


def test_a_log_recovered_shorter_than_its_checkpointed_start_starts_there(clock: ManualClock) -> None:
    fs = SimFilesystem(clock=clock, seed=6)
    manager = LogManager(fs, "data", clock)
    manager.startup()
    log = manager.create_log("t", 0)
    for i in range(4):
        log.append_as_leader(batch([b"v%d" % i]), leader_epoch=0)
    log.flush()
    log.maybe_increment_log_start_offset(3)
    manager.shutdown()
    reopened = Log.open(fs, "data/t-0", LogConfig(), clock, log_start_offset=9)
    assert (reopened.log_start_offset, reopened.log_end_offset) == (9, 9)
