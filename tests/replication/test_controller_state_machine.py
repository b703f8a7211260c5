"""The controller under random histories, with its invariants checked after every step (CTL-22..24).

A Hypothesis state machine drives one :class:`Controller` over four brokers and three topics
(RF 3 with two partitions; RF 2 with the opposite unclean-election setting; RF 4 with min ISR 3),
under a random configuration (min ISR, ELR on/off, unclean election on/off, 3.8 or 3.9 restart
semantics). Broker *processes* run or are down: running ones heartbeat when time passes, down
ones stop and get fenced by ``tick``. Rules restart brokers (clean or unclean, possibly too early,
which the controller must refuse), shut them down cleanly, send stale heartbeats, propose ISR
changes both well-formed and with random (often stale) epochs and members, ask for RECOVERED,
and run operator elections.

After every step the machine checks:

* the state invariants of :meth:`Controller.invariant_violations` (CTL-22);
* epochs never decrease, and the partition epoch grows at least as fast as the leader epoch (CTL-12);
* the metadata version moves exactly when the metadata does, and every step's events carry the
  versions in between, in order (CTL-20, CTL-21);
* a broker restarted uncleanly is in no ISR or ELR and leads nothing until a leader's
  AlterPartition adds it back or an unclean election picks it (CTL-16);
* with ELR, the union of ISR, ELR and LastKnownELR contains the last ISR that reached min ISR, so an empty ISR
  and ELR leave at least min ISR replicas in LastKnownELR (CTL-23);
* unclean elections happen only where the topic allows them or an operator asked (CTL-10);
* a twin controller fed the same calls answers the same values and events (CTL-24).

Replay a failure with the ``@reproduce_failure`` blob Hypothesis prints, or rerun with
``--hypothesis-profile=ci`` (derandomized).
"""

from __future__ import annotations

from typing import Any

import hypothesis
import pytest
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from reflog.errors import Errors
from reflog.replication.controller import Controller
from reflog.replication.controller_config import ControllerConfig
from reflog.replication.controller_events import BrokerRegistered, IsrChanged, LeaderElected, TopicCreated
from reflog.replication.controller_values import DuplicateBrokerRegistrationError
from reflog.replication.messages import AlterPartitionRequest, LeaderRecoveryState, PartitionMetadata
from reflog.vocabulary import NO_LEADER, TopicPartition

BROKERS = (1, 2, 3, 4)
BROKER = st.sampled_from(BROKERS)
RECOVERED = LeaderRecoveryState.RECOVERED
RECOVERING = LeaderRecoveryState.RECOVERING

pytestmark = pytest.mark.req(
    "CTL-3",
    "CTL-5",
    "CTL-8",
    "CTL-9",
    "CTL-10",
    "CTL-11",
    "CTL-12",
    "CTL-14",
    "CTL-16",
    "CTL-20",
    "CTL-21",
    "CTL-22",
    "CTL-23",
    "CTL-24",
)


@st.composite
def configs(draw: st.DrawFn) -> ControllerConfig:
    return ControllerConfig(
        min_insync_replicas=draw(st.integers(1, 3)),
        unclean_leader_election_enable=draw(st.booleans()),
        eligible_leader_replicas_enable=draw(st.booleans()),
        broker_session_timeout_ms=draw(st.sampled_from([3000, 9000])),
        restart_is_unclean=draw(st.sampled_from(["marker", "always"])),
    )


class ControllerMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.c = Controller()
        self.twin = Controller()
        self.now = 0.0
        self.running: set[int] = set()
        self.last_contact: dict[int, float] = {}
        self.incarnations = 0
        self.excluded: dict[TopicPartition, set[int]] = {}
        self.last_full_isr: dict[TopicPartition, frozenset[int] | None] = {}
        self.previous: dict[TopicPartition, PartitionMetadata] = {}
        self.previous_version = 0
        self.previous_metadata: Any = None

    # ------------------------------------------------------------------ plumbing

    def call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        """Call ``method`` on the controller and on its twin; both must answer the same (CTL-24)."""
        outcomes: list[tuple[str, Any]] = []
        for controller in (self.c, self.twin):
            try:
                outcomes.append(("ok", getattr(controller, method)(*args, **kwargs)))
            except DuplicateBrokerRegistrationError as exc:
                outcomes.append(("error", type(exc)))
        assert outcomes[0] == outcomes[1]
        kind, value = outcomes[0]
        if kind == "error":
            raise DuplicateBrokerRegistrationError(str(value))
        return value

    def timeout(self) -> float:
        return self.c.config.broker_session_timeout_ms / 1000.0

    def epoch(self, broker: int) -> int:
        registration = self.c.broker(broker)
        return -1 if registration is None else registration.broker_epoch

    def register(self, broker: int, clean: bool) -> bool:
        """A new incarnation registers; True when the controller accepted it."""
        self.incarnations += 1
        existing = self.c.broker(broker)
        expect_refusal = (
            existing is not None
            and not existing.fenced
            and self.last_contact[broker] + self.timeout() >= self.now
        )
        try:
            registration = self.call(
                "register_broker", broker, f"{broker}.{self.incarnations}", clean_shutdown=clean, now=self.now
            )
        except DuplicateBrokerRegistrationError:
            assert expect_refusal
            hypothesis.event("registration refused: old session still valid")
            return False
        assert not expect_refusal
        assert registration.fenced and registration.broker_epoch == self.c.metadata_version
        self.last_contact[broker] = self.now
        return True

    def heartbeat(self, broker: int) -> None:
        reply = self.call("heartbeat", broker, self.epoch(broker), self.now)
        assert reply.error is Errors.NONE
        self.last_contact[broker] = self.now
        registration = self.c.broker(broker)
        assert registration is not None
        assert reply.is_fenced == registration.fenced == registration.in_controlled_shutdown

    # ------------------------------------------------------------------ setup

    @initialize(config=configs())
    def setup(self, config: ControllerConfig) -> None:
        self.c = Controller(config)
        self.twin = Controller(config)
        for broker in BROKERS:
            assert self.register(broker, clean=True)
            self.heartbeat(broker)
            self.running.add(broker)
        self.call("create_topic", "a", 2, 3)
        self.call(
            "create_topic",
            "b",
            1,
            2,
            unclean_leader_election_enable=not config.unclean_leader_election_enable,
        )
        self.call("create_topic", "c", 1, 4, min_insync_replicas=3)
        for p in self.c.partitions():
            self.excluded[p.topic_partition] = set()
            full = len(p.isr) >= self.min_isr(p.topic_partition)
            self.last_full_isr[p.topic_partition] = frozenset(p.isr) if full else None
        self.after_step()

    def min_isr(self, tp: TopicPartition) -> int:
        return self.c.topic_config(tp.topic).effective_min_isr

    # ------------------------------------------------------------------ brokers and time

    @rule(dt=st.sampled_from([0.5, 1.0, 2.0, 4.0, 9.5]), silent=st.sets(BROKER, max_size=2))
    def time_passes(self, dt: float, silent: set[int]) -> None:
        """Time moves on; running brokers heartbeat, except ``silent`` ones (a slow network, say)."""
        self.now += dt
        for broker in sorted(self.running - silent):
            self.heartbeat(broker)

    @rule()
    def tick(self) -> None:
        expected = tuple(
            b
            for b in BROKERS
            if (r := self.c.broker(b)) is not None
            and not r.fenced
            and self.last_contact[b] + self.timeout() < self.now
        )
        assert self.call("tick", self.now) == expected
        for broker in expected:
            registration = self.c.broker(broker)
            assert registration is not None and registration.fenced

    @rule(broker=BROKER)
    def crash(self, broker: int) -> None:
        """The process dies without a word: no more heartbeats."""
        self.running.discard(broker)

    @rule(broker=BROKER, clean=st.booleans(), heartbeat_now=st.booleans())
    def restart(self, broker: int, clean: bool, heartbeat_now: bool) -> None:
        """A new process for ``broker`` (with or without a clean-shutdown marker); may be too early."""
        if self.register(broker, clean):
            self.running.add(broker)
            if heartbeat_now:
                self.heartbeat(broker)

    @rule(broker=BROKER)
    def controlled_shutdown(self, broker: int) -> None:
        reply = self.call("controlled_shutdown", broker, self.epoch(broker), self.now)
        assert reply.error is Errors.NONE
        assert reply.should_shut_down and reply.is_fenced
        self.last_contact[broker] = self.now
        self.running.discard(broker)
        for p in self.c.partitions():
            assert p.leader != broker
            assert broker not in p.isr or (
                not self.c.config.eligible_leader_replicas_enable and p.isr == (broker,)
            )

    @rule(broker=BROKER, delta=st.sampled_from([-1, 1, 1000]), behind=st.booleans())
    def odd_heartbeat(self, broker: int, delta: int, behind: bool) -> None:
        """A heartbeat with a wrong epoch (refused), or from a broker behind on metadata (stays fenced)."""
        version = self.c.metadata_version
        registration = self.c.broker(broker)
        assert registration is not None
        if behind:
            reply = self.call(
                "heartbeat",
                broker,
                registration.broker_epoch,
                self.now,
                current_metadata_version=registration.broker_epoch - 1,
            )
            assert reply.error is Errors.NONE and not reply.is_caught_up
            self.last_contact[broker] = self.now
            assert self.c.broker(broker) == registration
        else:
            reply = self.call("heartbeat", broker, registration.broker_epoch + delta, self.now)
            assert reply.error is Errors.STALE_BROKER_EPOCH
        assert self.c.metadata_version == version

    # ------------------------------------------------------------------ AlterPartition

    def partitions(self) -> st.SearchStrategy[TopicPartition]:
        return st.sampled_from([p.topic_partition for p in self.c.partitions()])

    @rule(data=st.data())
    def alter_partition_from_leader(self, data: st.DataObject) -> None:
        """A well-formed proposal from the current leader with current epochs."""
        tp = data.draw(self.partitions())
        p = self.c.partition(*tp)
        if p.leader == NO_LEADER:
            return
        others = [r for r in p.replicas if r != p.leader]
        if p.leader_recovery_state is RECOVERING:
            members: list[int] = []
        else:
            members = data.draw(st.lists(st.sampled_from(others), unique=True)) if others else []
        isr = (p.leader, *members)
        request = AlterPartitionRequest(
            tp,
            p.leader,
            self.epoch(p.leader),
            p.leader_epoch,
            p.partition_epoch,
            tuple((b, self.epoch(b)) for b in isr),
            RECOVERED if p.leader_recovery_state is RECOVERING else p.leader_recovery_state,
        )
        active = {r.broker_id for r in self.c.brokers() if r.is_active}
        response = self.send(request)
        expected = Errors.NONE if set(isr) <= active else Errors.INELIGIBLE_REPLICA
        assert response.error is expected

    @rule(
        data=st.data(),
        sender=BROKER,
        sender_delta=st.sampled_from([0, 0, 0, -1]),
        leader_delta=st.sampled_from([0, 0, -1, 1]),
        partition_delta=st.sampled_from([0, 0, -1, -2, 1]),
        members=st.lists(BROKER, max_size=4),
        epoch_deltas=st.lists(st.sampled_from([0, 0, 0, -1, 1]), min_size=4, max_size=4),
        recovering=st.booleans(),
    )
    def alter_partition_random(
        self,
        data: st.DataObject,
        sender: int,
        sender_delta: int,
        leader_delta: int,
        partition_delta: int,
        members: list[int],
        epoch_deltas: list[int],
        recovering: bool,
    ) -> None:
        """Anything a confused, delayed or stale leader might send."""
        tp = data.draw(self.partitions())
        p = self.c.partition(*tp)
        request = AlterPartitionRequest(
            tp,
            sender,
            self.epoch(sender) + sender_delta,
            p.leader_epoch + leader_delta,
            p.partition_epoch + partition_delta,
            tuple((b, self.epoch(b) + epoch_deltas[i]) for i, b in enumerate(members)),
            RECOVERING if recovering else RECOVERED,
        )
        self.send(request)

    @rule(data=st.data())
    def leader_reports_recovered(self, data: st.DataObject) -> None:
        tp = data.draw(self.partitions())
        p = self.c.partition(*tp)
        if p.leader == NO_LEADER or p.leader_recovery_state is RECOVERED:
            return
        request = AlterPartitionRequest(
            tp,
            p.leader,
            self.epoch(p.leader),
            p.leader_epoch,
            p.partition_epoch,
            tuple((b, self.epoch(b)) for b in p.isr),
            RECOVERED,
        )
        assert self.send(request).error is Errors.NONE
        assert self.c.partition(*tp).leader_recovery_state is RECOVERED

    def send(self, request: AlterPartitionRequest) -> Any:
        tp = request.topic_partition
        before = self.c.partition(*tp)
        version = self.c.metadata_version
        response = self.call("alter_partition", request, self.now)
        hypothesis.event(f"AlterPartition -> {response.error.name}")
        after = self.c.partition(*tp)
        if response.error is Errors.NONE:
            assert response.partition == after
            assert set(after.isr) == {b for b, _ in request.new_isr}
            assert (after.leader, after.leader_epoch) == (before.leader, before.leader_epoch)
            assert after.partition_epoch in (before.partition_epoch, before.partition_epoch + 1)
            assert after.leader_recovery_state is request.leader_recovery_state
        else:
            assert response.partition is None
            assert after == before and self.c.metadata_version == version
            fenced = (
                request.leader_epoch < before.leader_epoch
                and request.partition_epoch <= before.partition_epoch
                and self.epoch(request.broker_id) == request.broker_epoch
            )
            if fenced:
                assert response.error is Errors.FENCED_LEADER_EPOCH
        return response

    # ------------------------------------------------------------------ operator elections

    @rule(data=st.data(), election=st.sampled_from(["preferred", "unclean"]))
    def operator_election(self, data: st.DataObject, election: str) -> None:
        tp = data.draw(self.partitions())
        before = self.c.partition(*tp)
        (outcome,) = self.call("elect_leaders", election, [tp], now=self.now)
        after = self.c.partition(*tp)
        if outcome.outcome == "elected":
            assert after.leader != before.leader and after.leader != NO_LEADER
            if election == "preferred":
                assert after.leader == after.replicas[0]
        else:
            assert after == before

    # ------------------------------------------------------------------ checks

    @invariant()
    def after_step(self) -> None:
        """The checks over history; an invariant, so it runs after every step."""
        events = self.c.drain_events()
        assert events == self.twin.drain_events()
        version = self.c.metadata_version
        versions = [e.metadata_version for e in events]
        assert versions == sorted(versions)
        assert set(versions) == set(range(self.previous_version + 1, version + 1))
        metadata = (self.c.brokers(), self.c.partitions())
        if version == self.previous_version:
            assert metadata == self.previous_metadata
        self.previous_version, self.previous_metadata = version, metadata

        elr_enabled = self.c.config.eligible_leader_replicas_enable
        view = dict(self.previous)  # the partitions as they stood at each event
        for event in events:
            hypothesis.event(
                type(event).__name__ + (f"({event.kind})" if isinstance(event, LeaderElected) else "")
            )
            if isinstance(event, TopicCreated):
                view.update((p.topic_partition, p) for p in event.partitions)
            elif isinstance(event, (LeaderElected, IsrChanged)):
                before = view[event.topic_partition]
                if before.partition_epoch != event.partition.partition_epoch:
                    self.check_change(before, event.partition, events)
                view[event.topic_partition] = event.partition
            if isinstance(event, BrokerRegistered) and event.unclean_restart:
                for p in view.values():
                    if event.broker_id not in p.replicas:
                        continue
                    if event.broker_id in p.isr:
                        # Only the last replica standing, without ELR (CTL-6), keeps its place.
                        assert not elr_enabled and p.isr == (event.broker_id,)
                    else:
                        self.excluded[p.topic_partition].add(event.broker_id)
            elif isinstance(event, LeaderElected):
                tp = event.topic_partition
                if event.kind == "unclean":
                    allowed = self.c.topic_config(tp.topic).unclean_leader_election_enable
                    assert allowed or event.cause == "elect_leaders"
                    self.excluded[tp].discard(event.leader)
                    self.last_full_isr[tp] = None
                self.note_isr(event.partition)
            elif isinstance(event, IsrChanged):
                if event.cause == "alter_partition":
                    self.excluded[event.topic_partition] -= set(event.isr)
                self.note_isr(event.partition)

        for p in self.c.partitions():
            tp = p.topic_partition
            if self.excluded[tp]:
                hypothesis.event("an unclean-restarted replica is excluded")
            if elr_enabled and not p.isr and not p.elr and self.last_full_isr[tp] is not None:
                hypothesis.event("ISR and ELR empty (recovery quorum checked)")
            for broker in self.excluded[tp]:
                assert broker not in p.isr and broker not in p.elr and p.leader != broker, (tp, broker, p)
            previous = self.previous.get(tp)
            if previous is not None:
                assert p.leader_epoch >= previous.leader_epoch
                assert p.partition_epoch >= previous.partition_epoch
                assert p.partition_epoch - p.leader_epoch >= previous.partition_epoch - previous.leader_epoch
            full = self.last_full_isr[tp]
            if elr_enabled and full is not None:
                assert full <= set(p.isr) | set(p.elr) | set(p.last_known_elr), (full, p)
                if not p.isr and not p.elr:
                    assert len(p.last_known_elr) >= self.min_isr(tp)
            self.previous[tp] = p

    def check_change(
        self, before: PartitionMetadata, after: PartitionMetadata, events: tuple[object, ...]
    ) -> None:
        """One partition change: its epochs (CTL-12) and how its leader was chosen (CTL-8..11)."""
        tp = after.topic_partition
        elections = [
            e
            for e in events
            if isinstance(e, LeaderElected)
            and e.topic_partition == tp
            and e.partition_epoch == after.partition_epoch
        ]
        assert len(elections) <= 1
        election = elections[0] if elections else None
        assert after.partition_epoch == before.partition_epoch + 1
        leader_changed = after.leader != before.leader
        assert leader_changed == (election is not None)
        assert after.leader_epoch == before.leader_epoch + (1 if leader_changed else 0)
        if election is None:
            return
        assert election.previous_leader == before.leader
        if election.kind == "clean":
            assert set(after.isr) <= set(before.isr) and after.leader == after.isr[0]
        elif election.kind == "elr":
            # Only from an empty target ISR: at most the broker being removed was in the ISR.
            assert len(before.isr) <= 1 and after.leader not in before.isr
            assert after.isr == (after.leader,) and after.leader in before.elr
        elif election.kind == "unclean":
            assert after.isr == (after.leader,) and after.leader_recovery_state is RECOVERING
            assert after.elr == () and after.last_known_elr == ()
        else:
            assert after.leader == NO_LEADER

    def note_isr(self, partition: PartitionMetadata) -> None:
        tp = partition.topic_partition
        if len(partition.isr) >= self.min_isr(tp):
            self.last_full_isr[tp] = frozenset(partition.isr)

    @invariant()
    def state_is_valid(self) -> None:
        assert self.c.invariant_violations() == ()
        assert self.c.metadata() == self.twin.metadata()


TestControllerStateMachine = ControllerMachine.TestCase
# Cheap steps (about 25 ms an example): three times the profile's examples stay within seconds.
_profile = hypothesis.settings.default
assert _profile is not None
TestControllerStateMachine.settings = hypothesis.settings(max_examples=3 * _profile.max_examples)
