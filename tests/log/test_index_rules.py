"""Direct tests of the index rules (LOG-2, LOG-3, LOG-17), one rule per test, written for the
survivors of mutation testing (tests/MUTATION.md): each fails when its rule alone is broken."""

from __future__ import annotations

import pytest

from reflog.log.index import CorruptIndexError, OffsetIndex, TimeIndex
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
