"""Compaction in the simulated cluster, on trio's MockClock: each broker's maintenance loop runs its log
cleaner every ``log.cleaner.backoff.ms`` over its own replicas, a follower that was away copies the
leader's compacted log with its gaps, and a compacted log survives a power loss (LOG-38, LOG-35,
LOG-36, LOG-34).
"""

from __future__ import annotations

import pytest
import trio
import trio.testing

from reflog.cluster import open_cluster
from reflog.records import decode_batch
from reflog.vocabulary import TopicPartition

TP = TopicPartition("c", 0)
CONFIGS: dict[str, int | str] = {"cleanup.policy": "compact", "segment.bytes": 400}


def contents(cluster: object, broker_id: int) -> list[tuple[int, bytes | None, bytes | None]]:
    log = cluster.broker(broker_id).broker.partitions[TP].log  # type: ignore[attr-defined]
    return [(r.offset, r.key, r.value) for raw in log.iter_batches() for r in decode_batch(raw).records]


@pytest.mark.req("LOG-38", "LOG-35", "LOG-34")
async def test_every_broker_cleans_its_own_replica_on_the_backoff_and_a_returning_follower_copies_the_gaps(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with open_cluster(brokers=3, seed=35) as cluster:
        await cluster.create_topic("c", replication_factor=3, configs=CONFIGS)
        leader = cluster.controller.partition(*TP).leader
        away = next(b for b in (1, 2, 3) if b != leader)
        await cluster.broker(away).kill()
        await trio.sleep(35)  # the ISR drops the absent follower (replica.lag.time.max.ms)
        producer = cluster.producer(linger_ms=0)
        sent = []
        for i in range(40):
            result = await producer.send("c", b"v%d" % i, key=b"k%d" % (i % 4), partition=0)
            sent.append((result.offset, b"k%d" % (i % 4), b"v%d" % i))
        assert result.error is None
        start = trio.current_time()
        broker = cluster.broker(leader).broker
        assert broker.manager is not None
        with trio.fail_after(60):
            while TP not in broker.manager.cleaner.last_results:
                await trio.sleep(0.5)
        assert trio.current_time() - start <= 15 + 1.5  # within one log.cleaner.backoff.ms (and a tick)
        first_pass, first_time = broker.manager.cleaner.last_results[TP], trio.current_time()
        for i in range(40, 48):  # more dirty records: the next pass cleans again, one backoff later
            more = await producer.send("c", b"v%d" % i, key=b"k%d" % (i % 4), partition=0)
            sent.append((more.offset, b"k%d" % (i % 4), b"v%d" % i))
        with trio.fail_after(60):
            while broker.manager.cleaner.last_results[TP] is first_pass:
                await trio.sleep(0.25)
        assert 15 - 1.5 <= trio.current_time() - first_time <= 15 + 1.5
        cleaned = contents(cluster, leader)
        assert len(cleaned) < len(sent) and set(cleaned) <= set(sent)
        for other in (1, 2, 3):
            if other not in (leader, away):
                with trio.fail_after(60):
                    while TP not in cluster.broker(other).broker.manager.cleaner.last_results:  # type: ignore[union-attr]
                        await trio.sleep(0.5)
                assert contents(cluster, other) == cleaned  # its own cleaner, the same result
        await cluster.broker(away).restart()
        with trio.fail_after(120):
            while contents(cluster, away)[-1:] != cleaned[-1:]:
                await trio.sleep(0.5)
        copied = contents(cluster, away)
        assert [o for o, _, _ in copied] == sorted({o for o, _, _ in copied})
        assert {k: (o, v) for o, k, v in copied} == {k: (o, v) for o, k, v in sent}
        assert copied[0][0] > 0  # it started at the leader's first kept offset: a gap from 0


@pytest.mark.req("LOG-36", "LOG-35")
async def test_a_compacted_log_and_its_cleaner_checkpoint_survive_a_power_loss(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with open_cluster(brokers=1, seed=36) as cluster:
        await cluster.create_topic("c", replication_factor=1, configs=CONFIGS)
        producer = cluster.producer(linger_ms=0)
        sent = []
        for i in range(30):
            result = await producer.send("c", b"v%d" % i, key=b"k%d" % (i % 3), partition=0)
            sent.append((result.offset, b"k%d" % (i % 3), b"v%d" % i))
        broker = cluster.broker(1).broker
        assert broker.manager is not None
        with trio.fail_after(60):
            while TP not in broker.manager.cleaner.last_results:
                await trio.sleep(0.5)
        first_dirty = broker.manager.cleaner.first_dirty[TP]
        assert first_dirty > 0
        cleaned = contents(cluster, 1)
        await cluster.broker(1).power_off()
        await cluster.broker(1).restart()
        await trio.sleep(2)
        after = contents(cluster, 1)
        # The cleaned segments were fsynced before their swap: all of them survive, compacted. (The
        # active segment's unflushed tail may be lost, as a power loss of the only replica allows.)
        assert [r for r in after if r[0] < first_dirty] == [r for r in cleaned if r[0] < first_dirty]
        assert set(after) <= set(sent)
        restarted = cluster.broker(1).broker.manager
        assert restarted is not None and restarted.cleaner.first_dirty[TP] == first_dirty
