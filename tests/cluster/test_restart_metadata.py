"""A whole cluster restarted on the same directory resumes its metadata (CTL-26, CTL-27).

OS storage, real files and fsyncs, simulated time. Leaving ``open_cluster``'s block cancels every
broker and the controller at once, as SIGKILL ends ``reflog serve``: the kernel's page cache keeps
what was written. ``stop()`` on every broker first is what SIGTERM does.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import trio
import trio.testing

from reflog.broker.api import InitProducerIdRequest, InitProducerIdResponse
from reflog.client import SendStatus
from reflog.cluster import Cluster, open_cluster
from reflog.replication.controller_config import ControllerConfig
from reflog.vocabulary import NO_LEADER, TopicPartition

CONFIGS = {"min.insync.replicas": 2, "segment.bytes": 1 << 20}
LAST_KNOWN = ControllerConfig(elect_last_known_leader=True)


async def _read_all(cluster: Cluster, topic: str, partitions: int) -> list[bytes]:
    consumer = cluster.consumer()
    tps = [TopicPartition(topic, p) for p in range(partitions)]
    consumer.assign(tps)
    values: list[bytes] = []
    with trio.fail_after(120):
        while True:
            batch = await consumer.poll()
            values.extend(r.value or b"" for r in batch)
            if not batch:
                return values


async def _wait_online(cluster: Cluster, topic: str) -> None:
    with trio.fail_after(120):
        while any(
            p.leader == NO_LEADER for p in cluster.controller.partitions() if p.topic_partition.topic == topic
        ):
            await trio.sleep(0.5)
    await cluster.wait_for_leaders(topic, timeout=120)


async def _first_life(directory: Path, *, clean: bool) -> tuple[set[bytes], int, int]:
    async with open_cluster(3, storage="os", directory=directory, controller_config=LAST_KNOWN) as cluster:
        await cluster.create_topic("orders", partitions=2, replication_factor=3, configs=CONFIGS)
        producer = cluster.producer(acks="all", linger_ms=0)
        acked = set()
        for i in range(40):
            result = await producer.send("orders", b"v%03d" % i, key=b"k%d" % (i % 4))
            assert result.status is SendStatus.OK
            acked.add(b"v%03d" % i)
        pid = await cluster.controller_call(InitProducerIdRequest())
        assert isinstance(pid, InitProducerIdResponse)
        epochs = max(b.broker_epoch for b in cluster.controller.brokers())
        if clean:
            for handle in cluster.brokers:
                await handle.stop()
        return acked, pid.producer_id, epochs


@pytest.mark.req("CTL-26", "CTL-27", "CTL-25")
@pytest.mark.parametrize("clean", [True, False], ids=["sigterm", "sigkill"])
async def test_a_restarted_cluster_has_its_topics_configs_records_and_fresh_producer_ids(
    tmp_path: Path, autojump_clock: trio.testing.MockClock, clean: bool
) -> None:
    acked, last_pid, last_epoch = await _first_life(tmp_path, clean=clean)
    async with open_cluster(3, storage="os", directory=tmp_path, controller_config=LAST_KNOWN) as cluster:
        assert {p.topic_partition for p in cluster.controller.partitions()} == {
            TopicPartition("orders", 0),
            TopicPartition("orders", 1),
        }
        assert cluster.topic_configs["orders"] == {
            k: str(v) for k, v in CONFIGS.items()
        }  # Kafka's strings (LOG-28)
        assert cluster.controller.topic_config("orders").min_insync_replicas == 2
        assert all(b.broker_epoch > last_epoch for b in cluster.controller.brokers())
        await _wait_online(cluster, "orders")
        assert set(await _read_all(cluster, "orders", 2)) == acked
        pid = await cluster.controller_call(InitProducerIdRequest())
        assert isinstance(pid, InitProducerIdResponse) and pid.producer_id > last_pid
        producer = cluster.producer(acks="all", linger_ms=0)  # a new idempotent producer
        result = await producer.send("orders", b"after", key=b"k0")
        assert result.status is SendStatus.OK
        assert sorted(await _read_all(cluster, "orders", 2)) == sorted([*acked, b"after"])
        if clean:  # clean restarts keep every replica eligible: no unclean election was needed
            assert all(p.leader_recovery_state.value == "RECOVERED" for p in cluster.controller.partitions())
