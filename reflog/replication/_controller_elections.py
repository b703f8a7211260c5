"""Which change each of the controller's elections and ISR removals asks for, as Kafka decides it.

The election half of :class:`~reflog.replication.controller.Controller`, kept pure: every
function reads one partition's state, its topic's :class:`TopicConfig`, the cluster's
:class:`ControllerConfig` and which brokers may lead, and answers the
:class:`~reflog.replication._controller_change.PartitionChange` that
:func:`~reflog.replication._controller_change.build_partition_change` decides (``None`` when
nothing would change). The controller applies the changes and records their events; these
functions change nothing.

* :func:`topic_change`: any change under the topic's own settings (its effective min ISR, and an
  unclean election only when its ``unclean.leader.election.enable`` says so), the cluster's ELR
  settings; what AlterPartition and the ISR removals use.
* :func:`removal_change`: Kafka's ``generateLeaderAndIsrUpdates`` for one partition: the ISR
  without a fenced, shutting-down or uncleanly restarted broker, with a new leader where it led.
* :func:`election_targets`, :func:`admin_election`, :func:`election_outcome`: an administrator's
  ElectLeaders; only :func:`election_targets` raises (:class:`ReflogUsageError`).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping
from typing import Literal

from reflog.errors import ReflogUsageError
from reflog.replication._controller_change import Election, PartitionChange, build_partition_change
from reflog.replication.controller_config import ControllerConfig, TopicConfig
from reflog.replication.controller_values import ElectionOutcome
from reflog.replication.messages import LeaderRecoveryState, PartitionMetadata
from reflog.vocabulary import NO_LEADER, TopicPartition

AdminElection = Literal["preferred", "unclean"]
"""The elections an administrator may ask for (Kafka's ``ElectionType``: PREFERRED, UNCLEAN)."""


def topic_change(
    partition: PartitionMetadata,
    topic: TopicConfig,
    cluster: ControllerConfig,
    *,
    target_isr: Collection[int],
    is_acceptable_leader: Callable[[int], bool],
    election: Election | None = None,
    unclean_shutdown_replicas: Collection[int] = (),
    target_leader_recovery_state: LeaderRecoveryState | None = None,
) -> PartitionChange | None:
    """:func:`build_partition_change` with ``topic``'s effective min ISR and ``cluster``'s ELR settings.

    ``election`` defaults to the topic's own: ``"unclean"`` when its
    ``unclean.leader.election.enable`` is set, else ``"online"`` (clean only).
    """
    if election is None:
        election = "unclean" if topic.unclean_leader_election_enable else "online"
    return build_partition_change(
        partition,
        target_isr=target_isr,
        is_acceptable_leader=is_acceptable_leader,
        min_isr=topic.effective_min_isr,
        elr_enabled=cluster.eligible_leader_replicas_enable,
        last_known_leader=cluster.elect_last_known_leader,
        election=election,
        unclean_shutdown_replicas=unclean_shutdown_replicas,
        target_leader_recovery_state=target_leader_recovery_state,
    )


def removal_change(
    partition: PartitionMetadata,
    topic: TopicConfig,
    cluster: ControllerConfig,
    *,
    is_active: Callable[[int], bool],
    remove: int = NO_LEADER,
    unclean_shutdown: int = NO_LEADER,
) -> PartitionChange | None:
    """``generateLeaderAndIsrUpdates`` for one partition: drop ``remove``/``unclean_shutdown``, re-elect.

    Neither broker may lead (whatever ``is_active`` says of it); ``unclean_shutdown`` also leaves
    the ELR (KIP-966). ``NO_LEADER`` means no such broker. Without ELR the last ISR member stays
    (``build_partition_change``'s rule 4).
    """
    excluded = {remove, unclean_shutdown} - {NO_LEADER}

    def acceptable(replica: int) -> bool:
        return replica not in excluded and is_active(replica)

    return topic_change(
        partition,
        topic,
        cluster,
        target_isr=[r for r in partition.isr if r not in excluded],
        is_acceptable_leader=acceptable,
        unclean_shutdown_replicas=(unclean_shutdown,) if unclean_shutdown != NO_LEADER else (),
    )


def election_targets(
    partitions: Mapping[TopicPartition, PartitionMetadata], requested: Iterable[TopicPartition] | None
) -> list[TopicPartition]:
    """The partitions an ElectLeaders names (``None``: every partition, in creation order).

    Raises :class:`ReflogUsageError` for the first unknown partition, before any election runs.
    """
    targets = list(partitions) if requested is None else [TopicPartition(*tp) for tp in requested]
    for tp in targets:
        if tp not in partitions:
            raise ReflogUsageError(f"unknown partition {tp.topic}-{tp.partition}")
    return targets


def admin_election(
    partition: PartitionMetadata,
    election: AdminElection,
    topic: TopicConfig,
    cluster: ControllerConfig,
    *,
    is_active: Callable[[int], bool],
) -> PartitionChange | ElectionOutcome:
    """The change an administrator's ``election`` makes to ``partition``, or why it makes none.

    An :class:`ElectionOutcome` when nothing is to be applied: ``"not_needed"`` when the preferred
    replica already leads (``"preferred"``) or the partition has a leader (``"unclean"``),
    ``"not_available"`` when no candidate is found; else the change, whose
    :func:`election_outcome` the controller reports once it applied it. The election is the one
    asked for, whatever the topic's ``unclean.leader.election.enable``.
    """
    tp = partition.topic_partition
    if (election == "preferred" and partition.leader == partition.replicas[0]) or (
        election == "unclean" and partition.leader != NO_LEADER
    ):
        return ElectionOutcome(tp, "not_needed", partition)
    change = topic_change(
        partition, topic, cluster, target_isr=partition.isr, is_acceptable_leader=is_active, election=election
    )
    if change is None:
        return ElectionOutcome(tp, "not_available", partition)
    return change


def election_outcome(change: PartitionChange) -> ElectionOutcome:
    """What an applied admin election reports: ``"elected"`` unless it left the partition leaderless."""
    after = change.after
    return ElectionOutcome(
        after.topic_partition, "elected" if after.leader != NO_LEADER else "not_available", after
    )


__all__ = [
    "AdminElection",
    "admin_election",
    "election_outcome",
    "election_targets",
    "removal_change",
    "topic_change",
]
