"""ListOffsets (PRO-7, PRO-22, PRO-68): an offset for a timestamp, or for one of Kafka's markers.

``EARLIEST`` (-2) is the log start offset and ``LATEST`` (-1) the high watermark, with the leader's
epoch; a timestamp is the first *record* at or after it, below the high watermark (LOG-25).
From v7 ``MAX_TIMESTAMP`` (-3, KIP-734) is the first record carrying the log's largest timestamp,
with that timestamp, when it lies below the high watermark; from v8 ``EARLIEST_LOCAL`` (-4,
KIP-405) is the local log start, which without tiered storage is the log start; from v9
``LATEST_TIERED`` (-5, KIP-1005) is offset -1 and epoch -1, as Kafka answers when remote storage
is off. Nothing found is offset and timestamp -1. A partition the metadata does not have is
``UNKNOWN_TOPIC_OR_PARTITION``, one not led here ``NOT_LEADER_OR_FOLLOWER``; a corrupt or
unreadable log ``CORRUPT_MESSAGE`` / ``KAFKA_STORAGE_ERROR``. Nothing raises for a request.
"""

from __future__ import annotations

from typing import Final

from reflog.broker import Broker
from reflog.broker.api import EARLIEST_TIMESTAMP, LATEST_TIMESTAMP, ListOffsetsRequest
from reflog.cluster import Cluster
from reflog.errors import CorruptRecordError, Errors, StorageError
from reflog.kafka.codec import KafkaMessage, response_class
from reflog.kafka.versions import ApiKey
from reflog.log.epoch_cache import LeaderEpochCache
from reflog.log.log import Log
from reflog.log.reads import TimestampAndOffset
from reflog.replication.partition import Role
from reflog.vocabulary import UNDEFINED_EPOCH, TopicPartition

MAX_TIMESTAMP: Final = -3
EARLIEST_LOCAL_TIMESTAMP: Final = -4
LATEST_TIERED_TIMESTAMP: Final = -5
NOT_FOUND: Final = TimestampAndOffset(-1, -1, -1)


def epoch_for_offset(cache: LeaderEpochCache, offset: int) -> int:
    """Kafka's ``epochForOffset``: the epoch whose range holds ``offset`` (-1 when none does)."""
    epoch = UNDEFINED_EPOCH
    for entry in cache.entries:
        if entry.start_offset > offset:
            break
        epoch = entry.epoch
    return epoch


class ListOffsetsApi:
    """ListOffsets for broker ``broker_id`` of ``cluster``."""

    def __init__(self, cluster: Cluster, broker_id: int) -> None:
        self.cluster = cluster
        self.broker_id = broker_id

    @property
    def broker(self) -> Broker:
        return self.cluster.broker(self.broker_id).broker

    async def list_offsets(self, version: int, body: KafkaMessage) -> KafkaMessage:
        cls = response_class(ApiKey.LIST_OFFSETS, version)
        partition_cls = cls.ListOffsetsTopicResponse.ListOffsetsPartitionResponse
        topics = []
        for topic in body.topics:
            parts = []
            for p in topic.partitions:
                error, found = self.offset_for(TopicPartition(topic.name, p.partition_index), p.timestamp)
                parts.append(
                    partition_cls(
                        partition_index=p.partition_index,
                        error_code=int(error),
                        timestamp=found.timestamp,
                        offset=found.offset,
                        leader_epoch=found.leader_epoch,
                    )
                )
            topics.append(cls.ListOffsetsTopicResponse(name=topic.name, partitions=parts))
        return cls(throttle_time_ms=0, topics=topics)

    def _leader_epoch(self, tp: TopicPartition) -> int:
        partition = self.broker.partitions.get(tp)
        return -1 if partition is None else int(partition.leader_epoch)

    def offset_for(self, tp: TopicPartition, timestamp: int) -> tuple[Errors, TimestampAndOffset]:
        """The answer for one partition (see the module docstring)."""
        if not self.cluster.controller.has_partition(tp):  # ReplicaManager.getPartitionOrException
            return Errors.UNKNOWN_TOPIC_OR_PARTITION, NOT_FOUND
        if timestamp in (EARLIEST_TIMESTAMP, LATEST_TIMESTAMP):
            response = self.broker.list_offsets(ListOffsetsRequest(tp, timestamp))
            return response.error, TimestampAndOffset(-1, response.offset, self._leader_epoch(tp))
        partition = self.broker.partitions.get(tp)
        if partition is None or partition.role is not Role.LEADER:
            return Errors.NOT_LEADER_OR_FOLLOWER, NOT_FOUND
        leader_log = partition.log
        assert isinstance(leader_log, Log)  # a broker's partitions hold Logs (ReplicaLog: the core's view)
        if timestamp == LATEST_TIERED_TIMESTAMP:
            return Errors.NONE, NOT_FOUND
        if timestamp == EARLIEST_LOCAL_TIMESTAMP:
            start = leader_log.log_start_offset
            return Errors.NONE, TimestampAndOffset(-1, start, epoch_for_offset(leader_log.epoch_cache, start))
        try:
            if timestamp == MAX_TIMESTAMP:
                largest = max((s.max_timestamp for s in leader_log.segments), default=-1)
                if largest < 0:
                    return Errors.NONE, NOT_FOUND
                timestamp = largest
            found = leader_log.offset_for_timestamp(timestamp, max_offset=partition.high_watermark)
        except CorruptRecordError:
            return Errors.CORRUPT_MESSAGE, NOT_FOUND
        except StorageError:
            return Errors.KAFKA_STORAGE_ERROR, NOT_FOUND
        return Errors.NONE, NOT_FOUND if found is None else found


__all__ = [
    "EARLIEST_LOCAL_TIMESTAMP",
    "LATEST_TIERED_TIMESTAMP",
    "MAX_TIMESTAMP",
    "NOT_FOUND",
    "ListOffsetsApi",
    "epoch_for_offset",
]
