"""Every catalogue scenario ends as expected, and every "no loss" one fails without its protection.

HAR-5: each scenario's verdict. HAR-11: for each "no loss" scenario, the protection it names is
switched off inside the test only (a setting changed with ``attrs.evolve``, or a deliberate bug
switched on with ``monkeypatch``), and the checker must then report a violation.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import attrs
import pytest
import trio
import trio.testing

import reflog.log.segment as segment_module
from faults.catalogue import CATALOGUE, scenario
from faults.scenarios import Scenario, ScenarioResult, run_scenario
from reflog.errors import StorageError
from reflog.records import BatchHeader, parse_header
from reflog.storage import FileHandle
from reflog.storage.sim import SimFilesystem

ACKS_1 = {"producer_settings": {"acks": 1, "enable_idempotence": False}}


def run(entry: Scenario, seed: int = 1) -> ScenarioResult:
    return trio.run(run_scenario, entry, seed, clock=trio.testing.MockClock(autojump_threshold=0))


@pytest.mark.req("HAR-5")
@pytest.mark.parametrize("name", [s.name for s in CATALOGUE])
def test_scenario_ends_as_expected(name: str) -> None:
    result = run(scenario(name))
    assert result.as_expected, (result.report, result.excuse)
    assert result.report.acknowledged > 0
    if scenario(name).expected == "no loss":
        assert result.excuse is None and not result.report.lost
        assert scenario(name).protection, "every no-loss scenario names its protection"


@pytest.mark.req("HAR-5")
@pytest.mark.parametrize("name", [s.name for s in CATALOGUE if s.expected == "loss allowed"])
def test_loss_allowed_scenarios_lose_records_and_say_why(name: str) -> None:
    result = run(scenario(name))
    assert result.report.lost and all(lost.allowed for lost in result.report.lost)
    assert result.excuse and all(lost.reason == result.excuse for lost in result.report.lost)


# ------------------------------------------------------------------ protection off (HAR-11)
def recovery_skips_the_crc(monkeypatch: pytest.MonkeyPatch) -> None:
    def header_only(buf: bytes | bytearray | memoryview, pos: int = 0) -> BatchHeader:
        return parse_header(buf, pos)

    monkeypatch.setattr(segment_module, "verify_crc", header_only)


def fsync_errors_are_retried(monkeypatch: pytest.MonkeyPatch) -> None:
    """PostgreSQL's fsyncgate bug: retry a failed fsync, which then 'succeeds'."""
    real_fsync = SimFilesystem.fsync

    def retrying_fsync(self: SimFilesystem, handle: FileHandle) -> None:
        try:
            real_fsync(self, handle)
        except StorageError:
            real_fsync(self, handle)

    monkeypatch.setattr(SimFilesystem, "fsync", retrying_fsync)


def no_change(monkeypatch: pytest.MonkeyPatch) -> None:
    del monkeypatch


Mutant = Callable[[pytest.MonkeyPatch], None]
PROTECTION_OFF: dict[str, tuple[dict[str, object], Mutant]] = {
    "acks-all-leader-power-loss": (ACKS_1, no_change),
    "torn-tail-recovered": ({}, recovery_skips_the_crc),
    "all-replicas-power-loss-flush-every-message": ({"topic_configs": {"min.insync.replicas": 2}}, no_change),
    "last-isr-replica-power-loss": ({"eligible_leader_replicas": False}, no_change),
    "fsync-eio-on-leader": ({}, fsync_errors_are_retried),
    "replica-lost-for-good": ({"eligible_leader_replicas": False}, no_change),
    "partitioned-zombie-leader": (ACKS_1, no_change),
    "lagging-consumer-page-cache": (ACKS_1, no_change),
    "tls-copy-path-switch": (ACKS_1, no_change),
    "scripted-nemesis": (ACKS_1, no_change),
    "random-nemesis-within-budget": (ACKS_1, no_change),
}


@pytest.mark.req("HAR-11")
def test_every_no_loss_scenario_has_a_protection_off_test() -> None:
    assert set(PROTECTION_OFF) == {s.name for s in CATALOGUE if s.expected == "no loss"}


@pytest.mark.req("HAR-11")
@pytest.mark.parametrize("name", sorted(PROTECTION_OFF))
def test_without_its_protection_a_no_loss_scenario_reports_a_violation(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    changes, mutant = PROTECTION_OFF[name]
    mutant(monkeypatch)
    result = run(attrs.evolve(scenario(name), **changes))
    assert not result.as_expected
    assert not result.report.valid, result.report


@pytest.mark.req("HAR-5")
def test_the_readme_lists_every_scenario_with_its_expectation_and_protection() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    for entry in CATALOGUE:
        row = f"| `{entry.name}` | {entry.expected} | {entry.protection or '-'} |"
        assert row in readme, row
