"""The seeds' claims about Kafka and the page cache, shown in the simulated counters (LOG-22).

1. Many small appends become a few large, sequential write-back runs.
2. A consumer reading the tail is served from the page cache: no device reads.
3. A lagging consumer's cold reads evict the pages the tail consumer needs, and the tail
   consumer's hit rate drops.
"""

from __future__ import annotations

import pytest

from reflog.clock import ManualClock
from reflog.log import Log, LogConfig
from reflog.records import verify_crc
from reflog.storage.sim import SimFilesystem, WritebackPolicy
from tests.log.helpers import batch

KIB = 1024


def one_kib_batch(i: int) -> bytes:
    return batch([(b"%08d" % i) * 120], timestamp=i)  # ~1 KiB per batch


@pytest.mark.req("LOG-22")
def test_many_small_appends_become_few_large_sequential_writeback_runs() -> None:
    clock = ManualClock()
    fs = SimFilesystem(
        clock=clock, seed=1, policy=WritebackPolicy(memory_bytes=64 * 1024 * KIB), trace_io=True
    )
    log = Log.open(fs, "d/t-0", LogConfig(), clock)
    appends = 8000  # ~8 MiB in ~1 KiB appends
    for i in range(appends):
        log.append_as_leader(one_kib_batch(i), leader_epoch=0)
        if i % 100 == 0:
            clock.advance(1.0)  # 100 appends per simulated second
            fs.writeback_tick()
    clock.advance(60)
    fs.writeback_tick()
    stats = fs.stats
    data_pages = log.active_segment.size // 4096
    assert stats.pages_written_back >= data_pages  # everything reached the device
    assert stats.writeback_runs * 100 <= appends  # >= 100 appends coalesced into each run
    # Kafka's defaults: no fsync on the produce path. The one fsync is of leader-epoch-checkpoint,
    # written when the first batch of epoch 0 arrived.
    assert stats.fsyncs == 1
    # The segment file's runs follow each other on the device: each starts where the previous one
    # ended (or on its last, partly filled page, which the next appends dirtied again). Cyclic
    # write-back (Linux's writeback_index) sometimes skips that re-dirtied page and writes it
    # alone later: a rare one-page out-of-order I/O.
    ino = fs.ino_of(log.active_segment.log_path)
    runs = [io for io in fs.io_trace if io.kind == "write" and io.ino == ino]
    assert sum(r.n_pages for r in runs) / len(runs) >= 64  # 256 KiB and more per device write
    out_of_order = []
    end = runs[0].first_page + runs[0].n_pages
    for run in runs[1:]:
        if run.first_page in (end, end - 1):
            end = run.first_page + run.n_pages
        else:
            out_of_order.append(run)
    assert len(out_of_order) <= len(runs) // 5
    assert sum(r.n_pages for r in out_of_order) * 100 <= sum(r.n_pages for r in runs)


def _next_offset(records: bytes, offset: int) -> int:
    position = 0
    while position < len(records):
        header = verify_crc(records, position)
        position += header.size
        offset = header.next_offset
    return offset


def run_consumers(*, lagging: bool) -> tuple[float, int]:
    """A producer, a tail consumer 256 batches behind, and (optionally) a consumer reading from 0.

    Returns the tail consumer's hit rate (the share of the bytes it read that did not have to
    come from the device) and the bytes the lagging consumer read from the device.
    """
    clock = ManualClock()
    fs = SimFilesystem(clock=clock, seed=2, policy=WritebackPolicy(memory_bytes=1024 * KIB))
    log = Log.open(fs, "d/t-0", LogConfig(), clock)
    for i in range(8000):  # ~8 MiB of history, eight times the cache
        log.append_as_leader(one_kib_batch(i), leader_epoch=0)
    clock.advance(60)
    fs.writeback_tick()
    tail_offset = log.log_end_offset
    lag_offset = 0
    tail_served = tail_from_device = lag_from_device = 0
    for step in range(200):
        for j in range(16):
            log.append_as_leader(one_kib_batch(8000 + step * 16 + j), leader_epoch=0)
        clock.advance(0.1)
        fs.writeback_tick()
        if lagging:
            before = fs.stats.bytes_read
            fetched = log.read(lag_offset, 32 * KIB)  # slower than the producer: it never catches up
            assert fetched.records is not None
            lag_offset = _next_offset(fetched.records, lag_offset)
            lag_from_device += fs.stats.bytes_read - before
        if step >= 16:  # the tail consumer trails the producer by 16 steps (256 batches, ~256 KiB)
            target = log.log_end_offset - 256
            before = fs.stats.bytes_read
            tail_served += read_range(log, tail_offset, target)
            tail_from_device += fs.stats.bytes_read - before
            tail_offset = target
    return 1 - min(1.0, tail_from_device / tail_served), lag_from_device


def read_range(log: Log, start: int, end: int) -> int:
    """Read offsets [start, end) in 64 KiB fetches; returns the bytes served."""
    served = 0
    offset = start
    while offset < end:
        fetched = log.read(offset, 64 * KIB, max_offset=end)
        if fetched.records is None:
            break
        served += len(fetched.records)
        offset = _next_offset(fetched.records, offset)
    return served


@pytest.mark.req("LOG-22")
def test_tail_consumer_hits_the_cache_until_a_lagging_consumer_evicts_its_pages() -> None:
    alone, _ = run_consumers(lagging=False)
    together, lag_from_device = run_consumers(lagging=True)
    assert alone == 1.0  # the tail is always in the page cache: no disk reads at all
    assert lag_from_device > 4 * 1024 * KIB  # the lagging consumer reads its history from the device
    assert together < 0.8 * alone  # ...and pushes out the pages the tail consumer needed
