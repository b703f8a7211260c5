"""The trio flusher task driving SimFilesystem write-back, under trio's MockClock (autojump)."""

from __future__ import annotations

from typing import Any

import pytest
import trio
import trio.testing

from reflog.errors import ReflogUsageError
from reflog.storage.flusher import run_flusher
from reflog.storage.sim import PAGE_SIZE, SimFilesystem, WritebackPolicy
from reflog.trio_clock import TrioClock


def make(**policy: Any) -> SimFilesystem:
    return SimFilesystem(TrioClock(), seed=0, policy=WritebackPolicy(**policy))


@pytest.mark.req("PGC-33", "PGC-8")
async def test_flusher_writes_back_expired_pages_on_schedule(autojump_clock: trio.testing.MockClock) -> None:
    fs = make()
    start = trio.current_time()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(run_flusher, fs)
        await trio.sleep(1)
        h = fs.open("f", create=True)
        fs.pwrite(h, 0, b"x" * 10_000)
        # passes run at start + 5, 10, ...; the file, dirty since start + 1, expires at start + 31,
        # so the pass at start + 35 writes it back
        await trio.sleep(33.9)
        assert fs.dirty_page_count == 3 and fs.next_writeback_due() == pytest.approx(start + 35)
        await trio.sleep(0.2)
        assert fs.dirty_page_count == 0 and fs.stats.writeback_runs == 1
        assert fs.next_writeback_due() == float("inf")
        nursery.cancel_scope.cancel()


@pytest.mark.req("PGC-33", "PGC-9")
async def test_crossing_the_background_threshold_wakes_the_flusher_at_once(
    autojump_clock: trio.testing.MockClock,
) -> None:
    fs = make(memory_bytes=400 * PAGE_SIZE)  # background threshold: 40 pages
    async with trio.open_nursery() as nursery:
        nursery.start_soon(run_flusher, fs)
        await trio.sleep(1)
        h = fs.open("f", create=True)
        for page in range(41):
            fs.pwrite(h, page * PAGE_SIZE, b"x" * PAGE_SIZE)
        now = trio.current_time()
        await trio.testing.wait_all_tasks_blocked()
        assert trio.current_time() == now
        assert fs.dirty_page_count <= 40 and fs.stats.pages_written_back > 0
        nursery.cancel_scope.cancel()


@pytest.mark.req("PGC-33", "PGC-10")
async def test_throttled_writer_and_flusher_keep_dirty_pages_bounded(
    autojump_clock: trio.testing.MockClock,
) -> None:
    fs = make(memory_bytes=400 * PAGE_SIZE)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(run_flusher, fs)
        h = fs.open("f", create=True)
        for _ in range(2000):
            fs.pwrite(h, fs.size(h), b"r" * 1000)
            await trio.sleep(fs.take_throttle_delay())
            assert fs.dirty_page_count < 80
        nursery.cancel_scope.cancel()
    assert fs.stats.writer_writebacks == 0  # the flusher kept up: the writer never hit the hard limit
    assert fs.visible_bytes("f") == b"r" * 2_000_000


@pytest.mark.req("PGC-33")
async def test_cancelling_the_flusher_flushes_nothing_and_detaches_it(
    autojump_clock: trio.testing.MockClock,
) -> None:
    fs = make()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(run_flusher, fs)
        await trio.sleep(1)
        with pytest.raises(ReflogUsageError):
            fs.set_wakeup_hook(lambda: None)  # one flusher per file system
        h = fs.open("f", create=True)
        fs.pwrite(h, 0, b"dirty")
        await trio.sleep(10)
        nursery.cancel_scope.cancel()
    assert fs.dirty_page_count == 1 and fs.stats.write_ios == 0
    fs.set_wakeup_hook(lambda: None)  # the hook was removed on cancellation
    fs.set_wakeup_hook(None)
    async with trio.open_nursery() as nursery:  # a new flusher picks up where the old one left off
        nursery.start_soon(run_flusher, fs)
        await trio.sleep(30)
        assert fs.dirty_page_count == 0
        nursery.cancel_scope.cancel()
