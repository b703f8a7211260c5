"""Crashes of the simulated machine: process crash, power loss (CLEAN/PARTIAL/TORN), directory rollback."""

from __future__ import annotations

from typing import Any

import pytest

from reflog.clock import ManualClock
from reflog.errors import ReflogUsageError
from reflog.storage.sim import (
    PAGE_SIZE,
    SECTOR_SIZE,
    PageRef,
    PowerLossMode,
    SimFilesystem,
    WritebackPolicy,
)

A = b"A" * PAGE_SIZE
B = b"B" * PAGE_SIZE


def make(seed: int = 0, **policy: Any) -> tuple[SimFilesystem, ManualClock]:
    clock = ManualClock()
    return SimFilesystem(clock, seed=seed, policy=WritebackPolicy(**policy)), clock


def overwritten(seed: int, pages: int = 20) -> SimFilesystem:
    """``f``: ``pages`` pages of A, durable; then all overwritten with B, half of them written back."""
    fs, clock = make(seed)
    h = fs.open("f", create=True)
    fs.pwrite(h, 0, A * pages)
    fs.fsync(h)
    fs.fsync_dir("")
    fs.pwrite(h, 0, B * (pages // 2))
    clock.advance(30)
    fs.writeback_tick()  # B pages 0..pages/2 sit in the volatile device cache
    fs.pwrite(h, (pages // 2) * PAGE_SIZE, B * (pages - pages // 2))  # the rest only dirty in the cache
    return fs


@pytest.mark.req("PGC-22", "PGC-5")
def test_process_crash_keeps_everything_visible() -> None:
    fs, clock = make()
    fs.makedirs("d")
    h = fs.open("d/f", create=True)
    fs.pwrite(h, 0, b"unsynced" * 1000)
    dirty = fs.dirty_page_count
    fs.crash_process()
    for use in (
        lambda: fs.pread(h, 0, 1),
        lambda: fs.pwrite(h, 0, b"x"),
        lambda: fs.fsync(h),
        lambda: fs.size(h),
        lambda: fs.close(h),
    ):
        with pytest.raises(ReflogUsageError):
            use()
    assert fs.dirty_page_count == dirty and fs.pending_directory_ops == ("mkdir d", "create d/f")
    h2 = fs.open("d/f")
    assert fs.pread(h2, 0, 10**6) == b"unsynced" * 1000
    clock.advance(30)
    assert fs.writeback_tick() == dirty  # the kernel still writes it back
    fs.fsync(h2)
    fs.fsync_dir("")
    fs.fsync_dir("d")
    assert fs.durable_bytes("d/f") == b"unsynced" * 1000


@pytest.mark.req("PGC-23", "PGC-19")
def test_power_loss_clean_keeps_exactly_the_durable_bytes() -> None:
    fs, clock = make()
    fs.makedirs("log")
    fs.fsync_dir("")
    synced = fs.open("log/a", create=True)
    fs.pwrite(synced, 0, b"durable" * 1000)
    fs.fsync(synced)
    fs.pwrite(synced, 7000, b"later" * 2000)  # beyond the durable size
    fs.pwrite(synced, 0, b"OVER")  # inside it
    never = fs.open("log/b", create=True)
    fs.pwrite(never, 0, b"never synced")
    fs.fsync_dir("log")
    unnamed = fs.open("log/c", create=True)  # created, synced, but its name never is
    fs.pwrite(unnamed, 0, b"no name")
    fs.fsync(unnamed)
    clock.advance(30)
    fs.writeback_tick()  # in the volatile device cache: still lost
    before = {p: fs.durable_bytes(p) for p in fs.durable_paths()}
    assert before == {"log/a": b"durable" * 1000, "log/b": b""}
    report = fs.power_loss(PowerLossMode.CLEAN)
    assert fs.visible_paths() == ["log/a", "log/b"]
    assert {p: fs.visible_bytes(p) for p in fs.visible_paths()} == before
    assert not fs.exists("log/c")
    assert report.rolled_back == ("create log/c",)
    assert PageRef("log/a", 0) in report.lost_pages and report.surviving_pages == ()
    assert report.handles_invalidated == 3
    with pytest.raises(ReflogUsageError):
        fs.pread(synced, 0, 1)
    assert fs.dirty_page_count == 0 and fs.cached_page_count == 0


@pytest.mark.req("PGC-24")
def test_power_loss_partial_keeps_an_independent_subset_of_pages() -> None:
    fs = overwritten(seed=7)
    report = fs.power_loss(PowerLossMode.PARTIAL)
    data = fs.visible_bytes("f")
    pages = [data[i * PAGE_SIZE : (i + 1) * PAGE_SIZE] for i in range(20)]
    assert all(p in (A, B) for p in pages)
    new = {i for i, p in enumerate(pages) if p == B}
    assert 0 < len(new) < 20
    assert {ref.page for ref in report.surviving_pages} == new
    assert {ref.page for ref in report.lost_pages} >= set(range(20)) - new


@pytest.mark.req("PGC-24", "PGC-2")
def test_power_loss_partial_is_reproducible_by_seed() -> None:
    def run(seed: int) -> tuple[bytes, object]:
        fs = overwritten(seed)
        report = fs.power_loss(PowerLossMode.PARTIAL, survival_probability=0.5)
        return fs.visible_bytes("f"), report

    assert run(3) == run(3)
    assert len({run(seed)[0] for seed in range(6)}) > 1
    fs = overwritten(1)
    assert fs.power_loss(PowerLossMode.PARTIAL, survival_probability=1.0).lost_pages == ()
    assert fs.visible_bytes("f") == B * 20


@pytest.mark.req("PGC-24")
def test_unsynced_size_is_the_durable_or_the_last_visible_one() -> None:
    sizes = set()
    for seed in range(12):
        fs, _ = make(seed)
        h = fs.open("f", create=True)
        fs.fsync_dir("")
        fs.pwrite(h, 0, b"x" * 1000)
        fs.fsync(h)
        fs.pwrite(h, 1000, b"y" * 9000)
        report = fs.power_loss(PowerLossMode.PARTIAL, survival_probability=0.0)
        (outcome,) = report.sizes
        assert (outcome.durable_size, outcome.visible_size) == (1000, 10_000)
        data = fs.visible_bytes("f")
        assert len(data) == outcome.size_after in (1000, 10_000)
        assert data == b"x" * 1000 + bytes(len(data) - 1000)  # the data did not survive: a zero tail
        sizes.add(len(data))
    assert sizes == {1000, 10_000}


@pytest.mark.req("PGC-25")
def test_power_loss_torn_tears_surviving_pages_at_sector_granularity() -> None:
    fs = overwritten(seed=5)
    report = fs.power_loss(PowerLossMode.TORN, survival_probability=1.0, torn_probability=1.0)
    data = fs.visible_bytes("f")
    assert len(report.torn_pages) == len(report.surviving_pages) == 20
    shapes = set()
    for torn in report.torn_pages:
        page = data[torn.page * PAGE_SIZE : (torn.page + 1) * PAGE_SIZE]
        for sector in range(PAGE_SIZE // SECTOR_SIZE):
            got = page[sector * SECTOR_SIZE : (sector + 1) * SECTOR_SIZE]
            if sector not in torn.bad_sectors:
                assert got == b"B" * SECTOR_SIZE
                continue
            fill = torn.fill[torn.bad_sectors.index(sector)]
            if fill == "old":
                assert got == b"A" * SECTOR_SIZE
            elif fill == "zeros":
                assert got == bytes(SECTOR_SIZE)
            else:
                assert fill == "garbage"
        bad = torn.bad_sectors
        shapes.add("all" if len(bad) == 8 else "left" if bad[0] == 0 else "right")
    assert shapes == {"all", "left", "right"}


@pytest.mark.req("PGC-25")
def test_torn_power_loss_can_expose_a_garbage_tail() -> None:
    found = False
    for seed in range(20):
        fs, _ = make(seed)
        h = fs.open("f", create=True)
        fs.fsync_dir("")
        fs.pwrite(h, 0, b"z" * (6 * PAGE_SIZE))
        report = fs.power_loss(PowerLossMode.TORN, survival_probability=0.0)
        if report.garbage_pages:
            found = True
            data = fs.visible_bytes("f")
            assert len(data) == 6 * PAGE_SIZE
            for ref in report.garbage_pages:
                assert data[ref.page * PAGE_SIZE : (ref.page + 1) * PAGE_SIZE] != bytes(PAGE_SIZE)
    assert found


@pytest.mark.req("PGC-20", "PGC-23")
def test_directory_operations_are_durable_only_after_fsync_dir() -> None:
    fs, _ = make()
    fs.makedirs("a/b")
    h = fs.open("a/b/f", create=True)
    fs.pwrite(h, 0, b"data")
    fs.fsync(h)
    assert fs.exists("a/b/f") and not fs.durable_exists("a")
    fs.fsync_dir("")
    assert fs.durable_exists("a") and not fs.durable_exists("a/b")
    fs.fsync_dir("a/b")  # commits the create and, as it depends on it, the mkdir of a/b
    assert fs.durable_exists("a/b/f") and fs.durable_bytes("a/b/f") == b"data"
    assert not fs.pending_directory_ops
    g = fs.open("a/g", create=True)
    fs.rename("a/b/f", "a/f2")
    fs.delete("a/g")
    fs.close(g)
    assert fs.pending_directory_ops == ("create a/g", "rename a/b/f -> a/f2", "delete a/g")
    report = fs.power_loss(PowerLossMode.CLEAN)
    assert report.rolled_back == ("create a/g", "rename a/b/f -> a/f2", "delete a/g")
    assert fs.visible_paths() == ["a/b/f"] and fs.listdir("a") == ["b"]


@pytest.mark.req("PGC-20", "PGC-24")
def test_partial_power_loss_keeps_a_prefix_of_the_directory_journal() -> None:
    kept_lengths = set()
    for seed in range(10):
        fs, _ = make(seed)
        for name in "abcde":
            fs.close(fs.open(name, create=True))
        pending = fs.pending_directory_ops
        report = fs.power_loss(PowerLossMode.PARTIAL)
        k = len(report.kept_directory_ops)
        assert report.kept_directory_ops + report.rolled_back == pending
        assert fs.visible_paths() == list("abcde"[:k])
        kept_lengths.add(k)
    assert len(kept_lengths) > 2


@pytest.mark.req("PGC-21")
@pytest.mark.parametrize("mode", list(PowerLossMode))
def test_rename_over_a_checkpoint_is_old_or_new_never_missing_or_partial(mode: PowerLossMode) -> None:
    old, new = b"old checkpoint\n" * 500, b"new checkpoint!\n" * 700
    seen = set()
    for seed in range(25):
        fs, _ = make(seed)
        h = fs.open("ckpt", create=True)
        fs.pwrite(h, 0, old)
        fs.fsync(h)
        fs.fsync_dir("")
        t = fs.open("ckpt.tmp", create=True)
        fs.pwrite(t, 0, new)
        fs.fsync(t)
        fs.rename("ckpt.tmp", "ckpt")
        if seed % 2:
            fs.fsync_dir("")
        fs.power_loss(mode)
        assert fs.exists("ckpt")
        content = fs.visible_bytes("ckpt")
        assert content in (old, new)
        seen.add(content)
        if seed % 2:
            assert content == new
    assert seen == {old, new}


@pytest.mark.req("PGC-22", "PGC-23")
def test_unlinked_open_file_keeps_working_until_closed() -> None:
    fs, _ = make()
    h = fs.open("f", create=True)
    fs.pwrite(h, 0, b"alive")
    fs.delete("f")
    assert not fs.exists("f")
    fs.pwrite(h, 5, b"!")
    assert fs.pread(h, 0, 10) == b"alive!"
    fs.close(h)
    assert fs.dirty_page_count == 0  # a nameless, closed file's pages are dropped unwritten
