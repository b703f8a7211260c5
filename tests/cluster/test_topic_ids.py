"""Topic ids (KIP-516, PRO-63): one random id per topic, the same after a restart, resolvable both ways."""

from __future__ import annotations

import random
import uuid
from pathlib import Path

import pytest
import trio
import trio.testing

from reflog.broker.metadata_log import MetadataImage
from reflog.broker.topic_ids import METADATA_TOPIC_ID, ZERO_UUID, TopicIds
from reflog.cluster import open_cluster


@pytest.mark.req("PRO-63")
def test_every_topic_gets_a_distinct_id_and_the_lookup_works_both_ways() -> None:
    ids = TopicIds(rng=random.Random(1))
    assert ids.sync(["a", "b"])
    a, b = ids.id_of("a"), ids.id_of("b")
    assert a != b and ZERO_UUID not in (a, b) and METADATA_TOPIC_ID not in (a, b)
    assert a.version == 4
    assert (ids.name_of(a), ids.name_of(b)) == ("a", "b")
    assert ids.id_of("missing") == ZERO_UUID and ids.name_of(uuid.uuid4()) is None
    assert not ids.sync(["a", "b"])  # nothing new: ids are kept
    assert ids.sync(["a"])  # b is gone: so is its id
    assert ids.name_of(b) is None and ids.id_of("b") == ZERO_UUID
    ids.sync(["a", "b"])  # b created again: a new topic, a new id
    assert ids.id_of("b") not in (b, ZERO_UUID) and ids.id_of("a") == a


@pytest.mark.req("PRO-63")
def test_the_metadata_image_replays_ids_added_and_removed() -> None:
    first, second = uuid.uuid4(), uuid.uuid4()
    old = MetadataImage(topic_ids={"a": first, "b": second})
    new = MetadataImage(topic_ids={"a": first, "c": second})
    replayed = old.copy()
    replayed.apply(old.delta_to(new))
    assert replayed.topic_ids == {"a": first, "c": second}
    fresh = MetadataImage()
    fresh.apply(MetadataImage().delta_to(new))
    assert fresh.topic_ids == new.topic_ids


@pytest.mark.req("PRO-63")
async def test_topic_ids_are_assigned_at_creation_and_survive_a_restart(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    async with open_cluster(1, storage="os", directory=tmp_path) as cluster:
        await cluster.create_topic("orders", partitions=2, replication_factor=1)
        await cluster.create_topic("audit", partitions=1, replication_factor=1)
        orders = cluster.topic_ids.id_of("orders")
        audit = cluster.topic_ids.id_of("audit")
        assert ZERO_UUID not in (orders, audit) and orders != audit
    async with open_cluster(1, storage="os", directory=tmp_path) as cluster:
        assert cluster.topic_ids.id_of("orders") == orders
        assert cluster.topic_ids.name_of(audit) == "audit"
        await cluster.create_topic("later", partitions=1, replication_factor=1)
        assert cluster.topic_ids.id_of("later") not in (ZERO_UUID, orders, audit)


@pytest.mark.req("PRO-63")
async def test_a_topic_has_its_id_as_soon_as_it_exists_without_a_metadata_log(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with open_cluster(1) as cluster:
        await cluster.create_topic("t", partitions=1, replication_factor=1)
        assert cluster.topic_ids.name_of(cluster.topic_ids.id_of("t")) == "t"
