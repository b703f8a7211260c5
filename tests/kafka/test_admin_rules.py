"""The topic and partition admin APIs of :class:`KafkaApis`, one rule per test, in process under trio's
mock clock: DeleteTopics, CreatePartitions, ElectLeaders, DescribeCluster, DescribeTopicPartitions,
OffsetForLeaderEpoch, DescribeProducers and DeleteRecords (PRO-80..89). Each request goes through the
codec exactly as the listener decodes it; the response is read field by field."""

from __future__ import annotations

import uuid
import warnings
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import pytest
import trio
import trio.testing

from reflog.client.producer import SendStatus
from reflog.cluster import Cluster, open_cluster
from reflog.errors import Errors
from reflog.kafka.apis import KafkaApis, WithPayloads
from reflog.kafka.codec import MESSAGES, encode_response
from reflog.kafka.groups import GroupCoordinator
from reflog.kafka.versions import ADVERTISED, ApiKey, served
from reflog.replication.controller_events import LeaderElected
from reflog.vocabulary import NO_LEADER, TopicPartition
from tests.kafka.test_apis_rules import call

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    from kafka.protocol.admin import (  # type: ignore[import-untyped]
        CreatePartitionsRequest,
        DeleteRecordsRequest,
        DeleteTopicsRequest,
        DescribeClusterRequest,
        DescribeProducersRequest,
        DescribeTopicPartitionsRequest,
        ElectLeadersRequest,
    )
    from kafka.protocol.consumer import FetchRequest, OffsetForLeaderEpochRequest  # type: ignore[import-untyped]

ADDRESSES: Mapping[int, tuple[str, int]] = {b: ("127.0.0.1", 9090 + b) for b in (1, 2, 3)}
UNKNOWN = int(Errors.UNKNOWN_TOPIC_OR_PARTITION)


@asynccontextmanager
async def admin(brokers: int = 3, **options: Any) -> AsyncIterator[tuple[Cluster, KafkaApis]]:
    """A cluster and broker 1's APIs (every broker listed as serving clients)."""
    async with open_cluster(brokers=brokers, seed=11, **options) as cluster:
        await cluster.wait_for_brokers()
        addresses = {b: a for b, a in ADDRESSES.items() if b <= brokers}
        yield cluster, KafkaApis(cluster, 1, lambda: addresses, GroupCoordinator())


def apis_of(cluster: Cluster, broker: int) -> KafkaApis:
    return KafkaApis(cluster, broker, lambda: ADDRESSES, GroupCoordinator())


async def produce(cluster: Cluster, topic: str, count: int, *, acks: str | int = "all") -> None:
    producer = cluster.producer(acks=acks)
    for i in range(count):
        assert (await producer.send(topic, f"v{i}".encode(), partition=0)).status is SendStatus.OK


def leader_isr(cluster: Cluster, topic: str) -> tuple[int, ...]:
    """The ISR as broker 1, the leader, knows it."""
    return cluster.broker(1).broker.partitions[TopicPartition(topic, 0)].maximal_isr


# ---------------------------------------------------------------------------------- DeleteTopics
def delete_topics(names: list[str], version: int = 5, timeout_ms: int = 30_000) -> Any:
    cls = DeleteTopicsRequest[version]
    if version >= 6:
        topics = [cls.DeleteTopicState(name=n, topic_id=None) for n in names]
        return cls(topics=topics, timeout_ms=timeout_ms)
    return cls(topic_names=names, timeout_ms=timeout_ms)


def deleted(response: Any) -> list[tuple[str, int]]:
    return [(r.name, r.error_code) for r in response.responses]


@pytest.mark.req("PRO-80", "CTL-28", "CTL-31")
async def test_delete_topics_removes_the_topic_and_every_replica_log(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with admin() as (cluster, apis):
        await cluster.create_topic("gone", partitions=2)
        await cluster.create_topic("kept")
        await produce(cluster, "gone", 3)
        response = await call(apis, delete_topics(["gone"]), 5)
        assert deleted(response) == [("gone", 0)]
        assert not any(p.topic_partition.topic == "gone" for p in cluster.controller.partitions())
        assert "gone" not in cluster.topic_configs
        for handle in cluster.brokers:
            assert not [tp for tp in handle.broker.partitions if tp.topic == "gone"]
            assert handle.broker.manager is not None
            assert not [tp for tp in handle.broker.manager.logs if tp.topic == "gone"]
            assert not [n for n in handle.fs.listdir("data") if n in ("gone-0", "gone-1")]
        assert cluster.controller.has_partition(TopicPartition("kept", 0))


@pytest.mark.req("PRO-80", "CTL-31")
async def test_a_topic_created_again_after_deletion_starts_empty(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with admin() as (cluster, apis):
        await cluster.create_topic("again")
        await produce(cluster, "again", 4)
        assert deleted(await call(apis, delete_topics(["again"]), 5)) == [("again", 0)]
        await cluster.create_topic("again")
        for handle in cluster.brokers:
            partition = handle.broker.partitions[TopicPartition("again", 0)]
            assert (partition.log.log_start_offset, partition.log.log_end_offset) == (0, 0)
        await produce(cluster, "again", 1)
        leader = cluster.controller.partition("again", 0).leader
        assert cluster.broker(leader).broker.partitions[TopicPartition("again", 0)].high_watermark == 1


@pytest.mark.req("PRO-80")
async def test_delete_topics_refusals_carry_kafkas_codes(autojump_clock: trio.testing.MockClock) -> None:
    async with admin() as (cluster, apis):
        await cluster.create_topic("twice")
        response = await call(apis, delete_topics(["nope", "twice", "twice"]), 5)
        assert deleted(response) == [
            ("nope", UNKNOWN),
            ("twice", int(Errors.INVALID_REQUEST)),  # "Duplicate topic name.": none deleted
            ("twice", int(Errors.INVALID_REQUEST)),
        ]
        assert cluster.controller.has_partition(TopicPartition("twice", 0))
        cls = DeleteTopicsRequest[6]
        by_id = cls(topics=[cls.DeleteTopicState(name=None, topic_id=uuid.uuid4())], timeout_ms=1000)
        # an id no topic has
        assert [r.error_code for r in (await call(apis, by_id, 6)).responses] == [
            int(Errors.UNKNOWN_TOPIC_ID)
        ]
        both = cls(topics=[cls.DeleteTopicState(name="twice", topic_id=uuid.uuid4())], timeout_ms=1000)
        assert [r.error_code for r in (await call(apis, both, 6)).responses] == [int(Errors.INVALID_REQUEST)]
        neither = cls(topics=[cls.DeleteTopicState(name=None, topic_id=None)], timeout_ms=1000)
        assert [r.error_code for r in (await call(apis, neither, 6)).responses] == [
            int(Errors.INVALID_REQUEST)
        ]
        assert deleted(await call(apis, delete_topics(["twice"], version=6), 6)) == [("twice", 0)]
        # By id (KIP-516): the topic the id names is deleted, and the answer names it and its id.
        await cluster.create_topic("by-id")
        topic_id = cluster.topic_ids.id_of("by-id")
        assert topic_id != uuid.UUID(int=0)
        request = cls(topics=[cls.DeleteTopicState(name=None, topic_id=topic_id)], timeout_ms=1000)
        (answer,) = (await call(apis, request, 6)).responses
        assert (answer.error_code, answer.name, answer.topic_id) == (0, "by-id", topic_id)
        assert not cluster.controller.has_partition(TopicPartition("by-id", 0))
        assert cluster.topic_ids.name_of(topic_id) is None


# ---------------------------------------------------------------------------------- CreatePartitions
def create_partitions(
    topics: list[tuple[str, int, list[list[int]] | None]], *, validate_only: bool = False, version: int = 3
) -> Any:
    cls = CreatePartitionsRequest[version]
    entries = [
        cls.CreatePartitionsTopic(
            name=name,
            count=count,
            assignments=None
            if a is None
            else [cls.CreatePartitionsTopic.CreatePartitionsAssignment(broker_ids=b) for b in a],
        )
        for name, count, a in topics
    ]
    return cls(topics=entries, timeout_ms=30_000, validate_only=validate_only)


def grown(response: Any) -> list[tuple[str, int]]:
    return [(r.name, r.error_code) for r in response.results]


@pytest.mark.req("PRO-81", "CTL-29")
async def test_create_partitions_adds_led_partitions_with_round_robin_replicas(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with admin() as (cluster, apis):
        await cluster.create_topic("grow", partitions=1, replication_factor=2)
        assert grown(await call(apis, create_partitions([("grow", 3, None)]), 3)) == [("grow", 0)]
        states = [cluster.controller.partition("grow", p) for p in range(3)]
        assert [s.replicas for s in states] == [(1, 2), (2, 3), (3, 1)]  # partition p starts at broker p+1
        assert [s.isr for s in states[1:]] == [(2, 3), (3, 1)]
        assert [s.leader for s in states[1:]] == [2, 3]
        for state in states[1:]:  # the new partitions' leaders serve them before the answer
            partition = cluster.broker(state.leader).broker.partitions[state.topic_partition]
            assert partition.leader_epoch == 0
        placed = create_partitions([("grow", 4, [[2, 1]])])
        assert grown(await call(apis, placed, 3)) == [("grow", 0)]
        assert cluster.controller.partition("grow", 3).replicas == (2, 1)
        assert cluster.controller.partition("grow", 3).leader == 2


@pytest.mark.req("PRO-81", "CTL-29")
async def test_create_partitions_refuses_what_is_not_an_increase_and_bad_assignments(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with admin() as (cluster, apis):
        await cluster.create_topic("fixed", partitions=2, replication_factor=2)
        version = cluster.controller.metadata_version
        response = await call(
            apis,
            create_partitions(
                [("fixed", 1, None), ("nope", 3, None)],
            ),
            3,
        )
        assert grown(response) == [("fixed", int(Errors.INVALID_PARTITIONS)), ("nope", UNKNOWN)]
        assert "would not be an increase" in response.results[0].error_message
        same = await call(apis, create_partitions([("fixed", 2, None)]), 3)
        assert grown(same) == [("fixed", int(Errors.INVALID_PARTITIONS))]
        for bad in ([[1, 2], [2, 3]], [[1]], [[1, 1]], [[1, 9]]):  # count, size, repeated, unregistered
            refused = await call(apis, create_partitions([("fixed", 3, bad)]), 3)
            assert grown(refused) == [("fixed", int(Errors.INVALID_REPLICA_ASSIGNMENT))], bad
        dup = await call(apis, create_partitions([("fixed", 3, None), ("fixed", 4, None)]), 3)
        assert grown(dup) == [("fixed", int(Errors.INVALID_REQUEST))] * 2
        checked = await call(apis, create_partitions([("fixed", 5, None)], validate_only=True), 3)
        assert grown(checked) == [("fixed", 0)]
        assert cluster.controller.metadata_version == version  # nothing was recorded
        assert not cluster.controller.has_partition(TopicPartition("fixed", 2))


# ---------------------------------------------------------------------------------- ElectLeaders
def elect(election_type: int, partitions: dict[str, list[int]] | None, version: int = 2) -> Any:
    cls = ElectLeadersRequest[version]
    topics = None
    if partitions is not None:
        topics = [cls.TopicPartitions(topic=t, partitions=p) for t, p in partitions.items()]
    fields: dict[str, Any] = {"topic_partitions": topics, "timeout_ms": 30_000}
    if version >= 1:
        fields["election_type"] = election_type
    return cls(**fields)


def elected(response: Any) -> dict[tuple[str, int], int]:
    return {
        (r.topic, p.partition_id): p.error_code
        for r in response.replica_election_results
        for p in r.partition_result
    }


@pytest.mark.req("PRO-82")
async def test_preferred_election_moves_leadership_back_to_the_preferred_replica(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with admin() as (cluster, apis):
        await cluster.create_topic("pref", partitions=1, replication_factor=3)
        assert elected(await call(apis, elect(0, {"pref": [0, 7]}), 2)) == {
            ("pref", 0): int(Errors.ELECTION_NOT_NEEDED),  # broker 1, the preferred replica, leads
            ("pref", 7): UNKNOWN,
        }
        await cluster.broker(1).stop()  # controlled shutdown: leadership moves to broker 2
        assert cluster.controller.partition("pref", 0).leader == 2
        refused = await call(apis_of(cluster, 2), elect(0, {"pref": [0]}), 2)
        assert elected(refused) == {("pref", 0): int(Errors.PREFERRED_LEADER_NOT_AVAILABLE)}
        await cluster.broker(1).start()
        with trio.fail_after(60):
            while 1 not in cluster.controller.partition("pref", 0).isr:  # it caught up again
                await trio.sleep(0.5)
        response = await call(apis_of(cluster, 2), elect(0, {"pref": [0]}, version=0), 0)
        assert elected(response) == {("pref", 0): 0}
        assert cluster.controller.partition("pref", 0).leader == 1


@pytest.mark.req("PRO-82")
async def test_unclean_election_elects_an_out_of_sync_replica_only_when_no_in_sync_one_lives(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with admin() as (cluster, _):
        await cluster.create_topic("lost", partitions=1, replication_factor=2)  # replicas (1, 2)
        await cluster.broker(2).kill()
        with trio.fail_after(60):
            while leader_isr(cluster, "lost") != (1,):
                await trio.sleep(0.5)
        await trio.sleep(31)  # past replica.lag.time.max.ms: the dead follower no longer holds the HW
        await produce(cluster, "lost", 3)  # only broker 1 has them
        apis2 = apis_of(cluster, 2)
        # The partition has a leader: nothing to do, even for an unclean election.
        assert elected(await call(apis2, elect(1, {"lost": [0]}), 2)) == {
            ("lost", 0): int(Errors.ELECTION_NOT_NEEDED)
        }
        await cluster.broker(1).kill()
        await cluster.broker(2).start()
        with trio.fail_after(60):
            while not cluster.controller.broker(2).is_active or cluster.controller.broker(1).is_active:
                await trio.sleep(0.5)
        assert cluster.controller.partition("lost", 0).leader == NO_LEADER  # offline
        # An in-sync (ELR) replica may still return: a preferred election does not act.
        assert elected(await call(apis2, elect(0, {"lost": [0]}), 2)) == {
            ("lost", 0): int(Errors.PREFERRED_LEADER_NOT_AVAILABLE)
        }
        response = await call(apis2, elect(1, {"lost": [0]}), 2)
        assert response.error_code == 0
        assert elected(response) == {("lost", 0): 0}
        state = cluster.controller.partition("lost", 0)
        assert (state.leader, state.isr) == (2, (2,))
        unclean = [e for e in cluster.controller.events if isinstance(e, LeaderElected) and e.unclean]
        assert [(e.leader, e.cause) for e in unclean] == [(2, "elect_leaders")]  # the checker sees it
        await cluster.wait_for_leaders("lost")
        await produce(cluster, "lost", 1)  # back online, with what broker 2 had
        assert cluster.broker(2).broker.partitions[TopicPartition("lost", 0)].log.log_end_offset == 1


@pytest.mark.req("PRO-82")
async def test_unclean_election_without_a_live_replica_and_electing_every_partition(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with admin() as (cluster, apis):
        await cluster.create_topic("solo", partitions=1, replication_factor=1)  # replica (1,)
        await cluster.create_topic("fine", partitions=1, replication_factor=3)
        assert elected(await call(apis, elect(1, None), 2)) == {}  # no partition needed one
        await cluster.broker(1).kill()
        apis2 = apis_of(cluster, 2)
        with trio.fail_after(60):
            while cluster.controller.partition("solo", 0).leader != NO_LEADER:
                await trio.sleep(0.5)
        assert elected(await call(apis2, elect(1, None), 2)) == {
            ("solo", 0): int(Errors.ELIGIBLE_LEADERS_NOT_AVAILABLE)
        }
        bad = await call(apis2, elect(2, {"fine": [0]}), 2)
        assert bad.error_code == int(Errors.INVALID_REQUEST)


# ---------------------------------------------------------------------------------- DescribeCluster
@pytest.mark.req("PRO-83")
async def test_describe_cluster_lists_the_brokers_and_refuses_other_endpoint_types(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with admin() as (cluster, apis):
        cls = DescribeClusterRequest[2]
        response = await call(
            apis,
            cls(include_cluster_authorized_operations=False, endpoint_type=1, include_fenced_brokers=False),
            2,
        )
        assert (response.error_code, response.cluster_id, response.controller_id) == (0, "reflog-cluster", 1)
        assert [(b.broker_id, b.port, b.is_fenced) for b in response.brokers] == [
            (1, 9091, False),
            (2, 9092, False),
            (3, 9093, False),
        ]
        await cluster.broker(3).stop()  # fenced by its controlled shutdown
        live = await call(
            apis,
            cls(include_cluster_authorized_operations=False, endpoint_type=1, include_fenced_brokers=False),
            2,
        )
        assert [b.broker_id for b in live.brokers] == [1, 2]
        every = await call(
            apis,
            cls(include_cluster_authorized_operations=False, endpoint_type=1, include_fenced_brokers=True),
            2,
        )
        assert [(b.broker_id, b.is_fenced) for b in every.brokers] == [(1, False), (2, False), (3, True)]
        v0 = await call(apis, DescribeClusterRequest[0](include_cluster_authorized_operations=False), 0)
        assert [b.broker_id for b in v0.brokers] == [1, 2]
        controllers = await call(
            apis,
            cls(include_cluster_authorized_operations=False, endpoint_type=2, include_fenced_brokers=False),
            2,
        )
        assert (controllers.error_code, controllers.brokers) == (int(Errors.MISMATCHED_ENDPOINT_TYPE), [])
        unknown = await call(
            apis,
            cls(include_cluster_authorized_operations=False, endpoint_type=7, include_fenced_brokers=False),
            2,
        )
        assert unknown.error_code == int(Errors.UNSUPPORTED_ENDPOINT_TYPE)


# ---------------------------------------------------------------------------------- DescribeTopicPartitions
def describe(names: list[str], limit: int = 2000, cursor: tuple[str, int] | None = None) -> Any:
    cls = DescribeTopicPartitionsRequest[0]
    at = None if cursor is None else cls.Cursor(topic_name=cursor[0], partition_index=cursor[1])
    return cls(topics=[cls.TopicRequest(name=n) for n in names], response_partition_limit=limit, cursor=at)


def described(response: Any) -> list[tuple[str, int, list[int]]]:
    return [(t.name, t.error_code, [p.partition_index for p in t.partitions]) for t in response.topics]


@pytest.mark.req("PRO-84")
async def test_describe_topic_partitions_pages_through_the_topics_with_a_cursor(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with admin() as (cluster, apis):
        await cluster.create_topic("b", partitions=3)
        await cluster.create_topic("a", partitions=2)
        first = await call(apis, describe([], limit=3), 0)
        assert described(first) == [("a", 0, [0, 1]), ("b", 0, [0])]
        cursor = (first.next_cursor.topic_name, first.next_cursor.partition_index)
        assert cursor == ("b", 1)
        rest = await call(apis, describe([], limit=3, cursor=cursor), 0)
        assert described(rest) == [("b", 0, [1, 2])] and rest.next_cursor is None
        exact = await call(apis, describe(["a", "b"], limit=2), 0)
        assert described(exact) == [("a", 0, [0, 1])]
        assert (exact.next_cursor.topic_name, exact.next_cursor.partition_index) == ("b", 0)
        named = await call(apis, describe(["zz", "a"]), 0)
        assert described(named) == [("a", 0, [0, 1]), ("zz", UNKNOWN, [])]
        partition = named.topics[0].partitions[0]
        state = cluster.controller.partition("a", 0)
        assert (partition.leader_id, partition.replica_nodes, partition.isr_nodes) == (
            state.leader,
            list(state.replicas),
            list(state.isr),
        )
        assert partition.eligible_leader_replicas == [] and partition.last_known_elr == []
        refused = await call(apis, describe(["a"], cursor=("b", 0)), 0)  # the cursor's topic not listed
        assert described(refused) == [("a", int(Errors.INVALID_REQUEST), [])]


# ---------------------------------------------------------------------------------- OffsetForLeaderEpoch
def epochs_request(partitions: list[tuple[int, int, int]], topic: str = "e") -> Any:
    """``(partition, current leader epoch, leader epoch)`` each."""
    cls = OffsetForLeaderEpochRequest[4]
    topic_cls = cls.OffsetForLeaderTopic
    parts = [
        topic_cls.OffsetForLeaderPartition(partition=p, current_leader_epoch=c, leader_epoch=e)
        for p, c, e in partitions
    ]
    return cls(replica_id=-1, topics=[topic_cls(topic=topic, partitions=parts)])


def epoch_ends(response: Any) -> list[tuple[int, int, int]]:
    return [(p.error_code, p.leader_epoch, p.end_offset) for t in response.topics for p in t.partitions]


@pytest.mark.req("PRO-87")
async def test_offset_for_leader_epoch_answers_from_the_leaders_epoch_cache_after_a_failover(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with admin() as (cluster, _):
        await cluster.create_topic("e", partitions=1, replication_factor=3)  # leader 1, epoch 0
        await produce(cluster, "e", 3)
        await cluster.broker(1).stop()  # leader 2, epoch 1, starting at offset 3
        await cluster.wait_for_leaders("e")
        await produce(cluster, "e", 2)
        apis2 = apis_of(cluster, 2)
        response = await call(
            apis2, epochs_request([(0, 1, 0), (0, 1, 1), (0, -1, 5), (0, 0, 1), (0, 2, 1)]), 4
        )
        assert epoch_ends(response) == [
            (0, 0, 3),  # epoch 0 ended where epoch 1 began
            (0, 1, 5),  # the latest epoch ends at the log end
            (0, -1, -1),  # an epoch newer than any known
            (int(Errors.FENCED_LEADER_EPOCH), -1, -1),
            (int(Errors.UNKNOWN_LEADER_EPOCH), -1, -1),
        ]
        follower = apis_of(cluster, 3)
        assert epoch_ends(await call(follower, epochs_request([(0, -1, 0)]), 4)) == [
            (int(Errors.NOT_LEADER_OR_FOLLOWER), -1, -1)
        ]
        assert epoch_ends(await call(apis2, epochs_request([(5, -1, 0)]), 4)) == [(UNKNOWN, -1, -1)]


@pytest.mark.req("PRO-87")
async def test_offset_for_leader_epoch_shows_truncation_after_an_unclean_failover(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with admin(brokers=2) as (cluster, _):
        await cluster.create_topic("e", partitions=1, replication_factor=2)  # replicas (1, 2)
        await produce(cluster, "e", 2)
        await cluster.broker(2).kill()
        with trio.fail_after(60):
            while leader_isr(cluster, "e") != (1,):
                await trio.sleep(0.5)
        await trio.sleep(31)  # past replica.lag.time.max.ms: the dead follower no longer holds the HW
        await produce(cluster, "e", 3)  # a consumer reads up to offset 5 in epoch 0
        await cluster.broker(1).kill()
        await cluster.broker(2).start()
        apis2 = apis_of(cluster, 2)
        with trio.fail_after(60):
            while not cluster.controller.broker(2).is_active or cluster.controller.broker(1).is_active:
                await trio.sleep(0.5)
        assert elected(await call(apis2, elect(1, {"e": [0]}), 2)) == {("e", 0): 0}
        await cluster.wait_for_leaders("e")
        epoch = cluster.controller.partition("e", 0).leader_epoch
        response = await call(apis2, epochs_request([(0, epoch, 0)]), 4)
        # Epoch 0 ends at 2 on the new leader, below the consumer's position 5: truncation detected.
        assert epoch_ends(response) == [(0, 0, 2)]


# ---------------------------------------------------------------------------------- DescribeProducers
@pytest.mark.req("PRO-88")
async def test_describe_producers_lists_the_leaders_producer_state(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with admin() as (cluster, apis):
        await cluster.create_topic("p", partitions=1, replication_factor=3)
        producer = cluster.producer(acks="all", enable_idempotence=True)
        for value in (b"a", b"b", b"c"):
            assert (await producer.send("p", value, partition=0)).status is SendStatus.OK
        cls = DescribeProducersRequest[0]
        request = cls(topics=[cls.TopicRequest(name="p", partition_indexes=[0, 4])])
        response = await call(apis, request, 0)
        (topic,) = response.topics
        known, missing = topic.partitions
        assert (missing.partition_index, missing.error_code) == (4, UNKNOWN)
        assert known.error_code == 0
        (state,) = known.active_producers
        entry = cluster.broker(1).broker.partitions[TopicPartition("p", 0)].producer_state.producers()
        assert list(entry) == [state.producer_id]
        assert (state.producer_epoch, state.last_sequence) == (0, 2)
        assert state.last_timestamp > 0
        assert (state.coordinator_epoch, state.current_txn_start_offset) == (-1, -1)
        on_follower = await call(apis_of(cluster, 2), request, 0)
        assert on_follower.topics[0].partitions[0].error_code == int(Errors.NOT_LEADER_OR_FOLLOWER)


# ---------------------------------------------------------------------------------- DeleteRecords
def delete_records(partitions: list[tuple[int, int]], topic: str = "d", timeout_ms: int = 30_000) -> Any:
    cls = DeleteRecordsRequest[2]
    topic_cls = cls.DeleteRecordsTopic
    parts = [topic_cls.DeleteRecordsPartition(partition_index=p, offset=o) for p, o in partitions]
    return cls(topics=[topic_cls(name=topic, partitions=parts)], timeout_ms=timeout_ms)


def low_watermarks(response: Any) -> list[tuple[int, int, int]]:
    return [(p.partition_index, p.error_code, p.low_watermark) for t in response.topics for p in t.partitions]


def fetch_at(offset: int, topic: str = "d") -> Any:
    cls = FetchRequest[11]
    part = cls.FetchTopic.FetchPartition(
        partition=0,
        current_leader_epoch=-1,
        fetch_offset=offset,
        log_start_offset=-1,
        partition_max_bytes=1 << 20,
    )
    return cls(
        replica_id=-1,
        max_wait_ms=0,
        min_bytes=0,
        max_bytes=1 << 20,
        isolation_level=0,
        session_id=0,
        session_epoch=-1,
        topics=[cls.FetchTopic(topic=topic, partitions=[part])],
        forgotten_topics_data=[],
        rack_id="",
    )


@pytest.mark.req("PRO-89")
async def test_delete_records_moves_the_log_start_on_the_leader_and_its_followers(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with admin() as (cluster, apis):
        await cluster.create_topic("d", partitions=1, replication_factor=3)
        await produce(cluster, "d", 6)
        assert low_watermarks(await call(apis, delete_records([(0, 4)]), 2)) == [(0, 0, 4)]
        for handle in cluster.brokers:  # the answer waited for the followers (the low watermark)
            assert handle.broker.partitions[TopicPartition("d", 0)].log.log_start_offset == 4
        fetched = await call(apis, fetch_at(2), 11)
        assert isinstance(fetched, WithPayloads)
        part = fetched.body.responses[0].partitions[0]
        assert (part.error_code, part.log_start_offset) == (int(Errors.OFFSET_OUT_OF_RANGE), 4)
        assert low_watermarks(await call(apis, delete_records([(0, 2)]), 2)) == [(0, 0, 4)]  # never back
        assert low_watermarks(await call(apis, delete_records([(0, -1)]), 2)) == [(0, 0, 6)]  # -1: the HW
        beyond = await call(apis, delete_records([(0, 7), (3, 1)]), 2)
        assert low_watermarks(beyond) == [(0, int(Errors.OFFSET_OUT_OF_RANGE), -1), (3, UNKNOWN, -1)]
        on_follower = await call(apis_of(cluster, 2), delete_records([(0, 6)]), 2)
        assert low_watermarks(on_follower) == [(0, int(Errors.NOT_LEADER_OR_FOLLOWER), -1)]


@pytest.mark.req("PRO-89")
async def test_delete_records_times_out_while_a_follower_lags(autojump_clock: trio.testing.MockClock) -> None:
    async with admin() as (cluster, apis):
        await cluster.create_topic("d", partitions=1, replication_factor=3)
        await produce(cluster, "d", 3)
        leader = cluster.broker(1).broker.partitions[TopicPartition("d", 0)]
        await cluster.broker(3).kill()  # still in the ISR until its session expires
        response = await call(apis, delete_records([(0, 2)], timeout_ms=200), 2)
        assert low_watermarks(response) == [(0, int(Errors.REQUEST_TIMED_OUT), leader.low_watermark)]
        assert leader.log.log_start_offset == 2


# ---------------------------------------------------------------------------------- versions
KAFKA_4_1_RANGES = {
    ApiKey.DELETE_TOPICS: (1, 6),
    ApiKey.DELETE_RECORDS: (0, 2),
    ApiKey.OFFSET_FOR_LEADER_EPOCH: (2, 4),
    ApiKey.CREATE_PARTITIONS: (0, 3),
    ApiKey.ELECT_LEADERS: (0, 2),
    ApiKey.DESCRIBE_CLUSTER: (0, 2),
    ApiKey.DESCRIBE_PRODUCERS: (0, 0),
    ApiKey.DESCRIBE_TOPIC_PARTITIONS: (0, 0),
}


def populated(key: ApiKey, version: int) -> Any:
    """A request of ``key`` at ``version`` naming topic ``v`` (partition 0) and an unknown one."""
    request_cls = MESSAGES[key][0][version]
    if key is ApiKey.DELETE_TOPICS:
        return delete_topics(["nope"], version=version)
    if key is ApiKey.CREATE_PARTITIONS:
        return create_partitions([("nope", 2, None)], version=version)
    if key is ApiKey.ELECT_LEADERS:
        return elect(0, {"v": [0]}, version=version)
    if key is ApiKey.DELETE_RECORDS:
        topic_cls = request_cls.DeleteRecordsTopic
        part = topic_cls.DeleteRecordsPartition(partition_index=0, offset=0)
        return request_cls(topics=[topic_cls(name="v", partitions=[part])], timeout_ms=1000)
    if key is ApiKey.OFFSET_FOR_LEADER_EPOCH:
        topic_cls = request_cls.OffsetForLeaderTopic
        part = topic_cls.OffsetForLeaderPartition(partition=0, current_leader_epoch=-1, leader_epoch=0)
        return request_cls(topics=[topic_cls(topic="v", partitions=[part])])
    if key is ApiKey.DESCRIBE_PRODUCERS:
        return request_cls(topics=[request_cls.TopicRequest(name="v", partition_indexes=[0])])
    if key is ApiKey.DESCRIBE_TOPIC_PARTITIONS:
        return describe(["v", "nope"])
    return request_cls()  # DescribeCluster: the defaults


@pytest.mark.req("PRO-85", "PRO-62")
async def test_every_admin_api_is_served_at_kafkas_version_range(
    autojump_clock: trio.testing.MockClock,
) -> None:
    assert {k: ADVERTISED[k] for k in KAFKA_4_1_RANGES} == KAFKA_4_1_RANGES
    async with admin() as (cluster, apis):
        await cluster.create_topic("v")
        for key, (low, high) in KAFKA_4_1_RANGES.items():
            assert not served(int(key), low - 1) and not served(int(key), high + 1)
            for version in range(low, high + 1):
                for request in (MESSAGES[key][0][version](), populated(key, version)):
                    body = await call(apis, request, version)
                    frame = encode_response(7, version, body)  # the response encodes at that version...
                    decoded = MESSAGES[key][1][version].decode(frame[4:], version=version, header=True)
                    assert decoded.header.correlation_id == 7  # ...and a client reads it back
                    for name, value in decoded.to_dict().items():
                        sent = getattr(body, name)
                        assert len(value) == len(sent) if isinstance(value, list) else value == sent, name
