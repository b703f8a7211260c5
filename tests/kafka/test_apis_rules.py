"""The Fetch, ListOffsets, OffsetCommit and OffsetFetch handlers of :class:`KafkaApis`, one rule per
test, called in process under trio's mock clock (no socket): the request is encoded and decoded with
kafka-python's classes exactly as the listener decodes it, and the response body is read field by
field. These are the direct tests for mutation testing of reflog/kafka/apis.py (tests/MUTATION.md)."""

from __future__ import annotations

import warnings
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import attrs
import pytest
import trio
import trio.testing

from reflog.broker.api import ConsumerFetchRequest, ConsumerFetchResponse
from reflog.broker.config import BrokerConfig
from reflog.client.producer import SendStatus
from reflog.cluster import Cluster, open_cluster
from reflog.errors import Errors
from reflog.kafka.apis import KafkaApis, WithPayloads
from reflog.kafka.codec import decode_request
from reflog.kafka.groups import GroupConfig, GroupCoordinator
from reflog.kafka.offsets_records import OFFSETS_TOPIC
from reflog.kafka.transfer import part_size
from reflog.records import Record, build_batch
from reflog.vocabulary import TopicPartition

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    from kafka.protocol.consumer import (  # type: ignore[import-untyped]
        FetchRequest,
        ListOffsetsRequest,
        OffsetCommitRequest,
        OffsetFetchRequest,
    )
    from kafka.protocol.producer import ProduceRequest  # type: ignore[import-untyped]

TOPIC = "t"
ADDRESS = {1: ("127.0.0.1", 9092)}


@asynccontextmanager
async def in_process(
    *, coordinator: bool = True, verify: bool = True, config: BrokerConfig | None = None
) -> AsyncIterator[tuple[Cluster, KafkaApis]]:
    """A one-broker cluster and broker 1's APIs, its group store running; ``coordinator=False``:
    broker 1 serves no clients (and ``__consumer_offsets`` does not exist)."""
    addresses: Mapping[int, tuple[str, int]] = ADDRESS if coordinator else {}
    async with (
        open_cluster(brokers=1, seed=7, broker_config=config) as cluster,
        trio.open_nursery() as nursery,
    ):
        await cluster.wait_for_brokers()
        groups = GroupCoordinator(GroupConfig(offsets_topic_num_partitions=OFFSETS_PARTITIONS))
        apis = KafkaApis(cluster, 1, lambda: addresses, groups, verify_fetches=verify)
        await nursery.start(apis.group_apis.store.run)
        if coordinator:
            await coordinator_ready(cluster, apis)
        yield cluster, apis
        nursery.cancel_scope.cancel()


OFFSETS_PARTITIONS = 3
"""``offsets.topic.num.partitions`` of the in-process tests (Kafka's 50 would only be slower)."""


async def coordinator_ready(cluster: Cluster, apis: KafkaApis, group_id: str = "g") -> None:
    """Create ``__consumer_offsets`` and wait until broker 1 has loaded ``group_id``'s partition."""
    if not cluster.controller.has_partition(TopicPartition(OFFSETS_TOPIC, 0)):
        await cluster.create_topic(OFFSETS_TOPIC, partitions=OFFSETS_PARTITIONS, replication_factor=1)
    with trio.fail_after(30):
        while apis.group_apis.store.status(group_id) is not Errors.NONE:
            await trio.sleep(0.01)


async def call(apis: KafkaApis, request: Any, version: int) -> Any:
    """``request`` at ``version`` through the codec and ``KafkaApis.handle``, as the listener does."""
    request.with_header(correlation_id=1, client_id="rules")
    decoded = decode_request(bytes(request.encode(version=version, header=True)))
    return await apis.handle(decoded)


def commit_request(
    partitions: list[tuple[int, int, str | None]], *, generation: int = -1, member: str = ""
) -> Any:
    cls = OffsetCommitRequest[7]
    part_cls = cls.OffsetCommitRequestTopic.OffsetCommitRequestPartition
    parts = [
        part_cls(partition_index=p, committed_offset=o, committed_leader_epoch=-1, committed_metadata=m)
        for p, o, m in partitions
    ]
    return cls(
        group_id="g",
        generation_id_or_member_epoch=generation,
        member_id=member,
        group_instance_id=None,
        topics=[cls.OffsetCommitRequestTopic(name=TOPIC, partitions=parts)],
    )


def offset_fetch_request(partitions: list[int] | None) -> Any:
    cls = OffsetFetchRequest[5]
    topics = (
        None
        if partitions is None
        else [cls.OffsetFetchRequestTopic(name=TOPIC, partition_indexes=partitions)]
    )
    return cls(group_id="g", topics=topics, require_stable=False)


def answers(response: Any) -> list[tuple[Any, ...]]:
    """OffsetFetch's answer: ``(topic, partition, offset, leader epoch, metadata, error)`` each."""
    return [
        (t.name, p.partition_index, p.committed_offset, p.committed_leader_epoch, p.metadata, p.error_code)
        for t in response.topics
        for p in t.partitions
    ]


@pytest.mark.req("PRO-12")
async def test_offset_commit_answers_each_partition_it_was_sent(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with in_process() as (_, apis):
        response = await call(apis, commit_request([(3, 7, "m"), (0, 5, None)]), 7)
    assert response.throttle_time_ms == 0
    assert [(t.name, [(p.partition_index, p.error_code) for p in t.partitions]) for t in response.topics] == [
        (TOPIC, [(3, 0), (0, 0)])
    ]


@pytest.mark.req("PRO-12")
async def test_offset_commit_refusal_is_answered_on_every_partition(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with in_process() as (_, apis):
        response = await call(apis, commit_request([(1, 7, None), (2, 5, None)], generation=1, member="m"), 7)
        assert apis.groups.fetch_offsets("g") == {}
    assert [(p.partition_index, p.error_code) for p in response.topics[0].partitions] == [
        (1, int(Errors.ILLEGAL_GENERATION)),  # no such group (OffsetCommit before v9)
        (2, int(Errors.ILLEGAL_GENERATION)),
    ]


@pytest.mark.req("PRO-12")
async def test_offset_fetch_of_named_partitions_returns_offsets_and_metadata_in_request_order(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with in_process() as (_, apis):
        await call(apis, commit_request([(3, 7, "m3"), (0, 5, None)]), 7)
        response = await call(apis, offset_fetch_request([3, 9, 0]), 5)
    assert response.error_code == 0 and response.throttle_time_ms == 0
    # Kafka stores a null commit metadata as "" (OffsetAndMetadata.NO_METADATA); a partition never
    # committed is offset -1 with metadata "".
    assert answers(response) == [
        (TOPIC, 3, 7, -1, "m3", 0),
        (TOPIC, 9, -1, -1, "", 0),
        (TOPIC, 0, 5, -1, "", 0),
    ]


@pytest.mark.req("PRO-12")
async def test_offset_fetch_of_all_topics_returns_every_committed_partition(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with in_process() as (_, apis):
        await call(apis, commit_request([(2, 4, "x"), (1, 8, "y")]), 7)
        response = await call(apis, offset_fetch_request(None), 5)
    assert response.error_code == 0
    assert sorted(answers(response)) == [(TOPIC, 1, 8, -1, "y", 0), (TOPIC, 2, 4, -1, "x", 0)]


@pytest.mark.req("PRO-12")
async def test_offset_commit_checks_a_members_generation_and_id(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with in_process() as (_, apis), trio.open_nursery() as nursery:
        nursery.start_soon(apis.groups.run)
        joined = await apis.groups.join(
            "g",
            "",
            client_id="c",
            session_timeout_ms=10_000,
            rebalance_timeout_ms=10_000,
            protocol_type="consumer",
            protocols=[("range", b"")],
            require_known_member_id=False,
        )
        assert joined.error is Errors.NONE and joined.generation_id == 1
        member = joined.member_id
        await apis.groups.sync("g", 1, member, [(member, b"")])
        answers = []
        for generation, member_id in ((1, member), (2, member), (1, "")):
            request = commit_request([(0, 9, None)], generation=generation, member=member_id)
            answers.append((await call(apis, request, 7)).topics[0].partitions[0].error_code)
        nursery.cancel_scope.cancel()
    assert answers == [0, int(Errors.ILLEGAL_GENERATION), int(Errors.UNKNOWN_MEMBER_ID)]


@pytest.mark.req("PRO-9")
async def test_a_broker_that_is_not_the_coordinator_refuses_offset_commit_and_fetch(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with in_process(coordinator=False) as (_, apis):
        commit = await call(apis, commit_request([(1, 7, None)]), 7)
        fetch = await call(apis, offset_fetch_request([1]), 5)
        assert apis.groups.fetch_offsets("g") == {}
    assert [(p.partition_index, p.error_code) for p in commit.topics[0].partitions] == [
        (1, int(Errors.NOT_COORDINATOR))
    ]
    assert fetch.error_code == int(Errors.NOT_COORDINATOR) and fetch.topics == []
    assert commit.throttle_time_ms == 0 and fetch.throttle_time_ms == 0


# ---------------------------------------------------------------------------------------------- data


async def topic_with_records(cluster: Cluster, per_partition: tuple[int, ...]) -> None:
    """Topic ``t`` with one partition per entry, partition ``p`` holding that many one-record batches."""
    await cluster.create_topic(TOPIC, partitions=len(per_partition), replication_factor=1)
    producer = cluster.producer(acks="all")
    for partition, count in enumerate(per_partition):
        for i in range(count):
            result = await producer.send(TOPIC, b"v%d" % i, partition=partition)
            assert result.status is SendStatus.OK, result


def list_offsets_request(wanted: list[tuple[int, int]]) -> Any:
    cls = ListOffsetsRequest[5]
    part_cls = cls.ListOffsetsTopic.ListOffsetsPartition
    parts = [part_cls(partition_index=p, current_leader_epoch=-1, timestamp=ts) for p, ts in wanted]
    return cls(replica_id=-1, isolation_level=0, topics=[cls.ListOffsetsTopic(name=TOPIC, partitions=parts)])


@pytest.mark.req("PRO-7")
async def test_list_offsets_answers_each_partition_with_its_own_offsets_and_leader_epoch(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with in_process() as (cluster, apis):
        await topic_with_records(cluster, (0, 3))
        partition = cluster.broker(1).broker.partitions[TopicPartition(TOPIC, 1)]
        epoch = partition.leader_epoch
        first = partition.log.offset_for_timestamp(0, max_offset=3)
        assert first is not None and first.offset == 0
        wanted = [(1, -1), (1, -2), (1, 0), (1, 1 << 60), (0, -1), (7, -1), (7, 0)]
        response = await call(apis, list_offsets_request(wanted), 5)
    assert response.throttle_time_ms == 0 and [t.name for t in response.topics] == [TOPIC]
    got = [
        (p.partition_index, p.error_code, p.timestamp, p.offset, p.leader_epoch)
        for p in response.topics[0].partitions[:-2]
    ]
    assert got == [
        (1, 0, -1, 3, epoch),
        (1, 0, -1, 0, epoch),
        (1, 0, first.timestamp, 0, epoch),
        (1, 0, -1, -1, -1),
        (0, 0, -1, 0, epoch),
    ]
    for refused in response.topics[0].partitions[-2:]:  # a partition the topic does not have
        assert (
            refused.partition_index,
            refused.error_code,
            refused.timestamp,
            refused.offset,
            refused.leader_epoch,
        ) == (7, int(Errors.UNKNOWN_TOPIC_OR_PARTITION), -1, -1, -1)


def fetch_request(
    partitions: list[int] | list[tuple[int, int, int]],
    *,
    isolation_level: int = 0,
    max_bytes: int = 1 << 20,
    min_bytes: int = 1,
    max_wait_ms: int = 0,
) -> Any:
    """A consumer's Fetch v11 of ``t``: each partition ``p`` (offset 0) or ``(p, offset, max bytes)``."""
    cls = FetchRequest[11]
    wanted = [(p, 0, 1 << 20) if isinstance(p, int) else p for p in partitions]
    parts = [
        cls.FetchTopic.FetchPartition(
            partition=p, current_leader_epoch=-1, fetch_offset=o, log_start_offset=-1, partition_max_bytes=m
        )
        for p, o, m in wanted
    ]
    return cls(
        replica_id=-1,
        max_wait_ms=max_wait_ms,
        min_bytes=min_bytes,
        max_bytes=max_bytes,
        isolation_level=isolation_level,
        session_id=0,
        session_epoch=-1,
        topics=[cls.FetchTopic(topic=TOPIC, partitions=parts)],
        forgotten_topics_data=[],
        rack_id="",
    )


@pytest.mark.req("PRO-6")
async def test_fetch_answers_each_partition_with_its_own_state_and_records(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with in_process() as (cluster, apis):
        await topic_with_records(cluster, (0, 2))
        response = await call(apis, fetch_request([0, 1, 5]), 11)
    assert isinstance(response, WithPayloads)
    body = response.body
    assert (body.throttle_time_ms, body.error_code, body.session_id) == (0, 0, 0)
    assert [t.topic for t in body.responses] == [TOPIC]
    got = [
        (p.partition_index, p.error_code, p.high_watermark, p.last_stable_offset, p.log_start_offset)
        for p in body.responses[0].partitions
    ]
    assert got[:2] == [(0, 0, 0, 0, 0), (1, 0, 2, 2, 0)]
    assert got[2][0] == 5 and got[2][1] != 0 and got[2][2:] == (-1, -1, -1)  # a partition the topic lacks
    empty, full, unknown = body.responses[0].partitions
    assert empty.records == b"" and unknown.records == b""
    assert isinstance(full.records, bytes) and full.records in response.payloads
    log = cluster.broker(1).broker.partitions[TopicPartition(TOPIC, 1)].log
    assert part_size(response.payloads[full.records]) == log.size_in_bytes  # both batches, as stored
    assert len(response.payloads) == 1
    assert all(p.preferred_read_replica == -1 for p in body.responses[0].partitions)


@pytest.mark.req("PRO-6")
async def test_fetch_aborted_transactions_are_null_for_read_uncommitted_and_empty_for_read_committed() -> (
    None
):
    """Kafka computes aborted transactions only for READ_COMMITTED (``FetchIsolation.TXN_COMMITTED``);
    otherwise the field is null. reflog has no transactions, so a READ_COMMITTED list is empty."""
    async with in_process() as (cluster, apis):
        await topic_with_records(cluster, (1,))
        uncommitted = await call(apis, fetch_request([0], isolation_level=0), 11)
        committed = await call(apis, fetch_request([0], isolation_level=1), 11)
    assert uncommitted.body.responses[0].partitions[0].aborted_transactions is None
    assert committed.body.responses[0].partitions[0].aborted_transactions == []


VALUE = bytes(range(256)) * 4  # one batch of about 1 KiB per send


async def three_partitions_of_one_batch(cluster: Cluster) -> int:
    """Topic ``t`` with partitions 0..2 holding one batch of ``VALUE`` each; returns the batch size."""
    await cluster.create_topic(TOPIC, partitions=3, replication_factor=1)
    producer = cluster.producer(acks="all")
    for partition in range(3):
        assert (await producer.send(TOPIC, VALUE, partition=partition)).status is SendStatus.OK
    log = cluster.broker(1).broker.partitions[TopicPartition(TOPIC, 0)].log
    return int(log.size_in_bytes)


def with_records(response: Any) -> list[int]:
    """The partitions a Fetch answer carries records for."""
    assert isinstance(response, WithPayloads)
    return [p.partition_index for t in response.body.responses for p in t.partitions if p.records]


@pytest.mark.req("PRO-42")
async def test_fetch_max_bytes_of_zero_or_less_sends_the_first_batch_only(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with in_process() as (cluster, apis):
        await three_partitions_of_one_batch(cluster)
        assert with_records(await call(apis, fetch_request([0, 1, 2], max_bytes=0), 11)) == [0]
        assert with_records(await call(apis, fetch_request([1, 2, 0], max_bytes=-5), 11)) == [1]
        assert with_records(await call(apis, fetch_request([0, 1, 2], max_bytes=1), 11)) == [0]


@pytest.mark.req("PRO-42")
async def test_the_first_batch_always_goes_out_even_after_partitions_that_had_nothing(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with in_process() as (cluster, apis):
        await three_partitions_of_one_batch(cluster)
        at_end = (0, 1, 1 << 20)  # partition 0 read from its end: nothing to send
        assert with_records(await call(apis, fetch_request([at_end, 1, 2], max_bytes=0), 11)) == [1]
        assert with_records(await call(apis, fetch_request([at_end, (1, 0, 0), 2]), 11)) == [1, 2]


@pytest.mark.req("PRO-7")
async def test_a_partition_that_exists_but_is_not_led_here_is_not_leader_or_follower(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with open_cluster(brokers=2, seed=8) as cluster:
        await cluster.wait_for_brokers()
        (created,) = await cluster.create_topic(TOPIC, replication_factor=1)
        elsewhere = 3 - created.leader  # hosts no replica of t-0
        apis = KafkaApis(cluster, elsewhere, lambda: ADDRESS, GroupCoordinator())
        fetched = await call(apis, fetch_request([0]), 11)
        listed = await call(apis, list_offsets_request([(0, -1), (0, 0)]), 5)
    not_leader = int(Errors.NOT_LEADER_OR_FOLLOWER)
    assert [p.error_code for p in fetched.body.responses[0].partitions] == [not_leader]
    assert [(p.error_code, p.offset) for p in listed.topics[0].partitions] == [(not_leader, -1)] * 2


@pytest.mark.req("PRO-42")
async def test_fetch_max_bytes_is_spent_across_partitions_inclusive(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with in_process() as (cluster, apis):
        size = await three_partitions_of_one_batch(cluster)
        assert with_records(await call(apis, fetch_request([0, 1, 2], max_bytes=2 * size), 11)) == [0, 1]
        assert with_records(await call(apis, fetch_request([0, 1, 2], max_bytes=2 * size - 1), 11)) == [0]
        assert with_records(await call(apis, fetch_request([0, 1, 2], max_bytes=3 * size), 11)) == [0, 1, 2]


@pytest.mark.req("PRO-42")
async def test_fetch_max_bytes_is_capped_at_the_brokers_fetch_max_bytes(
    autojump_clock: trio.testing.MockClock,
) -> None:
    probe = BrokerConfig()
    async with in_process(config=attrs.evolve(probe, fetch_max_bytes=1500)) as (cluster, apis):
        size = await three_partitions_of_one_batch(cluster)
        assert size <= 1500 < 2 * size
        assert with_records(await call(apis, fetch_request([0, 1, 2], max_bytes=1 << 20), 11)) == [0]


@pytest.mark.req("PRO-7")
async def test_fetch_and_produce_answer_unknown_topic_or_partition_for_a_partition_that_does_not_exist(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with in_process() as (cluster, apis):
        await topic_with_records(cluster, (1,))
        response = await call(apis, fetch_request([7, 0]), 11)
        got = [
            (p.partition_index, p.error_code, p.high_watermark, p.log_start_offset, bool(p.records))
            for p in response.body.responses[0].partitions
        ]
        assert got == [(7, int(Errors.UNKNOWN_TOPIC_OR_PARTITION), -1, -1, False), (0, 0, 1, 0, True)]
        cls = ProduceRequest[8]
        data = [
            cls.TopicProduceData(
                name=name,
                partition_data=[
                    cls.TopicProduceData.PartitionProduceData(
                        index=index, records=build_batch([Record(None, b"x")])
                    )
                ],
            )
            for name, index in ((TOPIC, 7), ("no-such-topic", 0), (TOPIC, 0))
        ]
        request = cls(transactional_id=None, acks=1, timeout_ms=1000, topic_data=data)
        produced = await call(apis, request, 8)
        assert [
            (t.name, p.index, p.error_code, p.base_offset)
            for t in produced.responses
            for p in t.partition_responses
        ] == [
            (TOPIC, 7, int(Errors.UNKNOWN_TOPIC_OR_PARTITION), -1),
            (TOPIC, 0, 0, 1),
            ("no-such-topic", 0, int(Errors.UNKNOWN_TOPIC_OR_PARTITION), -1),
        ]
        assert "no-such-topic" not in {m.topic_partition.topic for m in cluster.controller.partitions()}


@pytest.mark.req("PRO-42")
async def test_a_partition_whose_first_batch_does_not_fit_is_skipped_and_the_next_ones_are_read(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with in_process() as (cluster, apis):
        await cluster.create_topic(TOPIC, partitions=3, replication_factor=1)
        producer = cluster.producer(acks="all")
        for partition, value in enumerate((b"small", VALUE * 4, b"small")):
            assert (await producer.send(TOPIC, value, partition=partition)).status is SendStatus.OK
        logs = [cluster.broker(1).broker.partitions[TopicPartition(TOPIC, p)].log for p in range(3)]
        small, big = int(logs[0].size_in_bytes), int(logs[1].size_in_bytes)
        bound = 2 * small + big // 2  # room for both small batches, not for the big one after the first
        response = await call(apis, fetch_request([0, 1, 2], max_bytes=bound), 11)
        assert with_records(response) == [0, 2]
        sizes = [
            part_size(response.payloads[p.records])
            for p in response.body.responses[0].partitions
            if p.records
        ]
        assert sizes == [small, small]
        # First in the request, the big batch goes out whatever the bound (KIP-74), then nothing fits.
        assert with_records(await call(apis, fetch_request([1, 0, 2], max_bytes=bound), 11)) == [1]


@pytest.mark.req("PRO-42")
async def test_a_partition_max_bytes_of_zero_reads_nothing_unless_it_is_the_first(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with in_process() as (cluster, apis):
        await three_partitions_of_one_batch(cluster)
        response = await call(apis, fetch_request([(0, 0, 0), (1, 0, 0), (2, 0, 1 << 20)]), 11)
        assert with_records(response) == [0, 2]
        response = await call(apis, fetch_request([(0, 0, -1), (1, 0, -1), (2, 0, 1 << 20)]), 11)
        assert with_records(response) == [0, 2]


async def timed_fetch(apis: KafkaApis, request: Any) -> tuple[float, list[int]]:
    start = trio.current_time()
    response = await call(apis, request, 11)
    return trio.current_time() - start, with_records(response)


@pytest.mark.req("PRO-6", "PRO-42")
async def test_a_fetch_without_enough_data_waits_max_wait_ms(autojump_clock: trio.testing.MockClock) -> None:
    async with in_process() as (cluster, apis):
        size = await three_partitions_of_one_batch(cluster)
        at_end = [(0, 1, 1 << 20)]
        assert await timed_fetch(apis, fetch_request(at_end, max_wait_ms=300)) == (pytest.approx(0.3), [])
        assert await timed_fetch(apis, fetch_request(at_end, max_wait_ms=1)) == (pytest.approx(0.001), [])
        assert await timed_fetch(apis, fetch_request(at_end, max_wait_ms=0)) == (0, [])
        # min_bytes 0 or less is satisfied by nothing: answered at once (Kafka's bytesReadable >= minBytes).
        assert await timed_fetch(apis, fetch_request(at_end, max_wait_ms=300, min_bytes=0)) == (0, [])
        # max_bytes 0 makes min_bytes 0 too (Kafka's fetchMinBytes = min(minBytes, fetchMaxBytes)).
        assert await timed_fetch(apis, fetch_request(at_end, max_wait_ms=300, max_bytes=0)) == (0, [])
        # Exactly min_bytes available is enough; below it, the data there waits for more until
        # max_wait_ms, then goes out (Kafka's DelayedFetch).
        request = fetch_request([0], max_wait_ms=300, min_bytes=size)
        assert await timed_fetch(apis, request) == (0, [0])
        request = fetch_request([0], max_wait_ms=300, min_bytes=size + 1)
        assert await timed_fetch(apis, request) == (pytest.approx(0.3), [0])
        request = fetch_request([0, 1], max_wait_ms=300, min_bytes=2 * size)  # summed over partitions
        assert await timed_fetch(apis, request) == (0, [0, 1])


@pytest.mark.req("PRO-6", "PRO-42")
async def test_a_long_poll_below_min_bytes_answers_once_new_data_reaches_min_bytes(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with in_process() as (cluster, apis):
        size = await three_partitions_of_one_batch(cluster)
        producer = cluster.producer(acks="all")

        async def produce_at(delay: float, partition: int) -> None:
            await trio.sleep(delay)
            assert (await producer.send(TOPIC, VALUE, partition=partition)).status is SendStatus.OK

        async def poll(at: list[tuple[int, int, int]], min_bytes: int) -> tuple[float, list[int]]:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(produce_at, 0.1, 1)  # one batch: below min_bytes, the wait goes on
                nursery.start_soon(produce_at, 0.2, 2)  # another
                return await timed_fetch(apis, fetch_request(at, max_wait_ms=1_000, min_bytes=min_bytes))

        at_end = [(0, 1, 1 << 20), (1, 1, 1 << 20), (2, 1, 1 << 20)]
        elapsed, answered = await poll(at_end, 2 * size)
        assert answered == [1, 2] and 0.2 < elapsed < 0.3  # the second (sent at 0.2 s, linger.ms 5)
        at_end = [(0, 1, 1 << 20), (1, 2, 1 << 20), (2, 2, 1 << 20)]
        assert await poll(at_end, 3 * size) == (pytest.approx(1.0), [1, 2])  # never: max_wait_ms


@pytest.mark.req("PRO-42")
async def test_max_wait_ms_is_capped_at_the_brokers_fetch_max_wait(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with in_process(config=attrs.evolve(BrokerConfig(), fetch_max_wait_ms=2000)) as (cluster, apis):
        await three_partitions_of_one_batch(cluster)
        request = fetch_request([(0, 1, 1 << 20)], max_wait_ms=60_000)
        assert await timed_fetch(apis, request) == (pytest.approx(2.0), [])


@pytest.mark.req("PRO-6")
async def test_a_waiting_fetch_answers_as_soon_as_data_arrives(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with in_process() as (cluster, apis):
        await three_partitions_of_one_batch(cluster)
        producer = cluster.producer(acks="all")

        async def produce_later() -> None:
            await trio.sleep(0.1)
            assert (await producer.send(TOPIC, VALUE, partition=1)).status is SendStatus.OK

        async with trio.open_nursery() as nursery:
            nursery.start_soon(produce_later)
            request = fetch_request([(0, 1, 1 << 20), (1, 1, 1 << 20)], max_wait_ms=10_000)
            elapsed, answered = await timed_fetch(apis, request)
    assert 0.1 <= elapsed < 1 and answered == [1]


@pytest.mark.req("PRO-6")
async def test_the_long_poll_waits_in_the_broker_and_issues_no_waiting_reads(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with in_process() as (cluster, apis):
        await three_partitions_of_one_batch(cluster)
        broker = apis.broker
        read = broker.consumer_fetch
        waits: list[int] = []

        async def recording(request: ConsumerFetchRequest) -> ConsumerFetchResponse:
            waits.append(request.max_wait_ms)
            return await read(request)

        broker.consumer_fetch = recording  # type: ignore[method-assign]
        producer = cluster.producer(acks="all")

        async def produce_later() -> None:
            await trio.sleep(0.1)
            assert (await producer.send(TOPIC, VALUE, partition=1)).status is SendStatus.OK

        async with trio.open_nursery() as nursery:
            nursery.start_soon(produce_later)
            request = fetch_request([(0, 1, 1 << 20), (1, 1, 1 << 20)], max_wait_ms=10_000)
            elapsed, answered = await timed_fetch(apis, request)
    assert 0.1 <= elapsed < 1 and answered == [1]
    assert waits and set(waits) == {0}  # every read looks and returns; only the broker's wait waits


@pytest.mark.req("PRO-6")
async def test_a_verified_fetch_checks_the_batches_in_place_and_copies_no_records(
    autojump_clock: trio.testing.MockClock,
) -> None:
    for verify in (True, False):
        async with in_process(verify=verify) as (cluster, apis):
            await three_partitions_of_one_batch(cluster)
            assert with_records(await call(apis, fetch_request([0]), 11)) == [0]
            one_read = apis.transfer_metrics.header_bytes_copied  # one batch's header, checked in place
            assert (one_read > 0) is verify
            size = cluster.broker(1).broker.partitions[TopicPartition(TOPIC, 0)].log.size_in_bytes
            waiting = fetch_request([0], max_wait_ms=300, min_bytes=size + 1)  # through the long poll
            assert with_records(await call(apis, waiting, 11)) == [0]
            metrics = apis.transfer_metrics
            # The long poll's first read and its final read (the one served) verify; its wait only looks.
            assert metrics.header_bytes_copied == 3 * one_read
            assert metrics.payload_bytes_copied == 0


@pytest.mark.req("PRO-7", "PRO-22")
async def test_list_offsets_sees_only_records_below_the_high_watermark(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with open_cluster(brokers=2, seed=8) as cluster:
        await cluster.wait_for_brokers()
        (created,) = await cluster.create_topic(TOPIC, replication_factor=2)
        leader = created.leader
        await cluster.broker(3 - leader).kill()  # the follower stops: the HW stays at 0
        producer = cluster.producer(acks=1)
        for value in (b"a", b"b"):
            assert (await producer.send(TOPIC, value, partition=0)).status is SendStatus.OK
        apis = KafkaApis(cluster, leader, lambda: ADDRESS, GroupCoordinator())
        response = await call(apis, list_offsets_request([(0, 0), (0, -1)]), 5)
        partition = cluster.broker(leader).broker.partitions[TopicPartition(TOPIC, 0)]
        assert partition.log.log_end_offset == 2 and partition.high_watermark == 0
    got = [(p.error_code, p.timestamp, p.offset) for p in response.topics[0].partitions]
    assert got == [(0, -1, -1), (0, -1, 0)]
