"""Mutation proof for the sans-IO replication machine: deliberate bugs it must catch (REP-13).

Each bug is switched on only inside its test (a subclass flag or ``monkeypatch``); the machine
runs derandomized with the ci settings and must fail.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis.stateful import run_state_machine_as_test

from reflog.replication.errors import Errors
from reflog.replication.partition import FollowerFetchOutcome, Partition
from tests.replication.test_replication_state_machine import ReplicationMachine

MUTANT_SETTINGS = settings(
    max_examples=500,
    stateful_step_count=80,
    derandomize=True,
    database=None,
    deadline=None,
    print_blob=False,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)


class LegacyTruncation(ReplicationMachine):
    legacy_truncation = True


def high_watermark_ignores_min_isr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Partition, "is_under_min_isr", property(lambda self: False))


def divergence_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    def keep_log(self: Partition, diverging):  # type: ignore[no-untyped-def]
        return FollowerFetchOutcome(Errors.NONE, 0, None, self.high_watermark)

    monkeypatch.setattr(Partition, "_truncate_on_divergence", keep_log)


def high_watermark_from_leader_only(monkeypatch: pytest.MonkeyPatch) -> None:
    def hw(self: Partition, now: float) -> bool:
        if self.role.value == "leader" and self.log.log_end_offset > self._high_watermark:
            self._high_watermark = self.log.log_end_offset
            return True
        return False

    monkeypatch.setattr(Partition, "_maybe_increment_high_watermark", hw)


MUTANTS = {
    "HW advances to the leader's LEO without the ISR": high_watermark_from_leader_only,
    "HW ignores min.insync.replicas": high_watermark_ignores_min_isr,
    "a follower ignores DivergingEpoch": divergence_ignored,
}


@pytest.mark.req("REP-13", "REP-10")
def test_the_machine_catches_truncation_to_the_high_watermark() -> None:
    with pytest.raises(AssertionError):
        run_state_machine_as_test(LegacyTruncation, settings=MUTANT_SETTINGS)


@pytest.mark.req("REP-13")
@pytest.mark.parametrize("mutant", sorted(MUTANTS))
def test_the_machine_catches(mutant: str, monkeypatch: pytest.MonkeyPatch) -> None:
    MUTANTS[mutant](monkeypatch)
    with pytest.raises(AssertionError):
        run_state_machine_as_test(ReplicationMachine, settings=MUTANT_SETTINGS)
