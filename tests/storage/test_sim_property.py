"""Property tests: random operation sequences against a trivial model of one file.

The model is two byte strings: what a reader sees (``visible``) and what the file held
at its last successful fsync (``synced``). The simulated file system, squeezed into a
tiny cache so that eviction, read-modify-write, writer throttling and write-back all
happen constantly, must agree with it after every step.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reflog.clock import ManualClock
from reflog.storage.sim import PAGE_SIZE, PowerLossMode, SimFilesystem, WritebackPolicy

MAX_OFFSET = 12 * PAGE_SIZE


@dataclass(frozen=True)
class Op:
    kind: str
    a: int = 0
    b: int = 0
    fill: int = 0

    def __repr__(self) -> str:
        return f"{self.kind}({self.a}, {self.b}, {self.fill})"


ops = st.one_of(
    st.builds(
        Op,
        st.just("pwrite"),
        st.integers(0, MAX_OFFSET),
        st.integers(1, 3 * PAGE_SIZE),
        st.integers(1, 255),
    ),
    st.builds(Op, st.just("pread"), st.integers(0, MAX_OFFSET), st.integers(0, 4 * PAGE_SIZE)),
    st.builds(Op, st.just("truncate"), st.integers(0, MAX_OFFSET)),
    st.builds(Op, st.just("tick"), st.integers(0, 40)),
    st.builds(Op, st.sampled_from(["fsync", "drop_clean", "crash_process", "power_loss", "sync_dir"])),
)


def page_of(data: bytes, index: int, size: int | None = None) -> bytes:
    """Page ``index`` of ``data`` as a full page, zero beyond ``size`` (default: the end of ``data``)."""
    end = len(data) if size is None else size
    chunk = data[index * PAGE_SIZE : min((index + 1) * PAGE_SIZE, end)]
    return chunk + bytes(PAGE_SIZE - len(chunk))


def run(script: list[Op], *, volatile_cache: bool = True, mode: PowerLossMode = PowerLossMode.CLEAN) -> None:
    clock = ManualClock()
    policy = WritebackPolicy(
        memory_bytes=16 * PAGE_SIZE, readahead_max_pages=4, device_volatile_cache=volatile_cache
    )
    fs = SimFilesystem(clock, seed=len(script), policy=policy)
    h = fs.open("f", create=True)
    fs.fsync_dir("")
    visible = bytearray()
    synced = b""
    versions: dict[int, set[bytes]] = {}  # every content each page has shown since the last fsync
    for op in script:
        if op.kind == "pwrite":
            data = bytes([op.fill]) * op.b
            fs.pwrite(h, op.a, data)
            if op.a > len(visible):
                visible += bytes(op.a - len(visible))
            visible[op.a : op.a + op.b] = data
        elif op.kind == "pread":
            assert fs.pread(h, op.a, op.b) == bytes(visible[op.a : op.a + op.b])
        elif op.kind == "truncate":
            fs.truncate(h, op.a)
            visible = visible[: op.a] + bytes(max(0, op.a - len(visible)))
        elif op.kind == "tick":
            clock.advance(op.a)
            fs.writeback_tick()
        elif op.kind == "fsync":
            fs.fsync(h)
            synced = bytes(visible)
            versions.clear()
            assert fs.durable_bytes("f") == synced
        elif op.kind == "drop_clean":
            fs.drop_clean()
        elif op.kind == "crash_process":
            fs.crash_process()
            h = fs.open("f")
        elif op.kind == "sync_dir":
            fs.fsync_dir("")  # a flush barrier too: makes written-back pages durable
            synced = fs.durable_bytes("f")
        else:
            durable = fs.durable_bytes("f")
            fs.power_loss(mode)
            h = fs.open("f")
            after = fs.visible_bytes("f")
            if mode is PowerLossMode.CLEAN:
                assert after == durable
                if volatile_cache:
                    assert durable == synced
            else:
                # the size is the durable or the last visible one; each page is its durable content
                # or a content it showed since the last fsync, cut at the new size
                assert len(after) in (len(durable), len(visible))
                for i in range(-(-len(after) // PAGE_SIZE)):
                    candidates = versions.get(i, set()) | {page_of(durable, i)}
                    assert page_of(after, i) in {
                        page_of(c, 0, len(after) - i * PAGE_SIZE) for c in candidates
                    }
            visible = bytearray(after)
            synced = fs.durable_bytes("f")
            versions.clear()
        assert fs.visible_bytes("f") == bytes(visible)
        assert fs.size(h) == len(visible)
        assert fs.cached_page_count <= 16
        if volatile_cache and mode is PowerLossMode.CLEAN:
            # only flush barriers move bytes to media, and only fsync commits the size
            assert fs.durable_bytes("f") == synced
        for i in range(-(-len(visible) // PAGE_SIZE)):
            versions.setdefault(i, set()).add(page_of(bytes(visible), i))
        fs.take_throttle_delay()


@pytest.mark.req("PGC-5", "PGC-11", "PGC-12", "PGC-13", "PGC-22", "PGC-23")
@given(st.lists(ops, max_size=40))
def test_visible_and_durable_bytes_follow_a_simple_model(script: list[Op]) -> None:
    run(script, volatile_cache=True)


@pytest.mark.req("PGC-5", "PGC-11", "PGC-12", "PGC-23")
@given(st.lists(ops, max_size=40))
def test_without_device_cache_clean_power_loss_leaves_the_durable_bytes(script: list[Op]) -> None:
    run(script, volatile_cache=False)


@pytest.mark.req("PGC-24", "PGC-13")
@given(st.lists(ops, max_size=40))
def test_partial_power_loss_keeps_only_page_versions_that_were_visible(script: list[Op]) -> None:
    run(script, mode=PowerLossMode.PARTIAL)
