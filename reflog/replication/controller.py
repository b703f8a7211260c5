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
from typing import Literal

import attrs

from reflog.errors import Errors, ReflogUsageError, TopicRefusedError
from reflog.replication._controller_admin import added_partitions, deleted_topic
from reflog.replication._controller_alter import alter_partition_error
from reflog.replication._controller_change import PartitionChange, build_partition_change
from reflog.replication._controller_invariants import invariant_violations
from reflog.replication._controller_sessions import BrokerSessions
from reflog.replication._controller_topics import new_topic
from reflog.replication.controller_config import ControllerConfig, TopicConfig
from reflog.replication.controller_events import (
    BrokerControlledShutdown,
    BrokerFenced,
    BrokerRegistered,
    BrokerUnfenced,
    ChangeCause,
    ControllerEvent,
    FenceReason,
    PartitionsCreated,
    TopicCreated,
    TopicDeleted,
    partition_change_events,
)
from reflog.replication.controller_values import (
    BrokerHeartbeatReply,
    BrokerRegistration,
    ClusterMetadata,
    ControllerSnapshot,
    DuplicateBrokerRegistrationError,
    ElectionOutcome,
)
from reflog.replication.messages import AlterPartitionRequest, AlterPartitionResponse, PartitionMetadata
from reflog.vocabulary import NO_LEADER, TopicPartition

__all__ = ["Controller"]


class Controller:
    """The single, reliable controller of a reflog cluster (sans-IO).

    Time (``now``, seconds) must never go backwards across calls: a smaller ``now`` than
    one seen before raises :class:`ReflogUsageError`. Errors caused by a peer (a stale broker
    epoch, an AlterPartition that lost a race) are answered with Kafka's error codes in the
    returned value, except a registration refused while the previous incarnation's session is
    valid (:class:`DuplicateBrokerRegistrationError`, as Kafka throws it); misuse of the API
    (unknown topic on an admin call, invalid arguments) raises :class:`ReflogUsageError`.
    """

    def __init__(self, config: ControllerConfig | None = None) -> None:
        self.config = config if config is not None else ControllerConfig()
        self._brokers: dict[int, BrokerRegistration] = {}
        self._sessions = BrokerSessions(self.config.broker_session_timeout_ms)
        self._topics: dict[str, TopicConfig] = {}
        self._partitions: dict[TopicPartition, PartitionMetadata] = {}
        self._metadata_version = 0
        self._events: list[ControllerEvent] = []
        self._drained = 0
        self._now = 0.0

    @classmethod
    def restored(
        cls, snapshot: ControllerSnapshot, config: ControllerConfig | None = None, *, now: float
    ) -> Controller:
        """A controller resuming from ``snapshot`` (its metadata log) at time ``now`` (CTL-26).

        As Kafka's controller does when it becomes active (``BrokerHeartbeatManager`` starts
        fresh), every unfenced broker gets a new session from ``now``: a new incarnation of it is
        refused until that session expires or it is fenced. The event history starts empty.
        """
        controller = cls(config)
        controller._metadata_version = snapshot.metadata_version
        controller._brokers = {b.broker_id: b for b in snapshot.brokers}
        controller._topics = dict(snapshot.topics)
        controller._partitions = {p.topic_partition: p for p in snapshot.partitions}
        controller._now = now
        controller._sessions.start_fresh((b.broker_id for b in snapshot.brokers if not b.fenced), now)
        return controller

    def snapshot(self) -> ControllerSnapshot:
        """The state :meth:`restored` resumes from: metadata version, brokers, topics, partitions."""
        return ControllerSnapshot(
            self._metadata_version, self.brokers(), tuple(self._topics.items()), self.partitions()
        )

    # ---------------------------------------------------------------------------------- views

    @property
    def metadata_version(self) -> int:
        """Increases by one with every metadata change (each registration, fencing, partition change)."""
        return self._metadata_version

    @property
    def now(self) -> float:
        """The latest time (seconds) any call gave; calls may not go below it. 0.0 at start."""
        return self._now

    @property
    def events(self) -> tuple[ControllerEvent, ...]:
        """Every event since the controller started, oldest first."""
        return tuple(self._events)

    def drain_events(self) -> tuple[ControllerEvent, ...]:
        """The events recorded since the previous call (all of them on the first call)."""
        fresh = tuple(self._events[self._drained :])
        self._drained = len(self._events)
        return fresh

    def broker(self, broker_id: int) -> BrokerRegistration | None:
        """The current registration of ``broker_id``, or ``None`` if it never registered."""
        return self._brokers.get(broker_id)

    def brokers(self) -> tuple[BrokerRegistration, ...]:
        """Every registration, by broker id."""
        return tuple(self._brokers[b] for b in sorted(self._brokers))

    def topic_config(self, topic: str) -> TopicConfig:
        """The resolved configuration of ``topic``; :class:`ReflogUsageError` if it does not exist."""
        try:
            return self._topics[topic]
        except KeyError:
            raise ReflogUsageError(f"unknown topic {topic!r}") from None

    def partition(self, topic: str, partition: int) -> PartitionMetadata:
        """The current state of one partition; :class:`ReflogUsageError` if it does not exist."""
        try:
            return self._partitions[TopicPartition(topic, partition)]
        except KeyError:
            raise ReflogUsageError(f"unknown partition {topic}-{partition}") from None

    def has_partition(self, tp: TopicPartition) -> bool:
        """Whether the partition exists (Kafka's ``metadataCache.contains``)."""
        return tp in self._partitions

    def partitions(self) -> tuple[PartitionMetadata, ...]:
        """Every partition, in creation order (topic, then index)."""
        return tuple(self._partitions.values())

    def metadata(self) -> ClusterMetadata:
        """The whole metadata: every broker registration and every partition."""
        return ClusterMetadata(self._metadata_version, self.brokers(), self.partitions())

    def metadata_for_broker(self, broker_id: int) -> ClusterMetadata:
        """What ``broker_id`` needs: every registration, and every partition it is a replica of."""
        mine = tuple(p for p in self._partitions.values() if broker_id in p.replicas)
        return ClusterMetadata(self._metadata_version, self.brokers(), mine)

    def invariant_violations(self) -> tuple[str, ...]:
        """Every violated state invariant (CTL-22), one line each; empty when the state is valid.

        Checked: the leader is in the ISR and active; ISR, ELR and LastKnownELR are duplicate-free
        subsets of the replicas and pairwise disjoint; ELR and LastKnownELR are empty when the
        ISR reaches the effective min ISR or ELR is disabled; no inactive broker is in an ISR
        (except the last replica standing when ELR is disabled); without ELR no ISR is empty; a
        RECOVERING partition has at most one ISR member; broker epochs are distinct.
        """
        return invariant_violations(
            elr_enabled=self.config.eligible_leader_replicas_enable,
            last_known_leader=self.config.elect_last_known_leader,
            effective_min_isr={name: t.effective_min_isr for name, t in self._topics.items()},
            partitions=self._partitions,
            active_brokers=frozenset(b for b, r in self._brokers.items() if r.is_active),
            broker_epochs={b: r.broker_epoch for b, r in self._brokers.items()},
            metadata_version=self._metadata_version,
        )

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
        new_isr = [broker for broker, _ in request.new_isr]
        topic = self._topics[tp.topic]
        change = build_partition_change(
            partition,
            target_isr=new_isr,
            is_acceptable_leader=self._is_active,
            min_isr=topic.effective_min_isr,
            elr_enabled=self.config.eligible_leader_replicas_enable,
            last_known_leader=self.config.elect_last_known_leader,
            election="unclean" if topic.unclean_leader_election_enable else "online",
            target_leader_recovery_state=request.leader_recovery_state,
        )
        if change is not None:
            self._apply(change, "alter_partition")
        return AlterPartitionResponse(tp, Errors.NONE, self._partitions[tp])

    # ---------------------------------------------------------------------------------- elections

    def elect_leaders(
        self,
        election: Literal["preferred", "unclean"],
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
        targets = list(self._partitions) if partitions is None else [TopicPartition(*tp) for tp in partitions]
        for tp in targets:
            if tp not in self._partitions:
                raise ReflogUsageError(f"unknown partition {tp.topic}-{tp.partition}")
        outcomes: list[ElectionOutcome] = []
        for tp in targets:
            partition = self._partitions[tp]
            if (election == "preferred" and partition.leader == partition.replicas[0]) or (
                election == "unclean" and partition.leader != NO_LEADER
            ):
                outcomes.append(ElectionOutcome(tp, "not_needed", partition))
                continue
            change = build_partition_change(
                partition,
                target_isr=partition.isr,
                is_acceptable_leader=self._is_active,
                min_isr=self._topics[tp.topic].effective_min_isr,
                elr_enabled=self.config.eligible_leader_replicas_enable,
                last_known_leader=self.config.elect_last_known_leader,
                election=election,
            )
            if change is None:
                outcomes.append(ElectionOutcome(tp, "not_available", partition))
                continue
            self._apply(change, "elect_leaders")
            outcome: Literal["elected", "not_available"] = (
                "elected" if change.after.leader != NO_LEADER else "not_available"
            )
            outcomes.append(ElectionOutcome(tp, outcome, change.after))
        return tuple(outcomes)

    # ---------------------------------------------------------------------------------- internals

    def _advance(self, now: float) -> None:
        if now < self._now:
            raise ReflogUsageError(f"time went backwards: {now} after {self._now}")
        self._now = now

    def _emit(self, event: ControllerEvent) -> None:
        self._events.append(event)

    def _is_active(self, broker_id: int) -> bool:
        registration = self._brokers.get(broker_id)
        return registration is not None and registration.is_active

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
        excluded = {remove, unclean_shutdown} - {NO_LEADER}

        def acceptable(replica: int) -> bool:
            return replica not in excluded and self._is_active(replica)

        for tp in list(partitions):
            partition = self._partitions[tp]
            topic = self._topics[tp.topic]
            change = build_partition_change(
                partition,
                target_isr=[r for r in partition.isr if r not in excluded],
                is_acceptable_leader=acceptable,
                min_isr=topic.effective_min_isr,
                elr_enabled=self.config.eligible_leader_replicas_enable,
                last_known_leader=self.config.elect_last_known_leader,
                election="unclean" if topic.unclean_leader_election_enable else "online",
                unclean_shutdown_replicas=(unclean_shutdown,) if unclean_shutdown != NO_LEADER else (),
            )
            if change is not None:
                self._apply(change, cause)

    def _apply(self, change: PartitionChange, cause: ChangeCause) -> None:
        self._metadata_version += 1
        self._partitions[change.after.topic_partition] = change.after
        for event in partition_change_events(
            change, cause, time=self._now, metadata_version=self._metadata_version
        ):
            self._emit(event)
