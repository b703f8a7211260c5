"""The controller's metadata log (CTL-26, CTL-27): durable before visible, snapshots, torn tails."""

from __future__ import annotations

import pytest

from reflog.broker.metadata_log import (
    FIRST_PRODUCER_ID,
    METADATA_DIR,
    CorruptMetadataError,
    MetadataImage,
    MetadataLog,
)
from reflog.clock import ManualClock
from reflog.records import Record, build_batch
from reflog.replication.controller import Controller
from reflog.storage.sim import PowerLossMode, SimFilesystem
from tests.replication.test_controller import start


def _controller_image(c: Controller, **extra: object) -> MetadataImage:
    snapshot = c.snapshot()
    image = MetadataImage(
        snapshot.metadata_version,
        {b.broker_id: b for b in snapshot.brokers},
        dict(snapshot.topics),
        {p.topic_partition: p for p in snapshot.partitions},
    )
    for name, value in extra.items():
        setattr(image, name, value)
    return image


def _fs() -> SimFilesystem:
    return SimFilesystem(clock=ManualClock(), seed=3)


@pytest.mark.req("CTL-26")
def test_every_appended_change_survives_a_power_loss_and_replays_exactly() -> None:
    fs, clock = _fs(), ManualClock()
    log = MetadataLog.open(fs, clock)
    c = Controller()
    images = []
    for b in (1, 2, 3):
        start(c, b, now=float(b))
        images.append(_controller_image(c))
        log.append(images[-1])
    c.create_topic("orders", 4, 3, min_insync_replicas=2)
    final = _controller_image(c, topic_configs={"orders": {"min.insync.replicas": 2}})
    assert log.append(final)
    assert not log.append(final)  # nothing changed, nothing written
    fs.power_loss(PowerLossMode.CLEAN)  # only what was fsynced survives
    reopened = MetadataLog.open(fs, clock)
    assert reopened.image == final
    restored = Controller.restored(reopened.image.controller_snapshot(), now=100.0)
    assert restored.snapshot() == c.snapshot()
    assert restored.topic_config("orders") == c.topic_config("orders")


@pytest.mark.req("CTL-26")
def test_a_torn_tail_is_cut_to_the_last_whole_record() -> None:
    fs, clock = _fs(), ManualClock()
    log = MetadataLog.open(fs, clock)
    good = MetadataImage(metadata_version=1, producer_id_block_end=2000)
    log.append(good)
    log.close()
    path = f"{METADATA_DIR}/__cluster_metadata-0/{0:020d}.log"
    handle = fs.open(path)
    fs.pwrite(handle, fs.size(handle), b"\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00\x40half")
    fs.fsync(handle)
    fs.close(handle)
    assert MetadataLog.open(fs, clock).image == good


@pytest.mark.req("CTL-26")
def test_snapshots_replace_the_log_and_reload_to_the_same_image(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("reflog.broker.metadata_log.SNAPSHOT_EVERY", 5)
    fs, clock = _fs(), ManualClock()
    log = MetadataLog.open(fs, clock)
    image = MetadataImage()
    for version in range(1, 13):
        image.metadata_version = version
        image.producer_id_block_end = FIRST_PRODUCER_ID + 1000 * version
        log.append(image)
    assert log.records_since_snapshot == 2
    snapshots = [n for n in fs.listdir(METADATA_DIR) if n.endswith(".checkpoint")]
    assert snapshots == [f"{10:020d}-0000000000.checkpoint"]  # older ones deleted
    fs.power_loss(PowerLossMode.CLEAN)
    reopened = MetadataLog.open(fs, clock)
    assert reopened.image == image
    assert reopened.records_since_snapshot == 2


@pytest.mark.req("CTL-26")
def test_a_record_that_verifies_but_does_not_parse_refuses_to_start() -> None:
    fs, clock = _fs(), ManualClock()
    log = MetadataLog.open(fs, clock)
    log.append(MetadataImage(metadata_version=1))
    not_metadata = build_batch([Record(key=None, value=b'{"brokers": 7}')])  # well formed, wrong shape
    log._log.append_as_leader(not_metadata, leader_epoch=0)
    log._log.flush()
    with pytest.raises(CorruptMetadataError):
        MetadataLog.open(fs, clock)


@pytest.mark.req("CTL-30")
def test_deleted_topics_stay_deleted_and_added_partitions_stay_after_a_power_loss() -> None:
    fs, clock = _fs(), ManualClock()
    log = MetadataLog.open(fs, clock)
    c = Controller()
    for b in (1, 2, 3):
        start(c, b, now=float(b))
    c.create_topic("gone", 2, 3)
    c.create_topic("grown", 1, 2)
    log.append(_controller_image(c, topic_configs={"gone": {"segment.bytes": 1024}, "grown": {}}))
    c.delete_topic("gone")
    c.create_partitions("grown", 3)
    final = _controller_image(c, topic_configs={"grown": {}})
    assert log.append(final)
    fs.power_loss(PowerLossMode.CLEAN)
    reopened = MetadataLog.open(fs, clock).image
    assert reopened == final
    assert "gone" not in reopened.topics and "gone" not in reopened.topic_configs
    assert sorted(tp.partition for tp in reopened.partitions) == [0, 1, 2]
    restored = Controller.restored(reopened.controller_snapshot(), now=100.0)
    assert restored.snapshot() == c.snapshot()


@pytest.mark.req("CTL-30")
def test_a_topic_deleted_and_created_again_in_one_delta_has_only_its_new_partitions() -> None:
    c = Controller()
    for b in (1, 2, 3):
        start(c, b, now=float(b))
    c.create_topic("t", 3, 3)
    before = _controller_image(c, topic_configs={"t": {"segment.bytes": 1024}})
    c.delete_topic("t")
    c.create_topic("t", 1, 1)
    after = _controller_image(c, topic_configs={"t": {}})
    replayed = before.copy()
    replayed.apply(before.delta_to(after))
    assert replayed == after
