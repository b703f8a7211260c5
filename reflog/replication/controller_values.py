"""The values the controller hands out: registrations, heartbeat replies, metadata, elections, snapshots.

Every one is a frozen value: holding one never changes the controller, and the controller never
changes one it handed out (a newer state is a new value). :class:`DuplicateBrokerRegistrationError`
is the one peer error the controller raises instead of answering with an error code, as Kafka does.
"""

from __future__ import annotations

from typing import Literal

import attrs

from reflog.errors import Errors, ReflogError
from reflog.replication.controller_config import TopicConfig
from reflog.replication.messages import PartitionMetadata
from reflog.vocabulary import TopicPartition

__all__ = [
    "BrokerHeartbeatReply",
    "BrokerRegistration",
    "ClusterMetadata",
    "ControllerSnapshot",
    "DuplicateBrokerRegistrationError",
    "ElectionOutcome",
    "PartitionState",
]

PartitionState = PartitionMetadata
"""The controller's record of one partition (the same value brokers receive as metadata)."""


class DuplicateBrokerRegistrationError(ReflogError):
    """A new incarnation tried to register while the previous one still has a valid session.

    Kafka's ``DUPLICATE_BROKER_REGISTRATION`` (101): the broker retries until the old
    incarnation's session expires (``broker.session.timeout.ms``) or it shut down cleanly.
    """

    error_code = Errors.DUPLICATE_BROKER_REGISTRATION


@attrs.frozen
class BrokerRegistration:
    """The controller's record of one broker incarnation."""

    broker_id: int
    incarnation_id: str
    broker_epoch: int
    fenced: bool
    in_controlled_shutdown: bool

    @property
    def is_active(self) -> bool:
        """Whether it may lead or join an ISR: unfenced and not shutting down (``isActive``)."""
        return not self.fenced and not self.in_controlled_shutdown


@attrs.frozen
class BrokerHeartbeatReply:
    """The answer to a heartbeat (or a controlled-shutdown request), as Kafka's BrokerHeartbeatResponse."""

    error: Errors
    is_caught_up: bool = False
    is_fenced: bool = True
    in_controlled_shutdown: bool = False
    should_shut_down: bool = False


@attrs.frozen
class ClusterMetadata:
    """A consistent view of the metadata at ``metadata_version``."""

    metadata_version: int
    brokers: tuple[BrokerRegistration, ...]
    partitions: tuple[PartitionMetadata, ...]

    @property
    def broker_epochs(self) -> dict[int, int]:
        """Broker id -> current broker epoch, for every registered broker."""
        return {b.broker_id: b.broker_epoch for b in self.brokers}


@attrs.frozen
class ElectionOutcome:
    """The result of :meth:`Controller.elect_leaders` for one partition.

    ``outcome`` is ``"elected"`` (a new leader, ``partition`` shows it), ``"not_needed"``
    (Kafka's ELECTION_NOT_NEEDED) or ``"not_available"`` (PREFERRED_LEADER_NOT_AVAILABLE /
    ELIGIBLE_LEADERS_NOT_AVAILABLE: no acceptable candidate).
    """

    topic_partition: TopicPartition
    outcome: Literal["elected", "not_needed", "not_available"]
    partition: PartitionMetadata


@attrs.frozen
class ControllerSnapshot:
    """Everything :class:`Controller` needs to resume: what its metadata log persists (CTL-26)."""

    metadata_version: int
    brokers: tuple[BrokerRegistration, ...]
    topics: tuple[tuple[str, TopicConfig], ...]
    partitions: tuple[PartitionMetadata, ...]
