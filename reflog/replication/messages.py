"""The replication protocol as data: requests, responses and metadata, as frozen values.

These are the in-process forms of Kafka's Fetch (for replication), AlterPartition and the
partition metadata a broker learns from the controller. Field names follow Kafka's schemas
(``fetchOffset``, ``lastFetchedEpoch``, ``currentLeaderEpoch``, ``partitionEpoch``, ...).
"""

from __future__ import annotations

import enum

import attrs

from reflog.errors import Errors
from reflog.requests import Request
from reflog.vocabulary import UNDEFINED_OFFSET, TopicPartition


class LeaderRecoveryState(enum.Enum):
    """KIP-704: a leader chosen by unclean election is RECOVERING until it says it has recovered."""

    RECOVERED = "RECOVERED"
    RECOVERING = "RECOVERING"


@attrs.frozen
class PartitionMetadata:
    """The controller's record of one partition, as every replica learns it."""

    topic_partition: TopicPartition
    replicas: tuple[int, ...]
    isr: tuple[int, ...]
    leader: int
    leader_epoch: int
    partition_epoch: int
    elr: tuple[int, ...] = ()
    last_known_elr: tuple[int, ...] = ()
    leader_recovery_state: LeaderRecoveryState = LeaderRecoveryState.RECOVERED


@attrs.frozen
class DivergingEpoch:
    """The leader's answer when the follower's log diverges: the largest epoch <= asked, and its end."""

    epoch: int
    end_offset: int


@attrs.frozen
class FetchResponse:
    """The leader's answer to a :class:`FetchRequest`.

    ``high_watermark``, ``log_end_offset`` and ``log_start_offset`` are the leader's values
    *before* this fetch updated the follower's state, as in Kafka: the HW a follower learns
    lags by one round trip.
    """

    topic_partition: TopicPartition
    error: Errors
    high_watermark: int = UNDEFINED_OFFSET
    log_end_offset: int = UNDEFINED_OFFSET
    log_start_offset: int = UNDEFINED_OFFSET
    records: bytes = b""
    diverging_epoch: DivergingEpoch | None = None


@attrs.frozen
class FetchRequest(Request[FetchResponse]):
    """A follower's fetch of one partition (FetchRequest v12+, KIP-320, KIP-903)."""

    topic_partition: TopicPartition
    replica_id: int
    replica_epoch: int
    """The follower's broker epoch."""
    fetch_offset: int
    """The follower's log end offset."""
    last_fetched_epoch: int
    """The epoch of the follower's last batch (UNDEFINED_EPOCH when its log is empty)."""
    current_leader_epoch: int
    """The leader epoch the follower believes current (fencing)."""
    log_start_offset: int
    max_bytes: int


@attrs.frozen
class AlterPartitionResponse:
    """The controller's answer: the partition as it now stands, or why the proposal was refused."""

    topic_partition: TopicPartition
    error: Errors
    partition: PartitionMetadata | None = None


@attrs.frozen
class AlterPartitionRequest(Request[AlterPartitionResponse]):
    """The leader's proposal of a new ISR (AlterPartition, KIP-497, KIP-903)."""

    topic_partition: TopicPartition
    broker_id: int
    broker_epoch: int
    leader_epoch: int
    partition_epoch: int
    new_isr: tuple[tuple[int, int], ...]
    """(broker id, broker epoch) of each proposed member."""
    leader_recovery_state: LeaderRecoveryState = LeaderRecoveryState.RECOVERED

    @property
    def isr_ids(self) -> tuple[int, ...]:
        return tuple(broker for broker, _ in self.new_isr)


__all__ = [
    "AlterPartitionRequest",
    "AlterPartitionResponse",
    "DivergingEpoch",
    "FetchRequest",
    "FetchResponse",
    "LeaderRecoveryState",
    "PartitionMetadata",
]
