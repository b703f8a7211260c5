"""Unchanged admin clients against ``reflog serve`` (PRO-86): kafka-python 3's ``KafkaAdminClient``,
aiokafka's ``AIOKafkaAdminClient`` and confluent-kafka's ``AdminClient`` delete topics, add
partitions, delete records and describe the cluster; kafka-python and confluent-kafka elect leaders;
kafka-python describes topic partitions and producers. aiokafka has no ElectLeaders,
DescribeTopicPartitions or DescribeProducers call; confluent-kafka has no DescribeProducers call.

The last test recovers an offline partition with an unclean ElectLeaders and shows kafka-python's
consumer detecting the truncation through OffsetForLeaderEpoch (KIP-320)."""

from __future__ import annotations

import asyncio
import time
import uuid
import warnings
from collections.abc import Callable
from typing import Any

import pytest

from reflog.broker.config import BrokerConfig
from reflog.replication.controller_config import ControllerConfig
from reflog.vocabulary import TopicPartition as Tp
from reflog.vocabulary import node_name
from tests.kafka.raw import RawClient
from tests.kafka.served import ServedCluster

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import kafka  # type: ignore[import-untyped]
    import kafka.errors as kafka_errors  # type: ignore[import-untyped]
    from aiokafka import TopicPartition as AioTopicPartition  # type: ignore[import-untyped]
    from aiokafka.admin import AIOKafkaAdminClient  # type: ignore[import-untyped]
    from aiokafka.admin import NewPartitions as AioNewPartitions
    from aiokafka.admin.records_to_delete import RecordsToDelete  # type: ignore[import-untyped]
    from confluent_kafka import ElectionType, KafkaException  # type: ignore[import-untyped]
    from confluent_kafka import TopicPartition as CkTopicPartition
    from confluent_kafka.admin import AdminClient  # type: ignore[import-untyped]
    from confluent_kafka.admin import NewPartitions as CkNewPartitions
    from kafka.protocol.consumer import (  # type: ignore[import-untyped]
        OffsetForLeaderEpochRequest,
        OffsetForLeaderEpochResponse,
    )

pytestmark = pytest.mark.req("PRO-86")


def fresh(served: ServedCluster, partitions: int = 1, records: int = 0) -> str:
    name = f"a-{uuid.uuid4().hex[:8]}"
    served.create_topic(name, partitions=partitions, replication_factor=3)
    if records:
        producer = kafka.KafkaProducer(bootstrap_servers=served.bootstrap, acks="all")
        for i in range(records):
            producer.send(name, f"r{i}".encode(), partition=0).get(timeout=30)
        producer.close()
    return name


def topics(served: ServedCluster) -> set[str]:
    assert served.kafka is not None
    return {p.topic_partition.topic for p in served.kafka.cluster.controller.partitions()}


def partition_count(served: ServedCluster, topic: str) -> int:
    assert served.kafka is not None
    return len([p for p in served.kafka.cluster.controller.partitions() if p.topic_partition.topic == topic])


def log_start(served: ServedCluster, topic: str) -> int:
    assert served.kafka is not None
    cluster = served.kafka.cluster
    leader = cluster.controller.partition(topic, 0).leader
    return int(cluster.broker(leader).broker.partitions[Tp(topic, 0)].log.log_start_offset)


def earliest(served: ServedCluster, topic: str) -> int:
    consumer = kafka.KafkaConsumer(bootstrap_servers=served.bootstrap)
    try:
        tp = kafka.TopicPartition(topic, 0)
        return int(consumer.beginning_offsets([tp])[tp])
    finally:
        consumer.close()


# ---------------------------------------------------------------------------------- kafka-python
@pytest.fixture
def kafka_admin(served: ServedCluster) -> Any:
    admin = kafka.KafkaAdminClient(bootstrap_servers=served.bootstrap, request_timeout_ms=30_000)
    yield admin
    admin.close()


def test_kafka_python_deletes_topics_and_adds_partitions(served: ServedCluster, kafka_admin: Any) -> None:
    gone, grown = fresh(served), fresh(served)
    kafka_admin.delete_topics([gone])
    assert gone not in topics(served)
    with pytest.raises(kafka_errors.UnknownTopicOrPartitionError):
        kafka_admin.delete_topics([gone])
    kafka_admin.create_partitions({grown: kafka.admin.NewPartitions(3)})
    assert partition_count(served, grown) == 3
    with pytest.raises(kafka_errors.InvalidPartitionsError):
        kafka_admin.create_partitions({grown: kafka.admin.NewPartitions(2)})
    producer = kafka.KafkaProducer(bootstrap_servers=served.bootstrap, acks="all")
    assert producer.send(grown, b"new", partition=2).get(timeout=30).partition == 2
    producer.close()


def test_kafka_python_deletes_records(served: ServedCluster, kafka_admin: Any) -> None:
    name = fresh(served, records=6)
    tp = kafka.TopicPartition(name, 0)
    answer = kafka_admin.delete_records({tp: 4})
    assert answer[tp]["low_watermark"] == 4 and answer[tp]["error_code"] == 0
    assert log_start(served, name) == 4 and earliest(served, name) == 4
    with pytest.raises(kafka_errors.OffsetOutOfRangeError):
        kafka_admin.delete_records({tp: 7})


def test_kafka_python_describes_the_cluster_topic_partitions_and_producers(
    served: ServedCluster, kafka_admin: Any
) -> None:
    name = fresh(served, partitions=2, records=3)
    cluster = kafka_admin.describe_cluster()
    assert cluster["cluster_id"] == "reflog-cluster"
    assert sorted(b["broker_id"] for b in cluster["brokers"]) == [1, 2, 3]
    described = kafka_admin.describe_topic_partitions([name])
    (topic,) = described["topics"]
    assert (topic["name"], [p["partition_index"] for p in topic["partitions"]]) == (name, [0, 1])
    producers = kafka_admin.describe_producers([kafka.TopicPartition(name, 0)])
    (state,) = producers[kafka.TopicPartition(name, 0)].active_producers
    assert state.last_sequence == 2


def test_kafka_python_elects_the_preferred_leader(served: ServedCluster, kafka_admin: Any) -> None:
    name = fresh(served)
    response = kafka_admin.elect_leaders(0, {name: [0]})  # ELECTION_NOT_NEEDED is not an error
    (result,) = response.replica_election_results
    assert [p.error_code for p in result.partition_result] == [84]


# ---------------------------------------------------------------------------------- aiokafka
def test_aiokafka_deletes_topics_adds_partitions_deletes_records_and_describes(served: ServedCluster) -> None:
    gone, grown, trimmed = fresh(served), fresh(served), fresh(served, records=5)

    async def run() -> tuple[Any, Any]:
        admin = AIOKafkaAdminClient(bootstrap_servers=served.bootstrap, request_timeout_ms=30_000)
        await admin.start()
        try:
            await admin.delete_topics([gone])
            await admin.create_partitions({grown: AioNewPartitions(total_count=2)})
            low = await admin.delete_records(
                {AioTopicPartition(trimmed, 0): RecordsToDelete(before_offset=3)}
            )
            return low, await admin.describe_cluster()
        finally:
            await admin.close()

    low, cluster = asyncio.run(run())
    assert gone not in topics(served)
    assert partition_count(served, grown) == 2
    assert low == {AioTopicPartition(trimmed, 0): 3}
    assert log_start(served, trimmed) == 3
    assert sorted(b["node_id"] for b in cluster["brokers"]) == [1, 2, 3]


# ---------------------------------------------------------------------------------- confluent-kafka
def wait_all(futures: dict[Any, Any]) -> dict[Any, Any]:
    return {key: future.result(timeout=30) for key, future in futures.items()}


def test_confluent_kafka_admin_calls(served: ServedCluster) -> None:
    gone, grown, trimmed = fresh(served), fresh(served), fresh(served, records=5)
    admin = AdminClient({"bootstrap.servers": served.bootstrap})
    wait_all(admin.delete_topics([gone], operation_timeout=30))
    assert gone not in topics(served)
    wait_all(admin.create_partitions([CkNewPartitions(grown, 3)], operation_timeout=30))
    assert partition_count(served, grown) == 3
    with pytest.raises(KafkaException):
        wait_all(admin.create_partitions([CkNewPartitions(grown, 1)]))
    (deleted,) = wait_all(admin.delete_records([CkTopicPartition(trimmed, 0, 2)])).values()
    assert deleted.low_watermark == 2
    assert log_start(served, trimmed) == 2
    cluster = admin.describe_cluster().result(timeout=30)
    assert cluster.cluster_id == "reflog-cluster"
    assert sorted(node.id for node in cluster.nodes) == [1, 2, 3]
    elected = admin.elect_leaders(ElectionType.PREFERRED, [CkTopicPartition(grown, 0)]).result(timeout=30)
    (partition_error,) = elected.values()
    assert partition_error is not None and partition_error.code() == 84  # ELECTION_NOT_NEEDED


# ---------------------------------------------------------------------------------- recovery
def until(condition: Callable[[], bool], what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


@pytest.mark.req("PRO-82", "PRO-87")
def test_an_unclean_elect_leaders_recovers_an_offline_partition_and_the_consumer_sees_the_truncation() -> (
    None
):
    served = ServedCluster(
        2,
        controller_config=ControllerConfig(broker_session_timeout_ms=1500, elect_last_known_leader=True),
        broker_config=BrokerConfig(replica_lag_time_max_ms=1000),
    )
    try:
        served.create_topic("offline", partitions=1, replication_factor=2)  # replicas (1, 2), leader 1
        assert served.kafka is not None
        cluster = served.kafka.cluster
        producer = kafka.KafkaProducer(bootstrap_servers=served.bootstrap, acks="all", retries=20)
        for i in range(2):
            producer.send("offline", b"both-%d" % i).get(timeout=30)

        async def cut_replication() -> None:  # both brokers keep serving clients and the controller
            cluster.network.partition([{node_name(1)}, {node_name(2)}])

        served.call(cut_replication)
        lagging = kafka.KafkaProducer(bootstrap_servers=served.bootstrap, acks=1)
        lagging.send("offline", b"only-1-0").get(timeout=30)  # the follower falls behind...
        lagging.close()
        until(lambda: cluster.controller.partition("offline", 0).isr == (1,), "the ISR to shrink")
        time.sleep(1.5)  # ...out of the ISR, and past replica.lag.time.max.ms it no longer holds the HW
        for i in (1, 2):
            producer.send("offline", b"only-1-%d" % i).get(timeout=30)
        producer.close()
        consumer = kafka.KafkaConsumer(
            bootstrap_servers=served.bootstrap, auto_offset_reset="none", consumer_timeout_ms=3000
        )
        tp = kafka.TopicPartition("offline", 0)
        consumer.assign([tp])
        consumer.seek(tp, 0)
        assert [m.value for m in consumer] == [b"both-0", b"both-1", b"only-1-0", b"only-1-1", b"only-1-2"]
        assert consumer.position(tp) == 5

        served.call(cluster.broker(1).kill)  # the only in-sync replica dies for good
        until(lambda: not cluster.controller.broker(1).is_active, "broker 1 to be fenced")  # type: ignore[union-attr]
        assert cluster.controller.partition("offline", 0).leader == -1  # offline: nothing clean is left

        admin = kafka.KafkaAdminClient(bootstrap_servers=served.bootstrap, request_timeout_ms=30_000)
        response = admin.elect_leaders(1, {"offline": [0]})  # UNCLEAN: the operator accepts the loss
        admin.close()
        (result,) = response.replica_election_results
        assert [p.error_code for p in result.partition_result] == [0]
        assert cluster.controller.partition("offline", 0).leader == 2

        # KIP-320 as a client asks it: where did epoch 0 end on the new leader? Below the position.
        served.call(cluster.wait_for_leaders, "offline")  # (before, the answer is UNKNOWN_LEADER_EPOCH)
        epoch = cluster.controller.partition("offline", 0).leader_epoch
        request = OffsetForLeaderEpochRequest[4](
            replica_id=-1,
            topics=[
                OffsetForLeaderEpochRequest[4].OffsetForLeaderTopic(
                    topic="offline",
                    partitions=[
                        OffsetForLeaderEpochRequest[4].OffsetForLeaderTopic.OffsetForLeaderPartition(
                            partition=0, current_leader_epoch=epoch, leader_epoch=0
                        )
                    ],
                )
            ],
        )
        raw = RawClient(served.kafka.addresses[2])
        try:
            payload = raw.request(request, 4)[1:]  # after response header v1's tagged fields
        finally:
            raw.close()
        (answer,) = OffsetForLeaderEpochResponse.decode(payload, version=4).topics[0].partitions
        assert (answer.error_code, answer.leader_epoch, answer.end_offset) == (0, 0, 2)

        # kafka-python's consumer learns its position 5 is past the log: by its own OffsetForLeaderEpoch
        # validation (LogTruncationError, diverging at 2) once Metadata carries leader epochs it trusts
        # (v9+), else by the fetch's OFFSET_OUT_OF_RANGE.
        with pytest.raises((kafka_errors.LogTruncationError, kafka_errors.OffsetOutOfRangeError)) as lost:
            until(lambda: bool(consumer.poll(timeout_ms=500)) and False, "the truncation", timeout=30)
        if isinstance(lost.value, kafka_errors.LogTruncationError):
            assert lost.value.divergent_offsets[tp].offset == 2
        consumer.close()

        recovered = kafka.KafkaProducer(bootstrap_servers=served.bootstrap, acks="all", retries=20)
        assert recovered.send("offline", b"after").get(timeout=30).offset == 2  # back online
        recovered.close()
    finally:
        served.close()
