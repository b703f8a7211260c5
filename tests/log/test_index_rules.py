"""Direct tests of the index rules (LOG-2, LOG-3, LOG-17), one rule per test, written for the
survivors of mutation testing (tests/MUTATION.md): each fails when its rule alone is broken."""

from __future__ import annotations

import pytest

from reflog.log.index import OFFSET_ENTRY, TIME_ENTRY, CorruptIndexError, OffsetIndex, TimeIndex
from reflog.storage.sim import SimFilesystem


@pytest.mark.req("LOG-2")
def test_offset_index_appends_must_grow_in_both_offset_and_position(sim_fs: SimFilesystem) -> None:
    index = OffsetIndex(sim_fs, "i.index", 100, 10)
    index.append(110, 50)
    for offset, position in ((110, 60), (120, 50), (105, 70), (120, 40)):
        with pytest.raises(CorruptIndexError):
            index.append(offset, position)
    index.append(111, 51)
    assert index.entries == 2


@pytest.mark.req("LOG-2")
def test_offset_index_lookup_finds_the_floor_entry_or_the_segment_start(sim_fs: SimFilesystem) -> None:
    index = OffsetIndex(sim_fs, "i.index", 100, 10)
    assert index.lookup(150) == (100, 0)  # empty: the segment's start
    index.append(110, 50)
    index.append(120, 90)
    assert index.lookup(109) == (100, 0)
    assert index.lookup(110) == (110, 50)  # the first entry itself
    assert index.lookup(119) == (110, 50)
    assert index.lookup(500) == (120, 90)


@pytest.mark.req("LOG-17")
def test_offset_index_entries_are_stored_relative_to_the_base_and_load_back(sim_fs: SimFilesystem) -> None:
    index = OffsetIndex(sim_fs, "i.index", 1000, 10)
    index.append(1010, 50)
    index.append(1020, 90)
    index.flush()
    again = OffsetIndex(sim_fs, "i.index", 1000, 10)
    again.load(log_size=200)
    assert (again.entries, again.lookup(1015), again.lookup(5000)) == (2, (1010, 50), (1020, 90))
    with pytest.raises(CorruptIndexError):  # a position beyond the log: not trusted
        OffsetIndex(sim_fs, "i.index", 1000, 10).load(log_size=90)


@pytest.mark.req("LOG-3")
def test_time_index_lookup_starts_before_the_first_entry_not_older_than_the_timestamp(
    sim_fs: SimFilesystem,
) -> None:
    index = TimeIndex(sim_fs, "t.timeindex", 100)
    assert index.lookup(5) == 100
    index.maybe_append(1000, 110)
    index.maybe_append(2000, 120)
    index.maybe_append(3000, 130)
    assert index.lookup(999) == 100 and index.lookup(1000) == 100  # the entry at 110 may hold 1000
    assert index.lookup(1001) == 110
    assert index.lookup(2500) == 120 and index.lookup(9999) == 130


@pytest.mark.req("LOG-3")
def test_time_index_gains_an_entry_only_when_the_timestamp_grows(sim_fs: SimFilesystem) -> None:
    index = TimeIndex(sim_fs, "t.timeindex", 100)
    index.maybe_append(1000, 110)
    index.maybe_append(1000, 120)
    index.maybe_append(900, 130)
    assert index.entries == 1 and index.last_timestamp == 1000


def offset_file(fs: SimFilesystem, entries: list[tuple[int, int]], base: int = 100) -> OffsetIndex:
    handle = fs.open("o.index", create=True)
    fs.truncate(handle, 0)
    fs.pwrite(handle, 0, b"".join(OFFSET_ENTRY.pack(relative, position) for relative, position in entries))
    fs.close(handle)
    return OffsetIndex(fs, "o.index", base, 10)


@pytest.mark.req("LOG-17")
def test_an_offset_index_loads_only_entries_inside_the_segment_and_strictly_increasing(
    sim_fs: SimFilesystem,
) -> None:
    good = offset_file(sim_fs, [(0, 0), (5, 40), (9, 99)])
    good.load(log_size=100)  # the first entry may sit at the base offset and position 0
    assert good.lookup(107) == (105, 40) and good.entries == 3
    empty_log = offset_file(sim_fs, [(0, 0)])
    empty_log.load(log_size=0)  # an empty log still admits position 0
    for entries in (
        [(-1, 0)],  # before the segment's base offset
        [(0, -1)],  # a negative position
        [(0, 100)],  # at the end of the log
        [(0, 0), (0, 10)],  # the same offset twice
        [(0, 10), (5, 10)],  # the same position twice
        [(5, 10), (3, 20)],  # offsets going back
    ):
        with pytest.raises(CorruptIndexError):
            offset_file(sim_fs, entries).load(log_size=100)
    handle = sim_fs.open("o.index", create=True)
    sim_fs.truncate(handle, 0)
    sim_fs.pwrite(handle, 0, b"\x00" * (OFFSET_ENTRY.size + 1))  # not a whole number of entries
    sim_fs.close(handle)
    with pytest.raises(CorruptIndexError):
        OffsetIndex(sim_fs, "o.index", 100, 10).load(log_size=100)


def time_file(fs: SimFilesystem, entries: list[tuple[int, int]], base: int = 100) -> TimeIndex:
    handle = fs.open("t.timeindex", create=True)
    fs.truncate(handle, 0)
    fs.pwrite(handle, 0, b"".join(TIME_ENTRY.pack(timestamp, relative) for timestamp, relative in entries))
    fs.close(handle)
    return TimeIndex(fs, "t.timeindex", base)


@pytest.mark.req("LOG-17")
def test_a_time_index_loads_only_growing_timestamps_at_offsets_inside_the_segment(
    sim_fs: SimFilesystem,
) -> None:
    good = time_file(sim_fs, [(1000, 0), (2000, 0), (3000, 9)])  # offsets may repeat
    good.load(next_offset=110)
    assert good.entries == 3 and good.lookup(2500) == 100 and good.lookup(3001) == 109
    assert good.last_timestamp == 3000
    time_file(sim_fs, [(1000, 0)]).load(next_offset=100)  # an empty segment admits its base offset
    for entries in (
        [(1000, -1)],  # before the base offset
        [(1000, 10)],  # at the next offset
        [(1000, 0), (1000, 1)],  # the same timestamp twice
        [(1000, 5), (2000, 4)],  # offsets going back
        [(2000, 0), (1000, 1)],  # timestamps going back
    ):
        with pytest.raises(CorruptIndexError):
            time_file(sim_fs, entries).load(next_offset=110)
    handle = sim_fs.open("t.timeindex", create=True)
    sim_fs.truncate(handle, 0)
    sim_fs.pwrite(handle, 0, b"\x00" * (TIME_ENTRY.size - 1))
    sim_fs.close(handle)
    with pytest.raises(CorruptIndexError):
        TimeIndex(sim_fs, "t.timeindex", 100).load(next_offset=110)


@pytest.mark.req("LOG-3")
def test_time_index_entries_are_stored_relative_to_the_base(sim_fs: SimFilesystem) -> None:
    index = TimeIndex(sim_fs, "r.timeindex", 1000)
    index.maybe_append(5000, 1007)
    again = TimeIndex(sim_fs, "r.timeindex", 1000)
    again.load(next_offset=1010)
    assert again.lookup(6000) == 1007
