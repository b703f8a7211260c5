"""The cluster's public API: producer batching and compression, consumer positions, OS storage,
per-epoch fetchers, and the network hooks (REP-22..REP-25)."""

from __future__ import annotations

from pathlib import Path

import pytest
import trio
import trio.testing

from reflog.client import SendStatus
from reflog.cluster import open_cluster
from reflog.records import Compression, decode_batch
from reflog.storage import OsFilesystem
from reflog.vocabulary import TopicPartition

TP = TopicPartition("api", 0)


@pytest.mark.req("REP-22")
async def test_producer_batches_compresses_and_is_idempotent(autojump_clock: trio.testing.MockClock) -> None:
    async with open_cluster(brokers=3, seed=22) as cluster:
        await cluster.create_topic("api", replication_factor=3)
        producer = cluster.producer(
            acks="all", linger_ms=50, batch_size=100_000, compression_type=Compression.LZ4
        )
        results = []

        async def send(i: int) -> None:
            results.append(await producer.send("api", b"value-%03d" % i))

        async with trio.open_nursery() as nursery:
            for i in range(30):
                nursery.start_soon(send, i)
        assert all(r.status is SendStatus.OK for r in results)
        log = cluster.broker(cluster.controller.partition(*TP).leader).broker.partitions[TP].log
        batches = [decode_batch(raw) for raw in log.iter_batches()]
        assert len(batches) < 30  # linger.ms gathered several records per batch
        assert all(b.header.compression is Compression.LZ4 for b in batches)
        assert all(b.header.producer_id >= 0 for b in batches)  # idempotent by default
        assert sorted(r.offset for r in results) == list(range(30))


@pytest.mark.req("REP-22")
async def test_a_batch_never_grows_past_batch_size(autojump_clock: trio.testing.MockClock) -> None:
    """Many concurrent sends: each batch holds at most ``batch.size`` bytes of records (one record
    when a single record is larger), so none exceeds ``max.message.bytes`` on the broker."""
    async with open_cluster(brokers=1, seed=24) as cluster:
        await cluster.create_topic("api", replication_factor=1)
        producer = cluster.producer(acks=1, linger_ms=20, batch_size=4096)
        results = []

        async def send(i: int) -> None:
            results.append(await producer.send("api", bytes(1000) + b"%04d" % i))

        async with trio.open_nursery() as nursery:
            for i in range(200):  # 200 KiB queued at once: 50 batches' worth
                nursery.start_soon(send, i)
        assert all(r.status is SendStatus.OK for r in results), {r.status for r in results}
        log = cluster.broker(1).broker.partitions[TP].log
        batches = [decode_batch(raw) for raw in log.iter_batches()]
        assert len(batches) >= 200 * 1020 // 4096
        assert all(sum(len(r.value or b"") + 16 for r in b.records) <= 4096 for b in batches)


@pytest.mark.req("REP-23")
async def test_consumer_positions_and_long_poll(autojump_clock: trio.testing.MockClock) -> None:
    async with open_cluster(brokers=3, seed=23) as cluster:
        await cluster.create_topic("api", replication_factor=3)
        producer = cluster.producer(acks="all", linger_ms=0)
        for i in range(5):
            await producer.send("api", b"%d" % i)
        consumer = cluster.consumer()
        consumer.assign([TP])
        await consumer.seek_to_end(TP)
        assert consumer.positions[TP] == 5
        start = trio.current_time()
        assert await consumer.poll() == []  # nothing new: the fetch long-polls fetch.max.wait.ms
        assert trio.current_time() - start >= 0.5
        await consumer.seek_to_beginning(TP)
        assert [r.offset for r in await consumer.poll()] == [0, 1, 2, 3, 4]
        consumer.seek(TP, 3)
        assert [r.value for r in await consumer.poll()] == [b"3", b"4"]


@pytest.mark.req("REP-24")
async def test_cluster_on_real_files(autojump_clock: trio.testing.MockClock, tmp_path: Path) -> None:
    async with open_cluster(brokers=3, seed=24, storage="os", directory=tmp_path) as cluster:
        await cluster.create_topic("api", replication_factor=3)
        assert (await cluster.producer(acks="all").send("api", b"on disk")).status is SendStatus.OK
        await trio.sleep(2)
        for handle in cluster.brokers:
            assert isinstance(handle.fs, OsFilesystem)
        await cluster.broker(1).stop()  # a clean stop writes the marker on real files
        assert (tmp_path / "broker-1" / "data" / ".kafka_cleanshutdown").exists()
    assert all(
        (tmp_path / f"broker-{b}" / "data" / "api-0" / ("0" * 20 + ".log")).exists() for b in (1, 2, 3)
    )


@pytest.mark.req("REP-25")
async def test_a_leadership_change_replaces_the_fetchers_of_the_old_epoch(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with open_cluster(brokers=3, seed=25) as cluster:
        await cluster.create_topic("api", replication_factor=3)
        first = cluster.controller.partition(*TP)
        follower = next(b for b in (1, 2, 3) if b != first.leader)
        broker = cluster.broker(follower).broker
        assert broker._fetchers.running[TP][0] == first.leader_epoch
        old_scope = broker._fetchers.running[TP][1]
        await cluster.broker(first.leader).stop()
        await cluster.wait_for_leaders("api")
        await trio.sleep(1)
        current = cluster.controller.partition(*TP)
        assert current.leader_epoch > first.leader_epoch
        assert old_scope.cancel_called  # the old epoch's fetcher is gone
        if current.leader != follower:
            assert broker._fetchers.running[TP][0] == current.leader_epoch
        else:
            assert TP not in broker._fetchers.running  # a leader runs no fetcher


@pytest.mark.req("REP-25")
async def test_network_partition_blackholes_the_leader(autojump_clock: trio.testing.MockClock) -> None:
    async with open_cluster(brokers=3, seed=26) as cluster:
        await cluster.create_topic("api", replication_factor=3, configs={"min.insync.replicas": 2})
        leader = cluster.controller.partition(*TP).leader
        cluster.network.isolate(f"broker-{leader}")
        await trio.sleep(15)  # its heartbeats vanish: the controller fences it and elects another
        assert cluster.controller.partition(*TP).leader not in (leader, -1)
        cluster.network.heal()
        producer = cluster.producer(acks="all", linger_ms=0)
        assert (await producer.send("api", b"after the partition")).status is SendStatus.OK
