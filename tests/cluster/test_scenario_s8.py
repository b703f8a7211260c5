"""Scenario S8 over the trio cluster: the ISR shrinks below min.insync.replicas (the error paths).

ISR {r1, r2, r3}, ``min.insync.replicas=2``. The followers are cut off from the leader; an
``acks=all`` write w1 waits; after ``replica.lag.time.max.ms`` the leader shrinks the ISR to
itself and (3.7+) the HW freezes. A new ``acks=all`` write w2 is refused before the append
(``NOT_ENOUGH_REPLICAS``: definite, absent); an ``acks=1`` write w3 is appended and acknowledged
but invisible. After healing, the followers catch up, the ISR grows back, the HW moves, and w1
and w3 become committed and readable. Must guarantee: an acks=all success means the record is on
>= min ISR replicas; NOT_ENOUGH_REPLICAS means it is absent; w1's outcome may go either way.
"""

from __future__ import annotations

import pytest
import trio
import trio.testing

from reflog.client import SendResult, SendStatus
from reflog.cluster import open_cluster
from reflog.errors import Errors
from reflog.vocabulary import TopicPartition

TP = TopicPartition("s8", 0)


@pytest.mark.req("REP-18")
async def test_s8_isr_below_min_isr(autojump_clock: trio.testing.MockClock) -> None:
    async with open_cluster(brokers=3, seed=8) as cluster:
        await cluster.create_topic("s8", replication_factor=3, configs={"min.insync.replicas": 2})
        producer = cluster.producer(acks="all", linger_ms=0)
        assert (await producer.send("s8", b"before")).status is SendStatus.OK
        leader = cluster.controller.partition(*TP).leader
        leader_log = cluster.broker(leader).broker.partitions[TP]
        for follower in (b for b in (1, 2, 3) if b != leader):
            cluster.network.block(f"broker-{follower}", f"broker-{leader}")
        w1: list[SendResult] = []
        async with trio.open_nursery() as nursery:

            async def send_w1() -> None:
                w1.append(await producer.send("s8", b"w1"))

            nursery.start_soon(send_w1)
            await trio.sleep(40)  # past replica.lag.time.max.ms (30 s)
            assert cluster.controller.partition(*TP).isr == (leader,)
            hw_frozen = leader_log.high_watermark
            assert hw_frozen == 1  # w1 was appended but the HW cannot pass it

            impatient = cluster.producer(acks="all", linger_ms=0, delivery_timeout_ms=3000)
            leo = leader_log.log_end_offset
            w2 = await impatient.send("s8", b"w2")
            assert w2.status is SendStatus.FAILED and w2.error is Errors.NOT_ENOUGH_REPLICAS
            assert leader_log.log_end_offset == leo  # refused before the append: w2 is absent

            w3 = await cluster.producer(acks=1, linger_ms=0).send("s8", b"w3")
            assert w3.status is SendStatus.OK
            consumer = cluster.consumer()
            consumer.assign([TP])
            assert [r.value for r in await consumer.poll()] == [b"before"]  # w1, w3 invisible
            assert leader_log.high_watermark == hw_frozen

            cluster.network.heal()
            with trio.fail_after(120):
                while len(cluster.controller.partition(*TP).isr) < 2:
                    await trio.sleep(1)
        assert w1 and w1[0].status in (SendStatus.OK, SendStatus.INDETERMINATE)
        seen: list[bytes | None] = []
        with trio.fail_after(60):
            while b"w3" not in seen:
                seen += [r.value for r in await consumer.poll()]
        assert b"w1" in seen and b"w2" not in seen
        assert seen.count(b"w1") == 1  # the idempotent retries of w1 wrote it once
