"""``acks=0``: the producer writes the request, awaits no response and reports no offset (REP-45)."""

from __future__ import annotations

import pytest
import trio
import trio.testing

from reflog.client import SendStatus
from reflog.cluster import open_cluster
from reflog.records import decode_batch
from reflog.vocabulary import TopicPartition

TP = TopicPartition("zero", 0)


@pytest.mark.req("REP-45")
async def test_an_acks_0_send_is_sent_not_acknowledged_and_awaits_no_response(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with open_cluster(brokers=1, seed=45) as cluster:
        await cluster.create_topic("zero", replication_factor=1)
        producer = cluster.producer(acks=0, linger_ms=0)
        assert (await producer.send("zero", b"warm")).status is SendStatus.SENT  # leader known, connected
        leader = cluster.broker(cluster.controller.partition(*TP).leader).broker
        cluster.network.block(leader.node, producer.node)  # no response can come back
        start = trio.current_time()
        result = await producer.send("zero", b"blind")
        assert result.status is SendStatus.SENT and result.offset == -1 and result.error is None
        assert trio.current_time() - start < 1.0  # not request.timeout.ms: nothing was awaited
        await trio.sleep(0.5)
        batches = [decode_batch(raw) for raw in leader.partitions[TP].log.iter_batches()]
        assert [r.value for b in batches for r in b.records] == [b"warm", b"blind"]
        assert all(b.header.producer_id == -1 for b in batches)  # acks=0 turns idempotence off


@pytest.mark.req("REP-45")
async def test_an_acks_0_send_that_reaches_no_leader_fails(autojump_clock: trio.testing.MockClock) -> None:
    async with open_cluster(brokers=1, seed=46) as cluster:
        await cluster.create_topic("zero", replication_factor=1)
        producer = cluster.producer(acks=0, linger_ms=0, delivery_timeout_ms=2_000)
        assert (await producer.send("zero", b"warm")).status is SendStatus.SENT
        await cluster.broker(cluster.controller.partition(*TP).leader).kill()
        result = await producer.send("zero", b"nowhere")
        assert result.status is SendStatus.FAILED and result.offset == -1
