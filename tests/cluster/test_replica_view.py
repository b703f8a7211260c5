"""BrokerHandle's read-only views: a replica's batches, offsets and HW, the incarnation, the startup."""

from __future__ import annotations

import trio
import trio.testing

from reflog.cluster import open_cluster
from reflog.records import decode_batch
from reflog.replica_view import ReplicaView
from reflog.vocabulary import TopicPartition

TP = TopicPartition("orders", 0)


async def test_a_replica_view_reads_what_the_replica_holds(autojump_clock: trio.testing.MockClock) -> None:
    async with open_cluster(brokers=3, seed=1) as cluster:
        await cluster.create_topic("orders", replication_factor=3, configs={"min.insync.replicas": 2})
        producer = cluster.producer(acks="all", linger_ms=0)
        for i in range(3):
            await producer.send("orders", b"v%d" % i)
        leader = cluster.broker(cluster.controller.partition("orders", 0).leader)
        view = leader.replica(TP)
        assert isinstance(view, ReplicaView)
        assert (view.topic_partition, view.broker_id) == (TP, leader.broker_id)
        assert (view.log_start_offset, view.log_end_offset, view.high_watermark) == (0, 3, 3)
        assert view.leader_epoch == cluster.controller.partition("orders", 0).leader_epoch
        values = [r.value for raw in view.batches() for r in decode_batch(raw).records]
        assert values == [b"v0", b"v1", b"v2"]
        assert not hasattr(view, "log") and not hasattr(view, "partition")
        assert leader.replica(TopicPartition("orders", 7)) is None
        assert leader.incarnation == 1 and leader.last_startup is not None
        await leader.kill()
        assert leader.replica(TP) is None  # a broker that is down holds no readable replica
        await leader.restart()
        assert leader.incarnation == 2
