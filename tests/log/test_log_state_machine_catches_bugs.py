"""Mutation proof for the log state machine: each deliberate bug below must make it fail.

Each mutant is switched on only inside its test (with ``monkeypatch``), then the state
machine runs under the same derandomized settings as the ``ci`` profile. A mutant that
stops being caught fails this test, so the machine's power to find bugs is itself tested.
"""

from __future__ import annotations

import pytest
from _pytest.outcomes import Failed
from hypothesis import HealthCheck, Phase, settings
from hypothesis.stateful import run_state_machine_as_test

import reflog.log.log as log_module
import reflog.log.segment as segment_module
from reflog.errors import CorruptRecordError
from reflog.log.log import Log
from reflog.log.segment import LogSegment
from reflog.records import BatchHeader, parse_header
from tests.log.test_log_state_machine import LogMachine

MUTANT_SETTINGS = settings(
    max_examples=400,
    stateful_step_count=50,
    derandomize=True,
    database=None,
    deadline=None,
    print_blob=False,
    phases=[Phase.explicit, Phase.generate],  # report the first failure; no shrinking needed here
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def recovery_skips_the_crc(monkeypatch: pytest.MonkeyPatch) -> None:
    def header_only(buf: bytes | bytearray | memoryview, pos: int = 0) -> BatchHeader:
        return parse_header(buf, pos)

    monkeypatch.setattr(segment_module, "verify_crc", header_only)


def flush_without_fsync(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(LogSegment, "flush", lambda self: None)


def truncation_forgets_the_epoch_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(log_module.LeaderEpochCache, "truncate_from_end", lambda self, end_offset: None)


def truncation_keeps_the_recovery_point(monkeypatch: pytest.MonkeyPatch) -> None:
    original = Log.truncate_to

    def truncate(self: Log, offset: int) -> bool:
        point = self._recovery_point
        changed = original(self, offset)
        self._recovery_point = point
        return changed

    monkeypatch.setattr(log_module.Log, "truncate_to", truncate)


MUTANTS = {
    "recovery skips the CRC check": recovery_skips_the_crc,
    "flush advances the recovery point without fsync": flush_without_fsync,
    "truncation forgets the leader-epoch cache": truncation_forgets_the_epoch_cache,
    "truncation leaves the recovery point above the new end": truncation_keeps_the_recovery_point,
}


@pytest.mark.req("LOG-21", "PRJ-2")
@pytest.mark.parametrize("mutant", sorted(MUTANTS))
def test_the_log_state_machine_catches(mutant: str, monkeypatch: pytest.MonkeyPatch) -> None:
    MUTANTS[mutant](monkeypatch)
    with pytest.raises((AssertionError, CorruptRecordError, Failed)):
        run_state_machine_as_test(LogMachine, settings=MUTANT_SETTINGS)
