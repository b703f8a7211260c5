"""The values a :class:`~reflog.replication.partition.Partition` takes and hands out.

:class:`PartitionConfig` (Kafka's settings its rules read), :class:`Role` (what the replica
currently is), :class:`ProduceResult` (the leader's answer to a produce) and
:class:`FollowerFetchOutcome` (what a follower did with a fetch response). Every one but
:class:`Role` is a frozen attrs value; nothing here has rules beyond a derived property.
"""

from __future__ import annotations

import enum

import attrs

from reflog.errors import Errors
from reflog.vocabulary import UNDEFINED_OFFSET

__all__ = ["FollowerFetchOutcome", "PartitionConfig", "ProduceResult", "Role"]


class Role(enum.Enum):
    """What this replica currently is for the partition."""

    NONE = "none"
    LEADER = "leader"
    FOLLOWER = "follower"


@attrs.frozen
class PartitionConfig:
    """Kafka's settings that the replication rules read, with Kafka's defaults."""

    #: ``min.insync.replicas``; the effective value is ``min(min_insync_replicas, len(replicas))``.
    min_insync_replicas: int = 1
    #: ``replica.lag.time.max.ms``: a follower not caught up for this long leaves the ISR.
    replica_lag_time_max_ms: int = 30_000
    #: The pre-KIP-101 protocol (Kafka <= 0.10.2): truncate to the local HW on a leadership change,
    #: and fetch without ``lastFetchedEpoch`` (so the leader cannot detect divergence).
    legacy_truncate_to_high_watermark: bool = False


@attrs.frozen
class ProduceResult:
    """The leader's decision on a produce request.

    ``error`` is final for acks 0/1 and for failures; an ``acks=all`` success is *pending*
    (``error is None``) until :meth:`~reflog.replication.partition.Partition.produce_status`
    reports the HW passed ``required_offset``.
    """

    error: Errors | None
    base_offset: int = UNDEFINED_OFFSET
    last_offset: int = UNDEFINED_OFFSET

    @property
    def required_offset(self) -> int:
        return self.last_offset + 1


@attrs.frozen
class FollowerFetchOutcome:
    """What a follower did with a fetch response."""

    error: Errors
    appended_records: int = 0
    truncated_to: int | None = None
    high_watermark: int = UNDEFINED_OFFSET
