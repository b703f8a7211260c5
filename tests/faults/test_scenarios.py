"""The first catalogue scenarios end as expected; a 'no loss' one fails without its protection (HAR-5)."""

from __future__ import annotations

import attrs
import pytest
import trio
import trio.testing

from faults.scenarios import (
    CATALOGUE,
    ScenarioContext,
    ScenarioResult,
    _acks1_leader_power_loss,
    run_scenario,
)


def run(scenario_name: str, seed: int = 1, **changes: object) -> ScenarioResult:
    scenario = next(s for s in CATALOGUE if s.name == scenario_name)
    if changes:
        scenario = attrs.evolve(scenario, **changes)
    return trio.run(run_scenario, scenario, seed, clock=trio.testing.MockClock(autojump_threshold=0))


@pytest.mark.req("HAR-5")
@pytest.mark.parametrize("name", [s.name for s in CATALOGUE])
def test_scenario_ends_as_expected(name: str) -> None:
    result = run(name)
    assert result.as_expected, (result.report, result.excuse)
    assert result.report.acknowledged > 0


@pytest.mark.req("HAR-5")
def test_loss_allowed_scenarios_do_lose_records_and_say_why() -> None:
    result = run("all-replicas-power-loss")
    assert result.report.lost and all(lost.allowed for lost in result.report.lost)
    assert "lost power" in result.report.lost[0].reason


@pytest.mark.req("HAR-5")
def test_flush_every_message_scenario_fails_with_the_default_flush_policy() -> None:
    """Protection off: without flush.messages=1 the 'no loss' expectation is violated."""
    result = run("all-replicas-power-loss-flush-every-message", topic_configs={"min.insync.replicas": 2})
    assert not result.as_expected and result.report.violations


@pytest.mark.req("HAR-5")
def test_acks_all_scenario_fails_with_acks_1() -> None:
    """Protection off: the same leader power loss with acks=1 loses acknowledged records unexcused."""

    async def unexcused(ctx: ScenarioContext) -> str | None:
        await _acks1_leader_power_loss(ctx)
        return None  # claim 'no loss' although acks=1 was used

    result = run(
        "acks-all-leader-power-loss",
        script=unexcused,
        producer_settings={"acks": 1, "enable_idempotence": False},
    )
    assert not result.as_expected and result.report.violations


@pytest.mark.req("HAR-5")
def test_unclean_election_loss_is_reported_not_silent() -> None:
    result = run("unclean-election")
    assert result.excuse is not None and "unclean" in result.excuse
    assert result.report.lost and all(lost.allowed for lost in result.report.lost)


@pytest.mark.req("HAR-5")
def test_last_isr_replica_power_loss_without_kip_966_protection_loses_data() -> None:
    """Protection off: without ELR the powered-off last ISR member leads again with a shorter log."""
    result = run("last-isr-replica-power-loss", eligible_leader_replicas=False)
    assert not result.as_expected and result.report.violations
