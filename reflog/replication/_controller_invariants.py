"""The controller's state invariants, as a checker that lists violations (used by tests and the harness).

These are the invariants of Vanlightly's KIP-966 TLA+ model that concern the controller alone
(``ValidControllerState``, ``ValidControllerIsrAndElr``) and of Gustafson's model
(``LeaderInIsr``), stated for reflog's model; see the controller spec (controller.md in specs/) (CTL-22).
Invariants over time (epochs never decrease, unclean-restart exclusion, the recovery quorum)
need history and are checked by the tests' state machine.
"""

from __future__ import annotations

from collections.abc import Mapping

from reflog.replication.messages import LeaderRecoveryState, PartitionMetadata
from reflog.vocabulary import NO_LEADER, TopicPartition


def invariant_violations(
    *,
    elr_enabled: bool,
    last_known_leader: bool = False,
    effective_min_isr: Mapping[str, int],
    partitions: Mapping[TopicPartition, PartitionMetadata],
    active_brokers: frozenset[int],
    broker_epochs: Mapping[int, int],
    metadata_version: int,
) -> tuple[str, ...]:
    """Every violated invariant, described in one line each; empty when the state is valid."""
    problems: list[str] = []
    epochs = list(broker_epochs.values())
    if len(set(epochs)) != len(epochs):
        problems.append(f"two incarnations share a broker epoch: {dict(broker_epochs)}")
    if any(e > metadata_version or e < 1 for e in epochs):
        problems.append(f"a broker epoch is outside 1..{metadata_version}: {dict(broker_epochs)}")
    for tp, p in partitions.items():
        name = f"{tp.topic}-{tp.partition}"
        replicas = set(p.replicas)
        isr, elr, lkelr = set(p.isr), set(p.elr), set(p.last_known_elr)
        for label, members in (("ISR", p.isr), ("ELR", p.elr), ("LastKnownELR", p.last_known_elr)):
            if len(set(members)) != len(members):
                problems.append(f"{name}: {label} {members} has duplicates")
            if not set(members) <= replicas:
                problems.append(f"{name}: {label} {members} is not within replicas {p.replicas}")
        if isr & elr:
            problems.append(f"{name}: ISR {p.isr} and ELR {p.elr} overlap")
        if lkelr & (isr | elr) and not last_known_leader:  # Kafka's last known leader may be in the ELR
            problems.append(f"{name}: LastKnownELR {p.last_known_elr} overlaps ISR/ELR")
        if p.leader != NO_LEADER:
            if p.leader not in isr:
                problems.append(f"{name}: leader {p.leader} is not in the ISR {p.isr}")
            if p.leader not in active_brokers:
                problems.append(f"{name}: leader {p.leader} is fenced, shutting down or unregistered")
        min_isr = effective_min_isr[tp.topic]
        if len(isr) >= min_isr and (elr or lkelr):
            problems.append(f"{name}: ISR {p.isr} reaches min ISR {min_isr}, yet ELR/LastKnownELR not empty")
        if not elr_enabled and (elr or lkelr):
            problems.append(f"{name}: ELR disabled but ELR {p.elr} / LastKnownELR {p.last_known_elr}")
        if not elr_enabled and not isr:
            problems.append(f"{name}: ELR disabled but the ISR is empty (last replica standing)")
        inactive = isr - active_brokers
        last_replica_standing = not elr_enabled and len(isr) == 1
        if inactive and not last_replica_standing:
            problems.append(f"{name}: ISR {p.isr} holds inactive broker(s) {sorted(inactive)}")
        if p.leader_recovery_state is LeaderRecoveryState.RECOVERING and len(isr) > 1:
            problems.append(f"{name}: RECOVERING with ISR {p.isr} of more than one member")
        if p.leader_epoch > p.partition_epoch or p.leader_epoch < 0:
            problems.append(f"{name}: leader epoch {p.leader_epoch} vs partition epoch {p.partition_epoch}")
    return tuple(problems)
