"""A bug in one broker's task halts that broker only; the process and the other brokers go on (REP-40)."""

from __future__ import annotations

import pytest
import trio

from reflog.client import SendStatus
from reflog.cluster import Cluster, open_cluster
from reflog.replication.partition import Role
from reflog.vocabulary import TopicPartition

TP = TopicPartition("t", 0)


def _boom(*args: object, **kwargs: object) -> None:
    raise RuntimeError("injected bug")


def inject(cluster: Cluster, broker_id: int, task: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Make one task of broker ``broker_id`` raise an unexpected exception."""
    broker = cluster.broker(broker_id).broker
    if task == "heartbeat loop":
        monkeypatch.setattr(broker, "_apply", _boom)
    elif task == "log maintenance":
        assert broker.manager is not None
        monkeypatch.setattr(broker.manager, "tick", _boom)
    elif task == "ISR loop":
        monkeypatch.setattr(broker.partitions[TP], "recovered_request", _boom)
    else:
        partition = broker.partitions[TP]
        assert partition.role is Role.FOLLOWER
        monkeypatch.setattr(partition, "handle_fetch_response", _boom)


@pytest.mark.req("REP-40")
@pytest.mark.parametrize("task", ["heartbeat loop", "log maintenance", "ISR loop", "replica fetcher"])
async def test_a_bug_in_a_broker_task_halts_that_broker_and_nothing_acknowledged_is_lost(
    task: str, autojump_clock: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with open_cluster(brokers=3, seed=11) as cluster:
        await cluster.create_topic("t", replication_factor=3, configs={"min.insync.replicas": 2})
        producer = cluster.producer(acks="all")
        acked: list[bytes] = []

        async def canary(n: int) -> None:
            for i in range(n):
                value = f"{len(acked)}-{i}".encode()
                if (await producer.send("t", value)).status is SendStatus.OK:
                    acked.append(value)

        await canary(5)
        leader = cluster.controller.partition("t", 0).leader
        victim = next(h.broker_id for h in cluster.brokers if h.broker_id != leader)
        handle = cluster.broker(victim)
        inject(cluster, victim, task, monkeypatch)
        await canary(5)  # a write makes the follower's fetcher apply a response
        with trio.fail_after(30):
            while handle.running:
                await trio.sleep(0.1)
        assert handle.exit_reason is not None
        assert f"internal error in the {task}" in handle.exit_reason and "injected bug" in handle.exit_reason
        # The other brokers keep serving: the canary goes on, and a new topic can be created.
        await canary(10)
        assert len(acked) >= 15
        await cluster.create_topic("u", replication_factor=2)
        assert all(cluster.broker(b).running for b in (1, 2, 3) if b != victim)
        monkeypatch.undo()
        await handle.restart()  # the harness restarts the halted broker
        assert handle.running and handle.exit_reason is None
        await cluster.wait_for_brokers()
        await canary(5)
        consumer = cluster.consumer()
        consumer.assign([TP])
        seen: set[bytes] = set()
        with trio.fail_after(60):
            while not set(acked) <= seen:
                seen.update(r.value for r in await consumer.poll() if r.value is not None)
