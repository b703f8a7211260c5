"""Fault hooks of the simulated device: fsync EIO (fsyncgate), ENOSPC, bit flips, latent read errors,
misdirected writes, crash points, slow disk."""

from __future__ import annotations

import errno
from collections.abc import Callable
from typing import Any

import pytest

from reflog.clock import ManualClock
from reflog.errors import ReflogError, ReflogUsageError, StorageError
from reflog.storage.sim import (
    PAGE_SIZE,
    FailedWrite,
    PowerLossMode,
    SimFilesystem,
    SimulatedCrash,
    WritebackPolicy,
)

OLD = b"o" * (3 * PAGE_SIZE)
NEW = b"N" * (3 * PAGE_SIZE)


def make(**policy: Any) -> tuple[SimFilesystem, ManualClock]:
    clock = ManualClock()
    return SimFilesystem(clock, seed=0, policy=WritebackPolicy(**policy), trace_io=True), clock


def synced(fs: SimFilesystem, path: str = "f", data: bytes = OLD) -> None:
    h = fs.open(path, create=True)
    fs.pwrite(h, 0, data)
    fs.fsync(h)
    fs.fsync_dir("")
    fs.close(h)


@pytest.mark.req("PGC-26")
def test_fsync_eio_is_reported_once_then_fsync_falsely_succeeds() -> None:
    fs, clock = make()
    synced(fs)
    fs.stats.reset()
    h = fs.open("f")
    other = fs.open("f")
    fs.pwrite(h, 0, NEW)
    fs.faults.fail_writeback("f")
    with pytest.raises(StorageError) as caught:
        fs.fsync(h)
    assert caught.value.errno == errno.EIO and caught.value.path == "f"
    assert fs.failed_writes == (FailedWrite("f", fs.ino_of("f"), 0, 3, errno.EIO, clock.now()),)
    assert fs.dirty_page_count == 0  # marked clean anyway
    assert fs.visible_bytes("f") == NEW  # clean_keep_new: the cache serves bytes that are not on disk
    assert fs.durable_bytes("f") == OLD
    fs.fsync(h)  # the fsyncgate trap: nothing to write, the error was reported, "success"
    assert fs.durable_bytes("f") == OLD != fs.visible_bytes("f")
    with pytest.raises(StorageError):
        fs.fsync(other)  # every handle open at the time sees it once
    fs.fsync(other)
    late = fs.open("f")
    fs.fsync(late)  # someone already saw it: a later opener does not
    assert fs.stats.fsyncs == 5 and fs.stats.fsync_errors == 2 and fs.stats.writeback_errors == 1
    fs.power_loss(PowerLossMode.CLEAN)
    assert fs.visible_bytes("f") == OLD


@pytest.mark.req("PGC-26")
def test_background_writeback_error_surfaces_at_the_next_fsync_even_for_a_new_handle() -> None:
    fs, clock = make()
    synced(fs)
    h = fs.open("f")
    fs.pwrite(h, PAGE_SIZE, b"x" * PAGE_SIZE)
    fs.faults.fail_writeback("f", first_page=1, n_pages=1)
    clock.advance(30)
    assert fs.writeback_tick() == 1  # no exception here: write-back has nobody to tell
    fs.crash_process()
    reopened = fs.open("f")  # nobody saw the error yet: reported once to the new opener (Linux 4.17+)
    with pytest.raises(StorageError):
        fs.fsync(reopened)
    fs.fsync(reopened)
    (failed,) = fs.failed_writes
    assert (failed.first_page, failed.n_pages) == (1, 1)


@pytest.mark.req("PGC-26")
def test_persistent_writeback_failure_and_revert_policy() -> None:
    fs, _ = make(after_eio="clean_revert_old")
    synced(fs)
    h = fs.open("f")
    fs.faults.fail_writeback("f", persistent=True, errno=errno.ENOSPC)
    for _ in range(2):
        fs.pwrite(h, 0, NEW)
        with pytest.raises(StorageError) as caught:
            fs.fsync(h)
        assert caught.value.errno == errno.ENOSPC
        assert fs.visible_bytes("f") == OLD  # reverted to what the device holds
    assert len(fs.failed_writes) == 2
    fs.faults.clear()
    fs.pwrite(h, 0, NEW)
    fs.fsync(h)
    assert fs.durable_bytes("f") == NEW


@pytest.mark.req("PGC-27")
def test_enospc_is_raised_before_anything_changes() -> None:
    fs, _ = make()
    h = fs.open("f", create=True)
    fs.pwrite(h, 0, b"a" * 5000)  # 2 pages
    fs.faults.enospc_after(PAGE_SIZE)
    fs.pwrite(h, 5000, b"b" * 3000)  # still inside page 1: no new space needed
    fs.pwrite(h, 8192, b"c" * 100)  # one more page: fits exactly
    before = (fs.visible_bytes("f"), fs.stats.snapshot(), fs.dirty_page_count)
    attempts: list[Callable[[], None]] = [
        lambda: fs.pwrite(h, 3 * PAGE_SIZE, b"d"),
        lambda: fs.truncate(h, 10 * PAGE_SIZE),
    ]
    for attempt in attempts:
        with pytest.raises(StorageError) as caught:
            attempt()
        assert caught.value.errno == errno.ENOSPC and caught.value.path == "f"
        assert (fs.visible_bytes("f"), fs.stats.snapshot(), fs.dirty_page_count) == before
    g = fs.open("g", create=True)
    with pytest.raises(StorageError):
        fs.pwrite(g, 0, b"x")
    fs.truncate(h, 0)  # freeing space makes room again
    fs.pwrite(g, 0, b"x")


@pytest.mark.req("PGC-28")
def test_bit_flip_at_rest_is_seen_on_a_cold_read() -> None:
    fs, _ = make()
    synced(fs)
    h = fs.open("f")
    assert fs.pread(h, 0, 3 * PAGE_SIZE) == OLD  # cached
    fs.faults.bitflip("f", PAGE_SIZE + 10, bit=3)
    assert fs.pread(h, PAGE_SIZE + 10, 1) == b"o"  # the cached copy is intact
    flipped = bytes([ord("o") ^ 8])
    assert fs.durable_bytes("f")[PAGE_SIZE + 10 : PAGE_SIZE + 11] == flipped
    fs.drop_clean()
    assert fs.pread(h, PAGE_SIZE + 10, 1) == flipped
    assert fs.pread(h, PAGE_SIZE + 10, 1) == flipped  # deterministic: rereads see it too


@pytest.mark.req("PGC-29")
def test_latent_read_error_fails_uncached_reads_only() -> None:
    fs, _ = make()
    synced(fs, data=b"L" * (10 * PAGE_SIZE))
    h = fs.open("f")
    fs.pread(h, 5 * PAGE_SIZE, 1)  # page 5 cached
    fs.faults.latent_read_error("f", 5, 2)
    assert fs.pread(h, 5 * PAGE_SIZE, 1) == b"L"
    fs.drop_clean()
    cold = fs.open("f")
    assert fs.pread(cold, 0, 5 * PAGE_SIZE) == b"L" * (5 * PAGE_SIZE)  # read-ahead stopped short of page 5
    with pytest.raises(StorageError) as caught:
        fs.pread(cold, 5 * PAGE_SIZE, 10)
    assert caught.value.errno == errno.EIO and caught.value.path == "f"
    with pytest.raises(StorageError):
        fs.pread(cold, 6 * PAGE_SIZE + 100, 10)
    assert fs.pread(cold, 7 * PAGE_SIZE, 10) == b"L" * 10
    w = fs.open("f")
    with pytest.raises(StorageError):
        fs.pwrite(w, 5 * PAGE_SIZE + 1, b"x")  # read-modify-write needs the bad page
    assert fs.visible_bytes("f") == b"L" * (10 * PAGE_SIZE)


@pytest.mark.req("PGC-30")
def test_misdirected_write_lands_elsewhere_and_leaves_old_bytes() -> None:
    fs, _ = make()
    synced(fs, data=b"A" * (8 * PAGE_SIZE))
    h = fs.open("f")
    fs.pwrite(h, 0, b"B" * (2 * PAGE_SIZE))
    fs.faults.misdirect_next_run("f", 4)
    fs.fsync(h)  # no error: the device believes it wrote the right place
    assert fs.visible_bytes("f") == b"B" * (2 * PAGE_SIZE) + b"A" * (6 * PAGE_SIZE)  # from the cache
    expected_disk = b"A" * (4 * PAGE_SIZE) + b"B" * (2 * PAGE_SIZE) + b"A" * (2 * PAGE_SIZE)
    assert fs.durable_bytes("f") == expected_disk
    (record,) = fs.faults.misdirected
    assert (record.path, record.intended_page, record.landed_page, record.n_pages) == ("f", 0, 4, 2)
    fs.drop_clean()
    assert fs.pread(h, 0, 8 * PAGE_SIZE) == expected_disk
    fs.pwrite(h, 0, b"C")
    fs.fsync(h)  # one-shot: the next run lands where it should
    assert fs.durable_bytes("f")[:1] == b"C"


@pytest.mark.req("PGC-31")
def test_crash_point_fires_before_the_operation_once() -> None:
    fs, _ = make()
    fs.makedirs("data")
    h = fs.open("data/x.log", create=True)
    fs.faults.crash_at("pwrite", "data/*.log", occurrence=2)
    fs.pwrite(h, 0, b"first")
    with pytest.raises(SimulatedCrash) as caught:
        fs.pwrite(h, 5, b"second")
    assert not isinstance(caught.value, ReflogError)
    assert (caught.value.op, caught.value.path) == ("pwrite", "data/x.log")
    assert fs.visible_bytes("data/x.log") == b"first"
    fs.pwrite(h, 5, b"second")  # the crash point is spent
    assert fs.visible_bytes("data/x.log") == b"firstsecond"


@pytest.mark.req("PGC-31")
def test_crash_points_for_every_operation_leave_state_untouched() -> None:
    fs, _ = make()
    synced(fs, "a")
    h = fs.open("a")
    fs.pwrite(h, 0, b"new")
    fs.faults.crash_at("fsync", "a")
    with pytest.raises(SimulatedCrash):
        fs.fsync(h)
    assert fs.durable_bytes("a") == OLD and fs.stats.fsyncs == 1
    fs.faults.crash_at("truncate", "a")
    with pytest.raises(SimulatedCrash):
        fs.truncate(h, 0)
    assert fs.size(h) == len(OLD)
    fs.faults.crash_at("rename", "b")  # either side of a rename matches
    with pytest.raises(SimulatedCrash):
        fs.rename("a", "b")
    fs.faults.crash_at("delete", "a")
    with pytest.raises(SimulatedCrash):
        fs.delete("a")
    assert fs.visible_paths() == ["a"]
    fs.close(fs.open("c", create=True))
    fs.faults.crash_at("fsync_dir", "")
    with pytest.raises(SimulatedCrash):
        fs.fsync_dir("")
    assert not fs.durable_exists("c")
    report = fs.power_loss(PowerLossMode.CLEAN)
    assert report.rolled_back == ("create c",) and fs.visible_bytes("a") == OLD
    with pytest.raises(ReflogUsageError):
        fs.faults.crash_at("mmap", "*")  # type: ignore[arg-type]


@pytest.mark.req("PGC-32")
def test_slow_disk_accounts_latency_per_io() -> None:
    fs, _ = make()
    fs.faults.set_latency(per_io_s=0.01, per_byte_s=1e-8)
    h = fs.open("f", create=True)
    fs.pwrite(h, 0, b"x" * (2 * PAGE_SIZE))
    fs.fsync(h)  # one write of 2 pages, one flush
    busy = 0.01 + 2 * PAGE_SIZE * 1e-8 + 0.01
    assert fs.stats.device_busy_seconds == pytest.approx(busy)
    assert fs.take_throttle_delay() == pytest.approx(busy)  # the writer waits out the device time
    assert fs.take_throttle_delay() == 0.0  # once


@pytest.mark.req("PGC-26", "PGC-28", "PGC-29", "PGC-30")
def test_faults_need_an_existing_file_and_valid_arguments() -> None:
    fs, _ = make()
    with pytest.raises(FileNotFoundError):
        fs.faults.fail_writeback("missing")
    synced(fs)
    misuses: list[Callable[[], None]] = [
        lambda: fs.faults.bitflip("f", -1),
        lambda: fs.faults.bitflip("f", 0, bit=8),
        lambda: fs.faults.latent_read_error("f", 0, 0),
        lambda: fs.faults.misdirect_next_run("f", 0),
        lambda: fs.faults.fail_writeback("f", n_pages=0),
    ]
    for bad in misuses:
        with pytest.raises(ReflogUsageError):
            bad()
