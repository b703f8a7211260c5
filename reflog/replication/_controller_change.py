"""One change to one partition's metadata, decided as Kafka's ``PartitionChangeBuilder`` decides it.

This is the rule-dense core of the controller, kept pure: :func:`build_partition_change`
takes the partition's current :class:`PartitionMetadata` and a *target* ISR (what the caller
wants: the leader's AlterPartition proposal, or the ISR minus a broker being fenced) and
returns the partition's next state, or ``None`` when nothing would change. It applies, in
Kafka's order (``PartitionChangeBuilder.build``, ``kafka@1eb7644``):

1. the ELR rules of KIP-966 (``maybePopulateTargetElr``);
2. the leader election (``tryElection``): keep a still-valid leader, else the first valid
   replica in assignment order (preferred first), where *valid* means in the target ISR, or
   (only when the target ISR is empty) in the ELR, and acceptable (registered, unfenced, not
   shutting down); else, for an unclean election, any acceptable replica;
3. the clearing of ELR and LastKnownELR after an unclean election or with ELR disabled
   (``maybeUpdateRecordElr``);
4. the ISR rule: without ELR the ISR never becomes empty ("last replica standing"); with
   ELR it may.

By default LastKnownELR holds what KIP-966 and its TLA+ model say it holds, the replicas that
left the ELR because of an unclean shutdown (see the controller spec (controller.md in specs/)).
With ``last_known_leader=True`` it behaves as Kafka 4.1's controller does by default
(``useLastKnownLeaderInBalancedRecovery``, with KAFKA-19522's fix): when the ISR becomes empty
LastKnownELR names the last leader, it is kept while the partition has no leader, and when ISR
and ELR are both empty that replica, once acceptable, is elected *uncleanly*
(``canElectLastKnownLeader``, CTL-25).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from typing import Literal

import attrs

from reflog.replication.messages import LeaderRecoveryState, PartitionMetadata
from reflog.vocabulary import NO_LEADER

Election = Literal["online", "preferred", "unclean"]
"""Kafka's ``PartitionChangeBuilder.Election``: ONLINE (clean only), PREFERRED, UNCLEAN (clean first)."""

ElectionKind = Literal["clean", "elr", "unclean", "none"]
"""How a new leader was found: from the ISR, from the ELR, uncleanly, or not at all (offline)."""


@attrs.frozen
class PartitionChange:
    """The next state of a partition, and how its leader was chosen when it changed."""

    before: PartitionMetadata
    after: PartitionMetadata
    #: ``None`` when the leader did not change (no election took place).
    election: ElectionKind | None

    @property
    def leader_changed(self) -> bool:
        return self.election is not None


def ordered(replicas: tuple[int, ...], members: Iterable[int]) -> tuple[int, ...]:
    """``members`` in assignment order (the canonical order of every replica set reflog stores)."""
    chosen = set(members)
    return tuple(r for r in replicas if r in chosen)


def build_partition_change(
    partition: PartitionMetadata,
    *,
    target_isr: Collection[int],
    is_acceptable_leader: Callable[[int], bool],
    min_isr: int,
    elr_enabled: bool,
    election: Election = "online",
    unclean_shutdown_replicas: Collection[int] = (),
    target_leader_recovery_state: LeaderRecoveryState | None = None,
    last_known_leader: bool = False,
) -> PartitionChange | None:
    """The partition's next state for ``target_isr``, or ``None`` when nothing changes.

    ``min_isr`` is the topic's *effective* min ISR (``min(min.insync.replicas, RF)``).
    Every member of ``target_isr`` must be a replica of the partition (the caller validated
    it). Promises, when a change is returned:

    * the partition epoch is one more than before; the leader epoch is one more exactly when
      the leader changed (also when it became ``NO_LEADER``), else unchanged;
    * the leader, when any, is in the new ISR; ISR and ELR are disjoint subsets of the replicas;
      the ELR is empty when the ISR has at least ``min_isr`` members or ELR is disabled;
    * an unclean election sets ISR = {leader}, RECOVERING, and clears ELR and LastKnownELR;
    * with ``last_known_leader`` (and ELR enabled), LastKnownELR follows Kafka 4.1's
      last-known-leader rules (module docstring), and that leader may be elected uncleanly.
    """
    replicas = partition.replicas
    unclean_shutdown = set(unclean_shutdown_replicas)
    t_isr = set(target_isr)
    t_elr = set(partition.elr)
    t_last_known_elr = set(partition.last_known_elr)

    # 1. KIP-966 (maybePopulateTargetElr).
    if elr_enabled:
        if len(t_isr) >= min_isr:
            t_elr = set()
            t_last_known_elr = set()
        else:
            candidates = set(partition.elr) | set(partition.isr)
            t_elr = candidates - t_isr - unclean_shutdown
            candidates |= set(partition.last_known_elr)
            t_last_known_elr = candidates - t_isr - t_elr

    # 2. The election (tryElection).
    def is_valid_new_leader(replica: int) -> bool:
        in_quorum = replica in t_isr or (not t_isr and replica in t_elr)
        return in_quorum and is_acceptable_leader(replica)

    def can_elect_last_known_leader() -> bool:  # canElectLastKnownLeader (4.1, KAFKA-19522)
        return (
            last_known_leader
            and elr_enabled
            and not t_isr
            and not t_elr
            and len(partition.last_known_elr) == 1
            and is_acceptable_leader(partition.last_known_elr[0])
        )

    node, unclean = _elect(partition, election, is_valid_new_leader, is_acceptable_leader)
    if node == NO_LEADER and election != "unclean" and can_elect_last_known_leader():
        node, unclean = partition.last_known_elr[0], True
    elif node != NO_LEADER and unclean and can_elect_last_known_leader():
        node = partition.last_known_elr[0]  # Kafka tries the last known leader before any replica
    leader = partition.leader
    kind: ElectionKind | None = None
    isr_of_unclean_election: set[int] | None = None
    recovery = target_leader_recovery_state or partition.leader_recovery_state
    if node != partition.leader:
        leader = node
        if unclean:
            kind = "unclean"
            isr_of_unclean_election = {node}
            recovery = LeaderRecoveryState.RECOVERING
        elif node != NO_LEADER and node in t_elr:
            kind = "elr"
            t_isr = {node}
            t_elr.discard(node)
        elif node == NO_LEADER:
            kind = "none"
        else:
            kind = "clean"

    # 3. maybeUpdateRecordElr.
    if isr_of_unclean_election is not None or not elr_enabled:
        t_elr = set()
        t_last_known_elr = set()
    stays_leaderless = leader == NO_LEADER
    if last_known_leader and len(partition.last_known_elr) == 1 and stays_leaderless:
        t_last_known_elr = set(partition.last_known_elr)  # the last known leader is kept while leaderless

    # 4. The ISR: without ELR it never becomes empty (the last replica standing stays).
    if isr_of_unclean_election is not None:
        isr = ordered(replicas, isr_of_unclean_election)
    elif (t_isr or elr_enabled) and t_isr != set(partition.isr):
        isr = ordered(replicas, t_isr)
    else:
        isr = partition.isr

    # maybeUpdateLastKnownLeader: the first time the ISR empties, remember who led.
    if (
        last_known_leader
        and elr_enabled
        and not isr
        and isr != partition.isr
        and partition.leader != NO_LEADER
        and partition.last_known_elr != (partition.leader,)
    ):
        t_last_known_elr = {partition.leader}

    after = attrs.evolve(
        partition,
        isr=isr,
        elr=ordered(replicas, t_elr),
        last_known_elr=ordered(replicas, t_last_known_elr),
        leader=leader,
        leader_recovery_state=recovery,
    )
    if after == partition:
        return None
    after = attrs.evolve(
        after,
        leader_epoch=partition.leader_epoch + (1 if kind is not None else 0),
        partition_epoch=partition.partition_epoch + 1,
    )
    return PartitionChange(before=partition, after=after, election=kind)


def _elect(
    partition: PartitionMetadata,
    election: Election,
    is_valid_new_leader: Callable[[int], bool],
    is_acceptable_leader: Callable[[int], bool],
) -> tuple[int, bool]:
    """(new leader or NO_LEADER, whether the choice is unclean): electPreferredLeader / electAnyLeader."""
    replicas = partition.replicas
    current = partition.leader
    if election == "preferred":
        if replicas and is_valid_new_leader(replicas[0]):
            return replicas[0], False
        if current != NO_LEADER and is_valid_new_leader(current):
            return current, False
        for replica in replicas[1:]:
            if is_valid_new_leader(replica):
                return replica, False
        return NO_LEADER, False
    if current != NO_LEADER and is_valid_new_leader(current):
        return current, False
    for replica in replicas:
        if is_valid_new_leader(replica):
            return replica, False
    if election == "unclean":
        for replica in replicas:
            if is_acceptable_leader(replica):
                return replica, True
    return NO_LEADER, False
