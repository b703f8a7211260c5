"""Broker-side bounds on fetch work (REP-41) and OS errors on one broker's data dir (REP-42)."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest
import trio

import reflog.storage._os as os_storage
from reflog.broker import BrokerConfig
from reflog.broker.api import ConsumerFetchRequest, ConsumerFetchResponse, FetchRead
from reflog.client import SendStatus
from reflog.cluster import Cluster, open_cluster
from reflog.replication.messages import FetchRequest, FetchResponse
from reflog.replication.partition import Partition
from reflog.vocabulary import TopicPartition

TP = TopicPartition("t", 0)
VALUE = b"v" * 1000  # one batch of about 1.1 KB per send (linger 0)


async def produce(cluster: Cluster, n: int, topic: str = "t") -> list[bytes]:
    producer = cluster.producer(acks="all")
    acked = []
    for i in range(n):
        value = b"%d-" % i + VALUE
        if (await producer.send(topic, value)).status is SendStatus.OK:
            acked.append(value)
    return acked


async def read_back(cluster: Cluster, tp: TopicPartition) -> set[bytes]:
    consumer = cluster.consumer()
    consumer.assign([tp])
    seen: set[bytes] = set()
    for _ in range(20):
        seen.update(r.value for r in await consumer.poll() if r.value is not None)
    return seen


@pytest.mark.req("REP-41")
async def test_a_consumer_fetch_is_bounded_by_fetch_max_bytes_and_its_wait_is_capped(
    autojump_clock: object,
) -> None:
    config = BrokerConfig(fetch_max_bytes=4096, fetch_max_wait_ms=2_000)
    async with open_cluster(brokers=1, seed=3, broker_config=config) as cluster:
        await cluster.create_topic("t", replication_factor=1)
        acked = await produce(cluster, 10)
        broker = cluster.broker(1).broker
        for read in (FetchRead.COPY, FetchRead.IN_PLACE):
            response = await broker.consumer_fetch(ConsumerFetchRequest(TP, 0, 2**31 - 1, 0, read=read))
            assert isinstance(response, ConsumerFetchResponse)
            assert 0 < response.size <= 4096  # whatever the request asked for
        # A fetch at the end that asks to wait for ever returns after the cap.
        started = trio.current_time()
        response = await broker.consumer_fetch(ConsumerFetchRequest(TP, len(acked), 1 << 20, 2**31 - 1))
        assert isinstance(response, ConsumerFetchResponse) and response.size == 0
        assert trio.current_time() - started == pytest.approx(2.0, abs=0.1)


@pytest.mark.req("REP-41")
@pytest.mark.parametrize("side", ["follower asks", "leader serves"])
async def test_replica_fetches_are_bounded(
    side: str, autojump_clock: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``replica.fetch.response.max.bytes`` bounds what a follower asks for (even with a huge
    ``replica.fetch.max.bytes``); ``fetch.max.bytes`` bounds what a leader serves, whatever asked."""
    if side == "follower asks":
        config = BrokerConfig(replica_fetch_max_bytes=1 << 30, replica_fetch_response_max_bytes=4096)
    else:
        config = BrokerConfig(
            replica_fetch_max_bytes=1 << 30, replica_fetch_response_max_bytes=1 << 30, fetch_max_bytes=4096
        )
    asked: list[int] = []
    served: list[int] = []
    original_fetch, original_serve = Partition.fetch_request, Partition.handle_fetch

    def fetch_request(self: Partition, replica_epoch: int, max_bytes: int = 1 << 20) -> FetchRequest | None:
        asked.append(max_bytes)
        return original_fetch(self, replica_epoch, max_bytes)

    def handle_fetch(self: Partition, request: FetchRequest, now: float) -> FetchResponse:
        response = original_serve(self, request, now)
        records = response.records or b""
        served.append(len(records))
        if len(records) > 4096:  # over the bound: must be a single batch (offset, length, batch)
            assert len(records) == 12 + int.from_bytes(records[8:12], "big")
        return response

    monkeypatch.setattr(Partition, "fetch_request", fetch_request)
    monkeypatch.setattr(Partition, "handle_fetch", handle_fetch)
    async with open_cluster(brokers=2, seed=5, broker_config=config) as cluster:
        await cluster.create_topic("t", replication_factor=2, configs={"min.insync.replicas": 1})
        follower = next(b for b in (1, 2) if b != cluster.controller.partition("t", 0).leader)
        await cluster.broker(follower).kill()
        acked = await produce(cluster, 20)  # about 22 KB for the follower to catch up on
        producer = cluster.producer(acks=1)
        assert (await producer.send("t", b"B" * 10_000)).status is SendStatus.OK  # one batch > 4096
        acked.append(b"B" * 10_000)
        asked.clear()
        served.clear()
        await cluster.broker(follower).restart()
        partition = cluster.broker(follower).broker.partitions
        with trio.fail_after(60):
            while TP not in partition or partition[TP].log_end_offset < len(acked):
                await trio.sleep(0.2)
        # Within the bound, but a batch larger than it still goes out alone (KIP-74).
        assert sum(served) >= 21 * len(VALUE)
        assert len([s for s in served if s > 4096]) == 1
        if side == "follower asks":
            assert set(asked) == {4096}
        else:
            assert set(asked) == {1 << 30}


@pytest.mark.req("REP-42")
async def test_emfile_on_one_brokers_data_dir_halts_only_that_broker(
    tmp_path: Path, autojump_clock: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with open_cluster(brokers=3, seed=8, storage="os", directory=tmp_path) as cluster:
        await cluster.create_topic("t", replication_factor=3, configs={"min.insync.replicas": 2})
        acked = await produce(cluster, 3)
        leader = cluster.controller.partition("t", 0).leader
        victim = next(b for b in (1, 2, 3) if b != leader)
        root = os.path.join(os.fspath(tmp_path), f"broker-{victim}") + os.sep
        real_open = os.open

        def open_(path: str, flags: int, mode: int = 0o777, **kwargs: object) -> int:
            if os.fspath(path).startswith(root):
                raise OSError(errno.EMFILE, "Too many open files", path)
            return real_open(path, flags, mode)

        monkeypatch.setattr(os_storage.os, "open", open_)
        await cluster.create_topic("u", replication_factor=3)  # the victim cannot open u-0's segment
        handle = cluster.broker(victim)
        assert not handle.running
        assert handle.exit_reason is not None and "EMFILE" in handle.exit_reason
        acked += await produce(cluster, 3)
        assert len(acked) == 6 and all(cluster.broker(b).running for b in (1, 2, 3) if b != victim)
        monkeypatch.undo()  # the descriptors are back
        await handle.restart()
        await cluster.wait_for_brokers()
        await cluster.wait_for_leaders("u")
        assert set(acked) <= await read_back(cluster, TP)
