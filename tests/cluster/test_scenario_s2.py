"""Scenario S2 (KIP-101 scenario 2) over the trio cluster: replicas that both lost unflushed data converge.

Classic Kafka without KIP-966 (ELR off): replication factor 2, leader r1. m0..m9 are written
and replicated; only m0..m4 are flushed on r1. r2 is killed; r1 loses power, keeps m0..m4,
restarts as the last replica standing and leads a new epoch, appending n5..n14. r2 comes back
holding m5..m9 of the old epoch. Must guarantee: the logs converge byte for byte and offsets
stay strictly increasing; the loss of m5..m9 is confined to the lossy replica's suffix. The
pre-0.11 rule (a follower truncates to its HW) leaves the replicas diverged for ever.
"""

from __future__ import annotations

import pytest
import trio
import trio.testing

from reflog.broker import BrokerConfig
from reflog.client import SendStatus
from reflog.cluster import Cluster, open_cluster
from reflog.log import Log
from reflog.records import decode_batch
from reflog.replication import ControllerConfig
from reflog.storage.sim import PowerLossMode
from reflog.vocabulary import TopicPartition

TP = TopicPartition("s2", 0)


def log_of(cluster: Cluster, broker: int) -> Log:
    manager = cluster.broker(broker).broker.manager
    assert manager is not None
    return manager.logs[TP]


def batches(cluster: Cluster, broker: int) -> list[bytes]:
    return list(log_of(cluster, broker).iter_batches())


async def replay_s2(*, legacy: bool) -> tuple[list[bytes], list[bytes], list[bytes]]:
    async with open_cluster(
        brokers=2,
        seed=2,
        controller_config=ControllerConfig(eligible_leader_replicas_enable=False),
        broker_config=BrokerConfig(legacy_truncate_to_high_watermark=legacy),
    ) as cluster:
        await cluster.create_topic("s2", replication_factor=2, configs={"min.insync.replicas": 1})
        leader = cluster.controller.partition(*TP).leader
        follower = 3 - leader
        producer = cluster.producer(acks="all", linger_ms=0)
        for i in range(5):
            assert (await producer.send("s2", b"m%d" % i)).offset == i
        log_of(cluster, leader).flush()  # m0..m4 are durable on the leader
        for i in range(5, 10):
            assert (await producer.send("s2", b"m%d" % i)).offset == i
        await trio.sleep(6)  # the follower fetches everything, learns the HW and checkpoints it (5 s)
        await cluster.broker(follower).kill()
        await trio.sleep(12)  # its session expires: the ISR shrinks to the leader
        await cluster.broker(leader).power_off(PowerLossMode.CLEAN)
        await cluster.broker(leader).restart()  # keeps m0..m4; last replica standing leads again
        await cluster.wait_for_leaders("s2")
        if not legacy:
            assert log_of(cluster, leader).log_end_offset == 5
        acked = []
        for i in range(5, 15):
            result = await producer.send("s2", b"n%d" % i)
            if result.status is SendStatus.OK:
                acked.append(b"n%d" % i)
        await cluster.broker(follower).restart()
        await trio.sleep(20)
        return batches(cluster, leader), batches(cluster, follower), acked


@pytest.mark.req("REP-15")
async def test_s2_replicas_converge_after_both_lost_unflushed_data(
    autojump_clock: trio.testing.MockClock,
) -> None:
    on_leader, on_follower, acked = await replay_s2(legacy=False)
    assert on_follower == on_leader  # byte-identical: the follower truncated m5..m9 and refetched
    values = [r.value for raw in on_leader for r in decode_batch(raw).records]
    # The producer's first send after the loss hits a sequence gap (the leader lost m5..m9's
    # sequence numbers), fails definitely and restarts with a new producer id.
    assert values == [b"m%d" % i for i in range(5)] + acked and len(acked) >= 9


@pytest.mark.req("REP-15", "REP-10")
async def test_s2_pre_fix_rule_leaves_the_replicas_diverged(autojump_clock: trio.testing.MockClock) -> None:
    on_leader, on_follower, _ = await replay_s2(legacy=True)
    # The follower truncates to its HW (keeping the old epoch's m5..m9) and fetches on from there,
    # at offsets where the leader holds other records: the replicas stay diverged. (reflog does not
    # checkpoint the HW, so the restarted leader itself also truncated to 0 under this rule.)
    assert on_follower != on_leader
