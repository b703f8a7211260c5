"""Direct tests of the log's rules for rolling, flushing, truncation, reads and the epoch cache (LOG-4,
LOG-6, LOG-10, LOG-11, LOG-12, LOG-13, LOG-23), one rule per test, written for the survivors of mutation
testing (tests/MUTATION.md): each fails when its rule alone is broken."""

from __future__ import annotations

import pytest

from reflog.clock import ManualClock
from reflog.errors import CorruptRecordError, OffsetOutOfRangeError
from reflog.log import Log, LogConfig
from reflog.log.epoch_cache import EpochEntry
from reflog.log.log import MAX_RELATIVE_OFFSET
from reflog.storage.sim import SimFilesystem
from tests.log.helpers import CountingFs, batch, values_of
from tests.records._helpers import forge_batch, raw_record

DIR = "data/t-0"
ONE = len(batch([b"x" * 100]))  # one test batch of one record


def open_log(fs: SimFilesystem | CountingFs, clock: ManualClock, **config: int) -> Log:
    return Log.open(fs, DIR, LogConfig(**config), clock)  # type: ignore[arg-type]


def put(log: Log, count: int = 1, epoch: int = 0, records: int = 1) -> None:
    for _ in range(count):
        log.append_as_leader(batch([b"x" * 100] * records if records == 1 else [b"y"] * records), epoch)


def bases(log: Log) -> list[int]:
    return [s.base_offset for s in log.segments]


# ------------------------------------------------------------------ rolling (LOG-4, LOG-23)
@pytest.mark.req("LOG-4")
def test_a_segment_rolls_only_when_the_append_would_pass_segment_bytes(
    sim_fs: SimFilesystem, clock: ManualClock
) -> None:
    log = open_log(sim_fs, clock, segment_bytes=2 * ONE)
    put(log, 2)  # exactly segment.bytes: still one segment
    assert bases(log) == [0]
    put(log)
    assert bases(log) == [0, 2]


@pytest.mark.req("LOG-4")
def test_a_segment_rolls_once_exactly_segment_ms_old(sim_fs: SimFilesystem, clock: ManualClock) -> None:
    log = open_log(sim_fs, clock, segment_ms=10_000)
    put(log)
    clock.advance(9.999)
    put(log)
    assert bases(log) == [0]
    clock.advance(0.001)
    put(log)
    assert bases(log) == [0, 2]


@pytest.mark.req("LOG-4")
def test_segment_ms_counts_from_the_first_batch_of_a_segment_opened_empty(
    sim_fs: SimFilesystem, clock: ManualClock
) -> None:
    log = open_log(sim_fs, clock, segment_ms=10_000)
    clock.advance(9.0)
    put(log)
    clock.advance(2.0)  # 11 s after the segment was opened, 2 s after its first batch
    put(log)
    assert bases(log) == [0]


def gapped(base_offset: int, last_offset_delta: int) -> bytes:
    return forge_batch(
        raw_record(offset_delta=0),
        records_count=1,
        last_offset_delta=last_offset_delta,
        base_offset=base_offset,
    )


@pytest.mark.req("LOG-23")
def test_a_batch_ending_exactly_at_the_largest_relative_offset_stays_in_the_segment(
    sim_fs: SimFilesystem, clock: ManualClock
) -> None:
    log = open_log(sim_fs, clock)
    log.append_as_follower(gapped(0, MAX_RELATIVE_OFFSET - 1))
    log.append_as_follower(gapped(MAX_RELATIVE_OFFSET, 0))  # last offset - base == 2**31 - 1
    assert bases(log) == [0]
    log.append_as_follower(gapped(MAX_RELATIVE_OFFSET + 1, 0))
    assert bases(log) == [0, MAX_RELATIVE_OFFSET + 1]


@pytest.mark.req("LOG-4", "LOG-13")
def test_a_roll_fsyncs_the_old_segment_and_an_empty_active_segment_does_not_roll(
    sim_fs: SimFilesystem, clock: ManualClock
) -> None:
    log = open_log(sim_fs, clock)
    empty = log.active_segment
    assert log.roll() is empty and bases(log) == [0]
    put(log, 3)
    rolled = log.roll()
    assert rolled is log.active_segment and bases(log) == [0, 3]
    assert log.recovery_point == 3
    assert log.roll() is rolled


# ------------------------------------------------------------------ flushing (LOG-12, LOG-13)
@pytest.mark.req("LOG-12")
def test_flush_messages_flushes_once_exactly_that_many_are_unflushed(
    sim_fs: SimFilesystem, clock: ManualClock
) -> None:
    log = open_log(sim_fs, clock, flush_messages=3)
    put(log, 2)
    assert log.recovery_point == 0 and log.unflushed_messages == 2
    put(log)
    assert log.recovery_point == 3 and log.unflushed_messages == 0


@pytest.mark.req("LOG-12")
def test_flush_ms_is_due_exactly_flush_ms_after_the_last_flush_and_only_with_unflushed_data(
    sim_fs: SimFilesystem, clock: ManualClock
) -> None:
    log = open_log(sim_fs, clock, flush_ms=1_000)
    clock.advance(5.0)
    assert log.flush_if_due() is False  # due, but nothing to flush
    put(log)
    log.flush()
    put(log)
    clock.advance(0.999)
    assert log.flush_if_due() is False and log.recovery_point == 1
    clock.advance(0.001)
    assert log.flush_if_due() is True and log.recovery_point == 2


@pytest.mark.req("LOG-13")
def test_flush_to_an_offset_moves_the_recovery_point_there_never_back_nor_past_the_end(
    sim_fs: SimFilesystem, clock: ManualClock
) -> None:
    log = open_log(sim_fs, clock)
    put(log, 4)
    log.flush(2)
    assert log.recovery_point == 2
    log.flush(1)
    assert log.recovery_point == 2
    log.flush(100)
    assert log.recovery_point == 4


@pytest.mark.req("LOG-13")
def test_flush_fsyncs_only_the_segments_holding_unflushed_data_below_the_target(
    sim_fs: SimFilesystem, clock: ManualClock
) -> None:
    fs = CountingFs(sim_fs)
    log = open_log(fs, clock, segment_bytes=2 * ONE)
    put(log, 5)  # segments 0, 2, 4; each roll flushed the segments before it
    fs.fsyncs.clear()
    fs.dir_fsyncs.clear()
    log.flush()
    assert [p for p in fs.fsyncs if p.endswith(".log")] == [f"{DIR}/00000000000000000004.log"]
    assert fs.dir_fsyncs == []  # no segment was created or deleted since the last flush
    put(log)
    fs.fsyncs.clear()
    log.flush(4)  # nothing unflushed below 4
    assert fs.fsyncs == [] and log.recovery_point == 5


@pytest.mark.req("LOG-13")
def test_a_new_log_fsyncs_its_directory_at_the_first_flush(sim_fs: SimFilesystem, clock: ManualClock) -> None:
    fs = CountingFs(sim_fs)
    log = open_log(fs, clock)
    log.flush()
    assert fs.dir_fsyncs == [DIR]
    log.flush()
    assert fs.dir_fsyncs == [DIR]


# ------------------------------------------------------------------ truncation (LOG-10)
@pytest.mark.req("LOG-10")
def test_truncating_at_a_segment_base_deletes_that_segment_and_keeps_the_one_before_whole(
    sim_fs: SimFilesystem, clock: ManualClock
) -> None:
    log = open_log(sim_fs, clock, segment_bytes=2 * ONE)
    put(log, 6)
    assert bases(log) == [0, 2, 4]
    assert log.truncate_to(2) is True
    assert bases(log) == [0] and log.log_end_offset == 2
    assert values_of(log.read_records(0, 1 << 20)) == [b"x" * 100] * 2
    assert sorted(sim_fs.listdir(DIR))[0:3] == [f"{0:020d}.index", f"{0:020d}.log", f"{0:020d}.timeindex"]
    assert not any(name.startswith(f"{2:020d}") for name in sim_fs.listdir(DIR))


@pytest.mark.req("LOG-10")
def test_truncating_inside_a_batch_removes_the_whole_batch(sim_fs: SimFilesystem, clock: ManualClock) -> None:
    log = open_log(sim_fs, clock)
    put(log, 1, records=3)
    put(log, 1, records=3)
    assert log.truncate_to(4) is True
    assert log.log_end_offset == 3


@pytest.mark.req("LOG-10", "LOG-11")
def test_truncating_at_or_past_the_end_changes_nothing_but_drops_epochs_from_there(
    sim_fs: SimFilesystem, clock: ManualClock
) -> None:
    log = open_log(sim_fs, clock)
    put(log, 2, epoch=1)
    log.epoch_cache.assign(2, 2)  # a new epoch began at the LEO, no batch yet
    log.flush()
    assert log.truncate_to(2) is False
    assert log.epoch_cache.entries == (EpochEntry(1, 0),)
    assert log.log_end_offset == 2 and log.recovery_point == 2


@pytest.mark.req("LOG-10")
def test_truncation_lowers_the_recovery_point_and_reports_it_only_when_it_was_above(
    sim_fs: SimFilesystem, clock: ManualClock
) -> None:
    lowered: list[int] = []
    log = Log.open(
        sim_fs,
        DIR,
        LogConfig(),
        clock,
        on_recovery_point_lowered=lambda changed: lowered.append(changed.recovery_point),
    )
    put(log, 4)
    log.flush(2)
    log.truncate_to(3)  # the recovery point (2) is below: unchanged
    assert lowered == [] and log.recovery_point == 2
    log.truncate_to(1)
    assert lowered == [1] and log.recovery_point == 1


@pytest.mark.req("LOG-10", "LOG-11")
def test_truncation_truncates_the_epoch_cache_at_the_new_end(
    sim_fs: SimFilesystem, clock: ManualClock
) -> None:
    log = open_log(sim_fs, clock)
    put(log, 2, epoch=1)
    put(log, 2, epoch=3)
    log.truncate_to(3)
    assert log.epoch_cache.entries == (EpochEntry(1, 0), EpochEntry(3, 2))
    log.truncate_to(2)
    assert log.epoch_cache.entries == (EpochEntry(1, 0),)


@pytest.mark.req("LOG-10")
def test_a_full_truncation_restarts_the_log_empty_at_the_offset_without_epochs(
    sim_fs: SimFilesystem, clock: ManualClock
) -> None:
    lowered: list[int] = []
    log = Log.open(
        sim_fs,
        DIR,
        LogConfig(segment_bytes=2 * ONE),
        clock,
        on_recovery_point_lowered=lambda changed: lowered.append(changed.recovery_point),
    )
    put(log, 5, epoch=2)
    log.flush()
    log.truncate_fully_and_start_at(20)
    assert bases(log) == [20] and log.log_start_offset == log.log_end_offset == 20
    assert log.epoch_cache.entries == () and log.recovery_point == 20 and lowered == [20]
    assert sorted(n for n in sim_fs.listdir(DIR) if n.endswith(".log")) == [f"{20:020d}.log"]
    log.truncate_fully_and_start_at(20)  # the recovery point is already there: not reported again
    assert lowered == [20]
    put(log)
    assert log.log_end_offset == 21


# ------------------------------------------------------------------ reads (LOG-6, LOG-8)
@pytest.mark.req("LOG-6")
def test_a_read_starts_at_the_batch_holding_the_offset_and_reports_the_log_bounds(
    sim_fs: SimFilesystem, clock: ManualClock
) -> None:
    log = open_log(sim_fs, clock)
    put(log, 1, records=3)
    put(log, 1, records=3)
    fetched = log.read(4, 1 << 20)
    assert fetched.region is not None and fetched.region.first_offset == 3
    assert (fetched.fetch_offset, fetched.log_start_offset, fetched.log_end_offset) == (4, 0, 6)
    assert values_of(fetched.records or b"") == [b"y"] * 3


@pytest.mark.req("LOG-6")
def test_a_read_holds_nothing_at_or_above_max_offset(sim_fs: SimFilesystem, clock: ManualClock) -> None:
    log = open_log(sim_fs, clock)
    put(log, 1, records=3)
    put(log, 1, records=3)
    assert len(values_of(log.read_records(0, 1 << 20, max_offset=5))) == 3  # batch 3..5 reaches 5
    assert log.read(3, 1 << 20, max_offset=5).region is None
    assert log.read(3, 1 << 20, max_offset=3).region is None
    assert log.read_records(6, 1 << 20) == b""  # at the log end
    assert len(values_of(log.read_records(3, 1 << 20, max_offset=100))) == 3


@pytest.mark.req("LOG-8")
def test_a_read_past_the_end_or_before_the_start_is_out_of_range(
    sim_fs: SimFilesystem, clock: ManualClock
) -> None:
    log = open_log(sim_fs, clock)
    log.truncate_fully_and_start_at(10)
    put(log, 2)
    for offset in (9, 13):
        with pytest.raises(OffsetOutOfRangeError):
            log.read(offset, 1 << 20)
    assert log.read(10, 1).size == ONE
    assert log.read(12, 1 << 20).size == 0


@pytest.mark.req("LOG-6")
def test_a_read_at_a_segment_base_is_served_from_that_segment(
    sim_fs: SimFilesystem, clock: ManualClock
) -> None:
    log = open_log(sim_fs, clock, segment_bytes=2 * ONE)
    put(log, 5)
    for offset in range(5):
        fetched = log.read(offset, ONE)
        assert fetched.region is not None and fetched.region.first_offset == offset
        assert fetched.region.handle is log.segments[offset // 2].handle


@pytest.mark.req("LOG-6")
def test_an_unverified_read_returns_the_region_without_its_bytes(
    sim_fs: SimFilesystem, clock: ManualClock
) -> None:
    log = open_log(sim_fs, clock)
    put(log, 2)
    fetched = log.read(0, 1 << 20, verify=False)
    assert fetched.records is None and fetched.region is not None and fetched.size == 2 * ONE
    in_place = log.read(0, 1 << 20, in_place=True)
    assert in_place.records is None and in_place.in_place is not None


# ------------------------------------------------------------------ epoch cache (LOG-11)
@pytest.mark.req("LOG-11")
def test_an_append_starts_an_epoch_only_when_its_epoch_is_newer(
    sim_fs: SimFilesystem, clock: ManualClock
) -> None:
    log = open_log(sim_fs, clock)
    put(log, 2, epoch=1)
    put(log, 1, epoch=3)
    assert log.epoch_cache.entries == (EpochEntry(1, 0), EpochEntry(3, 2))
    log.append_as_follower(batch([b"old"], epoch=2, base_offset=3))  # an older epoch is no new entry
    assert log.epoch_cache.entries == (EpochEntry(1, 0), EpochEntry(3, 2))


# ------------------------------------------------------------------ appends (LOG-9)
def forged(base_offset: int = 0) -> bytes:
    """A batch whose CRC and header are right but whose one record's length is wrong."""
    return forge_batch(raw_record(length_adjust=-1), records_count=1, base_offset=base_offset)


@pytest.mark.req("LOG-9")
def test_a_leader_append_decodes_every_record_unless_told_it_was_validated(
    sim_fs: SimFilesystem, clock: ManualClock
) -> None:
    log = open_log(sim_fs, clock)
    with pytest.raises(CorruptRecordError):
        log.append_as_leader(forged(), 0)
    assert log.log_end_offset == 0


@pytest.mark.req("LOG-9")
def test_a_follower_append_checks_only_crcs_and_contiguity_not_records_or_size(
    sim_fs: SimFilesystem, clock: ManualClock
) -> None:
    log = open_log(sim_fs, clock, max_message_bytes=50)
    log.append_as_follower(forged(0))  # the leader accepted it: no record walk, no size limit
    log.append_as_follower(batch([b"x" * 100], base_offset=1) + batch([b"y"], base_offset=2))
    assert log.log_end_offset == 3
    with pytest.raises(CorruptRecordError):
        log.append_as_follower(batch([b"z"], base_offset=3) + batch([b"w"], base_offset=3))
    assert log.log_end_offset == 3


# ------------------------------------------------------------------ more boundaries, for the second pass
@pytest.mark.req("LOG-9")
def test_a_batch_of_exactly_max_message_bytes_is_accepted(sim_fs: SimFilesystem, clock: ManualClock) -> None:
    log = open_log(sim_fs, clock, max_message_bytes=ONE)
    info = log.append_as_leader(batch([b"x" * 100]), 0)
    assert info.record_count == 1 and log.log_end_offset == 1


@pytest.mark.req("LOG-9")
def test_every_batch_of_a_leader_append_is_decoded_not_only_the_first(
    sim_fs: SimFilesystem, clock: ManualClock
) -> None:
    log = open_log(sim_fs, clock)
    with pytest.raises(CorruptRecordError):
        log.append_as_leader(batch([b"ok"]) + forged(1), 0)
    assert log.log_end_offset == 0


@pytest.mark.req("LOG-9")
def test_an_append_reports_the_records_of_all_its_batches(sim_fs: SimFilesystem, clock: ManualClock) -> None:
    log = open_log(sim_fs, clock)
    info = log.append_as_follower(batch([b"a", b"b"], base_offset=0) + batch([b"c"], base_offset=2))
    assert (info.first_offset, info.last_offset, info.record_count, info.batch_count) == (0, 2, 3, 2)


@pytest.mark.req("LOG-12")
def test_flush_ms_compares_milliseconds_exactly(sim_fs: SimFilesystem, clock: ManualClock) -> None:
    log = open_log(sim_fs, clock, flush_ms=1_000_000)
    put(log)
    clock.advance(999.5)
    assert log.flush_if_due() is False


@pytest.mark.req("LOG-13")
def test_a_second_flush_to_the_same_offset_fsyncs_nothing(sim_fs: SimFilesystem, clock: ManualClock) -> None:
    fs = CountingFs(sim_fs)
    log = open_log(fs, clock)
    put(log, 3)
    log.flush(2)
    fs.fsyncs.clear()
    log.flush(2)
    assert fs.fsyncs == [] and log.recovery_point == 2


@pytest.mark.req("LOG-10")
def test_deleting_segments_in_a_truncation_fsyncs_the_directory_before_returning(
    sim_fs: SimFilesystem, clock: ManualClock
) -> None:
    fs = CountingFs(sim_fs)
    log = open_log(fs, clock, segment_bytes=2 * ONE)
    put(log, 6, epoch=-1)  # no epoch entries: the epoch checkpoint's own directory fsyncs stay out
    log.flush()
    fs.dir_fsyncs.clear()
    log.truncate_to(3)
    assert fs.dir_fsyncs.count(DIR) >= 1  # (the epoch checkpoint, rewritten, fsyncs it too)
    fs.dir_fsyncs.clear()
    put(log, epoch=-1)
    log.flush()
    assert fs.dir_fsyncs == []  # the truncation left no directory change pending


@pytest.mark.req("LOG-10")
def test_after_a_truncation_below_the_log_start_reads_and_appends_work_at_the_new_start(
    sim_fs: SimFilesystem, clock: ManualClock
) -> None:
    fs = CountingFs(sim_fs)
    log = open_log(fs, clock)
    log.truncate_fully_and_start_at(10)
    put(log, 2, epoch=-1)
    log.flush()
    fs.dir_fsyncs.clear()
    log.truncate_to(5)
    assert fs.dir_fsyncs == [DIR] and bases(log) == [5]
    put(log, 2, epoch=-1)
    assert log.read(6, ONE).size == ONE
    log.flush()
    assert fs.dir_fsyncs == [DIR]


@pytest.mark.req("LOG-10")
def test_a_truncation_to_the_recovery_point_does_not_report_it_lowered(
    sim_fs: SimFilesystem, clock: ManualClock
) -> None:
    lowered: list[int] = []
    log = Log.open(
        sim_fs,
        DIR,
        LogConfig(),
        clock,
        on_recovery_point_lowered=lambda changed: lowered.append(changed.recovery_point),
    )
    put(log, 4)
    log.flush(2)
    log.truncate_to(2)
    assert lowered == [] and log.recovery_point == 2 == log.log_end_offset


@pytest.mark.req("LOG-10")
def test_truncating_a_one_segment_log_to_its_start_empties_it(
    sim_fs: SimFilesystem, clock: ManualClock
) -> None:
    log = open_log(sim_fs, clock)
    put(log, 3)
    assert log.truncate_to(0) is True
    assert log.log_end_offset == 0 and log.active_segment.size == 0
    put(log)
    assert log.log_end_offset == 1


@pytest.mark.req("LOG-10")
def test_a_full_truncation_leaves_no_directory_change_pending(
    sim_fs: SimFilesystem, clock: ManualClock
) -> None:
    fs = CountingFs(sim_fs)
    log = open_log(fs, clock)
    put(log, 2)
    log.flush()
    log.truncate_fully_and_start_at(7)
    put(log)
    fs.dir_fsyncs.clear()
    log.flush()
    assert fs.dir_fsyncs == []


@pytest.mark.req("LOG-6")
def test_an_empty_read_and_an_in_place_read_carry_the_fetch_offset_and_log_bounds(
    sim_fs: SimFilesystem, clock: ManualClock
) -> None:
    log = open_log(sim_fs, clock)
    log.truncate_fully_and_start_at(10)
    put(log, 2)
    empty = log.read(12, 1 << 20)
    assert (empty.fetch_offset, empty.region, empty.log_start_offset, empty.log_end_offset) == (
        12,
        None,
        10,
        12,
    )
    viewed = log.read(11, 1 << 20, in_place=True)
    assert (viewed.fetch_offset, viewed.log_start_offset, viewed.log_end_offset) == (11, 10, 12)
    assert viewed.region is not None and viewed.region.first_offset == 11


@pytest.mark.req("LOG-25")
def test_offset_for_timestamp_matches_a_max_timestamp_equal_to_the_target(
    sim_fs: SimFilesystem, clock: ManualClock
) -> None:
    log = open_log(sim_fs, clock, segment_bytes=3 * ONE)
    for ts in (10, 20, 30, 40):  # segments [0, 1, 2] and [3]
        log.append_as_leader(batch([b"x" * 100], timestamp=ts), 0)
    assert log.offset_for_timestamp(30) == (30, 2, 0)  # the first segment's max timestamp is 30
    assert log.offset_for_timestamp(20) == (20, 1, 0)  # batch 1's max timestamp is 20
    assert log.offset_for_timestamp(15) == (20, 1, 0)  # batch 0 (10) is skipped, not the end


@pytest.mark.req("LOG-4")
def test_segment_index_bytes_is_rounded_down_to_whole_entries(
    sim_fs: SimFilesystem, clock: ManualClock
) -> None:
    log = open_log(sim_fs, clock, segment_index_bytes=12, index_interval_bytes=0)  # room for one entry
    put(log, 3)  # batch 1 takes it (nothing was written before batch 0), so batch 2 rolls
    assert bases(log) == [0, 2]


@pytest.mark.req("LOG-1")
def test_batch_headers_walk_every_batch_of_every_segment(sim_fs: SimFilesystem, clock: ManualClock) -> None:
    log = open_log(sim_fs, clock, segment_bytes=2 * ONE)
    put(log, 3)
    assert [h.base_offset for h in log.batch_headers()] == [0, 1, 2]
