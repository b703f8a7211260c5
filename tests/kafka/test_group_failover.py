"""A group's coordinator loses power: the broker leading the group's ``__consumer_offsets``
partition goes down with its page cache, another replica becomes the partition's leader, loads it,
and a real client's group (confluent-kafka) resumes from the offsets it committed (PRO-126)."""

from __future__ import annotations

import time
import warnings

import pytest

from reflog.kafka.offsets_records import OFFSETS_TOPIC, partition_for
from reflog.storage.sim import PowerLossMode
from tests.kafka.real_client import retrying_producer
from tests.kafka.served import ServedCluster

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    from confluent_kafka import Consumer  # type: ignore[import-untyped]

TOPIC = "orders"
GROUP = "billing"
RECORDS = 60
COMMITTED = 25


def group_consumer(bootstrap: str) -> object:
    return Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": GROUP,
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "session.timeout.ms": 6000,
        }
    )


def poll_offsets(consumer: object, count: int, timeout: float = 60) -> list[int]:
    """The offsets of the next ``count`` records the consumer is given (partition 0)."""
    got: list[int] = []
    deadline = time.monotonic() + timeout
    while len(got) < count and time.monotonic() < deadline:
        message = consumer.poll(0.5)  # type: ignore[attr-defined]
        if message is not None and message.error() is None:
            got.append(message.offset())
    return got


@pytest.mark.req("PRO-126")
def test_a_group_resumes_from_its_committed_offsets_after_its_coordinator_loses_power() -> None:
    served = ServedCluster(3)
    try:
        served.create_topic(TOPIC, partitions=1, replication_factor=3, min_insync_replicas=2)
        producer = retrying_producer(served.bootstrap)
        for i in range(RECORDS):
            producer.send(TOPIC, f"r{i}".encode())
        producer.flush(30)
        producer.close()
        first = group_consumer(served.bootstrap)
        first.subscribe([TOPIC])  # type: ignore[attr-defined]
        assert poll_offsets(first, COMMITTED) == list(range(COMMITTED))
        first.commit(asynchronous=False)  # type: ignore[attr-defined]
        first.close()  # type: ignore[attr-defined]

        assert served.kafka is not None
        cluster = served.kafka.cluster
        index = partition_for(GROUP, 50)
        before = cluster.controller.partition(OFFSETS_TOPIC, index)
        assert len(before.replicas) == 3, "offsets.topic.replication.factor 3 on 3 brokers"
        assert served.kafka.committed_offsets(GROUP) == {(TOPIC, 0): (COMMITTED, "")}
        served.call(cluster.broker(before.leader).power_off, PowerLossMode.CLEAN)

        second = group_consumer(served.bootstrap)
        second.subscribe([TOPIC])  # type: ignore[attr-defined]
        resumed = poll_offsets(second, RECORDS - COMMITTED, timeout=90)
        second.close()  # type: ignore[attr-defined]
        after = cluster.controller.partition(OFFSETS_TOPIC, index)
        assert after.leader != before.leader and after.leader_epoch > before.leader_epoch
        assert resumed == list(range(COMMITTED, RECORDS)), "the group resumed where it had committed"
        assert served.kafka.groups[after.leader].fetch_offsets(GROUP)[(TOPIC, 0)][0] == COMMITTED
        assert GROUP not in served.kafka.groups[before.leader].groups, "the old coordinator unloaded it"
    finally:
        served.close()
