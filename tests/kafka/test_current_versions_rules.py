"""The rules the current protocol versions add, one per test, in process under trio's mock clock:
Fetch's epoch checks and diverging epoch (KIP-320), topic ids in Fetch and Metadata (KIP-516),
ListOffsets' markers, ApiVersions' client names (KIP-511), FindCoordinator's key types and
SyncGroup's protocol checks (KIP-559). Requests go through the codec exactly as the listener
decodes them (:func:`tests.kafka.test_apis_rules.call`)."""

from __future__ import annotations

import uuid
import warnings
from typing import Any

import pytest
import trio
import trio.testing

from reflog.broker.api import ProduceRequest
from reflog.broker.topic_ids import ZERO_UUID
from reflog.cluster import Cluster
from reflog.errors import Errors
from reflog.kafka.apis import WithPayloads
from reflog.kafka.codec import MESSAGES
from reflog.kafka.group_apis import inconsistent_protocol
from reflog.kafka.groups import Group
from reflog.kafka.versions import ApiKey
from reflog.records import Record, build_batch
from reflog.vocabulary import TopicPartition
from tests.kafka.test_apis_rules import TOPIC, call, in_process

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import kafka.protocol  # type: ignore[import-untyped]  # noqa: F401


def request(key: ApiKey, version: int, /, **fields: Any) -> Any:
    return MESSAGES[key][0][version](**fields)


def fetch_request(
    version: int, *, topic: str = TOPIC, topic_id: uuid.UUID = ZERO_UUID, **partition: Any
) -> Any:
    cls = MESSAGES[ApiKey.FETCH][0][version]
    fields = {"partition": 0, "fetch_offset": 0, "partition_max_bytes": 1 << 20, "log_start_offset": -1}
    part = cls.FetchTopic.FetchPartition(**(fields | partition))
    return cls(
        replica_id=-1,
        max_wait_ms=0,
        min_bytes=0,
        max_bytes=1 << 20,
        isolation_level=0,
        session_id=0,
        session_epoch=-1,
        topics=[cls.FetchTopic(topic=topic, topic_id=topic_id, partitions=[part])],
        forgotten_topics_data=[],
        rack_id="",
    )


def only_partition(reply: Any) -> Any:
    assert isinstance(reply, WithPayloads)
    (topic,) = reply.body.responses
    (part,) = topic.partitions
    return part


async def append(cluster: Cluster, values: list[tuple[bytes, int]]) -> None:
    """Append ``(value, timestamp)`` records to partition 0, one batch each, as the leader."""
    broker = cluster.broker(1).broker
    for value, timestamp in values:
        batch = build_batch([Record(key=b"k", value=value, timestamp=timestamp)])
        response = await broker.produce(ProduceRequest(TopicPartition(TOPIC, 0), batch, -1, 5000))
        assert response.error is Errors.NONE


async def two_epochs(cluster: Cluster) -> int:
    """Three records at the first epoch, then a restart (a new epoch), then two more: the epoch
    cache is ``[(e0, 0), (e1, 3)]``. Returns e0."""
    await cluster.create_topic(TOPIC, partitions=1, replication_factor=1)
    first = cluster.broker(1).broker.partitions[TopicPartition(TOPIC, 0)].leader_epoch
    await append(cluster, [(b"a", 1), (b"b", 2), (b"c", 3)])
    handle = cluster.broker(1)
    await handle.stop()
    await handle.restart()
    await cluster.wait_for_leaders(TOPIC)
    partition = cluster.broker(1).broker.partitions[TopicPartition(TOPIC, 0)]
    assert partition.leader_epoch > first
    await append(cluster, [(b"d", 4), (b"e", 5)])
    return first


# ---------------------------------------------------------------------------- PRO-66 (KIP-320)
@pytest.mark.req("PRO-66")
async def test_fetch_answers_the_diverging_epoch_when_the_last_fetched_epoch_ended_earlier(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with in_process() as (cluster, apis):
        first = await two_epochs(cluster)
        # The consumer read offsets 3 and 4 at the first epoch from a leader since truncated.
        part = only_partition(
            await call(apis, fetch_request(12, fetch_offset=5, last_fetched_epoch=first), 12)
        )
    assert part.error_code == 0
    assert (part.diverging_epoch.epoch, part.diverging_epoch.end_offset) == (first, 3)
    assert bytes(part.records or b"") == b""
    assert part.high_watermark == 5


@pytest.mark.req("PRO-66")
async def test_fetch_at_the_leaders_epoch_reads_and_below_v12_no_epoch_is_checked(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with in_process() as (cluster, apis):
        first = await two_epochs(cluster)
        latest = cluster.broker(1).broker.partitions[TopicPartition(TOPIC, 0)].log.epoch_cache.latest_epoch
        same = only_partition(
            await call(apis, fetch_request(12, fetch_offset=3, last_fetched_epoch=latest), 12)
        )
        within = only_partition(
            await call(apis, fetch_request(12, fetch_offset=2, last_fetched_epoch=first), 12)
        )
        old = only_partition(await call(apis, fetch_request(11, fetch_offset=5), 11))
    assert same.error_code == 0 and same.diverging_epoch is None
    assert within.error_code == 0 and within.diverging_epoch is None  # its epoch ended at 3 >= 2
    assert old.error_code == 0


@pytest.mark.req("PRO-66")
async def test_fetch_refuses_a_stale_or_future_current_leader_epoch_and_an_unknown_last_epoch(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with in_process() as (cluster, apis):
        first = await two_epochs(cluster)
        epoch = cluster.broker(1).broker.partitions[TopicPartition(TOPIC, 0)].leader_epoch
        fenced = only_partition(await call(apis, fetch_request(9, current_leader_epoch=first), 9))
        unknown = only_partition(await call(apis, fetch_request(9, current_leader_epoch=epoch + 1), 9))
        current = only_partition(await call(apis, fetch_request(9, current_leader_epoch=epoch), 9))
        future = only_partition(
            await call(apis, fetch_request(12, fetch_offset=1, last_fetched_epoch=epoch + 5), 12)
        )
    assert fenced.error_code == Errors.FENCED_LEADER_EPOCH
    assert unknown.error_code == Errors.UNKNOWN_LEADER_EPOCH
    assert current.error_code == 0
    assert future.error_code == Errors.OFFSET_OUT_OF_RANGE  # "could not determine the end offset"


# ---------------------------------------------------------------------------- PRO-67 (KIP-516)
@pytest.mark.req("PRO-63", "PRO-67")
async def test_fetch_v13_reads_by_topic_id_and_answers_an_unknown_id_unknown_topic_id(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with in_process() as (cluster, apis):
        await cluster.create_topic(TOPIC, partitions=1, replication_factor=1)
        await append(cluster, [(b"a", 1)])
        topic_id = cluster.topic_ids.id_of(TOPIC)
        known = await call(apis, fetch_request(13, topic="", topic_id=topic_id), 13)
        stranger = uuid.UUID(int=12345)
        unknown = await call(apis, fetch_request(13, topic="", topic_id=stranger), 13)
    (topic,) = known.body.responses
    assert topic.topic_id == topic_id and topic.partitions[0].error_code == 0
    assert known.payloads  # records were read
    (topic,) = unknown.body.responses
    assert topic.topic_id == stranger
    assert [(p.partition_index, p.error_code) for p in topic.partitions] == [(0, Errors.UNKNOWN_TOPIC_ID)]


@pytest.mark.req("PRO-69")
async def test_metadata_v12_by_id_answers_known_ids_by_name_and_unknown_ones_unknown_topic_id(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with in_process() as (cluster, apis):
        await cluster.create_topic(TOPIC, partitions=2, replication_factor=1)
        topic_id = cluster.topic_ids.id_of(TOPIC)
        cls = MESSAGES[ApiKey.METADATA][0][12]
        stranger = uuid.UUID(int=99)
        wanted = [cls.MetadataRequestTopic(name=None, topic_id=i) for i in (topic_id, stranger)]
        # names are ignored once ids are asked for, and nothing is auto-created
        wanted.append(cls.MetadataRequestTopic(name="would-be-created", topic_id=ZERO_UUID))
        response = await call(apis, cls(topics=wanted, allow_auto_topic_creation=True), 12)
        assert cluster.topic_ids.id_of("would-be-created") == ZERO_UUID
    assert [(t.name, t.topic_id, t.error_code, len(t.partitions)) for t in response.topics] == [
        (TOPIC, topic_id, 0, 2),
        (None, stranger, Errors.UNKNOWN_TOPIC_ID, 0),
    ]


@pytest.mark.req("PRO-69")
@pytest.mark.parametrize("version", [10, 11])
async def test_metadata_before_v12_refuses_topic_ids(
    autojump_clock: trio.testing.MockClock, version: int
) -> None:
    async with in_process() as (cluster, apis):
        await cluster.create_topic(TOPIC, partitions=1, replication_factor=1)
        cls = MESSAGES[ApiKey.METADATA][0][version]
        by_id = cls.MetadataRequestTopic(name=TOPIC, topic_id=cluster.topic_ids.id_of(TOPIC))
        refused = await call(apis, cls(topics=[by_id], allow_auto_topic_creation=False), version)
        by_name = await call(apis, cls(topics=[cls.MetadataRequestTopic(name=TOPIC)]), version)
    assert [(t.name, t.error_code) for t in refused.topics] == [(TOPIC, Errors.INVALID_REQUEST)]
    assert [(t.name, t.error_code, t.topic_id) for t in by_name.topics] == [
        (TOPIC, 0, cluster.topic_ids.id_of(TOPIC))
    ]


# ---------------------------------------------------------------------------- PRO-68
@pytest.mark.req("PRO-68")
async def test_list_offsets_max_timestamp_is_the_first_record_with_the_largest_timestamp(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with in_process() as (cluster, apis):
        await cluster.create_topic(TOPIC, partitions=1, replication_factor=1)
        await append(cluster, [(b"a", 100), (b"b", 300), (b"c", 200), (b"d", 300)])
        found = apis.list_offsets_api.offset_for(TopicPartition(TOPIC, 0), -3)
        local = apis.list_offsets_api.offset_for(TopicPartition(TOPIC, 0), -4)
        tiered = apis.list_offsets_api.offset_for(TopicPartition(TOPIC, 0), -5)
    assert found[0] is Errors.NONE and (found[1].offset, found[1].timestamp) == (1, 300)
    assert (local[1].offset, local[1].leader_epoch) == (0, 0)
    assert (tiered[1].offset, tiered[1].timestamp, tiered[1].leader_epoch) == (-1, -1, -1)


# ---------------------------------------------------------------------------- PRO-71..73
@pytest.mark.req("PRO-73")
@pytest.mark.parametrize(
    ("name", "version", "valid"),
    [
        ("librdkafka", "2.6.0", True),
        ("a", "1", True),
        ("-bad", "1", False),
        ("ok", "1.0-", False),
        ("", "1", False),
    ],
)
async def test_api_versions_v3_refuses_an_invalid_client_software_name_or_version(
    autojump_clock: trio.testing.MockClock, name: str, version: str, valid: bool
) -> None:
    async with in_process() as (_, apis):
        req = request(ApiKey.API_VERSIONS, 3, client_software_name=name, client_software_version=version)
        response = await call(apis, req, 3)
    assert response.error_code == (0 if valid else Errors.INVALID_REQUEST)
    assert bool(response.api_keys) == valid


@pytest.mark.req("PRO-71")
async def test_find_coordinator_answers_each_key_and_refuses_share_groups(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with in_process() as (_, apis):
        groups = await call(
            apis, request(ApiKey.FIND_COORDINATOR, 6, key_type=0, coordinator_keys=["a", "b"]), 6
        )
        share = await call(
            apis, request(ApiKey.FIND_COORDINATOR, 6, key_type=2, coordinator_keys=["s:x:0"]), 6
        )
        old = await call(apis, request(ApiKey.FIND_COORDINATOR, 3, key="a", key_type=0), 3)
    assert [(c.key, c.node_id, c.port, c.error_code) for c in groups.coordinators] == [
        ("a", 1, 9092, 0),
        ("b", 1, 9092, 0),
    ]
    assert [(c.key, c.node_id, c.error_code) for c in share.coordinators] == [
        ("s:x:0", -1, Errors.INVALID_REQUEST)
    ]
    assert (old.node_id, old.error_code) == (1, 0)


@pytest.mark.req("PRO-72")
@pytest.mark.parametrize(
    ("given", "inconsistent"),
    [
        (("consumer", "range"), False),
        ((None, None), False),
        (("consumer", None), False),
        (("connect", "range"), True),
        (("consumer", "roundrobin"), True),
        ((None, "roundrobin"), True),
    ],
)
def test_sync_group_v5_protocol_check_refuses_a_type_or_name_that_is_given_and_not_the_groups(
    given: tuple[str | None, str | None], inconsistent: bool
) -> None:
    group = Group("g", protocol_type="consumer", protocol_name="range")
    body = request(ApiKey.SYNC_GROUP, 5, protocol_type=given[0], protocol_name=given[1])
    assert inconsistent_protocol(group, body) is inconsistent
    assert not inconsistent_protocol(Group("new"), body)  # a group without a protocol yet
