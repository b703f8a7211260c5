"""Compacted topics over real sockets (PRO-140, PRO-141, LOG-30): confluent-kafka creates one through
its admin client, produces keyed records and a tombstone, each broker's cleaner compacts its own
replica, and a confluent-kafka consumer reads the compacted log from the beginning; a keyless record
is refused with Kafka's ``INVALID_RECORD`` and record errors (Produce v8, read with kafka-python's
protocol classes); kafka-python's consumer reads the same compacted log."""

from __future__ import annotations

import time
import uuid
import warnings
from typing import Any

import pytest

from reflog.errors import Errors
from reflog.records import Record, build_batch
from tests.kafka.raw import RawClient
from tests.kafka.served import ServedCluster

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import kafka  # type: ignore[import-untyped]
    from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition  # type: ignore[import-untyped]
    from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[import-untyped]
    from kafka.protocol.producer import ProduceRequest, ProduceResponse  # type: ignore[import-untyped]

KEYS = [b"k%d" % i for i in range(5)]


def create_compacted(served: ServedCluster, **extra: str) -> str:
    """A compacted topic of one partition on all three brokers, created by confluent's admin client."""
    topic = f"compacted-{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": served.bootstrap})
    configs = {"cleanup.policy": "compact", "segment.bytes": "1024", **extra}
    futures = admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=3, config=configs)])
    futures[topic].result(30)
    return topic


def produce(
    served: ServedCluster, topic: str, messages: list[tuple[bytes | None, bytes | None]]
) -> list[Any]:
    """Produce with ``acks=all``, one at a time (each its own batch); the delivery reports."""
    producer = Producer({"bootstrap.servers": served.bootstrap, "acks": "all", "linger.ms": 0})
    reports: list[Any] = []
    for key, value in messages:
        producer.produce(topic, value, key, partition=0, on_delivery=lambda e, m: reports.append((e, m)))
        producer.flush(30)
    return reports


def clean_every_replica(served: ServedCluster) -> list[int]:
    """One pass of each broker's log cleaner (what its maintenance loop runs every backoff)."""
    assert served.kafka is not None
    cluster = served.kafka.cluster

    async def run() -> list[int]:
        cleaned = []
        for handle in cluster.brokers:
            broker = handle.broker
            assert broker.manager is not None
            hws = {tp: p.high_watermark for tp, p in broker.partitions.items()}
            cleaned.append(broker.manager.clean_logs(hws))
        return cleaned

    result: list[int] = served.call(run)
    return result


def consume_all(served: ServedCluster, topic: str, end: int) -> list[tuple[int, bytes | None, bytes | None]]:
    consumer = Consumer(
        {"bootstrap.servers": served.bootstrap, "group.id": "unused", "enable.auto.commit": False}
    )
    consumer.assign([TopicPartition(topic, 0, 0)])
    got: list[tuple[int, bytes | None, bytes | None]] = []
    deadline = time.monotonic() + 30
    while (not got or got[-1][0] < end - 1) and time.monotonic() < deadline:
        message = consumer.poll(0.5)
        if message is not None and message.error() is None:
            got.append((message.offset(), message.key(), message.value()))
    low, high = consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)
    consumer.close()
    return [*got, (-1, str(low).encode(), str(high).encode())]


@pytest.mark.req("PRO-141", "LOG-30", "LOG-32", "LOG-34")
def test_confluent_kafka_reads_a_compacted_topic_with_each_keys_latest_value_at_its_offset(
    served: ServedCluster,
) -> None:
    topic = create_compacted(served)
    messages: list[tuple[bytes | None, bytes | None]] = [
        (KEYS[i % 5], b"value-%d-" % i + b"x" * 60) for i in range(60)
    ]
    messages[42] = (KEYS[2], None)  # a tombstone for k2 (k2 is written again at 47 and 52...)
    reports = produce(served, topic, messages)
    assert [e for e, _ in reports if e is not None] == []
    offsets = [m.offset() for _, m in reports]
    assert offsets == list(range(60))
    assert all(n == 1 for n in clean_every_replica(served))  # every replica compacted its own log
    *got, (_, low, high) = consume_all(served, topic, 60)
    assert (low, high) == (b"0", b"60")  # earliest and latest do not move
    produced = {(o, k, v) for o, (k, v) in zip(offsets, messages, strict=True)}
    assert set(got) <= produced and len(got) < 60  # records keep their offsets; some are gone
    assert [o for o, _, _ in got] == sorted({o for o, _, _ in got})
    assert got[0][0] > 0  # offset 0 was compacted away: the fetch at 0 returned the next records
    last: dict[bytes, tuple[int, bytes | None]] = {}
    for o, (k, v) in zip(offsets, messages, strict=True):
        assert k is not None
        last[k] = (o, v)
    seen: dict[bytes, tuple[int, bytes | None]] = {}
    for o, k, v in got:
        assert k is not None
        seen[k] = (o, v)
    assert seen == last  # each key's latest value, at the offset it was produced at
    assert kafka_python_read(served, topic, 60) == got  # a second client reads the same gapped log


def kafka_python_read(
    served: ServedCluster, topic: str, end: int
) -> list[tuple[int, bytes | None, bytes | None]]:
    consumer = kafka.KafkaConsumer(bootstrap_servers=served.bootstrap, enable_auto_commit=False)
    partition = kafka.TopicPartition(topic, 0)
    consumer.assign([partition])
    consumer.seek(partition, 0)
    got: list[tuple[int, bytes | None, bytes | None]] = []
    deadline = time.monotonic() + 30
    while (not got or got[-1][0] < end - 1) and time.monotonic() < deadline:
        for messages in consumer.poll(timeout_ms=500).values():
            got.extend((m.offset, m.key, m.value) for m in messages)
    consumer.close()
    return got


@pytest.mark.req("PRO-140")
def test_a_keyless_record_is_refused_on_a_compacted_topic(served: ServedCluster) -> None:
    topic = create_compacted(served)
    reports = produce(served, topic, [(None, b"no key")])
    [(error, _)] = reports
    assert error is not None and error.code() == KafkaError.INVALID_RECORD
    # Produce v8 carries Kafka's record errors: which record, and why.
    assert served.kafka is not None
    leader = served.kafka.cluster.controller.partition(topic, 0).leader
    client = RawClient(served.kafka.addresses[leader])
    try:
        batch = build_batch([Record(b"key", b"kept?"), Record(None, b"no key"), Record(None, b"none")])
        cls = ProduceRequest[8]
        request = cls(
            transactional_id=None,
            acks=-1,
            timeout_ms=10_000,
            topic_data=[
                cls.TopicProduceData(
                    name=topic,
                    partition_data=[cls.TopicProduceData.PartitionProduceData(index=0, records=batch)],
                )
            ],
        )
        response = ProduceResponse.decode(client.request(request, 8), version=8)
    finally:
        client.close()
    [part] = response.responses[0].partition_responses
    message = f"Compacted topic cannot accept message without key in topic partition {topic}-0."
    assert part.error_code == Errors.INVALID_RECORD == 87
    assert [(e.batch_index, e.batch_index_error_message) for e in part.record_errors] == [
        (1, message),
        (2, message),
    ]
    assert part.error_message is not None and "2 record errors" in part.error_message
    assert produce(served, topic, [(b"key", b"fine")])[0][0] is None
    *got, _ = consume_all(served, topic, 1)
    assert got == [(0, b"key", b"fine")]  # nothing of the refused batches was written


@pytest.mark.req("PRO-140")
def test_a_keyless_record_is_accepted_on_a_delete_topic(served: ServedCluster) -> None:
    topic = create_compacted(served, **{"cleanup.policy": "delete"})
    [(error, message)] = produce(served, topic, [(None, b"no key")])
    assert error is None and message.offset() == 0
