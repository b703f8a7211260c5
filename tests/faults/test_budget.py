"""The fault budget and its monitor: who is damaged, until when, and when a run goes beyond it (HAR-10)."""

from __future__ import annotations

import attrs
import pytest
import trio

from faults.budget import BudgetMonitor, FaultBudget
from faults.scenarios import TOPIC, TP, ScenarioContext
from reflog.errors import ReflogUsageError
from reflog.replication.controller_events import LeaderElected
from tests.faults.test_inject import isr, rig, run, wait_until
from tests.faults.test_nemesis import random_run


# ------------------------------------------------------------------ the budget itself
@pytest.mark.req("HAR-10")
def test_the_budget_min_insync_replicas_grants() -> None:
    """min.insync.replicas m allows m - 1 damaged brokers, and no unclean election."""
    assert FaultBudget.for_min_insync_replicas(2) == FaultBudget(max_damaged=1, allow_unclean_election=False)
    assert FaultBudget.for_min_insync_replicas(3).max_damaged == 2
    assert FaultBudget.for_min_insync_replicas(1).max_damaged == 0


@pytest.mark.req("HAR-10")
def test_a_negative_budget_is_a_usage_error() -> None:
    """max_damaged < 0 (also from min.insync.replicas 0) is refused; a budget is immutable."""
    with pytest.raises(ReflogUsageError):
        FaultBudget(max_damaged=-1)
    with pytest.raises(ReflogUsageError):
        FaultBudget.for_min_insync_replicas(0)
    budget = FaultBudget(1)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        budget.max_damaged = 5  # type: ignore[misc]


# ------------------------------------------------------------------ counting damage
@pytest.mark.req("HAR-10")
def test_one_damaged_broker_is_within_a_budget_of_one_and_a_second_is_a_breach() -> None:
    """Damage adds up across faults: power loss of one broker is fine, of another too many."""

    async def main() -> None:
        async with rig() as ctx:
            monitor = ctx.monitor
            assert monitor.budget == FaultBudget(1)
            await ctx.produce(3)
            a, b = ctx.followers()
            assert not monitor.would_exceed(set()) and not monitor.would_exceed({a})
            assert monitor.would_exceed({a, b})
            await ctx.faults.power_off(a)
            assert monitor.damaged == {a}
            assert monitor.within_budget and monitor.excuse is None
            assert not monitor.would_exceed({a})  # the same broker again does not add up
            assert monitor.would_exceed({b})
            ctx.faults.bitflip(b, TP, 40)
            assert monitor.damaged == {a, b}
            assert not monitor.within_budget
            assert monitor.excuse is not None
            assert f"brokers [{min(a, b)}, {max(a, b)}] damaged at once (budget 1)" in monitor.excuse
            assert "fault budget exceeded" in monitor.excuse

    run(main)


@pytest.mark.req("HAR-10")
def test_a_correlated_power_loss_is_one_breach_and_later_breaches_are_counted() -> None:
    """Two brokers losing power at once is a breach; the excuse names the first and counts the rest."""

    async def main() -> None:
        async with rig() as ctx:
            await ctx.produce(3)
            a, b = ctx.followers()
            await trio.sleep(3.0)
            await ctx.faults.power_off(a, b)
            when = trio.current_time()
            monitor = ctx.monitor
            assert not monitor.within_budget and len(monitor.breaches) == 1
            assert monitor.excuse == monitor.breaches[0]
            assert f"at t={when:.1f}s" in monitor.breaches[0] and "budget 1" in monitor.breaches[0]
            await ctx.faults.power_off(ctx.leader())
            assert monitor.damaged == {1, 2, 3}
            assert monitor.excuse is not None and monitor.excuse.endswith("(and 1 more breach)")

    run(main)


@pytest.mark.req("HAR-10")
def test_faults_that_cannot_lose_data_never_count() -> None:
    """Crashes, stops, network faults, a slow disk and TLS on every broker: nobody is damaged."""

    async def main() -> None:
        async with rig() as ctx:
            await ctx.produce(3)
            leader = ctx.leader()
            a, b = ctx.followers()
            await ctx.faults.kill(a)
            await ctx.faults.stop(b)
            ctx.faults.isolate(leader)
            ctx.faults.split({a})
            ctx.faults.block(leader, b)
            ctx.faults.link_faults(leader, a, drop=0.5)
            ctx.faults.slow_disk(leader)
            ctx.faults.switch_to_tls(leader)
            assert ctx.monitor.damaged == frozenset()
            assert ctx.monitor.within_budget and ctx.monitor.excuse is None

    run(main)


# ------------------------------------------------------------------ healing
@pytest.mark.req("HAR-10")
def test_a_damaged_broker_counts_until_it_has_restarted_and_rejoined_every_isr() -> None:
    """Restarted but not caught up: still damaged. Back in the ISR: no longer (refresh and watch)."""

    async def main() -> None:
        async with rig() as ctx, trio.open_nursery() as nursery:
            monitor = ctx.monitor
            await ctx.produce(5)
            leader = ctx.leader()
            a, b = ctx.followers()
            await ctx.faults.power_off(a)
            ctx.faults.block(a, leader)  # it cannot fetch, so it cannot rejoin the ISR
            await ctx.faults.restart(a)
            await trio.sleep(5)
            monitor.refresh()
            assert ctx.cluster.broker(a).running and a not in isr(ctx.cluster)
            assert monitor.damaged == {a} and monitor.would_exceed({b})

            ctx.faults.heal()
            nursery.start_soon(monitor.watch)  # the watcher refreshes on its own
            await wait_until(lambda: a in isr(ctx.cluster))
            await trio.sleep(monitor.interval * 2)
            assert monitor.damaged == frozenset()
            assert not monitor.would_exceed({b}) and monitor.within_budget
            nursery.cancel_scope.cancel()

    run(main)


@pytest.mark.req("HAR-10")
def test_a_restarted_broker_counts_until_its_new_incarnation_has_registered() -> None:
    """While the new incarnation waits for the old session to expire, the controller's ISR still
    lists the damaged one: that stale membership must not end the damage."""

    async def main() -> None:
        async with rig() as ctx, trio.open_nursery() as nursery:
            monitor = ctx.monitor
            await ctx.produce(5)
            a, b = ctx.followers()
            await ctx.faults.power_off(a)
            nursery.start_soon(ctx.faults.restart, a)
            await trio.sleep(2)  # the old session (9 s) has not expired: registration waits
            handle = ctx.cluster.broker(a)
            assert handle.running and handle.broker.incarnation == 2
            assert a in isr(ctx.cluster)  # the ISR still names the damaged incarnation
            monitor.refresh()
            assert monitor.damaged == {a} and monitor.would_exceed({b})
            await wait_until(lambda: a in isr(ctx.cluster) and ctx.history.faults()[-1].kind == "restart")
            monitor.refresh()
            assert monitor.damaged == frozenset()

    run(main)


@pytest.mark.req("HAR-10")
def test_a_damaged_broker_that_never_left_the_isr_counts_until_it_restarts() -> None:
    """A pending write-back failure: the broker stays in the ISR, yet is damaged until a restart."""

    async def main() -> None:
        async with rig() as ctx:
            monitor = ctx.monitor
            await ctx.produce(5)
            a, _ = ctx.followers()
            ctx.faults.fsync_error(a, TP)
            await trio.sleep(5)
            monitor.refresh()
            assert ctx.cluster.broker(a).running and a in isr(ctx.cluster)
            assert monitor.damaged == {a}
            await ctx.faults.kill(a)
            ctx.faults.clear_disk_faults(a)
            await ctx.faults.restart(a)
            await wait_until(lambda: a in isr(ctx.cluster))
            monitor.refresh()
            assert monitor.damaged == frozenset() and monitor.within_budget

    run(main)


# ------------------------------------------------------------------ unclean elections
async def unclean_election(ctx: ScenarioContext) -> None:
    """The catalogue's unclean-election story: the lone ISR leader dies while its followers lag."""
    await ctx.produce(5)
    await trio.sleep(2)
    leader = ctx.leader()
    for follower in ctx.followers():
        ctx.faults.block(follower, leader)
    await ctx.produce(2)  # acknowledged once the ISR shrank to the leader alone
    await ctx.faults.kill(leader)
    ctx.faults.heal()
    await wait_until(lambda: ctx.leader() not in (leader, -1), timeout=30)


@pytest.mark.req("HAR-10")
def test_an_unclean_election_is_a_breach_unless_the_budget_allows_it() -> None:
    """The same run: a breach for the default budget, none when allow_unclean_election is set."""

    async def main() -> None:
        unclean_topic = {"min.insync.replicas": 1, "unclean.leader.election.enable": 1}
        async with rig(topic_configs=unclean_topic) as ctx:
            strict = BudgetMonitor(ctx.cluster, FaultBudget(max_damaged=1))
            lenient = BudgetMonitor(ctx.cluster, FaultBudget(max_damaged=1, allow_unclean_election=True))
            for monitor in (strict, lenient):
                monitor.attach(ctx.faults)
            await unclean_election(ctx)
            elections = [e for e in ctx.cluster.controller.events if isinstance(e, LeaderElected)]
            assert any(e.unclean for e in elections)  # the story really ended in an unclean election
            assert not strict.within_budget
            assert strict.excuse is not None and "unclean leader election" in strict.excuse
            assert TOPIC in strict.excuse
            assert lenient.within_budget and lenient.excuse is None
            assert strict.damaged == lenient.damaged == frozenset()  # a crash damages nobody
            breaches = list(strict.breaches)
            strict.refresh()
            assert strict.breaches == breaches  # each election is reported once

    run(main)


# ------------------------------------------------------------------ the monitor catches a bad run
@pytest.mark.req("HAR-10", "HAR-9")
def test_the_monitor_catches_a_run_beyond_its_budget() -> None:
    """A nemesis not told to stay within budget takes several brokers down at once: the monitor says so."""

    async def main() -> None:
        async with rig(3) as ctx:
            await random_run(
                ctx, 60.0, kinds=("correlated_power_loss",), stay_within_budget=False, max_concurrent=3
            )
            assert not ctx.monitor.within_budget
            assert ctx.monitor.excuse is not None and "fault budget exceeded" in ctx.monitor.excuse

    run(main)


@pytest.mark.req("HAR-10", "HAR-9")
def test_the_monitor_catches_a_nemesis_whose_budget_guard_is_broken(monkeypatch: pytest.MonkeyPatch) -> None:
    """A bug in the guard (would_exceed always False) cannot hide a breach: the monitor records it."""
    monkeypatch.setattr(BudgetMonitor, "would_exceed", lambda self, brokers: False)

    async def main() -> None:
        async with rig(3) as ctx:
            await random_run(
                ctx,
                60.0,
                kinds=("power_loss",),
                interval=(1.0, 2.0),
                hold=(10.0, 15.0),
                max_concurrent=3,
                stay_within_budget=True,
            )
            assert not ctx.monitor.within_budget, ctx.history.faults()
            assert ctx.monitor.excuse is not None and "damaged at once (budget 1)" in ctx.monitor.excuse

    run(main)
