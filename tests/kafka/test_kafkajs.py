"""KafkaJS 2.2.4 (Node.js), unchanged, against ``reflog serve``'s listeners: admin calls, an idempotent
producer at ``acks=-1``, a two-member consumer group that rebalances, consumes and commits, and a
second run of the group that resumes from the committed offsets.

Each test asserts on what KafkaJS itself reports (admin results, record metadata, the assignment
its GROUP_JOIN event names, the records it delivered, the offsets it fetched back), and where it
can on what reflog holds (the stored batches), so a wrong answer from reflog fails it. The admin
calls that need an API another branch of issue 16 adds are ``xfail(strict=True)``: they turn
green, and then must stay green, once that API is served.
"""

from __future__ import annotations

import uuid
import warnings
from typing import Any

import pytest

from reflog.kafka.topic_apis import CLUSTER_ID
from reflog.records import Compression, parse_header
from reflog.storage.sim import PowerLossMode
from reflog.vocabulary import TopicPartition
from tests.kafka.kafkajs import KafkaJSProcess, admin, result, run_kafkajs
from tests.kafka.served import ServedCluster

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import kafka  # type: ignore[import-untyped]

TOPIC_RESOURCE = 2  # KafkaJS's ConfigResourceTypes.TOPIC (Kafka's ConfigResource.Type.TOPIC)


def fresh(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def create(served: ServedCluster, topic: str, partitions: int = 2, **configs: str) -> None:
    """Create ``topic`` through KafkaJS's admin (replication factor 3), waiting for its leaders."""
    spec: dict[str, Any] = {"topic": topic, "numPartitions": partitions, "replicationFactor": 3}
    spec["configEntries"] = [{"name": k.replace("_", "."), "value": v} for k, v in configs.items()]
    (event,) = admin(served.bootstrap, ("createTopics", [{"topics": [spec]}]))
    assert result(event) is True


def produce(served: ServedCluster, topic: str, messages: list[dict[str, Any]], **options: Any) -> list[Any]:
    """One ``producer.send`` of an idempotent KafkaJS producer at ``acks=-1``; its RecordMetadata."""
    events = run_kafkajs("produce", served.bootstrap, {"topic": topic, "messages": messages, **options})
    assert [e["event"] for e in events] == ["sent"], events
    metadata: list[Any] = events[0]["metadata"]
    return sorted(metadata, key=lambda m: m["partition"])


def records(prefix: str, count: int, partitions: int = 2) -> list[dict[str, Any]]:
    return [{"key": f"k{i}", "value": f"{prefix}-{i}", "partition": i % partitions} for i in range(count)]


def committed(served: ServedCluster, group: str, topic: str) -> dict[int, str]:
    """The group's committed offsets of ``topic`` as KafkaJS's admin fetches them."""
    (event,) = admin(served.bootstrap, ("fetchOffsets", [{"groupId": group, "topics": [topic]}]))
    (entry,) = result(event)
    assert entry["topic"] == topic
    return {p["partition"]: p["offset"] for p in entry["partitions"]}


def run_group(
    served: ServedCluster, topic: str, group: str, members: int, expect: int, then: list[dict[str, Any]]
) -> dict[str, Any]:
    """Run the script's ``group`` command; its events sorted by kind and member."""
    args = {"topic": topic, "groupId": group, "members": members, "expect": expect, "produce": then}
    events = run_kafkajs("group", served.bootstrap, args, timeout=90)
    first_consumed = next(i for i, e in enumerate(events) if e["event"] == "consumed")
    joins: dict[int, list[list[int]]] = {}
    for e in events[:first_consumed]:  # joins after consumption are the members leaving
        if e["event"] == "joined":
            joins.setdefault(e["member"], []).append(sorted(e["assignment"]))
    return {
        "joins": joins,
        "consumed": {e["member"]: e["records"] for e in events if e["event"] == "consumed"},
        "committed": {e["member"]: e["offsets"] for e in events if e["event"] == "committed"},
    }


def read_partition(bootstrap: str, topic: str, partition: int) -> list[bytes]:
    """Every value of the partition up to its high watermark, read by kafka-python (an independent
    client): the end offset is asked first, so the read stops there instead of waiting for news."""
    consumer = kafka.KafkaConsumer(bootstrap_servers=bootstrap, consumer_timeout_ms=10_000)
    try:
        tp = kafka.TopicPartition(topic, partition)
        consumer.assign([tp])
        end = consumer.end_offsets([tp])[tp]
        consumer.seek_to_beginning()
        values: list[bytes] = []
        for message in consumer if end > 0 else []:
            values.append(message.value)
            if message.offset >= end - 1:
                break
        return values
    finally:
        consumer.close()


def stored_headers(served: ServedCluster, topic: str, partition: int) -> list[Any]:
    """The batch headers the partition's leader stores."""
    assert served.kafka is not None
    cluster = served.kafka.cluster
    tp = TopicPartition(topic, partition)

    async def read() -> list[Any]:
        leader = cluster.controller.partition(topic, partition).leader
        view = cluster.broker(leader).replica(tp)
        assert view is not None
        return [parse_header(batch) for batch in view.batches()]

    headers: list[Any] = served.call(read)
    return headers


# ---------------------------------------------------------------------------------- admin
@pytest.mark.req("PRO-1", "PRO-2", "PRO-7", "PRO-8", "PRO-21")
def test_kafkajs_admin_creates_lists_and_describes_topics(served: ServedCluster) -> None:
    assert served.kafka is not None
    topic = fresh("js-admin")
    spec = {
        "topic": topic,
        "numPartitions": 3,
        "replicationFactor": 3,
        "configEntries": [{"name": "min.insync.replicas", "value": "2"}],
    }
    created, again, bad_name, bad_config, listed, metadata, offsets, cluster = admin(
        served.bootstrap,
        ("createTopics", [{"topics": [spec]}]),
        ("createTopics", [{"topics": [spec]}]),
        ("createTopics", [{"topics": [{"topic": "no/slash"}]}]),
        (
            "createTopics",
            [
                {
                    "topics": [
                        {"topic": fresh("js-bad"), "configEntries": [{"name": "retention.ms", "value": "x"}]}
                    ]
                }
            ],
        ),
        ("listTopics", []),
        ("fetchTopicMetadata", [{"topics": [topic]}]),
        ("fetchTopicOffsets", [topic]),
        ("describeCluster", []),
    )
    assert result(created) is True
    assert result(again) is False  # KafkaJS reports TOPIC_ALREADY_EXISTS as "not created"
    assert [e["type"] for e in bad_name["error"]["errors"]] == ["INVALID_TOPIC_EXCEPTION"]
    assert [e["type"] for e in bad_config["error"]["errors"]] == ["INVALID_CONFIG"]
    assert topic in result(listed)
    assert served.kafka.cluster.topic_configs[topic] == {"min.insync.replicas": "2"}  # Kafka's text

    (described,) = result(metadata)["topics"]
    assert described["name"] == topic
    controller = served.kafka.cluster.controller
    assert [p["partitionId"] for p in sorted(described["partitions"], key=lambda p: p["partitionId"])] == [
        0,
        1,
        2,
    ]
    for p in described["partitions"]:
        state = controller.partition(topic, p["partitionId"])
        assert p["partitionErrorCode"] == 0
        assert p["leader"] == state.leader
        assert sorted(p["replicas"]) == [1, 2, 3]
        assert sorted(p["isr"]) == sorted(state.isr)

    assert sorted(result(offsets), key=lambda o: o["partition"]) == [
        {"partition": i, "offset": "0", "high": "0", "low": "0"} for i in range(3)
    ]
    described_cluster = result(cluster)
    assert described_cluster["clusterId"] == CLUSTER_ID
    assert sorted(described_cluster["brokers"], key=lambda b: b["nodeId"]) == [
        {"nodeId": node, "host": host, "port": port}
        for node, (host, port) in sorted(served.kafka.addresses.items())
    ]
    assert described_cluster["controller"] in served.kafka.addresses


@pytest.mark.req("PRO-145")
def test_kafkajs_admin_creates_a_topic_with_a_replica_assignment(served: ServedCluster) -> None:
    topic = fresh("js-placed")
    placement = [{"partition": 0, "replicas": [3, 1]}, {"partition": 1, "replicas": [2, 3]}]
    placed, metadata, refused = admin(
        served.bootstrap,
        ("createTopics", [{"topics": [{"topic": topic, "replicaAssignment": placement}]}]),
        ("fetchTopicMetadata", [{"topics": [topic]}]),
        (
            "createTopics",
            [
                {
                    "topics": [
                        {
                            "topic": fresh("js-unplaced"),
                            "replicaAssignment": [{"partition": 0, "replicas": [1, 7]}],
                        }
                    ]
                }
            ],
        ),
    )
    assert result(placed) is True
    (described,) = result(metadata)["topics"]
    partitions = sorted(described["partitions"], key=lambda p: p["partitionId"])
    assert [(p["replicas"], p["leader"]) for p in partitions] == [([3, 1], 3), ([2, 3], 2)]
    assert [e["type"] for e in refused["error"]["errors"]] == ["INVALID_REPLICA_ASSIGNMENT"]


@pytest.mark.req("PRO-7", "PRO-12", "PRO-22")
def test_kafkajs_admin_fetches_offsets_by_position_timestamp_and_group(served: ServedCluster) -> None:
    topic = fresh("js-offsets")
    create(served, topic)
    produce(served, topic, records("v", 10))
    latest, earliest_by_time, future, never_committed = admin(
        served.bootstrap,
        ("fetchTopicOffsets", [topic]),
        ("fetchTopicOffsetsByTimestamp", [topic, 0]),
        ("fetchTopicOffsetsByTimestamp", [topic, 2**52]),
        ("fetchOffsets", [{"groupId": fresh("js-nobody"), "topics": [topic]}]),
    )
    assert sorted(result(latest), key=lambda o: o["partition"]) == [
        {"partition": p, "offset": "5", "high": "5", "low": "0"} for p in range(2)
    ]
    assert sorted(result(earliest_by_time), key=lambda o: o["partition"]) == [
        {"partition": p, "offset": "0"} for p in range(2)
    ]
    # No record at or after the timestamp: KafkaJS falls back to the latest offset.
    assert sorted(result(future), key=lambda o: o["partition"]) == [
        {"partition": p, "offset": "5"} for p in range(2)
    ]
    ((entry,),) = [result(never_committed)]
    assert sorted((p["partition"], p["offset"]) for p in entry["partitions"]) == [(0, "-1"), (1, "-1")]


# ---------------------------------------------------------------------------------- producer
@pytest.mark.req("PRO-3", "PRO-4", "PRO-5", "PRO-6")
def test_kafkajs_idempotent_producer_produces_with_acks_all(served: ServedCluster) -> None:
    topic = fresh("js-produce")
    create(served, topic, min_insync_replicas="2")
    first = records("a", 20)
    second = records("b", 6)
    assert produce(served, topic, first, compression="GZIP") == [
        {
            "topicName": topic,
            "partition": p,
            "errorCode": 0,
            "baseOffset": "0",
            "logAppendTime": "-1",
            "logStartOffset": "0",
        }
        for p in range(2)
    ]
    # A second producer (a new producer id) appends after the first one's records.
    assert [m["baseOffset"] for m in produce(served, topic, second)] == ["10", "10"]

    for partition in range(2):
        expected = [r["value"].encode() for r in first + second if r["partition"] == partition]
        assert read_partition(served.bootstrap, topic, partition) == expected
        headers = stored_headers(served, topic, partition)
        assert [h.compression for h in headers] == [Compression.GZIP, Compression.NONE]
        producer_ids = [h.producer_id for h in headers]
        assert all(pid >= 0 for pid in producer_ids) and len(set(producer_ids)) == 2, producer_ids
        assert [h.base_sequence for h in headers] == [0, 0]


@pytest.mark.req("PRO-14")
def test_records_acknowledged_to_kafkajs_survive_the_leader_losing_power() -> None:
    """PRO-14 for KafkaJS: its idempotent producer sends one record at a time at ``acks=-1`` while the
    partition leader loses power (page cache gone) and later restarts; KafkaJS retries through the
    failover, and every record it saw acknowledged is read back afterwards, each once."""
    count = 90
    served = ServedCluster(3)
    try:
        topic = fresh("js-durable")
        served.create_topic(topic, partitions=1, replication_factor=3, min_insync_replicas=2)
        assert served.kafka is not None
        cluster = served.kafka.cluster
        leader = cluster.controller.partition(topic, 0).leader
        args = {"topic": topic, "count": count, "pauseAt": [count // 3, 2 * count // 3]}
        with KafkaJSProcess("produce-through", served.bootstrap, args) as producer:
            producer.until("paused")
            report = served.call(cluster.broker(leader).power_off, PowerLossMode.CLEAN)
            producer.go()
            producer.until("paused")
            served.call(cluster.broker(leader).restart)
            producer.go()
            events = producer.finish(timeout=120)
        acked = [e for e in events if e["event"] == "acked"]
        assert len(acked) > 2 * count // 3, [e for e in events if e["event"] == "failed"][:3]
        assert report.lost_pages, "the leader had unflushed pages, and lost them"
        assert cluster.controller.partition(topic, 0).leader_epoch > 0, "leadership moved"
        # Offsets KafkaJS was given grow with each acknowledgement (one record per send).
        offsets = [int(e["offset"]) for e in acked]
        assert offsets == sorted(set(offsets)), offsets

        read = read_partition(served.bootstrap, topic, 0)
        assert sorted(set(read)) == sorted(read), "a retried send was written twice"
        missing = [e["value"] for e in acked if e["value"].encode() not in read]
        assert not missing, f"{len(missing)} acknowledged records lost: {missing[:5]}"
        assert [read.index(e["value"].encode()) for e in acked] == offsets
    finally:
        served.close()


# ---------------------------------------------------------------------------------- consumer group
def assert_rebalanced_over_two(run: dict[str, Any]) -> None:
    """Member 0 first held both partitions; after member 1 joined, each holds one."""
    joins = run["joins"]
    assert joins[0][0] == [0, 1], joins
    final = [joins[0][-1], joins[1][-1]]
    assert sorted(final[0] + final[1]) == [0, 1] and all(final), joins


@pytest.mark.req("PRO-9", "PRO-10", "PRO-11", "PRO-12")
def test_kafkajs_group_of_two_rebalances_consumes_everything_and_commits(served: ServedCluster) -> None:
    topic, group = fresh("js-group"), fresh("js-g")
    create(served, topic)
    before, after = records("pre", 10), records("post", 10)
    produce(served, topic, before)

    run = run_group(served, topic, group, members=2, expect=20, then=after)

    assert_rebalanced_over_two(run)
    consumed = run["consumed"][0] + run["consumed"][1]
    # At least once: the partition member 1 took over is read again from its start (member 0 had
    # committed nothing), so values repeat, but every record arrived, each at one offset.
    assert {r["value"] for r in consumed} == {r["value"] for r in before + after}
    assert len({(r["partition"], r["offset"]) for r in consumed}) == 20
    assert len({(r["partition"], r["offset"], r["value"]) for r in consumed}) == 20
    # Member 1 only ever held its one partition, and read it from the start (nothing committed).
    (share,) = run["joins"][1][-1:]
    assert {r["partition"] for r in run["consumed"][1]} <= set(share)
    assert all(r["key"] == f"k{r['value'].split('-')[1]}" for r in consumed)
    # Each member committed its partition's next offset, and the coordinator kept them.
    commits = {c["partition"]: c["offset"] for member in (0, 1) for c in run["committed"][member]}
    assert commits == {0: "10", 1: "10"}
    assert committed(served, group, topic) == {0: "10", 1: "10"}


@pytest.mark.req("PRO-10", "PRO-12")
def test_kafkajs_group_resumes_from_its_committed_offsets(served: ServedCluster) -> None:
    topic, group = fresh("js-resume"), fresh("js-g")
    create(served, topic)
    old = records("old", 8)
    produce(served, topic, old[:4])
    first = run_group(served, topic, group, members=2, expect=8, then=old[4:])
    assert_rebalanced_over_two(first)
    assert committed(served, group, topic) == {0: "4", 1: "4"}

    new = records("new", 6)
    produce(served, topic, new)
    again = run_group(served, topic, group, members=1, expect=6, then=[])

    # fromBeginning applies only without a committed offset: the group resumes at 4 on each
    # partition, so it sees the new records only, and the first of each partition at offset 4.
    got = again["consumed"][0]
    assert sorted(r["value"] for r in got) == sorted(r["value"] for r in new)
    for partition in (0, 1):
        offsets = [int(r["offset"]) for r in got if r["partition"] == partition]
        assert offsets == [4, 5, 6], (partition, offsets)
    assert committed(served, group, topic) == {0: "7", 1: "7"}


# ---------------------------------------------------------------------------------- other branches
def needs(api: str) -> pytest.MarkDecorator:
    return pytest.mark.xfail(strict=True, reason=f"needs {api} (issue 16, another branch)")


@pytest.mark.req("PRO-8")
def test_kafkajs_admin_deletes_a_topic(served: ServedCluster) -> None:
    topic = fresh("js-delete")
    create(served, topic)
    deleted, listed = admin(served.bootstrap, ("deleteTopics", [{"topics": [topic]}]), ("listTopics", []))
    result(deleted)
    assert topic not in result(listed)


@pytest.mark.req("PRO-8")
def test_kafkajs_admin_adds_partitions(served: ServedCluster) -> None:
    topic = fresh("js-grow")
    create(served, topic, partitions=1)
    grown, metadata = admin(
        served.bootstrap,
        ("createPartitions", [{"topicPartitions": [{"topic": topic, "count": 3}]}]),
        ("fetchTopicMetadata", [{"topics": [topic]}]),
    )
    result(grown)
    (described,) = result(metadata)["topics"]
    assert sorted(p["partitionId"] for p in described["partitions"]) == [0, 1, 2]


@pytest.mark.req("PRO-21")
def test_kafkajs_admin_describes_and_alters_topic_configs(served: ServedCluster) -> None:
    topic = fresh("js-configs")
    create(served, topic, min_insync_replicas="2")
    resource = {"type": TOPIC_RESOURCE, "name": topic}
    before, altered, after = admin(
        served.bootstrap,
        ("describeConfigs", [{"resources": [resource], "includeSynonyms": False}]),
        (
            "alterConfigs",
            [{"resources": [{**resource, "configEntries": [{"name": "retention.ms", "value": "1000"}]}]}],
        ),
        ("describeConfigs", [{"resources": [resource], "includeSynonyms": False}]),
    )

    def entries(event: dict[str, Any]) -> dict[str, str]:
        (described,) = result(event)["resources"]
        assert described["errorCode"] == 0 and described["resourceName"] == topic
        return {e["configName"]: e["configValue"] for e in described["configEntries"]}

    configs = entries(before)
    assert configs["min.insync.replicas"] == "2"
    assert configs["cleanup.policy"] == "delete"
    assert configs["retention.ms"] == "604800000"
    result(altered)
    assert entries(after)["retention.ms"] == "1000"


@pytest.mark.req("PRO-12")
def test_kafkajs_admin_lists_describes_and_deletes_groups(served: ServedCluster) -> None:
    topic, group = fresh("js-groups"), fresh("js-g")
    create(served, topic)
    produce(served, topic, records("v", 4))
    run_group(served, topic, group, members=1, expect=4, then=[])
    listed, described, deleted = admin(
        served.bootstrap,
        ("listGroups", []),
        ("describeGroups", [[group]]),
        ("deleteGroups", [[group]]),
    )
    assert [g["protocolType"] for g in result(listed)["groups"] if g["groupId"] == group] == ["consumer"]
    (description,) = result(described)["groups"]
    assert (description["groupId"], description["state"], description["protocolType"]) == (
        group,
        "Empty",
        "consumer",
    )
    assert [(d["groupId"], d["errorCode"]) for d in result(deleted)] == [(group, 0)]
    assert committed(served, group, topic) == {0: "-1", 1: "-1"}


@pytest.mark.req("PRO-12")
def test_kafkajs_admin_sets_a_groups_offsets(served: ServedCluster) -> None:
    topic, group = fresh("js-setoffsets"), fresh("js-g")
    create(served, topic)
    produce(served, topic, records("v", 6))
    run_group(served, topic, group, members=1, expect=6, then=[])
    assert committed(served, group, topic) == {0: "3", 1: "3"}
    # setOffsets checks (DescribeGroups) that the group has no running member, then commits.
    (set_,) = admin(
        served.bootstrap,
        ("setOffsets", [{"groupId": group, "topic": topic, "partitions": [{"partition": 0, "offset": "1"}]}]),
    )
    result(set_)
    assert committed(served, group, topic)[0] == "1"


@pytest.mark.req("PRO-7")
def test_kafkajs_admin_deletes_records(served: ServedCluster) -> None:
    topic = fresh("js-trim")
    create(served, topic)
    produce(served, topic, records("v", 10))
    # KafkaJS 2.2.4's deleteTopicRecords looks the leaders up in metadata it does not load
    # itself ("Topic metadata not loaded" on a fresh admin client): load it first.
    _, trimmed, offsets = admin(
        served.bootstrap,
        ("fetchTopicMetadata", [{"topics": [topic]}]),
        ("deleteTopicRecords", [{"topic": topic, "partitions": [{"partition": 0, "offset": "3"}]}]),
        ("fetchTopicOffsets", [topic]),
    )
    result(trimmed)
    assert sorted((o["partition"], o["low"], o["high"]) for o in result(offsets)) == [
        (0, "3", "5"),
        (1, "0", "5"),
    ]
