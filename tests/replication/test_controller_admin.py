"""Topic deletion and partition addition at the controller (CTL-28, CTL-29), sans-IO."""

from __future__ import annotations

import pytest

from reflog.errors import Errors, TopicRefusedError
from reflog.replication.controller_events import PartitionsCreated, TopicDeleted
from reflog.vocabulary import TopicPartition
from tests.replication.test_controller import cluster, start


@pytest.mark.req("CTL-28")
def test_delete_topic_removes_the_topic_and_its_partitions_in_one_change() -> None:
    c = cluster(3, topic=False)
    c.create_topic("gone", 2, 3)
    c.create_topic("kept", 1, 3)
    version = c.metadata_version
    removed = c.delete_topic("gone", now=1.0)
    assert [p.topic_partition for p in removed] == [TopicPartition("gone", 0), TopicPartition("gone", 1)]
    assert c.metadata_version == version + 1
    assert [p.topic_partition.topic for p in c.partitions()] == ["kept"]
    assert c.events[-1] == TopicDeleted(1.0, version + 1, "gone", removed)
    assert [p.topic_partition.topic for p in c.metadata_for_broker(1).partitions] == ["kept"]
    assert c.invariant_violations() == ()
    with pytest.raises(TopicRefusedError) as refused:
        c.delete_topic("gone")
    assert refused.value.error_code is Errors.UNKNOWN_TOPIC_OR_PARTITION
    assert c.metadata_version == version + 1
    (again,) = c.create_topic("gone", 1, 3)  # a new topic under the old name
    assert (again.leader_epoch, again.partition_epoch) == (0, 0)


@pytest.mark.req("CTL-29")
def test_create_partitions_continues_the_round_robin_with_leaders_and_isr() -> None:
    c = cluster(3, topic=False)
    c.create_topic("t", 1, 2)
    version = c.metadata_version
    added = c.create_partitions("t", 3, now=1.0)
    assert [(p.topic_partition.partition, p.replicas, p.isr, p.leader) for p in added] == [
        (1, (2, 3), (2, 3), 2),
        (2, (3, 1), (3, 1), 3),
    ]
    assert all((p.leader_epoch, p.partition_epoch) == (0, 0) for p in added)
    assert c.metadata_version == version + 1
    assert c.events[-1] == PartitionsCreated(1.0, version + 1, "t", added)
    (placed,) = c.create_partitions("t", 4, replica_assignment=[[3, 2]])
    assert (placed.replicas, placed.leader) == ((3, 2), 3)
    assert c.invariant_violations() == ()


@pytest.mark.req("CTL-29")
def test_create_partitions_refusals_change_nothing() -> None:
    c = cluster(3, topic=False)
    c.create_topic("t", 2, 2)
    version = c.metadata_version
    cases = [
        ("nope", 3, None, Errors.UNKNOWN_TOPIC_OR_PARTITION),
        ("t", 2, None, Errors.INVALID_PARTITIONS),
        ("t", 1, None, Errors.INVALID_PARTITIONS),
        ("t", 4, [[1, 2]], Errors.INVALID_REPLICA_ASSIGNMENT),  # two new partitions, one assignment
        ("t", 3, [[1, 2, 3]], Errors.INVALID_REPLICA_ASSIGNMENT),  # not the replication factor
        ("t", 3, [[2, 2]], Errors.INVALID_REPLICA_ASSIGNMENT),
        ("t", 3, [[2, 7]], Errors.INVALID_REPLICA_ASSIGNMENT),
    ]
    for name, count, assignment, code in cases:
        with pytest.raises(TopicRefusedError) as refused:
            c.create_partitions(name, count, replica_assignment=assignment)
        assert refused.value.error_code is code, (name, count, assignment)
    assert c.create_partitions("t", 5, validate_only=True)[-1].topic_partition == TopicPartition("t", 4)
    assert c.metadata_version == version
    assert not c.has_partition(TopicPartition("t", 2))


@pytest.mark.req("CTL-29")
def test_create_partitions_onto_inactive_brokers_is_refused() -> None:
    c = cluster(3, topic=False)
    c.create_topic("t", 1, 1)
    reply = c.controlled_shutdown(2, c.broker(2).broker_epoch, 1.0)  # type: ignore[union-attr]
    assert reply.should_shut_down
    with pytest.raises(TopicRefusedError) as refused:
        c.create_partitions("t", 2)  # partition 1 goes to broker 2 alone
    assert refused.value.error_code is Errors.INVALID_REPLICATION_FACTOR
    with pytest.raises(TopicRefusedError) as assigned:
        c.create_partitions("t", 2, replica_assignment=[[2]])
    assert assigned.value.error_code is Errors.INVALID_REPLICA_ASSIGNMENT
    start(c, 2, now=2.0)
    assert c.create_partitions("t", 2)[0].leader == 2
