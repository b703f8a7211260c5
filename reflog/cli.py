"""The ``reflog`` command line.

``reflog scenarios`` (the main job) runs the fault-scenario catalogue on an embedded 3-broker
cluster; see :mod:`reflog.cli_scenarios`. ``reflog demo`` is the storage demonstration: a
partition log on the simulated page cache, its write-back counters, then a process crash and
a power loss in each of the three modes, each followed by recovery, with what survived. Every
run is seeded and prints the command that replays it.
"""

from __future__ import annotations

import argparse
import copy
import random
import sys
import tempfile
from collections.abc import Sequence

from faults.storage_oracle import batch_map, guaranteed_end
from reflog import cli_bench, cli_serve
from reflog.cli_scenarios import run_catalogue
from reflog.clock import ManualClock
from reflog.log import LogConfig, LogManager, TopicPartition
from reflog.records import Record, build_batch
from reflog.storage import OsFilesystem
from reflog.storage.sim import PowerLossMode, SimFilesystem, WritebackPolicy

_TP = TopicPartition("orders", 0)


def _table(rows: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _produce(
    manager: LogManager,
    clock: ManualClock,
    fs: SimFilesystem,
    rng: random.Random,
    *,
    batches: int,
    flush_at: int,
) -> tuple[int, int]:
    """Append ``batches`` batches of ten records; returns (log end offset, recovery point)."""
    log = manager.create_log(*_TP)
    for i in range(batches):
        records = [Record(key=b"k%d" % rng.randrange(100), value=rng.randbytes(100)) for _ in range(10)]
        log.append_as_leader(build_batch(records, timestamp=int(clock.now() * 1000)), leader_epoch=0)
        if i == flush_at:
            log.flush()
            manager.checkpoint_recovery_points()
        if i % 50 == 0:
            clock.advance(1.0)
            fs.writeback_tick()
    return log.log_end_offset, log.recovery_point


def demo(seed: int, batches: int) -> int:
    """Run the storage demonstration; returns the process exit code."""
    print(f"reflog storage demonstration (seed {seed}; replay with: reflog demo --seed {seed})\n")
    clock = ManualClock()
    rng = random.Random(seed)
    fs = SimFilesystem(clock=clock, seed=seed, policy=WritebackPolicy(memory_bytes=16 * 1024 * 1024))
    config = LogConfig(segment_bytes=8 * 1024 * 1024)
    manager = LogManager(fs, "data", clock, default_config=config)
    manager.startup()
    acked, flushed = _produce(manager, clock, fs, rng, batches=batches, flush_at=batches // 2)
    stats = fs.stats
    appended_mib = manager.logs[_TP].size_in_bytes / 2**20
    print(f"Appended {acked} records in {batches} batches ({appended_mib:.1f} MiB), each acknowledged")
    print("once in the page cache. Segments are fsynced when they roll (every 8 MiB) and the log was")
    print(f"once by hand halfway: everything below offset {flushed} (the recovery point) is durable.\n")
    print(
        _table(
            [
                ["page-cache counter", "value"],
                ["appends (pwrite calls into the cache)", str(batches)],
                ["write-back runs (coalesced device writes)", str(stats.writeback_runs)],
                ["pages written back", str(stats.pages_written_back)],
                [
                    "average pages per write-back run",
                    f"{stats.pages_written_back / max(1, stats.writeback_runs):.0f}",
                ],
                ["fsyncs", str(stats.fsyncs)],
                ["dirty pages still in RAM", str(fs.dirty_page_count)],
            ]
        )
    )
    print()
    positions = batch_map(manager.logs[_TP])
    rows = [["event", "acknowledged", "fsynced", "must survive", "after recovery", "lost", "recovery"]]
    failures = 0
    for label, mode in [("process crash", None)] + [(f"power loss ({m.value})", m) for m in PowerLossMode]:
        world = copy.deepcopy(fs)
        must_keep = acked
        if mode is None:
            world.crash_process()
        else:
            report = world.power_loss(mode)
            must_keep = guaranteed_end(flushed, positions, report)
        recovered = LogManager(world, "data", clock, default_config=config)
        recovered.startup()
        log = recovered.logs[_TP]
        recovery = log.recovery_report
        assert recovery is not None
        end = log.log_end_offset
        failures += end < must_keep
        note = f"cut {recovery.truncated_bytes} B" if recovery.truncated_bytes else "nothing to cut"
        if must_keep < flushed:
            note += f"; a torn write destroyed durable bytes from offset {must_keep}"
        rows.append([label, str(acked), str(flushed), str(must_keep), str(end), str(acked - end), note])
    print(_table(rows))
    print("\nA process crash keeps the page cache, so nothing is lost. A power loss keeps only what was")
    print("durable (clean), or also a random subset of unsynced pages (partial), possibly torn (torn):")
    print("recovery validates every batch from the recovery point and cuts at the first invalid one.")
    print("A torn sector filled with zeros or garbage also destroys the durable bytes it held: Kafka's")
    print("format appends into the partly filled last page, so only those are excused ('must survive').")
    with tempfile.TemporaryDirectory(prefix="reflog-demo-") as root:
        real = OsFilesystem(root)
        manager = LogManager(real, "data", clock, default_config=config)
        manager.startup()
        log = manager.create_log(*_TP)
        for _ in range(200):
            log.append_as_leader(build_batch([Record(key=None, value=rng.randbytes(1000))]), leader_epoch=0)
        manager.shutdown()
        files = real.listdir("data/orders-0")
        print(f"\nThe same log code on real files ({root}): {len(files)} files, e.g. {', '.join(files[:3])}")
    if failures:
        print(f"\nUNEXPECTED: {failures} event(s) lost data they had to keep", file=sys.stderr)
        return 1
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``reflog`` command."""
    parser = argparse.ArgumentParser(prog="reflog", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    demo_parser = commands.add_parser("demo", help="storage demonstration on the simulated page cache")
    demo_parser.add_argument("--seed", type=int, default=2026, help="seed of the run (default 2026)")
    demo_parser.add_argument("--batches", type=int, default=4000, help="batches to append (default 4000)")
    scenarios_parser = commands.add_parser(
        "scenarios", help="run the fault-scenario catalogue on an embedded 3-broker cluster"
    )
    scenarios_parser.add_argument("--seed", type=int, default=1, help="seed of every scenario (default 1)")
    scenarios_parser.add_argument(
        "--only",
        action="extend",
        nargs="+",
        default=[],
        metavar="NAME",
        help="run only these scenarios (names separated by spaces or commas; repeatable)",
    )
    scenarios_parser.add_argument("--json", action="store_true", help="print the results as JSON")
    scenarios_parser.add_argument(
        "--report", metavar="FILE", help="write a self-contained HTML report with a timeline of each run"
    )
    scenarios_parser.add_argument(
        "--history-dir", metavar="DIR", help="save each run's history as JSON lines in DIR"
    )
    serve_parser = commands.add_parser("serve", help="run brokers with Kafka-protocol listeners on loopback")
    cli_serve.add_arguments(serve_parser)
    bench_parser = commands.add_parser("bench", help="measure reflog against this machine's raw limits")
    cli_bench.add_arguments(bench_parser)
    args = parser.parse_args(argv)
    if args.command == "serve":
        return cli_serve.run(args)
    if args.command == "bench":
        return cli_bench.run(args)
    if args.command == "demo":
        return demo(args.seed, args.batches)
    if args.command == "scenarios":
        return run_catalogue(
            seed=args.seed,
            only=[name for arg in args.only for name in arg.split(",") if name],
            as_json=args.json,
            report=args.report,
            history_dir=args.history_dir,
        )
    parser.error(f"unknown command {args.command}")
    return 2  # pragma: no cover


if __name__ == "__main__":
    raise SystemExit(main())
