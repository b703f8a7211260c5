"""The storage sections of ``reflog bench`` measure what they claim (PERF-20..PERF-22).

Speed is not asserted; what is checked is each section's logic: the simulated ones are
deterministic, so their contrasts can be asserted exactly.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from reflog.bench.settings import BenchSettings, no_progress
from reflog.bench.storage import append_section, page_cache_section, writeback_section


@pytest.mark.req("PERF-20")
def test_the_append_section_times_leader_follower_and_raw_writes_and_cleans_up(tmp_path: Path) -> None:
    section = append_section(BenchSettings(quick=True, directory=str(tmp_path)), no_progress)
    keys = {f.key for f in section.figures}
    assert keys == {"raw_1", "log_1", "follower_1", "raw_16", "log_16", "follower_16"}
    for fig in section.figures:
        assert fig.value > 0
        assert (fig.ratio is None) == fig.key.startswith("raw")
    assert section.figure("log_1").target is not None
    assert list(tmp_path.iterdir()) == []


@pytest.mark.req("PERF-21")
def test_write_back_coalesces_small_appends_that_flush_messages_1_writes_one_by_one(tmp_path: Path) -> None:
    section = writeback_section(BenchSettings(quick=True, directory=str(tmp_path)), no_progress)
    writeback, flushed = section.figure("writeback_1_ios"), section.figure("flush_1_ios")
    assert flushed.ratio is not None and flushed.ratio > 100  # hundreds of times more device writes
    assert section.figure("writeback_1_per_io").value > 100 > 1 > section.figure("flush_1_per_io").value
    assert section.figure("writeback_1_seq").value > section.figure("flush_1_seq").value
    assert section.figure("writeback_16_ios").value > writeback.value  # 16 dirty files: more, smaller runs
    again = writeback_section(BenchSettings(quick=True, directory=str(tmp_path)), no_progress)
    assert [f.value for f in again.figures] == [f.value for f in section.figures]  # simulated: exact


@pytest.mark.req("PERF-22")
def test_a_lagging_consumer_evicts_the_tail_consumers_pages(tmp_path: Path) -> None:
    section = page_cache_section(BenchSettings(quick=True, directory=str(tmp_path)), no_progress)
    alone, mixed = section.figure("tail_alone"), section.figure("tail_with_lagger")
    assert alone.value == 1.0
    assert mixed.ratio is not None and mixed.ratio < 0.8
    assert section.figure("lagger").value < 0.5  # the lagger reads cold history from the device
