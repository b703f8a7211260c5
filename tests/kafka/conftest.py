from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from tests.kafka.raw import RawClient
from tests.kafka.served import ServedCluster


@pytest.fixture(scope="module")
def served() -> Iterator[ServedCluster]:
    """Three brokers serving the Kafka protocol on loopback (one per test module)."""
    cluster = ServedCluster(3)
    try:
        yield cluster
    finally:
        cluster.close()


@pytest.fixture
def connect(served: ServedCluster) -> Iterator[Callable[[], RawClient]]:
    """Open raw connections to broker 1; every one is closed when the test ends."""
    clients: list[RawClient] = []

    def open_one() -> RawClient:
        assert served.kafka is not None
        client = RawClient(served.kafka.addresses[1])
        clients.append(client)
        return client

    yield open_one
    for client in clients:
        client.close()
