"""Direct tests of single replication rules of :class:`Partition`, one rule per test, written for the
survivors of mutation testing (tests/MUTATION.md): each fails when its rule alone is broken.

test_partition.py tells the replication story; these pin down the exact values a rule produces
(every field of a response, the boundaries of the lag and offset comparisons)."""

from __future__ import annotations

import pytest

from reflog.errors import CorruptRecordError, Errors, ReflogError, StorageError
from reflog.records import Record, build_batch
from reflog.replication.messages import (
    AlterPartitionRequest,
    AlterPartitionResponse,
    DivergingEpoch,
    FetchRequest,
    FetchResponse,
    LeaderRecoveryState,
)
from reflog.replication.partition import FollowerFetchOutcome, FollowerState, Partition, PartitionConfig, Role
from reflog.replication.replica_log import MemoryLog
from reflog.vocabulary import NO_LEADER, UNDEFINED_EPOCH, UNDEFINED_OFFSET
from tests.replication.cluster_model import EPOCHS, TP, apply, fetch, make_replicas, metadata, records

MIN1 = PartitionConfig(min_insync_replicas=1)
LAG_S = PartitionConfig().replica_lag_time_max_ms / 1000


def trio_of(config: PartitionConfig = MIN1, isr: tuple[int, ...] = (1, 2, 3), now: float = 0.0):  # type: ignore[no-untyped-def]
    replicas = make_replicas(config)
    apply(replicas, metadata(leader=1, epoch=0, isr=isr), now)
    return replicas, replicas[1], replicas[2], replicas[3]


def request_from(
    replica: int, fetch_offset: int, *, epoch: int = 0, last_fetched_epoch: int = -1
) -> FetchRequest:
    return FetchRequest(
        TP,
        replica,
        EPOCHS[replica],
        fetch_offset,
        last_fetched_epoch,
        current_leader_epoch=epoch,
        log_start_offset=0,
        max_bytes=1 << 20,
    )


# ---- a new replica ----------------------------------------------------------------------------------


@pytest.mark.req("REP-1")
def test_a_new_replica_has_no_role_leader_or_epochs_and_its_hw_defaults_to_zero() -> None:
    log = MemoryLog()
    log.append_as_leader(records(b"a", b"b"), 0)
    partition = Partition(TP, 4, log)
    assert partition.topic_partition == TP and partition.broker_id == 4
    assert (partition.role, partition.leader_id, partition.partition_epoch) == (Role.NONE, NO_LEADER, -1)
    assert partition.leader_epoch == UNDEFINED_EPOCH and partition.high_watermark == 0
    assert (partition.replicas, partition.isr, partition.pending_isr) == ((), (), None)
    assert partition.leader_recovery_state is LeaderRecoveryState.RECOVERED
    assert partition.leader_epoch_start_offset == UNDEFINED_OFFSET
    assert partition.followers == {} and partition.broker_epochs == {}
    assert partition.fetch_request(EPOCHS[1]) is None and partition.isr_expansion(0) is None


# ---- metadata ---------------------------------------------------------------------------------------


@pytest.mark.req("REP-2")
def test_stale_metadata_is_ignored_by_leader_epoch_then_partition_epoch() -> None:
    replicas, leader, f2, _ = trio_of()
    apply(replicas, metadata(leader=1, epoch=2, isr=(1, 2, 3), partition_epoch=5))
    apply(replicas, metadata(leader=1, epoch=1, isr=(1,), partition_epoch=9))  # older leader epoch
    apply(replicas, metadata(leader=1, epoch=2, isr=(1, 2), partition_epoch=4))  # same epoch, older
    assert leader.isr == f2.isr == (1, 2, 3) and leader.partition_epoch == 5


@pytest.mark.req("REP-2")
def test_a_follower_learns_the_isr_and_its_leader_from_metadata() -> None:
    replicas, _, f2, _ = trio_of()
    apply(replicas, metadata(leader=1, epoch=0, isr=(1, 2), partition_epoch=1))
    assert f2.isr == (1, 2) and f2.leader_id == 1 and f2.role is Role.FOLLOWER
    assert replicas[1].leader_id == 1


@pytest.mark.req("REP-2")
def test_no_leader_in_the_metadata_makes_a_replica_neither_leader_nor_follower() -> None:
    replicas, _, f2, _ = trio_of()
    apply(replicas, metadata(leader=NO_LEADER, epoch=1, isr=(2, 3)))
    assert f2.role is Role.NONE and f2.fetch_request(EPOCHS[2]) is None


@pytest.mark.req("REP-2")
def test_a_demoted_leader_forgets_its_leader_state() -> None:
    replicas, leader, f2, _ = trio_of()
    fetch(leader, f2)
    assert leader.isr_shrink(0) is None and leader.followers
    leader.pending_isr = (1, 2)  # an AlterPartition in flight
    apply(replicas, metadata(leader=2, epoch=1, isr=(1, 2, 3)))
    assert leader.role is Role.FOLLOWER and leader.leader_id == 2 and f2.leader_id == 2
    assert leader.pending_isr is None and leader.followers == {}
    assert leader.leader_epoch_start_offset == UNDEFINED_OFFSET


@pytest.mark.req("REP-9")
def test_legacy_followers_truncate_on_a_leadership_change_not_on_an_isr_update() -> None:
    legacy = PartitionConfig(min_insync_replicas=1, legacy_truncate_to_high_watermark=True)
    replicas, leader, f2, _ = trio_of(legacy)
    leader.append_records(records(b"a"), acks=1, now=0)
    fetch(leader, f2)  # f2 holds offset 0 above its HW 0
    apply(replicas, metadata(leader=1, epoch=0, isr=(1, 2), partition_epoch=1))  # ISR-only update
    assert f2.log_end_offset == 1


@pytest.mark.req("REP-7")
def test_an_isr_shrink_from_the_controller_moves_the_high_watermark_at_once() -> None:
    _, leader, f2, f3 = trio_of()
    leader.append_records(records(b"a"), acks=1, now=0)
    fetch(leader, f3, now=0)  # f3 at 0: holds the HW back
    fetch(leader, f2, now=0)
    fetch(leader, f2, now=0)  # f2 at 1
    assert leader.high_watermark == 0
    apply({1: leader}, metadata(leader=1, epoch=0, isr=(1, 2), partition_epoch=1), now=40.0)
    assert leader.high_watermark == 1  # f3 is out of the ISR and not caught up for 40 s


# ---- produce --------------------------------------------------------------------------------------


@pytest.mark.req("REP-3")
def test_an_undecodable_produce_is_corrupt_message() -> None:
    _, leader, _, _ = trio_of()
    assert leader.append_records(b"\x00" * 70, acks=1, now=0).error is Errors.CORRUPT_MESSAGE


class _FailingLog(MemoryLog):
    def __init__(self, error: ReflogError) -> None:
        super().__init__()
        self.error = error

    def append_as_leader(self, records: bytes, leader_epoch: int, *, validated: bool = False):  # type: ignore[no-untyped-def]
        raise self.error

    def read_records(self, fetch_offset: int, max_bytes: int, max_offset: int | None = None) -> bytes:
        raise self.error


@pytest.mark.req("REP-26")
def test_an_append_the_log_refuses_answers_the_logs_error_code() -> None:
    for error, expected in (
        (CorruptRecordError("bad"), Errors.CORRUPT_MESSAGE),
        (StorageError("EIO"), Errors.KAFKA_STORAGE_ERROR),
    ):
        partition = Partition(TP, 1, _FailingLog(error), MIN1)
        apply({1: partition}, metadata(leader=1, epoch=0, isr=(1,)))
        assert partition.append_records(records(b"x"), acks=1, now=0).error is expected


@pytest.mark.req("REP-1")
def test_acks_all_with_exactly_min_isr_members_succeeds() -> None:
    _, leader, f2, _ = trio_of(PartitionConfig(min_insync_replicas=2), isr=(1, 2))
    result = leader.append_records(records(b"a"), acks=-1, now=0)
    fetch(leader, f2)
    fetch(leader, f2)
    assert leader.produce_status(result.required_offset) is Errors.NONE


# ---- leader: fetch responses ----------------------------------------------------------------------


@pytest.mark.req("REP-4")
def test_every_refused_fetch_names_the_partition() -> None:
    _, leader, f2, _ = trio_of()
    apply({1: leader}, metadata(leader=1, epoch=1))
    assert leader.handle_fetch(request_from(2, 0, epoch=0), 0) == FetchResponse(
        TP, Errors.FENCED_LEADER_EPOCH
    )
    assert leader.handle_fetch(request_from(2, 0, epoch=2), 0) == FetchResponse(
        TP, Errors.UNKNOWN_LEADER_EPOCH
    )
    assert f2.handle_fetch(request_from(3, 0, epoch=0), 0) == FetchResponse(TP, Errors.NOT_LEADER_OR_FOLLOWER)
    stranger = FetchRequest(TP, 9, 1, 0, -1, current_leader_epoch=1, log_start_offset=0, max_bytes=100)
    assert leader.handle_fetch(stranger, 0) == FetchResponse(TP, Errors.NOT_LEADER_OR_FOLLOWER)


@pytest.mark.req("REP-4")
def test_a_follower_whose_broker_epoch_the_leader_has_not_learned_is_served() -> None:
    _, leader, _, _ = trio_of()
    leader.broker_epochs = {1: EPOCHS[1]}  # 2's registration not seen yet
    request = FetchRequest(TP, 2, 0, 0, -1, current_leader_epoch=0, log_start_offset=0, max_bytes=100)
    assert leader.handle_fetch(request, 0).error is Errors.NONE


@pytest.mark.req("REP-4")
def test_a_served_fetch_carries_the_partition_and_the_leaders_offsets() -> None:
    _, leader, _, _ = trio_of()
    leader.append_records(records(b"a"), acks=1, now=0)
    response = leader.handle_fetch(request_from(2, 0), 0)
    assert (response.topic_partition, response.error) == (TP, Errors.NONE)
    assert (response.high_watermark, response.log_end_offset, response.log_start_offset) == (0, 1, 0)
    assert response.records


@pytest.mark.req("REP-4")
def test_a_fetch_beyond_the_leaders_log_end_is_out_of_range_with_the_leaders_offsets() -> None:
    _, leader, _, _ = trio_of()
    leader.append_records(records(b"a"), acks=1, now=0)
    response = leader.handle_fetch(request_from(2, 2), 0)
    assert response == FetchResponse(TP, Errors.OFFSET_OUT_OF_RANGE, 0, 1, 0)


@pytest.mark.req("REP-5")
def test_a_diverging_fetch_carries_the_leaders_offsets() -> None:
    replicas, r1, r2, _ = trio_of()
    r1.append_records(records(b"a"), acks=1, now=0)
    apply(replicas, metadata(leader=2, epoch=1, isr=(2, 3)))
    r2.append_records(records(b"b"), acks=1, now=0)
    response = r2.handle_fetch(request_from(1, 1, epoch=1, last_fetched_epoch=0), 0)
    assert response == FetchResponse(TP, Errors.NONE, 0, 1, 0, diverging_epoch=DivergingEpoch(0, 0))


@pytest.mark.req("REP-5")
def test_a_last_fetched_epoch_the_leaders_cache_cannot_place_is_out_of_range() -> None:
    _, leader, _, _ = trio_of()
    leader.log.truncate_fully_and_start_at(5)  # the leader's epoch cache is now empty
    response = leader.handle_fetch(request_from(2, 5, last_fetched_epoch=0), 0)
    assert response == FetchResponse(TP, Errors.OFFSET_OUT_OF_RANGE, 0, 5, 5)


@pytest.mark.req("REP-5")
def test_a_follower_at_the_leaders_log_start_in_a_known_epoch_is_served() -> None:
    _, leader, _, _ = trio_of()
    leader.log.truncate_fully_and_start_at(5)
    leader.append_records(records(b"a"), acks=1, now=0)  # epoch 0 starts at 5
    response = leader.handle_fetch(request_from(2, 5, last_fetched_epoch=0), 0)
    assert response.error is Errors.NONE and response.diverging_epoch is None and response.records


@pytest.mark.req("REP-26")
def test_a_read_error_is_corrupt_message_with_the_leaders_offsets() -> None:
    partition = Partition(TP, 1, _FailingLog(CorruptRecordError("bad crc")), MIN1)
    apply({1: partition}, metadata(leader=1, epoch=0))
    response = partition.handle_fetch(request_from(2, 0), 0)
    assert response == FetchResponse(TP, Errors.CORRUPT_MESSAGE, 0, 0, 0)


# ---- leader: follower state, HW, ISR --------------------------------------------------------------


@pytest.mark.req("REP-6")
def test_is_caught_up_at_the_leaders_end_or_within_the_lag_time_inclusive() -> None:
    state = FollowerState(2, log_end_offset=5, last_caught_up_time=10.0)
    assert state.is_caught_up(5, 1000.0, 30_000)  # at the leader's LEO: caught up whatever the time
    assert state.is_caught_up(6, 40.0, 30_000)  # exactly the lag time behind
    assert not state.is_caught_up(6, 40.001, 30_000)


@pytest.mark.req("REP-6")
def test_a_fetch_at_the_previous_leader_end_is_caught_up_as_of_the_previous_fetch() -> None:
    _, leader, f2, _ = trio_of()
    leader.append_records(records(b"a"), acks=1, now=0)
    fetch(leader, f2, now=1.0)  # at 0, leader LEO 1
    leader.append_records(records(b"b"), acks=1, now=1.5)
    fetch(leader, f2, now=2.0)  # at 1 == the leader's LEO at the previous fetch
    assert leader.followers[2].last_caught_up_time == 1.0


@pytest.mark.req("REP-8")
def test_a_new_leader_counts_isr_members_caught_up_as_of_its_election() -> None:
    _, leader, _, _ = trio_of(isr=(1, 2), now=20.0)
    leader.append_records(records(b"a"), acks=1, now=20.0)  # 2 never fetches
    assert leader.isr_shrink(20.0 + LAG_S) is None  # behind for exactly the lag time since the election
    request = leader.isr_shrink(20.0 + LAG_S + 0.01)
    assert request is not None and [b for b, _ in request.new_isr] == [1]


@pytest.mark.req("REP-7")
def test_a_replica_outside_the_isr_at_election_has_never_caught_up_and_does_not_hold_the_hw() -> None:
    _, leader, f2, f3 = trio_of(isr=(1, 2), now=20.0)
    leader.append_records(records(b"a"), acks=1, now=20.0)
    fetch(leader, f3, now=30.5)  # 3 at 0, more than the lag time after time 0
    fetch(leader, f2, now=30.5)
    fetch(leader, f2, now=30.5)  # 2 at 1
    assert leader.high_watermark == 1


@pytest.mark.req("REP-7")
def test_a_caught_up_replica_outside_the_isr_at_offset_0_holds_the_hw_back() -> None:
    _, leader, f2, f3 = trio_of(isr=(1, 2))
    fetch(leader, f3, now=0)  # 3 at 0 == the leader's LEO: caught up
    leader.append_records(records(b"a"), acks=1, now=1.0)
    fetch(leader, f2, now=1.0)
    fetch(leader, f2, now=1.0)  # 2 at 1
    assert leader.high_watermark == 0
    leader.append_records(records(b"b"), acks=1, now=2.0)  # the append recomputes the HW at its time
    assert leader.high_watermark == 0


@pytest.mark.req("REP-7")
def test_the_hw_update_reports_whether_the_hw_moved() -> None:
    _, leader, f2, _ = trio_of(isr=(1, 2))
    assert leader._maybe_increment_high_watermark(0) is False
    leader.append_records(records(b"a"), acks=1, now=0)
    fetch(leader, f2)
    leader.followers[2].log_end_offset = 1
    assert leader._maybe_increment_high_watermark(0) is True
    assert leader._maybe_increment_high_watermark(0) is False  # already there
    assert f2._maybe_increment_high_watermark(0) is False  # a follower never moves it


@pytest.mark.req("REP-8")
def test_an_isr_member_leaves_only_after_more_than_the_lag_time_behind() -> None:
    _, leader, f2, f3 = trio_of()
    fetch(leader, f2, now=10.0)  # at the leader's LEO 0: caught up at 10
    leader.append_records(records(b"a"), acks=1, now=10.0)
    fetch(leader, f3, now=10.0)
    fetch(leader, f3, now=10.0)  # 3 stays at the leader's LEO
    assert leader.isr_shrink(10.0 + LAG_S) is None  # exactly the lag time: still in
    assert leader.isr_shrink(10.0 + LAG_S - 0.01) is None
    request = leader.isr_shrink(10.0 + LAG_S + 0.01)
    assert request is not None and [b for b, _ in request.new_isr] == [1, 3]


@pytest.mark.req("REP-8")
def test_a_follower_at_the_leaders_end_never_leaves_the_isr_however_long_ago_it_fetched() -> None:
    _, leader, f2, f3 = trio_of()
    fetch(leader, f2, now=0)
    fetch(leader, f3, now=0)
    assert leader.isr_shrink(10 * LAG_S) is None


@pytest.mark.req("REP-8")
def test_isr_expansion_at_exactly_the_hw_and_epoch_start_and_one_change_at_a_time() -> None:
    _, leader, f2, f3 = trio_of(isr=(1,))
    fetch(leader, f2)  # at 0 == HW == epoch start
    request = leader.isr_expansion(0)
    assert request == AlterPartitionRequest(
        topic_partition=TP,
        broker_id=1,
        broker_epoch=EPOCHS[1],
        leader_epoch=0,
        partition_epoch=0,
        new_isr=((1, EPOCHS[1]), (2, EPOCHS[2])),
        leader_recovery_state=LeaderRecoveryState.RECOVERED,
    )
    fetch(leader, f3)
    assert leader.isr_expansion(0) is None  # one change in flight
    assert leader.isr_shrink(10 * LAG_S) is None and leader.recovered_request() is None


@pytest.mark.req("REP-8")
def test_a_follower_with_a_broker_epoch_the_leader_has_not_learned_does_not_join() -> None:
    _, leader, _, _ = trio_of(isr=(1,))
    leader.broker_epochs = {1: EPOCHS[1]}
    request = FetchRequest(TP, 2, 2, 0, -1, current_leader_epoch=0, log_start_offset=0, max_bytes=100)
    assert leader.handle_fetch(request, 0).error is Errors.NONE
    assert leader.isr_expansion(0) is None


@pytest.mark.req("REP-8")
def test_a_proposal_names_unknown_broker_epochs_as_minus_one() -> None:
    _, leader, f2, _ = trio_of(isr=(1,))
    fetch(leader, f2)
    leader.broker_epochs = {2: EPOCHS[2]}  # the leader's own epoch not (yet) known
    request = leader.isr_expansion(0)
    assert request is not None and request.broker_epoch == -1
    assert request.new_isr == ((1, -1), (2, EPOCHS[2]))
    leader.pending_isr = None
    leader.broker_epochs = {1: EPOCHS[1]}
    request = leader.isr_expansion(0)
    assert request is None  # 2's epoch is unknown: it cannot join


@pytest.mark.req("REP-11")
def test_an_alter_partition_error_drops_the_proposal_and_keeps_the_metadata() -> None:
    _, leader, f2, _ = trio_of(isr=(1,))
    fetch(leader, f2)
    assert leader.isr_expansion(0) is not None
    stale = metadata(leader=1, epoch=0, isr=(1, 2), partition_epoch=1)
    leader.on_alter_partition_response(AlterPartitionResponse(TP, Errors.INVALID_UPDATE_VERSION, stale), 0)
    assert leader.pending_isr is None and leader.isr == (1,)


# ---- follower: fetch responses ---------------------------------------------------------------------


def follower_at(values: int, *, hw: int = 0) -> tuple[Partition, FetchRequest]:
    """Replica 2 following 1 in epoch 0, holding ``values`` records; and its next fetch."""
    log = MemoryLog()
    for i in range(values):
        log.append_as_leader(build_batch([Record(key=None, value=b"%d" % i)]), 0)
    follower = Partition(TP, 2, log, MIN1, high_watermark=hw)
    follower.apply_metadata(metadata(leader=1, epoch=0), 0, EPOCHS)
    request = follower.fetch_request(EPOCHS[2])
    assert request is not None
    return follower, request


@pytest.mark.req("REP-4")
def test_a_follower_fetch_request_names_the_partition_its_log_start_and_last_epoch() -> None:
    follower, request = follower_at(2)
    assert request == FetchRequest(
        TP, 2, EPOCHS[2], 2, 0, current_leader_epoch=0, log_start_offset=0, max_bytes=1 << 20
    )
    legacy_config = PartitionConfig(legacy_truncate_to_high_watermark=True)
    legacy = Partition(TP, 2, follower.log, legacy_config, high_watermark=2)  # keeps its records
    legacy.apply_metadata(metadata(leader=1, epoch=0), 0, EPOCHS)
    legacy_request = legacy.fetch_request(EPOCHS[2])
    assert legacy_request is not None and legacy_request.last_fetched_epoch == UNDEFINED_EPOCH


@pytest.mark.req("REP-4")
def test_a_follower_ignores_answers_from_another_epoch_or_for_an_old_offset() -> None:
    follower, request = follower_at(1)
    other_epoch = FetchRequest(
        TP, 2, EPOCHS[2], 1, 0, current_leader_epoch=7, log_start_offset=0, max_bytes=1 << 20
    )
    answer = FetchResponse(TP, Errors.NONE, 1, 1, 0)
    assert follower.handle_fetch_response(other_epoch, answer) == FollowerFetchOutcome(
        Errors.FENCED_LEADER_EPOCH
    )
    old = FetchRequest(TP, 2, EPOCHS[2], 0, 0, current_leader_epoch=0, log_start_offset=0, max_bytes=1 << 20)
    assert follower.handle_fetch_response(old, answer) == FollowerFetchOutcome(Errors.NONE)
    leader = Partition(TP, 1, MemoryLog(), MIN1)
    leader.apply_metadata(metadata(leader=1, epoch=0), 0, EPOCHS)
    assert leader.handle_fetch_response(request, answer) == FollowerFetchOutcome(Errors.FENCED_LEADER_EPOCH)


@pytest.mark.req("REP-4")
def test_a_follower_reports_the_leaders_error_and_corrupt_records() -> None:
    follower, request = follower_at(1)
    refused = FetchResponse(TP, Errors.NOT_LEADER_OR_FOLLOWER)
    assert follower.handle_fetch_response(request, refused) == FollowerFetchOutcome(
        Errors.NOT_LEADER_OR_FOLLOWER
    )
    overlap = FetchResponse(
        TP, Errors.NONE, 0, 9, 0, records=build_batch([Record(None, b"x")], base_offset=0)
    )
    assert follower.handle_fetch_response(request, overlap) == FollowerFetchOutcome(Errors.CORRUPT_MESSAGE)
    # A gap is a compacted leader's log (LOG-34): copied as it is.
    gap = FetchResponse(TP, Errors.NONE, 0, 9, 0, records=build_batch([Record(None, b"x")], base_offset=5))
    assert follower.handle_fetch_response(request, gap).appended_records == 1
    assert follower.log.log_end_offset == 6


@pytest.mark.req("REP-6")
def test_a_follower_outcome_counts_appended_records_and_its_new_hw() -> None:
    follower, request = follower_at(1)
    empty = FetchResponse(TP, Errors.NONE, 1, 1, 0)
    assert follower.handle_fetch_response(request, empty) == FollowerFetchOutcome(Errors.NONE, 0, None, 1)
    batch = build_batch([Record(None, b"x"), Record(None, b"y")], base_offset=1)
    more = FetchResponse(TP, Errors.NONE, 0, 3, 0, records=batch)
    assert follower.handle_fetch_response(request, more) == FollowerFetchOutcome(Errors.NONE, 2, None, 0)


@pytest.mark.req("REP-6")
def test_a_follower_takes_a_leader_hw_of_zero_and_ignores_an_undefined_one() -> None:
    follower, request = follower_at(2, hw=1)
    follower.handle_fetch_response(request, FetchResponse(TP, Errors.NONE, UNDEFINED_OFFSET, 2, 0))
    assert follower.high_watermark == 1
    follower.handle_fetch_response(request, FetchResponse(TP, Errors.NONE, 0, 2, 0))
    assert follower.high_watermark == 0  # it may go backwards (a new leader's HW lags)


@pytest.mark.req("REP-5")
def test_divergence_with_an_undefined_end_truncates_to_the_follower_hw() -> None:
    follower, request = follower_at(3, hw=1)
    response = FetchResponse(TP, Errors.NONE, 0, 0, 0, diverging_epoch=DivergingEpoch(0, UNDEFINED_OFFSET))
    assert follower.handle_fetch_response(request, response) == FollowerFetchOutcome(Errors.NONE, 0, 1, 1)
    assert follower.log_end_offset == 1


@pytest.mark.req("REP-5")
def test_divergence_with_an_undefined_epoch_truncates_to_the_leaders_end() -> None:
    follower, request = follower_at(3)
    response = FetchResponse(TP, Errors.NONE, 0, 2, 0, diverging_epoch=DivergingEpoch(UNDEFINED_EPOCH, 2))
    assert follower.handle_fetch_response(request, response) == FollowerFetchOutcome(Errors.NONE, 0, 2, 0)
    assert follower.log_end_offset == 2


@pytest.mark.req("REP-5")
def test_divergence_in_an_epoch_the_follower_does_not_have_truncates_to_the_leaders_end() -> None:
    follower, request = follower_at(3)
    response = FetchResponse(TP, Errors.NONE, 0, 2, 0, diverging_epoch=DivergingEpoch(5, 2))
    assert follower.handle_fetch_response(request, response).truncated_to == 2


@pytest.mark.req("REP-5")
def test_divergence_in_a_shared_epoch_truncates_to_the_smaller_end() -> None:
    log = MemoryLog()
    log.append_as_leader(records(b"a"), 0)
    log.append_as_leader(records(b"b"), 1)
    log.append_as_leader(records(b"c"), 1)  # epoch 0 ends at 1 here
    follower = Partition(TP, 2, log, MIN1)
    follower.apply_metadata(metadata(leader=1, epoch=2), 0, EPOCHS)
    request = follower.fetch_request(EPOCHS[2])
    assert request is not None
    response = FetchResponse(TP, Errors.NONE, 0, 5, 0, diverging_epoch=DivergingEpoch(0, 3))
    assert follower.handle_fetch_response(request, response).truncated_to == 1  # our epoch 0 ends first


@pytest.mark.req("REP-5")
def test_out_of_range_below_the_leaders_start_restarts_the_follower_log_there() -> None:
    follower, request = follower_at(2)
    response = FetchResponse(TP, Errors.OFFSET_OUT_OF_RANGE, 7, 9, 7)
    assert follower.handle_fetch_response(request, response) == FollowerFetchOutcome(Errors.NONE, 0, 7, 7)
    assert follower.log.log_start_offset == follower.log_end_offset == 7


@pytest.mark.req("REP-5")
def test_out_of_range_above_a_shorter_leader_log_truncates_to_its_end() -> None:
    follower, request = follower_at(3, hw=1)
    response = FetchResponse(TP, Errors.OFFSET_OUT_OF_RANGE, 1, 2, 0)
    assert follower.handle_fetch_response(request, response) == FollowerFetchOutcome(Errors.NONE, 0, 2, 1)
    assert follower.log_end_offset == 2
    follower, request = follower_at(3)
    empty_leader = FetchResponse(TP, Errors.OFFSET_OUT_OF_RANGE, 0, 0, 0)
    assert follower.handle_fetch_response(request, empty_leader).truncated_to == 0
    assert follower.log_end_offset == 0


@pytest.mark.req("REP-5")
def test_out_of_range_within_the_leaders_log_is_reported_and_changes_nothing() -> None:
    follower, request = follower_at(2)
    for response in (
        FetchResponse(TP, Errors.OFFSET_OUT_OF_RANGE, 0, 5, 0),  # the leader's log is longer
        FetchResponse(TP, Errors.OFFSET_OUT_OF_RANGE, 0, 2, 2),  # starts exactly at our end
        FetchResponse(TP, Errors.OFFSET_OUT_OF_RANGE),  # no offsets: undefined
    ):
        outcome = follower.handle_fetch_response(request, response)
        assert outcome == FollowerFetchOutcome(Errors.OFFSET_OUT_OF_RANGE)
        assert follower.log_end_offset == 2 and follower.log.log_start_offset == 0


def idempotent(value: bytes, sequence: int) -> bytes:
    return build_batch(
        [Record(key=None, value=value)], producer_id=7, producer_epoch=0, base_sequence=sequence
    )


@pytest.mark.req("REP-3", "LOG-23")
def test_a_produce_of_two_batches_is_refused_whole_and_a_retry_of_one_is_a_duplicate() -> None:
    """A client sends one batch per partition (Kafka's ``validateRecords``): two are INVALID_RECORD,
    nothing of them is written, and the producer's state is untouched by the refusal."""
    _, leader, _, _ = trio_of()
    leader.append_records(records(b"before"), acks=1, now=0)
    both = leader.append_records(idempotent(b"a", 0) + idempotent(b"b", 1), acks=1, now=0)
    assert both.error is Errors.INVALID_RECORD and leader.log_end_offset == 1
    first = leader.append_records(idempotent(b"a", 0), acks=1, now=0)
    assert (first.error, first.base_offset, first.last_offset) == (Errors.NONE, 1, 1)
    retry = leader.append_records(idempotent(b"a", 0), acks=1, now=0)
    assert (retry.error, retry.base_offset, retry.last_offset) == (Errors.NONE, 1, 1)
    assert leader.log_end_offset == 2


@pytest.mark.req("REP-11")
def test_a_recovering_leader_reports_recovered_only_with_no_change_in_flight() -> None:
    replicas = make_replicas(MIN1)
    md = metadata(leader=2, epoch=3, isr=(2,))
    apply(replicas, attrs_evolve_recovering(md))
    leader = replicas[2]
    leader.pending_isr = (2,)
    assert leader.recovered_request() is None
    leader.pending_isr = None
    request = leader.recovered_request()
    assert request is not None and request.leader_recovery_state is LeaderRecoveryState.RECOVERED


def attrs_evolve_recovering(md):  # type: ignore[no-untyped-def]
    return type(md)(
        md.topic_partition,
        md.replicas,
        md.isr,
        md.leader,
        md.leader_epoch,
        md.partition_epoch,
        leader_recovery_state=LeaderRecoveryState.RECOVERING,
    )


def idempotent_batch(values: int, sequence: int, *, epoch: int = 0) -> bytes:
    return build_batch(
        [Record(key=None, value=b"%d" % i) for i in range(values)],
        producer_id=7,
        producer_epoch=epoch,
        base_sequence=sequence,
    )


@pytest.mark.req("REP-12")
def test_a_retry_is_a_duplicate_only_when_its_whole_sequence_range_matches() -> None:
    _, leader, _, _ = trio_of()
    assert leader.append_records(idempotent_batch(2, 0), acks=1, now=0).error is Errors.NONE  # seq 0..1
    retry = leader.append_records(idempotent_batch(2, 0), acks=1, now=0)
    assert (retry.error, retry.base_offset, retry.last_offset) == (Errors.NONE, 0, 1)
    longer = leader.append_records(idempotent_batch(3, 0), acks=1, now=0)  # same start, other end
    assert longer.error is Errors.OUT_OF_ORDER_SEQUENCE_NUMBER
    assert leader.append_records(idempotent_batch(1, 2), acks=1, now=0).error is Errors.NONE  # next: 2
    assert leader.log_end_offset == 3


@pytest.mark.req("REP-12")
def test_a_new_producer_epoch_must_start_at_sequence_zero() -> None:
    _, leader, _, _ = trio_of()
    leader.append_records(idempotent_batch(1, 0), acks=1, now=0)
    late = leader.append_records(idempotent_batch(1, 5, epoch=1), acks=1, now=0)
    assert late.error is Errors.OUT_OF_ORDER_SEQUENCE_NUMBER
    assert leader.append_records(idempotent_batch(1, 0, epoch=1), acks=1, now=0).error is Errors.NONE


@pytest.mark.req("REP-9")
def test_an_accepted_isr_shrink_advances_the_high_watermark_at_once() -> None:
    """The pending shrink still counts the lagging follower (maximal ISR); the controller's answer
    drops it, and the leader recomputes the HW then (Kafka's ``maybeIncrementLeaderHW`` after a
    successful AlterPartition), not at the next fetch."""
    _, leader, f2, f3 = trio_of()
    fetch(leader, f3)  # f3 at offset 0, then silent
    leader.append_records(records(b"a"), acks=1, now=0)
    fetch(leader, f2, now=LAG_S + 1)
    fetch(leader, f2, now=LAG_S + 1)
    assert leader.high_watermark == 0  # f3 is in the ISR
    proposal = leader.isr_shrink(now=LAG_S + 1)
    assert proposal is not None and proposal.isr_ids == (1, 2)
    shrunk = metadata(leader=1, epoch=0, isr=(1, 2), partition_epoch=1)
    leader.on_alter_partition_response(AlterPartitionResponse(TP, Errors.NONE, shrunk), LAG_S + 1)
    assert leader.isr == (1, 2) and leader.pending_isr is None
    assert leader.high_watermark == 1
