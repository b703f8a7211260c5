"""Unchanged Kafka clients against ``reflog serve``'s listeners: kafka-python 3, aiokafka 0.14 and
confluent-kafka 2 (librdkafka) produce with ``acks=all`` (lz4, zstd) and consume, by manual
assignment and in a consumer group, from 3 brokers (PRO-1..PRO-12)."""

from __future__ import annotations

import asyncio
import time
import uuid
import warnings

import pytest

from tests.kafka.served import ServedCluster

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import kafka  # type: ignore[import-untyped]
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer  # type: ignore[import-untyped]
    from aiokafka import TopicPartition as AioTopicPartition
    from confluent_kafka import Consumer, Producer, TopicPartition  # type: ignore[import-untyped]

COUNT = 30
CODECS = ["lz4", "zstd"]


def values(prefix: str) -> list[bytes]:
    return [f"{prefix}-{i}".encode() for i in range(COUNT)]


def fresh_topic(served: ServedCluster) -> str:
    name = f"t-{uuid.uuid4().hex[:8]}"
    served.create_topic(name, partitions=2, replication_factor=3, min_insync_replicas=2)
    return name


# ---------------------------------------------------------------------------------- kafka-python
def kafka_python_produce(bootstrap: str, topic: str, sent: list[bytes], codec: str) -> list[tuple[int, int]]:
    producer = kafka.KafkaProducer(
        bootstrap_servers=bootstrap, acks="all", compression_type=codec, linger_ms=5
    )
    futures = [producer.send(topic, v, partition=i % 2) for i, v in enumerate(sent)]
    metadata = [f.get(timeout=30) for f in futures]
    producer.close()
    return [(m.partition, m.offset) for m in metadata]


def kafka_python_assigned(bootstrap: str, topic: str) -> list[bytes]:
    consumer = kafka.KafkaConsumer(bootstrap_servers=bootstrap, consumer_timeout_ms=3000)
    consumer.assign([kafka.TopicPartition(topic, 0), kafka.TopicPartition(topic, 1)])
    consumer.seek_to_beginning()
    got = [m.value for m in consumer]
    consumer.close()
    return got


def kafka_python_group(bootstrap: str, topic: str, group: str) -> list[bytes]:
    consumer = kafka.KafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=group,
        auto_offset_reset="earliest",
        consumer_timeout_ms=8000,
    )
    got = []
    for message in consumer:
        got.append(message.value)
        if len(got) == COUNT:
            break
    consumer.commit()
    consumer.close()
    return got


# ---------------------------------------------------------------------------------- aiokafka
def aiokafka_produce(bootstrap: str, topic: str, sent: list[bytes], codec: str) -> list[tuple[int, int]]:
    async def run() -> list[tuple[int, int]]:
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", compression_type=codec)
        await producer.start()
        try:
            results = [await producer.send_and_wait(topic, v, partition=i % 2) for i, v in enumerate(sent)]
        finally:
            await producer.stop()
        return [(r.partition, r.offset) for r in results]

    return asyncio.run(run())


def aiokafka_consume(bootstrap: str, topic: str, group: str | None) -> list[bytes]:
    async def run() -> list[bytes]:
        if group is None:
            consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, auto_offset_reset="earliest")
        else:
            consumer = AIOKafkaConsumer(
                topic, bootstrap_servers=bootstrap, group_id=group, auto_offset_reset="earliest"
            )
        await consumer.start()
        if group is None:
            consumer.assign([AioTopicPartition(topic, 0), AioTopicPartition(topic, 1)])
        got: list[bytes] = []
        try:
            async with asyncio.timeout(30):
                async for message in consumer:
                    got.append(message.value)
                    if len(got) == COUNT:
                        break
        finally:
            if group is not None:
                await consumer.commit()
            await consumer.stop()
        return got

    return asyncio.run(run())


# ---------------------------------------------------------------------------------- confluent-kafka
def confluent_produce(bootstrap: str, topic: str, sent: list[bytes], codec: str) -> list[tuple[int, int]]:
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "compression.type": codec})
    acked: list[tuple[int, int]] = []
    errors: list[object] = []

    def delivered(error: object, message: object) -> None:
        if error is not None:
            errors.append(error)
        else:
            acked.append((message.partition(), message.offset()))  # type: ignore[attr-defined]

    for i, value in enumerate(sent):
        producer.produce(topic, value, partition=i % 2, on_delivery=delivered)
    assert producer.flush(30) == 0
    assert not errors, errors
    return acked


def confluent_consume(bootstrap: str, topic: str, group: str | None) -> list[bytes]:
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": group or "unused",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    if group is None:
        consumer.assign([TopicPartition(topic, 0, 0), TopicPartition(topic, 1, 0)])
    else:
        consumer.subscribe([topic])
    got: list[bytes] = []
    deadline = time.monotonic() + 30
    while len(got) < COUNT and time.monotonic() < deadline:
        message = consumer.poll(0.5)
        if message is not None and message.error() is None:
            got.append(message.value())
    if group is not None:
        consumer.commit(asynchronous=False)
    consumer.close()
    return got


PRODUCERS = {
    "kafka-python": kafka_python_produce,
    "aiokafka": aiokafka_produce,
    "confluent-kafka": confluent_produce,
}


@pytest.mark.req("PRO-1", "PRO-3", "PRO-4", "PRO-5")
@pytest.mark.parametrize("codec", CODECS)
@pytest.mark.parametrize("client", sorted(PRODUCERS))
def test_a_real_client_produces_with_acks_all(served: ServedCluster, client: str, codec: str) -> None:
    topic = fresh_topic(served)
    sent = values(f"{client}-{codec}")
    offsets = PRODUCERS[client](served.bootstrap, topic, sent, codec)
    assert sorted(offsets) == sorted((p, o) for p in (0, 1) for o in range(COUNT // 2))
    # Read back with another client: what was acknowledged is there, once, in order per partition.
    got = kafka_python_assigned(served.bootstrap, topic)
    assert sorted(got) == sorted(sent)
    for partition in (0, 1):
        expected = [v for i, v in enumerate(sent) if i % 2 == partition]
        assert [v for v in got if v in expected] == expected


CONSUMERS = {
    "kafka-python": lambda bootstrap, topic, group: (
        kafka_python_assigned(bootstrap, topic)
        if group is None
        else kafka_python_group(bootstrap, topic, group)
    ),
    "aiokafka": aiokafka_consume,
    "confluent-kafka": confluent_consume,
}


@pytest.mark.req("PRO-6", "PRO-7", "PRO-9", "PRO-10", "PRO-11", "PRO-12")
@pytest.mark.parametrize("mode", ["assigned", "group"])
@pytest.mark.parametrize("client", sorted(CONSUMERS))
def test_a_real_client_consumes(served: ServedCluster, client: str, mode: str) -> None:
    topic = fresh_topic(served)
    sent = values(f"{client}-{mode}")
    kafka_python_produce(served.bootstrap, topic, sent, "lz4")
    group = None if mode == "assigned" else f"g-{uuid.uuid4().hex[:6]}"
    got = CONSUMERS[client](served.bootstrap, topic, group)
    assert sorted(got) == sorted(sent)
    if group is not None:  # the group's committed offsets are the end of each partition
        assert served.kafka is not None
        offsets = served.kafka.committed_offsets(group)
        assert {k: v[0] for k, v in offsets.items()} == {(topic, 0): COUNT // 2, (topic, 1): COUNT // 2}
