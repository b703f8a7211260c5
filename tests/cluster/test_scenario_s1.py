"""Scenario S1 (KIP-101 scenario 1) over the trio cluster: a lagging HW must never cost committed data.

r3 is down; ISR {r1, r2}; ``acks=all``, ``min.insync.replicas=2``. m0 and m1 are acknowledged:
r2 holds both, but the response that would tell r2 the new HW never arrives (the link r1->r2 is
cut), so r2's HW lags. r2 restarts cleanly and follows r1 again; then r1 dies before r2 fetches,
and r2 is elected. Must guarantee: no replica deletes records below its LEO except on proof of
divergence from the leader of its current epoch, so r2 still holds m1 when it leads. The
pre-0.11 rule (truncate to the local HW when following a leader) deletes m1: acknowledged and lost.
"""

from __future__ import annotations

import pytest
import trio
import trio.testing

from reflog.broker import BrokerConfig
from reflog.client import SendStatus
from reflog.cluster import open_cluster
from reflog.records import decode_batch
from reflog.vocabulary import TopicPartition

TP = TopicPartition("s1", 0)


async def replay_s1(*, legacy: bool) -> tuple[list[bytes | None], int, int]:
    async with open_cluster(
        brokers=3, seed=1, broker_config=BrokerConfig(legacy_truncate_to_high_watermark=legacy)
    ) as cluster:
        await cluster.create_topic("s1", replication_factor=3, configs={"min.insync.replicas": 2})
        r1 = cluster.controller.partition(*TP).leader
        r2, r3 = (b for b in (1, 2, 3) if b != r1)
        await cluster.broker(r3).stop()
        with trio.fail_after(60):
            while cluster.controller.partition(*TP).isr != tuple(sorted((r1, r2))):
                await trio.sleep(0.5)
        producer = cluster.producer(acks="all", linger_ms=0)
        for value in (b"m0", b"m1"):
            assert (await producer.send("s1", value)).status is SendStatus.OK
        cluster.network.block(f"broker-{r1}", f"broker-{r2}")  # r2 never learns HW = 2
        follower = cluster.broker(r2).broker.partitions[TP]
        assert follower.log_end_offset == 2 and follower.high_watermark < 2
        await cluster.broker(r2).stop()
        await cluster.broker(r2).restart()  # follows r1 again (legacy: truncates to its HW)
        await trio.sleep(2)
        await cluster.broker(r1).kill()  # before r2 could fetch again
        cluster.network.heal()
        await cluster.wait_for_leaders("s1", timeout=60)
        leader = cluster.controller.partition(*TP).leader
        log = cluster.broker(leader).broker.partitions[TP].log
        values = [r.value for raw in log.iter_batches() for r in decode_batch(raw).records]
        return values, leader, r2


@pytest.mark.req("REP-21", "REP-10")
async def test_s1_committed_record_survives_the_election(autojump_clock: trio.testing.MockClock) -> None:
    values, leader, r2 = await replay_s1(legacy=False)
    assert leader == r2  # the replica with the lagging HW leads
    assert values == [b"m0", b"m1"]


@pytest.mark.req("REP-21", "REP-10")
async def test_s1_pre_fix_rule_loses_the_acknowledged_record(autojump_clock: trio.testing.MockClock) -> None:
    values, leader, r2 = await replay_s1(legacy=True)
    assert leader == r2
    assert b"m1" not in values  # acknowledged with acks=all, then truncated away and lost
