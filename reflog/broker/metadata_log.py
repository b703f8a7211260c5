"""The controller's metadata log: every metadata change fsynced before anyone sees it, and snapshots.

Kafka's KRaft controller keeps the cluster's metadata in the ``__cluster_metadata`` log (topic,
partition, broker-registration, config and producer-id records) and compacts it into snapshots.
reflog keeps one controller (the quorum is out of scope), and this module gives it the same
durability on the storage seam:

* the log is a reflog :class:`~reflog.log.Log` in ``<dir>/__cluster_metadata-0``: each record is a
  record batch (CRC-32C) whose value is a JSON *delta* (the brokers, topics, partitions, topic
  configs and producer-id block that changed, each as its full new value, and the names of the
  topics, partitions and topic configs that were deleted, applied first), appended and fsynced
  by :meth:`MetadataLog.append` before it returns;
* a snapshot ``<dir>/<offset>-0000000000.checkpoint`` (one CRC-protected batch holding the whole
  image, written to a temporary file, fsynced, renamed, directory fsynced) replaces the log below
  ``offset`` every :data:`SNAPSHOT_EVERY` records;
* :meth:`MetadataLog.open` loads the newest snapshot that verifies and replays every later
  record; a torn or corrupt tail is cut by the log's own recovery, exactly as a partition's is.

Nothing here imports trio. Failure modes: :class:`~reflog.errors.StorageError` from the storage
(the caller must not expose state whose record did not reach the disk);
:class:`CorruptMetadataError` for a record or snapshot that verifies but does not parse.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from typing import Any

import attrs

from reflog.clock import Clock
from reflog.errors import CorruptRecordError, ReflogError
from reflog.log import Log, LogConfig
from reflog.records import Record, build_batch, decode_batch
from reflog.replication.controller_config import TopicConfig
from reflog.replication.controller_values import BrokerRegistration, ControllerSnapshot
from reflog.replication.messages import LeaderRecoveryState, PartitionMetadata
from reflog.storage import Filesystem
from reflog.vocabulary import TopicPartition

METADATA_DIR = "metadata"
METADATA_LOG_DIR = f"{METADATA_DIR}/__cluster_metadata-0"
SNAPSHOT_SUFFIX = "-0000000000.checkpoint"
SNAPSHOT_EVERY = 1000
"""Records between snapshots (Kafka counts bytes, ``metadata.log.max.record.bytes.between.snapshots``)."""
FIRST_PRODUCER_ID = 1000
PRODUCER_ID_BLOCK_SIZE = 1000
"""Producer ids are handed out of blocks of this size, as Kafka's ``ProducerIdControlManager`` does."""
_MAX_RECORD_BYTES = 64 * 1024 * 1024

TopicConfigs = dict[str, dict[str, int | str]]


class CorruptMetadataError(ReflogError):
    """A metadata record or snapshot passed its CRC but does not describe metadata: refuse to start."""


@attrs.define
class MetadataImage:
    """Everything the controller persists: its state, the topic configs, producer ids, the boot count."""

    metadata_version: int = 0
    brokers: dict[int, BrokerRegistration] = attrs.field(factory=dict)
    topics: dict[str, TopicConfig] = attrs.field(factory=dict)
    partitions: dict[TopicPartition, PartitionMetadata] = attrs.field(factory=dict)
    topic_configs: TopicConfigs = attrs.field(factory=dict)
    producer_id_block_end: int = FIRST_PRODUCER_ID
    """Every producer id below this may have been handed out; the next process starts here."""
    boots: int = 0
    """How many times the controller started on this metadata (names broker incarnations)."""
    topic_ids: dict[str, uuid.UUID] = attrs.field(factory=dict)
    """Every topic's id (KIP-516, :mod:`reflog.broker.topic_ids`)."""

    def controller_snapshot(self) -> ControllerSnapshot:
        return ControllerSnapshot(
            self.metadata_version,
            tuple(self.brokers[b] for b in sorted(self.brokers)),
            tuple(self.topics.items()),
            tuple(self.partitions.values()),
        )

    def copy(self) -> MetadataImage:
        return MetadataImage(
            self.metadata_version,
            dict(self.brokers),
            dict(self.topics),
            dict(self.partitions),
            {name: dict(values) for name, values in self.topic_configs.items()},
            self.producer_id_block_end,
            self.boots,
            dict(self.topic_ids),
        )

    def delta_to(self, newer: MetadataImage) -> dict[str, Any]:
        """The JSON delta that turns this image into ``newer`` (empty when they are equal)."""
        delta: dict[str, Any] = {}
        # Deletions (CTL-30) come first in apply(): a topic deleted and created again in one delta
        # loses its old partitions and configs, then gets its new ones.
        deleted_topics = sorted(n for n in self.topics if n not in newer.topics)
        if deleted_topics:
            delta["deleted_topics"] = deleted_topics
        deleted_partitions = sorted(
            [tp.topic, tp.partition] for tp in self.partitions if tp not in newer.partitions
        )
        if deleted_partitions:
            delta["deleted_partitions"] = deleted_partitions
        deleted_configs = sorted(n for n in self.topic_configs if n not in newer.topic_configs)
        if deleted_configs:
            delta["deleted_topic_configs"] = deleted_configs
        if newer.metadata_version != self.metadata_version:
            delta["metadata_version"] = newer.metadata_version
        brokers = [_broker_json(r) for b, r in newer.brokers.items() if self.brokers.get(b) != r]
        if brokers:
            delta["brokers"] = brokers
        topics = {n: _topic_json(t) for n, t in newer.topics.items() if self.topics.get(n) != t}
        if topics:
            delta["topics"] = topics
        partitions = [
            _partition_json(p) for tp, p in newer.partitions.items() if self.partitions.get(tp) != p
        ]
        if partitions:
            delta["partitions"] = partitions
        configs = {n: c for n, c in newer.topic_configs.items() if self.topic_configs.get(n) != c}
        if configs:
            delta["topic_configs"] = configs
        if newer.producer_id_block_end != self.producer_id_block_end:
            delta["producer_id_block_end"] = newer.producer_id_block_end
        if newer.boots != self.boots:
            delta["boots"] = newer.boots
        ids: dict[str, str | None] = {
            n: str(i) for n, i in newer.topic_ids.items() if self.topic_ids.get(n) != i
        }
        ids |= {n: None for n in self.topic_ids if n not in newer.topic_ids}  # a topic gone: its id too
        if ids:
            delta["topic_ids"] = ids
        return delta

    def apply(self, delta: Mapping[str, Any]) -> None:
        """Apply a delta made by :meth:`delta_to`; :class:`CorruptMetadataError` if it does not parse."""
        try:
            self.metadata_version = int(delta.get("metadata_version", self.metadata_version))
            for name in delta.get("deleted_topics", ()):
                self.topics.pop(str(name), None)
            for topic, partition in delta.get("deleted_partitions", ()):
                self.partitions.pop(TopicPartition(str(topic), int(partition)), None)
            for name in delta.get("deleted_topic_configs", ()):
                self.topic_configs.pop(str(name), None)
            for raw in delta.get("brokers", ()):
                registration = _broker_from(raw)
                self.brokers[registration.broker_id] = registration
            for name, raw in delta.get("topics", {}).items():
                self.topics[str(name)] = _topic_from(raw)
            for raw in delta.get("partitions", ()):
                partition = _partition_from(raw)
                self.partitions[partition.topic_partition] = partition
            for name, values in delta.get("topic_configs", {}).items():
                self.topic_configs[str(name)] = {str(k): v for k, v in dict(values).items()}
            self.producer_id_block_end = int(delta.get("producer_id_block_end", self.producer_id_block_end))
            self.boots = int(delta.get("boots", self.boots))
            for name, topic_id in dict(delta.get("topic_ids", {})).items():
                if topic_id is None:
                    self.topic_ids.pop(str(name), None)
                else:
                    self.topic_ids[str(name)] = uuid.UUID(str(topic_id))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise CorruptMetadataError(f"a metadata record does not parse: {exc!r}") from exc

    def as_json(self) -> dict[str, Any]:
        return MetadataImage().delta_to(self) | {"metadata_version": self.metadata_version}


class MetadataLog:
    """The controller's durable metadata on ``fs`` (a directory of its own). Build with :meth:`open`."""

    def __init__(self, fs: Filesystem, log: Log, image: MetadataImage, since_snapshot: int) -> None:
        self.fs = fs
        self._log = log
        self._image = image
        self._since_snapshot = since_snapshot

    @classmethod
    def open(cls, fs: Filesystem, clock: Clock) -> MetadataLog:
        """Load the newest valid snapshot and replay the log after it (recovering a torn tail).

        Raises :class:`~reflog.errors.StorageError` on an I/O error and
        :class:`CorruptMetadataError` when a verified record does not parse.
        """
        fs.makedirs(METADATA_DIR)
        image, snapshot_offset = _load_newest_snapshot(fs)
        config = LogConfig(max_message_bytes=_MAX_RECORD_BYTES, segment_bytes=_MAX_RECORD_BYTES * 2)
        log = Log.open(fs, METADATA_LOG_DIR, config, clock, recovery_point=0, clean_shutdown=False)
        replayed = 0
        if log.log_end_offset < snapshot_offset or log.log_start_offset > snapshot_offset:
            log.truncate_fully_and_start_at(snapshot_offset)  # a crash between snapshot and trim
        for batch in log.iter_batches(snapshot_offset):
            for record in decode_batch(batch, max_uncompressed_bytes=_MAX_RECORD_BYTES).records:
                image.apply(_parse_json(record.value))
                replayed += 1
        return cls(fs, log, image, replayed)

    @property
    def image(self) -> MetadataImage:
        """The metadata as last made durable (a copy: mutate it and :meth:`append` the result)."""
        return self._image.copy()

    @property
    def records_since_snapshot(self) -> int:
        return self._since_snapshot

    def append(self, newer: MetadataImage) -> bool:
        """Make ``newer`` durable: append the delta from the last image, fsync; maybe snapshot.

        Returns whether anything changed. Raises :class:`~reflog.errors.StorageError` when the
        write or the fsync fails; the durable image is then unchanged as far as this object knows.
        """
        delta = self._image.delta_to(newer)
        if not delta:
            return False
        value = json.dumps(delta, sort_keys=True, separators=(",", ":")).encode()
        self._log.append_as_leader(build_batch([Record(key=None, value=value)]), leader_epoch=0)
        self._log.flush()
        self._image = newer.copy()
        self._since_snapshot += 1
        if self._since_snapshot >= SNAPSHOT_EVERY:
            self.snapshot()
        return True

    def snapshot(self) -> None:
        """Write the whole image as a snapshot at the log end, then drop the log and older snapshots."""
        offset = self._log.log_end_offset
        body = json.dumps(self._image.as_json(), sort_keys=True, separators=(",", ":")).encode()
        name = _snapshot_path(offset)
        handle = self.fs.open(name + ".tmp", create=True)
        try:
            self.fs.truncate(handle, 0)
            self.fs.pwrite(handle, 0, build_batch([Record(key=b"snapshot", value=body)]))
            self.fs.fsync(handle)
        finally:
            self.fs.close(handle)
        self.fs.rename(name + ".tmp", name)
        self.fs.fsync_dir(METADATA_DIR)
        self._log.truncate_fully_and_start_at(offset)
        for older in _snapshot_offsets(self.fs):
            if older < offset:
                self.fs.delete(_snapshot_path(older))
        self._since_snapshot = 0

    def close(self) -> None:
        self._log.close()


# ------------------------------------------------------------------------------- snapshots


def _snapshot_path(offset: int) -> str:
    return f"{METADATA_DIR}/{offset:020d}{SNAPSHOT_SUFFIX}"


def _snapshot_offsets(fs: Filesystem) -> list[int]:
    offsets = []
    for name in fs.listdir(METADATA_DIR):
        stem = name.removesuffix(SNAPSHOT_SUFFIX)
        if name.endswith(SNAPSHOT_SUFFIX) and len(stem) == 20 and stem.isdigit():
            offsets.append(int(stem))
    return sorted(offsets)


def _load_newest_snapshot(fs: Filesystem) -> tuple[MetadataImage, int]:
    """The newest snapshot that verifies (a torn one, impossible after rename, is skipped)."""
    for offset in reversed(_snapshot_offsets(fs)):
        handle = fs.open(_snapshot_path(offset))
        try:
            raw = fs.pread(handle, 0, fs.size(handle))
        finally:
            fs.close(handle)
        try:
            records = decode_batch(raw, max_uncompressed_bytes=_MAX_RECORD_BYTES).records
        except CorruptRecordError:
            continue
        image = MetadataImage()
        image.apply(_parse_json(records[0].value if records else None))
        return image, offset
    return MetadataImage(), 0


# ------------------------------------------------------------------------------- JSON


def _parse_json(value: bytes | None) -> dict[str, Any]:
    try:
        parsed = json.loads(value or b"")
    except ValueError as exc:
        raise CorruptMetadataError(f"a metadata record is not JSON: {exc}") from exc
    if not isinstance(parsed, dict):
        raise CorruptMetadataError("a metadata record is not a JSON object")
    return parsed


def _broker_json(r: BrokerRegistration) -> dict[str, Any]:
    return attrs.asdict(r)


def _broker_from(raw: Mapping[str, Any]) -> BrokerRegistration:
    return BrokerRegistration(
        broker_id=int(raw["broker_id"]),
        incarnation_id=str(raw["incarnation_id"]),
        broker_epoch=int(raw["broker_epoch"]),
        fenced=bool(raw["fenced"]),
        in_controlled_shutdown=bool(raw["in_controlled_shutdown"]),
    )


def _topic_json(t: TopicConfig) -> dict[str, Any]:
    return attrs.asdict(t)


def _topic_from(raw: Mapping[str, Any]) -> TopicConfig:
    return TopicConfig(
        min_insync_replicas=int(raw["min_insync_replicas"]),
        unclean_leader_election_enable=bool(raw["unclean_leader_election_enable"]),
        replication_factor=int(raw["replication_factor"]),
    )


def _partition_json(p: PartitionMetadata) -> dict[str, Any]:
    return {
        "topic": p.topic_partition.topic,
        "partition": p.topic_partition.partition,
        "replicas": list(p.replicas),
        "isr": list(p.isr),
        "leader": p.leader,
        "leader_epoch": p.leader_epoch,
        "partition_epoch": p.partition_epoch,
        "elr": list(p.elr),
        "last_known_elr": list(p.last_known_elr),
        "leader_recovery_state": p.leader_recovery_state.value,
    }


def _ints(raw: Any) -> tuple[int, ...]:
    return tuple(int(x) for x in raw)


def _partition_from(raw: Mapping[str, Any]) -> PartitionMetadata:
    return PartitionMetadata(
        topic_partition=TopicPartition(str(raw["topic"]), int(raw["partition"])),
        replicas=_ints(raw["replicas"]),
        isr=_ints(raw["isr"]),
        leader=int(raw["leader"]),
        leader_epoch=int(raw["leader_epoch"]),
        partition_epoch=int(raw["partition_epoch"]),
        elr=_ints(raw["elr"]),
        last_known_elr=_ints(raw["last_known_elr"]),
        leader_recovery_state=LeaderRecoveryState(raw["leader_recovery_state"]),
    )


__all__ = [
    "FIRST_PRODUCER_ID",
    "PRODUCER_ID_BLOCK_SIZE",
    "CorruptMetadataError",
    "MetadataImage",
    "MetadataLog",
]
