"""What a consumer Fetch request carries at current versions, and the epoch rules it asks for
(PRO-66, PRO-67).

* :func:`fetch_positions` reads the request's partitions: by name below v13, by topic id from
  v13 (KIP-516), resolved through :attr:`reflog.cluster.Cluster.topic_ids`; an id no topic has is
  set aside, to be answered ``UNKNOWN_TOPIC_ID`` (100) partition by partition, as Kafka does.
* :func:`check_epochs` is Kafka's ``Partition.readRecords`` before it reads: the request's
  ``current_leader_epoch`` (v9+) against the partition's (``FENCED_LEADER_EPOCH`` when older,
  ``UNKNOWN_LEADER_EPOCH`` when newer), then, at the leader, ``last_fetched_epoch`` (v12+,
  KIP-320) against the leader's epoch cache: when the leader's log ends that epoch before the
  fetch offset, or knows only an older epoch, the answer is no records and ``diverging_epoch``
  (the largest epoch at most the one asked, and where it ends), from which the consumer detects
  truncation after a failover.

Pure functions over the request and a partition; no I/O, nothing raises for a request.
"""

from __future__ import annotations

import uuid
from typing import Final

import attrs

from reflog.broker.topic_ids import TopicIds
from reflog.errors import Errors
from reflog.kafka.codec import KafkaMessage
from reflog.replication.messages import DivergingEpoch
from reflog.replication.partition import Partition, Role
from reflog.vocabulary import UNDEFINED_EPOCH, UNDEFINED_OFFSET, TopicPartition

TOPIC_IDS_FROM: Final = 13
"""The first Fetch version naming topics by id."""


@attrs.frozen
class FetchPosition:
    """One partition of a Fetch request: where to read, how much, and the epochs the client knows."""

    fetch_offset: int
    max_bytes: int
    current_leader_epoch: int = UNDEFINED_EPOCH
    last_fetched_epoch: int = UNDEFINED_EPOCH


@attrs.frozen
class EpochAnswer:
    """What :func:`check_epochs` answers instead of a read: an error, or a divergence."""

    error: Errors
    diverging_epoch: DivergingEpoch | None = None
    high_watermark: int = -1
    log_start_offset: int = -1


def fetch_positions(
    body: KafkaMessage, version: int, topic_ids: TopicIds
) -> tuple[dict[TopicPartition, FetchPosition], dict[uuid.UUID, list[int]]]:
    """The request's partitions by name, and the partitions of topic ids no topic has.

    A partition named twice is fetched once, at its first position with its last entry (Kafka's
    fetch request builds a ``LinkedHashMap`` of its partitions).
    """
    positions: dict[TopicPartition, FetchPosition] = {}
    unknown: dict[uuid.UUID, list[int]] = {}
    for topic in body.topics:
        name: str | None = topic.topic
        if version >= TOPIC_IDS_FROM:
            name = topic_ids.name_of(topic.topic_id)
        for p in topic.partitions:
            if name is None:
                unknown.setdefault(topic.topic_id, []).append(p.partition)
                continue
            positions[TopicPartition(name, p.partition)] = FetchPosition(
                p.fetch_offset,
                max(0, p.partition_max_bytes),
                getattr(p, "current_leader_epoch", UNDEFINED_EPOCH),
                getattr(p, "last_fetched_epoch", UNDEFINED_EPOCH),
            )
    for partitions in unknown.values():
        partitions[:] = list(dict.fromkeys(partitions))
    return positions, unknown


def check_epochs(partition: Partition | None, position: FetchPosition) -> EpochAnswer | None:
    """The answer for this partition before any read, or ``None`` when the read goes ahead.

    ``partition`` is this broker's replica (``None`` when it has none: the read answers).
    """
    if partition is None:
        return None
    asked = position.current_leader_epoch
    if asked != UNDEFINED_EPOCH and asked < partition.leader_epoch:
        return EpochAnswer(Errors.FENCED_LEADER_EPOCH)
    if asked != UNDEFINED_EPOCH and asked > partition.leader_epoch:
        return EpochAnswer(Errors.UNKNOWN_LEADER_EPOCH)
    last = position.last_fetched_epoch
    if last == UNDEFINED_EPOCH or partition.role is not Role.LEADER:
        return None
    log = partition.log
    hw, start = partition.high_watermark, log.log_start_offset
    epoch, end = log.epoch_cache.end_offset_for(last, log.log_end_offset)
    if epoch == UNDEFINED_EPOCH or end == UNDEFINED_OFFSET or position.fetch_offset < start:
        # Kafka: "Could not determine the end offset of the last fetched epoch", or below the start.
        return EpochAnswer(Errors.OFFSET_OUT_OF_RANGE, None, hw, start)
    if epoch < last or end < position.fetch_offset:
        return EpochAnswer(Errors.NONE, DivergingEpoch(epoch, end), hw, start)
    return None


def epoch_answer(partition_cls: KafkaMessage, index: int, answer: EpochAnswer) -> KafkaMessage:
    """The Fetch response partition for an :class:`EpochAnswer`: no records."""
    fields: dict[str, object] = {}
    if answer.diverging_epoch is not None:
        fields["diverging_epoch"] = partition_cls.EpochEndOffset(
            epoch=answer.diverging_epoch.epoch, end_offset=answer.diverging_epoch.end_offset
        )
    return partition_cls(
        partition_index=index,
        error_code=int(answer.error),
        high_watermark=answer.high_watermark,
        last_stable_offset=answer.high_watermark,
        log_start_offset=answer.log_start_offset,
        aborted_transactions=None,
        preferred_read_replica=-1,
        records=b"",
        **fields,
    )


def unknown_topic_ids(cls: KafkaMessage, unknown: dict[uuid.UUID, list[int]]) -> list[KafkaMessage]:
    """The Fetch response topics for ids no topic has: every partition ``UNKNOWN_TOPIC_ID``."""
    partition_cls = cls.FetchableTopicResponse.PartitionData
    return [
        cls.FetchableTopicResponse(
            topic_id=topic_id,
            partitions=[
                epoch_answer(partition_cls, index, EpochAnswer(Errors.UNKNOWN_TOPIC_ID)) for index in indexes
            ],
        )
        for topic_id, indexes in unknown.items()
    ]


__all__ = [
    "TOPIC_IDS_FROM",
    "EpochAnswer",
    "FetchPosition",
    "check_epochs",
    "epoch_answer",
    "fetch_positions",
    "unknown_topic_ids",
]
