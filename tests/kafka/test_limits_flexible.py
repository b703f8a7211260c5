"""The raw partition count (PRO-40) at every served version, flexible ones included (KIP-482):
compact arrays and strings, tagged fields anywhere, topic ids from Fetch v13."""

from __future__ import annotations

import uuid
import warnings
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reflog.kafka.limits import partition_entries
from reflog.kafka.versions import ADVERTISED, ApiKey, served

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    from kafka.protocol.admin import CreateTopicsRequest  # type: ignore[import-untyped]
    from kafka.protocol.consumer import FetchRequest, ListOffsetsRequest  # type: ignore[import-untyped]
    from kafka.protocol.metadata import MetadataRequest  # type: ignore[import-untyped]
    from kafka.protocol.producer import ProduceRequest  # type: ignore[import-untyped]

Shape = list[int]
RECORDS = b"\x00" * 70  # opaque to the count: only its length is read


def _versions(key: ApiKey) -> list[int]:
    low, high = ADVERTISED[key]
    return [v for v in range(low, high + 1) if served(key, v)]


def _fetch(version: int, shape: Shape) -> Any:
    cls = FetchRequest[version]
    topics = [
        cls.FetchTopic(
            topic=f"t{t}",
            topic_id=uuid.UUID(int=t + 7),
            partitions=[
                cls.FetchTopic.FetchPartition(
                    partition=p,
                    fetch_offset=0,
                    partition_max_bytes=100,
                    # a tagged field (v17+) that is not its default: it is on the wire
                    replica_directory_id=uuid.UUID(int=5),
                )
                for p in range(n)
            ],
        )
        for t, n in enumerate(shape)
    ]
    forgotten = [cls.ForgottenTopic(topic="gone", topic_id=uuid.UUID(int=3), partitions=[1, 2])]
    return cls(
        replica_id=-1,
        max_wait_ms=0,
        min_bytes=1,
        max_bytes=100,
        isolation_level=0,
        session_id=0,
        session_epoch=-1,
        topics=topics,
        forgotten_topics_data=forgotten,
        rack_id="r",
        cluster_id="c",  # a tagged field of the request (v12+)
    )


def _produce(version: int, shape: Shape) -> Any:
    cls = ProduceRequest[version]
    topic = cls.TopicProduceData
    data = [
        topic(
            name=f"t{t}",
            partition_data=[topic.PartitionProduceData(index=p, records=RECORDS) for p in range(n)],
        )
        for t, n in enumerate(shape)
    ]
    return cls(transactional_id=None, acks=1, timeout_ms=1000, topic_data=data)


def _list_offsets(version: int, shape: Shape) -> Any:
    cls = ListOffsetsRequest[version]
    topic = cls.ListOffsetsTopic
    topics = [
        topic(
            name=f"t{t}",
            partitions=[topic.ListOffsetsPartition(partition_index=p, timestamp=-1) for p in range(n)],
        )
        for t, n in enumerate(shape)
    ]
    return cls(replica_id=-1, isolation_level=0, topics=topics)


def _metadata(version: int, shape: Shape) -> Any:
    cls = MetadataRequest[version]
    return cls(topics=[cls.MetadataRequestTopic(name=f"t{t}") for t in range(len(shape))])


def _create_topics(version: int, shape: Shape) -> Any:
    cls = CreateTopicsRequest[version]
    topic = cls.CreatableTopic
    topics = [
        topic(
            name=f"t{t}",
            num_partitions=n or 1,
            replication_factor=1,
            assignments=[],
            configs=[topic.CreatableTopicConfig(name="retention.ms", value="1")],
        )
        for t, n in enumerate(shape)
    ]
    return cls(topics=topics, timeout_ms=1000, validate_only=False)


BUILDERS = {  # the request, and the count: forgotten topics' partitions count too (Fetch v7+)
    ApiKey.FETCH: (_fetch, lambda shape, v: sum(shape) + (2 if v >= 7 else 0)),
    ApiKey.PRODUCE: (_produce, lambda shape, v: sum(shape)),
    ApiKey.LIST_OFFSETS: (_list_offsets, lambda shape, v: sum(shape)),
    ApiKey.METADATA: (_metadata, lambda shape, v: len(shape)),
    ApiKey.CREATE_TOPICS: (_create_topics, lambda shape, v: sum(n or 1 for n in shape)),
}
CASES = [(key, v) for key in BUILDERS for v in _versions(key)]


@pytest.mark.req("PRO-40", "PRO-62")
@pytest.mark.parametrize(("key", "version"), CASES, ids=[f"{k.name}-v{v}" for k, v in CASES])
@settings(max_examples=15, deadline=None)
@given(st.lists(st.integers(0, 4), min_size=1, max_size=3), st.integers(0, 600))
def test_the_raw_partition_count_is_exact_at_every_served_version(
    key: ApiKey, version: int, shape: Shape, cut: int
) -> None:
    build, expected = BUILDERS[key]
    request = build(version, shape)
    request.with_header(correlation_id=1, client_id="raw")
    payload = bytes(request.encode(version=version, header=True))
    assert partition_entries(payload) == expected(shape, version)
    assert partition_entries(payload[:cut]) <= expected(shape, version)  # truncated: no exception
