"""SimFilesystem as the storage seam: protocol conformance, errors, determinism, counters, oracle views."""

from __future__ import annotations

import inspect
import random
from typing import Any

import pytest

from reflog.clock import ManualClock
from reflog.errors import ReflogUsageError
from reflog.storage._fs import Filesystem
from reflog.storage.sim import PAGE_SIZE, IOStats, PowerLossMode, SimFilesystem, WritebackPolicy


def make(seed: int = 0, **policy: Any) -> tuple[SimFilesystem, ManualClock]:
    clock = ManualClock()
    return SimFilesystem(clock, seed=seed, policy=WritebackPolicy(**policy)), clock


def protocol_methods() -> list[str]:
    return [
        name for name in vars(Filesystem) if not name.startswith("_") and callable(getattr(Filesystem, name))
    ]


@pytest.mark.req("PGC-1")
@pytest.mark.parametrize("name", protocol_methods())
def test_implements_every_protocol_method_with_the_same_signature(name: str) -> None:
    expected = inspect.signature(getattr(Filesystem, name))
    actual = inspect.signature(getattr(SimFilesystem, name))
    assert [(p.name, p.kind, p.default) for p in actual.parameters.values()] == [
        (p.name, p.kind, p.default) for p in expected.parameters.values()
    ]


@pytest.mark.req("PGC-1")
def test_usable_as_a_filesystem() -> None:
    fs: Filesystem = make()[0]
    fs.makedirs("data/t-0")
    h = fs.open("data/t-0/0.log", create=True)
    assert h.path == "data/t-0/0.log"
    fs.pwrite(h, 0, memoryview(b"hello world")[6:])
    assert fs.pread(h, 0, 100) == b"world" and fs.size(h) == 5
    assert fs.sendfile_fd(h) is None
    fs.truncate(h, 2)
    fs.fsync(h)
    fs.fsync_dir("data/t-0")
    fs.rename("data/t-0/0.log", "data/t-0/1.log")
    assert fs.listdir("data/t-0") == ["1.log"] and fs.listdir("") == ["data"]
    assert fs.exists("data") and fs.exists("data/t-0/1.log") and not fs.exists("data/t-0/0.log")
    fs.close(h)
    fs.delete("data/t-0/1.log")
    assert fs.listdir("data/t-0") == []
    assert fs.take_throttle_delay() == 0.0


@pytest.mark.req("PGC-1")
def test_namespace_errors_are_pythons_own() -> None:
    fs, _ = make()
    fs.makedirs("d")
    fs.close(fs.open("d/f", create=True))
    with pytest.raises(FileNotFoundError):
        fs.open("d/missing")
    with pytest.raises(FileNotFoundError):
        fs.open("nodir/f", create=True)
    with pytest.raises(IsADirectoryError):
        fs.open("d")
    with pytest.raises(FileExistsError):
        fs.makedirs("d/f/g")
    with pytest.raises(FileNotFoundError):
        fs.listdir("nope")
    with pytest.raises(NotADirectoryError):
        fs.listdir("d/f")
    with pytest.raises(FileNotFoundError):
        fs.delete("d/missing")
    with pytest.raises(IsADirectoryError):
        fs.delete("d")
    with pytest.raises(FileNotFoundError):
        fs.rename("d/missing", "d/x")
    with pytest.raises(IsADirectoryError):
        fs.rename("d/f", "d")
    with pytest.raises(OSError):
        fs.rename("d", "d/sub")
    with pytest.raises(FileNotFoundError):
        fs.fsync_dir("nope")
    with pytest.raises(NotADirectoryError):
        fs.fsync_dir("d/f")
    fs.makedirs("d")  # existing directories are fine
    fs.rename("d", "e")  # directories move with their contents
    assert fs.visible_paths() == ["e/f"]


@pytest.mark.req("PGC-1")
def test_misuse_raises_reflog_usage_error() -> None:
    fs, _ = make()
    other, _ = make()
    h = fs.open("f", create=True)
    for bad in (
        lambda: fs.open("/abs", create=True),
        lambda: fs.open("a/../b", create=True),
        lambda: fs.pwrite(h, -1, b"x"),
        lambda: fs.pread(h, 0, -1),
        lambda: fs.truncate(h, -5),
        lambda: other.pread(h, 0, 1),
        lambda: fs.power_loss(PowerLossMode.PARTIAL, survival_probability=2.0),
    ):
        with pytest.raises(ReflogUsageError):
            bad()
    fs.close(h)
    with pytest.raises(ReflogUsageError):
        fs.pread(h, 0, 1)
    with pytest.raises(ReflogUsageError):
        fs.close(h)


def workload(seed: int) -> tuple[object, ...]:
    """A scripted random workload with every kind of randomness the model has."""
    fs, clock = make(seed, memory_bytes=64 * PAGE_SIZE, writeback_order="random")
    script = random.Random(1234)  # the same calls for every seed
    fs.makedirs("p")
    fs.fsync_dir("")
    handles = [fs.open(f"p/{i}.log", create=True) for i in range(3)]
    for step in range(400):
        h = script.choice(handles)
        fs.pwrite(h, script.randrange(0, 40 * PAGE_SIZE), bytes([step % 256]) * script.randrange(1, 9000))
        if step % 37 == 0:
            fs.fsync(h)
        if step % 50 == 0:
            fs.fsync_dir("p")
        clock.advance(0.3)
        fs.writeback_tick()
    report = fs.power_loss(PowerLossMode.TORN)
    contents = tuple(fs.visible_bytes(p) for p in fs.visible_paths())
    return report, contents, fs.stats.snapshot()


@pytest.mark.req("PGC-2")
def test_same_seed_same_run() -> None:
    assert workload(42) == workload(42)
    assert workload(42)[:2] != workload(43)[:2]


@pytest.mark.req("PGC-18")
def test_stats_snapshot_delta_and_reset() -> None:
    fs, _ = make()
    h = fs.open("f", create=True)
    fs.pwrite(h, 0, b"x" * PAGE_SIZE)
    before = fs.stats.snapshot()
    fs.fsync(h)
    assert before.fsyncs == 0 and fs.stats.fsyncs == 1
    delta = fs.stats.delta(before)
    assert (delta.fsyncs, delta.write_ios, delta.pages_written_back, delta.bytes_written) == (
        1,
        1,
        1,
        PAGE_SIZE,
    )
    assert delta.pages_dirtied == 0
    fs.stats.reset()
    assert fs.stats == IOStats()
    assert isinstance(fs.stats.throttle_seconds, float)


@pytest.mark.req("PGC-19")
def test_oracle_views_have_no_side_effects() -> None:
    fs, _ = make()
    h = fs.open("f", create=True)
    fs.fsync_dir("")
    fs.pwrite(h, 0, b"a" * 3 * PAGE_SIZE)
    fs.fsync(h)
    fs.drop_clean()
    fs.pwrite(h, PAGE_SIZE, b"b")
    before = (fs.stats.snapshot(), fs.cached_page_count, fs.dirty_page_count)
    assert fs.visible_bytes("f") == b"a" * PAGE_SIZE + b"b" + b"a" * (2 * PAGE_SIZE - 1)
    assert fs.durable_bytes("f") == b"a" * 3 * PAGE_SIZE
    assert fs.durable_exists("f") and fs.durable_paths() == fs.visible_paths() == ["f"]
    assert (fs.stats.snapshot(), fs.cached_page_count, fs.dirty_page_count) == before
    with pytest.raises(FileNotFoundError):
        fs.durable_bytes("g")
