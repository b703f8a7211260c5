"""Direct tests of :mod:`reflog.replication.follower_state`: the leader's follower bookkeeping and the
HW and ISR rules over it, at their boundaries, without a :class:`Partition` around them."""

from __future__ import annotations

import pytest

from reflog.replication.follower_state import UNKNOWN_OFFSET, FollowerState, high_watermark_candidate

LAG_MS = 30_000


@pytest.mark.req("REP-6")
def test_a_fetch_at_the_leaders_end_is_caught_up_now_and_one_at_the_previous_end_as_of_then() -> None:
    state = FollowerState(2)
    state.update_fetch_state(0, 7, 1, now=1.0)  # behind the leader's LEO 1, no previous fetch
    assert (state.log_end_offset, state.broker_epoch, state.last_caught_up_time) == (0, 7, 0.0)
    state.update_fetch_state(1, 7, 2, now=2.0)  # at the previous fetch's leader LEO
    assert state.last_caught_up_time == 1.0
    state.update_fetch_state(2, 7, 2, now=3.0)  # at the leader's LEO
    assert state.last_caught_up_time == 3.0
    assert (state.last_fetch_time, state.last_fetch_leader_log_end_offset) == (3.0, 2)


@pytest.mark.req("REP-8")
def test_out_of_sync_only_behind_the_leader_and_beyond_the_lag_time_exclusive() -> None:
    state = FollowerState(2, log_end_offset=5, last_caught_up_time=10.0)
    assert not state.is_out_of_sync(5, 1000.0, LAG_MS)  # at the leader's LEO, however long ago
    assert not state.is_out_of_sync(6, 40.0, LAG_MS)  # exactly the lag time
    assert state.is_out_of_sync(6, 40.001, LAG_MS)


@pytest.mark.req("REP-9")
def test_joins_the_isr_only_at_the_hw_and_the_epoch_start_with_its_current_broker_epoch() -> None:
    state = FollowerState(2, broker_epoch=7, log_end_offset=5)
    assert state.may_join_isr(5, 5, 7)
    assert not state.may_join_isr(6, 5, 7)  # below the HW
    assert not state.may_join_isr(5, 6, 7)  # below the leader epoch's start offset
    assert not state.may_join_isr(5, 5, 8)  # fetched with another broker epoch
    assert not FollowerState(2, broker_epoch=7).may_join_isr(UNKNOWN_OFFSET, UNKNOWN_OFFSET, 7)  # no fetch


@pytest.mark.req("REP-7")
def test_the_hw_candidate_is_the_lowest_leo_of_the_maximal_isr_and_the_caught_up() -> None:
    in_isr = FollowerState(2, log_end_offset=4, last_caught_up_time=0.0)
    caught_up = FollowerState(3, log_end_offset=3, last_caught_up_time=100.0)
    lagging = FollowerState(4, log_end_offset=1, last_caught_up_time=0.0)
    unknown = FollowerState(5, last_caught_up_time=100.0)
    followers = [in_isr, caught_up, lagging, unknown]
    assert high_watermark_candidate(6, followers, {1, 2}, 100.0, LAG_MS) == 3
    assert high_watermark_candidate(6, [in_isr, lagging, unknown], {1, 2}, 100.0, LAG_MS) == 4
    assert high_watermark_candidate(6, [lagging], {1, 4}, 100.0, LAG_MS) == 1
    assert high_watermark_candidate(6, [], {1}, 100.0, LAG_MS) == 6
