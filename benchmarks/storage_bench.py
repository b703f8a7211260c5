#!/usr/bin/env python3
"""reflog storage benchmark: the log's append path measured against this machine's raw limits.

One run prints three tables; every reflog figure is set next to a raw loop measured in the
same run, in the same directory, so the ratio does not depend on the day's machine:

[1] Append throughput on the OS backend (page cache, no fsync), large batches.
    ``Log.append_as_leader`` (CRC + full decode of every record, offsets and epoch stamped)
    and ``Log.append_as_follower`` (CRC and header checks only, offsets kept) against a raw
    ``os.write()`` loop of the same chunk size. Ratio = log MiB/s / raw MiB/s.
[2] ``flush.messages=1``: 1 KiB batches, each append followed by ``Log.flush()``, against a
    raw ``write(1 KiB) + fsync`` loop. Ratio = log appends/s / raw ops/s. The log's flush
    fsyncs the ``.log`` file, and an index file only when it changed, so fsyncs per append
    explain part of the ratio; a third loop (the same fsyncs, raw) checks that explanation.
[3] Write-back in the simulated page cache (``SimFilesystem``): small appends under a
    ``ManualClock``, the flusher's ``writeback_tick()`` run whenever write-back is due;
    write-back runs and device I/Os per MiB appended, and appends coalesced per run.

Usage::

    python benchmarks/storage_bench.py [--quick] [--dir DIR] [--json FILE]

Standard library plus reflog only. Scratch files live in a fresh temporary directory
(under ``/tmp`` unless ``--dir`` says otherwise) that is removed at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

# Benchmark the working tree even when reflog is not installed in the interpreter.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from reflog.clock import ManualClock, WallClock
from reflog.log import Log, LogConfig
from reflog.records import Record, build_batch, with_base_offset
from reflog.storage import OsFilesystem
from reflog.storage.sim import PAGE_SIZE, IOStats, SimFilesystem, WritebackPolicy

KiB = 1024
MiB = 1024 * KiB
GiB = 1024 * MiB

#: Segments this large never roll in section 1 (at most 512 MiB is appended to one log).
SEGMENT_BYTES = 1 * GiB


# ====================================================================================== helpers


@dataclass(frozen=True)
class Settings:
    """Sizes and time boxes of one invocation."""

    quick: bool
    append_total_bytes: int
    append_runs: int
    fsync_time_box_s: float
    fsync_rounds: int
    sim_total_bytes: int


def settings_for(quick: bool) -> Settings:
    if quick:
        return Settings(True, 64 * MiB, 3, 1.0, 3, 16 * MiB)
    return Settings(False, 512 * MiB, 3, 3.0, 3, 64 * MiB)


def build_sized_batch(
    record_count: int, target_bytes: int, *, base_offset: int = 0, epoch: int = -1
) -> bytes:
    """An uncompressed v2 batch of ``record_count`` equal records, the largest one <= ``target_bytes``."""
    value_size = max(0, (target_bytes - 61) // record_count - 8)
    while True:
        batch = build_batch(
            [Record(key=None, value=b"x" * value_size)] * record_count,
            base_offset=base_offset,
            partition_leader_epoch=epoch,
        )
        if len(batch) <= target_bytes or value_size == 0:
            break
        value_size -= max(1, (len(batch) - target_bytes) // record_count)
    while True:  # grow back to the largest size that still fits
        bigger = build_batch(
            [Record(key=None, value=b"x" * (value_size + 1))] * record_count,
            base_offset=base_offset,
            partition_leader_epoch=epoch,
        )
        if len(bigger) > target_bytes:
            return batch
        batch, value_size = bigger, value_size + 1


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def fmt_int(n: float) -> str:
    return f"{n:,.0f}"


def fmt_runs(values: list[float], digits: int = 0) -> str:
    return " ".join(f"{v:,.{digits}f}" for v in values)


def print_table(headers: list[str], rows: list[list[str]], right: set[int] | None = None) -> None:
    """Print a plain fixed-width table; columns in ``right`` are right-aligned."""
    right = right or set()
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]

    def line(cells: list[str]) -> str:
        out = [
            c.rjust(w) if i in right else c.ljust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ]
        return "  " + "  ".join(out).rstrip()

    print(line(headers))
    print("  " + "  ".join("-" * w for w in widths))
    for row in rows:
        print(line(row))


def remove_tree(path: str) -> None:
    shutil.rmtree(path, ignore_errors=True)


# ====================================================================================== [1] append throughput


@dataclass
class AppendCase:
    """One (shape, path) cell of section 1: per-run MiB/s, warm-up first."""

    shape: str
    path: str
    batch_bytes: int
    records_per_batch: int
    batches_per_run: int
    warmup_mib_s: float = 0.0
    runs_mib_s: list[float] = field(default_factory=list)
    median_mib_s: float = 0.0
    median_records_s: float = 0.0
    #: Per run: this path's MiB/s / the raw loop's MiB/s in the same round (paired, drift-robust).
    runs_ratio: list[float] = field(default_factory=list)
    #: The median of ``runs_ratio``: the figure in the "/ raw" column.
    ratio_to_raw: float = 0.0
    #: median MiB/s / the raw loop's median MiB/s (unpaired; for comparison).
    ratio_of_medians: float = 0.0


def raw_write_loop(path: str, chunk: bytes, count: int) -> float:
    """Append ``count`` copies of ``chunk`` with ``os.write`` (O_APPEND, no fsync); returns seconds."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND, 0o644)
    try:
        view = memoryview(chunk)
        t0 = time.perf_counter()
        for _ in range(count):
            written = os.write(fd, view)
            while written < len(view):  # short writes are unheard of on ext4, but be exact
                written += os.write(fd, view[written:])
        return time.perf_counter() - t0
    finally:
        os.close(fd)
        os.unlink(path)


def log_leader_loop(root: str, name: str, batch: bytes, count: int) -> float:
    """Append ``batch`` ``count`` times with ``append_as_leader``; returns seconds of the loop only."""
    fs = OsFilesystem(root)
    log = Log.open(fs, name, LogConfig(segment_bytes=SEGMENT_BYTES), WallClock())
    try:
        append = log.append_as_leader
        t0 = time.perf_counter()
        for _ in range(count):
            append(batch, 0)
        return time.perf_counter() - t0
    finally:
        log.close()
        remove_tree(os.path.join(root, name))


def log_follower_loop(root: str, name: str, batches: list[bytes]) -> float:
    """Append ``batches`` (contiguous offsets) with ``append_as_follower``; returns seconds of the loop only.

    The batches were built before timing, one ``bytes`` object per offset (``with_base_offset``
    of one batch), because a follower refuses a batch that does not start at its log end
    offset. A whole-``bytes`` batch is written without any copy by the log.
    """
    fs = OsFilesystem(root)
    log = Log.open(fs, name, LogConfig(segment_bytes=SEGMENT_BYTES), WallClock())
    try:
        append = log.append_as_follower
        t0 = time.perf_counter()
        for batch in batches:
            append(batch)
        return time.perf_counter() - t0
    finally:
        log.close()
        remove_tree(os.path.join(root, name))


def append_runners(
    root: str, batch: bytes, count: int, follower_batches: list[bytes]
) -> list[tuple[str, Callable[[int], float]]]:
    """The three paths of one shape, each a function of the run number returning seconds."""

    def raw(run: int) -> float:
        return raw_write_loop(os.path.join(root, f"raw-{run}.dat"), batch, count)

    def leader(run: int) -> float:
        return log_leader_loop(root, f"leader-{run}", batch, count)

    def follower(run: int) -> float:
        return log_follower_loop(root, f"follower-{run}", follower_batches)

    return [("raw os.write()", raw), ("append_as_leader", leader), ("append_as_follower", follower)]


def bench_append(root: str, cfg: Settings) -> list[AppendCase]:
    shapes = [
        ("1 KiB records", 1024),  # 1024 records of ~1 KiB in a ~1 MiB batch
        ("256 KiB records", 4),  # 4 records of ~256 KiB in a ~1 MiB batch
    ]
    cases: list[AppendCase] = []
    for shape_name, record_count in shapes:
        # Batches stay within the default max.message.bytes (1 MiB + 12).
        batch = build_sized_batch(record_count, MiB)
        count = max(1, cfg.append_total_bytes // len(batch))
        # The follower needs one batch per offset: built here, once, and reused by every run.
        follower_batch = build_sized_batch(record_count, MiB, epoch=0)
        follower_batches = [with_base_offset(follower_batch, i * record_count) for i in range(count)]
        shape = f"{record_count} x {(len(batch) - 61) // record_count:,} B"
        runners = append_runners(root, batch, count, follower_batches)
        shape_cases = [AppendCase(shape, label, len(batch), record_count, count) for label, _ in runners]
        mib = count * len(batch) / MiB
        print(
            f"  ... {shape_name}: {len(runners)} paths x (1 warm-up + {cfg.append_runs} runs)"
            f" of {mib:,.0f} MiB",
            flush=True,
        )
        # Interleave the paths run by run so slow drift on the shared VM hits all of them alike.
        for run in range(-1, cfg.append_runs):
            for case, (_, runner) in zip(shape_cases, runners, strict=True):
                seconds = runner(run + 1)
                rate = mib / seconds
                if run < 0:
                    case.warmup_mib_s = rate
                else:
                    case.runs_mib_s.append(rate)
        raw = shape_cases[0]
        for case in shape_cases:
            case.median_mib_s = median(case.runs_mib_s)
            case.median_records_s = case.median_mib_s * MiB / case.batch_bytes * record_count
        for case in shape_cases:
            case.runs_ratio = [a / b for a, b in zip(case.runs_mib_s, raw.runs_mib_s, strict=True)]
            case.ratio_to_raw = median(case.runs_ratio)
            case.ratio_of_medians = case.median_mib_s / raw.median_mib_s
        cases.extend(shape_cases)
        del follower_batches, runners
    return cases


def print_append(cases: list[AppendCase], cfg: Settings) -> None:
    mib = cfg.append_total_bytes // MiB
    print(
        f"\n[1] Append throughput, OS backend, page cache, no fsync "
        f"(~{mib} MiB per run, 1 warm-up + median of {cfg.append_runs}; "
        f"segment.bytes={SEGMENT_BYTES // MiB} MiB)"
    )
    rows = [
        [
            c.shape,
            fmt_int(c.batch_bytes),
            c.path,
            f"{c.warmup_mib_s:,.0f}",
            fmt_runs(c.runs_mib_s),
            f"{c.median_mib_s:,.0f}",
            fmt_int(c.median_records_s),
            f"{c.ratio_to_raw:.3f}",
            fmt_runs(c.runs_ratio, 2),
        ]
        for c in cases
    ]
    print_table(
        [
            "records per batch",
            "batch B",
            "path",
            "warm-up",
            "runs MiB/s",
            "median MiB/s",
            "records/s",
            "/ raw",
            "per-run / raw",
        ],
        rows,
        right={1, 3, 5, 6, 7},
    )
    print(
        "  warm-up = first pass, discarded (first touch of guest memory); "
        "/ raw = median of the per-run paired ratios."
    )


# ====================================================================================== [2] flush.messages=1


@dataclass
class FsyncCase:
    path: str
    rounds_ops_s: list[float] = field(default_factory=list)
    total_ops: int = 0
    total_seconds: float = 0.0
    fsyncs: int = 0
    median_ops_s: float = 0.0
    fsyncs_per_op: float = 0.0
    #: Per round: this path's ops/s / the raw write+fsync loop's ops/s in the same round.
    rounds_ratio: list[float] = field(default_factory=list)
    #: The median of ``rounds_ratio`` (the "/ raw" column).
    ratio_to_raw: float = 0.0
    #: median ops/s / the raw loop's median ops/s (unpaired; for comparison).
    ratio_of_medians: float = 0.0


def raw_fsync_loop(root: str, chunk: bytes, time_box: float, side_files: bool) -> tuple[int, float, int]:
    """``write(chunk) + fsync`` until ``time_box`` passes; returns (ops, seconds, fsyncs).

    With ``side_files``, whenever more than 4 KiB of data were written since the last entry, a
    small side file gets an 8-byte entry and is fsynced too: what a log segment's ``.index``
    sees with ``index.interval.bytes=4096`` (the ``.timeindex`` gains no entry here, since the
    benchmark's batches all carry the same timestamp).
    """
    paths = [os.path.join(root, f"fsync-{name}.dat") for name in ("log", "index")]
    data_fd = os.open(paths[0], os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND, 0o644)
    side = [os.open(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND, 0o644) for p in paths[1:]]
    entry = bytes(8)
    try:
        ops = fsyncs = since_entry = 0
        t0 = time.perf_counter()
        deadline = t0 + time_box
        while True:
            os.write(data_fd, chunk)
            os.fsync(data_fd)
            fsyncs += 1
            if side_files:
                since_entry += len(chunk)
                if since_entry > 4096:
                    for fd in side:
                        os.write(fd, entry)
                        os.fsync(fd)
                    fsyncs += len(side)
                    since_entry = 0
            ops += 1
            if time.perf_counter() >= deadline:
                break
        return ops, time.perf_counter() - t0, fsyncs
    finally:
        for fd in (data_fd, *side):
            os.close(fd)
        for p in paths:
            os.unlink(p)


def log_flush_loop(root: str, name: str, batch: bytes, time_box: float) -> tuple[int, float, int]:
    """``append_as_leader`` with ``flush.messages=1`` for ``time_box`` s; returns (ops, seconds, fsyncs)."""
    fs = OsFilesystem(root)
    log = Log.open(fs, name, LogConfig(segment_bytes=SEGMENT_BYTES, flush_messages=1), WallClock())
    try:
        log.append_as_leader(batch, 0)  # first append: epoch checkpoint and directory fsync, not timed
        fsyncs0 = fs.fsyncs
        ops = 0
        t0 = time.perf_counter()
        deadline = t0 + time_box
        while True:
            log.append_as_leader(batch, 0)
            ops += 1
            if time.perf_counter() >= deadline:
                break
        elapsed = time.perf_counter() - t0
        if log.recovery_point != log.log_end_offset:
            raise RuntimeError("flush.messages=1 left unflushed messages")
        return ops, elapsed, fs.fsyncs - fsyncs0
    finally:
        log.close()
        remove_tree(os.path.join(root, name))


def bench_flush(root: str, cfg: Settings, batch: bytes) -> list[FsyncCase]:
    cases = [
        FsyncCase("raw write + fsync"),
        FsyncCase("log append, flush.messages=1"),
        FsyncCase("raw, same fsyncs as the log"),
    ]
    per_round = cfg.fsync_time_box_s / cfg.fsync_rounds
    runners: list[Callable[[int], tuple[int, float, int]]] = [
        lambda i: raw_fsync_loop(root, batch, per_round, side_files=False),
        lambda i: log_flush_loop(root, f"flush-{i}", batch, per_round),
        lambda i: raw_fsync_loop(root, batch, per_round, side_files=True),
    ]
    print(
        f"  ... fsync loops: {len(cases)} paths x {cfg.fsync_rounds} rounds of {per_round:.2f} s"
        " (+ short warm-up)",
        flush=True,
    )
    # Warm-up (allocations, the journal, the first directory entries); not reported.
    raw_fsync_loop(root, batch, 0.1, side_files=False)
    log_flush_loop(root, "flush-warm", batch, 0.1)
    raw_fsync_loop(root, batch, 0.1, side_files=True)
    for i in range(cfg.fsync_rounds):
        for case, runner in zip(cases, runners, strict=True):
            ops, seconds, fsyncs = runner(i)
            case.rounds_ops_s.append(ops / seconds)
            case.total_ops += ops
            case.total_seconds += seconds
            case.fsyncs += fsyncs
    raw = cases[0]
    for case in cases:
        case.median_ops_s = median(case.rounds_ops_s)
        case.fsyncs_per_op = case.fsyncs / case.total_ops
        case.rounds_ratio = [a / b for a, b in zip(case.rounds_ops_s, raw.rounds_ops_s, strict=True)]
        case.ratio_to_raw = median(case.rounds_ratio)
        case.ratio_of_medians = case.median_ops_s / raw.median_ops_s
    return cases


def print_flush(cases: list[FsyncCase], cfg: Settings, batch_bytes: int) -> None:
    print(
        f"\n[2] flush.messages=1 vs raw write+fsync ({batch_bytes:,} B batches of one record, "
        f"{cfg.fsync_time_box_s:g} s per path in {cfg.fsync_rounds} interleaved rounds, median of rounds)"
    )
    rows = [
        [
            c.path,
            fmt_runs(c.rounds_ops_s),
            fmt_int(c.median_ops_s),
            f"{1e6 / c.median_ops_s:,.0f}",
            f"{c.median_ops_s * batch_bytes / MiB:.2f}",
            f"{c.fsyncs_per_op:.2f}",
            f"{c.ratio_to_raw:.3f}",
            fmt_runs(c.rounds_ratio, 2),
        ]
        for c in cases
    ]
    print_table(
        ["path", "rounds ops/s", "median ops/s", "us/op", "MiB/s", "fsyncs/op", "/ raw", "per-round / raw"],
        rows,
        right={2, 3, 4, 5, 6},
    )
    log_case, raw3 = cases[1], cases[2]
    vs_raw3 = median([a / b for a, b in zip(log_case.rounds_ops_s, raw3.rounds_ops_s, strict=True)])
    print(
        f"  Log.flush() fsyncs the .log file, and .index/.timeindex only when they changed (every\n"
        f"  index.interval.bytes): {log_case.fsyncs_per_op:.2f} fsyncs per append. If fsync latency "
        f"dominated, the ratio would be ~1/{log_case.fsyncs_per_op:.2f} = {1 / log_case.fsyncs_per_op:.3f};\n"
        f"  the raw loop with the same fsyncs measures {raw3.ratio_to_raw:.3f}, and the log reaches "
        f"{vs_raw3:.3f} of it\n  (median of per-round ratios); the rest is the log's own CPU cost per append."
    )


# ================================================================================== [3] simulated write-back


@dataclass
class SimCase:
    scenario: str
    producer_mib_s: float
    clock_step_s: float
    appends: int
    mib_appended: float
    simulated_seconds: float
    ticks: int
    wall_seconds: float
    during_appends: dict[str, float]
    final_fsync: dict[str, float]
    total: dict[str, float]
    metrics: dict[str, float]


_STAT_FIELDS = (
    "writeback_runs",
    "pages_written_back",
    "write_ios",
    "seq_write_ios",
    "rand_write_ios",
    "bytes_written",
    "pages_dirtied",
    "evictions_clean",
    "evictions_dirty",
    "throttle_pauses",
    "writer_writebacks",
    "fsyncs",
    "device_flushes",
)


def _stats_dict(stats: IOStats) -> dict[str, float]:
    return {name: getattr(stats, name) for name in _STAT_FIELDS}


def sim_writeback(
    scenario: str, total_bytes: int, batch: bytes, producer_mib_s: float, policy: WritebackPolicy
) -> SimCase:
    """Append ``total_bytes`` of ``batch`` to a log on a SimFilesystem, ``producer_mib_s`` in simulated time.

    After every append the clock moves by the producer's inter-arrival time (plus any
    writer throttling the cache asks for) and the flusher's ``writeback_tick()`` runs
    whenever ``next_writeback_due()`` has come: what ``reflog.storage.flusher`` does
    under trio, with the wake-up hook's effect folded into the due time.
    """
    clock = ManualClock()
    fs = SimFilesystem(clock, seed=0, policy=policy)
    log = Log.open(fs, "topic-0", LogConfig(segment_bytes=SEGMENT_BYTES), clock)
    step = len(batch) / (producer_mib_s * MiB)
    appends = total_bytes // len(batch)
    before = fs.stats.snapshot()
    ticks = 0
    t0 = time.perf_counter()
    try:
        for _ in range(appends):
            log.append_as_leader(batch, 0)
            clock.advance(step + fs.take_throttle_delay())
            if clock.now() >= fs.next_writeback_due():
                fs.writeback_tick()
                ticks += 1
        mid = fs.stats.snapshot()
        log.flush()
        end = fs.stats.snapshot()
    finally:
        log.close()
    wall = time.perf_counter() - t0
    during = _stats_dict(mid.delta(before))
    final = _stats_dict(end.delta(mid))
    total = _stats_dict(end.delta(before))
    mib = appends * len(batch) / MiB
    runs = total["writeback_runs"]
    metrics = {
        "writeback_runs_per_mib": runs / mib,
        "write_ios_per_mib": total["write_ios"] / mib,
        "seq_fraction": total["seq_write_ios"] / total["write_ios"] if total["write_ios"] else float("nan"),
        "pages_per_run": total["pages_written_back"] / runs if runs else float("nan"),
        "appends_per_mib": appends / mib,
        "appends_per_run": appends / runs if runs else float("nan"),
        "device_bytes_per_appended_byte": total["bytes_written"] / (appends * len(batch)),
    }
    return SimCase(
        scenario=scenario,
        producer_mib_s=producer_mib_s,
        clock_step_s=step,
        appends=appends,
        mib_appended=mib,
        simulated_seconds=clock.now(),
        ticks=ticks,
        wall_seconds=wall,
        during_appends=during,
        final_fsync=final,
        total=total,
        metrics=metrics,
    )


def bench_sim(cfg: Settings, batch: bytes, policy: WritebackPolicy) -> list[SimCase]:
    scenarios = [
        # Fast producer: the background threshold is crossed within a second; the flusher
        # writes the oldest dirty pages back in runs of up to max_run_pages.
        ("fast producer (background write-back)", 20.0),
        # Slow producer: 10 % of 64 MiB (6.4 MiB) takes ~64 s to dirty, so the periodic pass
        # (every 5 s, inodes dirty >= 30 s) writes first, in smaller bursts.
        ("slow producer (periodic write-back)", 0.1),
    ]
    mib = cfg.sim_total_bytes // MiB
    print(f"  ... simulated page cache: {len(scenarios)} scenarios of {mib} MiB", flush=True)
    return [sim_writeback(name, cfg.sim_total_bytes, batch, rate, policy) for name, rate in scenarios]


def print_sim(cases: list[SimCase], policy: WritebackPolicy, batch_bytes: int) -> None:
    print(
        f"\n[3] Write-back in the simulated page cache (SimFilesystem, ManualClock; "
        f"{batch_bytes:,} B batches via append_as_leader, then one Log.flush())"
    )
    print(
        f"  policy = WritebackPolicy() defaults: memory_bytes={policy.memory_bytes // MiB} MiB, "
        f"dirty_background_ratio={policy.dirty_background_ratio} ({policy.background_pages} pages = "
        f"{policy.background_pages * PAGE_SIZE / MiB:.1f} MiB),\n"
        f"    dirty_ratio={policy.dirty_ratio} ({policy.hard_pages} pages), "
        f"dirty_expire_s={policy.dirty_expire_s:g}, "
        f"dirty_writeback_interval_s={policy.dirty_writeback_interval_s:g}, "
        f"max_run_pages={policy.max_run_pages} ({policy.max_run_pages * PAGE_SIZE // KiB} KiB),\n"
        f"    writeback_order={policy.writeback_order}, "
        f"device_volatile_cache={policy.device_volatile_cache}, max_pause_s={policy.max_pause_s:g}"
    )

    def metric(name: str, value: Callable[[SimCase], str]) -> list[str]:
        return [name, *(value(c) for c in cases)]

    rows = [
        metric("producer rate, simulated MiB/s", lambda c: f"{c.producer_mib_s:g}"),
        metric(
            "MiB appended / simulated seconds",
            lambda c: f"{c.mib_appended:,.0f} / {c.simulated_seconds:,.1f}",
        ),
        metric("appends per MiB", lambda c: f"{c.metrics['appends_per_mib']:,.0f}"),
        metric("write-back runs per MiB", lambda c: f"{c.metrics['writeback_runs_per_mib']:.3f}"),
        metric(
            "  runs: flusher ticks + final fsync",
            lambda c: f"{c.during_appends['writeback_runs']:,.0f} + {c.final_fsync['writeback_runs']:,.0f}",
        ),
        metric("device write I/Os per MiB", lambda c: f"{c.metrics['write_ios_per_mib']:.3f}"),
        metric(
            "sequential fraction (seq/write_ios)",
            lambda c: (
                f"{c.metrics['seq_fraction']:.3f} "
                f"({c.total['seq_write_ios']:,.0f}/{c.total['write_ios']:,.0f})"
            ),
        ),
        metric("pages written back per run", lambda c: f"{c.metrics['pages_per_run']:.1f}"),
        metric("appends coalesced per run", lambda c: f"{c.metrics['appends_per_run']:,.0f}"),
        metric(
            "device bytes / appended bytes", lambda c: f"{c.metrics['device_bytes_per_appended_byte']:.3f}"
        ),
        metric(
            "throttle pauses / writer write-backs",
            lambda c: f"{c.total['throttle_pauses']:,.0f} / {c.total['writer_writebacks']:,.0f}",
        ),
        metric(
            "evictions clean / dirty",
            lambda c: f"{c.total['evictions_clean']:,.0f} / {c.total['evictions_dirty']:,.0f}",
        ),
        metric("writeback_tick() calls", lambda c: f"{c.ticks:,}"),
        metric("wall seconds", lambda c: f"{c.wall_seconds:.1f}"),
    ]
    print_table(["", *(c.scenario for c in cases)], rows, right=set(range(1, len(cases) + 1)))
    print(
        "  After each append the clock advances by one inter-arrival time (plus any throttle pause the\n"
        "  cache asks for) and writeback_tick() runs whenever next_writeback_due() has come, as the trio\n"
        "  flusher would."
    )


# ====================================================================================== main


HEADER = """\
How to read the ratios (every divisor is measured in this same run, same directory):
  [1] "/ raw" = log append MiB/s / MiB/s of a raw os.write() loop of the same chunk size (one
      batch) into a file in the same directory (page cache, no fsync), paired run by run (runs
      interleaved), median over runs. 1.000 = the log costs nothing over the syscall.
      append_as_leader: 2 CRC passes + a pure-Python decode of every record (copying each value
      out) + 4 copies of the batch (bytearray+bytes twice, to stamp offset and epoch) + pwrite;
      append_as_follower: 1 CRC pass + header checks + pwrite, no copy (its batches, one per
      offset, are distinct buffers built before timing).
  [2] "/ raw" = log appends/s with flush.messages=1 / ops/s of a raw write(1 KiB)+fsync loop,
      paired round by round (rounds interleaved), median over rounds.
      Log.flush() fsyncs the .log file and an index file only when it changed; the "same
      fsyncs" raw loop measures what those fsyncs alone cost.
  [3] no wall-clock ratio: counts from the simulated kernel. runs/MiB = write-back runs (one
      coalesced device write each) per MiB appended; appends/run = how many small appends the
      page cache merged into one device write; seq frac = seq_write_ios / write_ios.
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0] if __doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--quick", action="store_true", help="smaller sizes and 1 s time boxes (~1/8 of the work)"
    )
    parser.add_argument(
        "--dir", default=None, help="parent directory for scratch files (default: the system /tmp)"
    )
    parser.add_argument(
        "--json", metavar="FILE", default=None, help="also write every figure to FILE as JSON"
    )
    args = parser.parse_args(argv)
    cfg = settings_for(args.quick)

    started = time.perf_counter()
    if args.dir is not None:
        os.makedirs(args.dir, exist_ok=True)
    root = tempfile.mkdtemp(prefix="reflog-bench-", dir=args.dir)
    policy = WritebackPolicy()
    small_batch = build_sized_batch(1, KiB)
    try:
        print(
            f"reflog storage benchmark ({'quick' if cfg.quick else 'full'} mode)  "
            f"python {platform.python_version()}, "
            f"{platform.system()} {platform.release()}, {os.cpu_count()} CPUs, scratch dir {root}"
        )
        print(HEADER)
        load_before = os.getloadavg()
        # The fsync loops go first: deleting the large files of [1] leaves the file system
        # busy (journal, discards) for a while and would slow every fsync after it.
        flush_cases = bench_flush(root, cfg, small_batch)
        append_cases = bench_append(root, cfg)
        sim_cases = bench_sim(cfg, small_batch, policy)
        load_after = os.getloadavg()
    finally:
        remove_tree(root)
    elapsed = time.perf_counter() - started
    # This benchmark keeps one CPU busy itself, so only a 1-minute load well above 1 means company.
    busy = load_after[0] > 1.6
    print(
        f"\nload average (1/5/15 min) before: {' '.join(f'{x:.2f}' for x in load_before)}, "
        f"after: {' '.join(f'{x:.2f}' for x in load_after)} on {os.cpu_count()} CPUs (this run adds ~1)"
        + ("\n  -- other processes were competing for the CPUs; expect noisy figures" if busy else "")
    )

    print_append(append_cases, cfg)
    print_flush(flush_cases, cfg, len(small_batch))
    print_sim(sim_cases, policy, len(small_batch))
    print(f"\ntotal runtime {elapsed:.1f} s")

    if args.json:
        doc: dict[str, Any] = {
            "mode": "quick" if cfg.quick else "full",
            "settings": asdict(cfg),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "runtime_seconds": elapsed,
            "load_average_before": load_before,
            "load_average_after": load_after,
            "append_throughput": [asdict(c) for c in append_cases],
            "flush_messages_1": [asdict(c) for c in flush_cases],
            "flush_batch_bytes": len(small_batch),
            "sim_writeback": {"policy": asdict(policy), "cases": [asdict(c) for c in sim_cases]},
        }
        with open(args.json, "w", encoding="utf-8") as out:
            json.dump(doc, out, indent=2)
            out.write("\n")
        print(f"figures written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
