"""Scenario S10 over the trio cluster: unclean leader election (opt-in), reported, logs converge.

``unclean.leader.election.enable=true``, ``min.insync.replicas=1``. r2 and r3 fall behind and
leave the ISR; r1, alone in the ISR, acknowledges m5..m9 with ``acks=all``; r1 dies. With no
clean candidate the controller elects a lagging replica uncleanly (reported as such), which takes
new writes; r1 returns, gets DivergingEpoch and truncates m5..m9. Must guarantee: the logs
converge; the election is explicit and reported; the loss happens only because the topic allowed
unclean election. With the default (disabled) the partition stays offline instead of losing data.
"""

from __future__ import annotations

import pytest
import trio
import trio.testing

from reflog.client import SendStatus
from reflog.cluster import Cluster, open_cluster
from reflog.records import decode_batch
from reflog.replication.controller_events import LeaderElected
from reflog.vocabulary import TopicPartition

TP = TopicPartition("s10", 0)


async def lag_then_lose_the_leader(cluster: Cluster, unclean: bool) -> tuple[int, list[bytes]]:
    await cluster.create_topic(
        "s10",
        replication_factor=3,
        configs={"min.insync.replicas": 1, "unclean.leader.election.enable": int(unclean)},
    )
    producer = cluster.producer(acks="all", linger_ms=0)
    for i in range(5):
        assert (await producer.send("s10", b"m%d" % i)).status is SendStatus.OK
    await trio.sleep(2)
    leader = cluster.controller.partition(*TP).leader
    for follower in (b for b in (1, 2, 3) if b != leader):
        cluster.network.block(f"broker-{follower}", f"broker-{leader}")
        cluster.network.block(f"broker-{leader}", f"broker-{follower}")  # nor answer a parked fetch
    quick = cluster.producer(acks=1, linger_ms=0)
    assert (await quick.send("s10", b"m5")).status is SendStatus.OK  # the followers now lag
    await trio.sleep(40)  # ... for longer than replica.lag.time.max.ms: they leave the ISR
    assert cluster.controller.partition(*TP).isr == (leader,)
    acked = [b"m5"]
    for i in range(6, 10):
        result = await producer.send("s10", b"m%d" % i)
        assert result.status is SendStatus.OK  # committed with an ISR of one (min ISR 1)
        acked.append(b"m%d" % i)
    await cluster.broker(leader).kill()
    cluster.network.heal()
    await trio.sleep(15)  # the controller fences the dead leader
    return leader, acked


@pytest.mark.req("REP-20")
async def test_s10_unclean_election_is_reported_and_logs_converge(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with open_cluster(brokers=3, seed=10) as cluster:
        old_leader, lost = await lag_then_lose_the_leader(cluster, unclean=True)
        await cluster.wait_for_leaders("s10")
        unclean = [e for e in cluster.controller.events if isinstance(e, LeaderElected) and e.unclean]
        assert unclean and unclean[-1].leader != old_leader, "the unclean election must be reported"
        producer = cluster.producer(acks="all", linger_ms=0)
        assert (await producer.send("s10", b"n")).status is SendStatus.OK
        await cluster.broker(old_leader).restart()
        await trio.sleep(30)
        logs = []
        for handle in cluster.brokers:
            log = handle.broker.partitions[TP].log
            logs.append([r.value for raw in log.iter_batches() for r in decode_batch(raw).records])
        assert logs[0] == logs[1] == logs[2], "the logs did not converge"
        assert not set(lost) & set(logs[0])  # acknowledged m5..m9 are gone: the price of unclean election
        assert logs[0][-1] == b"n"


@pytest.mark.req("REP-20")
async def test_s10_without_unclean_election_the_partition_waits_instead(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with open_cluster(brokers=3, seed=10) as cluster:
        await lag_then_lose_the_leader(cluster, unclean=False)
        assert cluster.controller.partition(*TP).leader == -1  # offline: no clean candidate
        assert not any(isinstance(e, LeaderElected) and e.unclean for e in cluster.controller.events)
