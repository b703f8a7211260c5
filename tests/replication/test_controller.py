"""Unit tests of the controller's rules (controller.md in specs/), one behaviour per test.

Every test builds a small cluster by hand: brokers register and heartbeat (``start``), topics are
created, and time passes only through the ``now`` arguments. ``expire`` fences brokers the way a
crash does: the others keep heartbeating, the victims stop, and ``tick`` runs after their session
ran out. The randomised check of the invariants lives in test_controller_state_machine.py.
"""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from reflog.errors import Errors, ReflogUsageError
from reflog.replication._controller_change import build_partition_change
from reflog.replication.controller import Controller
from reflog.replication.controller_config import ControllerConfig
from reflog.replication.controller_events import (
    BrokerControlledShutdown,
    BrokerFenced,
    BrokerRegistered,
    BrokerUnfenced,
    IsrChanged,
    LeaderElected,
    TopicCreated,
)
from reflog.replication.controller_values import BrokerRegistration, DuplicateBrokerRegistrationError
from reflog.replication.messages import (
    AlterPartitionRequest,
    AlterPartitionResponse,
    LeaderRecoveryState,
    PartitionMetadata,
)
from reflog.vocabulary import NO_LEADER, TopicPartition

RECOVERED = LeaderRecoveryState.RECOVERED
RECOVERING = LeaderRecoveryState.RECOVERING
TP = TopicPartition("t", 0)
SESSION = 9.0


def start(
    c: Controller, broker: int, now: float = 0.0, *, incarnation: str | None = None, clean: bool = True
) -> int:
    """Register a new incarnation of ``broker`` and unfence it with a heartbeat; returns its epoch."""
    registration = c.register_broker(broker, incarnation or f"{broker}@{now}", clean_shutdown=clean, now=now)
    reply = c.heartbeat(broker, registration.broker_epoch, now)
    assert reply.error is Errors.NONE and not reply.is_fenced
    return registration.broker_epoch


def cluster(brokers: int = 3, *, topic: bool = True, rf: int = 3, **config: object) -> Controller:
    c = Controller(ControllerConfig(**config))  # type: ignore[arg-type]
    for b in range(1, brokers + 1):
        start(c, b)
    if topic:
        c.create_topic("t", 1, rf)
    return c


def registered(c: Controller, broker: int) -> BrokerRegistration:
    registration = c.broker(broker)
    assert registration is not None
    return registration


def epoch(c: Controller, broker: int) -> int:
    return registered(c, broker).broker_epoch


def state(c: Controller, tp: TopicPartition = TP) -> PartitionMetadata:
    return c.partition(tp.topic, tp.partition)


def expire(c: Controller, *victims: int, at: float) -> None:
    """Every other unfenced broker heartbeats at ``at``; the victims' sessions have run out; tick."""
    for registration in c.brokers():
        if registration.broker_id not in victims and not registration.fenced:
            c.heartbeat(registration.broker_id, registration.broker_epoch, at)
    assert c.tick(at) == tuple(sorted(victims))


def propose(
    c: Controller,
    isr: tuple[int, ...],
    *,
    tp: TopicPartition = TP,
    now: float | None = None,
    sender: int | None = None,
    sender_epoch: int | None = None,
    leader_epoch: int | None = None,
    partition_epoch: int | None = None,
    member_epochs: Mapping[int, int] | None = None,
    recovery: LeaderRecoveryState = RECOVERED,
) -> AlterPartitionResponse:
    """An AlterPartition from the leader (or ``sender``) with current epochs unless overridden."""
    p = state(c, tp)
    sender = p.leader if sender is None else sender
    epochs = dict(member_epochs or {})
    known = {r.broker_id: r.broker_epoch for r in c.brokers()}
    request = AlterPartitionRequest(
        topic_partition=tp,
        broker_id=sender,
        broker_epoch=known.get(sender, -1) if sender_epoch is None else sender_epoch,
        leader_epoch=p.leader_epoch if leader_epoch is None else leader_epoch,
        partition_epoch=p.partition_epoch if partition_epoch is None else partition_epoch,
        new_isr=tuple((b, epochs.get(b, known.get(b, -1))) for b in isr),
        leader_recovery_state=recovery,
    )
    return c.alter_partition(request, c.now if now is None else now)


def elections(c: Controller) -> list[LeaderElected]:
    return [e for e in c.events if isinstance(e, LeaderElected)]


def assert_valid(c: Controller) -> None:
    assert c.invariant_violations() == ()


# ------------------------------------------------------------------------------------------ CTL-1


@pytest.mark.req("CTL-1")
def test_config_defaults_are_kafkas_except_elr() -> None:
    config = ControllerConfig()
    assert config.min_insync_replicas == 1
    assert config.unclean_leader_election_enable is False
    assert config.broker_session_timeout_ms == 9000
    assert config.eligible_leader_replicas_enable is True
    assert config.restart_is_unclean == "marker"


@pytest.mark.req("CTL-1")
@pytest.mark.parametrize(
    "kwargs",
    [{"min_insync_replicas": 0}, {"broker_session_timeout_ms": 0}, {"restart_is_unclean": "sometimes"}],
)
def test_config_rejects_invalid_values(kwargs: dict[str, object]) -> None:
    with pytest.raises(ReflogUsageError):
        ControllerConfig(**kwargs)  # type: ignore[arg-type]


@pytest.mark.req("CTL-1")
def test_topic_overrides_and_effective_min_isr() -> None:
    c = cluster(topic=False, min_insync_replicas=2)
    c.create_topic("default", 1, 3)
    c.create_topic("strict", 1, 2, min_insync_replicas=5, unclean_leader_election_enable=True)
    assert c.topic_config("default").min_insync_replicas == 2
    assert c.topic_config("default").unclean_leader_election_enable is False
    strict = c.topic_config("strict")
    assert (strict.min_insync_replicas, strict.effective_min_isr) == (5, 2)
    assert strict.unclean_leader_election_enable is True
    with pytest.raises(ReflogUsageError):
        c.create_topic("bad", 1, 1, min_insync_replicas=0)
    with pytest.raises(ReflogUsageError):
        c.topic_config("missing")


@pytest.mark.req("CTL-1", "CTL-7")
def test_effective_min_isr_caps_at_replication_factor() -> None:
    # min ISR 5 on RF 2: an ISR of 2 is "full", so no ELR.
    c = cluster(topic=False)
    c.create_topic("t", 1, 2, min_insync_replicas=5)
    expire(c, 2, at=10.0)
    assert (state(c).isr, state(c).elr) == ((1,), (2,))
    c.heartbeat(2, epoch(c, 2), 10.0)
    assert propose(c, (1, 2), now=10.0).error is Errors.NONE
    assert state(c).elr == ()


# ------------------------------------------------------------------------------------------ CTL-2


@pytest.mark.req("CTL-2")
def test_new_incarnations_get_strictly_increasing_epochs_equal_to_metadata_version() -> None:
    c = Controller()
    seen = []
    for i, broker in enumerate([1, 2, 1, 3, 2]):
        if c.broker(broker) is not None:
            c.controlled_shutdown(broker, epoch(c, broker), float(i))
        registration = c.register_broker(broker, f"inc-{i}", clean_shutdown=True, now=float(i))
        assert registration.broker_epoch == c.metadata_version
        seen.append(registration.broker_epoch)
    assert seen == sorted(seen) and len(set(seen)) == len(seen)


@pytest.mark.req("CTL-2")
def test_reregistering_the_same_incarnation_changes_nothing() -> None:
    c = Controller()
    first = c.register_broker(1, "a", clean_shutdown=False, now=0.0)
    version = c.metadata_version
    again = c.register_broker(1, "a", clean_shutdown=False, now=1.0)
    assert again == first
    assert c.metadata_version == version
    assert len(c.events) == 1


@pytest.mark.req("CTL-2", "CTL-4")
def test_a_new_registration_is_fenced_until_it_heartbeats() -> None:
    c = Controller()
    registration = c.register_broker(1, "a", clean_shutdown=True, now=0.0)
    assert registration.fenced and not registration.is_active
    with pytest.raises(ReflogUsageError):
        c.create_topic("t", 1, 1)  # its only replica is fenced
    reply = c.heartbeat(1, registration.broker_epoch, 0.5)
    assert reply.error is Errors.NONE and not reply.is_fenced and reply.is_caught_up
    assert registered(c, 1).is_active


@pytest.mark.req("CTL-2")
def test_negative_broker_id_is_misuse() -> None:
    with pytest.raises(ReflogUsageError):
        Controller().register_broker(-1, "a", clean_shutdown=True, now=0.0)


# ------------------------------------------------------------------------------------------ CTL-3


@pytest.mark.req("CTL-3")
def test_new_incarnation_refused_while_old_session_valid() -> None:
    c = cluster()
    with pytest.raises(DuplicateBrokerRegistrationError) as info:
        c.register_broker(1, "new", clean_shutdown=False, now=SESSION)  # exactly at the timeout: still valid
    assert info.value.error_code == 101
    assert registered(c, 1).incarnation_id == "1@0.0"


@pytest.mark.req("CTL-3")
def test_new_incarnation_after_expiry_fences_the_old_one_first() -> None:
    c = cluster()
    for b in (2, 3):
        c.heartbeat(b, epoch(c, b), 9.5)
    c.drain_events()
    registration = c.register_broker(1, "new", clean_shutdown=True, now=9.5)
    assert registration.fenced
    events = c.drain_events()
    kinds = [type(e).__name__ for e in events]
    assert kinds.index("BrokerFenced") < kinds.index("BrokerRegistered")
    fenced = next(e for e in events if isinstance(e, BrokerFenced))
    assert (fenced.broker_id, fenced.reason) == (1, "session_expired")
    assert state(c).leader == 2 and 1 not in state(c).isr
    assert_valid(c)


@pytest.mark.req("CTL-3", "CTL-17")
def test_new_incarnation_after_controlled_shutdown_registers_at_once() -> None:
    c = cluster()
    c.controlled_shutdown(1, epoch(c, 1), 1.0)
    registration = c.register_broker(1, "next", clean_shutdown=True, now=1.0)
    assert registration.incarnation_id == "next"


# ------------------------------------------------------------------------------------------ CTL-4


@pytest.mark.req("CTL-4")
def test_heartbeat_with_stale_epoch_or_unknown_broker() -> None:
    c = cluster()
    old = epoch(c, 1)
    c.controlled_shutdown(1, old, 1.0)
    start(c, 1, 1.0, incarnation="second")
    version = c.metadata_version
    assert c.heartbeat(1, old, 2.0).error is Errors.STALE_BROKER_EPOCH
    assert c.heartbeat(9, 1, 2.0).error is Errors.STALE_BROKER_EPOCH
    assert c.metadata_version == version
    # A stale heartbeat does not keep the session alive.
    for b in (2, 3):
        c.heartbeat(b, epoch(c, b), 10.5)
    assert c.tick(10.5) == (1,)


@pytest.mark.req("CTL-4")
def test_heartbeat_unfences_only_once_caught_up_with_metadata() -> None:
    c = Controller()
    registration = c.register_broker(1, "a", clean_shutdown=True, now=0.0)
    behind = c.heartbeat(
        1, registration.broker_epoch, 0.1, current_metadata_version=registration.broker_epoch - 1
    )
    assert behind.is_fenced and not behind.is_caught_up
    caught_up = c.heartbeat(1, registration.broker_epoch, 0.2, current_metadata_version=c.metadata_version)
    assert not caught_up.is_fenced and caught_up.is_caught_up
    assert any(isinstance(e, BrokerUnfenced) for e in c.events)


@pytest.mark.req("CTL-4", "CTL-5")
def test_a_fenced_broker_is_unfenced_by_its_next_heartbeat() -> None:
    # Fenced for a missed session (a network partition, say), same incarnation, same epoch.
    c = cluster()
    expire(c, 3, at=10.0)
    assert not registered(c, 3).is_active
    reply = c.heartbeat(3, epoch(c, 3), 11.0)
    assert not reply.is_fenced
    assert 3 not in state(c).isr  # back in the ISR only when the leader adds it


# ------------------------------------------------------------------------------------------ CTL-5


@pytest.mark.req("CTL-5")
def test_session_expiry_boundary_and_fencing_effects() -> None:
    c = cluster()
    for b in (2, 3):
        c.heartbeat(b, epoch(c, b), 9.0)
    assert c.tick(9.0) == ()  # lastContact + timeout >= now: still valid
    assert c.tick(9.001) == (1,)
    p = state(c)
    assert 1 not in p.isr and p.leader == 2
    assert p.leader_epoch == 1 and p.partition_epoch == 1
    fenced = [e for e in c.events if isinstance(e, BrokerFenced)]
    assert [(e.broker_id, e.reason) for e in fenced] == [(1, "session_expired")]
    assert c.tick(9.5) == ()  # already fenced
    assert_valid(c)


@pytest.mark.req("CTL-5")
def test_session_timeout_follows_config() -> None:
    c = cluster(broker_session_timeout_ms=1000)
    for b in (2, 3):
        c.heartbeat(b, epoch(c, b), 1.5)
    assert c.tick(1.5) == (1,)


# ------------------------------------------------------------------------------------------ CTL-6


@pytest.mark.req("CTL-6")
def test_last_replica_standing_without_elr() -> None:
    c = cluster(eligible_leader_replicas_enable=False)
    expire(c, 2, 3, at=10.0)
    assert state(c).isr == (1,) and state(c).leader == 1
    expire(c, 1, at=20.0)
    p = state(c)
    assert p.isr == (1,), "the ISR never becomes empty without ELR"
    assert p.leader == NO_LEADER
    assert_valid(c)
    # Broker 2 comes back first: it is not in the ISR, so the partition stays offline.
    c.heartbeat(2, epoch(c, 2), 21.0)
    assert state(c).leader == NO_LEADER
    # The last replica standing returns and leads again.
    c.heartbeat(1, epoch(c, 1), 21.0)
    p = state(c)
    assert (p.leader, p.isr) == (1, (1,))
    assert elections(c)[-1].kind == "clean" and elections(c)[-1].cause == "broker_unfenced"


@pytest.mark.req("CTL-6", "CTL-17")
def test_last_replica_standing_controlled_shutdown_without_elr() -> None:
    c = cluster(eligible_leader_replicas_enable=False, rf=1, brokers=1)
    reply = c.controlled_shutdown(1, epoch(c, 1), 1.0)
    assert reply.should_shut_down
    assert (state(c).isr, state(c).leader) == ((1,), NO_LEADER)
    start(c, 1, 2.0, incarnation="again", clean=True)
    assert state(c).leader == 1


# ------------------------------------------------------------------------------------------ CTL-7


@pytest.mark.req("CTL-7", "CTL-22")
def test_elr_is_populated_below_min_isr_and_keeps_fenced_brokers() -> None:
    c = cluster(min_insync_replicas=2)
    expire(c, 1, at=10.0)
    assert (state(c).isr, state(c).elr) == ((2, 3), ())  # 1 left while the ISR was still full
    expire(c, 2, at=20.0)
    assert (state(c).isr, state(c).elr) == ((3,), (2,))
    expire(c, 3, at=30.0)
    p = state(c)
    assert (p.isr, p.elr, p.last_known_elr, p.leader) == ((), (2, 3), (), NO_LEADER)
    assert not registered(c, 2).is_active and not registered(c, 3).is_active
    assert_valid(c)


@pytest.mark.req("CTL-7", "CTL-14")
def test_elr_cleared_when_isr_reaches_min_isr_again() -> None:
    c = cluster(min_insync_replicas=2)
    assert propose(c, (1,)).error is Errors.NONE
    p = state(c)
    assert (p.isr, p.elr) == ((1,), (2, 3))  # the current ISR joins the ELR (the HW is frozen below min ISR)
    assert p.leader_epoch == 0, "an ELR change alone does not bump the leader epoch"
    assert propose(c, (1, 3)).error is Errors.NONE
    p = state(c)
    assert (p.isr, p.elr, p.last_known_elr) == ((1, 3), (), ())


@pytest.mark.req("CTL-7", "CTL-16")
def test_last_known_elr_collects_replicas_removed_from_elr_by_unclean_restart() -> None:
    c = cluster(min_insync_replicas=2)
    assert propose(c, (1,)).error is Errors.NONE  # ELR {2, 3}
    expire(c, 2, 3, at=10.0)
    assert (state(c).isr, state(c).elr) == ((1,), (2, 3))
    start(c, 2, 21.0, incarnation="2b", clean=False)
    p = state(c)
    assert (p.isr, p.elr, p.last_known_elr) == ((1,), (3,), (2,))
    assert_valid(c)


@pytest.mark.req("CTL-7")
def test_elr_disabled_keeps_elr_empty() -> None:
    c = cluster(min_insync_replicas=2, eligible_leader_replicas_enable=False)
    assert propose(c, (1,)).error is Errors.NONE
    expire(c, 1, at=10.0)
    p = state(c)
    assert (p.isr, p.elr, p.last_known_elr) == ((1,), (), ())


# ------------------------------------------------------------------------------------------ CTL-8


@pytest.mark.req("CTL-8", "CTL-12")
def test_clean_election_keeps_a_valid_leader() -> None:
    c = cluster()
    expire(c, 2, at=10.0)
    p = state(c)
    assert (p.leader, p.isr, p.leader_epoch, p.partition_epoch) == (1, (1, 3), 0, 1)
    assert elections(c) == []


@pytest.mark.req("CTL-8")
def test_clean_election_follows_assignment_order() -> None:
    c = cluster(topic=False)
    c.create_topic("t", 1, 3, replica_assignment=[[3, 2, 1]])
    assert state(c).leader == 3
    expire(c, 3, at=10.0)
    assert state(c).leader == 2  # next in assignment order, not the smallest id
    assert elections(c)[-1].kind == "clean"


@pytest.mark.req("CTL-8", "CTL-17")
def test_a_shut_down_broker_is_not_elected() -> None:
    c = cluster(topic=False)
    c.create_topic("t", 1, 3, replica_assignment=[[1, 2, 3]])
    reply = c.controlled_shutdown(2, epoch(c, 2), 1.0)
    assert reply.should_shut_down and reply.is_fenced and reply.in_controlled_shutdown
    expire(c, 1, at=10.0)
    assert state(c).leader == 3


def _partition(
    *,
    isr: tuple[int, ...],
    elr: tuple[int, ...] = (),
    leader: int = NO_LEADER,
    replicas: tuple[int, ...] = (1, 2, 3),
) -> PartitionMetadata:
    return PartitionMetadata(TP, replicas, isr, leader, 4, 7, elr=elr)


@pytest.mark.req("CTL-8", "CTL-9", "CTL-12")
def test_builder_prefers_isr_and_ignores_elr_while_isr_not_empty() -> None:
    # ISR {1} (not acceptable) and ELR {2} (acceptable): the ELR may not be used.
    change = build_partition_change(
        _partition(isr=(1,), elr=(2,), leader=1),
        target_isr=(1,),
        is_acceptable_leader=lambda b: b == 2,
        min_isr=2,
        elr_enabled=True,
    )
    assert change is not None and change.election == "none"
    assert (change.after.leader, change.after.leader_epoch, change.after.partition_epoch) == (NO_LEADER, 5, 8)
    # An already-offline partition with nothing to elect does not change.
    assert (
        build_partition_change(
            change.after, target_isr=(1,), is_acceptable_leader=lambda b: b == 2, min_isr=2, elr_enabled=True
        )
        is None
    )


# ------------------------------------------------------------------------------------------ CTL-9


@pytest.mark.req("CTL-8", "CTL-9")
def test_isr_member_beats_an_earlier_elr_member() -> None:
    c = cluster(min_insync_replicas=3)
    assert propose(c, (1, 3)).error is Errors.NONE
    assert state(c).elr == (2,)  # 2 is active, and first in assignment order after 1
    expire(c, 1, at=10.0)
    p = state(c)
    assert (p.leader, p.isr, p.elr) == (3, (3,), (1, 2))
    assert elections(c)[-1].kind == "clean"


@pytest.mark.req("CTL-9")
def test_election_from_elr_when_isr_is_empty() -> None:
    c = cluster(min_insync_replicas=2)
    expire(c, 1, at=10.0)
    expire(c, 2, at=20.0)
    expire(c, 3, at=30.0)
    c.heartbeat(3, epoch(c, 3), 31.0)  # 3 returns first
    p = state(c)
    assert (p.leader, p.isr, p.elr) == (3, (3,), (2,))
    last = elections(c)[-1]
    assert (last.kind, last.leader, last.cause) == ("elr", 3, "broker_unfenced")
    assert p.leader_recovery_state is RECOVERED
    assert_valid(c)


@pytest.mark.req("CTL-9")
def test_elr_election_follows_assignment_order() -> None:
    c = cluster(topic=False, min_insync_replicas=3)
    c.create_topic("t", 1, 3, replica_assignment=[[1, 3, 2]])
    assert propose(c, (1,)).error is Errors.NONE
    assert state(c).elr == (3, 2)  # assignment order
    expire(c, 1, at=10.0)  # both ELR members are active: the first in assignment order leads
    assert (state(c).leader, state(c).isr, state(c).elr) == (3, (3,), (1, 2))


# ------------------------------------------------------------------------------------------ CTL-10


@pytest.mark.req("CTL-10", "CTL-11")
def test_no_unclean_election_unless_enabled() -> None:
    c = cluster(eligible_leader_replicas_enable=False)
    assert propose(c, (1,)).error is Errors.NONE
    expire(c, 1, at=10.0)
    p = state(c)
    assert (p.leader, p.isr) == (NO_LEADER, (1,))
    assert [e.kind for e in elections(c)] == ["none"]


@pytest.mark.req("CTL-10")
def test_unclean_election_when_enabled_is_reported() -> None:
    c = cluster(topic=False, eligible_leader_replicas_enable=False)
    c.create_topic("t", 1, 3, unclean_leader_election_enable=True)
    assert propose(c, (1,)).error is Errors.NONE
    expire(c, 1, at=10.0)
    p = state(c)
    assert (p.leader, p.isr, p.leader_recovery_state) == (2, (2,), RECOVERING)
    assert (p.leader_epoch, p.partition_epoch) == (1, 2)
    last = elections(c)[-1]
    assert last.unclean and last.kind == "unclean" and last.previous_leader == 1
    assert_valid(c)


@pytest.mark.req("CTL-10", "CTL-7")
def test_unclean_election_with_elr_clears_elr_and_last_known_elr() -> None:
    c = cluster(brokers=4, topic=False, min_insync_replicas=3, unclean_leader_election_enable=True)
    c.create_topic("t", 1, 4, replica_assignment=[[1, 2, 3, 4]])
    assert propose(c, (1, 2)).error is Errors.NONE  # ELR {3, 4}
    expire(c, 3, 4, at=10.0)  # the ELR members go down (they stay in the ELR)
    start(c, 4, 10.0, incarnation="4b", clean=False)  # 4 restarts uncleanly: ELR {3}, LastKnownELR {4}
    assert (state(c).elr, state(c).last_known_elr) == ((3,), (4,))
    expire(c, 1, 2, at=20.0)
    # ISR empty; the ELR member 3 is fenced; 4 is active but only uncleanly electable.
    p = state(c)
    assert (p.leader, p.isr, p.elr, p.last_known_elr) == (4, (4,), (), ())
    assert p.leader_recovery_state is RECOVERING
    assert elections(c)[-1].kind == "unclean"
    assert_valid(c)


# ------------------------------------------------------------------------------------------ CTL-11


@pytest.mark.req("CTL-11", "CTL-12")
def test_offline_partition_bumps_leader_epoch_once() -> None:
    c = cluster(min_insync_replicas=2)
    expire(c, 2, 3, at=10.0)
    expire(c, 1, at=20.0)
    p = state(c)
    assert p.leader == NO_LEADER
    offline = elections(c)[-1]
    assert (offline.kind, offline.leader, offline.leader_epoch) == ("none", NO_LEADER, p.leader_epoch)
    version = c.metadata_version
    # Another replica comes and goes: nothing to elect, nothing written.
    c.heartbeat(2, epoch(c, 2), 21.0)
    assert state(c) == p
    assert c.metadata_version == version + 1  # the unfencing only


# ------------------------------------------------------------------------------------------ CTL-12


@pytest.mark.req("CTL-12", "CTL-14")
def test_epochs_move_as_kafka_moves_them() -> None:
    c = cluster()
    assert propose(c, (1, 2)).partition is not None
    assert (state(c).leader_epoch, state(c).partition_epoch) == (0, 1)  # ISR change: partition epoch only
    expire(c, 1, at=10.0)
    assert (state(c).leader_epoch, state(c).partition_epoch) == (1, 2)  # leader change: both
    before = state(c)
    response = propose(c, before.isr, now=10.0)  # a proposal that changes nothing
    assert response.error is Errors.NONE and response.partition == before
    assert state(c) == before


# ------------------------------------------------------------------------------------------ CTL-13


@pytest.mark.req("CTL-13")
def test_alter_partition_stale_or_unknown_sender_epoch() -> None:
    c = cluster()
    assert propose(c, (1, 2), sender_epoch=epoch(c, 1) - 1).error is Errors.STALE_BROKER_EPOCH
    assert propose(c, (1, 2), sender=7, sender_epoch=1).error is Errors.STALE_BROKER_EPOCH
    # The broker epoch is checked first, before the (also stale) leader epoch.
    assert propose(c, (1, 2), sender_epoch=0, leader_epoch=-5).error is Errors.STALE_BROKER_EPOCH


@pytest.mark.req("CTL-13")
def test_alter_partition_unknown_partition() -> None:
    c = cluster()
    request = AlterPartitionRequest(TopicPartition("nope", 0), 1, epoch(c, 1), 0, 0, ((1, epoch(c, 1)),))
    response = c.alter_partition(request, 0.0)
    assert response.error is Errors.UNKNOWN_TOPIC_OR_PARTITION and response.partition is None


@pytest.mark.req("CTL-13")
def test_alter_partition_epoch_checks_in_order() -> None:
    c = cluster()
    assert propose(c, (1, 2), leader_epoch=1).error is Errors.INVALID_REQUEST  # from the future
    assert propose(c, (1, 2), partition_epoch=1).error is Errors.INVALID_REQUEST
    expire(c, 1, at=10.0)  # leader 2, epochs (1, 1)
    # Old leader epoch from the old leader: FENCED_LEADER_EPOCH comes before "not the leader".
    assert propose(c, (2, 3), sender=1, sender_epoch=epoch(c, 1), leader_epoch=0, now=10.0).error is (
        Errors.FENCED_LEADER_EPOCH
    )
    assert propose(c, (2, 3), sender=3, now=10.0).error is Errors.INVALID_REQUEST
    assert propose(c, (2,), now=10.0).error is Errors.NONE  # partition epoch 2
    assert propose(c, (2, 3), partition_epoch=1, now=10.0).error is Errors.INVALID_UPDATE_VERSION


@pytest.mark.req("CTL-13")
@pytest.mark.parametrize(
    "isr",
    [(1, 4), (1, 2, 2), (2, 3), ()],
    ids=["not-a-replica", "repeated", "drops-the-leader", "empty"],
)
def test_alter_partition_invalid_isr(isr: tuple[int, ...]) -> None:
    c = cluster(brokers=4)
    assert propose(c, isr, member_epochs={4: epoch(c, 4)}).error is Errors.INVALID_REQUEST


@pytest.mark.req("CTL-13")
def test_alter_partition_recovery_state_rules() -> None:
    c = cluster(topic=False)
    c.create_topic("t", 1, 3, unclean_leader_election_enable=True)
    # RECOVERED -> RECOVERING is refused even with one member.
    assert propose(c, (1,), recovery=RECOVERING).error is Errors.INVALID_REQUEST
    assert propose(c, (1,)).error is Errors.NONE
    expire(c, 1, at=10.0)  # unclean election of 2: RECOVERING
    assert state(c).leader_recovery_state is RECOVERING
    assert propose(c, (2, 3), recovery=RECOVERING, now=10.0).error is Errors.INVALID_REQUEST
    assert_valid(c)


@pytest.mark.req("CTL-13")
def test_alter_partition_ineligible_replicas() -> None:
    c = cluster(brokers=4, topic=False)
    c.create_topic("t", 1, 4, replica_assignment=[[1, 2, 3, 4]])
    assert propose(c, (1, 2, 3)).error is Errors.NONE  # 4 out
    c.controlled_shutdown(4, epoch(c, 4), 1.0)
    assert propose(c, (1, 2, 3, 4), now=1.0).error is Errors.INELIGIBLE_REPLICA  # shutting down
    assert propose(c, (1, 2)).error is Errors.NONE  # 3 out
    expire(c, 3, at=10.0)
    assert propose(c, (1, 2, 3), now=10.0).error is Errors.INELIGIBLE_REPLICA  # fenced
    c.heartbeat(3, epoch(c, 3), 10.0)
    version = c.metadata_version
    stale = {3: epoch(c, 3) - 1}
    assert propose(c, (1, 2, 3), member_epochs=stale, now=10.0).error is Errors.INELIGIBLE_REPLICA
    assert state(c).isr == (1, 2), "a refusal changes nothing"
    assert c.metadata_version == version
    # -1 skips the broker epoch check, as in Kafka.
    assert propose(c, (1, 2, 3), member_epochs={3: -1}, now=10.0).error is Errors.NONE


# ------------------------------------------------------------------------------------------ CTL-14


@pytest.mark.req("CTL-14")
def test_alter_partition_success_answers_the_new_state() -> None:
    c = cluster()
    response = propose(c, (1, 3))
    assert response.error is Errors.NONE
    assert response.partition == state(c)
    assert (state(c).isr, state(c).leader, state(c).leader_epoch, state(c).partition_epoch) == (
        (1, 3),
        1,
        0,
        1,
    )
    response = propose(c, (1, 3, 2))
    assert state(c).isr == (1, 2, 3)  # stored in assignment order
    changes = [e for e in c.events if isinstance(e, IsrChanged)]
    assert [e.cause for e in changes] == ["alter_partition", "alter_partition"]


@pytest.mark.req("CTL-14", "CTL-10")
def test_recovering_becomes_recovered_when_the_leader_says_so() -> None:
    c = cluster(topic=False, eligible_leader_replicas_enable=False)
    c.create_topic("t", 1, 3, unclean_leader_election_enable=True)
    propose(c, (1,))
    expire(c, 1, at=10.0)
    assert state(c).leader_recovery_state is RECOVERING
    before = state(c)
    assert propose(c, (2,), recovery=RECOVERED, now=10.0).error is Errors.NONE
    after = state(c)
    assert after.leader_recovery_state is RECOVERED
    assert (after.leader_epoch, after.partition_epoch) == (before.leader_epoch, before.partition_epoch + 1)
    assert propose(c, (2, 3), now=10.0).error is Errors.NONE


# ------------------------------------------------------------------------------------------ CTL-15 / 16


@pytest.mark.req("CTL-15")
def test_first_registration_is_never_an_unclean_restart() -> None:
    for config in (
        ControllerConfig(restart_is_unclean="marker"),
        ControllerConfig(restart_is_unclean="always"),
    ):
        c = Controller(config)
        c.register_broker(1, "a", clean_shutdown=False, now=0.0)
        (event,) = c.events
        assert isinstance(event, BrokerRegistered) and not event.unclean_restart


@pytest.mark.req("CTL-15", "CTL-16", "CTL-17")
def test_marker_mode_clean_restart_keeps_the_elr_place() -> None:
    c = cluster(min_insync_replicas=2, restart_is_unclean="marker")
    c.controlled_shutdown(3, epoch(c, 3), 1.0)
    c.controlled_shutdown(2, epoch(c, 2), 1.0)
    assert (state(c).isr, state(c).elr) == ((1,), (2,))
    start(c, 2, 2.0, incarnation="2b", clean=True)
    registered = [e for e in c.events if isinstance(e, BrokerRegistered)][-1]
    assert not registered.unclean_restart
    assert state(c).elr == (2,)


@pytest.mark.req("CTL-15", "CTL-16")
def test_marker_mode_restart_without_marker_is_unclean() -> None:
    c = cluster(min_insync_replicas=2, restart_is_unclean="marker")
    c.controlled_shutdown(3, epoch(c, 3), 1.0)
    c.controlled_shutdown(2, epoch(c, 2), 1.0)
    start(c, 2, 2.0, incarnation="2b", clean=False)
    assert [e for e in c.events if isinstance(e, BrokerRegistered)][-1].unclean_restart
    assert (state(c).isr, state(c).elr, state(c).last_known_elr) == ((1,), (), (2,))


@pytest.mark.req("CTL-15", "CTL-16")
def test_always_mode_every_restart_is_unclean() -> None:
    c = cluster(min_insync_replicas=2, restart_is_unclean="always")
    c.controlled_shutdown(3, epoch(c, 3), 1.0)
    c.controlled_shutdown(2, epoch(c, 2), 1.0)
    start(c, 2, 2.0, incarnation="2b", clean=True)
    assert [e for e in c.events if isinstance(e, BrokerRegistered)][-1].unclean_restart
    assert (state(c).isr, state(c).elr, state(c).last_known_elr) == ((1,), (), (2,))


@pytest.mark.req("CTL-16")
def test_unclean_restart_removes_from_isr_before_the_new_epoch() -> None:
    # Broker 1 crashed (no controlled shutdown) and restarts after its session expired, before any tick.
    c = cluster(topic=False)
    c.create_topic("t", 2, 3)  # 1 leads t-0, follows t-1
    for b in (2, 3):
        c.heartbeat(b, epoch(c, b), 12.0)
    c.drain_events()
    registration = c.register_broker(1, "1b", clean_shutdown=False, now=12.0)
    events = c.drain_events()
    assert isinstance(events[-1], BrokerRegistered) and events[-1].unclean_restart
    assert all(e.metadata_version < registration.broker_epoch for e in events[:-1])
    for p in c.partitions():
        assert 1 not in p.isr and 1 not in p.elr and p.leader != 1
    assert state(c).leader == 2
    assert_valid(c)


@pytest.mark.req("CTL-16")
def test_unclean_restarted_broker_cannot_lead_until_the_leader_adds_it_back() -> None:
    c = cluster(min_insync_replicas=2)
    expire(c, 1, at=10.0)
    expire(c, 2, at=20.0)
    expire(c, 3, at=30.0)  # ISR {}, ELR {2, 3}
    start(c, 2, 31.0, incarnation="2b", clean=False)
    p = state(c)
    assert (p.leader, p.elr, p.last_known_elr) == (NO_LEADER, (3,), (2,)), "2 is active but may not lead"
    start(c, 3, 32.0, incarnation="3b", clean=True)  # a clean restart (marker mode) keeps its ELR place
    assert (state(c).leader, state(c).isr) == (3, (3,))
    assert propose(c, (2, 3), now=32.0).error is Errors.NONE  # the leader judged 2 caught up
    assert state(c).isr == (2, 3)
    assert_valid(c)


@pytest.mark.req("CTL-16", "CTL-6")
def test_without_elr_the_last_replica_standing_survives_an_unclean_restart() -> None:
    # The problem KIP-966 fixes: the last ISR member restarts after losing data and leads again.
    c = cluster(eligible_leader_replicas_enable=False)
    propose(c, (1,))
    expire(c, 1, at=10.0)
    start(c, 1, 11.0, incarnation="1b", clean=False)
    assert [e for e in c.events if isinstance(e, BrokerRegistered)][-1].unclean_restart
    assert (state(c).leader, state(c).isr) == (1, (1,))


# ------------------------------------------------------------------------------------------ CTL-17


@pytest.mark.req("CTL-17")
def test_controlled_shutdown_moves_leadership_and_fences() -> None:
    c = cluster(topic=False)
    c.create_topic("t", 3, 3)
    c.drain_events()
    reply = c.controlled_shutdown(1, epoch(c, 1), 1.0)
    assert reply.error is Errors.NONE and reply.should_shut_down and reply.is_fenced
    for p in c.partitions():
        assert 1 not in p.isr and p.leader != 1
    events = c.drain_events()
    assert isinstance(events[0], BrokerControlledShutdown)
    assert isinstance(events[-1], BrokerFenced) and events[-1].reason == "controlled_shutdown"
    causes = {e.cause for e in events if isinstance(e, (LeaderElected, IsrChanged))}
    assert causes == {"controlled_shutdown"}
    # Its heartbeats never unfence it; it keeps being told to shut down.
    again = c.heartbeat(1, epoch(c, 1), 2.0)
    assert again.is_fenced and again.should_shut_down
    assert c.controlled_shutdown(1, epoch(c, 1), 2.0).should_shut_down
    assert_valid(c)


@pytest.mark.req("CTL-17")
def test_controlled_shutdown_with_stale_epoch() -> None:
    c = cluster()
    version = c.metadata_version
    assert c.controlled_shutdown(1, epoch(c, 1) + 100, 1.0).error is Errors.STALE_BROKER_EPOCH
    assert c.controlled_shutdown(8, 1, 1.0).error is Errors.STALE_BROKER_EPOCH
    assert c.metadata_version == version


@pytest.mark.req("CTL-17", "CTL-7")
def test_controlled_shutdown_of_the_last_isr_member_moves_it_into_the_elr() -> None:
    c = cluster(min_insync_replicas=2)
    for b in (3, 2, 1):
        c.controlled_shutdown(b, epoch(c, b), 1.0)
    p = state(c)
    assert (p.isr, p.elr, p.leader) == ((), (1, 2), NO_LEADER)


# ------------------------------------------------------------------------------------------ CTL-18


@pytest.mark.req("CTL-18")
def test_create_topic_round_robin_assignment() -> None:
    c = cluster(brokers=4, topic=False)
    states = c.create_topic("t", 5, 3)
    assert [s.replicas for s in states] == [(1, 2, 3), (2, 3, 4), (3, 4, 1), (4, 1, 2), (1, 2, 3)]
    for s in states:
        assert s.isr == s.replicas and s.leader == s.replicas[0]
        assert (s.leader_epoch, s.partition_epoch, s.elr, s.last_known_elr) == (0, 0, (), ())
        assert s.leader_recovery_state is RECOVERED
    created = [e for e in c.events if isinstance(e, TopicCreated)]
    assert created[0].partitions == states


@pytest.mark.req("CTL-18")
def test_create_topic_isr_is_the_active_replicas() -> None:
    c = cluster(topic=False)
    c.controlled_shutdown(1, epoch(c, 1), 1.0)
    (s,) = c.create_topic("t", 1, 3)
    assert (s.replicas, s.isr, s.leader) == ((1, 2, 3), (2, 3), 2)


@pytest.mark.req("CTL-18")
def test_create_topic_errors() -> None:
    c = cluster(topic=False)
    c.create_topic("t", 1, 1)
    with pytest.raises(ReflogUsageError):
        c.create_topic("t", 1, 1)  # exists
    with pytest.raises(ReflogUsageError):
        c.create_topic("u", 1, 4)  # too few brokers
    with pytest.raises(ReflogUsageError):
        c.create_topic("u", 0, 1)
    with pytest.raises(ReflogUsageError):
        c.create_topic("u", 1, 2, replica_assignment=[[1, 9]])  # unknown broker
    with pytest.raises(ReflogUsageError):
        c.create_topic("u", 1, 2, replica_assignment=[[1, 1]])  # repeated
    with pytest.raises(ReflogUsageError):
        c.create_topic("u", 2, 2, replica_assignment=[[1, 2]])  # wrong length
    for b in (1, 2):
        c.controlled_shutdown(b, epoch(c, b), 1.0)
    with pytest.raises(ReflogUsageError):
        c.create_topic("u", 1, 2, replica_assignment=[[1, 2]])  # no active replica
    assert [p.topic_partition.topic for p in c.partitions()] == ["t"]


# ------------------------------------------------------------------------------------------ CTL-19


@pytest.mark.req("CTL-19")
def test_preferred_leader_election() -> None:
    c = cluster()
    (outcome,) = c.elect_leaders("preferred", [TP])
    assert outcome.outcome == "not_needed"
    expire(c, 1, at=10.0)
    (outcome,) = c.elect_leaders("preferred", now=10.0)
    assert outcome.outcome == "not_available"  # 1 is fenced and not in the ISR
    c.heartbeat(1, epoch(c, 1), 11.0)
    propose(c, (1, 2, 3), now=11.0)
    (outcome,) = c.elect_leaders("preferred", now=11.0)
    assert outcome.outcome == "elected" and outcome.partition.leader == 1 == state(c).leader
    assert elections(c)[-1].cause == "elect_leaders" and elections(c)[-1].kind == "clean"


@pytest.mark.req("CTL-19", "CTL-10")
def test_operator_unclean_election_overrides_topic_config() -> None:
    c = cluster(eligible_leader_replicas_enable=False)
    assert c.topic_config("t").unclean_leader_election_enable is False
    (outcome,) = c.elect_leaders("unclean", [TP])
    assert outcome.outcome == "not_needed"
    propose(c, (1,))
    expire(c, 1, 2, at=10.0)
    (outcome,) = c.elect_leaders("unclean", [TP], now=10.0)
    assert outcome.outcome == "elected"
    assert (state(c).leader, state(c).isr, state(c).leader_recovery_state) == (3, (3,), RECOVERING)
    assert elections(c)[-1].unclean
    expire(c, 3, at=20.0)
    (outcome,) = c.elect_leaders("unclean", [TP], now=20.0)
    assert outcome.outcome == "not_available"


@pytest.mark.req("CTL-19", "CTL-7")
def test_operator_unclean_election_when_the_elr_is_down() -> None:
    c = cluster(min_insync_replicas=2)
    expire(c, 1, at=10.0)
    expire(c, 2, at=20.0)
    expire(c, 3, at=30.0)  # ISR {}, ELR {2, 3}
    c.heartbeat(1, epoch(c, 1), 31.0)  # 1 left while the ISR was full: not in the ELR, not electable
    assert (state(c).leader, state(c).elr) == (NO_LEADER, (2, 3))
    (outcome,) = c.elect_leaders("unclean", now=31.0)
    p = state(c)
    assert outcome.outcome == "elected"
    assert (p.leader, p.isr, p.elr, p.last_known_elr, p.leader_recovery_state) == (
        1,
        (1,),
        (),
        (),
        RECOVERING,
    )


@pytest.mark.req("CTL-19", "CTL-9")
def test_unclean_election_still_prefers_the_elr() -> None:
    change = build_partition_change(
        _partition(isr=(), elr=(3,)),
        target_isr=(),
        is_acceptable_leader=lambda b: True,
        min_isr=2,
        elr_enabled=True,
        election="unclean",
    )
    assert change is not None and change.election == "elr"
    assert (change.after.leader, change.after.isr, change.after.leader_recovery_state) == (3, (3,), RECOVERED)


@pytest.mark.req("CTL-19")
def test_elect_leaders_misuse() -> None:
    c = cluster()
    with pytest.raises(ReflogUsageError):
        c.elect_leaders("preferred", [TopicPartition("t", 5)])
    with pytest.raises(ReflogUsageError):
        c.elect_leaders("sometimes")  # type: ignore[arg-type]
    with pytest.raises(ReflogUsageError):
        c.partition("t", 9)


# ------------------------------------------------------------------------------------------ CTL-20 / 21


@pytest.mark.req("CTL-20", "CTL-21")
def test_metadata_version_counts_changes_and_events_carry_it() -> None:
    c = Controller()
    assert c.metadata_version == 0
    start(c, 1)  # registration + unfencing
    assert c.metadata_version == 2
    start(c, 2)
    c.create_topic("t", 1, 2)
    assert c.metadata_version == 5
    c.heartbeat(1, epoch(c, 1), 1.0)  # no change
    c.tick(1.0)
    assert c.metadata_version == 5
    assert [e.metadata_version for e in c.events] == [1, 2, 3, 4, 5]
    assert [e.time for e in c.events] == [0.0] * 5
    propose(c, (1,), now=2.0)
    assert c.metadata_version == 6 and c.events[-1].time == 2.0
    first = c.drain_events()
    assert len(first) == 6 and c.drain_events() == ()
    start(c, 3, 3.0)
    assert [type(e) for e in c.drain_events()] == [BrokerRegistered, BrokerUnfenced]
    assert len(c.events) == 8


@pytest.mark.req("CTL-20")
def test_metadata_for_broker() -> None:
    c = cluster(brokers=4, topic=False)
    c.create_topic("a", 4, 2)
    view = c.metadata_for_broker(1)
    assert view.metadata_version == c.metadata_version
    assert [p.topic_partition.partition for p in view.partitions] == [0, 3]
    assert [b.broker_id for b in view.brokers] == [1, 2, 3, 4]
    assert view.broker_epochs == {b: epoch(c, b) for b in (1, 2, 3, 4)}
    assert len(c.metadata().partitions) == 4


# ------------------------------------------------------------------------------------------ CTL-23


@pytest.mark.req("CTL-23")
def test_recovery_quorum_can_exceed_min_isr() -> None:
    # The TLA+ model's MinIsrRecoveryQuorum says |LastKnownELR| = MinISR; a leader that shrinks the
    # ISR by two at once puts both into the ELR, so after unclean restarts it holds three.
    c = cluster(min_insync_replicas=2, restart_is_unclean="always")
    assert propose(c, (1,)).error is Errors.NONE  # ELR {2, 3}
    expire(c, 1, 2, 3, at=10.0)
    assert (state(c).isr, state(c).elr) == ((), (1, 2, 3))
    for b in (1, 2, 3):
        c.register_broker(b, f"{b}b", clean_shutdown=True, now=11.0)
    p = state(c)
    assert (p.isr, p.elr, p.last_known_elr) == ((), (), (1, 2, 3))
    assert len(p.last_known_elr) >= c.topic_config("t").effective_min_isr
    assert_valid(c)


# ------------------------------------------------------------------------------------------ CTL-24


def _script(c: Controller) -> None:
    for b in (1, 2, 3):
        start(c, b)
    c.create_topic("t", 2, 3)
    propose(c, (1, 2), now=1.0)
    expire(c, 2, at=10.0)
    c.register_broker(2, "2b", clean_shutdown=False, now=11.0)
    c.heartbeat(2, epoch(c, 2), 11.0)
    c.controlled_shutdown(3, epoch(c, 3), 12.0)


@pytest.mark.req("CTL-24")
def test_same_calls_same_events() -> None:
    a, b = (
        Controller(ControllerConfig(min_insync_replicas=2)),
        Controller(ControllerConfig(min_insync_replicas=2)),
    )
    _script(a)
    _script(b)
    assert a.events == b.events and a.metadata() == b.metadata()


@pytest.mark.req("CTL-24")
def test_time_must_not_go_backwards() -> None:
    c = cluster()
    c.tick(5.0)
    with pytest.raises(ReflogUsageError):
        c.heartbeat(1, epoch(c, 1), 4.0)
    with pytest.raises(ReflogUsageError):
        c.create_topic("u", 1, 1, now=1.0)
