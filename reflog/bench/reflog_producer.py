"""reflog's own producer as a produce-section client, in process (PERF-11).

:func:`reflog_runs` opens a one-broker in-process cluster (OS storage, the real trio clock) and
times each :class:`ReflogCase`: batched (``batch.size`` 1 MiB, ``linger.ms``
:data:`REFLOG_LINGER_MS`, rounds of one ``batch.size`` of concurrent sends) or unbatched (one
sender awaiting each record, ``batch.size`` 1, ``linger.ms`` 0). Failure modes: a send that
ends other than ``OK``, or fewer acknowledgements than sends, raise
:class:`~reflog.bench.child.BenchError`; the cluster is closed however the run ends.
"""

from __future__ import annotations

import time
from typing import Final

import attrs
import trio

from reflog.bench.child import BenchError
from reflog.bench.settings import MiB, Progress
from reflog.bench.stored import StoredBatches, stored_batches
from reflog.client.producer import Producer, ProducerConfig, SendResult, SendStatus
from reflog.cluster import open_cluster
from reflog.records import Compression

REFLOG_LINGER_MS: Final = 5


@attrs.frozen
class ReflogCase:
    """One case of reflog's producer: its topic, record size and value, batching, codec, records per run."""

    topic: str
    size: int
    batched: bool
    compression: Compression
    records: int
    value: bytes = attrs.field(repr=False)


async def reflog_runs(
    directory: str,
    cases: list[ReflogCase],
    repeats: int,
    seed: int,
    progress: Progress,
) -> dict[str, tuple[list[float], StoredBatches]]:
    """Records/s of each case (``repeats`` runs) on one in-process broker (OS storage), and the
    batches its timed runs stored."""
    out: dict[str, tuple[list[float], StoredBatches]] = {}
    async with open_cluster(1, storage="os", directory=directory, seed=seed) as cluster:
        for case in cases:
            await cluster.create_topic(case.topic, partitions=1, replication_factor=1)
            if case.batched:
                config = ProducerConfig(
                    acks="all",
                    batch_size=MiB,
                    linger_ms=REFLOG_LINGER_MS,
                    compression_type=case.compression,
                )
            else:
                config = ProducerConfig(
                    acks="all", batch_size=1, linger_ms=0, compression_type=case.compression
                )
            producer = cluster.producer(config=config)
            # The producer counts a record as its key and value plus 16 bytes against batch.size.
            window = -(-MiB // (case.size + 16)) if case.batched else 1
            value = case.value
            _expect_ok(await producer.send(case.topic, value))  # warm-up: producer id, leader
            warm = stored_batches(directory, case.topic)
            runs = []
            for run in range(repeats):
                progress(f"reflog producer {case.topic}, run {run + 1}/{repeats}")
                seconds = await _reflog_seconds(producer, case.topic, value, case.records, window)
                runs.append(case.records / seconds)
            out[case.topic] = (runs, stored_batches(directory, case.topic) - warm)
    return out


async def _reflog_seconds(producer: Producer, topic: str, value: bytes, records: int, window: int) -> float:
    """Seconds until ``records`` sends of ``value`` all ended ``OK`` (else :class:`BenchError`).

    Sends go out in rounds of ``window`` concurrent sends, each round awaited before the next:
    ``window`` 1 gives one record per batch; a window of one ``batch.size`` of records fills
    each batch to ``batch.size`` and closes it at once, without waiting out ``linger.ms``.
    """
    acknowledged = 0

    async def send_one() -> None:
        nonlocal acknowledged
        _expect_ok(await producer.send(topic, value))
        acknowledged += 1

    t0 = time.perf_counter()
    for start in range(0, records, window):
        if window == 1:
            await send_one()
            continue
        async with trio.open_nursery() as nursery:
            for _ in range(min(window, records - start)):
                nursery.start_soon(send_one)
    elapsed = time.perf_counter() - t0
    if acknowledged != records:
        raise BenchError(f"reflog producer: {acknowledged} of {records} records acknowledged")
    return elapsed


def _expect_ok(result: SendResult) -> None:
    if result.status is not SendStatus.OK:
        raise BenchError(f"reflog producer: a send ended {result.status.name} ({result.error})")


__all__ = ["REFLOG_LINGER_MS", "ReflogCase", "reflog_runs"]
