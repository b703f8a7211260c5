"""``reflog serve``: an in-process cluster whose brokers each listen for Kafka clients on loopback.

:func:`open_kafka_cluster` wraps :func:`reflog.cluster.open_cluster`: every broker gets a real
TCP listener speaking the Kafka protocol (:mod:`reflog.kafka.server`) and its own group
coordinator, for the groups of the ``__consumer_offsets`` partitions it leads
(:mod:`reflog.kafka.group_store`). Replication between brokers stays in process, on the simulated
network, which is where the fault layer cuts links and adds latency (specs/protocol.md, PRO-1). The returned
:class:`KafkaCluster` keeps the underlying :class:`~reflog.cluster.Cluster`, so a test can power a
broker off while real clients produce to it.
"""

from __future__ import annotations

import os
import ssl
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from typing import Literal

import attrs
import trio

from reflog.broker import BrokerConfig
from reflog.cluster import BrokerHandle, Cluster, open_cluster
from reflog.errors import ReflogUsageError
from reflog.kafka.apis import KafkaApis
from reflog.kafka.groups import GroupConfig, GroupCoordinator
from reflog.kafka.limits import MAX_PARTITIONS_PER_REQUEST
from reflog.kafka.memory import QUEUED_MAX_REQUEST_BYTES, RequestMemoryPool
from reflog.kafka.server import (
    CONNECTIONS_MAX_IDLE_MS,
    SOCKET_REQUEST_MAX_BYTES,
    TLS_HANDSHAKE_TIMEOUT_MS,
    ConnectionStats,
    open_kafka_listener,
)
from reflog.kafka.transfer import TransferMetrics, TransferMode
from reflog.replication.controller_config import ControllerConfig


def _running(handle: BrokerHandle) -> bool:
    return bool(handle.running)


@attrs.define
class KafkaCluster:
    """A running cluster with Kafka listeners: ``bootstrap`` is what a client is given."""

    cluster: Cluster
    addresses: dict[int, tuple[str, int]]
    groups: dict[int, GroupCoordinator]
    """Each broker's group coordinator (the groups of the offsets partitions it leads)."""
    stats: ConnectionStats
    transfer: dict[int, TransferMetrics] = attrs.field(factory=dict)
    """Each broker's listener's transfer-path metrics (PERF-1)."""
    memory: RequestMemoryPool = attrs.field(factory=RequestMemoryPool)
    """The request bytes every listener of the process holds (``queued.max.request.bytes``)."""

    @property
    def bootstrap(self) -> str:
        """``host:port`` of every broker, comma-separated (``bootstrap.servers``)."""
        return ",".join(f"{host}:{port}" for host, port in self.addresses.values())

    async def shutdown(self, timeout: float = 30.0) -> None:
        """Stop every running broker cleanly (controlled shutdown, flush, clean-shutdown marker).

        What ``docker stop`` or a test harness expects of SIGTERM; brokers still running after
        ``timeout`` seconds are left to the process's exit (their next start recovers).
        """
        with trio.move_on_after(timeout):
            for handle in self.cluster.brokers:
                if handle.running:
                    await handle.stop()

    def committed_offsets(self, group_id: str) -> dict[tuple[str, int], tuple[int, str]]:
        """``group_id``'s committed offsets as its coordinator holds them (empty if none has it)."""
        for coordinator in self.groups.values():
            if group_id in coordinator.groups:
                return coordinator.fetch_offsets(group_id)
        return {}

    def listed(self) -> dict[int, tuple[str, int]]:
        """Every broker's listener. Metadata lists those the controller has not fenced, as Kafka
        does: a broker that just died stays listed (and leads) until its session expires."""
        return dict(self.addresses)


@asynccontextmanager
async def open_kafka_cluster(
    brokers: int = 3,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    storage: Literal["sim", "os"] = "sim",
    data_dir: str | os.PathLike[str] | None = None,
    seed: int = 0,
    ssl_context: ssl.SSLContext | None = None,
    group_config: GroupConfig | None = None,
    default_replication_factor: int = 1,
    auto_create_topics: bool = True,
    max_request_size: int = SOCKET_REQUEST_MAX_BYTES,
    transfer: TransferMode = TransferMode.ZERO_COPY,
    controller_config: ControllerConfig | None = None,
    connections_max_idle_ms: int = CONNECTIONS_MAX_IDLE_MS,
    tls_handshake_timeout_ms: int = TLS_HANDSHAKE_TIMEOUT_MS,
    queued_max_request_bytes: int = QUEUED_MAX_REQUEST_BYTES,
    max_partitions_per_request: int = MAX_PARTITIONS_PER_REQUEST,
    broker_config: BrokerConfig | None = None,
) -> AsyncIterator[KafkaCluster]:
    """Run ``brokers`` brokers with Kafka listeners for the block.

    ``port`` 0 picks free ports; otherwise broker ``i`` listens on ``port + i - 1``.
    ``default_replication_factor`` applies to auto-created topics and CreateTopics with -1
    (Kafka's ``default.replication.factor``, default 1). ``transfer`` picks the Fetch path of
    plaintext listeners (zero-copy or copy); with ``ssl_context`` the path is always TLS.
    ``storage="os"`` keeps the controller's metadata in ``data_dir/controller`` (CTL-26), so a
    cluster served again from the same directory has its topics, configs and data back. The
    controller elects a partition's last known leader when nothing else is left, as Kafka 4.1 does
    (``controller_config`` defaults to ``ControllerConfig(elect_last_known_leader=True)``, CTL-25).
    ``connections_max_idle_ms`` (Kafka's ``connections.max.idle.ms``) closes silent connections,
    ``tls_handshake_timeout_ms`` drops TLS clients that do not finish the handshake,
    ``queued_max_request_bytes`` (Kafka's ``queued.max.request.bytes``; -1 unbounded) bounds the
    request bytes all listeners hold at once, and a request naming more than
    ``max_partitions_per_request`` partitions closes its connection (PRO-40..PRO-47).
    ``broker_config`` sets every broker's :class:`~reflog.broker.BrokerConfig` (``fetch.max.bytes``...).
    """
    if ssl_context is not None:
        transfer = TransferMode.TLS
    elif transfer is TransferMode.TLS:
        raise ReflogUsageError("the tls transfer path needs an ssl_context")
    async with (
        open_cluster(
            brokers,
            seed=seed,
            storage=storage,
            directory=data_dir,
            controller_config=controller_config or ControllerConfig(elect_last_known_leader=True),
            broker_config=broker_config,
        ) as cluster,
        trio.open_nursery() as nursery,
    ):
        stats = ConnectionStats()
        kafka = KafkaCluster(cluster, {}, {}, stats, memory=RequestMemoryPool(queued_max_request_bytes))
        for handle in cluster.brokers:
            groups = kafka.groups[handle.broker_id] = GroupCoordinator(group_config)
            handle.broker.append_time_ms = lambda: time.time_ns() // 1_000_000  # LogAppendTime: epoch ms
            apis = KafkaApis(
                cluster,
                handle.broker_id,
                kafka.listed,
                groups,
                auto_create_topics=auto_create_topics,
                default_replication_factor=default_replication_factor,
                transfer=transfer,
            )
            kafka.transfer[handle.broker_id] = apis.transfer_metrics
            await nursery.start(apis.group_apis.store.run)
            bound = await open_kafka_listener(
                nursery,
                apis,
                partial(_running, handle),
                host=host,
                port=0 if port == 0 else port + handle.broker_id - 1,
                ssl_context=ssl_context,
                max_request_size=max_request_size,
                stats=stats,
                connections_max_idle_ms=connections_max_idle_ms,
                tls_handshake_timeout_ms=tls_handshake_timeout_ms,
                max_partitions_per_request=max_partitions_per_request,
                memory=kafka.memory,
            )
            kafka.addresses[handle.broker_id] = (host, bound)
        try:
            yield kafka
        finally:
            nursery.cancel_scope.cancel()


__all__ = ["KafkaCluster", "open_kafka_cluster"]
