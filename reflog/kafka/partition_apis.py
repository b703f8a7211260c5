"""Partition-leader APIs of one broker's listener: OffsetForLeaderEpoch, DescribeProducers and
DeleteRecords (PRO-87..89).

Each is answered by this broker's replica of the partition, which must lead it, as Kafka's
``ReplicaManager`` decides: a partition the metadata does not have is
``UNKNOWN_TOPIC_OR_PARTITION``; one this broker does not lead is ``NOT_LEADER_OR_FOLLOWER``; an
offline log is ``KAFKA_STORAGE_ERROR``. No handler raises for a request.
"""

from __future__ import annotations

from typing import Final

import trio

from reflog.broker import Broker
from reflog.cluster import Cluster
from reflog.errors import Errors, ReflogError
from reflog.kafka.codec import KafkaMessage, response_class
from reflog.kafka.versions import ApiKey
from reflog.log.log import Log
from reflog.replication.partition import Partition, Role
from reflog.vocabulary import UNDEFINED_EPOCH, UNDEFINED_OFFSET, TopicPartition

NO_PARTITION_LEADER_EPOCH = -1
"""A ``current_leader_epoch`` of -1 skips the fencing check (``RecordBatch.NO_PARTITION_LEADER_EPOCH``)."""


_LOW_WATERMARK_POLL: Final = 0.05
"""Seconds between two looks at whether the followers have followed a DeleteRecords."""


class PartitionApis:
    """OffsetForLeaderEpoch, DescribeProducers and DeleteRecords of broker ``broker_id`` in ``cluster``."""

    def __init__(self, cluster: Cluster, broker_id: int) -> None:
        self.cluster = cluster
        self.broker_id = broker_id

    @property
    def broker(self) -> Broker:
        return self.cluster.broker(self.broker_id).broker

    def _leader(
        self, tp: TopicPartition, current_leader_epoch: int = NO_PARTITION_LEADER_EPOCH
    ) -> Partition | Errors:
        """This broker's leading replica of ``tp``, or why it cannot answer for it (Kafka's
        ``getPartitionOrException`` then ``checkCurrentLeaderEpoch``, then the leader check)."""
        if not self.cluster.controller.has_partition(tp):
            return Errors.UNKNOWN_TOPIC_OR_PARTITION
        partition = self.broker.partitions.get(tp)
        if partition is None:
            return Errors.NOT_LEADER_OR_FOLLOWER
        log = partition.log
        if isinstance(log, Log) and log.offline:
            return Errors.KAFKA_STORAGE_ERROR
        if current_leader_epoch != NO_PARTITION_LEADER_EPOCH:
            if current_leader_epoch < partition.leader_epoch:
                return Errors.FENCED_LEADER_EPOCH
            if current_leader_epoch > partition.leader_epoch:
                return Errors.UNKNOWN_LEADER_EPOCH
        if partition.role is not Role.LEADER:
            return Errors.NOT_LEADER_OR_FOLLOWER
        return partition

    # ------------------------------------------------------------------ OffsetForLeaderEpoch
    async def offset_for_leader_epoch(self, version: int, body: KafkaMessage) -> KafkaMessage:
        """PRO-87 (KIP-320): for each partition, the largest epoch at most the requested one and the
        offset where it ends, from the leader's epoch cache (Kafka's ``endOffsetForEpoch``); an
        epoch older than every cached one ends at the first cached epoch's start; an epoch newer
        than the latest, or an empty cache, is epoch and offset -1 with no error."""
        cls = response_class(ApiKey.OFFSET_FOR_LEADER_EPOCH, version)
        result_cls = cls.OffsetForLeaderTopicResult
        topics = []
        for topic in body.topics:
            parts = []
            for p in topic.partitions:
                tp = TopicPartition(topic.topic, p.partition)
                found = self._leader(tp, p.current_leader_epoch)
                error, epoch, end_offset = Errors.NONE, UNDEFINED_EPOCH, UNDEFINED_OFFSET
                if isinstance(found, Errors):
                    error = found
                else:
                    log = found.log
                    assert isinstance(log, Log)  # a broker's partitions hold Logs
                    entry = log.epoch_cache.end_offset_for(p.leader_epoch, log.log_end_offset)
                    if entry.epoch != UNDEFINED_EPOCH:
                        epoch, end_offset = entry.epoch, entry.start_offset
                parts.append(
                    result_cls.EpochEndOffset(
                        error_code=int(error),
                        partition=p.partition,
                        leader_epoch=epoch,
                        end_offset=end_offset,
                    )
                )
            topics.append(result_cls(topic=topic.topic, partitions=parts))
        return cls(throttle_time_ms=0, topics=topics)

    # ------------------------------------------------------------------ DescribeProducers
    async def describe_producers(self, version: int, body: KafkaMessage) -> KafkaMessage:
        """PRO-88: each partition leader's producer state (id, epoch, last sequence and timestamp);
        reflog has no transactions, so coordinator epoch and transaction start are -1."""
        cls = response_class(ApiKey.DESCRIBE_PRODUCERS, version)
        topic_cls = cls.TopicResponse
        partition_cls = topic_cls.PartitionResponse
        state_cls = partition_cls.ProducerState
        topics = []
        for topic in body.topics:
            parts = []
            for index in topic.partition_indexes:
                found = self._leader(TopicPartition(topic.name, index))
                producers: list[KafkaMessage] = []
                error = found if isinstance(found, Errors) else Errors.NONE
                if not isinstance(found, Errors):
                    for producer_id, entry in sorted(found.producer_state.producers().items()):
                        producers.append(
                            state_cls(
                                producer_id=producer_id,
                                producer_epoch=entry.producer_epoch,
                                last_sequence=entry.last_sequence,
                                last_timestamp=entry.last_timestamp,
                                coordinator_epoch=-1,
                                current_txn_start_offset=-1,
                            )
                        )
                parts.append(
                    partition_cls(
                        partition_index=index,
                        error_code=int(error),
                        error_message=None,
                        active_producers=producers,
                    )
                )
            topics.append(topic_cls(name=topic.name, partitions=parts))
        return cls(throttle_time_ms=0, topics=topics)

    # ------------------------------------------------------------------ DeleteRecords
    async def delete_records(self, version: int, body: KafkaMessage) -> KafkaMessage:
        """PRO-89: move each partition's log start offset up to the requested offset (-1: the high
        watermark) on its leader, then wait, as Kafka's ``DelayedDeleteRecords``, until the ISR
        followers have followed (the low watermark reaches it) or ``timeout_ms`` passes
        (``REQUEST_TIMED_OUT``); the answer carries the low watermark."""
        cls = response_class(ApiKey.DELETE_RECORDS, version)
        topic_cls = cls.DeleteRecordsTopicResult
        wanted: dict[TopicPartition, int] = {}
        for topic in body.topics:
            for p in topic.partitions:
                wanted[TopicPartition(topic.name, p.partition_index)] = p.offset
        deadline = trio.current_time() + max(0, body.timeout_ms) / 1000
        answers: dict[TopicPartition, tuple[Errors, int]] = {}
        pending: dict[TopicPartition, tuple[Partition, int]] = {}
        for tp, offset in wanted.items():
            found = self._leader(tp)
            if isinstance(found, Errors):
                answers[tp] = (found, UNDEFINED_OFFSET)
                continue
            try:
                error, low = found.delete_records(offset)
            except ReflogError as exc:  # the log went offline (StorageError) while deleting
                error, low = exc.error_code, UNDEFINED_OFFSET
            answers[tp] = (error, low)
            if error is Errors.NONE:
                pending[tp] = (found, found.log.log_start_offset)
        while pending:
            for tp, (partition, required) in list(pending.items()):
                if partition.role is not Role.LEADER:
                    answers[tp] = (Errors.NOT_LEADER_OR_FOLLOWER, UNDEFINED_OFFSET)
                    del pending[tp]
                elif partition.low_watermark >= required:
                    answers[tp] = (Errors.NONE, partition.low_watermark)
                    del pending[tp]
            if not pending:
                break
            if trio.current_time() >= deadline:
                for tp, (partition, _) in pending.items():
                    answers[tp] = (Errors.REQUEST_TIMED_OUT, partition.low_watermark)
                break
            await trio.sleep(min(_LOW_WATERMARK_POLL, max(0.0, deadline - trio.current_time())))
        by_topic: dict[str, list[KafkaMessage]] = {}
        for tp, (error, low) in answers.items():
            by_topic.setdefault(tp.topic, []).append(
                topic_cls.DeleteRecordsPartitionResult(
                    partition_index=tp.partition, low_watermark=low, error_code=int(error)
                )
            )
        topics = [topic_cls(name=name, partitions=parts) for name, parts in by_topic.items()]
        return cls(throttle_time_ms=0, topics=topics)


__all__ = ["PartitionApis"]
