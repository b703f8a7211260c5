"""The controller: broker registry, topic metadata, ISR changes and leader elections (sans-IO).

A single :class:`Controller` holds the cluster's metadata the way Kafka's KRaft controller
does (``ClusterControlManager``, ``ReplicationControlManager``, ``PartitionChangeBuilder``).
It is assumed reliable: the KRaft quorum that makes Kafka's controller fault tolerant is out
of scope. It is plain synchronous code: every method takes an event (and the current time
``now``, in seconds, where time matters) and returns a frozen value; it performs no I/O,
never sleeps and never reads a clock.

What it keeps, and the rules it applies (see the controller spec (controller.md in specs/) for the numbered
requirements and the Kafka version each one reproduces):

* **Brokers.** Each registration of a new *incarnation* (one process lifetime) gets a new
  broker epoch, larger than every epoch granted before (it is the metadata version at which
  the registration was recorded, as KRaft uses the offset of the registration record). A new
  registration starts fenced; a heartbeat with the current epoch unfences it once the broker
  has caught up with the metadata. A broker that misses heartbeats for
  ``broker.session.timeout.ms`` is fenced by :meth:`Controller.tick`.
* **Restarts after an unclean shutdown** (KIP-966): the new incarnation is removed from every
  ISR and ELR (``handleBrokerUncleanShutdown``) and cannot lead until a leader adds it back to
  the ISR. ``restart_is_unclean="marker"`` counts only restarts without a clean-shutdown marker
  (Kafka 3.8); ``"always"`` counts every new incarnation (Kafka 3.9, KAFKA-16952).
* **Partitions.** ISR, ELR, LastKnownELR, leader, leader epoch, partition epoch and leader
  recovery state, changed only through :func:`build_partition_change`, whose every change
  bumps the partition epoch, and the leader epoch when the leader changes.
* **AlterPartition**, validated as a compare-and-swap on leader epoch, partition epoch and
  broker epochs, with Kafka's error codes.
* **Events.** Every registration, (un)fencing, controlled shutdown, ISR change and election is
  appended to :attr:`Controller.events` (also available incrementally with
  :meth:`Controller.drain_events`), so tests and the fault harness can read the history;
  unclean elections are flagged.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import attrs

from reflog.errors import Errors, ReflogUsageError, TopicRefusedError
from reflog.replication._controller_admin import added_partitions, deleted_topic
from reflog.replication._controller_alter import alter_partition_error
from reflog.replication._controller_change import PartitionChange
from reflog.replication._controller_elections import (
    AdminElection,
    admin_election,
    election_outcome,
    election_targets,
    removal_change,
    topic_change,
)
from reflog.replication._controller_state import ControllerState
from reflog.replication._controller_topics import new_topic
from reflog.replication.controller_events import (
    BrokerControlledShutdown,
    BrokerFenced,
    BrokerRegistered,
    BrokerUnfenced,
    ChangeCause,
    FenceReason,
    PartitionsCreated,
    TopicCreated,
    TopicDeleted,
)
from reflog.replication.controller_values import (
    BrokerHeartbeatReply,
    BrokerRegistration,
    DuplicateBrokerRegistrationError,
    ElectionOutcome,
)
from reflog.replication.messages import AlterPartitionRequest, AlterPartitionResponse, PartitionMetadata
from reflog.vocabulary import NO_LEADER, TopicPartition

__all__ = ["Controller"]


class Controller(ControllerState):
    """The single, reliable controller of a reflog cluster (sans-IO).

    Time (``now``, seconds) must never go backwards across calls: a smaller ``now`` than
    one seen before raises :class:`ReflogUsageError`. Errors caused by a peer (a stale broker
    epoch, an AlterPartition that lost a race) are answered with Kafka's error codes in the
    returned value, except a registration refused while the previous incarnation's session is
    valid (:class:`DuplicateBrokerRegistrationError`, as Kafka throws it); misuse of the API
    (unknown topic on an admin call, invalid arguments) raises :class:`ReflogUsageError`.
    """

    # ---------------------------------------------------------------------------------- brokers

    def register_broker(
        self, broker_id: int, incarnation_id: str, *, clean_shutdown: bool, now: float
    ) -> BrokerRegistration:
        """Register an incarnation of ``broker_id`` (Kafka's BrokerRegistration).

        ``incarnation_id`` names one process lifetime (Kafka: a random UUID per start).
        ``clean_shutdown`` says the broker found a clean-shutdown marker holding the epoch of
        its previous incarnation (Kafka 3.8's ``PreviousBrokerEpoch`` matching the registered
        epoch); it is ignored in ``"always"`` mode, as Kafka 3.9 ignores the marker.

        * The same incarnation again: the current registration, unchanged (same epoch).
        * A new incarnation: a new broker epoch larger than any granted before; the broker is
          fenced until :meth:`heartbeat` unfences it. If the previous incarnation's session
          already expired but :meth:`tick` has not fenced it yet, it is fenced first.
          When the restart counts as unclean (``restart_is_unclean``: no clean-shutdown marker,
          or any restart in ``"always"`` mode), the broker is removed from every ISR and every
          ELR first, with new leaders elected where it led (KIP-966).

        Raises :class:`DuplicateBrokerRegistrationError` when the previous incarnation is
        unfenced and its session still valid, :class:`ReflogUsageError` for a negative id or
        time going backwards.
        """
        self._advance(now)
        if broker_id < 0:
            raise ReflogUsageError(f"broker id must not be negative, got {broker_id}")
        existing = self._brokers.get(broker_id)
        if existing is not None and existing.incarnation_id == incarnation_id:
            return existing
        if existing is not None and not existing.fenced:
            if self._sessions.is_valid(broker_id, now):
                raise DuplicateBrokerRegistrationError(
                    f"broker {broker_id} is registered with incarnation {existing.incarnation_id!r}"
                    " whose session has not expired"
                )
            self._fence(broker_id, "session_expired")
        unclean_restart = existing is not None and (
            self.config.restart_is_unclean == "always" or not clean_shutdown
        )
        if unclean_restart:
            affected = [tp for tp, p in self._partitions.items() if broker_id in p.isr or broker_id in p.elr]
            self._update_partitions(affected, unclean_shutdown=broker_id, cause="unclean_shutdown")
        self._metadata_version += 1
        registration = BrokerRegistration(
            broker_id=broker_id,
            incarnation_id=incarnation_id,
            broker_epoch=self._metadata_version,
            fenced=True,
            in_controlled_shutdown=False,
        )
        self._brokers[broker_id] = registration
        self._sessions.touch(broker_id, now)
        self._emit(
            BrokerRegistered(
                now,
                self._metadata_version,
                broker_id,
                incarnation_id,
                registration.broker_epoch,
                unclean_restart,
            )
        )
        return registration

    def heartbeat(
        self,
        broker_id: int,
        broker_epoch: int,
        now: float,
        *,
        current_metadata_version: int | None = None,
    ) -> BrokerHeartbeatReply:
        """A broker's heartbeat: refreshes its session and unfences it if it may be unfenced.

        ``current_metadata_version`` is the metadata version the broker has applied; ``None``
        means "caught up". A fenced broker is unfenced once it has caught up with its own
        registration (Kafka: ``currentMetadataOffset >= registration offset``), unless it is in
        controlled shutdown; unfencing then elects leaders for leaderless partitions.

        Answers ``STALE_BROKER_EPOCH`` (changing nothing) for an unregistered broker or an epoch
        that is not the current one.
        """
        self._advance(now)
        registration = self._brokers.get(broker_id)
        if registration is None or registration.broker_epoch != broker_epoch:
            return BrokerHeartbeatReply(Errors.STALE_BROKER_EPOCH)
        self._sessions.touch(broker_id, now)
        caught_up = current_metadata_version is None or current_metadata_version >= broker_epoch
        if registration.fenced and caught_up and not registration.in_controlled_shutdown:
            self._unfence(broker_id)
        return self._reply(broker_id, caught_up)

    def controlled_shutdown(self, broker_id: int, broker_epoch: int, now: float) -> BrokerHeartbeatReply:
        """A broker's request to shut down cleanly (a heartbeat with ``wantShutDown``).

        The broker enters controlled shutdown (it is no longer an acceptable leader or ISR
        member), is removed from every ISR with new leaders elected where it led (it may move
        into the ELR, having all committed data), and is then fenced; the reply says
        ``should_shut_down``. It stays fenced until a new incarnation registers. Answers
        ``STALE_BROKER_EPOCH`` for an unregistered broker or a stale epoch.
        """
        self._advance(now)
        registration = self._brokers.get(broker_id)
        if registration is None or registration.broker_epoch != broker_epoch:
            return BrokerHeartbeatReply(Errors.STALE_BROKER_EPOCH)
        self._sessions.touch(broker_id, now)
        if not registration.in_controlled_shutdown:
            self._metadata_version += 1
            self._brokers[broker_id] = attrs.evolve(registration, in_controlled_shutdown=True)
            self._emit(BrokerControlledShutdown(now, self._metadata_version, broker_id, broker_epoch))
            affected = [tp for tp, p in self._partitions.items() if broker_id in p.isr]
            self._update_partitions(affected, remove=broker_id, cause="controlled_shutdown")
        if not self._brokers[broker_id].fenced:
            self._fence(broker_id, "controlled_shutdown")
        return self._reply(broker_id, True)

    def tick(self, now: float) -> tuple[int, ...]:
        """Fence every unfenced broker whose last heartbeat is more than ``broker.session.timeout.ms`` old.

        Each is removed from every ISR (but without ELR the last ISR member stays), and
        partitions it led get a new leader, or go offline. Returns the fenced broker ids,
        ascending.
        """
        self._advance(now)
        unfenced = (b for b in sorted(self._brokers) if not self._brokers[b].fenced)
        expired = self._sessions.expired(unfenced, now)
        for broker_id in expired:
            self._fence(broker_id, "session_expired")
        return expired

    # ---------------------------------------------------------------------------------- topics

    def create_topic(
        self,
        name: str,
        partitions: int,
        replication_factor: int,
        *,
        min_insync_replicas: int | None = None,
        unclean_leader_election_enable: bool | None = None,
        replica_assignment: Sequence[Sequence[int]] | None = None,
        now: float | None = None,
    ) -> tuple[PartitionMetadata, ...]:
        """Create a topic; returns its partitions' initial states.

        Replicas go round-robin over the registered brokers in id order (partition ``p`` gets
        brokers ``p, p+1, ...`` modulo their number), or follow ``replica_assignment`` (one
        list per partition; then ``partitions`` and ``replication_factor`` must match it). The
        preferred leader is the first replica; the ISR is the active (unfenced, not shutting
        down) replicas, the leader the first of them; epochs start at 0.

        Raises :class:`~reflog.errors.TopicRefusedError` (a :class:`ReflogUsageError` carrying
        Kafka's code) if the topic exists, an argument is invalid, fewer
        brokers are registered than the replication factor, an assigned broker is unknown or
        repeated, or no replica of some partition is active.
        """
        if now is not None:
            self._advance(now)
        if name in self._topics:
            raise TopicRefusedError(Errors.TOPIC_ALREADY_EXISTS, f"topic {name!r} already exists")
        config, states = new_topic(
            name,
            partitions,
            replication_factor,
            cluster=self.config,
            registered=self._brokers.keys(),
            is_active=self._is_active,
            min_insync_replicas=min_insync_replicas,
            unclean_leader_election_enable=unclean_leader_election_enable,
            replica_assignment=replica_assignment,
        )
        self._topics[name] = config
        for state in states:
            self._partitions[state.topic_partition] = state
        self._metadata_version += 1
        self._emit(TopicCreated(self._now, self._metadata_version, name, config, states))
        return states

    def alter_topic_config(
        self, name: str, *, min_insync_replicas: int | None, unclean_leader_election_enable: bool | None
    ) -> None:
        """A topic's new overrides (``None``: the cluster's default), as a new metadata version.

        Raises :class:`ReflogUsageError` for an unknown topic.
        """
        current = self.topic_config(name)
        self._topics[name] = attrs.evolve(
            current,
            min_insync_replicas=min_insync_replicas or self.config.min_insync_replicas,
            unclean_leader_election_enable=(
                self.config.unclean_leader_election_enable
                if unclean_leader_election_enable is None
                else unclean_leader_election_enable
            ),
        )
        self._metadata_version += 1

    def delete_topic(self, name: str, *, now: float | None = None) -> tuple[PartitionMetadata, ...]:
        """Delete a topic (CTL-28): its partitions' last states; ``TopicRefusedError`` if unknown."""
        if now is not None:
            self._advance(now)
        removed = deleted_topic(name, self._partitions, self._topics)
        del self._topics[name]
        for state in removed:
            del self._partitions[state.topic_partition]
        self._metadata_version += 1
        self._emit(TopicDeleted(self._now, self._metadata_version, name, removed))
        return removed

    def create_partitions(
        self,
        name: str,
        count: int,
        *,
        replica_assignment: Sequence[Sequence[int]] | None = None,
        validate_only: bool = False,
        now: float | None = None,
    ) -> tuple[PartitionMetadata, ...]:
        """Grow ``name`` to ``count`` partitions (CTL-29, :func:`added_partitions`); the new ones
        (only checked and returned, not recorded, with ``validate_only``)."""
        if now is not None:
            self._advance(now)
        if name not in self._topics:
            raise TopicRefusedError(Errors.UNKNOWN_TOPIC_OR_PARTITION, f"topic {name!r} does not exist")
        states = added_partitions(
            name,
            [p for tp, p in self._partitions.items() if tp.topic == name],
            count,
            replication_factor=self._topics[name].replication_factor,
            registered=self._brokers.keys(),
            is_active=self._is_active,
            assignment=replica_assignment,
        )
        if validate_only:
            return states
        for state in states:
            self._partitions[state.topic_partition] = state
        self._metadata_version += 1
        self._emit(PartitionsCreated(self._now, self._metadata_version, name, states))
        return states

    # ---------------------------------------------------------------------------------- AlterPartition

    def alter_partition(self, request: AlterPartitionRequest, now: float) -> AlterPartitionResponse:
        """Apply a leader's ISR proposal if it is current (a compare-and-swap); else say why not.

        Checks, in Kafka's order (``ReplicationControlManager.alterPartition``):

        1. ``STALE_BROKER_EPOCH``: the sender is unregistered or its broker epoch is not current;
        2. ``UNKNOWN_TOPIC_OR_PARTITION``: no such partition;
        3. ``INVALID_REQUEST``: a leader or partition epoch *newer* than the controller's
           (Kafka answers NOT_CONTROLLER, which a single controller cannot mean);
        4. ``FENCED_LEADER_EPOCH``: an older leader epoch;
        5. ``INVALID_REQUEST``: the sender is not the leader;
        6. ``INVALID_UPDATE_VERSION``: an older partition epoch;
        7. ``INVALID_REQUEST``: a proposed member is not a replica or is repeated, the new ISR
           lacks the leader, it has more than one member while ``RECOVERING``, or it asks to go
           from ``RECOVERED`` back to ``RECOVERING``;
        8. ``INELIGIBLE_REPLICA``: a proposed member is unregistered, in controlled shutdown,
           fenced, or its broker epoch is not its current one (-1 skips that check, as in Kafka).

        On success the answer carries the partition as it now stands: partition epoch + 1
        (leader epoch unchanged) with the ISR, ELR and LastKnownELR updated by KIP-966's rules
        and the leader recovery state the leader reported. A proposal that changes nothing
        succeeds without a new partition epoch (Kafka writes no record). A rejected proposal
        changes nothing.
        """
        self._advance(now)
        tp = request.topic_partition
        partition = self._partitions.get(tp)
        error = alter_partition_error(request, partition, self._brokers)
        if partition is None or error is not Errors.NONE:
            return AlterPartitionResponse(tp, error)
        change = topic_change(
            partition,
            self._topics[tp.topic],
            self.config,
            target_isr=[broker for broker, _ in request.new_isr],
            is_acceptable_leader=self._is_active,
            target_leader_recovery_state=request.leader_recovery_state,
        )
        if change is not None:
            self._apply(change, "alter_partition")
        return AlterPartitionResponse(tp, Errors.NONE, self._partitions[tp])

    # ---------------------------------------------------------------------------------- elections

    def elect_leaders(
        self,
        election: AdminElection,
        partitions: Iterable[TopicPartition] | None = None,
        *,
        now: float | None = None,
    ) -> tuple[ElectionOutcome, ...]:
        """An administrator's leader election (Kafka's ElectLeaders / ``kafka-leader-election.sh``).

        ``"preferred"``: make the preferred (first) replica the leader if it is a valid clean
        candidate; not needed when it already leads. ``"unclean"``: only for partitions without
        a leader; a clean candidate (ISR, or ELR when the ISR is empty) is still preferred, else
        any acceptable replica is elected uncleanly, *whatever the topic's*
        ``unclean.leader.election.enable`` (the operator asked for it), and the election is
        reported with ``kind="unclean"``. ``partitions`` defaults to every partition.
        Raises :class:`ReflogUsageError` for an unknown partition or election type.
        """
        if now is not None:
            self._advance(now)
        if election not in ("preferred", "unclean"):
            raise ReflogUsageError(f"election must be 'preferred' or 'unclean', got {election!r}")
        outcomes: list[ElectionOutcome] = []
        for tp in election_targets(self._partitions, partitions):
            result = admin_election(
                self._partitions[tp], election, self._topics[tp.topic], self.config, is_active=self._is_active
            )
            if isinstance(result, PartitionChange):
                self._apply(result, "elect_leaders")
                result = election_outcome(result)
            outcomes.append(result)
        return tuple(outcomes)

    # ---------------------------------------------------------------------------------- internals

    # ---------------------------------------------------------------------------------- internals

    def _reply(self, broker_id: int, caught_up: bool) -> BrokerHeartbeatReply:
        registration = self._brokers[broker_id]
        return BrokerHeartbeatReply(
            Errors.NONE,
            is_caught_up=caught_up,
            is_fenced=registration.fenced,
            in_controlled_shutdown=registration.in_controlled_shutdown,
            should_shut_down=registration.in_controlled_shutdown and registration.fenced,
        )

    def _fence(self, broker_id: int, reason: FenceReason) -> None:
        """handleBrokerFenced: ISR removals and elections first, then the fencing itself."""
        affected = [tp for tp, p in self._partitions.items() if broker_id in p.isr]
        self._update_partitions(affected, remove=broker_id, cause="broker_fenced")
        registration = self._brokers[broker_id]
        self._metadata_version += 1
        self._brokers[broker_id] = attrs.evolve(registration, fenced=True)
        self._emit(
            BrokerFenced(self._now, self._metadata_version, broker_id, registration.broker_epoch, reason)
        )

    def _unfence(self, broker_id: int) -> None:
        """handleBrokerUnfenced: unfence, then try to elect a leader for every leaderless partition."""
        registration = self._brokers[broker_id]
        self._metadata_version += 1
        self._brokers[broker_id] = attrs.evolve(registration, fenced=False)
        self._emit(BrokerUnfenced(self._now, self._metadata_version, broker_id, registration.broker_epoch))
        leaderless = [tp for tp, p in self._partitions.items() if p.leader == NO_LEADER]
        self._update_partitions(leaderless, cause="broker_unfenced")

    def _update_partitions(
        self,
        partitions: Iterable[TopicPartition],
        *,
        cause: ChangeCause,
        remove: int = NO_LEADER,
        unclean_shutdown: int = NO_LEADER,
    ) -> None:
        """generateLeaderAndIsrUpdates: drop ``remove``/``unclean_shutdown`` from each ISR, re-elect."""
        for tp in list(partitions):
            change = removal_change(
                self._partitions[tp],
                self._topics[tp.topic],
                self.config,
                is_active=self._is_active,
                remove=remove,
                unclean_shutdown=unclean_shutdown,
            )
            if change is not None:
                self._apply(change, cause)
