"""PartitionChanges, the one wait of a broker's long polls (reflog/broker/changes.py)."""

from __future__ import annotations

import pytest
import trio
import trio.testing

from reflog.broker.changes import PartitionChanges
from reflog.vocabulary import TopicPartition

A = TopicPartition("t", 0)
B = TopicPartition("t", 1)


async def _timed(changes: PartitionChanges, tps: list[TopicPartition], deadline: float) -> float:
    start = trio.current_time()
    await changes.wait_for_change(tps, deadline)
    return trio.current_time() - start


@pytest.mark.req("PRO-6", "REP-23")
async def test_a_wait_ends_at_a_change_of_any_of_its_partitions_else_at_its_deadline(
    autojump_clock: trio.testing.MockClock,
) -> None:
    changes = PartitionChanges()

    async def notify_later(tp: TopicPartition, delay: float) -> None:
        await trio.sleep(delay)
        changes.notify(tp)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(notify_later, B, 0.2)
        assert await _timed(changes, [A, B], trio.current_time() + 5) == pytest.approx(0.2)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(notify_later, B, 0.2)  # not watched: the wait runs to its deadline
        assert await _timed(changes, [A], trio.current_time() + 1) == pytest.approx(1.0)
    changes.notify(A)  # before the wait began: not seen by it
    assert await _timed(changes, [A], trio.current_time() + 0.5) == pytest.approx(0.5)
    assert await _timed(changes, [A], trio.current_time() - 1) == 0  # a deadline already passed
    assert changes.waiting() == 0


@pytest.mark.req("PRO-6")
async def test_a_watch_keeps_a_change_that_came_while_its_owner_was_not_waiting(
    autojump_clock: trio.testing.MockClock,
) -> None:
    changes = PartitionChanges()
    with changes.watch([A, B]) as watch:
        changes.notify(A)  # e.g. during the look at the partitions, which awaits
        start = trio.current_time()
        await watch.wait(start + 5)
        assert trio.current_time() == start  # at once
        await watch.wait(start + 1)  # that change was consumed: this one waits out its deadline
        assert trio.current_time() == pytest.approx(start + 1)
        assert changes.waiting() == 2
    assert changes.waiting() == 0


@pytest.mark.req("PRO-44")
async def test_a_cancelled_wait_leaves_nothing_registered(autojump_clock: trio.testing.MockClock) -> None:
    changes = PartitionChanges()
    with trio.move_on_after(0.1):
        await changes.wait_for_change([A, B], trio.current_time() + 60)
    assert changes.waiting() == 0
    changes.notify(A)  # nobody left to wake
