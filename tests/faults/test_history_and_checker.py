"""The history records and replays byte for byte; the checker catches each kind of anomaly (HAR-*)."""

from __future__ import annotations

import pytest

from faults.checker import Lost, ReplicaState, check
from faults.history import History
from reflog.errors import ReflogUsageError
from tests.cluster.test_scenario_s1 import replay_s1


def history_of(
    sends: list[tuple[str, str, float, float, int | None]], polls: list[list[list[object]]] = ()
) -> History:  # type: ignore[assignment]
    """sends: (process, value, invoke time, completion time, acked offset or None for info)."""
    history = History()
    for process, value, t0, t1, offset in sends:
        op = history.invoke(process, "send", {"partition": 0, "value": value}, t0)
        if offset is None:
            history.complete(op, "info", {}, t1)
        else:
            history.complete(op, "ok", {"offset": offset}, t1)
    for records in polls:
        op = history.invoke("consumer", "poll", {}, 100.0)
        history.complete(op, "ok", {"records": records}, 100.5)
    return history


def replicas(*logs: list[str], hw: int | None = None) -> dict[int, ReplicaState]:
    return {
        i + 1: ReplicaState(list(enumerate(log)), len(log) if hw is None else hw)
        for i, log in enumerate(logs)
    }


@pytest.mark.req("HAR-1")
def test_history_round_trips_byte_for_byte() -> None:
    history = history_of([("p1", "a", 0.0, 0.5, 0), ("p1", "b", 0.5, 1.0, None)])
    history.fault("power_loss", "broker-2", 0.7, mode="torn")
    text = history.to_jsonl()
    again = History.from_jsonl(text)
    assert again.to_jsonl() == text
    assert [f.kind for f in again.faults()] == ["power_loss"]
    assert len(list(again.completions())) == 2
    with pytest.raises(ReflogUsageError):
        History.from_jsonl("{not json")
    with pytest.raises(ReflogUsageError):
        history.complete(0, "ok", {}, 2.0)  # already completed


@pytest.mark.req("HAR-2")
def test_a_clean_run_is_valid() -> None:
    history = history_of(
        [("p1", "a", 0, 1, 0), ("p1", "b", 1, 2, 1), ("p2", "c", 0, 3, None)], [[[0, 0, "a"]]]
    )
    report = check(history, replicas(["a", "b"], ["a", "b"], ["a"], hw=1), leader=1)
    assert report.valid and report.acknowledged == 2 and report.survived == 2


@pytest.mark.req("HAR-2")
def test_the_checker_catches_a_lost_acknowledged_record_and_classifies_it() -> None:
    history = history_of([("p1", "a", 0, 1, 0), ("p1", "b", 1, 2, 1)])
    report = check(history, replicas(["a"]), leader=1)
    assert not report.valid and [lost.value for lost in report.violations] == ["b"]
    excused = check(history, replicas(["a"]), leader=1, excuse="every in-sync replica lost power")
    assert excused.valid and excused.lost[0].allowed and "lost power" in excused.lost[0].reason


@pytest.mark.req("HAR-2")
def test_the_checker_catches_duplicates_reordering_vanished_reads_divergence_and_corruption() -> None:
    dup = check(history_of([("p1", "a", 0, 1, 0)]), replicas(["a", "a"]), leader=1)
    assert dup.duplicates == ("a",) and not dup.valid
    reorder = check(history_of([("p1", "a", 0, 1, 1), ("p1", "b", 2, 3, 0)]), replicas(["b", "a"]), leader=1)
    assert reorder.reordered == (("a", "b"),) and not reorder.valid
    vanished = check(history_of([], [[[0, 0, "ghost"]]]), replicas(["x"]), leader=1)
    assert vanished.vanished_reads == ((0, "ghost"),) and not vanished.valid
    diverged = check(history_of([]), replicas(["a", "b"], ["a", "c"]), leader=1)
    assert diverged.divergent == ((1, 2, 1),) and not diverged.valid
    corrupt = {1: ReplicaState([(0, "a")], 1), 2: ReplicaState([(0, "a")], 1, corrupt_at=1)}
    kept_corrupt_bytes = check(history_of([("p1", "a", 0, 1, 0)]), corrupt, leader=1)
    assert kept_corrupt_bytes.corrupt == ((2, 1),) and not kept_corrupt_bytes.valid
    # Concurrent sends (the second invoked before the first completed) may land in either order.
    concurrent = check(
        history_of([("p1", "a", 0, 2, 1), ("p1", "b", 1, 3, 0)]), replicas(["b", "a"]), leader=1
    )
    assert concurrent.valid


@pytest.mark.req("HAR-2")
async def test_the_checker_catches_the_pre_fix_rule_on_a_real_cluster_run(autojump_clock: object) -> None:
    """S1's acknowledged sends (m0 at 0, m1 at 1, as the replay asserts) against the real final log:
    valid under today's rule, a violation under the pre-0.11 rule."""
    for legacy, expect_valid in ((False, True), (True, False)):
        values, _, _ = await replay_s1(legacy=legacy)
        history = history_of([("p", "m0", 0, 1, 0), ("p", "m1", 1, 2, 1)])
        final = {1: ReplicaState([(i, (v or b"").decode()) for i, v in enumerate(values)], len(values))}
        assert check(history, final, leader=1).valid is expect_valid


@pytest.mark.req("HAR-2")
def test_at_one_simulated_instant_the_history_order_decides_what_was_sequential() -> None:
    def two_sends(sequential: bool) -> History:
        history = History()
        a = history.invoke("p1", "send", {"partition": 0, "value": "a"}, 5.0)
        if sequential:
            history.complete(a, "ok", {"offset": 1}, 5.0)
        b = history.invoke("p1", "send", {"partition": 0, "value": "b"}, 5.0)
        history.complete(b, "ok", {"offset": 0}, 5.0)
        if not sequential:
            history.complete(a, "ok", {"offset": 1}, 5.0)
        return history

    assert check(two_sends(sequential=True), replicas(["b", "a"]), leader=1).reordered == (("a", "b"),)
    assert check(two_sends(sequential=False), replicas(["b", "a"]), leader=1).valid


def send(history: History, value: str, acks: str, t: float, type: str, offset: int) -> None:
    op = history.invoke("p", "send", {"partition": 0, "value": value, "acks": acks}, t)
    history.complete(op, type, {"offset": offset}, t + 0.5)  # type: ignore[arg-type]


@pytest.mark.req("HAR-15")
def test_a_lost_acks_0_send_is_no_violation_but_acks_1_and_all_losses_still_are() -> None:
    history = History()
    send(history, "kept", "all", 0, "ok", 0)
    send(history, "zero-ok", "0", 1, "ok", -1)  # a client that reports success, with Kafka's offset -1
    send(history, "zero-info", "0", 2, "info", -1)  # as RecordingProducer records a SENT
    clean = check(history, replicas(["kept"]), leader=1)
    assert clean.valid and clean.acknowledged == 1 and clean.survived == 1 and clean.unacknowledged == 2
    send(history, "one", "1", 3, "ok", 1)
    send(history, "all", "all", 4, "ok", 2)
    report = check(history, replicas(["kept"]), leader=1)
    assert not report.valid and report.acknowledged == 3 and report.unacknowledged == 2
    assert [lost.value for lost in report.violations] == ["one", "all"]


@pytest.mark.req("HAR-15")
def test_a_consumer_read_of_an_acks_0_record_that_vanished_is_still_a_violation() -> None:
    history = History()
    send(history, "zero", "0", 0, "info", -1)
    op = history.invoke("consumer", "poll", {}, 1.0)
    history.complete(op, "ok", {"records": [[0, 0, "zero"]]}, 1.5)  # it was committed, then lost
    report = check(history, replicas(["other"]), leader=1)
    assert not report.valid and report.vanished_reads == ((0, "zero"),) and not report.lost


# ---- direct rule tests from mutation testing (tests/MUTATION.md) ---------------------------------


@pytest.mark.req("HAR-2")
def test_the_checker_judges_only_the_partition_it_is_asked_about() -> None:
    history = History()
    op = history.invoke("p", "send", {"value": "no-partition-key"}, 0)  # an old history: partition 0
    history.complete(op, "ok", {"offset": 0}, 1)
    op = history.invoke("p", "send", {"partition": 1, "value": "on-1"}, 2)
    history.complete(op, "ok", {"offset": 0}, 3)
    assert check(history, replicas(["no-partition-key"]), leader=1).acknowledged == 1
    on_1 = check(history, replicas(["on-1"]), leader=1, partition=1)
    assert on_1.valid and on_1.acknowledged == 1


@pytest.mark.req("HAR-2")
def test_a_lost_record_reports_its_offset_and_why() -> None:
    report = check(history_of([("p", "a", 0, 1, 0), ("p", "b", 1, 2, 1)]), replicas(["a"]), leader=1)
    assert report.lost == (Lost("b", 1, False, "no fault in this run excuses it"),)
    assert report.acknowledged == 2 and report.survived == 1


@pytest.mark.req("HAR-2")
def test_sequential_sends_of_different_producers_are_never_a_reordering() -> None:
    history = history_of([("p1", "a", 0, 1, 1), ("p2", "b", 2, 3, 0)])
    assert check(history, replicas(["b", "a"]), leader=1).valid


@pytest.mark.req("HAR-2")
def test_a_send_invoked_at_the_same_instant_before_the_other_completed_is_concurrent() -> None:
    history = History()
    a = history.invoke("p1", "send", {"partition": 0, "value": "a"}, 5.0)
    b = history.invoke("p1", "send", {"partition": 0, "value": "b"}, 5.0)
    history.complete(a, "ok", {"offset": 1}, 5.0)
    history.complete(b, "ok", {"offset": 0}, 5.0)
    assert check(history, replicas(["b", "a"]), leader=1).valid


@pytest.mark.req("HAR-2")
def test_a_retry_deduplicated_to_the_same_offset_is_no_reordering() -> None:
    history = history_of([("p1", "a", 0, 1, 0), ("p1", "a", 2, 3, 0)])  # the broker's first offset
    assert check(history, replicas(["a"]), leader=1).valid


@pytest.mark.req("HAR-2")
def test_only_polls_that_completed_ok_count_as_reads() -> None:
    history = History()
    failed = history.invoke("consumer", "poll", {}, 0)
    history.complete(failed, "info", {"records": [[0, 0, "never-returned"]]}, 1)
    empty = history.invoke("consumer", "poll", {}, 2)
    history.complete(empty, "ok", {}, 3)  # no "records" key: nothing was read
    assert check(history, replicas(["x"]), leader=1).valid


@pytest.mark.req("HAR-2")
def test_a_replica_whose_log_stops_short_below_both_high_watermarks_diverges_where_it_stops() -> None:
    short = {1: ReplicaState([(0, "a"), (1, "b")], 2), 2: ReplicaState([(0, "a")], 2)}
    assert check(history_of([]), short, leader=1).divergent == ((1, 2, 1),)
