"""A seeded cluster run replays exactly (PRJ-2)."""

from __future__ import annotations

import pytest
import trio
import trio.testing

from reflog.cluster import open_cluster


async def run_once(seed: int) -> list[tuple[str, int, float]]:
    trace: list[tuple[str, int, float]] = []
    async with open_cluster(brokers=3, seed=seed) as cluster:
        await cluster.create_topic("t", replication_factor=3, configs={"min.insync.replicas": 2})
        producer = cluster.producer(acks="all", linger_ms=2)

        async def send(i: int) -> None:
            result = await producer.send("t", b"%d" % i)
            trace.append((result.status.value, result.offset, trio.current_time()))

        async with trio.open_nursery() as nursery:
            for i in range(40):
                nursery.start_soon(send, i)
            await trio.sleep(0.01)
            leader = cluster.controller.partition("t", 0).leader
            await cluster.broker(leader).kill()
        trace.append(("events", len(cluster.controller.events), trio.current_time()))
    return trace


@pytest.mark.req("PRJ-2")
def test_same_seed_same_run() -> None:
    runs = [trio.run(run_once, 5, clock=trio.testing.MockClock(autojump_threshold=0)) for _ in range(2)]
    assert runs[0] == runs[1]
    assert len(runs[0]) == 41
