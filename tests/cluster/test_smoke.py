"""The trio cluster end to end: produce with acks=all, consume, on simulated storage and network."""

from __future__ import annotations

import pytest
import trio
import trio.testing

from reflog.client import SendStatus
from reflog.cluster import open_cluster
from reflog.vocabulary import TopicPartition


async def test_produce_and_consume_acks_all(autojump_clock: trio.testing.MockClock) -> None:
    async with open_cluster(brokers=3, seed=1) as cluster:
        await cluster.create_topic(
            "orders", partitions=1, replication_factor=3, configs={"min.insync.replicas": 2}
        )
        producer = cluster.producer(acks="all")
        results = []
        for i in range(20):
            results.append(await producer.send("orders", b"v%d" % i))
        assert all(r.status is SendStatus.OK for r in results), results
        assert [r.offset for r in results] == list(range(20))
        consumer = cluster.consumer()
        tp = TopicPartition("orders", 0)
        consumer.assign([tp])
        seen = []
        with trio.fail_after(60):
            while len(seen) < 20:
                seen.extend(await consumer.poll())
        assert [r.value for r in seen] == [b"v%d" % i for i in range(20)]


@pytest.mark.req("REP-30")
async def test_acks_all_completes_without_waiting_out_a_follower_long_poll(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with open_cluster(brokers=3, seed=2) as cluster:
        await cluster.create_topic(
            "prompt", partitions=1, replication_factor=3, configs={"min.insync.replicas": 3}
        )
        producer = cluster.producer(acks="all", linger_ms=0)
        assert (await producer.send("prompt", b"warm")).status is SendStatus.OK
        long_poll = cluster.broker(1).broker.config.replica_fetch_wait_max_ms / 1000
        for i in range(10):
            start = trio.current_time()
            assert (await producer.send("prompt", b"v%d" % i)).status is SendStatus.OK
            # Without REP-30 the HW moves only when the followers' parked fetches time out.
            assert trio.current_time() - start < long_poll / 2
