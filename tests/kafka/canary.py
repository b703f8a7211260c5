"""Raw-protocol helpers and the canary every robustness test ends with.

:func:`canary` is the proof that a served process survived whatever a test threw at it: an
``acks=all`` produce on a fresh connection is acknowledged, and a read of the whole canary
partition still holds every canary value acknowledged before in this process, so a later canary
also catches an earlier acknowledged write that went missing.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from typing import Any

from reflog.records import LOG_OVERHEAD, Record, build_batch, decode_batch
from tests.kafka.raw import RawClient
from tests.kafka.served import ServedCluster

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    from kafka.protocol.consumer import FetchRequest, FetchResponse  # type: ignore[import-untyped]
    from kafka.protocol.producer import ProduceRequest, ProduceResponse  # type: ignore[import-untyped]

CANARY_TOPIC = "reflog-canary"

_acknowledged: dict[tuple[int, str], list[bytes]] = {}


def topic(served: ServedCluster, name: str) -> str:
    """Create ``name`` (replication 3, ``min.insync.replicas=2``) unless it exists; returns it."""
    assert served.kafka is not None
    if name not in {m.topic_partition.topic for m in served.kafka.cluster.controller.partitions()}:
        served.create_topic(name, replication_factor=3, min_insync_replicas=2)
    return name


def client(served: ServedCluster, broker: int = 1, timeout: float = 10.0) -> RawClient:
    assert served.kafka is not None
    return RawClient(served.kafka.addresses[broker], timeout=timeout)


def leader_of(served: ServedCluster, topic: str, partition: int = 0) -> int:
    assert served.kafka is not None
    return int(served.kafka.cluster.controller.partition(topic, partition).leader)


def produce(
    served: ServedCluster, topic: str, values: list[bytes], acks: int = -1, partition: int = 0
) -> list[int]:
    """One raw Produce v8 per value to the partition's leader (``acks=all``); the error codes."""
    return [error for error, _ in produce_offsets(served, topic, values, acks, partition)]


def produce_offsets(
    served: ServedCluster, topic: str, values: list[bytes], acks: int = -1, partition: int = 0
) -> list[tuple[int, int]]:
    """As :func:`produce`; each value's (error code, base offset)."""
    cls = ProduceRequest[8]
    raw = client(served, leader_of(served, topic, partition))
    errors = []
    try:
        for value in values:
            records = build_batch([Record(None, value)])
            data = cls.TopicProduceData.PartitionProduceData(index=partition, records=records)
            request = cls(
                transactional_id=None,
                acks=acks,
                timeout_ms=10_000,
                topic_data=[cls.TopicProduceData(name=topic, partition_data=[data])],
            )
            response = ProduceResponse.decode(raw.request(request, 8), version=8)
            answer = response.responses[0].partition_responses[0]
            errors.append((answer.error_code, answer.base_offset))
    finally:
        raw.close()
    return errors


def fetch_message(
    partitions: list[tuple[str, int, int]],
    *,
    max_bytes: int = 2**31 - 1,
    partition_max_bytes: int = 2**31 - 1,
    max_wait_ms: int = 0,
    min_bytes: int = 1,
) -> Any:
    """A Fetch v11 request for ``(topic, partition, offset)`` each."""
    cls = FetchRequest[11]
    by_topic: dict[str, list[Any]] = {}
    for name, index, offset in partitions:
        by_topic.setdefault(name, []).append(
            cls.FetchTopic.FetchPartition(
                partition=index,
                current_leader_epoch=-1,
                fetch_offset=offset,
                log_start_offset=-1,
                partition_max_bytes=partition_max_bytes,
            )
        )
    return cls(
        replica_id=-1,
        max_wait_ms=max_wait_ms,
        min_bytes=min_bytes,
        max_bytes=max_bytes,
        isolation_level=0,
        session_id=0,
        session_epoch=-1,
        topics=[cls.FetchTopic(topic=t, partitions=p) for t, p in by_topic.items()],
        forgotten_topics_data=[],
        rack_id="",
    )


def read_values(served: ServedCluster, topic: str, partition: int = 0) -> list[bytes | None]:
    """Every record value of the partition up to its high watermark, read from its leader."""
    raw = client(served, leader_of(served, topic, partition))
    values: list[bytes | None] = []
    offset = 0
    try:
        while True:
            message = fetch_message([(topic, partition, offset)])
            answer = FetchResponse.decode(raw.request(message, 11), version=11).responses[0].partitions[0]
            assert answer.error_code == 0, f"fetch {topic}-{partition}@{offset}: error {answer.error_code}"
            records = bytes(answer.records or b"")
            if not records:
                return values
            pos = 0
            while pos < len(records):
                decoded = decode_batch(records, pos)
                values += [r.value for r in decoded.records]
                offset = decoded.header.base_offset + decoded.header.last_offset_delta + 1
                pos += LOG_OVERHEAD + decoded.header.batch_length
            if offset >= answer.high_watermark:
                return values
    finally:
        raw.close()


def canary(served: ServedCluster, name: str = CANARY_TOPIC, acks: int = -1) -> None:
    """The process still serves and has lost no canary: a new ``acks=all`` write is acknowledged,
    and the partition holds it and every canary value acknowledged before it on this cluster."""
    topic(served, name)
    value = f"canary-{time.monotonic_ns()}".encode()
    [(error, _offset)] = produce_offsets(served, name, [value], acks)
    assert error == 0, f"the canary write to {name} was answered with error {error}"
    acknowledged = _acknowledged.setdefault((id(served), name), [])
    acknowledged.append(value)
    stored = set(read_values(served, name))
    lost = [v for v in acknowledged if v not in stored]
    assert not lost, f"{len(lost)} acknowledged canary records lost from {name}: {lost[:3]}"


def wait_until(condition: Callable[[], bool], timeout: float = 5.0) -> bool:
    """Poll ``condition`` on the wall clock (the served cluster runs on real time) until it holds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()
