"""Direct tests of the retention rule (LOG-5), one boundary per test, written for the survivors of
mutation testing (tests/MUTATION.md): each fails when its rule alone is broken."""

from __future__ import annotations

import pytest

from reflog.clock import ManualClock
from reflog.log import Log, LogConfig
from reflog.storage.sim import SimFilesystem
from tests.log.helpers import batch


def filled(fs: SimFilesystem, clock: ManualClock, timestamp_ms: int, **config: int) -> Log:
    """Four one-batch segments whose records carry ``timestamp_ms``."""
    properties = {"segment.bytes": 200, **{k.replace("_", "."): v for k, v in config.items()}}
    log = Log.open(fs, "data/t-0", LogConfig.from_properties(properties), clock)
    for i in range(4):
        log.append_as_leader(batch([bytes([i]) * 100], timestamp=timestamp_ms), leader_epoch=0)
    return log


@pytest.mark.req("LOG-5")
def test_a_segment_expires_only_once_strictly_older_than_retention_ms(
    sim_fs: SimFilesystem, clock: ManualClock
) -> None:
    log = filled(sim_fs, clock, int(clock.now() * 1000), retention_ms=10_000)
    clock.advance(10.0)
    assert log.delete_retention_segments() == 0  # exactly retention.ms old: kept
    clock.advance(0.001)
    assert log.delete_retention_segments() == 4


@pytest.mark.req("LOG-5")
def test_retention_ms_zero_expires_every_older_segment(sim_fs: SimFilesystem, clock: ManualClock) -> None:
    log = filled(sim_fs, clock, int(clock.now() * 1000), retention_ms=0)
    clock.advance(0.001)
    assert log.delete_retention_segments() == 4


@pytest.mark.req("LOG-5")
def test_a_record_timestamp_of_zero_is_a_real_timestamp(sim_fs: SimFilesystem, clock: ManualClock) -> None:
    log = filled(sim_fs, clock, 0, retention_ms=10_000)
    assert clock.now() > 10.0
    assert log.delete_retention_segments() == 4


@pytest.mark.req("LOG-5")
def test_retention_bytes_deletes_a_segment_whose_size_is_exactly_the_excess(
    sim_fs: SimFilesystem, clock: ManualClock
) -> None:
    probe = filled(SimFilesystem(clock=clock, seed=0), clock, 0)  # the same appends measure the segment sizes
    total, first = probe.size_in_bytes, probe.segments[0].size
    log = filled(sim_fs, clock, 0, retention_bytes=total - first)
    assert log.delete_retention_segments() == 1


@pytest.mark.req("LOG-5")
def test_retention_bytes_zero_deletes_every_closed_segment(sim_fs: SimFilesystem, clock: ManualClock) -> None:
    log = filled(sim_fs, clock, 0, retention_bytes=0)
    assert log.delete_retention_segments() == 4
