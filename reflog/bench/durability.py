"""The durability section of ``reflog bench``: what ``acks=all`` and ``flush.messages=1`` cost (PERF-23).

Three brokers of reflog's in-process cluster on real files (OS storage, real fsync) and the real
clock; reflog's own producer sends 1 KiB records from many concurrent tasks (so batches fill and
several are in flight). Each case reports records/s and the mean and p99 time from ``send`` to
its acknowledgement:

* ``acks=1`` (the leader's page cache) against ``acks=all`` (every in-sync replica has fetched it)
  on a topic with replication factor 3 and ``min.insync.replicas=2``;
* ``flush.messages=1`` (an fsync per append) against Kafka's default (no fsync on the append
  path), both with ``acks=all``.

Failure modes: a send that does not end ``OK`` raises :class:`BenchError`; the cluster and its
files are always removed.
"""

from __future__ import annotations

import os
import shutil
import statistics
import time

import trio

from reflog.bench.child import BenchError
from reflog.bench.results import Figure, Section, figure_from_runs
from reflog.bench.settings import BenchSettings, Progress
from reflog.client.producer import SendStatus
from reflog.cluster import open_cluster

VALUE = bytes(1000)
#: Concurrent sending tasks: enough to fill batches and keep several requests in flight.
SENDERS = 64


async def _produce(
    directory: str, acks: str, topic_configs: dict[str, int], records: int
) -> dict[str, float]:
    async with open_cluster(3, storage="os", directory=directory) as cluster:
        await cluster.create_topic(
            "durability",
            partitions=1,
            replication_factor=3,
            configs={"min.insync.replicas": 2, **topic_configs},
        )
        producer = cluster.producer(acks=acks, linger_ms=0, batch_size=64 * 1024)
        assert (await producer.send("durability", VALUE)).status is SendStatus.OK  # warm: leader known
        latencies: list[float] = []
        per_task = max(1, records // SENDERS)

        async def sender() -> None:
            for _ in range(per_task):
                t0 = time.perf_counter()
                result = await producer.send("durability", VALUE)
                if result.status is not SendStatus.OK:
                    raise BenchError(f"a send with acks={acks} ended {result.status.name}: {result.error}")
                latencies.append(time.perf_counter() - t0)

        t0 = time.perf_counter()
        async with trio.open_nursery() as nursery:
            for _ in range(SENDERS):
                nursery.start_soon(sender)
        elapsed = time.perf_counter() - t0
    latencies.sort()
    return {
        "records_s": len(latencies) / elapsed,
        "mean_ms": statistics.fmean(latencies) * 1000,
        "p99_ms": latencies[int(0.99 * (len(latencies) - 1))] * 1000,
    }


def durability_section(settings: BenchSettings, progress: Progress) -> Section:
    """acks=1 against acks=all, flush.messages=1 against the default (PERF-23)."""
    records = 400 if settings.quick else 8_000
    repeats = 1 if settings.quick else 5  # the cases alternate run by run; variance is large here
    cases: tuple[tuple[str, str, str, str, dict[str, int]], ...] = (
        ("acks_1", "acks", "acks=1", "1", {}),
        ("acks_all", "acks", "acks=all", "all", {}),
        ("flush_default", "flush.messages", "default (no fsync per append)", "all", {}),
        ("flush_1", "flush.messages", "flush.messages=1", "all", {"flush.messages": 1}),
    )
    baselines = {"acks_all": "acks_1", "flush_1": "flush_default"}
    results: dict[str, list[dict[str, float]]] = {key: [] for key, *_ in cases}
    root = os.path.join(settings.directory, "durability")
    try:
        for run in range(repeats):
            for key, _, label, acks, configs in cases:
                progress(f"{label}, run {run + 1} of {repeats}: {records:,} records of 1 KiB")
                directory = os.path.join(root, f"{key}-{run}")
                results[key].append(trio.run(_produce, directory, acks, dict(configs), records))
                shutil.rmtree(directory, ignore_errors=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    figures: list[Figure] = []
    for key, group, label, _, _ in cases:
        runs = results[key]
        figures.append(
            figure_from_runs(
                f"{key}_records_s",
                group,
                label,
                [r["records_s"] for r in runs],
                "records/s",
                baseline=f"{baselines[key]}_records_s" if key in baselines else None,
                detail={
                    "mean ack latency ms": statistics.median(r["mean_ms"] for r in runs),
                    "p99 ack latency ms": statistics.median(r["p99_ms"] for r in runs),
                },
            )
        )
    for key, group, label, _, _ in cases:
        figures.append(
            figure_from_runs(
                f"{key}_p99_ms",
                group,
                label,
                [r["p99_ms"] for r in results[key]],
                "p99 ack latency (ms)",
                baseline=f"{baselines[key]}_p99_ms" if key in baselines else None,
                higher_is_better=False,
            )
        )
    notes = (
        "Three brokers on real files, replication factor 3, min.insync.replicas=2; reflog's producer, "
        f"{SENDERS} senders, linger.ms=0, batch.size=64 KiB, {records:,} records of 1 KiB per run.",
        "Ratios: acks=all over acks=1, and flush.messages=1 over the default: the price of each "
        "guarantee in throughput (below 1) and in p99 latency (above 1).",
        "acks=all waits for the followers' next fetch (which updates the HW at once, REP-30); "
        "flush.messages=1 adds an fsync per append on the leader. reflog's producer keeps one batch in "
        "flight per partition, so the extra round trip of acks=all shows in the throughput.",
    )
    return Section(
        "durability", "The cost of acks=all and flush.messages=1 (PERF-23)", tuple(figures), notes
    ).resolve()


__all__ = ["durability_section"]
