"""A pathological batch cannot stall the process (REP-33).

Every broker of an in-process cluster (and of ``reflog serve``) shares one trio event loop. A
zstd batch of 800,000 empty records is about half a megabyte on the wire, under
``max.message.bytes``, and valid; walking its records takes seconds of CPU. Done in one go, that
walk would starve every other broker's heartbeats past their session timeout and the controller
would fence them. This test runs on the real clock (a simulated clock does not move while the
CPU is busy, so it could not show a stall), with a 1 s session timeout: while the batch is
validated and stored, a canary partition led by another broker keeps its leader and epoch, and
no broker is fenced. Bounded: a few seconds.
"""

from __future__ import annotations

import pytest
import trio

from reflog.broker.api import ProduceRequest, ProduceResponse
from reflog.broker.config import BrokerConfig
from reflog.cluster import open_cluster
from reflog.errors import Errors
from reflog.records import Compression
from reflog.records._compression import compress
from reflog.replication.controller_config import ControllerConfig
from reflog.replication.controller_events import BrokerFenced
from reflog.vocabulary import TopicPartition
from tests.records._helpers import forge_batch

RECORDS = 800_000


def empty_records_batch(count: int) -> bytes:
    """``count`` records with null key and value, zstd-compressed, built without the slow encoder."""
    section = bytearray()
    for i in range(count):
        zigzag = i << 1  # offset delta i as a varint (i < 2**20 here: at most three bytes)
        if zigzag < 0x80:
            delta = bytes((zigzag,))
        elif zigzag < 0x4000:
            delta = bytes((zigzag & 0x7F | 0x80, zigzag >> 7))
        else:
            delta = bytes((zigzag & 0x7F | 0x80, (zigzag >> 7) & 0x7F | 0x80, zigzag >> 14))
        body = b"\x00\x00" + delta + b"\x01\x01\x00"  # attributes, timestamp delta, key, value, headers
        section.append(len(body) << 1)
        section += body
    compressed = compress(Compression.ZSTD, bytes(section))
    return forge_batch(compressed, records_count=count, attributes=int(Compression.ZSTD))


@pytest.mark.req("REP-33")
async def test_a_huge_small_batch_does_not_fence_the_other_brokers() -> None:
    records = empty_records_batch(RECORDS)
    assert len(records) < 1024 * 1024  # small on the wire: under the default max.message.bytes
    async with open_cluster(
        3,
        controller_config=ControllerConfig(broker_session_timeout_ms=1000),
        broker_config=BrokerConfig(broker_heartbeat_interval_ms=100),
    ) as cluster:
        await cluster.create_topic("bulk", replication_factor=1)
        await cluster.create_topic("canary", partitions=3, replication_factor=1)
        controller = cluster.controller
        bulk_leader = controller.partition("bulk", 0).leader
        canaries = [controller.partition("canary", p) for p in range(3)]
        canary = next(m for m in canaries if m.leader != bulk_leader)
        before = (canary.leader, canary.leader_epoch)
        events_before = len(controller.events)
        with trio.fail_after(60):
            response = await cluster.broker(bulk_leader).broker.produce(
                ProduceRequest(TopicPartition("bulk", 0), records, acks=1, timeout_ms=30_000)
            )
        assert isinstance(response, ProduceResponse)
        assert response.error is Errors.NONE and response.base_offset == 0  # stored, correctly
        partition = cluster.broker(bulk_leader).broker.partitions[TopicPartition("bulk", 0)]
        assert partition.log_end_offset == RECORDS
        await trio.sleep(1.5)  # past the controller's next session check (it ticks every second)
        after = controller.partition("canary", canary.topic_partition.partition)
        assert (after.leader, after.leader_epoch) == before
        fenced = [e for e in controller.events[events_before:] if isinstance(e, BrokerFenced)]
        assert fenced == []
