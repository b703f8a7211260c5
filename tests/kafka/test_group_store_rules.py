"""The coordinator on ``__consumer_offsets``, one rule per test, in process under trio's mock clock:
Kafka's group-to-partition hash, who answers NOT_COORDINATOR, COORDINATOR_LOAD_IN_PROGRESS while a
new leader loads, a commit answered only once committed, group metadata written and loaded, and the
records byte for byte (PRO-120..PRO-125)."""

from __future__ import annotations

import warnings
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
import trio
import trio.testing

from reflog.cluster import Cluster, open_cluster
from reflog.errors import Errors
from reflog.kafka.apis import KafkaApis
from reflog.kafka.groups import GroupConfig, GroupCoordinator, GroupState
from reflog.kafka.offsets_records import (
    OFFSETS_TOPIC,
    GroupKey,
    GroupValue,
    MemberValue,
    OffsetKey,
    OffsetValue,
    decode_record,
    encode_group_key,
    encode_group_value,
    encode_offset_key,
    encode_offset_value,
    java_string_hash,
    partition_for,
)
from reflog.vocabulary import TopicPartition, node_name
from tests.kafka.test_apis_rules import answers, call, commit_request, offset_fetch_request

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    from kafka.protocol.admin import DeleteGroupsRequest  # type: ignore[import-untyped]
    from kafka.protocol.consumer import HeartbeatRequest  # type: ignore[import-untyped]
    from kafka.protocol.metadata import FindCoordinatorRequest  # type: ignore[import-untyped]

PARTITIONS = 3
CONFIG = GroupConfig(offsets_topic_num_partitions=PARTITIONS, group_initial_rebalance_delay_ms=0)


@asynccontextmanager
async def brokers(
    n: int, *, create: bool = True, run: bool = True
) -> AsyncIterator[tuple[Cluster, dict[int, KafkaApis], trio.Nursery]]:
    """``n`` brokers' APIs; ``create``: ``__consumer_offsets`` exists (``n`` replicas); ``run``: each
    store ticks (else its loads run but nothing starts them but requests)."""
    addresses = {b: ("127.0.0.1", 9090 + b) for b in range(1, n + 1)}
    async with open_cluster(brokers=n, seed=11) as cluster, trio.open_nursery() as nursery:
        await cluster.wait_for_brokers()
        apis = {}
        for b in addresses:
            apis[b] = KafkaApis(cluster, b, lambda: addresses, GroupCoordinator(CONFIG))
            if run:
                await nursery.start(apis[b].group_apis.store.run)
            else:
                apis[b].group_apis.store.attach(nursery)
        if create:
            await cluster.create_topic(OFFSETS_TOPIC, partitions=PARTITIONS, replication_factor=n)
        yield cluster, apis, nursery
        nursery.cancel_scope.cancel()


def find_coordinator(group: str) -> Any:
    return FindCoordinatorRequest[2](key=group, key_type=0)


async def loaded(apis: KafkaApis, group: str = "g") -> None:
    with trio.fail_after(60):
        while apis.group_apis.store.status(group) is not Errors.NONE:
            await trio.sleep(0.05)


# ---------------------------------------------------------------------------------------------- hash
@pytest.mark.req("PRO-121")
def test_the_group_partition_is_kafkas_hash_of_the_group_id() -> None:
    # Java: "".hashCode() == 0, "Hello World".hashCode() == -862545276, and
    # "polygenelubricants".hashCode() == Integer.MIN_VALUE, whose Utils.abs is 0 (Math.abs is not).
    assert java_string_hash("") == 0
    assert java_string_hash("Hello World") == -862545276
    assert java_string_hash("polygenelubricants") == -(2**31)
    assert java_string_hash("\U0001f600") == 31 * 0xD83D + 0xDE00  # two UTF-16 code units
    assert partition_for("polygenelubricants", 50) == 0
    assert partition_for("Hello World", 50) == 862545276 % 50
    assert partition_for("console-consumer-1", 50) == abs(java_string_hash("console-consumer-1")) % 50


@pytest.mark.req("PRO-124", "PRO-125")
def test_the_records_are_kafkas_offset_commit_and_group_metadata_schemas() -> None:
    key = encode_offset_key(OffsetKey("g", "t", 3))
    assert key == b"\x00\x01" + b"\x00\x01g" + b"\x00\x01t" + b"\x00\x00\x00\x03"
    value = encode_offset_value(OffsetValue(42, 5, "m", 1000))
    assert value == (
        b"\x00\x03"
        + (42).to_bytes(8, "big")
        + (5).to_bytes(4, "big")
        + b"\x00\x01m"
        + (1000).to_bytes(8, "big")
    )
    assert decode_record(key, value) == (OffsetKey("g", "t", 3), OffsetValue(42, 5, "m", 1000))
    assert decode_record(key, None) == (OffsetKey("g", "t", 3), None)
    # OffsetCommitValue version 1 carries an expire timestamp after the commit timestamp.
    v1 = b"\x00\x01" + (7).to_bytes(8, "big") + b"\x00\x00" + (9).to_bytes(8, "big") + (10).to_bytes(8, "big")
    assert decode_record(key, v1) == (OffsetKey("g", "t", 3), OffsetValue(7, -1, "", 9))
    member = MemberValue("m-1", None, "c", "/h", 30000, 10000, b"sub", b"asg")
    group = GroupValue("consumer", 4, "range", "m-1", 77, (member,))
    assert encode_group_key(GroupKey("g")) == b"\x00\x02\x00\x01g"
    assert decode_record(encode_group_key(GroupKey("g")), encode_group_value(group)) == (GroupKey("g"), group)
    assert decode_record(b"\x00\x05junk", b"") is None  # a key version reflog does not know
    assert decode_record(key, b"\x00\x03\x00") is None  # truncated


# ----------------------------------------------------------------------------------- who coordinates
@pytest.mark.req("PRO-120", "PRO-121")
async def test_find_coordinator_creates_the_offsets_topic_then_names_the_partition_leader(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with brokers(3, create=False) as (cluster, apis, _):
        first = await call(apis[2], find_coordinator("g"), 2)
        assert first.error_code == int(Errors.COORDINATOR_NOT_AVAILABLE) and first.node_id == -1
        with trio.fail_after(60):
            while not cluster.controller.has_partition(TopicPartition(OFFSETS_TOPIC, PARTITIONS - 1)):
                await trio.sleep(0.1)
        metadata = cluster.controller.partition(OFFSETS_TOPIC, partition_for("g", PARTITIONS))
        assert len(metadata.replicas) == 3  # offsets.topic.replication.factor 3, three brokers
        assert cluster.topic_configs[OFFSETS_TOPIC] == {"cleanup.policy": "compact"}  # Kafka's string
        assert not cluster.controller.has_partition(TopicPartition(OFFSETS_TOPIC, PARTITIONS))
        with trio.fail_after(30):
            while (answer := await call(apis[2], find_coordinator("g"), 2)).error_code:
                await trio.sleep(0.1)
        assert (
            answer.node_id
            == cluster.controller.partition(OFFSETS_TOPIC, partition_for("g", PARTITIONS)).leader
        )
        assert (answer.host, answer.port) == ("127.0.0.1", 9090 + answer.node_id)


@pytest.mark.req("PRO-120")
async def test_the_offsets_topic_replication_is_capped_to_the_live_brokers(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with brokers(2, create=False) as (cluster, apis, _):
        await call(apis[1], find_coordinator("g"), 2)
        with trio.fail_after(60):
            while not cluster.controller.has_partition(TopicPartition(OFFSETS_TOPIC, 0)):
                await trio.sleep(0.1)
        assert {len(m.replicas) for m in cluster.controller.partitions()} == {2}


@pytest.mark.req("PRO-121")
async def test_find_coordinator_names_no_leader_before_it_has_applied_its_election(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with brokers(3) as (cluster, apis, _):
        index = partition_for("g", PARTITIONS)
        leader = cluster.controller.partition(OFFSETS_TOPIC, index).leader
        await loaded(apis[leader])
        named = await call(apis[1], find_coordinator("g"), 2)
        assert (named.error_code, named.node_id) == (0, leader)
        led = cluster.broker(leader).broker.partitions[TopicPartition(OFFSETS_TOPIC, index)]
        led.leader_epoch -= 1  # the controller's newest election, not yet applied by the leader
        try:
            stale = await call(apis[1], find_coordinator("g"), 2)
        finally:
            led.leader_epoch += 1
        assert (stale.error_code, stale.node_id) == (int(Errors.COORDINATOR_NOT_AVAILABLE), -1)


@pytest.mark.req("PRO-122")
async def test_every_broker_but_the_partition_leader_answers_not_coordinator(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with brokers(3) as (cluster, apis, _):
        leader = cluster.controller.partition(OFFSETS_TOPIC, partition_for("g", PARTITIONS)).leader
        await loaded(apis[leader])
        for b, api in apis.items():
            commit = await call(api, commit_request([(0, 7, None)]), 7)
            fetch = await call(api, offset_fetch_request([0]), 5)
            expected = Errors.NONE if b == leader else Errors.NOT_COORDINATOR
            assert commit.topics[0].partitions[0].error_code == int(expected), b
            assert fetch.error_code == int(expected), b
        assert answers(await call(apis[leader], offset_fetch_request([0]), 5)) == [("t", 0, 7, -1, "", 0)]
        assert all("g" not in apis[b].groups.groups for b in apis if b != leader)


@pytest.mark.req("PRO-122", "PRO-123")
async def test_a_new_leader_answers_load_in_progress_until_it_has_loaded_the_partition(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with brokers(1, run=False) as (cluster, apis, _):
        api = apis[1]
        first = await call(api, offset_fetch_request([0]), 5)
        assert first.error_code == int(Errors.COORDINATOR_LOAD_IN_PROGRESS)
        heartbeat = await call(api, HeartbeatRequest[3](group_id="g", generation_id=1, member_id="m"), 3)
        assert heartbeat.error_code == 0  # Kafka: the group is still loading, answer NONE
        await trio.testing.wait_all_tasks_blocked()
        commit = await call(api, commit_request([(0, 7, "x")]), 7)
        assert commit.topics[0].partitions[0].error_code == 0

        await cluster.broker(1).stop()  # its leadership ends: the groups are unloaded at once
        stopped = await call(api, offset_fetch_request([0]), 5)
        assert stopped.error_code == int(Errors.NOT_COORDINATOR) and api.groups.groups == {}
        await cluster.broker(1).restart()
        with trio.fail_after(60):
            while not api.group_apis.store.led_partitions():
                await trio.sleep(0.05)
        again = await call(api, offset_fetch_request([0]), 5)
        assert again.error_code == int(Errors.COORDINATOR_LOAD_IN_PROGRESS)
        await trio.testing.wait_all_tasks_blocked()
        # loaded from the log: nothing of the group stayed in memory across the restart
        assert answers(await call(api, offset_fetch_request([0]), 5)) == [("t", 0, 7, -1, "x", 0)]


# ------------------------------------------------------------------------------------------- writes
@pytest.mark.req("PRO-124")
async def test_a_commit_is_answered_only_once_its_record_is_committed(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with brokers(2) as (cluster, apis, _):
        metadata = cluster.controller.partition(OFFSETS_TOPIC, partition_for("g", PARTITIONS))
        leader = metadata.leader
        follower = next(r for r in metadata.replicas if r != leader)
        await loaded(apis[leader])
        with trio.fail_after(60):  # both replicas in the ISR, so acks=-1 needs the follower
            while (
                len(cluster.controller.partition(OFFSETS_TOPIC, metadata.topic_partition.partition).isr) < 2
            ):
                await trio.sleep(0.1)
        cluster.network.block(node_name(follower), node_name(leader))  # the follower cannot fetch
        start = trio.current_time()
        cut = await call(apis[leader], commit_request([(0, 7, None)]), 7)
        # not committed within offsets.commit.timeout.ms: REQUEST_TIMED_OUT, as Kafka maps it
        assert cut.topics[0].partitions[0].error_code == int(Errors.COORDINATOR_NOT_AVAILABLE)
        assert trio.current_time() - start >= CONFIG.offsets_commit_timeout_ms / 1000
        assert answers(await call(apis[leader], offset_fetch_request([0]), 5)) == [("t", 0, -1, -1, "", 0)]
        cluster.network.heal()
        with trio.fail_after(120):  # as a client retries COORDINATOR_NOT_AVAILABLE
            while (
                (await call(apis[leader], commit_request([(0, 9, None)]), 7))
                .topics[0]
                .partitions[0]
                .error_code
            ):
                await trio.sleep(0.1)
        partition = apis[leader].broker.partitions[metadata.topic_partition]
        assert partition.high_watermark == partition.log.log_end_offset  # answered once committed
        assert answers(await call(apis[leader], offset_fetch_request([0]), 5)) == [("t", 0, 9, -1, "", 0)]


@pytest.mark.req("PRO-125")
async def test_a_stable_groups_metadata_is_written_and_loaded_by_the_next_leader(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with brokers(1) as (cluster, apis, _):
        api = apis[1]
        await loaded(api)
        coordinator = api.groups
        joined = await coordinator.join(
            "g",
            "",
            client_id="c",
            session_timeout_ms=10000,
            rebalance_timeout_ms=30000,
            protocol_type="consumer",
            protocols=[("range", b"subscription")],
            require_known_member_id=False,
        )
        assert joined.error is Errors.NONE
        error, _ = await coordinator.sync(
            "g", joined.generation_id, joined.member_id, [(joined.member_id, b"mine")]
        )
        assert error is Errors.NONE and coordinator.groups["g"].state is GroupState.STABLE

        await cluster.broker(1).stop()
        await cluster.broker(1).restart()
        await loaded(api)
        group = coordinator.groups["g"]
        assert group.state is GroupState.STABLE and group.generation_id == joined.generation_id
        assert group.leader_id == joined.member_id and group.protocol_name == "range"
        member = group.members[joined.member_id]
        assert (member.assignment, member.protocols, member.session_timeout) == (
            b"mine",
            [("range", b"subscription")],
            10.0,
        )
        # the member heartbeats on without rejoining
        assert coordinator.heartbeat("g", joined.generation_id, joined.member_id) is Errors.NONE


@pytest.mark.req("PRO-125", "PRO-130")
async def test_an_emptied_group_is_written_empty_and_a_deleted_one_stays_deleted(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with brokers(1) as (cluster, apis, _):
        api = apis[1]
        await loaded(api)
        coordinator = api.groups
        for group in ("g", "h"):
            joined = await coordinator.join(
                group,
                "",
                client_id="c",
                session_timeout_ms=10000,
                rebalance_timeout_ms=30000,
                protocol_type="consumer",
                protocols=[("range", b"")],
                require_known_member_id=False,
            )
            await coordinator.sync(group, joined.generation_id, joined.member_id, [])
            commit = commit_request([(0, 3, None)], generation=joined.generation_id, member=joined.member_id)
            commit.group_id = group
            assert (await call(api, commit, 7)).topics[0].partitions[0].error_code == 0
            assert coordinator.leave(group, [joined.member_id]) is Errors.NONE
        deleted = await call(api, DeleteGroupsRequest[2](groups_names=["h"]), 2)  # before "h"'s write ran
        assert deleted.results[0].error_code == 0
        await trio.testing.wait_all_tasks_blocked()

        await cluster.broker(1).stop()
        await cluster.broker(1).restart()
        await loaded(api)
        await loaded(api, "h")
        assert "h" not in coordinator.groups, "the deleted group's tombstone is its last record"
        group = coordinator.groups["g"]
        assert (group.state, group.members, group.offsets) == (GroupState.EMPTY, {}, {("t", 0): (3, "")})
