"""Write path of the simulated page cache: dirtying, write-back runs, triggers, throttling, fsync."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import pytest

from reflog.clock import ManualClock
from reflog.errors import ReflogUsageError
from reflog.storage.sim import PAGE_SIZE, SECTOR_SIZE, SimFilesystem, WritebackPolicy

KiB = 1024
MiB = 1024 * KiB


def make(seed: int = 0, **policy: Any) -> tuple[SimFilesystem, ManualClock]:
    clock = ManualClock()
    fs = SimFilesystem(clock, seed=seed, policy=WritebackPolicy(**policy), trace_io=True)
    return fs, clock


def small(**policy: Any) -> tuple[SimFilesystem, ManualClock]:
    """400 pages of memory: background 40, freerun 60, hard 80 pages."""
    return make(memory_bytes=400 * PAGE_SIZE, **policy)


def writes(fs: SimFilesystem) -> list[tuple[int, int, bool]]:
    return [(io.first_page, io.n_pages, io.sequential) for io in fs.io_trace if io.kind == "write"]


@pytest.mark.req("PGC-3")
def test_policy_defaults_follow_linux_and_are_validated() -> None:
    p = WritebackPolicy()
    assert (PAGE_SIZE, SECTOR_SIZE) == (4096, 512)
    assert p.memory_bytes == 64 * MiB and p.memory_pages == 16384
    assert (p.dirty_background_ratio, p.dirty_ratio) == (0.10, 0.20)
    assert (p.background_pages, p.hard_pages, p.freerun_pages) == (1638, 3276, 2457)
    assert (p.dirty_expire_s, p.dirty_writeback_interval_s, p.max_pause_s) == (30.0, 5.0, 0.2)
    assert (p.max_run_pages, p.writeback_order, p.readahead_max_pages) == (256, "cyclic", 32)
    assert p.device_volatile_cache and p.after_eio == "clean_keep_new"
    override = WritebackPolicy(dirty_background_bytes=1 * MiB, dirty_bytes=2 * MiB)
    assert (override.background_pages, override.hard_pages) == (256, 512)
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.dirty_ratio = 0.5  # type: ignore[misc]
    for bad in (
        {"dirty_background_ratio": 0.3, "dirty_ratio": 0.2},
        {"dirty_ratio": 0.0},
        {"memory_bytes": PAGE_SIZE},
        {"max_run_pages": 0},
        {"writeback_order": "sideways"},
        {"after_eio": "shrug"},
        {"dirty_expire_s": -1.0},
    ):
        with pytest.raises(ReflogUsageError):
            WritebackPolicy(**bad)


@pytest.mark.req("PGC-3")
def test_cache_never_exceeds_memory() -> None:
    fs, clock = make(memory_bytes=64 * PAGE_SIZE)
    h = fs.open("f", create=True)
    for i in range(300):
        fs.pwrite(h, i * 1000, b"x" * 1000)
        assert fs.cached_page_count <= 64
        if i % 20 == 0:
            clock.advance(1)
            fs.writeback_tick()
    assert fs.visible_bytes("f") == b"x" * 300_000


@pytest.mark.req("PGC-4")
def test_pwrite_dirties_pages_and_does_no_device_io() -> None:
    fs, clock = make()
    h = fs.open("f", create=True)
    fs.pwrite(h, 0, b"a" * 10_000)
    assert fs.stats.write_ios == 0 and fs.stats.read_ios == 0
    assert fs.dirty_page_count == 3 and fs.stats.pages_dirtied == 3
    clock.advance(1)
    fs.pwrite(h, 100, b"b" * 5000)  # pages 0 and 1 are dirty already
    assert fs.stats.pages_dirtied == 3
    assert fs.size(h) == 10_000


@pytest.mark.req("PGC-4", "PGC-5")
def test_writing_past_end_leaves_a_zero_gap() -> None:
    fs, _ = make()
    h = fs.open("f", create=True)
    fs.pwrite(h, 0, b"head")
    fs.pwrite(h, 3 * PAGE_SIZE + 7, b"tail")
    assert fs.size(h) == 3 * PAGE_SIZE + 11
    assert fs.pread(h, 0, 10**6) == b"head" + bytes(3 * PAGE_SIZE + 3) + b"tail"


@pytest.mark.req("PGC-4")
def test_partial_write_of_uncached_page_below_eof_is_a_read_modify_write() -> None:
    fs, _ = make()
    h = fs.open("f", create=True)
    fs.pwrite(h, 0, bytes(range(256)) * 40)  # 10240 bytes, pages 0-2
    fs.fsync(h)
    assert fs.drop_clean() == 3
    fs.pwrite(h, 10, b"XY")  # partial page 0, below EOF: must read it first
    assert (fs.stats.rmw_reads, fs.stats.read_ios) == (1, 1)
    fs.pwrite(h, PAGE_SIZE, b"z" * PAGE_SIZE)  # whole page 1: no read needed
    fs.pwrite(h, 2 * PAGE_SIZE, b"q" * (10240 - 2 * PAGE_SIZE + 5))  # covers all existing bytes of page 2
    fs.pwrite(h, 5 * PAGE_SIZE, b"new")  # beyond EOF: no read
    assert (fs.stats.rmw_reads, fs.stats.read_ios) == (1, 1)
    expected = bytearray(bytes(range(256)) * 40)
    expected[10:12] = b"XY"
    expected[PAGE_SIZE : 2 * PAGE_SIZE] = b"z" * PAGE_SIZE
    expected[2 * PAGE_SIZE :] = b"q" * (10240 - 2 * PAGE_SIZE + 5)
    expected += bytes(5 * PAGE_SIZE - len(expected)) + b"new"
    assert fs.visible_bytes("f") == bytes(expected)


@pytest.mark.req("PGC-4")
def test_dirtied_at_is_set_on_first_dirtying_only() -> None:
    fs, clock = make()
    h = fs.open("f", create=True)
    fs.pwrite(h, 0, b"a")
    clock.advance(20)
    fs.pwrite(h, 1, b"b")  # still dirty since t=0: expiry counts from t=0
    clock.advance(10)
    assert fs.writeback_tick() == 1
    assert fs.dirty_page_count == 0


@pytest.mark.req("PGC-6", "PGC-8")
def test_many_small_appends_become_few_large_sequential_runs() -> None:
    fs, clock = make()
    h = fs.open("seg.log", create=True)
    for _ in range(4 * MiB // 1000):
        fs.pwrite(h, fs.size(h), b"r" * 1000)
    assert fs.stats.write_ios == 0
    clock.advance(30)
    assert fs.writeback_tick() == 1024
    assert [(n, seq) for _, n, seq in writes(fs)] == [(256, False), (256, True), (256, True), (256, True)]
    assert fs.stats.writeback_runs == 4 and fs.stats.pages_written_back == 1024
    # the next batch continues where the last run ended; only the re-dirtied partial tail page is random
    fs.stats.reset()
    for _ in range(2 * MiB // 1000):
        fs.pwrite(h, fs.size(h), b"s" * 1000)
    clock.advance(30)
    fs.writeback_tick()
    assert fs.stats.write_ios == 3
    assert fs.stats.seq_write_ios == 2 and fs.stats.rand_write_ios == 1
    assert fs.stats.seq_write_ios / fs.stats.write_ios >= 0.66


@pytest.mark.req("PGC-6")
def test_runs_are_capped_and_split_at_holes() -> None:
    fs, _ = make(max_run_pages=4)
    h = fs.open("f", create=True)
    fs.pwrite(h, 0, b"a" * (10 * PAGE_SIZE))
    fs.pwrite(h, 20 * PAGE_SIZE, b"b" * PAGE_SIZE)
    fs.fsync(h)
    assert writes(fs) == [(0, 4, False), (4, 4, True), (8, 2, True), (20, 1, False)]


@pytest.mark.req("PGC-7")
@pytest.mark.parametrize(("order", "expected"), [("cyclic", [6, 1]), ("ascending", [1, 6])])
def test_writeback_order(order: str, expected: list[int]) -> None:
    fs, clock = make(writeback_order=order)
    h = fs.open("f", create=True)
    fs.pwrite(h, 0, b"a" * (4 * PAGE_SIZE))
    clock.advance(30)
    fs.writeback_tick()  # writes pages 0-3; a cyclic pass stops at page 4
    fs.io_trace.clear()
    fs.pwrite(h, 1 * PAGE_SIZE, b"b")
    fs.pwrite(h, 6 * PAGE_SIZE, b"c")
    clock.advance(30)
    fs.writeback_tick()
    assert [first for first, _, _ in writes(fs)] == expected


@pytest.mark.req("PGC-7", "PGC-2")
def test_random_order_is_seeded() -> None:
    def order(seed: int) -> list[int]:
        fs, clock = make(seed=seed, writeback_order="random")
        h = fs.open("f", create=True)
        for page in range(0, 40, 2):
            fs.pwrite(h, page * PAGE_SIZE, b"x")
        clock.advance(30)
        fs.writeback_tick()
        return [first for first, _, _ in writes(fs)]

    assert order(1) == order(1)
    assert sorted(order(1)) == list(range(0, 40, 2))
    assert len({tuple(order(seed)) for seed in range(5)}) > 1


@pytest.mark.req("PGC-8")
def test_periodic_pass_writes_expired_files_only() -> None:
    fs, clock = make()
    assert fs.next_writeback_due() == math.inf
    a = fs.open("a", create=True)
    b = fs.open("b", create=True)
    fs.pwrite(a, 0, b"a")
    assert fs.next_writeback_due() == 5.0
    clock.advance(12)
    fs.pwrite(b, 0, b"b")
    for _ in range(3):  # passes at 15, 20, 25: nothing has been dirty for 30 s yet
        clock.advance(5 if clock.now() >= 15 else 3)
        assert fs.writeback_tick() == 0
    assert clock.now() == 25 and fs.next_writeback_due() == 30
    clock.advance(5)
    assert fs.writeback_tick() == 1  # a (dirty since 0); b (since 12) waits
    assert fs.dirty_page_count == 1
    clock.advance(10)  # pass at 40: b dirty for 28 s
    assert fs.writeback_tick() == 0
    clock.advance(5)
    assert fs.writeback_tick() == 1
    assert fs.next_writeback_due() == math.inf


@pytest.mark.req("PGC-8")
def test_interval_zero_disables_periodic_writeback() -> None:
    fs, clock = make(dirty_writeback_interval_s=0.0)
    h = fs.open("f", create=True)
    fs.pwrite(h, 0, b"x")
    assert fs.next_writeback_due() == math.inf
    clock.advance(1000)
    assert fs.writeback_tick() == 0


@pytest.mark.req("PGC-9")
def test_background_threshold_makes_writeback_due_and_wakes() -> None:
    fs, clock = small()
    wakes: list[float] = []
    fs.set_wakeup_hook(lambda: wakes.append(clock.now()))
    h = fs.open("f", create=True)
    fs.pwrite(h, 0, b"x")  # first dirty page: periodic pass scheduled
    assert len(wakes) == 1
    for page in range(1, 40):
        fs.pwrite(h, page * PAGE_SIZE, b"x")
    assert fs.dirty_page_count == 40 and fs.next_writeback_due() == 5.0 and len(wakes) == 1
    clock.advance(1)
    fs.pwrite(h, 40 * PAGE_SIZE, b"x")  # 41 > 40: crossing
    assert len(wakes) == 2 and fs.next_writeback_due() == clock.now()
    assert fs.writeback_tick() == 41  # one coalesced run: write-back stops between runs
    assert fs.dirty_page_count <= 40
    assert fs.next_writeback_due() > clock.now()


@pytest.mark.req("PGC-10")
def test_throttling_above_freerun() -> None:
    fs, _ = small()
    h = fs.open("f", create=True)
    for page in range(60):  # up to the freerun ceiling: no pause
        fs.pwrite(h, page * PAGE_SIZE, b"x")
    assert fs.stats.throttle_pauses == 0 and fs.take_throttle_delay() == 0.0
    for page in range(60, 70):
        fs.pwrite(h, page * PAGE_SIZE, b"x")
    assert fs.stats.throttle_pauses == 10
    delay = fs.take_throttle_delay()
    assert 0 < delay <= 10 * 0.2
    assert delay == pytest.approx(fs.stats.throttle_seconds)
    assert fs.take_throttle_delay() == 0.0
    assert fs.stats.writer_writebacks == 0


@pytest.mark.req("PGC-10")
def test_writer_writes_back_itself_at_the_hard_limit() -> None:
    fs, _ = small()
    h = fs.open("f", create=True)
    for page in range(300):
        fs.pwrite(h, page * PAGE_SIZE, b"x" * PAGE_SIZE)
        assert fs.dirty_page_count < 80
    assert fs.stats.writer_writebacks > 0
    assert fs.stats.pages_written_back >= 300 - 80
    assert fs.take_throttle_delay() <= fs.stats.throttle_pauses * 0.2


@pytest.mark.req("PGC-11", "PGC-12")
def test_fsync_writes_back_flushes_then_commits_size() -> None:
    fs, clock = make()
    h = fs.open("f", create=True)
    fs.fsync_dir("")
    fs.pwrite(h, 0, b"v1" * 3000)
    clock.advance(30)
    fs.writeback_tick()  # written back into the volatile device cache, not flushed
    assert fs.durable_bytes("f") == b""
    fs.pwrite(h, 6000, b"more")
    fs.fsync(h)
    assert [io.kind for io in fs.io_trace][-2:] == ["write", "flush"]
    assert fs.stats.fsyncs == 1 and fs.dirty_page_count == 0
    assert fs.durable_bytes("f") == fs.visible_bytes("f") == b"v1" * 3000 + b"more"


@pytest.mark.req("PGC-12")
def test_without_volatile_device_cache_writeback_is_durable() -> None:
    fs, clock = make(device_volatile_cache=False)
    h = fs.open("f", create=True)
    fs.pwrite(h, 0, b"a" * PAGE_SIZE)
    fs.fsync(h)
    fs.fsync_dir("")
    fs.pwrite(h, 0, b"b" * PAGE_SIZE)
    clock.advance(30)
    fs.writeback_tick()
    assert fs.durable_bytes("f") == b"b" * PAGE_SIZE
    volatile, clock2 = make()
    h2 = volatile.open("f", create=True)
    volatile.pwrite(h2, 0, b"a" * PAGE_SIZE)
    volatile.fsync(h2)
    volatile.fsync_dir("")
    volatile.pwrite(h2, 0, b"b" * PAGE_SIZE)
    clock2.advance(30)
    volatile.writeback_tick()
    assert volatile.durable_bytes("f") == b"a" * PAGE_SIZE


@pytest.mark.req("PGC-13")
def test_truncate_is_visible_at_once_and_durable_after_fsync() -> None:
    fs, _ = make()
    h = fs.open("f", create=True)
    fs.fsync_dir("")
    fs.pwrite(h, 0, b"x" * (3 * PAGE_SIZE))
    fs.fsync(h)
    fs.truncate(h, 100)
    assert fs.size(h) == 100 and fs.visible_bytes("f") == b"x" * 100
    assert fs.durable_bytes("f") == b"x" * (3 * PAGE_SIZE)
    fs.truncate(h, 3 * PAGE_SIZE)  # extension: zeros, although the device still holds the x's
    fs.drop_clean()
    assert fs.pread(h, 0, 3 * PAGE_SIZE) == b"x" * 100 + bytes(3 * PAGE_SIZE - 100)
    fs.fsync(h)
    assert fs.durable_bytes("f") == fs.visible_bytes("f")
    fs.truncate(h, 0)
    fs.fsync(h)
    assert fs.durable_bytes("f") == b""


@pytest.mark.req("PGC-13")
def test_truncate_drops_dirty_pages_beyond_the_end_unwritten() -> None:
    fs, _ = make()
    h = fs.open("f", create=True)
    fs.pwrite(h, 0, b"y" * (5 * PAGE_SIZE))
    fs.truncate(h, PAGE_SIZE + 1)
    assert fs.dirty_page_count == 2
    fs.fsync(h)
    assert fs.stats.pages_written_back == 2
