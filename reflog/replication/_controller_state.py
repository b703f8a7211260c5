"""The controller's metadata and every read of it: brokers, sessions, topics, partitions, events.

:class:`ControllerState` is the state half of :class:`~reflog.replication.controller.Controller`
(Kafka's metadata image, kept apart from the control managers that change it): it holds the
broker registrations and sessions, the topics' configurations, the partitions' states, the
metadata version, the event history and the latest time seen, answers every query over them, and
snapshots and restores them (CTL-26). Its only writes are the primitives the controller's
commands go through: :meth:`~ControllerState._advance` (time never goes back; a smaller ``now``
raises :class:`ReflogUsageError`), :meth:`~ControllerState._emit` and
:meth:`~ControllerState._apply` (a partition change: a new metadata version and its events).
The rules that decide what changes live in :class:`Controller` and its ``_controller_*`` helpers.
"""

from __future__ import annotations

from typing import Self

from reflog.errors import ReflogUsageError
from reflog.replication._controller_change import PartitionChange
from reflog.replication._controller_invariants import invariant_violations
from reflog.replication._controller_sessions import BrokerSessions
from reflog.replication.controller_config import ControllerConfig, TopicConfig
from reflog.replication.controller_events import ChangeCause, ControllerEvent, partition_change_events
from reflog.replication.controller_values import BrokerRegistration, ClusterMetadata, ControllerSnapshot
from reflog.replication.messages import PartitionMetadata
from reflog.vocabulary import TopicPartition

__all__ = ["ControllerState"]


class ControllerState:
    """The controller's metadata, its queries, and the write primitives its commands use.

    Not used alone: :class:`~reflog.replication.controller.Controller` adds the commands.
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
    ) -> Self:
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

    # ---------------------------------------------------------------------------------- write primitives

    def _advance(self, now: float) -> None:
        """Move the time to ``now``; :class:`ReflogUsageError` if it is before the latest time seen."""
        if now < self._now:
            raise ReflogUsageError(f"time went backwards: {now} after {self._now}")
        self._now = now

    def _emit(self, event: ControllerEvent) -> None:
        """Append ``event`` to the history."""
        self._events.append(event)

    def _is_active(self, broker_id: int) -> bool:
        """Whether ``broker_id`` is registered, unfenced and not shutting down (may lead, join an ISR)."""
        registration = self._brokers.get(broker_id)
        return registration is not None and registration.is_active

    def _apply(self, change: PartitionChange, cause: ChangeCause) -> None:
        """Record ``change`` at a new metadata version, with its events (``cause`` says why)."""
        self._metadata_version += 1
        self._partitions[change.after.topic_partition] = change.after
        for event in partition_change_events(
            change, cause, time=self._now, metadata_version=self._metadata_version
        ):
            self._emit(event)
