"""Fetch's response-wide ``max_bytes`` across partitions (PRO-6), over a real socket: a direct test for
a survivor of mutation testing of reflog/kafka/apis.py (tests/MUTATION.md)."""

from __future__ import annotations

import warnings

import pytest

from reflog.client.producer import SendStatus
from tests.kafka.raw import RawClient
from tests.kafka.served import ServedCluster

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    from kafka.protocol.consumer import FetchRequest, FetchResponse  # type: ignore[import-untyped]

VALUE = bytes(range(256)) * 20  # one batch of about 5 KiB per partition


@pytest.mark.req("PRO-6")
def test_a_fetch_stops_adding_partitions_once_the_response_max_bytes_is_spent() -> None:
    served = ServedCluster(1)
    try:
        assert served.kafka is not None
        cluster = served.kafka.cluster

        async def produce() -> None:
            await cluster.create_topic("bounds", partitions=3, replication_factor=1)
            producer = cluster.producer(acks="all")
            for partition in range(3):
                result = await producer.send("bounds", VALUE, partition=partition)
                assert result.status is SendStatus.OK, result

        served.call(produce)
        cls = FetchRequest[11]
        partitions = [
            cls.FetchTopic.FetchPartition(
                partition=p,
                current_leader_epoch=-1,
                fetch_offset=0,
                log_start_offset=-1,
                partition_max_bytes=1 << 20,
            )
            for p in range(3)
        ]
        request = cls(
            replica_id=-1,
            max_wait_ms=0,
            min_bytes=1,
            max_bytes=len(VALUE) + 1000,  # room for one batch, not two
            isolation_level=0,
            session_id=0,
            session_epoch=-1,
            topics=[cls.FetchTopic(topic="bounds", partitions=partitions)],
            forgotten_topics_data=[],
            rack_id="",
        )
        client = RawClient(served.kafka.addresses[1])
        try:
            payload = client.request(request, 11)
        finally:
            client.close()
        answer = FetchResponse.decode(payload, version=11).responses[0].partitions
        sizes = [len(bytes(p.records or b"")) for p in sorted(answer, key=lambda p: p.partition_index)]
        assert sizes[0] > len(VALUE) and sizes[1:] == [0, 0]
        assert all(p.error_code == 0 for p in answer)
    finally:
        served.close()
