"""Direct tests of one segment's rules (LOG-2, LOG-6, LOG-10, LOG-16, LOG-17), one rule per test, written
for the survivors of mutation testing (tests/MUTATION.md): each fails when its rule alone is broken."""

from __future__ import annotations

import pytest

from reflog.clock import ManualClock
from reflog.errors import CorruptRecordError
from reflog.log import LogConfig
from reflog.log.segment import LogSegment
from reflog.records import BATCH_HEADER_SIZE, BatchHeader, parse_header
from reflog.storage.sim import SimFilesystem
from tests.log.helpers import batch

DIR = "d"


def segment(fs: SimFilesystem, base: int = 0, **config: int) -> LogSegment:
    fs.makedirs(DIR)
    return LogSegment(fs, DIR, base, LogConfig(**config), 0.0)


def put(seg: LogSegment, raw: bytes, now: float = 0.0) -> BatchHeader:
    header = parse_header(raw)
    seg.append(raw, header, now)
    return header


def three(seg: LogSegment, base: int = 0) -> list[BatchHeader]:
    """Batches of 2 records each at ``base``, ``base+2``, ``base+4``, timestamps 10, 30, 20."""
    return [
        put(seg, batch([b"a" * 50, b"b"], base_offset=base + 2 * i, timestamp=ts))
        for i, ts in enumerate((10, 30, 20))
    ]


@pytest.mark.req("LOG-16")
def test_recovery_keeps_valid_batches_and_cuts_at_a_base_offset_that_goes_back(
    sim_fs: SimFilesystem,
) -> None:
    seg = segment(sim_fs)
    headers = three(seg)
    seg.fs.pwrite(seg.handle, seg.size, batch([b"x"], base_offset=5))  # 6 or above expected
    seg.size = total = seg.fs.size(seg.handle)
    seen: list[int] = []
    outcome = seg.recover(0, lambda h: seen.append(h.base_offset))
    valid = sum(h.size for h in headers)
    assert outcome.valid_bytes == valid and outcome.truncated_bytes == total - valid
    assert seg.fs.size(seg.handle) == valid
    assert outcome.reason is not None and "base offset 5, expected 6 or above" in outcome.reason
    assert seen == [0, 2, 4] and seg.size == valid and seg.next_offset == 6 and seg.max_timestamp == 30


@pytest.mark.req("LOG-16", "LOG-34")
def test_recovery_keeps_a_batch_after_a_gap_as_compaction_leaves_them(sim_fs: SimFilesystem) -> None:
    seg = segment(sim_fs)
    headers = three(seg)
    seg.fs.pwrite(seg.handle, seg.size, batch([b"x"], base_offset=9))  # offsets 6..8 compacted away
    seg.size = total = seg.fs.size(seg.handle)
    outcome = seg.recover(0, lambda h: None)
    assert outcome.valid_bytes == total and outcome.reason is None and len(headers) == 3
    assert seg.next_offset == 10


@pytest.mark.req("LOG-16")
def test_recovery_cuts_at_a_crc_mismatch_and_reports_the_bytes_removed(sim_fs: SimFilesystem) -> None:
    seg = segment(sim_fs)
    headers = three(seg)
    second = headers[0].size
    seg.fs.pwrite(seg.handle, second + BATCH_HEADER_SIZE + 3, b"\xff")  # a record byte of batch 2
    outcome = seg.recover(0, lambda h: None)
    assert outcome.valid_bytes == second
    assert outcome.truncated_bytes == headers[1].size + headers[2].size
    assert outcome.reason is not None and seg.size == second == seg.fs.size(seg.handle)
    assert seg.next_offset == 2


@pytest.mark.req("LOG-16")
def test_recovery_checks_the_first_batch_against_the_expected_base(sim_fs: SimFilesystem) -> None:
    seg = segment(sim_fs, base=10)
    three(seg, base=10)
    outcome = seg.recover(12, lambda h: None)  # the previous segment ended at 12
    assert outcome.valid_bytes == 0 and seg.size == 0 and seg.next_offset == 10


@pytest.mark.req("LOG-16")
def test_recovery_cuts_a_torn_header_and_a_batch_running_past_the_end(sim_fs: SimFilesystem) -> None:
    seg = segment(sim_fs)
    headers = three(seg)
    first = headers[0].size
    seg.fs.truncate(seg.handle, first + BATCH_HEADER_SIZE - 1)  # batch 2's header cut short
    seg.size = first + BATCH_HEADER_SIZE - 1
    outcome = seg.recover(0, lambda h: None)
    assert (outcome.valid_bytes, outcome.truncated_bytes) == (first, BATCH_HEADER_SIZE - 1)
    assert outcome.reason is not None and "truncated batch header" in outcome.reason
    seg.fs.pwrite(seg.handle, first, batch([b"y" * 40], base_offset=2)[:-1])  # one byte short
    seg.size = seg.fs.size(seg.handle)
    outcome = seg.recover(0, lambda h: None)
    assert (
        outcome.valid_bytes == first and outcome.reason is not None and "runs past the end" in outcome.reason
    )


@pytest.mark.req("LOG-16")
def test_recovery_rebuilds_the_offset_index(sim_fs: SimFilesystem) -> None:
    seg = segment(sim_fs, index_interval_bytes=1)
    headers = three(seg)
    seg.offset_index.truncate_to(0)
    assert seg.offset_index.entries == 0
    seg.recover(0, lambda h: None)
    assert seg.offset_index.entries == 2  # batches 2 and 3: nothing was written before the first
    assert seg.offset_index.lookup(5) == (5, headers[0].size + headers[1].size)


@pytest.mark.req("LOG-2")
def test_an_index_entry_is_added_only_once_more_than_the_interval_was_written(sim_fs: SimFilesystem) -> None:
    one = len(batch([b"a" * 50, b"b"]))
    seg = segment(sim_fs, index_interval_bytes=2 * one)
    three(seg)
    assert seg.offset_index.entries == 0  # 2 * one written before batch 3: not past the interval
    put(seg, batch([b"a" * 50, b"b"], base_offset=6, timestamp=25))
    # Kafka's LogSegment.append: the entry is the first batch written after more than the interval.
    assert seg.offset_index.entries == 1
    assert seg.offset_index.lookup(100) == (7, 3 * one)
    assert seg.time_index.last_timestamp == 30  # and the time index entry beside it (max so far)


@pytest.mark.req("LOG-4")
def test_a_segment_created_empty_counts_its_age_from_its_first_batch(sim_fs: SimFilesystem) -> None:
    seg = segment(sim_fs)
    put(seg, batch([b"a"]), now=50.0)
    assert seg.created_at == 50.0
    put(seg, batch([b"b"], base_offset=1), now=60.0)
    assert seg.created_at == 50.0


@pytest.mark.req("LOG-2")
def test_find_returns_the_batch_holding_the_offset_and_none_at_the_end(sim_fs: SimFilesystem) -> None:
    seg = segment(sim_fs, base=100, index_interval_bytes=1)
    headers = three(seg, base=100)
    found = seg.find(103)
    assert found is not None and found.header.base_offset == 102 and found.position == headers[0].size
    found = seg.find(102)
    assert found is not None and found.header.base_offset == 102
    assert seg.find(106) is None


@pytest.mark.req("LOG-17")
def test_find_rebuilds_an_index_entry_that_does_not_match_the_log(sim_fs: SimFilesystem) -> None:
    seg = segment(sim_fs, index_interval_bytes=1)
    headers = three(seg)
    seg.offset_index.truncate_to(0)
    seg.offset_index.append(2, headers[0].size)  # batch 2 ends at offset 3, not 2
    found = seg.find(4)
    assert found is not None and found.header.base_offset == 4
    assert seg.offset_index.entries == 2  # rebuilt from the log


@pytest.mark.req("LOG-17")
def test_load_rebuilds_indexes_whose_last_entry_does_not_match_the_log(sim_fs: SimFilesystem) -> None:
    seg = segment(sim_fs, index_interval_bytes=1)
    headers = three(seg)
    seg.offset_index.truncate_to(0)
    seg.offset_index.append(2, headers[0].size)  # batch 2 ends at 3, not 2
    seg.next_offset = 0
    seg.load()
    assert seg.offset_index.entries == 2 and seg.next_offset == 6 and seg.max_timestamp == 30


@pytest.mark.req("LOG-17")
def test_load_finds_the_next_offset_and_max_timestamp_from_the_last_entry(sim_fs: SimFilesystem) -> None:
    seg = segment(sim_fs, index_interval_bytes=1)
    three(seg)
    seg.flush()
    seg.close()
    again = LogSegment(sim_fs, DIR, 0, LogConfig(index_interval_bytes=1), 0.0)
    again.load()
    assert (again.next_offset, again.max_timestamp, again.offset_index.entries) == (6, 30, 2)


@pytest.mark.req("LOG-10")
def test_truncate_inside_a_batch_removes_that_whole_batch_and_recomputes_the_tail(
    sim_fs: SimFilesystem,
) -> None:
    seg = segment(sim_fs, index_interval_bytes=1)
    headers = three(seg)
    removed = seg.truncate_to(3)
    assert removed == headers[1].size + headers[2].size
    assert seg.size == headers[0].size == seg.fs.size(seg.handle)
    assert (seg.next_offset, seg.max_timestamp, seg.offset_index.entries) == (2, 10, 0)
    assert seg.truncate_to(2) == 0  # at the end: nothing to remove
    assert seg.time_index.last_timestamp is None  # no time index entry survives above the cut


@pytest.mark.req("LOG-10")
def test_a_truncation_restarts_the_index_interval_from_zero(sim_fs: SimFilesystem) -> None:
    one = len(batch([b"a" * 50, b"b"]))
    seg = segment(sim_fs, index_interval_bytes=one)  # exactly one batch: a single byte more counts
    three(seg)  # entry at batch 3 (2 * one written before it); batch 3 counted since
    assert seg.offset_index.entries == 1
    seg.truncate_to(6)  # at the end: nothing cut, and still the interval restarts (Kafka's truncateTo)
    put(seg, batch([b"a" * 50, b"b"], base_offset=6))
    put(seg, batch([b"a" * 50, b"b"], base_offset=8))
    assert seg.offset_index.entries == 1  # one written before batch 5 since the truncation
    put(seg, batch([b"a" * 50, b"b"], base_offset=10))
    assert seg.offset_index.entries == 2


@pytest.mark.req("LOG-17")
def test_read_header_is_none_at_the_end_and_an_error_for_a_torn_or_overlong_batch(
    sim_fs: SimFilesystem,
) -> None:
    seg = segment(sim_fs)
    headers = three(seg)
    assert seg.read_header(seg.size) is None
    seg.size -= 1
    with pytest.raises(CorruptRecordError, match="runs past the end"):
        seg.read_header(headers[0].size + headers[1].size)
    seg.size = headers[0].size + BATCH_HEADER_SIZE - 1
    with pytest.raises(CorruptRecordError, match="truncated batch header"):
        seg.read_header(headers[0].size)


@pytest.mark.req("LOG-6")
def test_a_region_holds_whole_batches_up_to_exactly_max_bytes(sim_fs: SimFilesystem) -> None:
    seg = segment(sim_fs)
    headers = three(seg)
    one, two = headers[0].size, headers[0].size + headers[1].size
    assert seg.region_for(0, two, 100) == (0, two, 0)
    assert seg.region_for(0, two - 1, 100) == (0, one, 0)
    assert seg.region_for(3, 1, 100) == (one, headers[1].size, 2)  # the first batch even when larger


@pytest.mark.req("LOG-6")
def test_a_region_stops_before_the_batch_reaching_max_offset(sim_fs: SimFilesystem) -> None:
    seg = segment(sim_fs)
    headers = three(seg)
    assert seg.region_for(0, 1 << 20, 4) == (0, headers[0].size + headers[1].size, 0)
    assert seg.region_for(0, 1 << 20, 3) == (0, headers[0].size, 0)  # batch 2 ends at 3: left out
    assert seg.region_for(2, 1 << 20, 3) is None
    assert seg.region_for(4, 1 << 20, 4) is None
    assert seg.region_for(6, 1 << 20, 100) is None


@pytest.mark.req("LOG-1")
def test_delete_files_removes_the_log_and_both_indexes(sim_fs: SimFilesystem, clock: ManualClock) -> None:
    seg = segment(sim_fs, base=42, index_interval_bytes=1)
    three(seg, base=42)
    seg.flush()
    names = sorted(sim_fs.listdir(DIR))
    assert names == [
        "00000000000000000042.index",
        "00000000000000000042.log",
        "00000000000000000042.timeindex",
    ]
    seg.delete_files()
    assert sim_fs.listdir(DIR) == []


def entries_after(seg: LogSegment, count: int) -> int:
    return entries_after_more(seg, 0, count)


def entries_after_more(seg: LogSegment, already: int, count: int) -> int:
    """Append ``count`` more two-record batches after the first ``already``; the index entries."""
    for i in range(already, already + count):
        put(seg, batch([b"a" * 50, b"b"], base_offset=2 * i))
    return seg.offset_index.entries


@pytest.mark.req("LOG-2")
def test_the_index_interval_restarts_from_zero_after_each_entry(sim_fs: SimFilesystem) -> None:
    one = len(batch([b"a" * 50, b"b"]))
    seg = segment(sim_fs, index_interval_bytes=2 * one)
    # Entries at batches 4 and 7 (3 * one before each), the entry's own batch counted after it.
    assert entries_after(seg, 6) == 1
    assert entries_after_more(seg, 6, 1) == 2
    assert entries_after_more(seg, 7, 1) == 2  # 2 * one since batch 7 is not past the interval


@pytest.mark.req("LOG-2", "LOG-10", "LOG-17")
def test_a_reopened_segment_restarts_the_index_interval_from_zero(sim_fs: SimFilesystem) -> None:
    one = len(batch([b"a" * 50, b"b"]))
    config = LogConfig(index_interval_bytes=one)  # exactly one batch: a single byte more counts
    seg = segment(sim_fs, index_interval_bytes=one)
    assert entries_after(seg, 3) == 1  # batch 3; batch 3's bytes counted since
    seg.flush()
    seg.close()
    again = LogSegment(sim_fs, DIR, 0, config, 0.0)
    again.load()  # Kafka opens a segment with bytesSinceLastIndexEntry 0
    assert entries_after_more(again, 3, 2) == 1
    assert entries_after_more(again, 5, 1) == 2


@pytest.mark.req("LOG-17")
def test_rebuilt_and_recovered_indexes_restart_the_interval_from_zero(sim_fs: SimFilesystem) -> None:
    one = len(batch([b"a" * 50, b"b"]))
    seg = segment(sim_fs, index_interval_bytes=2 * one)
    entries_after(seg, 2)
    seg.rebuild_indexes()
    assert seg.offset_index.entries == 0 and seg.next_offset == 4
    seg.recover(0, lambda h: None)
    assert seg.offset_index.entries == 0 and seg.next_offset == 4


@pytest.mark.req("LOG-17")
def test_an_index_of_an_empty_log_is_rebuilt_to_nothing(sim_fs: SimFilesystem) -> None:
    seg = segment(sim_fs, base=5, index_interval_bytes=1)
    put(seg, batch([b"a"], base_offset=5))
    seg.flush()
    seg.fs.truncate(seg.handle, 0)
    seg.close()
    again = LogSegment(sim_fs, DIR, 5, LogConfig(index_interval_bytes=1), 0.0)
    again.load()
    assert again.next_offset == 5 and again.offset_index.entries == 0


@pytest.mark.req("LOG-10")
def test_truncating_a_segment_to_its_base_empties_it(sim_fs: SimFilesystem) -> None:
    seg = segment(sim_fs, base=8)
    three(seg, base=8)
    seg.truncate_to(8)
    assert (seg.size, seg.next_offset, seg.max_timestamp) == (0, 8, -1)
