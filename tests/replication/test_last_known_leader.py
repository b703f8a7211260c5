"""Kafka 4.1's last-known-leader election (CTL-25), against reflog's default KIP-966 LastKnownELR.

The scenario is a whole cluster killed at once: every replica restarts without a clean-shutdown
marker, so KIP-966 excludes each from the ISR and the ELR. With the default rules the partition
stays offline; with ``elect_last_known_leader`` its last leader comes back as an unclean leader.
"""

from __future__ import annotations

import attrs
import pytest

from reflog.replication._controller_change import PartitionChange, build_partition_change
from reflog.replication.controller import Controller
from reflog.replication.controller_config import ControllerConfig
from reflog.replication.controller_events import LeaderElected
from reflog.replication.messages import LeaderRecoveryState, PartitionMetadata
from reflog.vocabulary import NO_LEADER, TopicPartition
from tests.replication.test_controller import SESSION, cluster, start

TP = TopicPartition("t", 0)


def _kill_everyone_and_restart_uncleanly(c: Controller, now: float) -> None:
    """All brokers die at once; each new incarnation registers without a marker, then heartbeats."""
    now += SESSION + 1
    c.tick(now)  # every session expired: all fenced
    for broker in (1, 2, 3):
        c.register_broker(broker, f"{broker}-again", clean_shutdown=False, now=now)
    for broker in (1, 2, 3):
        registration = c.broker(broker)
        assert registration is not None
        c.heartbeat(broker, registration.broker_epoch, now)


@pytest.mark.req("CTL-25")
@pytest.mark.parametrize("min_isr", [1, 2])
def test_a_cluster_killed_at_once_gets_its_last_leader_back_uncleanly(min_isr: int) -> None:
    c = cluster(elect_last_known_leader=True, min_insync_replicas=min_isr)
    leader = c.partition("t", 0).leader
    _kill_everyone_and_restart_uncleanly(c, 0.0)
    p = c.partition("t", 0)
    assert p.leader != NO_LEADER
    assert p.isr == (p.leader,)
    assert p.leader_recovery_state is LeaderRecoveryState.RECOVERING
    assert p.elr == () and p.last_known_elr == ()
    elections = [e for e in c.events if isinstance(e, LeaderElected) and e.leader == p.leader]
    assert elections[-1].unclean
    assert leader in p.replicas
    assert c.invariant_violations() == ()


@pytest.mark.req("CTL-25", "CTL-16")
def test_by_default_the_same_cluster_stays_offline() -> None:
    c = cluster(min_insync_replicas=1)
    _kill_everyone_and_restart_uncleanly(c, 0.0)
    p = c.partition("t", 0)
    assert p.leader == NO_LEADER and p.isr == () and p.elr == ()


def _change(state: PartitionMetadata, alive: set[int], min_isr: int = 2) -> PartitionChange | None:
    """The next state with an empty target ISR, ELR on, Kafka 4.1's last-known-leader rules."""
    return build_partition_change(
        state,
        target_isr=[],
        is_acceptable_leader=alive.__contains__,
        min_isr=min_isr,
        elr_enabled=True,
        last_known_leader=True,
    )


def _partition(**fields: object) -> PartitionMetadata:
    base = PartitionMetadata(TP, (1, 2, 3), (1,), 1, 5, 7)
    return attrs.evolve(base, **fields)  # type: ignore[arg-type]


@pytest.mark.req("CTL-25")
def test_the_first_empty_isr_names_the_leader_it_had() -> None:
    before = _partition()
    change = _change(before, {2, 3}, min_isr=1)
    assert change is not None
    assert change.after.leader == NO_LEADER and change.after.last_known_elr == (1,)


@pytest.mark.req("CTL-25")
def test_the_last_known_leader_is_kept_while_leaderless_and_elected_only_when_acceptable() -> None:
    leaderless = _partition(isr=(), leader=NO_LEADER, last_known_elr=(2,))
    unchanged = _change(leaderless, {3})  # 3 is alive but not the last leader
    assert unchanged is None
    back = _change(leaderless, {2})
    assert back is not None and back.election == "unclean"
    assert (back.after.leader, back.after.isr, back.after.last_known_elr) == (2, (2,), ())
    assert back.after.leader_epoch == leaderless.leader_epoch + 1


@pytest.mark.req("CTL-25")
def test_a_nonempty_elr_or_several_last_known_members_prevent_it() -> None:
    for state in (
        _partition(isr=(), leader=NO_LEADER, elr=(3,), last_known_elr=(2,)),
        _partition(isr=(), leader=NO_LEADER, last_known_elr=(2, 3)),
    ):
        change = _change(state, {2})
        assert change is None or change.after.leader == NO_LEADER


@pytest.mark.req("CTL-25")
def test_it_needs_elr_enabled() -> None:
    c = Controller(ControllerConfig(elect_last_known_leader=True, eligible_leader_replicas_enable=False))
    for b in (1, 2, 3):
        start(c, b)
    c.create_topic("t", 1, 3)
    _kill_everyone_and_restart_uncleanly(c, 0.0)
    p = c.partition("t", 0)
    assert p.last_known_elr == ()
    assert p.leader_recovery_state is LeaderRecoveryState.RECOVERED  # last replica standing, cleanly
