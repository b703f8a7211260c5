"""Direct tests of the log's recovery rules (LOG-16, LOG-17, LOG-11), one rule per test, written for the
survivors of mutation testing (tests/MUTATION.md): each fails when its rule alone is broken.

Each test writes a log, closes it without a clean shutdown, damages or edits its files through the
simulated file system, and opens it again as the broker would after a crash."""

from __future__ import annotations

import pytest

from reflog.clock import ManualClock
from reflog.log import Log, LogConfig
from reflog.log.epoch_cache import EpochEntry, LeaderEpochCache
from reflog.records import BATCH_HEADER_SIZE
from reflog.storage.sim import SimFilesystem
from tests.log.helpers import CountingFs, batch, values_of

DIR = "data/t-0"
ONE = len(batch([b"x" * 100]))
CONFIG = LogConfig(segment_bytes=2 * ONE)  # two batches per segment


def written(fs: SimFilesystem, clock: ManualClock, count: int = 6, epochs: tuple[int, ...] = ()) -> list[int]:
    """``count`` one-record batches in segments of two, flushed and closed; returns the segment bases."""
    log = Log.open(fs, DIR, CONFIG, clock)
    for i in range(count):
        log.append_as_leader(batch([b"%d" % i + b"x" * 99]), epochs[i] if epochs else 0)
    log.flush()
    log.close()
    return [s.base_offset for s in log.segments]


def reopen(
    fs: SimFilesystem | CountingFs, clock: ManualClock, recovery_point: int, clean: bool = False
) -> Log:
    return Log.open(fs, DIR, CONFIG, clock, recovery_point=recovery_point, clean_shutdown=clean)  # type: ignore[arg-type]


def damage(fs: SimFilesystem, base: int, position: int) -> None:
    """Flip a record byte (covered by the CRC) of the batch at ``position`` in segment ``base``."""
    handle = fs.open(f"{DIR}/{base:020d}.log")
    byte = fs.pread(handle, position + BATCH_HEADER_SIZE + 2, 1)
    fs.pwrite(handle, position + BATCH_HEADER_SIZE + 2, bytes([byte[0] ^ 0xFF]))
    fs.close(handle)


@pytest.mark.req("LOG-16")
def test_recovery_starts_at_the_segment_whose_base_is_the_recovery_point(
    sim_fs: SimFilesystem, clock: ManualClock
) -> None:
    written(sim_fs, clock)
    damage(sim_fs, 0, ONE)  # below the recovery point: trusted, never validated
    log = reopen(sim_fs, clock, recovery_point=2)
    report = log.recovery_report
    assert report is not None and report.recovered_from == 2
    assert report.truncated_bytes == 0 and report.reason is None and log.log_end_offset == 6


@pytest.mark.req("LOG-16")
def test_recovery_starts_at_the_segment_holding_the_recovery_point(
    sim_fs: SimFilesystem, clock: ManualClock
) -> None:
    written(sim_fs, clock)
    damage(sim_fs, 2, ONE)  # offset 3, in the segment holding the recovery point 3
    log = reopen(sim_fs, clock, recovery_point=3)
    report = log.recovery_report
    assert report is not None and report.recovered_from == 2
    assert report.truncated_bytes == ONE and report.deleted_segments == (4,)
    assert report.reason is not None and log.log_end_offset == 3
    assert [s.base_offset for s in log.segments] == [0, 2]


@pytest.mark.req("LOG-16")
def test_a_recovery_point_past_every_base_validates_only_the_last_segment(
    sim_fs: SimFilesystem, clock: ManualClock
) -> None:
    written(sim_fs, clock)
    damage(sim_fs, 2, 0)
    log = reopen(sim_fs, clock, recovery_point=100)
    report = log.recovery_report
    assert report is not None and report.recovered_from == 4 and report.truncated_bytes == 0
    assert log.log_end_offset == 6 and log.recovery_point == 6


@pytest.mark.req("LOG-16")
def test_after_an_unclean_shutdown_the_recovery_point_stays_at_the_checkpoint(
    sim_fs: SimFilesystem, clock: ManualClock
) -> None:
    written(sim_fs, clock)
    assert reopen(sim_fs, clock, recovery_point=3).recovery_point == 3
    # A checkpoint past what recovery kept is brought down to the log end offset.
    damage(sim_fs, 4, ONE)
    log = reopen(sim_fs, clock, recovery_point=6)
    assert log.log_end_offset == 5 and log.recovery_point == 5


@pytest.mark.req("LOG-16")
def test_after_a_clean_shutdown_the_recovery_point_is_the_log_end_and_nothing_is_validated(
    sim_fs: SimFilesystem, clock: ManualClock
) -> None:
    written(sim_fs, clock)
    damage(sim_fs, 4, ONE)  # not looked at: a clean shutdown flushed everything
    log = reopen(sim_fs, clock, recovery_point=0, clean=True)
    report = log.recovery_report
    assert report is not None and report.clean_shutdown and report.recovered_from is None
    assert log.recovery_point == 6 == log.log_end_offset


@pytest.mark.req("LOG-16")
def test_every_segment_after_a_cut_is_deleted(sim_fs: SimFilesystem, clock: ManualClock) -> None:
    written(sim_fs, clock, count=8)
    damage(sim_fs, 2, 0)
    log = reopen(sim_fs, clock, recovery_point=0)
    report = log.recovery_report
    assert report is not None and report.deleted_segments == (4, 6) and report.recovered_from == 0
    assert report.truncated_bytes == 2 * ONE and report.log_end_offset == 2
    assert sorted(n for n in sim_fs.listdir(DIR) if n.endswith(".log")) == [f"{0:020d}.log", f"{2:020d}.log"]
    assert values_of(log.read_records(0, 1 << 20)) == [b"0" + b"x" * 99, b"1" + b"x" * 99]


@pytest.mark.req("LOG-16")
def test_a_segment_that_overlaps_the_one_before_is_deleted_with_the_rest(
    sim_fs: SimFilesystem, clock: ManualClock
) -> None:
    written(sim_fs, clock, count=8)
    for suffix in (".log", ".index", ".timeindex"):
        sim_fs.rename(f"{DIR}/{2:020d}{suffix}", f"{DIR}/{1:020d}{suffix}")
    log = reopen(sim_fs, clock, recovery_point=8)
    report = log.recovery_report
    assert report is not None and report.deleted_segments == (1, 4, 6)
    assert report.reason == "segment 1 does not follow offset 2"
    assert log.log_end_offset == 2


@pytest.mark.req("LOG-16", "LOG-34")
def test_a_gap_between_segments_is_kept_as_compaction_leaves_them(
    sim_fs: SimFilesystem, clock: ManualClock
) -> None:
    written(sim_fs, clock, count=8)
    for suffix in (".log", ".index", ".timeindex"):
        sim_fs.delete(f"{DIR}/{2:020d}{suffix}")
    log = reopen(sim_fs, clock, recovery_point=8)
    report = log.recovery_report
    assert report is not None and report.deleted_segments == () and report.reason is None
    assert log.log_end_offset == 8
    region = log.read(2, 1 << 20).region  # a read in the gap gets the next batch
    assert region is not None and region.first_offset == 4


@pytest.mark.req("LOG-16")
def test_a_trusted_segment_whose_tail_does_not_parse_is_validated_and_cut(
    sim_fs: SimFilesystem, clock: ManualClock
) -> None:
    written(sim_fs, clock)
    handle = sim_fs.open(f"{DIR}/{0:020d}.log")
    sim_fs.truncate(handle, 2 * ONE - 1)  # the second batch runs past the end of the file
    sim_fs.close(handle)
    log = reopen(sim_fs, clock, recovery_point=6)
    report = log.recovery_report
    assert report is not None and report.recovered_from == 0 and report.deleted_segments == (2, 4)
    assert log.log_end_offset == 1 and log.recovery_point == 1


@pytest.mark.req("LOG-16", "LOG-11")
def test_recovery_rebuilds_the_epoch_cache_from_the_recovered_batches(
    sim_fs: SimFilesystem, clock: ManualClock
) -> None:
    written(sim_fs, clock, epochs=(1, 1, 1, 3, 3, 5))
    damage(sim_fs, 4, ONE)  # the epoch-5 batch at offset 5
    log = reopen(sim_fs, clock, recovery_point=2)
    assert log.epoch_cache.entries == (EpochEntry(1, 0), EpochEntry(3, 3))


@pytest.mark.req("LOG-11")
def test_an_unreadable_epoch_checkpoint_is_rebuilt_from_every_batch(
    sim_fs: SimFilesystem, clock: ManualClock
) -> None:
    written(sim_fs, clock, epochs=(2, 2, 4, 4, 4, 7))
    handle = sim_fs.open(f"{DIR}/leader-epoch-checkpoint")
    sim_fs.truncate(handle, 0)
    sim_fs.pwrite(handle, 0, b"garbage\n")
    sim_fs.close(handle)
    log = reopen(sim_fs, clock, recovery_point=6, clean=True)
    assert log.recovery_report is not None and log.recovery_report.epoch_cache_rebuilt
    rebuilt = (EpochEntry(2, 0), EpochEntry(4, 2), EpochEntry(7, 5))
    assert log.epoch_cache.entries == rebuilt
    assert LeaderEpochCache.load(sim_fs, DIR).entries == rebuilt  # and written back where it belongs
    log.append_as_leader(batch([b"next"]), leader_epoch=9)
    assert LeaderEpochCache.load(sim_fs, DIR).entries == (*rebuilt, EpochEntry(9, 6))


@pytest.mark.req("LOG-11")
def test_a_rebuilt_epoch_cache_skips_batches_without_an_epoch(
    sim_fs: SimFilesystem, clock: ManualClock
) -> None:
    log = Log.open(sim_fs, DIR, CONFIG, clock)
    log.append_as_follower(batch([b"a"], epoch=-1, base_offset=0))
    log.append_as_follower(batch([b"b"], epoch=0, base_offset=1))
    log.append_as_follower(batch([b"c"], epoch=0, base_offset=2))
    log.flush()
    log.close()
    sim_fs.delete(f"{DIR}/leader-epoch-checkpoint")
    handle = sim_fs.open(f"{DIR}/leader-epoch-checkpoint", create=True)
    sim_fs.pwrite(handle, 0, b"x")
    sim_fs.close(handle)
    log = reopen(sim_fs, clock, recovery_point=3, clean=True)
    assert log.epoch_cache.entries == (EpochEntry(0, 1),)


@pytest.mark.req("LOG-16")
def test_an_empty_directory_opens_as_one_empty_segment_at_zero_made_durable(
    sim_fs: SimFilesystem, clock: ManualClock
) -> None:
    fs = CountingFs(sim_fs)
    log = reopen(fs, clock, recovery_point=0)
    assert [s.base_offset for s in log.segments] == [0] and log.log_end_offset == 0
    log.flush()
    assert fs.dir_fsyncs == [DIR]


@pytest.mark.req("LOG-17")
def test_opening_deletes_temporary_files_and_indexes_without_a_log(
    sim_fs: SimFilesystem, clock: ManualClock
) -> None:
    written(sim_fs, clock)
    for name in ("x.tmp", f"{8:020d}.index", f"{8:020d}.timeindex"):
        sim_fs.close(sim_fs.open(f"{DIR}/{name}", create=True))
    fs = CountingFs(sim_fs)
    log = reopen(fs, clock, recovery_point=6, clean=True)
    names = sim_fs.listdir(DIR)
    assert "x.tmp" not in names and f"{8:020d}.index" not in names and f"{8:020d}.timeindex" not in names
    assert f"{4:020d}.index" in names and f"{4:020d}.timeindex" in names
    log.flush()
    assert fs.dir_fsyncs == [DIR]  # the deletions are made durable


@pytest.mark.req("LOG-16")
def test_opening_without_arguments_recovers_everything_from_offset_zero(
    sim_fs: SimFilesystem, clock: ManualClock
) -> None:
    written(sim_fs, clock)
    log = Log.open(sim_fs, DIR, CONFIG, clock)
    report = log.recovery_report
    assert report is not None and report.recovered_from == 0 and not report.clean_shutdown
    assert not report.epoch_cache_rebuilt and log.recovery_point == 0


@pytest.mark.req("LOG-16")
def test_recovery_reports_why_it_cut_and_makes_the_deletions_durable(
    sim_fs: SimFilesystem, clock: ManualClock
) -> None:
    written(sim_fs, clock, count=8)
    damage(sim_fs, 2, 0)
    fs = CountingFs(sim_fs)
    log = reopen(fs, clock, recovery_point=0)
    report = log.recovery_report
    assert report is not None and report.reason is not None and "does not follow" not in report.reason
    fs.dir_fsyncs.clear()
    log.flush()
    assert fs.dir_fsyncs == [DIR]


@pytest.mark.req("LOG-13")
def test_a_flush_after_recovery_fsyncs_only_segments_below_its_target(
    sim_fs: SimFilesystem, clock: ManualClock
) -> None:
    written(sim_fs, clock)
    fs = CountingFs(sim_fs)
    log = reopen(fs, clock, recovery_point=0)
    fs.fsyncs.clear()
    log.flush(2)
    assert [p for p in fs.fsyncs if p.endswith(".log")] == [f"{DIR}/{0:020d}.log"]


@pytest.mark.req("LOG-15")
def test_a_log_reopened_after_a_clean_shutdown_has_no_directory_change_pending(
    sim_fs: SimFilesystem, clock: ManualClock
) -> None:
    written(sim_fs, clock)
    fs = CountingFs(sim_fs)
    log = reopen(fs, clock, recovery_point=6, clean=True)
    log.flush()
    assert fs.dir_fsyncs == []


@pytest.mark.req("LOG-17")
def test_a_segment_whose_indexes_are_missing_is_still_a_segment(
    sim_fs: SimFilesystem, clock: ManualClock
) -> None:
    written(sim_fs, clock)
    for suffix in (".index", ".timeindex"):
        sim_fs.delete(f"{DIR}/{4:020d}{suffix}")
    log = reopen(sim_fs, clock, recovery_point=6, clean=True)
    assert [s.base_offset for s in log.segments] == [0, 2, 4] and log.log_end_offset == 6
