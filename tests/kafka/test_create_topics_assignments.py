"""CreateTopics with a manual replica assignment (PRO-145), in process on 3 brokers under a mock clock:
the replicas as named, and each of Kafka's refusals with its code and message, creating nothing."""

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
from reflog.kafka.groups import GroupCoordinator
from tests.kafka.test_apis_rules import call

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    from kafka.protocol.admin import CreateTopicsRequest  # type: ignore[import-untyped]

ADDRESSES = {b: ("127.0.0.1", 9091 + b) for b in (1, 2, 3)}


@asynccontextmanager
async def three_brokers() -> AsyncIterator[tuple[Cluster, KafkaApis]]:
    async with open_cluster(brokers=3, seed=7) as cluster:
        await cluster.wait_for_brokers()
        yield cluster, KafkaApis(cluster, 1, lambda: ADDRESSES, GroupCoordinator())


def request(
    name: str,
    assignments: list[tuple[int, list[int]]],
    *,
    partitions: int = -1,
    replication: int = -1,
    configs: dict[str, str] | None = None,
    validate_only: bool = False,
) -> Any:
    topic = CreateTopicsRequest[4].CreatableTopic
    return CreateTopicsRequest[4](
        topics=[
            topic(
                name=name,
                num_partitions=partitions,
                replication_factor=replication,
                assignments=[
                    topic.CreatableReplicaAssignment(partition_index=i, broker_ids=b) for i, b in assignments
                ],
                configs=[topic.CreatableTopicConfig(name=k, value=v) for k, v in (configs or {}).items()],
            )
        ],
        timeout_ms=10_000,
        validate_only=validate_only,
    )


def exists(cluster: Cluster, name: str) -> bool:
    return any(m.topic_partition.topic == name for m in cluster.controller.partitions())


async def create(apis: KafkaApis, *args: Any, **kwargs: Any) -> tuple[int, str | None]:
    (result,) = (await call(apis, request(*args, **kwargs), 4)).topics
    return int(result.error_code), result.error_message


@pytest.mark.req("PRO-145")
async def test_a_manual_assignment_places_each_partitions_replicas_as_named(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with three_brokers() as (cluster, apis):
        assert await create(apis, "placed", [(1, [2, 3]), (0, [3, 1]), (2, [1, 2])]) == (0, None)
        placed = [cluster.controller.partition("placed", p) for p in range(3)]
        assert [s.replicas for s in placed] == [(3, 1), (2, 3), (1, 2)]
        assert [s.leader for s in placed] == [3, 2, 1]  # the first replica, the preferred leader
        assert cluster.controller.topic_config("placed").replication_factor == 2


@pytest.mark.req("PRO-145")
@pytest.mark.parametrize(
    ("assignments", "counts", "error", "message"),
    [
        (
            [(0, [1, 2])],
            (-1, 2),
            Errors.INVALID_REQUEST,
            "A manual partition assignment was specified, but replication factor was not set to -1.",
        ),
        (
            [(0, [1, 2])],
            (1, -1),
            Errors.INVALID_REQUEST,
            "A manual partition assignment was specified, but numPartitions was not set to -1.",
        ),
        (
            [(0, [1, 2]), (0, [2, 3])],
            (-1, -1),
            Errors.INVALID_REPLICA_ASSIGNMENT,
            "Found multiple manual partition assignments for partition 0",
        ),
        (
            [(0, [])],
            (-1, -1),
            Errors.INVALID_REPLICA_ASSIGNMENT,
            "The manual partition assignment includes an empty replica list.",
        ),
        (
            [(0, [9, 1, 7])],
            (-1, -1),
            Errors.INVALID_REPLICA_ASSIGNMENT,
            "The manual partition assignment includes broker 7, but no such broker is registered.",
        ),
        (
            [(0, [2, 1, 2])],
            (-1, -1),
            Errors.INVALID_REPLICA_ASSIGNMENT,
            "The manual partition assignment includes the broker 2 more than once.",
        ),
        (
            [(0, [1, 2]), (1, [1])],
            (-1, -1),
            Errors.INVALID_REPLICA_ASSIGNMENT,
            "The manual partition assignment includes a partition with 1 replica(s), but this is not"
            " consistent with previous partitions, which have 2 replica(s).",
        ),
        (
            [(0, [1]), (2, [2])],
            (-1, -1),
            Errors.INVALID_REPLICA_ASSIGNMENT,
            "partitions should be a consecutive 0-based integer sequence",
        ),
        (
            [(1, [1])],
            (-1, -1),
            Errors.INVALID_REPLICA_ASSIGNMENT,
            "partitions should be a consecutive 0-based integer sequence",
        ),
    ],
)
async def test_an_invalid_manual_assignment_is_refused_as_kafka_refuses_it(
    autojump_clock: trio.testing.MockClock,
    assignments: list[tuple[int, list[int]]],
    counts: tuple[int, int],
    error: Errors,
    message: str,
) -> None:
    async with three_brokers() as (cluster, apis):
        partitions, replication = counts
        got = await create(apis, "refused", assignments, partitions=partitions, replication=replication)
        assert got == (int(error), message)
        assert not exists(cluster, "refused")


@pytest.mark.req("PRO-145")
async def test_a_partition_whose_assigned_brokers_are_all_down_is_refused(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with three_brokers() as (cluster, apis):
        await cluster.broker(2).stop()
        await cluster.broker(3).stop()
        while any(b.is_active for b in cluster.controller.brokers() if b.broker_id != 1):
            await trio.sleep(0.1)
        assert await create(apis, "down", [(0, [1, 2]), (1, [3, 2])]) == (
            int(Errors.INVALID_REPLICA_ASSIGNMENT),
            "All brokers specified in the manual partition assignment for partition 1"
            " are fenced or in controlled shutdown.",
        )
        assert not exists(cluster, "down")
        # A partition with one active replica is placed: that replica is its ISR and leader.
        assert await create(apis, "up", [(0, [2, 1])]) == (0, None)
        state = cluster.controller.partition("up", 0)
        assert (state.replicas, state.isr, state.leader) == ((2, 1), (1,), 1)


@pytest.mark.req("PRO-145")
async def test_existence_and_configs_are_checked_before_the_assignment_and_validate_only_creates_nothing(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with three_brokers() as (cluster, apis):
        await cluster.create_topic("exists", partitions=1, replication_factor=1)
        assert (await create(apis, "exists", [(0, [])]))[0] == int(Errors.TOPIC_ALREADY_EXISTS)
        bad_config = await create(apis, "configured", [(0, [])], configs={"flush.messages": "0"})
        assert bad_config[0] == int(Errors.INVALID_CONFIG)
        assert await create(apis, "checked", [(0, [1, 2])], validate_only=True) == (0, None)
        assert not exists(cluster, "checked")
