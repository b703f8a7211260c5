"""Direct tests of single controller rules, written for the survivors of mutation testing
(tests/MUTATION.md): each fails when its rule alone is broken. test_controller.py tells the story
of each rule; these pin down exact values (event contents, reply flags, boundaries)."""

from __future__ import annotations

import pytest

from reflog.errors import Errors, ReflogUsageError
from reflog.replication._controller_change import build_partition_change
from reflog.replication.controller import Controller
from reflog.replication.controller_config import ControllerConfig, TopicConfig
from reflog.replication.controller_events import (
    BrokerControlledShutdown,
    BrokerFenced,
    BrokerRegistered,
    BrokerUnfenced,
    IsrChanged,
    LeaderElected,
    TopicCreated,
)
from reflog.replication.messages import LeaderRecoveryState, PartitionMetadata
from reflog.vocabulary import NO_LEADER, TopicPartition
from tests.replication.test_controller import RECOVERING, TP, cluster, epoch, expire, propose, start, state


@pytest.mark.req("CTL-2")
def test_broker_id_zero_is_a_valid_id() -> None:
    c = Controller()
    assert c.register_broker(0, "zero", clean_shutdown=True, now=0).broker_id == 0
    with pytest.raises(ReflogUsageError):
        c.register_broker(-1, "minus", clean_shutdown=True, now=0)


@pytest.mark.req("CTL-20", "CTL-21")
def test_the_event_log_records_every_change_with_its_time_version_and_cause() -> None:
    c = Controller(ControllerConfig())
    start(c, 1)
    start(c, 2)
    start(c, 3, now=0.5)
    c.create_topic("t", 1, 3, min_insync_replicas=3)
    c.controlled_shutdown(1, 1, 1.0)
    c.register_broker(1, "1-again", clean_shutdown=False, now=2.0)  # unclean: leaves the ELR
    c.heartbeat(1, 12, 3.0)
    c.heartbeat(3, 5, 12.0)
    c.heartbeat(1, 12, 12.0)
    c.tick(12.5)  # 2's session expired
    assert c.events == (
        BrokerRegistered(
            time=0.0,
            metadata_version=1,
            broker_id=1,
            incarnation_id="1@0.0",
            broker_epoch=1,
            unclean_restart=False,
        ),
        BrokerUnfenced(time=0.0, metadata_version=2, broker_id=1, broker_epoch=1),
        BrokerRegistered(
            time=0.0,
            metadata_version=3,
            broker_id=2,
            incarnation_id="2@0.0",
            broker_epoch=3,
            unclean_restart=False,
        ),
        BrokerUnfenced(time=0.0, metadata_version=4, broker_id=2, broker_epoch=3),
        BrokerRegistered(
            time=0.5,
            metadata_version=5,
            broker_id=3,
            incarnation_id="3@0.5",
            broker_epoch=5,
            unclean_restart=False,
        ),
        BrokerUnfenced(time=0.5, metadata_version=6, broker_id=3, broker_epoch=5),
        TopicCreated(
            time=0.5,
            metadata_version=7,
            topic="t",
            config=TopicConfig(
                min_insync_replicas=3, unclean_leader_election_enable=False, replication_factor=3
            ),
            partitions=(
                PartitionMetadata(
                    topic_partition=TP,
                    replicas=(1, 2, 3),
                    isr=(1, 2, 3),
                    leader=1,
                    leader_epoch=0,
                    partition_epoch=0,
                    elr=(),
                    last_known_elr=(),
                    leader_recovery_state=LeaderRecoveryState.RECOVERED,
                ),
            ),
        ),
        BrokerControlledShutdown(time=1.0, metadata_version=8, broker_id=1, broker_epoch=1),
        LeaderElected(
            time=1.0,
            metadata_version=9,
            topic_partition=TP,
            leader=2,
            previous_leader=1,
            leader_epoch=1,
            partition_epoch=1,
            kind="clean",
            cause="controlled_shutdown",
            partition=PartitionMetadata(
                topic_partition=TP,
                replicas=(1, 2, 3),
                isr=(2, 3),
                leader=2,
                leader_epoch=1,
                partition_epoch=1,
                elr=(1,),
                last_known_elr=(),
                leader_recovery_state=LeaderRecoveryState.RECOVERED,
            ),
        ),
        IsrChanged(
            time=1.0,
            metadata_version=9,
            topic_partition=TP,
            isr=(2, 3),
            elr=(1,),
            last_known_elr=(),
            leader_recovery_state=LeaderRecoveryState.RECOVERED,
            leader_epoch=1,
            partition_epoch=1,
            cause="controlled_shutdown",
            partition=PartitionMetadata(
                topic_partition=TP,
                replicas=(1, 2, 3),
                isr=(2, 3),
                leader=2,
                leader_epoch=1,
                partition_epoch=1,
                elr=(1,),
                last_known_elr=(),
                leader_recovery_state=LeaderRecoveryState.RECOVERED,
            ),
        ),
        BrokerFenced(
            time=1.0, metadata_version=10, broker_id=1, broker_epoch=1, reason="controlled_shutdown"
        ),
        IsrChanged(
            time=2.0,
            metadata_version=11,
            topic_partition=TP,
            isr=(2, 3),
            elr=(),
            last_known_elr=(1,),
            leader_recovery_state=LeaderRecoveryState.RECOVERED,
            leader_epoch=1,
            partition_epoch=2,
            cause="unclean_shutdown",
            partition=PartitionMetadata(
                topic_partition=TP,
                replicas=(1, 2, 3),
                isr=(2, 3),
                leader=2,
                leader_epoch=1,
                partition_epoch=2,
                elr=(),
                last_known_elr=(1,),
                leader_recovery_state=LeaderRecoveryState.RECOVERED,
            ),
        ),
        BrokerRegistered(
            time=2.0,
            metadata_version=12,
            broker_id=1,
            incarnation_id="1-again",
            broker_epoch=12,
            unclean_restart=True,
        ),
        BrokerUnfenced(time=3.0, metadata_version=13, broker_id=1, broker_epoch=12),
        LeaderElected(
            time=12.5,
            metadata_version=14,
            topic_partition=TP,
            leader=3,
            previous_leader=2,
            leader_epoch=2,
            partition_epoch=3,
            kind="clean",
            cause="broker_fenced",
            partition=PartitionMetadata(
                topic_partition=TP,
                replicas=(1, 2, 3),
                isr=(3,),
                leader=3,
                leader_epoch=2,
                partition_epoch=3,
                elr=(2,),
                last_known_elr=(1,),
                leader_recovery_state=LeaderRecoveryState.RECOVERED,
            ),
        ),
        IsrChanged(
            time=12.5,
            metadata_version=14,
            topic_partition=TP,
            isr=(3,),
            elr=(2,),
            last_known_elr=(1,),
            leader_recovery_state=LeaderRecoveryState.RECOVERED,
            leader_epoch=2,
            partition_epoch=3,
            cause="broker_fenced",
            partition=PartitionMetadata(
                topic_partition=TP,
                replicas=(1, 2, 3),
                isr=(3,),
                leader=3,
                leader_epoch=2,
                partition_epoch=3,
                elr=(2,),
                last_known_elr=(1,),
                leader_recovery_state=LeaderRecoveryState.RECOVERED,
            ),
        ),
        BrokerFenced(time=12.5, metadata_version=15, broker_id=2, broker_epoch=3, reason="session_expired"),
    )
    assert c.metadata_version == 15


@pytest.mark.req("CTL-20")
def test_cluster_metadata_carries_the_version_brokers_and_partitions() -> None:
    c = cluster(2, rf=2)
    metadata = c.metadata()
    assert metadata.metadata_version == c.metadata_version
    assert metadata.brokers == c.brokers() and metadata.partitions == c.partitions()


@pytest.mark.req("CTL-4")
def test_a_fenced_broker_not_shutting_down_is_not_told_to_shut_down() -> None:
    c = Controller()
    registration = c.register_broker(1, "one", clean_shutdown=True, now=0)
    reply = c.heartbeat(1, registration.broker_epoch, 0, current_metadata_version=0)  # not caught up
    assert reply.is_fenced and not reply.is_caught_up and not reply.should_shut_down


@pytest.mark.req("CTL-17")
def test_a_controlled_shutdown_reply_is_caught_up_fenced_and_says_shut_down() -> None:
    c = cluster(3)
    reply = c.controlled_shutdown(1, epoch(c, 1), 1.0)
    assert reply.error is Errors.NONE and reply.is_caught_up and reply.is_fenced
    assert reply.in_controlled_shutdown and reply.should_shut_down


@pytest.mark.req("CTL-18")
def test_a_topic_min_insync_replicas_of_one_is_valid_and_zero_is_not() -> None:
    c = cluster(1, topic=False)
    c.create_topic("one", 1, 1, min_insync_replicas=1)
    assert c.topic_config("one").min_insync_replicas == 1
    with pytest.raises(ReflogUsageError):
        c.create_topic("zero", 1, 1, min_insync_replicas=0)


@pytest.mark.req("CTL-13", "CTL-14")
def test_alter_partition_answers_name_the_partition() -> None:
    c = cluster(3)
    accepted = propose(c, (1, 2))
    assert accepted.topic_partition == TP and accepted.error is Errors.NONE
    refused = propose(c, (1, 2, 3), partition_epoch=0)  # the partition epoch moved on
    assert refused.topic_partition == TP and refused.error is Errors.INVALID_UPDATE_VERSION


@pytest.mark.req("CTL-13")
def test_a_recovering_leader_may_report_an_isr_of_itself_alone() -> None:
    c = cluster(topic=False, eligible_leader_replicas_enable=False)
    c.create_topic("t", 1, 3, unclean_leader_election_enable=True)
    propose(c, (1,))
    expire(c, 1, at=10.0)  # unclean election of 2: RECOVERING
    assert state(c).leader_recovery_state is RECOVERING
    assert propose(c, (2,), recovery=RECOVERING, now=10.0).error is Errors.NONE


@pytest.mark.req("CTL-19")
def test_an_election_over_several_partitions_reports_each_and_goes_on_after_one_not_needed() -> None:
    c = cluster(topic=False)
    c.create_topic("t", 2, 3)  # t-0 led by 1, t-1 led by 2
    p1 = TopicPartition("t", 1)
    expire(c, 2, at=10.0)
    c.heartbeat(2, epoch(c, 2), 11.0)
    propose(c, (1, 2, 3), tp=p1, now=11.0)  # 2 back in t-1's ISR, not leading it
    before = state(c)
    outcomes = c.elect_leaders("preferred", [TP, p1], now=11.0)
    assert [(o.topic_partition, o.outcome) for o in outcomes] == [(TP, "not_needed"), (p1, "elected")]
    assert outcomes[0].partition == before and outcomes[1].partition == state(c, p1)
    assert state(c, p1).leader == 2


@pytest.mark.req("CTL-19")
def test_an_election_goes_on_after_a_partition_with_no_candidate() -> None:
    c = cluster(topic=False, eligible_leader_replicas_enable=False)
    c.create_topic("t", 2, 3)
    p1 = TopicPartition("t", 1)
    expire(c, 1, at=10.0)  # 1 fenced: out of both ISRs, t-0 moves to 2
    c.heartbeat(1, epoch(c, 1), 11.0)
    propose(c, (2, 3, 1), tp=p1, now=11.0)  # 1 back in t-1's ISR only
    outcomes = c.elect_leaders("preferred", [TP, p1], now=11.0)
    assert [(o.topic_partition, o.outcome) for o in outcomes] == [(TP, "not_available"), (p1, "not_needed")]
    assert outcomes[0].partition == state(c)


# ---- the preferred election's candidate order (build_partition_change) ---------------------------


def preferred(leader: int, isr: tuple[int, ...], acceptable: set[int]) -> tuple[int, str | None]:
    partition = PartitionMetadata(TP, (1, 2, 3), isr, leader, 4, 7)
    change = build_partition_change(
        partition,
        target_isr=isr,
        is_acceptable_leader=lambda b: b in acceptable,
        min_isr=1,
        elr_enabled=False,
        election="preferred",
    )
    return (leader, None) if change is None else (change.after.leader, change.election)


@pytest.mark.req("CTL-19")
def test_a_preferred_election_takes_the_preferred_replica_when_valid() -> None:
    assert preferred(3, (1, 2, 3), {1, 2, 3}) == (1, "clean")


@pytest.mark.req("CTL-19")
def test_a_preferred_election_keeps_a_valid_leader_when_the_preferred_is_not_valid() -> None:
    assert preferred(3, (2, 3), {2, 3}) == (3, None)  # 2 comes first in order, yet 3 stays


@pytest.mark.req("CTL-19")
def test_a_preferred_election_replaces_an_invalid_leader_by_the_next_valid_replica() -> None:
    assert preferred(3, (2, 3), {2}) == (2, "clean")  # 3 is not acceptable, 1 not in the ISR
    assert preferred(2, (3,), {3}) == (3, "clean")  # the last replica, after the preferred and 2
    assert preferred(NO_LEADER, (2,), {2}) == (2, "clean")


@pytest.mark.req("CTL-19")
def test_a_preferred_election_without_any_valid_replica_elects_nobody_and_is_never_unclean() -> None:
    assert preferred(2, (2,), set()) == (NO_LEADER, "none")
