"""Scenario S6 over the trio cluster: an acks=1 write on a leader that dies before replicating it.

ISR {r1, r2, r3}. The followers are cut off from the leader; the leader appends w with
``acks=1`` and acknowledges it at once; a consumer polls; the leader is killed. A follower is
elected in a new epoch and takes new writes; the old leader returns and truncates w through
DivergingEpoch. Must guarantee: the loss of w is permitted (acks=1) but creates no divergence
(all three logs end byte-identical), and no consumer ever saw w (it never passed the HW).
"""

from __future__ import annotations

import pytest
import trio
import trio.testing

from reflog.client import SendStatus
from reflog.cluster import open_cluster
from reflog.records import decode_batch
from reflog.vocabulary import TopicPartition

TP = TopicPartition("s6", 0)


@pytest.mark.req("REP-17")
async def test_s6_acks_1_loss_is_allowed_but_creates_no_divergence(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with open_cluster(brokers=3, seed=6) as cluster:
        await cluster.create_topic("s6", replication_factor=3, configs={"min.insync.replicas": 2})
        safe = cluster.producer(acks="all", linger_ms=0)
        assert (await safe.send("s6", b"before")).status is SendStatus.OK
        old_leader = cluster.controller.partition(*TP).leader
        followers = [b for b in (1, 2, 3) if b != old_leader]
        for follower in followers:  # cut both ways: a fetch already parked at the leader (REP-30)
            cluster.network.block(f"broker-{follower}", f"broker-{old_leader}")  # must not carry w
            cluster.network.block(f"broker-{old_leader}", f"broker-{follower}")
        risky = cluster.producer(acks=1, linger_ms=0, enable_idempotence=False)
        w = await risky.send("s6", b"w")
        assert w.status is SendStatus.OK and w.offset == 1  # acknowledged from the page cache only
        consumer = cluster.consumer()
        consumer.assign([TP])
        seen = [r.value for r in await consumer.poll()]
        await cluster.broker(old_leader).kill()
        cluster.network.heal()
        await cluster.wait_for_leaders("s6")
        new_leader = cluster.controller.partition(*TP).leader
        assert new_leader in followers
        assert (await safe.send("s6", b"after")).status is SendStatus.OK
        await cluster.broker(old_leader).restart()
        await trio.sleep(20)
        logs = []
        for broker in (1, 2, 3):
            manager = cluster.broker(broker).broker.manager
            assert manager is not None
            logs.append(list(manager.logs[TP].iter_batches()))
        assert logs[0] == logs[1] == logs[2], "the replicas diverged"
        values = [r.value for raw in logs[0] for r in decode_batch(raw).records]
        assert values == [b"before", b"after"]  # w is gone everywhere: permitted for acks=1
        seen += [r.value for r in await consumer.poll()]
        assert b"w" not in seen  # it never passed the HW, so no consumer could read it
