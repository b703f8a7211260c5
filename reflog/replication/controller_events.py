"""The controller's metadata events: what :attr:`~reflog.replication.controller.Controller.events` records.

Each event is a frozen value stamped with the controller's time and the metadata version at
which it happened, as h11 keeps its events apart from its state machine. The controller appends
one for every registration, (un)fencing, controlled shutdown, topic creation, leader change and
ISR/ELR change, in the order the changes were made; tests and the fault harness read them as the
cluster's history (an unclean election is flagged by :attr:`LeaderElected.unclean`).
"""

from __future__ import annotations

from typing import Literal

import attrs

from reflog.replication._controller_change import ElectionKind, PartitionChange
from reflog.replication.controller_config import TopicConfig
from reflog.replication.messages import LeaderRecoveryState, PartitionMetadata
from reflog.vocabulary import TopicPartition

__all__ = [
    "BrokerControlledShutdown",
    "BrokerFenced",
    "BrokerRegistered",
    "BrokerUnfenced",
    "ChangeCause",
    "ControllerEvent",
    "FenceReason",
    "IsrChanged",
    "LeaderElected",
    "PartitionsCreated",
    "TopicCreated",
    "TopicDeleted",
    "partition_change_events",
]

ChangeCause = Literal[
    "alter_partition",
    "broker_fenced",
    "controlled_shutdown",
    "unclean_shutdown",
    "broker_unfenced",
    "elect_leaders",
]
"""Why a partition changed."""

FenceReason = Literal["session_expired", "controlled_shutdown"]
"""Why a broker was fenced."""


@attrs.frozen
class BrokerRegistered:
    """A new incarnation registered (fenced until it heartbeats).

    ``unclean_restart``: the restart counted as unclean, so the broker lost its ISR and ELR places.
    """

    time: float
    metadata_version: int
    broker_id: int
    incarnation_id: str
    broker_epoch: int
    unclean_restart: bool


@attrs.frozen
class BrokerFenced:
    """A broker was fenced: its session expired, or its controlled shutdown completed."""

    time: float
    metadata_version: int
    broker_id: int
    broker_epoch: int
    reason: FenceReason


@attrs.frozen
class BrokerUnfenced:
    """A broker's heartbeat unfenced it: it may lead and join ISRs again."""

    time: float
    metadata_version: int
    broker_id: int
    broker_epoch: int


@attrs.frozen
class BrokerControlledShutdown:
    """A broker asked to shut down cleanly; leadership and ISR places are being moved away."""

    time: float
    metadata_version: int
    broker_id: int
    broker_epoch: int


@attrs.frozen
class TopicCreated:
    """A topic was created; ``partitions`` are its initial states."""

    time: float
    metadata_version: int
    topic: str
    config: TopicConfig
    partitions: tuple[PartitionMetadata, ...]


@attrs.frozen
class TopicDeleted:
    """A topic was deleted; ``partitions`` are the states its partitions had (CTL-28)."""

    time: float
    metadata_version: int
    topic: str
    partitions: tuple[PartitionMetadata, ...]


@attrs.frozen
class PartitionsCreated:
    """Partitions were added to an existing topic; ``partitions`` are their initial states (CTL-29)."""

    time: float
    metadata_version: int
    topic: str
    partitions: tuple[PartitionMetadata, ...]


@attrs.frozen
class LeaderElected:
    """A partition's leader changed. ``kind="unclean"`` flags a possibly lossy unclean election;
    ``kind="none"`` means the partition went offline (leader ``NO_LEADER``)."""

    time: float
    metadata_version: int
    topic_partition: TopicPartition
    leader: int
    previous_leader: int
    leader_epoch: int
    partition_epoch: int
    kind: ElectionKind
    cause: ChangeCause
    partition: PartitionMetadata

    @property
    def unclean(self) -> bool:
        return self.kind == "unclean"


@attrs.frozen
class IsrChanged:
    """A partition's ISR, ELR, LastKnownELR or leader recovery state changed."""

    time: float
    metadata_version: int
    topic_partition: TopicPartition
    isr: tuple[int, ...]
    elr: tuple[int, ...]
    last_known_elr: tuple[int, ...]
    leader_recovery_state: LeaderRecoveryState
    leader_epoch: int
    partition_epoch: int
    cause: ChangeCause
    partition: PartitionMetadata


ControllerEvent = (
    BrokerRegistered
    | BrokerFenced
    | BrokerUnfenced
    | BrokerControlledShutdown
    | TopicCreated
    | TopicDeleted
    | PartitionsCreated
    | LeaderElected
    | IsrChanged
)


def partition_change_events(
    change: PartitionChange, cause: ChangeCause, *, time: float, metadata_version: int
) -> tuple[LeaderElected | IsrChanged, ...]:
    """The events one applied partition change records, in order.

    A :class:`LeaderElected` when the change held an election, then an :class:`IsrChanged` when
    the ISR, ELR, LastKnownELR or leader recovery state differ; empty when neither did.
    """
    before, after = change.before, change.after
    tp = after.topic_partition
    events: list[LeaderElected | IsrChanged] = []
    if change.election is not None:
        events.append(
            LeaderElected(
                time,
                metadata_version,
                tp,
                after.leader,
                before.leader,
                after.leader_epoch,
                after.partition_epoch,
                change.election,
                cause,
                after,
            )
        )
    if (before.isr, before.elr, before.last_known_elr, before.leader_recovery_state) != (
        after.isr,
        after.elr,
        after.last_known_elr,
        after.leader_recovery_state,
    ):
        events.append(
            IsrChanged(
                time,
                metadata_version,
                tp,
                after.isr,
                after.elr,
                after.last_known_elr,
                after.leader_recovery_state,
                after.leader_epoch,
                after.partition_epoch,
                cause,
                after,
            )
        )
    return tuple(events)
