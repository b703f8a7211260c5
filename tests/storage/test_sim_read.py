"""Read path of the simulated page cache: hits and misses, read-ahead, eviction, drop_clean."""

from __future__ import annotations

from typing import Any

import pytest

from reflog.clock import ManualClock
from reflog.storage.sim import PAGE_SIZE, SimFilesystem, WritebackPolicy


def make(**policy: Any) -> tuple[SimFilesystem, ManualClock]:
    clock = ManualClock()
    fs = SimFilesystem(clock, seed=0, policy=WritebackPolicy(**policy), trace_io=True)
    return fs, clock


def reads(fs: SimFilesystem) -> list[tuple[int, int]]:
    return [(io.first_page, io.n_pages) for io in fs.io_trace if io.kind == "read"]


def cold_file(fs: SimFilesystem, path: str, pages: int) -> None:
    """A file of ``pages`` pages (page i filled with byte i % 256), synced and not cached."""
    h = fs.open(path, create=True)
    fs.pwrite(h, 0, b"".join(bytes([i % 256]) * PAGE_SIZE for i in range(pages)))
    fs.fsync(h)
    fs.close(h)
    fs.drop_clean()
    fs.stats.reset()
    fs.io_trace.clear()


@pytest.mark.req("PGC-14")
def test_hits_and_misses_are_counted_per_page() -> None:
    fs, _ = make()
    h = fs.open("f", create=True)
    fs.pwrite(h, 0, b"a" * (3 * PAGE_SIZE))
    assert fs.pread(h, 0, 3 * PAGE_SIZE) == b"a" * (3 * PAGE_SIZE)
    assert (fs.stats.cache_hits, fs.stats.cache_misses, fs.stats.read_ios) == (3, 0, 0)
    fs.fsync(h)
    fs.drop_clean()
    fs.stats.reset()
    assert fs.pread(h, 2 * PAGE_SIZE + 5, 10) == b"a" * 10  # a random miss: one page, one I/O
    assert (fs.stats.cache_misses, fs.stats.read_ios, fs.stats.bytes_read) == (1, 1, PAGE_SIZE)
    assert fs.pread(h, 2 * PAGE_SIZE, 1) == b"a"
    assert fs.stats.cache_hits == 1


@pytest.mark.req("PGC-14")
def test_reads_never_go_past_eof() -> None:
    fs, _ = make()
    h = fs.open("f", create=True)
    fs.pwrite(h, 0, b"z" * 5000)
    fs.fsync(h)
    fs.drop_clean()
    fs.stats.reset()
    assert fs.pread(h, 0, 100) == b"z" * 100  # sequential at page 0: window of 4 pages, clipped at EOF
    assert fs.stats.bytes_read == 2 * PAGE_SIZE
    assert fs.pread(h, 4000, 10_000) == b"z" * 1000
    assert fs.pread(h, 5000, 10) == b"" and fs.pread(h, 10**6, 10) == b""
    assert fs.stats.read_ios == 1


@pytest.mark.req("PGC-15")
def test_sequential_misses_ramp_up_read_ahead() -> None:
    fs, _ = make()
    cold_file(fs, "seg", 100)
    h = fs.open("seg")
    data = b"".join(fs.pread(h, page * PAGE_SIZE, PAGE_SIZE) for page in range(100))
    assert data == b"".join(bytes([i]) * PAGE_SIZE for i in range(100))
    assert reads(fs) == [(0, 4), (4, 8), (12, 16), (28, 32), (60, 32), (92, 8)]
    assert fs.stats.cache_misses == 1 and fs.stats.cache_hits == 99
    assert fs.stats.readahead_pages == 99
    assert fs.stats.seq_read_ios == 5 and fs.stats.rand_read_ios == 1


@pytest.mark.req("PGC-15")
def test_read_ahead_window_is_capped() -> None:
    fs, _ = make(readahead_max_pages=8)
    cold_file(fs, "seg", 40)
    h = fs.open("seg")
    for page in range(40):
        fs.pread(h, page * PAGE_SIZE, PAGE_SIZE)
    assert max(n for _, n in reads(fs)) == 8


@pytest.mark.req("PGC-15")
def test_random_misses_read_only_what_was_asked() -> None:
    fs, _ = make()
    cold_file(fs, "seg", 100)
    h = fs.open("seg")
    for page in (50, 10, 80, 30, 71):
        fs.pread(h, page * PAGE_SIZE + 7, 100)
    assert reads(fs) == [(50, 1), (10, 1), (80, 1), (30, 1), (71, 1)]
    assert fs.stats.readahead_pages == 0 and fs.stats.cache_misses == 5


@pytest.mark.req("PGC-15")
def test_second_sequential_read_opens_a_window() -> None:
    fs, _ = make()
    cold_file(fs, "seg", 100)
    h = fs.open("seg")
    fs.pread(h, 50 * PAGE_SIZE, 2 * PAGE_SIZE)  # random: pages 50-51 only
    fs.pread(h, 52 * PAGE_SIZE, 2 * PAGE_SIZE)  # continues: window 4x the request
    assert reads(fs) == [(50, 2), (52, 8)]
    assert fs.stats.readahead_pages == 6


@pytest.mark.req("PGC-14", "PGC-16")
def test_tail_reader_hits_while_cold_reader_misses_and_evicts() -> None:
    fs, clock = make(memory_bytes=64 * PAGE_SIZE)
    producer = fs.open("seg", create=True)
    for _ in range(256):  # a 1 MiB segment, written back as it goes
        fs.pwrite(producer, fs.size(producer), b"p" * PAGE_SIZE)
        clock.advance(0.5)
        fs.writeback_tick()
    fs.stats.reset()
    tail = fs.open("seg")
    for page in range(240, 256):  # a caught-up consumer
        assert fs.pread(tail, page * PAGE_SIZE, PAGE_SIZE) == b"p" * PAGE_SIZE
    assert fs.stats.cache_hits == 16 and fs.stats.cache_misses == 0 and fs.stats.read_ios == 0
    cold = fs.open("seg")
    for page in range(0, 128):  # a consumer replaying from the start
        fs.pread(cold, page * PAGE_SIZE, PAGE_SIZE)
    assert fs.stats.cache_misses >= 1 and fs.stats.read_ios >= 4
    assert fs.stats.evictions_clean > 0 and fs.stats.evictions_dirty == 0
    assert fs.cached_page_count <= 64


@pytest.mark.req("PGC-16")
def test_second_access_protects_a_page_from_eviction() -> None:
    fs, _ = make(memory_bytes=16 * PAGE_SIZE, readahead_max_pages=0)
    cold_file(fs, "f", 40)
    h = fs.open("f")
    fs.pread(h, 0, 1)
    fs.pread(h, 5 * PAGE_SIZE, 1)
    fs.pread(h, 0, 1)  # second access: page 0 goes to the active list
    for page in range(10, 40):  # streaming once through 30 other pages
        fs.pread(h, page * PAGE_SIZE, 1)
    fs.stats.reset()
    fs.pread(h, 0, 1)
    assert fs.stats.cache_hits == 1
    fs.pread(h, 5 * PAGE_SIZE, 1)  # accessed once: evicted long ago
    assert fs.stats.cache_misses == 1


@pytest.mark.req("PGC-16")
def test_evicting_a_dirty_page_forces_a_random_single_page_write() -> None:
    fs, _ = make(
        memory_bytes=16 * PAGE_SIZE, dirty_background_ratio=0.9, dirty_ratio=1.0, readahead_max_pages=0
    )
    cold_file(fs, "other", 8)
    h = fs.open("f", create=True)
    for page in range(14):
        fs.pwrite(h, page * PAGE_SIZE, bytes([page]) * PAGE_SIZE)
    assert fs.stats.write_ios == 0
    o = fs.open("other")
    fs.pread(o, 0, 4 * PAGE_SIZE)  # 4 clean pages in: the two coldest dirty pages must go
    assert fs.stats.evictions_dirty == 2
    assert [(io.first_page, io.n_pages, io.sequential) for io in fs.io_trace if io.kind == "write"] == [
        (0, 1, False),
        (1, 1, False),
    ]
    assert fs.stats.rand_write_ios == 2 and fs.stats.writeback_runs == 0
    assert fs.dirty_page_count == 12
    assert fs.pread(h, 0, 2 * PAGE_SIZE) == bytes([0]) * PAGE_SIZE + bytes([1]) * PAGE_SIZE


@pytest.mark.req("PGC-17")
def test_drop_clean_never_drops_dirty_pages() -> None:
    fs, _ = make()
    h = fs.open("f", create=True)
    fs.pwrite(h, 0, b"c" * (2 * PAGE_SIZE))
    fs.fsync(h)
    fs.pwrite(h, 2 * PAGE_SIZE, b"d" * PAGE_SIZE)
    assert fs.drop_clean() == 2
    assert fs.cached_page_count == 1 and fs.dirty_page_count == 1
    fs.stats.reset()
    assert fs.pread(h, 0, 3 * PAGE_SIZE) == b"c" * (2 * PAGE_SIZE) + b"d" * PAGE_SIZE
    assert fs.stats.cache_misses == 2 and fs.stats.cache_hits == 1
