"""Every advertised version of every API, round-tripped with kafka-python's own classes (PRO-2).

One broker on loopback, a raw socket (:class:`tests.kafka.raw.RawClient`): each request is built
by kafka-python's schema-generated class for that version, its response decoded by the response
class of the same version (after the response header, v1 at flexible versions: PRO-62), and the
answer checked for sense: the right topic, partitions, offsets, ids and error codes.
"""

from __future__ import annotations

import uuid
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from reflog.broker.topic_ids import ZERO_UUID
from reflog.kafka.codec import MESSAGES, flexible_response
from reflog.kafka.offsets_records import partition_for
from reflog.kafka.versions import ADVERTISED, ApiKey, served
from reflog.records import Record, build_batch
from tests.kafka.canary import wait_until
from tests.kafka.raw import RawClient
from tests.kafka.served import ServedCluster

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import kafka.protocol  # type: ignore[import-untyped]  # noqa: F401

TOPIC = "every-version"
SESSION_MS = 10_000


OFFSETS_PARTITIONS = 50  # offsets.topic.num.partitions


@pytest.fixture(scope="module")
def one() -> Iterator[ServedCluster]:
    cluster = ServedCluster(1)
    try:
        cluster.create_topic(TOPIC, partitions=2, replication_factor=1)
        assert cluster.kafka is not None
        client = RawClient(cluster.kafka.addresses[1])
        try:
            coordinators_loaded(client)
        finally:
            client.close()
        yield cluster
    finally:
        cluster.close()


def coordinators_loaded(client: RawClient) -> None:
    """Wait until the broker coordinates every ``__consumer_offsets`` partition, loaded (PRO-120,
    PRO-123): the first FindCoordinator creates the topic, then each partition loads. One group id
    per partition is asked, so the group APIs' checks below never meet a load in progress."""
    first_group: dict[int, str] = {}
    for n in range(10_000):
        first_group.setdefault(partition_for(f"warm-{n}", OFFSETS_PARTITIONS), f"warm-{n}")
    assert len(first_group) == OFFSETS_PARTITIONS

    def served(group: str) -> bool:
        found = call(client, ApiKey.FIND_COORDINATOR, 3, key=group, key_type=0)
        fetched = call(client, ApiKey.OFFSET_FETCH, 5, group_id=group, topics=None)
        return bool(found.error_code == 0 and fetched.error_code == 0)

    for group in first_group.values():
        assert wait_until(lambda group=group: served(group), timeout=30), group


@pytest.fixture
def raw(one: ServedCluster) -> Iterator[RawClient]:
    assert one.kafka is not None
    client = RawClient(one.kafka.addresses[1])
    try:
        yield client
    finally:
        client.close()


def call(client: RawClient, key: ApiKey, version: int, /, **fields: Any) -> Any:
    """Send ``key`` at ``version`` built from ``fields``; the decoded response."""
    request_cls, response_cls = MESSAGES[key]
    payload = client.request(request_cls[version](**fields), version)
    if flexible_response(key, version):
        assert payload[0] == 0, "response header v1: an empty tagged-field section"
        payload = payload[1:]
    return response_cls.decode(payload, version=version)


def versions(key: ApiKey) -> list[int]:
    low, high = ADVERTISED[key]
    return [v for v in range(low, high + 1) if served(key, v)]


def topic_id(cluster: ServedCluster, name: str = TOPIC) -> uuid.UUID:
    assert cluster.kafka is not None
    return cluster.kafka.cluster.topic_ids.id_of(name)


def records(value: bytes) -> bytes:
    return build_batch([Record(key=b"k", value=value)])


def produce(client: RawClient, version: int, partition: int = 0) -> Any:
    cls = MESSAGES[ApiKey.PRODUCE][0][version]
    data = cls.TopicProduceData
    topic = data(
        name=TOPIC, partition_data=[data.PartitionProduceData(index=partition, records=records(b"v"))]
    )
    return call(
        client, ApiKey.PRODUCE, version, transactional_id=None, acks=1, timeout_ms=5000, topic_data=[topic]
    )


def fetch(client: RawClient, cluster: ServedCluster, version: int, **partition: Any) -> Any:
    cls = MESSAGES[ApiKey.FETCH][0][version]
    fields = {"partition": 0, "fetch_offset": 0, "partition_max_bytes": 1 << 20, "log_start_offset": -1}
    part = cls.FetchTopic.FetchPartition(**(fields | partition))
    return call(
        client,
        ApiKey.FETCH,
        version,
        replica_id=-1,
        max_wait_ms=0,
        min_bytes=0,
        max_bytes=1 << 20,
        isolation_level=0,
        session_id=0,
        session_epoch=-1,
        topics=[cls.FetchTopic(topic=TOPIC, topic_id=topic_id(cluster), partitions=[part])],
        forgotten_topics_data=[],
        rack_id="",
    )


def join(client: RawClient, group: str, version: int = 5) -> Any:
    """JoinGroup as one member (twice from v4: KIP-394's member id first)."""
    cls = MESSAGES[ApiKey.JOIN_GROUP][0][version]
    fields = {
        "group_id": group,
        "session_timeout_ms": SESSION_MS,
        "rebalance_timeout_ms": SESSION_MS,
        "member_id": "",
        "group_instance_id": None,
        "protocol_type": "consumer",
        "protocols": [cls.JoinGroupRequestProtocol(name="range", metadata=b"meta")],
        "reason": "test",
    }
    response = call(client, ApiKey.JOIN_GROUP, version, **fields)
    if version >= 4:
        assert response.error_code == 79  # MEMBER_ID_REQUIRED
        response = call(client, ApiKey.JOIN_GROUP, version, **(fields | {"member_id": response.member_id}))
    return response


def member(client: RawClient, group: str) -> tuple[str, int]:
    """A member of ``group`` (joined and synced): its id and generation."""
    joined = join(client, group)
    assert joined.error_code == 0
    cls = MESSAGES[ApiKey.SYNC_GROUP][0][3]
    sync = call(
        client,
        ApiKey.SYNC_GROUP,
        3,
        group_id=group,
        generation_id=joined.generation_id,
        member_id=joined.member_id,
        assignments=[cls.SyncGroupRequestAssignment(member_id=joined.member_id, assignment=b"a")],
    )
    assert sync.error_code == 0
    return joined.member_id, joined.generation_id


# ------------------------------------------------------------------------ one check per API


def check_api_versions(client: RawClient, cluster: ServedCluster, v: int) -> None:
    response = call(
        client, ApiKey.API_VERSIONS, v, client_software_name="reflog-test", client_software_version="1.0"
    )
    assert response.error_code == 0
    assert {k.api_key: (k.min_version, k.max_version) for k in response.api_keys} == {
        int(k): r for k, r in ADVERTISED.items()
    }


def check_metadata(client: RawClient, cluster: ServedCluster, v: int) -> None:
    cls = MESSAGES[ApiKey.METADATA][0][v]
    topics = [] if v == 0 else [cls.MetadataRequestTopic(name=TOPIC)]  # v0: empty means all
    response = call(client, ApiKey.METADATA, v, topics=topics, allow_auto_topic_creation=False)
    assert [b.node_id for b in response.brokers] == [1]
    (topic,) = [t for t in response.topics if t.name == TOPIC]
    assert topic.error_code == 0
    assert sorted(p.partition_index for p in topic.partitions) == [0, 1]
    assert all(p.leader_id == 1 for p in topic.partitions)
    if v >= 10:
        assert topic.topic_id == topic_id(cluster) != ZERO_UUID
    if v >= 12:  # by id
        response = call(
            client,
            ApiKey.METADATA,
            v,
            topics=[cls.MetadataRequestTopic(name=None, topic_id=topic_id(cluster))],
        )
        assert [(t.name, t.error_code) for t in response.topics] == [(TOPIC, 0)]


def check_produce(client: RawClient, cluster: ServedCluster, v: int) -> None:
    response = produce(client, v)
    ((topic,),) = [response.responses]
    (part,) = topic.partition_responses
    assert (topic.name, part.index, part.error_code) == (TOPIC, 0, 0)
    assert part.base_offset >= 0


def check_fetch(client: RawClient, cluster: ServedCluster, v: int) -> None:
    produce(client, 9)
    response = fetch(client, cluster, v)
    assert response.error_code == 0
    (topic,) = response.responses
    if v >= 13:
        assert topic.topic_id == topic_id(cluster)
    else:
        assert topic.topic == TOPIC
    (part,) = topic.partitions
    assert (part.partition_index, part.error_code) == (0, 0)
    assert part.high_watermark >= 1 and len(bytes(part.records)) > 61


def check_list_offsets(client: RawClient, cluster: ServedCluster, v: int) -> None:
    produce(client, 9, partition=1)
    cls = MESSAGES[ApiKey.LIST_OFFSETS][0][v]
    wanted = [-1, -2] + ([-3] if v >= 7 else []) + ([-4] if v >= 8 else []) + ([-5] if v >= 9 else [])
    partition = cls.ListOffsetsTopic.ListOffsetsPartition
    answers = {}
    for timestamp in wanted:
        response = call(
            client,
            ApiKey.LIST_OFFSETS,
            v,
            replica_id=-1,
            isolation_level=0,
            topics=[
                cls.ListOffsetsTopic(
                    name=TOPIC,
                    partitions=[partition(partition_index=1, current_leader_epoch=-1, timestamp=timestamp)],
                )
            ],
        )
        (topic,) = response.topics
        (part,) = topic.partitions
        assert part.error_code == 0
        answers[timestamp] = part.offset
    assert answers[-1] >= 1 and answers[-2] == 0
    if v >= 7:
        assert 0 <= answers[-3] < answers[-1]
    if v >= 8:
        assert answers[-4] == answers[-2]
    if v >= 9:
        assert answers[-5] == -1


def check_create_topics(client: RawClient, cluster: ServedCluster, v: int) -> None:
    cls = MESSAGES[ApiKey.CREATE_TOPICS][0][v]
    name = f"created-v{v}"
    topic = cls.CreatableTopic(
        name=name,
        num_partitions=2,
        replication_factor=1,
        assignments=[],
        configs=[cls.CreatableTopic.CreatableTopicConfig(name="retention.ms", value="60000")],
    )
    response = call(client, ApiKey.CREATE_TOPICS, v, topics=[topic], timeout_ms=10_000, validate_only=False)
    (result,) = response.topics
    assert (result.name, result.error_code) == (name, 0)
    if v >= 5:
        assert (result.num_partitions, result.replication_factor) == (2, 1)
        assert [(c.name, c.value) for c in result.configs] == [("retention.ms", "60000")]
    if v >= 7:
        assert result.topic_id == topic_id(cluster, name) != ZERO_UUID


def check_init_producer_id(client: RawClient, cluster: ServedCluster, v: int) -> None:
    response = call(
        client,
        ApiKey.INIT_PRODUCER_ID,
        v,
        transactional_id=None,
        transaction_timeout_ms=60_000,
        producer_id=-1,
        producer_epoch=-1,
    )
    assert response.error_code == 0 and response.producer_id >= 0 and response.producer_epoch >= 0


def check_find_coordinator(client: RawClient, cluster: ServedCluster, v: int) -> None:
    response = call(client, ApiKey.FIND_COORDINATOR, v, key="g", key_type=0, coordinator_keys=["g", "h"])
    if v >= 4:
        assert [(c.key, c.node_id, c.error_code) for c in response.coordinators] == [("g", 1, 0), ("h", 1, 0)]
    else:
        assert (response.error_code, response.node_id) == (0, 1)


def check_join_group(client: RawClient, cluster: ServedCluster, v: int) -> None:
    response = join(client, f"join-v{v}", v)
    assert response.error_code == 0 and response.generation_id == 1
    assert response.leader == response.member_id and len(response.members) == 1
    if v >= 7:
        assert response.protocol_type == "consumer"
    assert response.protocol_name == "range"


def check_sync_group(client: RawClient, cluster: ServedCluster, v: int) -> None:
    group = f"sync-v{v}"
    joined = join(client, group)
    cls = MESSAGES[ApiKey.SYNC_GROUP][0][v]
    response = call(
        client,
        ApiKey.SYNC_GROUP,
        v,
        group_id=group,
        generation_id=joined.generation_id,
        member_id=joined.member_id,
        protocol_type="consumer",
        protocol_name="range",
        assignments=[cls.SyncGroupRequestAssignment(member_id=joined.member_id, assignment=b"mine")],
    )
    assert response.error_code == 0 and bytes(response.assignment) == b"mine"
    if v >= 5:
        assert (response.protocol_type, response.protocol_name) == ("consumer", "range")


def check_heartbeat(client: RawClient, cluster: ServedCluster, v: int) -> None:
    group = f"heartbeat-v{v}"
    member_id, generation = member(client, group)
    response = call(
        client, ApiKey.HEARTBEAT, v, group_id=group, generation_id=generation, member_id=member_id
    )
    assert response.error_code == 0


def check_leave_group(client: RawClient, cluster: ServedCluster, v: int) -> None:
    group = f"leave-v{v}"
    member_id, _ = member(client, group)
    cls = MESSAGES[ApiKey.LEAVE_GROUP][0][v]
    members = [cls.MemberIdentity(member_id=m, reason="done") for m in (member_id, "stranger")]
    response = call(client, ApiKey.LEAVE_GROUP, v, group_id=group, member_id=member_id, members=members)
    assert response.error_code == 0
    if v >= 3:
        assert [(m.member_id, m.error_code) for m in response.members] == [(member_id, 0), ("stranger", 25)]


def commit(client: RawClient, v: int, group: str, member_id: str, generation: int, offset: int) -> Any:
    cls = MESSAGES[ApiKey.OFFSET_COMMIT][0][v]
    partition = cls.OffsetCommitRequestTopic.OffsetCommitRequestPartition(
        partition_index=0, committed_offset=offset, committed_leader_epoch=-1, committed_metadata="m"
    )
    return call(
        client,
        ApiKey.OFFSET_COMMIT,
        v,
        group_id=group,
        generation_id_or_member_epoch=generation,
        member_id=member_id,
        group_instance_id=None,
        retention_time_ms=-1,
        topics=[cls.OffsetCommitRequestTopic(name=TOPIC, partitions=[partition])],
    )


def check_offset_commit(client: RawClient, cluster: ServedCluster, v: int) -> None:
    group = f"commit-v{v}"
    member_id, generation = member(client, group)
    response = commit(client, v, group, member_id, generation, 7)
    (topic,) = response.topics
    assert [(p.partition_index, p.error_code) for p in topic.partitions] == [(0, 0)]
    assert cluster.kafka is not None
    assert cluster.kafka.committed_offsets(group)[(TOPIC, 0)] == (7, "m")
    missing = commit(client, v, f"no-such-group-v{v}", "nobody", 3, 1).topics[0].partitions[0].error_code
    assert missing == (69 if v >= 9 else 22)  # GROUP_ID_NOT_FOUND from v9, ILLEGAL_GENERATION before


def check_offset_fetch(client: RawClient, cluster: ServedCluster, v: int) -> None:
    group = f"fetch-v{v}"
    member_id, generation = member(client, group)
    assert commit(client, 2, group, member_id, generation, 5).topics[0].partitions[0].error_code == 0
    cls = MESSAGES[ApiKey.OFFSET_FETCH][0][v]
    if v >= 8:  # many groups: the committed one, and one that never committed
        groups = [
            cls.OffsetFetchRequestGroup(
                group_id=g,
                member_id=None,
                member_epoch=-1,
                topics=[
                    cls.OffsetFetchRequestGroup.OffsetFetchRequestTopics(name=TOPIC, partition_indexes=[0, 1])
                ],
            )
            for g in (group, "never-committed")
        ]
        response = call(client, ApiKey.OFFSET_FETCH, v, groups=groups, require_stable=False)
        answers = {
            g.group_id: [(p.partition_index, p.committed_offset) for t in g.topics for p in t.partitions]
            for g in response.groups
        }
        assert answers == {group: [(0, 5), (1, -1)], "never-committed": [(0, -1), (1, -1)]}
        return
    topics = [cls.OffsetFetchRequestTopic(name=TOPIC, partition_indexes=[0, 1])]
    response = call(client, ApiKey.OFFSET_FETCH, v, group_id=group, topics=topics, require_stable=False)
    assert [(p.partition_index, p.committed_offset) for t in response.topics for p in t.partitions] == [
        (0, 5),
        (1, -1),
    ]


CHECKS: dict[ApiKey, Callable[[RawClient, ServedCluster, int], None]] = {
    ApiKey.API_VERSIONS: check_api_versions,
    ApiKey.METADATA: check_metadata,
    ApiKey.PRODUCE: check_produce,
    ApiKey.FETCH: check_fetch,
    ApiKey.LIST_OFFSETS: check_list_offsets,
    ApiKey.CREATE_TOPICS: check_create_topics,
    ApiKey.INIT_PRODUCER_ID: check_init_producer_id,
    ApiKey.FIND_COORDINATOR: check_find_coordinator,
    ApiKey.JOIN_GROUP: check_join_group,
    ApiKey.SYNC_GROUP: check_sync_group,
    ApiKey.HEARTBEAT: check_heartbeat,
    ApiKey.LEAVE_GROUP: check_leave_group,
    ApiKey.OFFSET_COMMIT: check_offset_commit,
    ApiKey.OFFSET_FETCH: check_offset_fetch,
}
CASES = [(key, v) for key in CHECKS for v in versions(key)]


CHECKED_ELSEWHERE: dict[ApiKey, str] = {
    ApiKey.DESCRIBE_GROUPS: "tests/kafka/test_group_admin_rules.py",
    ApiKey.LIST_GROUPS: "tests/kafka/test_group_admin_rules.py",
    ApiKey.DELETE_GROUPS: "tests/kafka/test_group_admin_rules.py",
    ApiKey.OFFSET_DELETE: "tests/kafka/test_group_admin_rules.py",
    ApiKey.DESCRIBE_CONFIGS: "tests/kafka/test_config_apis_rules.py",
    ApiKey.ALTER_CONFIGS: "tests/kafka/test_config_apis_rules.py",
    ApiKey.INCREMENTAL_ALTER_CONFIGS: "tests/kafka/test_config_apis_rules.py",
    ApiKey.DELETE_TOPICS: "tests/kafka/test_admin_rules.py",
    ApiKey.DELETE_RECORDS: "tests/kafka/test_admin_rules.py",
    ApiKey.OFFSET_FOR_LEADER_EPOCH: "tests/kafka/test_admin_rules.py",
    ApiKey.CREATE_PARTITIONS: "tests/kafka/test_admin_rules.py",
    ApiKey.ELECT_LEADERS: "tests/kafka/test_admin_rules.py",
    ApiKey.DESCRIBE_CLUSTER: "tests/kafka/test_admin_rules.py",
    ApiKey.DESCRIBE_PRODUCERS: "tests/kafka/test_admin_rules.py",
    ApiKey.DESCRIBE_TOPIC_PARTITIONS: "tests/kafka/test_admin_rules.py",
}
"""The APIs whose every version is exercised by their own modules' tests instead."""


def test_every_served_api_has_a_check() -> None:
    assert set(CHECKS) | set(CHECKED_ELSEWHERE) == set(ADVERTISED)
    assert not set(CHECKS) & set(CHECKED_ELSEWHERE)


@pytest.mark.req("PRO-2", "PRO-62", "PRO-63", "PRO-64", "PRO-65", "PRO-70", "PRO-72", "PRO-74", "PRO-75")
@pytest.mark.parametrize(("key", "version"), CASES, ids=[f"{k.name}-v{v}" for k, v in CASES])
def test_every_advertised_version_round_trips(
    raw: RawClient, one: ServedCluster, key: ApiKey, version: int
) -> None:
    CHECKS[key](raw, one, version)
    assert one.kafka is not None
    assert one.kafka.stats.by_api[(key, version)] >= 1  # PRO-64: counted as served at that version
