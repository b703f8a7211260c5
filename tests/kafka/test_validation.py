"""What the served broker refuses, and with which Kafka error code: crafted Produce batches, a partition
listed twice in one request, topic configs at CreateTopics, and ListOffsets by timestamp (PRO-20..22)."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import pytest

from reflog.errors import Errors
from reflog.records import Compression, Record, build_batch, decode_batch
from tests.kafka.canary import canary
from tests.kafka.raw import RawClient
from tests.kafka.served import ServedCluster
from tests.records._helpers import forge_batch, raw_record

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    from kafka.protocol.admin import CreateTopicsRequest, CreateTopicsResponse  # type: ignore[import-untyped]
    from kafka.protocol.consumer import ListOffsetsRequest, ListOffsetsResponse  # type: ignore[import-untyped]
    from kafka.protocol.producer import ProduceRequest, ProduceResponse  # type: ignore[import-untyped]

Connect = Callable[[], RawClient]


def leader_client(served: ServedCluster, topic: str) -> RawClient:
    assert served.kafka is not None
    leader = served.kafka.cluster.controller.partition(topic, 0).leader
    return RawClient(served.kafka.addresses[leader])


def produce(client: RawClient, topic: str, *parts: bytes, version: int = 7) -> list[tuple[int, int, int]]:
    """Produce ``parts`` (each the records of partition 0) in one request; (index, error, offset) each."""
    cls = ProduceRequest[version]
    request = cls(
        transactional_id=None,
        acks=1,
        timeout_ms=10_000,
        topic_data=[
            cls.TopicProduceData(
                name=topic, partition_data=[cls.TopicProduceData.PartitionProduceData(index=0, records=p)]
            )
            for p in parts
        ],
    )
    response = ProduceResponse.decode(client.request(request, version), version=version)
    return [
        (p.index, int(p.error_code), int(p.base_offset))
        for t in response.responses
        for p in t.partition_responses
    ]


def stored_values(served: ServedCluster, topic: str) -> list[bytes | None]:
    assert served.kafka is not None
    cluster = served.kafka.cluster
    partition = cluster.broker(cluster.controller.partition(topic, 0).leader).broker.partitions[(topic, 0)]

    async def read() -> list[bytes | None]:
        return [r.value for raw in partition.log.iter_batches() for r in decode_batch(raw).records]

    result: list[bytes | None] = served.call(read)
    return result


def one(value: bytes, **options: Any) -> bytes:
    return build_batch([Record(key=None, value=value)], **options)


@pytest.mark.req("PRO-20")
def test_produce_refuses_crafted_batches_with_kafka_error_codes(served: ServedCluster) -> None:
    served.create_topic("crafted", replication_factor=1, max_message_bytes=2048)
    client = leader_client(served, "crafted")
    try:
        codes = {
            "count vs lastOffsetDelta": forge_batch(raw_record(), records_count=1, last_offset_delta=9),
            "offsets past the index range": forge_batch(
                raw_record(), records_count=1, last_offset_delta=2**31 - 1
            ),
            "no records": forge_batch(b"", records_count=0),
            "control batch": forge_batch(raw_record(), records_count=1, attributes=0x20),
            "two batches": one(b"a") + one(b"b"),
            "pid without sequence": forge_batch(
                raw_record(), records_count=1, producer_id=3, producer_epoch=0
            ),
            "transactional": one(
                b"t", producer_id=4, producer_epoch=0, base_sequence=0, is_transactional=True
            ),
            "too large": one(bytes(4096)),
            "empty records": b"",
        }
        answers = {what: produce(client, "crafted", records)[0][1] for what, records in codes.items()}
        zstd_on_v6 = produce(client, "crafted", one(b"z", compression=Compression.ZSTD), version=6)
        assert produce(client, "crafted", one(b"ok"))[0][1] == Errors.NONE
    finally:
        client.close()
    assert answers == {
        "count vs lastOffsetDelta": Errors.INVALID_RECORD,
        "offsets past the index range": Errors.INVALID_RECORD,
        "no records": Errors.INVALID_RECORD,
        "control batch": Errors.INVALID_RECORD,
        "two batches": Errors.INVALID_RECORD,
        "pid without sequence": Errors.INVALID_RECORD,
        "transactional": Errors.INVALID_TXN_STATE,
        "too large": Errors.MESSAGE_TOO_LARGE,
        "empty records": Errors.INVALID_RECORD,
    }
    assert zstd_on_v6[0][1] == Errors.UNSUPPORTED_COMPRESSION_TYPE  # zstd needs Produce v7
    assert stored_values(served, "crafted") == [b"ok"]  # nothing refused was written
    canary(served)


@pytest.mark.req("PRO-20")
def test_a_partition_listed_twice_in_one_request_is_appended_once(served: ServedCluster) -> None:
    served.create_topic("twice", replication_factor=1)
    client = leader_client(served, "twice")
    try:
        batch = one(b"same", producer_id=11, producer_epoch=0, base_sequence=0)
        answers = produce(client, "twice", one(b"first"), batch)
        again = produce(client, "twice", batch, batch)  # a retry sent twice: one duplicate answer
    finally:
        client.close()
    # Kafka keeps one entry per partition (the last) and answers it once.
    assert answers == [(0, Errors.NONE, 0)]
    assert again == [(0, Errors.NONE, 0)]
    assert stored_values(served, "twice") == [b"same"]
    canary(served)


def create(client: RawClient, name: str, configs: dict[str, str]) -> tuple[int, str | None]:
    topic = CreateTopicsRequest[4].CreatableTopic
    config = topic.CreatableTopicConfig
    request = CreateTopicsRequest[4](
        topics=[
            topic(
                name=name,
                num_partitions=1,
                replication_factor=1,
                assignments=[],
                configs=[config(name=k, value=v) for k, v in configs.items()],
            )
        ],
        timeout_ms=10_000,
        validate_only=False,
    )
    result = CreateTopicsResponse.decode(client.request(request, 4), version=4).topics[0]
    return int(result.error_code), result.error_message


@pytest.mark.req("PRO-21")
@pytest.mark.parametrize(
    ("configs", "message"),
    [
        (
            {"segment.bytes": "0"},
            "Invalid value 0 for configuration segment.bytes: Value must be at least 14",
        ),
        ({"max.message.bytes": "-1"}, "Value must be at least 0"),
        ({"flush.messages": "0"}, "Value must be at least 1"),
        ({"min.insync.replicas": "0"}, "Value must be at least 1"),
        ({"segment.index.bytes": "3"}, "Value must be at least 4"),
        ({"retention.ms": "-2"}, "Value must be at least -1"),
        ({"segment.bytes": "2147483648"}, "Not a number of type INT"),
        ({"flush.ms": "soon"}, "Not a number"),
        ({"not.a.real.topic.config": "1"}, "Unknown topic config name: not.a.real.topic.config"),
        ({"preallocate": "true"}, "Topic config preallocate is not supported by reflog yet"),
        (
            {"cleanup.policy": "compact,remove"},
            "Invalid value remove for configuration cleanup.policy: String must be one of: compact, delete",
        ),
        (
            {"compression.type": "brotli"},
            "String must be one of: uncompressed, zstd, lz4, snappy, gzip, producer",
        ),
        ({"message.timestamp.type": "logappendtime"}, "String must be one of: CreateTime, LogAppendTime"),
        ({"unclean.leader.election.enable": "1"}, "Expected value to be either true or false"),
        ({"min.cleanable.dirty.ratio": "1.5"}, "Value must be no more than 1"),
    ],
)
def test_create_topics_refuses_invalid_configs(
    served: ServedCluster, connect: Connect, configs: dict[str, str], message: str
) -> None:
    client = connect()
    error, text = create(client, "bad-config", configs)
    assert error == Errors.INVALID_CONFIG
    assert text is not None and message in text
    canary(served)


@pytest.mark.req("PRO-21")
def test_create_topics_accepts_kafka_edge_values_and_the_brokers_stay_up(
    served: ServedCluster, connect: Connect
) -> None:
    client = connect()
    edge = {
        "segment.bytes": "14",
        "retention.ms": "-1",
        "retention.bytes": "-1",
        "flush.ms": "0",
        "index.interval.bytes": "0",
        "unclean.leader.election.enable": "FALSE",
        "cleanup.policy": "compact, delete",
        "compression.type": "zstd",
        "message.timestamp.type": "LogAppendTime",
        "min.cleanable.dirty.ratio": "0",
    }
    assert create(client, "edge-config", edge) == (Errors.NONE, None)
    assert served.kafka is not None
    assert all(handle.running for handle in served.kafka.cluster.brokers)
    canary(served)


def list_offset(client: RawClient, topic: str, timestamp: int) -> tuple[int, int, int]:
    cls = ListOffsetsRequest[5]
    request = cls(
        replica_id=-1,
        isolation_level=0,
        topics=[
            cls.ListOffsetsTopic(
                name=topic,
                partitions=[
                    cls.ListOffsetsTopic.ListOffsetsPartition(
                        partition_index=0, current_leader_epoch=-1, timestamp=timestamp
                    )
                ],
            )
        ],
    )
    part = ListOffsetsResponse.decode(client.request(request, 5), version=5).topics[0].partitions[0]
    return int(part.error_code), int(part.offset), int(part.timestamp)


@pytest.mark.req("PRO-22")
def test_list_offsets_by_timestamp_finds_the_record_inside_a_batch(served: ServedCluster) -> None:
    served.create_topic("by-time", replication_factor=1)
    client = leader_client(served, "by-time")
    try:
        batch = build_batch([Record(key=None, value=b"x", timestamp=t) for t in (1000, 2000, 3000)])
        assert produce(client, "by-time", batch)[0][1] == Errors.NONE
        answers = [list_offset(client, "by-time", t) for t in (500, 1500, 3000, 3001)]
    finally:
        client.close()
    assert answers == [(0, 0, 1000), (0, 1, 2000), (0, 2, 3000), (0, -1, -1)]
