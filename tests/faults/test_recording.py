"""Recording clients and the checker on a real cluster run; the same seed gives the same history (HAR-4)."""

from __future__ import annotations

import pytest
import trio
import trio.testing

from faults.checker import check
from faults.history import History
from faults.recording import RecordingConsumer, RecordingProducer, final_state
from reflog.cluster import open_cluster
from reflog.vocabulary import TopicPartition

TP = TopicPartition("rec", 0)


async def recorded_run(seed: int) -> tuple[History, bool]:
    history = History()
    async with open_cluster(brokers=3, seed=seed) as cluster:
        await cluster.create_topic("rec", replication_factor=3, configs={"min.insync.replicas": 2})
        producer = RecordingProducer(cluster.producer(acks="all", linger_ms=1), history, "producer-1")
        consumer = RecordingConsumer(cluster.consumer(), history, "consumer-1")
        consumer.consumer.assign([TP])

        async def send_all() -> None:
            for i in range(60):
                await producer.send("rec", f"v{i}")

        async with trio.open_nursery() as nursery:
            nursery.start_soon(send_all)
            await trio.sleep(0.05)
            leader = cluster.controller.partition(*TP).leader
            history.fault("kill", f"broker-{leader}", trio.current_time())
            await cluster.broker(leader).kill()
            await trio.sleep(3)
            history.fault("restart", f"broker-{leader}", trio.current_time())
            await cluster.broker(leader).restart()
        for _ in range(5):
            await consumer.poll()
        await trio.sleep(30)
        replicas, leader = final_state(cluster, TP)
        report = check(history, replicas, leader)
    return history, report.valid and report.acknowledged > 50


@pytest.mark.req("HAR-4")
def test_same_seed_gives_a_byte_identical_history_and_a_valid_run() -> None:
    runs = [trio.run(recorded_run, 9, clock=trio.testing.MockClock(autojump_threshold=0)) for _ in range(2)]
    (first, valid), (second, _) = runs
    assert valid
    assert first.to_jsonl() == second.to_jsonl()
    assert any(e.kind == "kill" for e in first.faults())


@pytest.mark.req("HAR-15")
async def test_an_acks_0_send_the_network_lost_is_recorded_and_not_judged(
    autojump_clock: trio.testing.MockClock,
) -> None:
    history = History()
    async with open_cluster(brokers=1, seed=15) as cluster:
        await cluster.create_topic("rec", replication_factor=1)
        zero = RecordingProducer(cluster.producer(acks=0, linger_ms=0), history, "zero")
        safe = RecordingProducer(cluster.producer(acks="all", linger_ms=0), history, "safe")
        await zero.send("rec", "z0")
        await safe.send("rec", "s0")
        leader = cluster.broker(cluster.controller.partition(*TP).leader).broker
        cluster.network.drop_next(zero.producer.node, leader.node, 1)  # the next produce frame vanishes
        await zero.send("rec", "z1-lost")
        await safe.send("rec", "s1")
        replicas, leader_id = final_state(cluster, TP)
    sends = [(i, d) for i, d in history.completions() if i.f == "send"]
    assert [(i.value["value"], i.value["acks"], d.type) for i, d in sends] == [
        ("z0", "0", "info"),
        ("s0", "all", "ok"),
        ("z1-lost", "0", "info"),
        ("s1", "all", "ok"),
    ]
    assert [value for _, value in replicas[leader_id].records] == ["z0", "s0", "s1"]
    report = check(history, replicas, leader_id)
    assert report.valid and report.acknowledged == 2 and report.unacknowledged == 2
