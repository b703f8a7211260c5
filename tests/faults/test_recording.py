"""Recording clients and the checker on a real cluster run; the same seed gives the same history (HAR-4)."""

from __future__ import annotations

import pytest
import trio
import trio.testing

from faults.checker import check
from faults.history import History
from faults.recording import RecordingConsumer, RecordingProducer, final_state
from reflog.cluster import open_cluster
from reflog.replication.messages import TopicPartition

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
