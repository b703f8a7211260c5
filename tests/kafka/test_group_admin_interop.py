"""The admin clients of kafka-python 3, aiokafka and confluent-kafka list, describe and delete
consumer groups and delete committed offsets on ``reflog serve`` (PRO-128..PRO-131): one group
is Empty with committed offsets (its consumer committed and left), one is Stable (its consumer is
still in it)."""

from __future__ import annotations

import asyncio
import time
import uuid
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from tests.kafka.served import ServedCluster
from tests.kafka.test_interop import fresh_topic, kafka_python_group, kafka_python_produce, values

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import kafka  # type: ignore[import-untyped]
    import kafka.admin  # type: ignore[import-untyped]
    import kafka.errors  # type: ignore[import-untyped]
    from aiokafka.admin import AIOKafkaAdminClient  # type: ignore[import-untyped]
    from confluent_kafka import ConsumerGroupState  # type: ignore[import-untyped]
    from confluent_kafka.admin import AdminClient  # type: ignore[import-untyped]


@contextmanager
def groups(served: ServedCluster) -> Iterator[tuple[str, str, str]]:
    """``(topic, empty group, stable group)``: the first committed both partitions' ends and left,
    the second has one kafka-python member subscribed to the topic for the block."""
    topic = fresh_topic(served)
    kafka_python_produce(served.bootstrap, topic, values("admin"), "lz4")
    empty, stable = f"empty-{uuid.uuid4().hex[:6]}", f"stable-{uuid.uuid4().hex[:6]}"
    kafka_python_group(served.bootstrap, topic, empty)
    member = kafka.KafkaConsumer(topic, bootstrap_servers=served.bootstrap, group_id=stable)
    deadline = time.monotonic() + 60
    while not member.assignment() and time.monotonic() < deadline:
        member.poll(200)
    assert member.assignment(), "the member joined its group"
    try:
        yield topic, empty, stable
    finally:
        member.close()


def kafka_python_admin(served: ServedCluster) -> Any:
    return kafka.admin.KafkaAdminClient(bootstrap_servers=served.bootstrap)


@pytest.mark.req("PRO-128", "PRO-129", "PRO-130")
def test_kafka_python_admin_lists_describes_and_deletes_groups(served: ServedCluster) -> None:
    with groups(served) as (topic, empty, stable):
        admin = kafka_python_admin(served)
        listed = {g["group_id"]: g for g in admin.list_groups()}
        assert listed[empty]["group_state"] == "Empty" and listed[stable]["group_state"] == "Stable"
        assert listed[stable]["protocol_type"] == "consumer" and listed[stable]["group_type"] == "classic"

        described = admin.describe_groups([stable, empty, "no-such-group"])
        live = described[stable]
        assert live["group_state"] == "Stable" and live["protocol_data"] == "range"
        (member,) = live["members"]
        assert member["member_metadata"]["topics"] == [topic]
        assert member["member_assignment"]["assigned_partitions"] == [{"topic": topic, "partitions": [0, 1]}]
        assert "READ" in live["authorized_operations"] and "DELETE" in live["authorized_operations"]
        assert described[empty]["group_state"] == "Empty" and described[empty]["members"] == []
        assert "GroupIdNotFound" in described["no-such-group"]["error"]

        deleted = admin.delete_groups([stable, empty, "no-such-group"])
        assert deleted[stable] == "NonEmptyGroupError"
        assert deleted["no-such-group"] == "GroupIdNotFoundError"
        assert deleted[empty] == "OK"
        assert empty not in {g["group_id"] for g in admin.list_groups()}
        assert served.kafka is not None and served.kafka.committed_offsets(empty) == {}
        admin.close()


@pytest.mark.req("PRO-131")
def test_kafka_python_admin_deletes_committed_offsets_no_member_consumes(served: ServedCluster) -> None:
    with groups(served) as (topic, empty, stable):
        admin = kafka_python_admin(served)
        refused = admin.delete_group_offsets(stable, [kafka.TopicPartition(topic, 0)])
        assert refused[kafka.TopicPartition(topic, 0)] is kafka.errors.GroupSubscribedToTopicError
        done = admin.delete_group_offsets(empty, [kafka.TopicPartition(topic, 0)])
        assert done[kafka.TopicPartition(topic, 0)] is kafka.errors.NoError
        left = admin.list_group_offsets(empty)[empty]
        assert list(left) == [kafka.TopicPartition(topic, 1)], "partition 0's offset is gone, 1's kept"
        admin.close()


@pytest.mark.req("PRO-128", "PRO-129")
def test_aiokafka_admin_lists_and_describes_groups(served: ServedCluster) -> None:
    with groups(served) as (_, empty, stable):

        async def run() -> tuple[Any, Any]:
            admin = AIOKafkaAdminClient(bootstrap_servers=served.bootstrap)
            await admin.start()
            try:
                return await admin.list_consumer_groups(), await admin.describe_consumer_groups([stable])
            finally:
                await admin.close()

        listed, described = asyncio.run(run())
        assert {(empty, "consumer"), (stable, "consumer")} <= set(listed)
        (group,) = [g for response in described for g in response.groups]
        assert group[0] == 0 and group[1] == stable and group[2] == "Stable" and len(group[5]) == 1


@pytest.mark.req("PRO-128", "PRO-129", "PRO-130")
def test_confluent_admin_lists_by_state_describes_and_deletes_groups(served: ServedCluster) -> None:
    with groups(served) as (topic, empty, stable):
        admin = AdminClient({"bootstrap.servers": served.bootstrap})
        stable_only = admin.list_consumer_groups(states={ConsumerGroupState.STABLE}).result(30)
        names = {g.group_id for g in stable_only.valid}
        assert stable in names and empty not in names
        every = {g.group_id: g.state for g in admin.list_consumer_groups().result(30).valid}
        assert every[empty] == ConsumerGroupState.EMPTY

        description = admin.describe_consumer_groups([stable])[stable].result(30)
        assert description.state == ConsumerGroupState.STABLE
        assert description.partition_assignor == "range"
        (member,) = description.members
        assert sorted(p.partition for p in member.assignment.topic_partitions) == [0, 1]
        assert {p.topic for p in member.assignment.topic_partitions} == {topic}

        futures = admin.delete_consumer_groups([empty, stable])
        assert futures[empty].result(30) is None
        with pytest.raises(Exception, match="NON_EMPTY_GROUP"):
            futures[stable].result(30)
        assert empty not in {g.group_id for g in admin.list_consumer_groups().result(30).valid}
