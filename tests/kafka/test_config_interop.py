"""Topic configs through unchanged Kafka clients' admin APIs over ``reflog serve``'s listeners:
kafka-python 3, aiokafka and confluent-kafka describe and alter configs (PRO-100..PRO-104), string
configs at CreateTopics (PRO-21), LogAppendTime and broker-side recompression read back by consumers
(PRO-105, PRO-106), and altered configs kept across a restart of the served cluster (LOG-28)."""

from __future__ import annotations

import asyncio
import time
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from reflog.records import Compression, TimestampType, parse_header
from reflog.vocabulary import TopicPartition
from tests.kafka.raw import RawClient
from tests.kafka.served import ServedCluster

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    from aiokafka.admin import AIOKafkaAdminClient  # type: ignore[import-untyped]
    from aiokafka.admin.config_resource import ConfigResource as AioResource
    from aiokafka.admin.config_resource import ConfigResourceType as AioResourceType
    from confluent_kafka import Consumer, KafkaException, Producer  # type: ignore[import-untyped]
    from confluent_kafka import TopicPartition as ConfluentPartition
    from confluent_kafka.admin import (  # type: ignore[import-untyped]
        AdminClient,
        AlterConfigOpType,
        ConfigEntry,
        ConfigResource,
        ConfigSource,
        NewTopic,
    )
    from kafka import KafkaConsumer, KafkaProducer  # type: ignore[import-untyped]
    from kafka import TopicPartition as KafkaPartition
    from kafka.admin import ConfigResource as KpResource  # type: ignore[import-untyped]
    from kafka.admin import ConfigResourceType as KpResourceType
    from kafka.admin import KafkaAdminClient
    from kafka.admin import NewTopic as KpNewTopic
    from kafka.protocol.admin import (  # type: ignore[import-untyped]
        DescribeConfigsRequest,
        DescribeConfigsResponse,
        IncrementalAlterConfigsRequest,
        IncrementalAlterConfigsResponse,
    )


@pytest.fixture(scope="module")
def served() -> Iterator[ServedCluster]:
    cluster = ServedCluster(3, default_replication_factor=3)
    try:
        yield cluster
    finally:
        cluster.close()


def fresh(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def kp_admin(served: ServedCluster) -> Any:
    return KafkaAdminClient(bootstrap_servers=served.bootstrap, request_timeout_ms=30_000)


def confluent_admin(served: ServedCluster) -> Any:
    return AdminClient({"bootstrap.servers": served.bootstrap})


def stored_batch(served: ServedCluster, topic: str) -> Any:
    """The header of the first batch the partition leader stored for ``topic``-0."""
    assert served.kafka is not None
    cluster = served.kafka.cluster
    leader = cluster.controller.partition(topic, 0).leader
    log = cluster.broker(leader).broker.partitions[TopicPartition(topic, 0)].log

    async def read() -> bytes:
        return log.read_records(0, 1 << 20)

    return parse_header(served.call(read))


# ---------------------------------------------------------------------------------- kafka-python
@pytest.mark.req("PRO-21")
@pytest.mark.req("PRO-100")
def test_kafka_python_creates_a_compacted_topic_and_describes_it(served: ServedCluster) -> None:
    topic = fresh("kp-compact")
    admin = kp_admin(served)
    try:
        created = admin.create_topics(
            [KpNewTopic(topic, 1, 3, topic_configs={"cleanup.policy": "compact", "retention.ms": "60000"})]
        )
        assert created["topics"][0]["error_code"] == 0
        described = admin.describe_configs(
            [KpResource(KpResourceType.TOPIC, topic)], include_synonyms=True, config_filter="all"
        )
    finally:
        admin.close()
    configs = described["topic"][topic]
    assert configs["cleanup.policy"]["value"] == "compact"
    assert configs["cleanup.policy"]["config_source"] == "DYNAMIC_TOPIC_CONFIG"
    assert configs["cleanup.policy"]["config_type"] == "LIST"
    assert configs["compression.type"]["value"] == "producer"
    assert configs["compression.type"]["config_source"] == "DEFAULT_CONFIG"
    assert [s["name"] for s in configs["retention.ms"]["synonyms"]] == ["retention.ms", "log.retention.ms"]


@pytest.mark.req("PRO-102")
@pytest.mark.req("PRO-103")
def test_kafka_python_alters_configs_both_ways(served: ServedCluster) -> None:
    topic = fresh("kp-alter")
    served.create_topic(topic, 1, 3, retention_ms=60_000)
    admin = kp_admin(served)
    try:
        incremental = admin.alter_configs(
            [KpResource(KpResourceType.TOPIC, topic, configs={"cleanup.policy": ("APPEND", "compact")})],
            incremental=True,
        )
        after_incremental = admin.describe_configs([KpResource(KpResourceType.TOPIC, topic)])
        legacy = admin.alter_configs(
            [KpResource(KpResourceType.TOPIC, topic, configs={"segment.bytes": "1048576"})], incremental=False
        )
        after_legacy = admin.describe_configs([KpResource(KpResourceType.TOPIC, topic)])
        refused = admin.alter_configs(
            [KpResource(KpResourceType.TOPIC, topic, configs={"retention.ms": "-7"})]
        )
    finally:
        admin.close()
    assert incremental["topic"][topic] == legacy["topic"][topic] == "OK"
    assert str(refused["topic"][topic]).startswith("[Error 40] InvalidConfigurationError: Invalid value -7")
    modified = {k: v["value"] for k, v in after_incremental["topic"][topic].items()}
    assert modified == {"retention.ms": "60000", "cleanup.policy": "delete,compact"}
    # kafka-python's AlterConfigs path sends the other modified keys along (AlterConfigs replaces the set)
    assert {k: v["value"] for k, v in after_legacy["topic"][topic].items()} == {
        "segment.bytes": "1048576",
        **modified,
    }


# ---------------------------------------------------------------------------------- aiokafka
@pytest.mark.req("PRO-100")
@pytest.mark.req("PRO-102")
def test_aiokafka_describes_and_alters_configs(served: ServedCluster) -> None:
    topic = fresh("aio-configs")
    served.create_topic(topic, 1, 3, retention_ms=60_000)

    async def run() -> tuple[Any, Any, Any]:
        admin = AIOKafkaAdminClient(bootstrap_servers=served.bootstrap)
        await admin.start()
        try:
            altered = await admin.alter_configs(
                [
                    AioResource(
                        AioResourceType.TOPIC, topic, {"max.message.bytes": "65536", "flush.ms": "1000"}
                    )
                ]
            )
            described = await admin.describe_configs([AioResource(AioResourceType.TOPIC, topic)])
            broker = await admin.describe_configs([AioResource(AioResourceType.BROKER, "1")])
            return altered, described, broker
        finally:
            await admin.close()

    altered, described, broker = asyncio.run(run())
    assert [r[0] for r in altered[0].resources] == [0]
    (resource,) = described[0].resources
    assert resource[0] == 0
    values = {entry[0]: entry[1] for entry in resource[4]}
    assert values["max.message.bytes"] == "65536" and values["flush.ms"] == "1000"
    assert values["message.timestamp.type"] == "CreateTime"
    assert values["retention.ms"] == "604800000"  # AlterConfigs replaced the whole override set
    (broker_resource,) = broker[0].resources
    assert broker_resource[0] == 0
    broker_values = {entry[0]: entry[1] for entry in broker_resource[4]}
    assert broker_values["replica.lag.time.max.ms"] == "30000"


# ---------------------------------------------------------------------------------- confluent-kafka
def _one(futures: dict[Any, Any]) -> Any:
    (future,) = futures.values()
    return future.result(timeout=30)


@pytest.mark.req("PRO-100")
@pytest.mark.req("PRO-101")
@pytest.mark.req("PRO-103")
def test_confluent_incremental_alter_and_describe(served: ServedCluster) -> None:
    topic = fresh("rd-configs")
    admin = confluent_admin(served)
    _one(admin.create_topics([NewTopic(topic, 1, 3, config={"cleanup.policy": "compact,delete"})]))
    ops = [
        ConfigEntry("cleanup.policy", "delete", incremental_operation=AlterConfigOpType.SUBTRACT),
        ConfigEntry("compression.type", "lz4", incremental_operation=AlterConfigOpType.SET),
        ConfigEntry("min.cleanable.dirty.ratio", "0.25", incremental_operation=AlterConfigOpType.SET),
    ]
    _one(admin.incremental_alter_configs([ConfigResource("TOPIC", topic, incremental_configs=ops)]))
    described = _one(admin.describe_configs([ConfigResource("TOPIC", topic)]))
    assert described["cleanup.policy"].value == "compact"
    assert described["compression.type"].value == "lz4"
    assert described["min.cleanable.dirty.ratio"].value == "0.25"
    assert described["compression.type"].source == ConfigSource.DYNAMIC_TOPIC_CONFIG.value
    assert described["segment.ms"].source == ConfigSource.DEFAULT_CONFIG.value
    assert not described["segment.ms"].is_read_only
    delete = [ConfigEntry("compression.type", None, incremental_operation=AlterConfigOpType.DELETE)]
    _one(admin.incremental_alter_configs([ConfigResource("TOPIC", topic, incremental_configs=delete)]))
    assert (
        _one(admin.describe_configs([ConfigResource("TOPIC", topic)]))["compression.type"].value == "producer"
    )
    broker = _one(admin.describe_configs([ConfigResource("BROKER", "1")]))
    assert broker["fetch.max.bytes"].value == "57671680" and broker["fetch.max.bytes"].is_read_only


@pytest.mark.req("PRO-104")
def test_confluent_sees_kafkas_errors(served: ServedCluster) -> None:
    topic = fresh("rd-refused")
    served.create_topic(topic, 1, 3)
    admin = confluent_admin(served)
    bad = [ConfigEntry("retention.ms", "5", incremental_operation=AlterConfigOpType.APPEND)]
    with pytest.raises(KafkaException, match=r"not allowed for config key: retention\.ms"):
        _one(admin.incremental_alter_configs([ConfigResource("TOPIC", topic, incremental_configs=bad)]))
    broker = [ConfigEntry("log.retention.ms", "5", incremental_operation=AlterConfigOpType.SET)]
    with pytest.raises(KafkaException, match="Cannot update these configs dynamically"):
        _one(admin.incremental_alter_configs([ConfigResource("BROKER", "1", incremental_configs=broker)]))
    with pytest.raises(KafkaException) as missing:
        _one(admin.describe_configs([ConfigResource("TOPIC", fresh("no-such"))]))
    assert missing.value.args[0].code() == 3  # UNKNOWN_TOPIC_OR_PARTITION


@pytest.mark.req("PRO-102")
def test_an_altered_max_message_bytes_refuses_a_large_record_at_once(served: ServedCluster) -> None:
    topic = fresh("rd-size")
    served.create_topic(topic, 1, 3)
    admin = confluent_admin(served)
    small = [ConfigEntry("max.message.bytes", "1024", incremental_operation=AlterConfigOpType.SET)]
    _one(admin.incremental_alter_configs([ConfigResource("TOPIC", topic, incremental_configs=small)]))
    outcome: list[Any] = []
    producer = Producer({"bootstrap.servers": served.bootstrap, "compression.type": "none"})
    producer.produce(topic, bytes(4096), on_delivery=lambda error, _m: outcome.append(error))
    assert producer.flush(30) == 0
    producer.produce(topic, b"small", on_delivery=lambda error, _m: outcome.append(error))
    assert producer.flush(30) == 0
    assert outcome[0] is not None and outcome[0].code() == 10  # MSG_SIZE_TOO_LARGE
    assert outcome[1] is None


# ---------------------------------------------------------------------------------- LogAppendTime
@pytest.mark.req("PRO-105")
def test_log_append_time_is_what_producers_and_consumers_see(served: ServedCluster) -> None:
    topic = fresh("lat")
    admin = confluent_admin(served)
    _one(admin.create_topics([NewTopic(topic, 1, 3, config={"message.timestamp.type": "LogAppendTime"})]))
    before = int(time.time() * 1000)
    producer = KafkaProducer(bootstrap_servers=served.bootstrap, acks="all")
    metadata = producer.send(topic, b"v", timestamp_ms=1_000).get(30)
    producer.close()
    after = int(time.time() * 1000)
    assert before <= metadata.timestamp <= after  # log_append_time_ms of the Produce response
    consumer = Consumer({"bootstrap.servers": served.bootstrap, "group.id": fresh("g")})
    consumer.assign([ConfluentPartition(topic, 0, 0)])
    message = None
    deadline = time.monotonic() + 30
    while message is None and time.monotonic() < deadline:
        message = consumer.poll(0.5)
    consumer.close()
    assert message is not None and message.error() is None
    kind, stamp = message.timestamp()
    assert kind == 2 and stamp == metadata.timestamp  # TIMESTAMP_LOG_APPEND_TIME
    header = stored_batch(served, topic)
    assert header.timestamp_type is TimestampType.LOG_APPEND_TIME and header.max_timestamp == stamp


# ---------------------------------------------------------------------------------- recompression
@pytest.mark.req("PRO-106")
@pytest.mark.parametrize(
    ("target", "codec"), [("zstd", Compression.ZSTD), ("uncompressed", Compression.NONE)]
)
def test_the_broker_recompresses_and_consumers_read_it_back(
    served: ServedCluster, target: str, codec: Compression
) -> None:
    topic = fresh(f"recompress-{target}")
    served.create_topic(topic, 1, 3, compression_type=target)  # type: ignore[arg-type]
    sent = [b"value-%d" % i * 20 for i in range(50)]
    producer = KafkaProducer(bootstrap_servers=served.bootstrap, compression_type="gzip", linger_ms=50)
    for value in sent:
        producer.send(topic, value, key=b"k")
    producer.flush(30)
    producer.close()
    assert stored_batch(served, topic).compression is codec
    consumer = KafkaConsumer(
        bootstrap_servers=served.bootstrap, auto_offset_reset="earliest", consumer_timeout_ms=10_000
    )
    consumer.assign([KafkaPartition(topic, 0)])
    seen = []
    for record in consumer:
        seen.append(record.value)
        if len(seen) == len(sent):
            break
    consumer.close()
    assert seen == sent


# ---------------------------------------------------------------------------------- restart
@pytest.mark.req("LOG-28")
def test_configs_altered_by_a_client_survive_a_restart(tmp_path: Path) -> None:
    topic = "kept"
    first = ServedCluster(3, storage="os", data_dir=tmp_path, default_replication_factor=3)
    try:
        admin = confluent_admin(first)
        _one(admin.create_topics([NewTopic(topic, 1, 3, config={"cleanup.policy": "compact"})]))
        ops = [
            ConfigEntry("retention.ms", "3600000", incremental_operation=AlterConfigOpType.SET),
            ConfigEntry(
                "message.timestamp.type", "LogAppendTime", incremental_operation=AlterConfigOpType.SET
            ),
        ]
        _one(admin.incremental_alter_configs([ConfigResource("TOPIC", topic, incremental_configs=ops)]))
    finally:
        first.close()
    second = ServedCluster(3, storage="os", data_dir=tmp_path, default_replication_factor=3)
    try:
        admin = kp_admin(second)
        try:
            described = admin.describe_configs([KpResource(KpResourceType.TOPIC, topic)])
        finally:
            admin.close()
        producer = KafkaProducer(bootstrap_servers=second.bootstrap, acks="all")
        metadata = producer.send(topic, b"v", key=b"k", timestamp_ms=1_000).get(60)
        producer.close()
    finally:
        second.close()
    assert {k: v["value"] for k, v in described["topic"][topic].items()} == {
        "cleanup.policy": "compact",
        "retention.ms": "3600000",
        "message.timestamp.type": "LogAppendTime",
    }
    assert metadata.timestamp != 1_000  # the restarted leader stamps LogAppendTime


# ---------------------------------------------------------------------------------- flexible versions
@pytest.mark.req("PRO-100")
@pytest.mark.req("PRO-103")
def test_the_config_apis_at_their_flexible_versions_over_a_socket(served: ServedCluster) -> None:
    """DescribeConfigs v4 and IncrementalAlterConfigs v1 (KIP-482): request header v2 in, response
    header v1 (an empty tagged-field section after the correlation id) out."""
    topic = fresh("flexible")
    served.create_topic(topic, 1, 3)
    assert served.kafka is not None
    client = RawClient(served.kafka.addresses[1])
    try:
        alter = IncrementalAlterConfigsRequest[1]
        res = alter.AlterConfigsResource
        request = alter(
            resources=[
                res(
                    resource_type=2,
                    resource_name=topic,
                    configs=[res.AlterableConfig(name="cleanup.policy", config_operation=0, value="compact")],
                )
            ],
            validate_only=False,
        )
        payload = client.request(request, 1)
        assert payload[0] == 0  # response header v1's tagged fields
        altered = IncrementalAlterConfigsResponse.decode(payload[1:], version=1)
        describe = DescribeConfigsRequest[4]
        payload = client.request(
            describe(
                resources=[
                    describe.DescribeConfigsResource(
                        resource_type=2, resource_name=topic, configuration_keys=["cleanup.policy"]
                    )
                ],
                include_synonyms=True,
                include_documentation=True,
            ),
            4,
        )
        assert payload[0] == 0
        described = DescribeConfigsResponse.decode(payload[1:], version=4)
    finally:
        client.close()
    assert [(r.error_code, r.resource_name) for r in altered.responses] == [(0, topic)]
    (entry,) = described.results[0].configs
    assert (entry.name, entry.value, entry.config_source, entry.config_type) == (
        "cleanup.policy",
        "compact",
        1,
        7,
    )
    assert entry.documentation and [s.name for s in entry.synonyms] == [
        "cleanup.policy",
        "log.cleanup.policy",
    ]
