"""Manual replica assignments of CreateTopics (PRO-145), checked as Kafka's KRaft controller checks them.

A CreateTopics topic may name its partitions' replicas itself (``assignments``: KafkaJS's
``replicaAssignment``, the Java admin's ``NewTopic(name, replicasAssignments)``,
``kafka-topics.sh --replica-assignment``). :func:`manual_assignment` applies the checks of Kafka's
``ReplicationControlManager.createTopic`` and ``validateManualPartitionAssignment``, in their order
and with their messages, and returns each partition's replicas in partition order; the first
replica is the preferred leader. It never raises for bad input: every refusal is a
:class:`ManualAssignmentRefused` carrying Kafka's error code.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence

import attrs

from reflog.errors import Errors


@attrs.frozen
class ManualAssignmentRefused:
    """Why an assignment is refused: Kafka's code (``INVALID_REQUEST`` or ``INVALID_REPLICA_ASSIGNMENT``)
    and Kafka's message."""

    error: Errors
    message: str


def _check_replicas(
    replicas: Sequence[int], registered: Collection[int], replication: int | None
) -> str | None:
    """Kafka's ``validateManualPartitionAssignment``: the message of the first failed check, or None.

    Brokers are checked in ascending id order, as Kafka sorts them, so the message names the
    lowest unregistered or repeated id.
    """
    if not replicas:
        return "The manual partition assignment includes an empty replica list."
    previous: int | None = None
    for broker in sorted(replicas):
        if broker not in registered:
            return (
                f"The manual partition assignment includes broker {broker}, but no such broker is registered."
            )
        if broker == previous:
            return f"The manual partition assignment includes the broker {broker} more than once."
        previous = broker
    if replication is not None and len(replicas) != replication:
        return (
            f"The manual partition assignment includes a partition with {len(replicas)} replica(s), but this"
            f" is not consistent with previous partitions, which have {replication} replica(s)."
        )
    return None


def manual_assignment(
    num_partitions: int,
    replication_factor: int,
    assignments: Sequence[tuple[int, Sequence[int]]],
    *,
    registered: Collection[int],
    is_active: Callable[[int], bool],
) -> tuple[tuple[int, ...], ...] | ManualAssignmentRefused:
    """The replicas of each partition ``0..n-1`` that ``assignments`` ((partition index, broker ids)
    each, as sent) names, or why Kafka refuses them.

    ``num_partitions`` and ``replication_factor`` must both be -1 (``INVALID_REQUEST``); a partition
    assigned twice, a replica list that is empty, names an unregistered broker or one broker twice,
    or whose length differs from the partitions before it, a partition whose replicas are all fenced
    or shutting down (not ``is_active``), and indexes that are not ``0..n-1`` are each
    ``INVALID_REPLICA_ASSIGNMENT``.
    """
    if replication_factor != -1:
        return ManualAssignmentRefused(
            Errors.INVALID_REQUEST,
            "A manual partition assignment was specified, but replication factor was not set to -1.",
        )
    if num_partitions != -1:
        return ManualAssignmentRefused(
            Errors.INVALID_REQUEST,
            "A manual partition assignment was specified, but numPartitions was not set to -1.",
        )
    by_index: dict[int, tuple[int, ...]] = {}
    replication: int | None = None
    for index, brokers in assignments:
        if index in by_index:
            return ManualAssignmentRefused(
                Errors.INVALID_REPLICA_ASSIGNMENT,
                f"Found multiple manual partition assignments for partition {index}",
            )
        problem = _check_replicas(brokers, registered, replication)
        if problem is not None:
            return ManualAssignmentRefused(Errors.INVALID_REPLICA_ASSIGNMENT, problem)
        replication = len(brokers)
        if not any(is_active(b) for b in brokers):
            return ManualAssignmentRefused(
                Errors.INVALID_REPLICA_ASSIGNMENT,
                f"All brokers specified in the manual partition assignment for partition {index}"
                " are fenced or in controlled shutdown.",
            )
        by_index[index] = tuple(brokers)
    if sorted(by_index) != list(range(len(by_index))):
        return ManualAssignmentRefused(
            Errors.INVALID_REPLICA_ASSIGNMENT, "partitions should be a consecutive 0-based integer sequence"
        )
    return tuple(by_index[i] for i in range(len(by_index)))


__all__ = ["ManualAssignmentRefused", "manual_assignment"]
