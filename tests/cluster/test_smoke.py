"""The trio cluster end to end: produce with acks=all, consume, on simulated storage and network."""

from __future__ import annotations

import trio
import trio.testing

from reflog.client import SendStatus
from reflog.cluster import open_cluster
from reflog.replication.messages import TopicPartition


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
