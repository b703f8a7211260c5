"""Unit tests of the sans-IO replication core: one rule per test, error paths included (REP-*)."""

from __future__ import annotations

import pytest

from reflog.errors import Errors
from reflog.records import Record, build_batch, parse_header
from reflog.replication.messages import (
    AlterPartitionResponse,
    FetchRequest,
    LeaderRecoveryState,
)
from reflog.replication.partition import PartitionConfig, Role
from reflog.replication.replica_log import MemoryLog
from tests.replication.cluster_model import (
    EPOCHS,
    TP,
    apply,
    fetch,
    log_bytes,
    make_replicas,
    metadata,
    records,
)

MIN2 = PartitionConfig(min_insync_replicas=2)


def leader_and_followers(config: PartitionConfig = MIN2, isr: tuple[int, ...] = (1, 2, 3)):  # type: ignore[no-untyped-def]
    replicas = make_replicas(config)
    apply(replicas, metadata(leader=1, epoch=0, isr=isr))
    return replicas, replicas[1], replicas[2], replicas[3]


@pytest.mark.req("REP-1")
def test_acks_all_completes_only_when_the_high_watermark_passes_the_record() -> None:
    _, leader, f2, f3 = leader_and_followers()
    result = leader.append_records(records(b"a", b"b"), acks=-1, now=0)
    assert result.error is None and (result.base_offset, result.last_offset) == (0, 1)
    assert leader.produce_status(result.required_offset) is None
    fetch(leader, f2)
    fetch(leader, f3)  # both fetched the data: their next fetch offsets tell the leader
    assert leader.produce_status(result.required_offset) is None
    fetch(leader, f2)
    assert leader.produce_status(result.required_offset) is None  # f3 is in the ISR and has not confirmed
    fetch(leader, f3)
    assert leader.high_watermark == 2
    assert leader.produce_status(result.required_offset) is Errors.NONE


@pytest.mark.req("REP-1")
def test_acks_0_and_1_succeed_after_the_local_append() -> None:
    _, leader, _, _ = leader_and_followers()
    assert leader.append_records(records(b"x"), acks=1, now=0).error is Errors.NONE
    assert leader.append_records(records(b"y"), acks=0, now=0).error is Errors.NONE
    assert leader.log_end_offset == 2 and leader.high_watermark == 0


@pytest.mark.req("REP-2")
def test_not_enough_replicas_is_refused_before_the_append() -> None:
    _, leader, _, _ = leader_and_followers(isr=(1,))
    result = leader.append_records(records(b"x"), acks=-1, now=0)
    assert result.error is Errors.NOT_ENOUGH_REPLICAS and leader.log_end_offset == 0
    assert leader.append_records(records(b"x"), acks=1, now=0).error is Errors.NONE  # acks=1 is not checked


@pytest.mark.req("REP-2")
def test_not_enough_replicas_after_append_when_the_isr_shrank_meanwhile() -> None:
    _replicas, leader, f2, _ = leader_and_followers(isr=(1, 2))
    result = leader.append_records(records(b"x"), acks=-1, now=0)
    fetch(leader, f2)
    fetch(leader, f2)
    assert leader.high_watermark == 1
    # The controller confirms a shrink to {1} before the delayed produce is checked.
    leader.apply_metadata(metadata(leader=1, epoch=0, isr=(1,), partition_epoch=1), 0, EPOCHS)
    assert leader.produce_status(result.required_offset) is Errors.NOT_ENOUGH_REPLICAS_AFTER_APPEND


@pytest.mark.req("REP-2")
def test_pending_acks_all_fails_with_not_leader_after_losing_leadership() -> None:
    replicas, leader, _, _ = leader_and_followers()
    result = leader.append_records(records(b"x"), acks=-1, now=0)
    apply(replicas, metadata(leader=2, epoch=1))
    assert leader.produce_status(result.required_offset) is Errors.NOT_LEADER_OR_FOLLOWER
    assert leader.append_records(records(b"y"), acks=1, now=0).error is Errors.NOT_LEADER_OR_FOLLOWER


@pytest.mark.req("REP-3")
def test_every_batch_is_stamped_with_the_leader_epoch_and_the_epoch_start_is_recorded() -> None:
    replicas, leader, _f2, _f3 = leader_and_followers()
    leader.append_records(records(b"a"), acks=1, now=0)
    apply(replicas, metadata(leader=1, epoch=4))
    leader.append_records(records(b"b"), acks=1, now=0)
    leader.append_records(records(b"c"), acks=1, now=0)  # one batch per produce request, as Kafka
    epochs = [parse_header(raw).partition_leader_epoch for raw in log_bytes(leader)]
    assert epochs == [0, 4, 4]
    assert leader.log.epoch_cache.entries == ((0, 0), (4, 1))
    assert leader.leader_epoch_start_offset == 1


@pytest.mark.req("REP-4")
def test_fetch_is_fenced_by_leader_epoch() -> None:
    _replicas, leader, f2, _ = leader_and_followers()
    request = f2.fetch_request(EPOCHS[2])
    assert request is not None
    apply({1: leader}, metadata(leader=1, epoch=1))
    assert leader.handle_fetch(request, 0).error is Errors.FENCED_LEADER_EPOCH
    newer = FetchRequest(TP, 2, EPOCHS[2], 0, -1, current_leader_epoch=5, log_start_offset=0, max_bytes=100)
    assert leader.handle_fetch(newer, 0).error is Errors.UNKNOWN_LEADER_EPOCH
    stale_broker = FetchRequest(
        TP, 2, EPOCHS[2] - 1, 0, -1, current_leader_epoch=1, log_start_offset=0, max_bytes=100
    )
    assert leader.handle_fetch(stale_broker, 0).error is Errors.NOT_LEADER_OR_FOLLOWER
    from_follower = FetchRequest(
        TP, 3, EPOCHS[3], 0, -1, current_leader_epoch=0, log_start_offset=0, max_bytes=100
    )
    assert f2.handle_fetch(from_follower, 0).error is Errors.NOT_LEADER_OR_FOLLOWER
    assert leader.followers[2].log_end_offset == -1  # nothing moved


@pytest.mark.req("REP-5")
def test_divergent_follower_gets_diverging_epoch_and_truncates_to_the_leaders_end() -> None:
    replicas, r1, r2, r3 = leader_and_followers(PartitionConfig(min_insync_replicas=1))
    r1.append_records(records(b"m0"), acks=1, now=0)
    fetch(r1, r2)
    fetch(r1, r3)
    r1.append_records(records(b"only-on-r1"), acks=1, now=0)  # never replicated
    apply(replicas, metadata(leader=2, epoch=1, isr=(2, 3)))
    r2.append_records(records(b"n1"), acks=1, now=0)
    r2.append_records(records(b"n2"), acks=1, now=0)
    response, outcome = fetch(r2, r1)
    assert response.diverging_epoch is not None
    assert (response.diverging_epoch.epoch, response.diverging_epoch.end_offset) == (0, 1)
    assert outcome.truncated_to == 1 and r1.log_end_offset == 1
    assert r2.followers[1].log_end_offset == -1  # a diverging fetch does not move the follower's state
    fetch(r2, r1)
    assert log_bytes(r1) == log_bytes(r2)


@pytest.mark.req("REP-5")
def test_truncation_iterates_when_the_follower_does_not_know_the_leaders_epoch() -> None:
    replicas, r1, r2, r3 = leader_and_followers(PartitionConfig(min_insync_replicas=1))
    r1.append_records(records(b"a"), acks=1, now=0)  # a@0/epoch 0, everywhere
    fetch(r1, r2)
    fetch(r1, r3)
    apply(replicas, metadata(leader=2, epoch=1, isr=(2, 3)))
    r2.append_records(records(b"c"), acks=1, now=0)  # c@1/epoch 1 on r2 only (r1 is cut off)
    apply({1: r1}, metadata(leader=1, epoch=2, isr=(1,)))
    r1.append_records(records(b"b"), acks=1, now=0)  # b@1/epoch 2 on r1 only
    apply(replicas, metadata(leader=2, epoch=3, isr=(1, 2, 3)))
    r2.append_records(records(b"d"), acks=1, now=0)  # d@2/epoch 3
    assert r1.log.epoch_cache.entries == ((0, 0), (2, 1))
    assert r2.log.epoch_cache.entries == ((0, 0), (1, 1), (3, 2))
    response, outcome = fetch(r2, r1)  # r1 asks with lastFetchedEpoch 2, which r2 never had
    assert response.diverging_epoch is not None
    assert (response.diverging_epoch.epoch, response.diverging_epoch.end_offset) == (1, 2)
    assert outcome.truncated_to == 1  # r1 does not know epoch 1: cut to the end of its epoch 0, ask again
    response, outcome = fetch(r2, r1)
    assert response.diverging_epoch is None and outcome.appended_records == 2
    assert log_bytes(r1) == log_bytes(r2)


@pytest.mark.req("REP-6")
def test_follower_state_tracks_leo_and_last_caught_up_time() -> None:
    _, leader, f2, _ = leader_and_followers()
    leader.append_records(records(b"a"), acks=1, now=0)
    fetch(leader, f2, now=1.0)  # fetch offset 0 < leader LEO 1: not caught up at this fetch
    state = leader.followers[2]
    assert state.log_end_offset == 0 and state.last_caught_up_time == 0.0
    fetch(leader, f2, now=2.0)  # fetch offset 1 == leader LEO
    assert state.log_end_offset == 1 and state.last_caught_up_time == 2.0
    leader.append_records(records(b"b"), acks=1, now=2.5)
    fetch(leader, f2, now=3.0)  # offset 1 >= leader LEO at the previous fetch: caught up as of then
    assert state.last_caught_up_time == 2.0


@pytest.mark.req("REP-7")
def test_high_watermark_is_the_minimum_leo_of_the_maximal_isr_and_only_grows() -> None:
    _replicas, leader, f2, f3 = leader_and_followers(PartitionConfig(min_insync_replicas=1))
    leader.append_records(records(b"a", b"b", b"c"), acks=1, now=0)
    fetch(leader, f2)
    fetch(leader, f2)
    assert leader.high_watermark == 0  # f3 (in the ISR) has not fetched in this epoch
    fetch(leader, f3)
    fetch(leader, f3)
    assert leader.high_watermark == 3
    # The follower learns min(leader HW, own LEO), one round trip late.
    assert f2.high_watermark == 0
    fetch(leader, f2)
    assert f2.high_watermark == 3


@pytest.mark.req("REP-7")
def test_high_watermark_is_frozen_while_the_isr_is_below_min_isr() -> None:
    _replicas, leader, f2, _ = leader_and_followers(MIN2, isr=(1,))
    leader.append_records(records(b"a"), acks=1, now=0)
    fetch(leader, f2)
    fetch(leader, f2)
    assert leader.high_watermark == 0  # 3.7+: nothing becomes visible on an under-min-ISR leader
    leader.apply_metadata(metadata(leader=1, epoch=0, isr=(1, 2), partition_epoch=1), 0, EPOCHS)
    assert leader.high_watermark == 1


@pytest.mark.req("REP-7")
def test_new_leader_keeps_its_local_high_watermark_and_waits_for_followers() -> None:
    replicas, r1, r2, r3 = leader_and_followers(PartitionConfig(min_insync_replicas=1))
    r1.append_records(records(b"a"), acks=1, now=0)
    for _ in range(2):
        fetch(r1, r2)
        fetch(r1, r3)
    assert r2.high_watermark == 0 or r2.high_watermark == 1
    apply(replicas, metadata(leader=2, epoch=1, isr=(2, 3)))
    hw_before = r2.high_watermark
    assert r2.high_watermark == hw_before  # never reset, never recomputed downwards
    r2.append_records(records(b"b"), acks=1, now=0)
    assert r2.high_watermark == hw_before  # r3 has not fetched in epoch 1
    fetch(r2, r3)
    fetch(r2, r3)
    assert r2.high_watermark == 2


@pytest.mark.req("REP-8")
def test_isr_shrinks_after_replica_lag_time_max_ms() -> None:
    _, leader, f2, _ = leader_and_followers(
        PartitionConfig(min_insync_replicas=1, replica_lag_time_max_ms=30_000)
    )
    leader.append_records(records(b"a"), acks=1, now=0)
    fetch(leader, f2, now=1)
    fetch(leader, f2, now=2)  # f2 caught up at t=2; f3 never fetched (caught-up time 0 at leadership start)
    assert leader.isr_shrink(now=29.0) is None
    proposal = leader.isr_shrink(now=31.0)
    assert proposal is not None and proposal.isr_ids == (1, 2)
    assert leader.isr_shrink(now=40.0) is None  # one change in flight
    assert leader.maximal_isr == (1, 2, 3)  # a pending shrink is not applied before it is confirmed


@pytest.mark.req("REP-9")
def test_isr_expands_only_when_caught_up_to_hw_and_epoch_start() -> None:
    replicas, leader, _f2, f3 = leader_and_followers(PartitionConfig(min_insync_replicas=1), isr=(1, 2))
    leader.append_records(records(b"a"), acks=1, now=0)
    apply(replicas, metadata(leader=1, epoch=1, isr=(1, 2)))
    assert leader.leader_epoch_start_offset == 1
    leader.append_records(records(b"b"), acks=1, now=0)
    assert leader.isr_expansion(now=0) is None  # f3 has not fetched in this epoch
    fetch(leader, f3)  # fetch offset 0: below the HW and the epoch start
    assert leader.isr_expansion(now=0) is None
    fetch(leader, f3)
    fetch(leader, f3)
    proposal = leader.isr_expansion(now=0)
    assert proposal is not None and proposal.isr_ids == (1, 2, 3)
    assert proposal.new_isr == ((1, EPOCHS[1]), (2, EPOCHS[2]), (3, EPOCHS[3]))
    assert leader.maximal_isr == (1, 2, 3)  # a pending expansion counts at once
    leader.on_alter_partition_response(
        AlterPartitionResponse(
            TP, Errors.NONE, metadata(leader=1, epoch=1, isr=(1, 2, 3), partition_epoch=2)
        ),
        0,
    )
    assert leader.isr == (1, 2, 3) and leader.pending_isr is None


@pytest.mark.req("REP-9")
def test_a_rejected_isr_change_is_dropped() -> None:
    _, leader, _, _ = leader_and_followers(PartitionConfig(min_insync_replicas=1))
    leader.append_records(records(b"a"), acks=1, now=0)
    proposal = leader.isr_shrink(now=100)
    assert proposal is not None
    leader.on_alter_partition_response(AlterPartitionResponse(TP, Errors.INVALID_UPDATE_VERSION), 100)
    assert leader.pending_isr is None and leader.isr == (1, 2, 3)


@pytest.mark.req("REP-10")
def test_a_follower_never_truncates_to_its_high_watermark() -> None:
    replicas, r1, r2, _r3 = leader_and_followers(PartitionConfig(min_insync_replicas=1))
    r1.append_records(records(b"a", b"b"), acks=1, now=0)
    fetch(r1, r2)
    assert r2.log_end_offset == 2 and r2.high_watermark == 0
    apply(replicas, metadata(leader=3, epoch=1))  # a leadership change: r2 keeps its whole log
    assert r2.log_end_offset == 2


@pytest.mark.req("REP-10")
def test_legacy_rule_truncates_to_the_high_watermark() -> None:
    replicas, r1, r2, _ = leader_and_followers(
        PartitionConfig(min_insync_replicas=1, legacy_truncate_to_high_watermark=True)
    )
    r1.append_records(records(b"a"), acks=1, now=0)
    fetch(r1, r2)
    apply(replicas, metadata(leader=3, epoch=1))
    assert r2.log_end_offset == 0


@pytest.mark.req("REP-5")
def test_out_of_range_follower_truncates_to_a_shorter_leader_log() -> None:
    replicas, r1, r2, r3 = leader_and_followers(PartitionConfig(min_insync_replicas=1))
    r1.append_records(records(b"a"), acks=1, now=0)
    fetch(r1, r2)
    r3.log.truncate_to(0)
    apply(replicas, metadata(leader=3, epoch=1, isr=(3,)))  # an unclean leader with an empty log
    # r2's lastFetchedEpoch 0 is unknown to r3 beyond its start: DivergingEpoch(0, 0) or out of range.
    _response, outcome = fetch(r3, r2)
    assert r2.log_end_offset == 0
    assert outcome.truncated_to == 0


@pytest.mark.req("REP-11")
def test_unclean_leader_reports_recovered() -> None:
    replicas = make_replicas(PartitionConfig(min_insync_replicas=1))
    md = metadata(leader=2, epoch=3, isr=(2,))
    md = type(md)(
        md.topic_partition,
        md.replicas,
        md.isr,
        md.leader,
        md.leader_epoch,
        md.partition_epoch,
        leader_recovery_state=LeaderRecoveryState.RECOVERING,
    )
    apply(replicas, md)
    leader = replicas[2]
    assert leader.role is Role.LEADER and leader.isr_expansion(0) is None
    request = leader.recovered_request()
    assert request is not None and request.leader_recovery_state is LeaderRecoveryState.RECOVERED


@pytest.mark.req("REP-6")
def test_memory_log_models_power_loss_as_losing_the_unflushed_suffix() -> None:
    log = MemoryLog()
    log.append_as_leader(records(b"a"), 0)
    log.flush()
    log.append_as_leader(records(b"b"), 1)
    log.lose_power()
    assert log.log_end_offset == 1 and log.epoch_cache.entries == ((0, 0),)


def idempotent(value: bytes, sequence: int, *, producer_id: int = 7, epoch: int = 0) -> bytes:
    return build_batch(
        [Record(key=None, value=value)], producer_id=producer_id, producer_epoch=epoch, base_sequence=sequence
    )


@pytest.mark.req("REP-12")
def test_a_retried_idempotent_batch_is_not_written_twice() -> None:
    _, leader, _f2, _ = leader_and_followers(PartitionConfig(min_insync_replicas=1))
    first = leader.append_records(idempotent(b"a", 0), acks=1, now=0)
    leader.append_records(idempotent(b"b", 1), acks=1, now=0)
    retry = leader.append_records(idempotent(b"a", 0), acks=1, now=0)
    assert retry.error is Errors.NONE and (retry.base_offset, retry.last_offset) == (
        first.base_offset,
        first.last_offset,
    )
    assert leader.log_end_offset == 2
    gap = leader.append_records(idempotent(b"c", 5), acks=1, now=0)
    assert gap.error is Errors.OUT_OF_ORDER_SEQUENCE_NUMBER and leader.log_end_offset == 2
    following = leader.append_records(idempotent(b"d", 2), acks=1, now=0)
    assert following.error is Errors.NONE  # same epoch, next sequence
    bumped = leader.append_records(idempotent(b"e", 0, epoch=1), acks=1, now=0)
    assert bumped.error is Errors.NONE
    stale = leader.append_records(idempotent(b"f", 3, epoch=0), acks=1, now=0)
    assert stale.error is Errors.INVALID_PRODUCER_EPOCH


@pytest.mark.req("REP-12")
def test_a_new_leader_recognises_retries_of_batches_it_replicated() -> None:
    replicas, r1, r2, _r3 = leader_and_followers(PartitionConfig(min_insync_replicas=1))
    r1.append_records(idempotent(b"a", 0), acks=1, now=0)
    fetch(r1, r2)
    apply(replicas, metadata(leader=2, epoch=1, isr=(2, 3)))
    retry = r2.append_records(idempotent(b"a", 0), acks=1, now=0)
    assert retry.error is Errors.NONE and retry.base_offset == 0 and r2.log_end_offset == 1


@pytest.mark.req("REP-9")
def test_a_pending_isr_change_survives_the_same_metadata_again() -> None:
    """Every heartbeat repeats the metadata: that is no answer to an AlterPartition in flight."""
    replicas, leader, _f2, f3 = leader_and_followers(PartitionConfig(min_insync_replicas=1), isr=(1, 2))
    leader.append_records(records(b"a"), acks=1, now=0)
    fetch(leader, f3)
    fetch(leader, f3)
    proposal = leader.isr_expansion(now=0)
    assert proposal is not None and leader.maximal_isr == (1, 2, 3)
    apply(replicas, metadata(leader=1, epoch=0, isr=(1, 2)))  # the same epochs, from a heartbeat
    assert leader.pending_isr == (1, 2, 3) and leader.maximal_isr == (1, 2, 3)
    assert leader.isr_expansion(now=0) is None  # no second proposal while the first is in flight
    apply(replicas, metadata(leader=1, epoch=0, isr=(1, 2, 3), partition_epoch=1))
    assert leader.pending_isr is None and leader.isr == (1, 2, 3)
