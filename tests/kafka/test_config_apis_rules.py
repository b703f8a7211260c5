"""DescribeConfigs, AlterConfigs and IncrementalAlterConfigs through :class:`KafkaApis`, one rule per
test, in process under trio's mock clock (PRO-100..PRO-104), and what an altered config does to the
live logs (LOG-27) and what survives a restart (LOG-28). Requests go through kafka-python's
classes and reflog's codec exactly as the listener decodes them."""

from __future__ import annotations

import warnings
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing

from reflog.broker.api import ProduceRequest as BrokerProduceRequest
from reflog.cluster import Cluster, open_cluster
from reflog.errors import Errors
from reflog.kafka.apis import KafkaApis
from reflog.kafka.codec import decode_request
from reflog.kafka.groups import GroupCoordinator
from reflog.log.topic_configs import TOPIC_CONFIGS
from reflog.records import Record, TimestampType, build_batch, parse_header
from reflog.replication.controller_config import ControllerConfig
from reflog.vocabulary import TopicPartition

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    from kafka.protocol.admin import (  # type: ignore[import-untyped]
        AlterConfigsRequest,
        DescribeConfigsRequest,
        IncrementalAlterConfigsRequest,
    )

TOPIC = "t"
TOPIC_TYPE, BROKER_TYPE = 2, 4
SET, DELETE, APPEND, SUBTRACT = 0, 1, 2, 3
TOPIC_CONFIG, STATIC_BROKER_CONFIG, DEFAULT_CONFIG = 1, 4, 5


@asynccontextmanager
async def in_process(
    *, controller_config: ControllerConfig | None = None, **topic_configs: str
) -> AsyncIterator[tuple[Cluster, KafkaApis]]:
    async with open_cluster(brokers=1, seed=7, controller_config=controller_config) as cluster:
        await cluster.wait_for_brokers()
        await cluster.create_topic(TOPIC, replication_factor=1, configs=topic_configs)
        yield cluster, KafkaApis(cluster, 1, lambda: {1: ("127.0.0.1", 9092)}, GroupCoordinator())


async def call(apis: KafkaApis, request: Any, version: int) -> Any:
    request.with_header(correlation_id=1, client_id="rules")
    return await apis.handle(decode_request(bytes(request.encode(version=version, header=True))))


def describe_request(
    *resources: tuple[int, str, list[str] | None], synonyms: bool = False, docs: bool = False
) -> Any:
    cls = DescribeConfigsRequest[4]
    return cls(
        resources=[
            cls.DescribeConfigsResource(resource_type=t, resource_name=n, configuration_keys=k)
            for t, n, k in resources
        ],
        include_synonyms=synonyms,
        include_documentation=docs,
    )


async def describe(apis: KafkaApis, *resources: tuple[int, str, list[str] | None], **flags: bool) -> Any:
    return (await call(apis, describe_request(*resources, **flags), 4)).results


def entries(result: Any) -> dict[str, Any]:
    return {c.name: c for c in result.configs}


def alter_request(
    resources: list[tuple[int, str, dict[str, str | None]]], validate_only: bool = False
) -> Any:
    cls = AlterConfigsRequest[2]
    res = cls.AlterConfigsResource
    return cls(
        resources=[
            res(
                resource_type=t,
                resource_name=n,
                configs=[res.AlterableConfig(name=k, value=v) for k, v in c.items()],
            )
            for t, n, c in resources
        ],
        validate_only=validate_only,
    )


def incremental_request(
    resources: list[tuple[int, str, list[tuple[str, int, str | None]]]], validate_only: bool = False
) -> Any:
    cls = IncrementalAlterConfigsRequest[1]
    res = cls.AlterConfigsResource
    return cls(
        resources=[
            res(
                resource_type=t,
                resource_name=n,
                configs=[res.AlterableConfig(name=k, config_operation=op, value=v) for k, op, v in c],
            )
            for t, n, c in resources
        ],
        validate_only=validate_only,
    )


def outcome(response: Any) -> list[tuple[int, str | None]]:
    return [(r.error_code, r.error_message) for r in response.responses]


# ------------------------------------------------------------------ DescribeConfigs (PRO-100, PRO-101)
@pytest.mark.req("PRO-100")
async def test_describe_topic_lists_every_config_with_its_source(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with in_process(**{"cleanup.policy": "compact", "retention.ms": "1000"}) as (_, apis):
        (result,) = await describe(apis, (TOPIC_TYPE, TOPIC, None))
    assert (result.error_code, result.error_message, result.resource_name) == (0, None, TOPIC)
    configs = entries(result)
    assert list(configs) == list(TOPIC_CONFIGS)
    assert (configs["cleanup.policy"].value, configs["cleanup.policy"].config_source) == (
        "compact",
        TOPIC_CONFIG,
    )
    assert (configs["retention.ms"].value, configs["retention.ms"].config_source) == ("1000", TOPIC_CONFIG)
    assert (configs["segment.bytes"].value, configs["segment.bytes"].config_source) == (
        "1073741824",
        DEFAULT_CONFIG,
    )
    assert all(not c.read_only and not c.is_sensitive and c.synonyms == [] for c in configs.values())
    assert (
        configs["cleanup.policy"].config_type == 7 and configs["min.cleanable.dirty.ratio"].config_type == 6
    )
    assert configs["segment.bytes"].config_type == 3 and configs["retention.ms"].config_type == 5
    assert all(c.documentation is None for c in configs.values())


@pytest.mark.req("PRO-100")
async def test_describe_topic_synonyms_documentation_and_key_filter(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with in_process(**{"retention.ms": "1000"}) as (_, apis):
        (result,) = await describe(
            apis, (TOPIC_TYPE, TOPIC, ["retention.ms", "segment.ms", "no.such"]), synonyms=True, docs=True
        )
    configs = entries(result)
    assert list(configs) == ["segment.ms", "retention.ms"]
    assert [(s.name, s.value, s.source) for s in configs["retention.ms"].synonyms] == [
        ("retention.ms", "1000", TOPIC_CONFIG),
        ("log.retention.ms", "604800000", DEFAULT_CONFIG),
    ]
    assert [(s.name, s.value, s.source) for s in configs["segment.ms"].synonyms] == [
        ("log.roll.ms", "604800000", DEFAULT_CONFIG)
    ]
    assert configs["retention.ms"].documentation == TOPIC_CONFIGS["retention.ms"].doc != ""


@pytest.mark.req("PRO-100")
async def test_a_broker_override_is_a_topic_configs_static_broker_source(
    autojump_clock: trio.testing.MockClock,
) -> None:
    config = ControllerConfig(min_insync_replicas=2, elect_last_known_leader=True)
    async with in_process(controller_config=config) as (_, apis):
        (result,) = await describe(apis, (TOPIC_TYPE, TOPIC, ["min.insync.replicas"]), synonyms=True)
    (entry,) = result.configs
    assert (entry.value, entry.config_source) == ("2", STATIC_BROKER_CONFIG)
    assert [(s.name, s.value, s.source) for s in entry.synonyms] == [
        ("min.insync.replicas", "2", STATIC_BROKER_CONFIG)
    ]


@pytest.mark.req("PRO-100")
async def test_describe_unknown_or_invalid_topic(autojump_clock: trio.testing.MockClock) -> None:
    async with in_process() as (_, apis):
        unknown, invalid = await describe(apis, (TOPIC_TYPE, "missing", None), (TOPIC_TYPE, "bad/name", None))
    assert (unknown.error_code, unknown.configs) == (int(Errors.UNKNOWN_TOPIC_OR_PARTITION), [])
    assert (invalid.error_code, invalid.configs) == (int(Errors.INVALID_TOPIC_EXCEPTION), [])


@pytest.mark.req("PRO-101")
async def test_describe_broker_lists_its_settings_read_only(autojump_clock: trio.testing.MockClock) -> None:
    config = ControllerConfig(min_insync_replicas=2, elect_last_known_leader=True)
    async with in_process(controller_config=config) as (_, apis):
        (mine,) = await describe(apis, (BROKER_TYPE, "1", None), synonyms=True)
        other, named, default = await describe(
            apis, (BROKER_TYPE, "2", None), (BROKER_TYPE, "one", None), (BROKER_TYPE, "", None)
        )
    configs = entries(mine)
    assert mine.error_code == 0 and all(c.read_only for c in configs.values())
    assert (configs["min.insync.replicas"].value, configs["min.insync.replicas"].config_source) == (
        "2",
        STATIC_BROKER_CONFIG,
    )
    assert (configs["replica.lag.time.max.ms"].value, configs["replica.lag.time.max.ms"].config_source) == (
        "30000",
        DEFAULT_CONFIG,
    )
    assert (
        configs["unclean.leader.election.enable"].value == "false"
        and configs["log.retention.ms"].value == "604800000"
    )
    assert (
        configs["auto.create.topics.enable"].config_type == 1
        and configs["log.segment.bytes"].config_type == 3
    )
    assert (other.error_code, named.error_code) == (int(Errors.INVALID_REQUEST), int(Errors.INVALID_REQUEST))
    assert "expected 1 or empty string, but received 2" in other.error_message
    assert named.error_message == "Broker id must be an integer, but it is: one"
    assert (default.error_code, default.configs) == (0, [])


@pytest.mark.req("PRO-104")
async def test_describe_of_a_resource_type_reflog_does_not_have(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with in_process() as (_, apis):
        (group,) = await describe(apis, (32, "g", None))
    assert (
        group.error_code == int(Errors.INVALID_REQUEST) and "Unsupported resource type" in group.error_message
    )


# ------------------------------------------------------------------ AlterConfigs (PRO-102)
def stored(cluster: Cluster) -> dict[str, str]:
    return {k: str(v) for k, v in cluster.topic_configs[TOPIC].items()}


@pytest.mark.req("PRO-102")
async def test_alter_configs_replaces_the_whole_override_set(autojump_clock: trio.testing.MockClock) -> None:
    async with in_process(**{"cleanup.policy": "compact", "retention.ms": "1000"}) as (cluster, apis):
        response = await call(apis, alter_request([(TOPIC_TYPE, TOPIC, {"segment.bytes": "4096"})]), 2)
        assert outcome(response) == [(0, None)]
        assert stored(cluster) == {"segment.bytes": "4096"}
        assert cluster.broker(1).broker.manager.logs[TopicPartition(TOPIC, 0)].config.segment_bytes == 4096  # type: ignore[union-attr]
        (result,) = await describe(apis, (TOPIC_TYPE, TOPIC, ["cleanup.policy", "segment.bytes"]))
    assert [(c.name, c.value, c.config_source) for c in result.configs] == [
        ("segment.bytes", "4096", TOPIC_CONFIG),
        ("cleanup.policy", "delete", DEFAULT_CONFIG),
    ]


@pytest.mark.req("PRO-102")
async def test_validate_only_changes_nothing(autojump_clock: trio.testing.MockClock) -> None:
    async with in_process(**{"retention.ms": "1000"}) as (cluster, apis):
        legacy = await call(apis, alter_request([(TOPIC_TYPE, TOPIC, {"retention.ms": "5"})], True), 0)
        incremental = await call(
            apis, incremental_request([(TOPIC_TYPE, TOPIC, [("retention.ms", DELETE, None)])], True), 1
        )
        invalid = await call(apis, alter_request([(TOPIC_TYPE, TOPIC, {"retention.ms": "-5"})], True), 1)
        assert stored(cluster) == {"retention.ms": "1000"}
    assert outcome(legacy) == outcome(incremental) == [(0, None)]
    assert invalid.responses[0].error_code == int(Errors.INVALID_CONFIG)


# ------------------------------------------------------------------ IncrementalAlterConfigs (PRO-103)
@pytest.mark.req("PRO-103")
async def test_incremental_set_delete_append_subtract(autojump_clock: trio.testing.MockClock) -> None:
    async with in_process(**{"retention.ms": "1000", "segment.ms": "60000"}) as (cluster, apis):
        ops = [("retention.ms", DELETE, None), ("cleanup.policy", APPEND, "compact"), ("flush.ms", SET, "10")]
        first = await call(apis, incremental_request([(TOPIC_TYPE, TOPIC, ops)]), 1)
        assert stored(cluster) == {
            "segment.ms": "60000",
            "cleanup.policy": "delete,compact",
            "flush.ms": "10",
        }
        second = await call(
            apis, incremental_request([(TOPIC_TYPE, TOPIC, [("cleanup.policy", SUBTRACT, "delete")])]), 0
        )
        assert stored(cluster)["cleanup.policy"] == "compact"
        third = await call(
            apis,
            incremental_request([(TOPIC_TYPE, TOPIC, [("cleanup.policy", APPEND, "compact,delete")])]),
            1,
        )
        assert (
            stored(cluster)["cleanup.policy"] == "compact,delete"
        )  # an element already there is not repeated
        log = cluster.broker(1).broker.manager.logs[TopicPartition(TOPIC, 0)]  # type: ignore[union-attr]
    assert outcome(first) == outcome(second) == outcome(third) == [(0, None)]
    assert log.config.cleanup_policy == frozenset({"compact", "delete"}) and log.config.flush_ms == 10
    assert log.config.retention_ms == TOPIC_CONFIGS["retention.ms"].default


@pytest.mark.req("PRO-103")
async def test_append_or_subtract_on_a_config_that_is_not_a_list(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with in_process() as (cluster, apis):
        append = await call(
            apis, incremental_request([(TOPIC_TYPE, TOPIC, [("retention.ms", APPEND, "5")])]), 1
        )
        subtract = await call(
            apis, incremental_request([(TOPIC_TYPE, TOPIC, [("compression.type", SUBTRACT, "lz4")])]), 1
        )
        unknown_op = await call(
            apis, incremental_request([(TOPIC_TYPE, TOPIC, [("retention.ms", 7, "5")])]), 1
        )
        assert stored(cluster) == {}
    assert outcome(append) == [
        (int(Errors.INVALID_CONFIG), "Config value append is not allowed for config key: retention.ms")
    ]
    assert outcome(subtract)[0][0] == int(Errors.INVALID_CONFIG)
    assert outcome(unknown_op) == [(int(Errors.INVALID_REQUEST), "Unknown operations type 7")]


# ------------------------------------------------------------------ refusals (PRO-104)
@pytest.mark.req("PRO-104")
async def test_alter_refusals_carry_kafkas_codes_and_change_nothing(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with in_process(**{"retention.ms": "1000"}) as (cluster, apis):
        twice = await call(
            apis, alter_request([(TOPIC_TYPE, TOPIC, {"retention.ms": "1"}), (TOPIC_TYPE, TOPIC, {})]), 2
        )
        null = await call(apis, alter_request([(TOPIC_TYPE, TOPIC, {"retention.ms": None})]), 2)
        dup_keys = await call(
            apis,
            incremental_request([(TOPIC_TYPE, TOPIC, [("flush.ms", SET, "1"), ("flush.ms", DELETE, None)])]),
            1,
        )
        bad_value = await call(
            apis, incremental_request([(TOPIC_TYPE, TOPIC, [("compression.type", SET, "brotli")])]), 1
        )
        unknown_name = await call(apis, alter_request([(TOPIC_TYPE, TOPIC, {"no.such": "1"})]), 2)
        missing = await call(apis, alter_request([(TOPIC_TYPE, "missing", {"retention.ms": "1"})]), 2)
        broker = await call(
            apis, incremental_request([(BROKER_TYPE, "1", [("log.retention.ms", SET, "1")])]), 1
        )
        assert stored(cluster) == {"retention.ms": "1000"}
    assert outcome(twice) == [(int(Errors.INVALID_REQUEST), "Each resource must appear at most once.")] * 2
    assert outcome(null) == [(int(Errors.INVALID_REQUEST), "Null value not supported for : retention.ms")]
    assert outcome(dup_keys) == [(int(Errors.INVALID_REQUEST), "Error due to duplicate config keys")]
    assert outcome(bad_value)[0][0] == int(Errors.INVALID_CONFIG)
    assert "String must be one of: uncompressed, zstd" in str(outcome(bad_value)[0][1])
    assert outcome(unknown_name) == [(int(Errors.INVALID_CONFIG), "Unknown topic config name: no.such")]
    assert outcome(missing)[0][0] == int(Errors.UNKNOWN_TOPIC_OR_PARTITION)
    assert outcome(broker) == [
        (int(Errors.INVALID_CONFIG), "Cannot update these configs dynamically: log.retention.ms")
    ]


# ------------------------------------------------------------------ the live logs (LOG-27)
def batch(size: int = 10, timestamp: int = 1_000) -> bytes:
    return build_batch([Record(key=b"k", value=bytes(size), timestamp=timestamp)])


@pytest.mark.req("LOG-27")
async def test_an_altered_config_takes_effect_on_the_live_partition(
    autojump_clock: trio.testing.MockClock,
) -> None:
    tp = TopicPartition(TOPIC, 0)
    async with in_process() as (cluster, _):
        broker = cluster.broker(1).broker
        first = await broker.produce(BrokerProduceRequest(tp, batch(500), 1, 1000))
        await cluster.alter_topic_configs(
            TOPIC,
            {
                "max.message.bytes": "200",
                "message.timestamp.type": "LogAppendTime",
                "min.insync.replicas": "3",
            },
        )
        too_large = await broker.produce(BrokerProduceRequest(tp, batch(500), 1, 1000))
        stamped = await broker.produce(BrokerProduceRequest(tp, batch(10), 1, 1000))
        assert broker.partitions[tp].config.min_insync_replicas == 3
        assert cluster.controller.topic_config(TOPIC).min_insync_replicas == 3
        await cluster.alter_topic_configs(TOPIC, {})
        plain = await broker.produce(BrokerProduceRequest(tp, batch(500), 1, 1000))
        log = broker.partitions[tp].log
        stored_header = parse_header(log.read_records(stamped.base_offset, 1 << 20))
    assert (first.error, first.log_append_time_ms) == (Errors.NONE, -1)
    assert too_large.error is Errors.MESSAGE_TOO_LARGE
    assert stamped.error is Errors.NONE
    assert stamped.log_append_time_ms > 1_000
    assert stored_header.timestamp_type is TimestampType.LOG_APPEND_TIME
    assert stored_header.max_timestamp == stamped.log_append_time_ms
    assert (plain.error, plain.log_append_time_ms) == (Errors.NONE, -1)


@pytest.mark.req("LOG-27")
async def test_a_lower_segment_bytes_rolls_the_live_log(autojump_clock: trio.testing.MockClock) -> None:
    tp = TopicPartition(TOPIC, 0)
    async with in_process() as (cluster, _):
        broker = cluster.broker(1).broker
        for _ in range(3):
            await broker.produce(BrokerProduceRequest(tp, batch(100), 1, 1000))
        log = broker.partitions[tp].log
        assert len(log.segments) == 1
        await cluster.alter_topic_configs(TOPIC, {"segment.bytes": "200"})
        for _ in range(3):
            await broker.produce(BrokerProduceRequest(tp, batch(100), 1, 1000))
        assert len(log.segments) >= 3


# ------------------------------------------------------------------ restart (LOG-28)
@pytest.mark.req("LOG-28")
async def test_altered_configs_survive_a_restart_of_everything(
    autojump_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    tp = TopicPartition(TOPIC, 0)
    last_leader = ControllerConfig(elect_last_known_leader=True)  # as reflog serve (PRO-60)
    async with open_cluster(brokers=1, seed=7, storage="os", directory=tmp_path) as cluster:
        await cluster.create_topic(TOPIC, replication_factor=1, configs={"cleanup.policy": "compact"})
        await cluster.alter_topic_configs(TOPIC, {"max.message.bytes": "200", "compression.type": "zstd"})
    async with open_cluster(
        brokers=1, seed=7, storage="os", directory=tmp_path, controller_config=last_leader
    ) as cluster:
        await cluster.wait_for_leaders(TOPIC)
        assert cluster.topic_configs[TOPIC] == {"max.message.bytes": "200", "compression.type": "zstd"}
        broker = cluster.broker(1).broker
        too_large = await broker.produce(BrokerProduceRequest(tp, batch(500), 1, 1000))
        assert broker.partitions[tp].log.config.compression_type == "zstd"
        assert broker.partitions[tp].log.config.cleanup_policy == frozenset({"delete"})
    assert too_large.error is Errors.MESSAGE_TOO_LARGE


@pytest.mark.req("LOG-27")
async def test_acks_all_needs_the_clusters_min_isr_until_the_topic_overrides_it(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """``min.insync.replicas`` set for the cluster applies to a topic without its own, and an altered
    topic value replaces it on the live partition."""
    tp = TopicPartition(TOPIC, 0)
    config = ControllerConfig(min_insync_replicas=2, elect_last_known_leader=True)
    async with open_cluster(brokers=2, seed=7, controller_config=config) as cluster:
        await cluster.create_topic(TOPIC, replication_factor=2)
        leader = cluster.controller.partition(TOPIC, 0).leader
        follower = 3 - leader
        await cluster.broker(follower).kill()
        with trio.fail_after(120):
            while cluster.controller.partition(TOPIC, 0).isr != (leader,):
                await trio.sleep(1)
        await trio.sleep(31)  # past replica.lag.time.max.ms: the dead follower no longer holds the HW
        broker = cluster.broker(leader).broker
        refused = await broker.produce(BrokerProduceRequest(tp, batch(), -1, 1000))
        await cluster.alter_topic_configs(TOPIC, {"min.insync.replicas": "1"})
        accepted = await broker.produce(BrokerProduceRequest(tp, batch(), -1, 1000))
    assert refused.error is Errors.NOT_ENOUGH_REPLICAS
    assert accepted.error is Errors.NONE
