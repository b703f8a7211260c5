"""Where clients reach the brokers: the Kafka listener addresses Metadata and FindCoordinator hand out.

A broker serves clients while the controller holds it active *and* its listener is up (has an
address); a broker that just died stays listed until its session expires, as in Kafka.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TypeAlias

from reflog.cluster import Cluster

Addresses: TypeAlias = Callable[[], Mapping[int, tuple[str, int]]]
"""Broker id -> (host, port) of its Kafka listener, for the brokers that serve clients now."""


def live_brokers(cluster: Cluster, addresses: Mapping[int, tuple[str, int]]) -> set[int]:
    """The brokers clients can use now: active in the controller's view and listed in ``addresses``."""
    return {b.broker_id for b in cluster.controller.brokers() if b.is_active} & set(addresses)


__all__ = ["Addresses", "live_brokers"]
