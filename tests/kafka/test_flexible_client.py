"""librdkafka (confluent-kafka 2) talks to ``reflog serve`` at flexible versions (KIP-482).

A fresh three-broker cluster serves only this test's client, so the per-(API, version) counts of
its listeners (PRO-64) show exactly which versions librdkafka negotiated from the ApiVersions table
(PRO-2): the flexible ones, since reflog advertises them (PRO-62).
"""

from __future__ import annotations

import uuid
import warnings
from collections.abc import Iterator

import pytest

from reflog.kafka.codec import flexible_response
from reflog.kafka.versions import ApiKey
from tests.kafka.served import ServedCluster
from tests.kafka.test_interop import COUNT, confluent_consume, confluent_produce, values

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import confluent_kafka  # type: ignore[import-untyped]  # noqa: F401


@pytest.fixture
def alone() -> Iterator[ServedCluster]:
    cluster = ServedCluster(3)
    try:
        yield cluster
    finally:
        cluster.close()


@pytest.mark.req("PRO-2", "PRO-62", "PRO-64")
def test_librdkafka_produces_and_consumes_in_a_group_at_flexible_versions(alone: ServedCluster) -> None:
    topic = f"flex-{uuid.uuid4().hex[:8]}"
    alone.create_topic(topic, partitions=2, replication_factor=3, min_insync_replicas=2)
    assert alone.kafka is not None
    alone.kafka.stats.by_api.clear()  # from here on, only the client's requests

    sent = values("flex")
    acked = confluent_produce(alone.bootstrap, topic, sent, "zstd")
    got = confluent_consume(alone.bootstrap, topic, f"g-{topic}")
    assert len(acked) == COUNT and sorted(got) == sorted(sent)

    used: dict[ApiKey, set[int]] = {}
    for (key, version), count in alone.kafka.stats.by_api.items():
        assert count > 0
        used.setdefault(ApiKey(key), set()).add(version)
    # librdkafka 2 picks its own highest version of each API that reflog's table shares (seen:
    # ApiVersions 3, Metadata 12, Produce 10, Fetch 16, ListOffsets 7, OffsetCommit/OffsetFetch 9);
    # its group rebalance APIs stay at their older, non-flexible versions (JoinGroup 5, ...).
    for key in (
        ApiKey.PRODUCE,
        ApiKey.FETCH,
        ApiKey.METADATA,
        ApiKey.LIST_OFFSETS,
        ApiKey.OFFSET_COMMIT,
        ApiKey.OFFSET_FETCH,
    ):
        assert key in used, f"librdkafka sent no {key.name}: {used}"
        assert all(flexible_response(key, v) for v in used[key]), (key.name, used[key])
    assert max(used[ApiKey.API_VERSIONS]) >= 3  # KIP-511's flexible ApiVersions
