"""End to end: 10,000 acks=all records while leaders are killed and restarted (issue 3, must show 4).

3 brokers, replication factor 3, ``min.insync.replicas=2``, an idempotent producer with
``acks=all``. A nemesis kills the partition's leader (page cache kept) every few seconds
and restarts it. Afterwards a consumer reads the partition from the start: every
acknowledged record appears exactly once, in the order of its offset, and nothing appears
twice (idempotence), acknowledged or not.
"""

from __future__ import annotations

import pytest
import trio
import trio.testing

from reflog.client import SendResult, SendStatus
from reflog.cluster import Cluster, open_cluster
from reflog.vocabulary import TopicPartition

TP = TopicPartition("events", 0)
RECORDS = 10_000
SENDERS = 50


async def nemesis(cluster: Cluster, rounds: int, stop: trio.Event) -> list[int]:
    killed = []
    for _ in range(rounds):
        with trio.move_on_after(4.0):
            await stop.wait()
        if stop.is_set():
            break
        leader = cluster.controller.partition(*TP).leader
        if leader < 0 or not cluster.broker(leader).running:
            continue
        await cluster.broker(leader).kill()
        killed.append(leader)
        await trio.sleep(3.0)
        await cluster.broker(leader).restart()
        # A rolling bounce waits for the restarted broker to rejoin the ISR before the next one:
        # a broker restarted after a kill is out of the ISR and ELR until it caught up (KIP-966).
        with trio.move_on_after(60):
            while len(cluster.controller.partition(*TP).isr) < 3:
                await trio.sleep(0.5)
    return killed


@pytest.mark.req("REP-14")
async def test_ten_thousand_records_survive_leader_kills(autojump_clock: trio.testing.MockClock) -> None:
    async with open_cluster(brokers=3, seed=3) as cluster:
        await cluster.create_topic("events", replication_factor=3, configs={"min.insync.replicas": 2})
        producer = cluster.producer(acks="all", linger_ms=5, batch_size=4096)
        results: dict[bytes, SendResult] = {}
        stop = trio.Event()
        killed: list[int] = []

        async def sender(index: int) -> None:
            for i in range(index, RECORDS, SENDERS):
                value = b"r%05d" % i
                results[value] = await producer.send("events", value)
                # Paced (about 500 records/s of simulated time in all) so the run outlasts several
                # nemesis rounds: acks=all itself takes only milliseconds (REP-30).
                await trio.sleep(0.1)

        async def run_nemesis() -> None:
            killed.extend(await nemesis(cluster, rounds=6, stop=stop))

        with trio.fail_after(1800):  # simulated seconds
            async with trio.open_nursery() as nursery:
                nursery.start_soon(run_nemesis)
                async with trio.open_nursery() as senders:
                    for index in range(SENDERS):
                        senders.start_soon(sender, index)
                stop.set()
        assert len(killed) >= 2, "the nemesis must have killed leaders during the run"
        for handle in cluster.brokers:
            if not handle.running:
                await handle.restart()
        acked = {v: r.offset for v, r in results.items() if r.status is SendStatus.OK}
        assert len(acked) > RECORDS * 0.9
        consumer = cluster.consumer()
        consumer.assign([TP])
        seen = []
        with trio.fail_after(300):
            while not set(acked) <= {r.value for r in seen}:
                seen.extend(await consumer.poll())
        values = [r.value for r in seen]
        assert len(values) == len(set(values)), "a record was written twice"
        offsets = [r.offset for r in seen]
        assert offsets == sorted(offsets) and len(set(offsets)) == len(offsets)
        by_value = {r.value: r.offset for r in seen}
        for value, offset in acked.items():
            assert by_value[value] == offset, (
                f"{value!r} acknowledged at {offset}, found at {by_value[value]}"
            )
