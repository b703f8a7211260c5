"""Admin changes survive a whole-cluster restart on the same directory (CTL-30, CTL-31, PRO-89).

OS storage, real files and fsyncs, simulated time; leaving ``open_cluster``'s block is SIGKILL.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import trio
import trio.testing

from reflog.broker.api import CreatePartitionsRequest, DeleteTopicRequest
from reflog.client import SendStatus
from reflog.cluster import Cluster, open_cluster
from reflog.errors import Errors
from reflog.kafka.apis import KafkaApis
from reflog.kafka.groups import GroupCoordinator
from reflog.replication.controller_config import ControllerConfig
from reflog.vocabulary import TopicPartition
from tests.kafka.test_admin_rules import ADDRESSES, delete_records, low_watermarks
from tests.kafka.test_apis_rules import call

LAST_KNOWN = ControllerConfig(elect_last_known_leader=True)  # every broker restarts unclean (CTL-25)


def dirs(directory: Path, broker: int) -> set[str]:
    return set(os.listdir(directory / f"broker-{broker}" / "data"))


async def produce(cluster: Cluster, topic: str, count: int) -> None:
    producer = cluster.producer(acks="all", linger_ms=0)
    for i in range(count):
        assert (await producer.send(topic, b"v%d" % i, partition=0)).status is SendStatus.OK


@pytest.mark.req("CTL-30", "CTL-31", "PRO-89")
async def test_deleted_topics_stay_deleted_added_partitions_stay_and_the_log_start_holds(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    async with open_cluster(3, storage="os", directory=tmp_path, controller_config=LAST_KNOWN) as cluster:
        await cluster.create_topic(
            "gone", partitions=1, replication_factor=3, configs={"segment.bytes": 4096}
        )
        await cluster.create_topic("grown", partitions=1, replication_factor=3)
        await cluster.create_topic("trimmed", partitions=1, replication_factor=3)
        await produce(cluster, "gone", 3)
        await produce(cluster, "trimmed", 5)
        apis = KafkaApis(cluster, 1, lambda: ADDRESSES, GroupCoordinator())
        assert low_watermarks(await call(apis, delete_records([(0, 3)], topic="trimmed"), 2)) == [(0, 0, 3)]
        await cluster.broker(3).kill()  # down while the topic is deleted: a stray log at its restart
        deleted = await cluster.controller_call(DeleteTopicRequest("gone"))
        assert deleted.error is Errors.NONE
        grown = await cluster.controller_call(CreatePartitionsRequest("grown", 3))
        assert grown.error is Errors.NONE
        with trio.fail_after(30):
            while "gone-0" in dirs(tmp_path, 1) or "gone-0" in dirs(tmp_path, 2):
                await trio.sleep(0.1)
        assert "gone-0" in dirs(tmp_path, 3)
        assert "gone" not in cluster.topic_configs
    async with open_cluster(3, storage="os", directory=tmp_path, controller_config=LAST_KNOWN) as cluster:
        assert sorted(
            str(tp) for tp in (p.topic_partition for p in cluster.controller.partitions())
        ) == sorted(
            str(tp)
            for tp in (
                TopicPartition("grown", 0),
                TopicPartition("grown", 1),
                TopicPartition("grown", 2),
                TopicPartition("trimmed", 0),
            )
        )
        assert "gone" not in cluster.topic_configs
        for topic in ("grown", "trimmed"):
            await cluster.wait_for_leaders(topic, timeout=120)
        for handle in cluster.brokers:  # broker 3 deleted its stray log when it learned the metadata
            assert handle.broker.manager is not None
            assert TopicPartition("gone", 0) not in handle.broker.manager.logs
            assert "gone-0" not in dirs(tmp_path, handle.broker_id)
            partition = handle.broker.partitions[TopicPartition("trimmed", 0)]
            assert partition.log.log_start_offset == 3  # DeleteRecords' start was checkpointed
        await cluster.create_topic("gone", partitions=1, replication_factor=3)
        for handle in cluster.brokers:
            log = handle.broker.partitions[TopicPartition("gone", 0)].log
            assert (log.log_start_offset, log.log_end_offset) == (0, 0)  # created again: empty
