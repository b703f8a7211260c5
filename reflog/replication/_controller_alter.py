"""AlterPartition's validation: whether a leader's ISR proposal may be applied, as Kafka decides it.

:func:`alter_partition_error` is the compare-and-swap half of
:meth:`~reflog.replication.controller.Controller.alter_partition`, kept pure: it reads the
request, the partition's current state and the broker registrations, and answers the Kafka error
code of the first check that fails (``ReplicationControlManager.alterPartition``'s order), or
``Errors.NONE``. It changes nothing and raises nothing.
"""

from __future__ import annotations

from collections.abc import Mapping

from reflog.errors import Errors
from reflog.replication.controller_values import BrokerRegistration
from reflog.replication.messages import AlterPartitionRequest, LeaderRecoveryState, PartitionMetadata


def alter_partition_error(
    request: AlterPartitionRequest,
    partition: PartitionMetadata | None,
    brokers: Mapping[int, BrokerRegistration],
) -> Errors:
    """The error for ``request`` against ``partition`` (``None``: no such partition), or ``Errors.NONE``.

    Checks, in Kafka's order: the sender's broker epoch (``STALE_BROKER_EPOCH``), the partition
    (``UNKNOWN_TOPIC_OR_PARTITION``), epochs newer than the controller's (``INVALID_REQUEST``), an
    older leader epoch (``FENCED_LEADER_EPOCH``), a sender that is not the leader
    (``INVALID_REQUEST``), an older partition epoch (``INVALID_UPDATE_VERSION``), the proposal's
    shape (``INVALID_REQUEST``), then each proposed member's registration (``INELIGIBLE_REPLICA``);
    the controller's method documents each.
    """
    sender = brokers.get(request.broker_id)
    if sender is None or sender.broker_epoch != request.broker_epoch:
        return Errors.STALE_BROKER_EPOCH
    if partition is None:
        return Errors.UNKNOWN_TOPIC_OR_PARTITION
    if request.leader_epoch > partition.leader_epoch or request.partition_epoch > partition.partition_epoch:
        return Errors.INVALID_REQUEST
    if request.leader_epoch < partition.leader_epoch:
        return Errors.FENCED_LEADER_EPOCH
    if request.broker_id != partition.leader:
        return Errors.INVALID_REQUEST
    if request.partition_epoch < partition.partition_epoch:
        return Errors.INVALID_UPDATE_VERSION
    new_isr = [broker for broker, _ in request.new_isr]
    if len(set(new_isr)) != len(new_isr) or any(b not in partition.replicas for b in new_isr):
        return Errors.INVALID_REQUEST
    if partition.leader not in new_isr:
        return Errors.INVALID_REQUEST
    recovering = request.leader_recovery_state is LeaderRecoveryState.RECOVERING
    if recovering and len(new_isr) > 1:
        return Errors.INVALID_REQUEST
    if recovering and partition.leader_recovery_state is LeaderRecoveryState.RECOVERED:
        return Errors.INVALID_REQUEST
    for broker, epoch in request.new_isr:
        registration = brokers.get(broker)
        if (
            registration is None
            or registration.in_controlled_shutdown
            or registration.fenced
            or epoch not in (-1, registration.broker_epoch)
        ):
            return Errors.INELIGIBLE_REPLICA
    return Errors.NONE
