"""Scenario S13 over the trio cluster: every replica loses its page cache at once.

Classic election (ELR off, so the last ISR member may lead again after an unclean restart).
Thirty ``acks=all`` records are acknowledged, then all three brokers lose power together and
restart. With Kafka's defaults (no fsync on the produce path) acknowledged records may be lost:
the guarantee is only that the replicas converge with no divergence and no reused offsets, and
that the HW stays within the log. With ``flush.messages=1`` every replica fsyncs inside the
append, before its LEO can move the HW, so nothing acknowledged is lost.
"""

from __future__ import annotations

import pytest
import trio
import trio.testing

from reflog.client import SendStatus
from reflog.cluster import Cluster, open_cluster
from reflog.records import decode_batch
from reflog.replication import ControllerConfig
from reflog.storage.sim import PowerLossMode
from reflog.vocabulary import TopicPartition

TP = TopicPartition("s13", 0)


async def replay(cluster: Cluster, configs: dict[str, int]) -> tuple[list[bytes], list[list[bytes | None]]]:
    await cluster.create_topic("s13", replication_factor=3, configs=configs)
    producer = cluster.producer(acks="all", linger_ms=0)
    acked = []
    for i in range(30):
        result = await producer.send("s13", b"m%d" % i)
        assert result.status is SendStatus.OK
        acked.append(b"m%d" % i)
    for handle in cluster.brokers:
        await handle.power_off(PowerLossMode.CLEAN)
    for handle in cluster.brokers:
        await handle.restart()
    await cluster.wait_for_leaders("s13", timeout=120)
    await trio.sleep(20)
    logs: list[list[bytes | None]] = []
    for handle in cluster.brokers:
        partition = handle.broker.partitions[TP]
        log = partition.log
        assert partition.high_watermark <= log.log_end_offset
        values = [r.value for raw in log.iter_batches() for r in decode_batch(raw).records]
        logs.append(values)
    return acked, logs


@pytest.mark.req("REP-19")
@pytest.mark.parametrize("flush_every_message", [False, True], ids=["kafka-defaults", "flush.messages=1"])
async def test_s13_correlated_power_loss(
    autojump_clock: trio.testing.MockClock, flush_every_message: bool
) -> None:
    configs = {"min.insync.replicas": 2}
    if flush_every_message:
        configs["flush.messages"] = 1
    async with open_cluster(
        brokers=3, seed=13, controller_config=ControllerConfig(eligible_leader_replicas_enable=False)
    ) as cluster:
        acked, logs = await replay(cluster, configs)
    assert logs[0] == logs[1] == logs[2], "replicas diverged after the correlated power loss"
    survived = logs[0]
    assert survived == acked[: len(survived)]  # a prefix: no reused offsets, no reordering
    if flush_every_message:
        assert survived == acked  # fsync before the HW moves: nothing acknowledged is lost
    else:
        assert len(survived) < len(acked)  # the defaults' documented trade-off: the unflushed tail went
