"""ListGroups, DescribeGroups, DeleteGroups and OffsetDelete, one rule per test, in process under
trio's mock clock (PRO-128..PRO-131): a Stable ``consumer`` group ``live`` subscribed to ``t``, and
the Empty group ``g`` with committed offsets; deletions are checked again after the partition is
reloaded from the log."""

from __future__ import annotations

import warnings
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
import trio
import trio.testing

from reflog.cluster import Cluster
from reflog.errors import Errors
from reflog.kafka.apis import KafkaApis
from reflog.kafka.group_admin_apis import GROUP_OPERATIONS
from tests.kafka.test_apis_rules import answers, call, commit_request, offset_fetch_request
from tests.kafka.test_group_store_rules import brokers, loaded

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    from kafka.protocol.admin import (  # type: ignore[import-untyped]
        DeleteGroupsRequest,
        DescribeGroupsRequest,
        ListGroupsRequest,
    )
    from kafka.protocol.consumer import OffsetDeleteRequest  # type: ignore[import-untyped]

SUBSCRIPTION = b"\x00\x00" + b"\x00\x00\x00\x01" + b"\x00\x01t" + b"\xff\xff\xff\xff"
"""ConsumerProtocolSubscription v0: topics ["t"], no user data."""


async def stable_group(api: KafkaApis, group: str, protocol_type: str = "consumer") -> str:
    joined = await api.groups.join(
        group,
        "",
        client_id="client",
        client_host="/10.0.0.1",
        session_timeout_ms=30000,
        rebalance_timeout_ms=30000,
        protocol_type=protocol_type,
        protocols=[("range", SUBSCRIPTION)],
        require_known_member_id=False,
    )
    error, _ = await api.groups.sync(
        group, joined.generation_id, joined.member_id, [(joined.member_id, b"asg")]
    )
    assert error is Errors.NONE
    return joined.member_id


@asynccontextmanager
async def two_groups() -> AsyncIterator[tuple[Cluster, KafkaApis, str]]:
    """Broker 1 coordinating ``live`` (Stable, member returned) and ``g`` (Empty, offsets of t-0, t-1)."""
    async with brokers(1) as (cluster, apis, _):
        api = apis[1]
        for group in ("g", "live"):
            await loaded(api, group)
        member = await stable_group(api, "live")
        commit = await call(api, commit_request([(0, 5, None), (1, 6, None)]), 7)
        assert [p.error_code for p in commit.topics[0].partitions] == [0, 0]
        yield cluster, api, member


async def reload(cluster: Cluster, api: KafkaApis) -> None:
    """Restart broker 1: its next incarnation loads the offsets partitions from the log."""
    await cluster.broker(1).stop()
    await cluster.broker(1).restart()
    for group in ("g", "live"):
        await loaded(api, group)


def listed(response: Any) -> list[tuple[str, str, str]]:
    return [(g.group_id, g.group_state, g.group_type) for g in response.groups]


def offset_delete(group: str, topic: str, partitions: list[int]) -> Any:
    cls = OffsetDeleteRequest[0]
    parts = [cls.OffsetDeleteRequestTopic.OffsetDeleteRequestPartition(partition_index=p) for p in partitions]
    return cls(group_id=group, topics=[cls.OffsetDeleteRequestTopic(name=topic, partitions=parts)])


@pytest.mark.req("PRO-128")
async def test_list_groups_filters_by_state_and_type(autojump_clock: trio.testing.MockClock) -> None:
    async with two_groups() as (_, api, _):
        every = await call(api, ListGroupsRequest[5](states_filter=[], types_filter=[]), 5)
        assert every.error_code == 0
        assert listed(every) == [("g", "Empty", "classic"), ("live", "Stable", "classic")]
        assert [g.protocol_type for g in every.groups] == ["", "consumer"]
        stable = await call(api, ListGroupsRequest[4](states_filter=["stable"]), 4)
        assert [g.group_id for g in stable.groups] == ["live"]
        empty = await call(api, ListGroupsRequest[5](states_filter=["EMPTY"], types_filter=[]), 5)
        assert [g.group_id for g in empty.groups] == ["g"]
        consumer_type = await call(api, ListGroupsRequest[5](states_filter=[], types_filter=["consumer"]), 5)
        assert consumer_type.groups == []  # every group here is classic
        classic = await call(api, ListGroupsRequest[5](states_filter=[], types_filter=["Classic"]), 5)
        assert len(classic.groups) == 2
        old = await call(api, ListGroupsRequest[0](), 0)
        assert [g.group_id for g in old.groups] == ["g", "live"]


@pytest.mark.req("PRO-129")
async def test_describe_groups_answers_members_when_stable_and_unknown_groups_by_version(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with two_groups() as (_, api, member):
        response = await call(
            api, DescribeGroupsRequest[5](groups=["live", "g", "nope"], include_authorized_operations=True), 5
        )
        live, empty, nope = response.groups
        assert (live.error_code, live.group_state, live.protocol_type, live.protocol_data) == (
            0,
            "Stable",
            "consumer",
            "range",
        )
        (described,) = live.members
        assert (described.member_id, described.client_id, described.client_host) == (
            member,
            "client",
            "/10.0.0.1",
        )
        assert (described.member_metadata, described.member_assignment) == (SUBSCRIPTION, b"asg")
        assert live.authorized_operations == set(GROUP_OPERATIONS) == {3, 6, 8, 10, 11}
        assert (empty.group_state, empty.members, empty.protocol_data) == ("Empty", [], "")
        assert (nope.error_code, nope.group_state) == (0, "Dead")  # before v6: no error
        unasked = await call(
            api, DescribeGroupsRequest[5](groups=["live"], include_authorized_operations=False), 5
        )
        assert unasked.groups[0].authorized_operations is None  # -2147483648 on the wire
        async with trio.open_nursery() as nursery:  # a second member joins: the group rebalances
            nursery.start_soon(stable_group, api, "live")
            await trio.testing.wait_all_tasks_blocked()
            asked = DescribeGroupsRequest[5](groups=["live"], include_authorized_operations=False)
            rebalancing = await call(api, asked, 5)
            nursery.cancel_scope.cancel()
        (group,) = rebalancing.groups
        assert (group.group_state, group.protocol_data) == ("PreparingRebalance", "")
        assert [(m.member_metadata, m.member_assignment) for m in group.members] == [(b"", b"")] * 2
        v6 = await call(
            api, DescribeGroupsRequest[6](groups=["nope"], include_authorized_operations=False), 6
        )
        assert (v6.groups[0].error_code, v6.groups[0].error_message, v6.groups[0].group_state) == (
            int(Errors.GROUP_ID_NOT_FOUND),
            "Group nope not found.",
            "Dead",
        )


@pytest.mark.req("PRO-130")
async def test_delete_groups_deletes_an_empty_group_durably_and_refuses_the_others(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with two_groups() as (cluster, api, _):
        response = await call(api, DeleteGroupsRequest[2](groups_names=["live", "g", "nope"]), 2)
        assert [(r.group_id, r.error_code) for r in response.results] == [
            ("live", int(Errors.NON_EMPTY_GROUP)),
            ("g", 0),
            ("nope", int(Errors.GROUP_ID_NOT_FOUND)),
        ]
        assert "g" not in api.groups.groups
        await reload(cluster, api)
        assert "g" not in api.groups.groups and "live" in api.groups.groups  # the tombstones were committed
        assert answers(await call(api, offset_fetch_request([0, 1]), 5)) == [
            ("t", 0, -1, -1, "", 0),
            ("t", 1, -1, -1, "", 0),
        ]


@pytest.mark.req("PRO-131")
async def test_offset_delete_refuses_subscribed_topics_and_deletes_the_others_durably(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with two_groups() as (cluster, api, _):
        unknown = await call(api, offset_delete("nope", "t", [0]), 0)
        assert (unknown.error_code, unknown.topics) == (int(Errors.GROUP_ID_NOT_FOUND), [])
        subscribed = await call(api, offset_delete("live", "t", [0, 1]), 0)
        assert subscribed.error_code == 0
        assert [p.error_code for p in subscribed.topics[0].partitions] == [
            int(Errors.GROUP_SUBSCRIBED_TO_TOPIC)
        ] * 2
        other = await call(api, offset_delete("live", "u", [0]), 0)
        assert [p.error_code for p in other.topics[0].partitions] == [0]
        deleted = await call(api, offset_delete("g", "t", [0]), 0)
        assert (
            deleted.error_code,
            [(p.partition_index, p.error_code) for p in deleted.topics[0].partitions],
        ) == (
            0,
            [(0, 0)],
        )
        await reload(cluster, api)
        assert answers(await call(api, offset_fetch_request([0, 1]), 5)) == [
            ("t", 0, -1, -1, "", 0),
            ("t", 1, 6, -1, "", 0),
        ]


@pytest.mark.req("PRO-131")
async def test_offset_delete_on_a_group_of_another_protocol_with_members_is_non_empty_group(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with two_groups() as (_, api, _):
        await loaded(api, "workers")
        await stable_group(api, "workers", protocol_type="connect")
        response = await call(api, offset_delete("workers", "t", [0]), 0)
        assert response.error_code == int(Errors.NON_EMPTY_GROUP)
