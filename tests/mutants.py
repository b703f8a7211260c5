"""Deliberate bugs for mutation proofs, shared by the state-machine tests.

Each mutant is a function that switches one bug on through ``monkeypatch`` (so it is undone when
the test ends); a mutation test runs a state machine with it and asserts that the machine fails.
The bugs break the rules reflog exists to demonstrate: truncation, the high watermark, the ISR,
elections, fencing, recovery and flushing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs
import pytest

import reflog.log.segment as segment_module
import reflog.replication._controller_change as controller_change
from reflog.errors import Errors
from reflog.log.segment import LogSegment
from reflog.records import BatchHeader, parse_header
from reflog.replication.messages import FetchRequest, PartitionMetadata
from reflog.replication.partition import FollowerFetchOutcome, Partition, Role

Mutant = Callable[[pytest.MonkeyPatch], None]


def follower_truncates_to_its_high_watermark(monkeypatch: pytest.MonkeyPatch) -> None:
    """The pre-0.11 rule (KIP-101's bug): a follower cuts its log to its own HW on becoming one."""
    original = Partition.__init__

    def init(self: Partition, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        self.config = attrs.evolve(self.config, legacy_truncate_to_high_watermark=True)

    monkeypatch.setattr(Partition, "__init__", init)


def high_watermark_ignores_min_isr(monkeypatch: pytest.MonkeyPatch) -> None:
    """The HW advances even when the ISR is below ``min.insync.replicas``."""
    monkeypatch.setattr(Partition, "is_under_min_isr", property(lambda self: False))


def acknowledged_before_the_isr_has_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """The leader moves the HW to its own LEO, without waiting for the ISR."""

    def hw(self: Partition, now: float) -> bool:
        if self.role is Role.LEADER and self.log.log_end_offset > self._high_watermark:
            self._high_watermark = self.log.log_end_offset
            return True
        return False

    monkeypatch.setattr(Partition, "_maybe_increment_high_watermark", hw)


def follower_ignores_diverging_epoch(monkeypatch: pytest.MonkeyPatch) -> None:
    """A follower keeps its log when the leader reports a diverging epoch."""

    def keep_log(self: Partition, diverging: object) -> FollowerFetchOutcome:
        return FollowerFetchOutcome(Errors.NONE, 0, None, self.high_watermark)

    monkeypatch.setattr(Partition, "_truncate_on_divergence", keep_log)


def election_from_outside_the_isr(monkeypatch: pytest.MonkeyPatch) -> None:
    """The controller elects any live replica, in sync or not, without calling it unclean."""
    original = controller_change._elect

    def elect(
        partition: PartitionMetadata,
        election: Any,
        is_valid_new_leader: Callable[[int], bool],
        is_acceptable_leader: Callable[[int], bool],
    ) -> tuple[int, bool]:
        node, _ = original(partition, "unclean", is_acceptable_leader, is_acceptable_leader)
        return node, False

    monkeypatch.setattr(controller_change, "_elect", elect)


def recovery_skips_the_crc(monkeypatch: pytest.MonkeyPatch) -> None:
    """Recovery accepts any batch whose header parses, torn or not."""

    def header_only(buf: bytes | bytearray | memoryview, pos: int = 0) -> BatchHeader:
        return parse_header(buf, pos)

    monkeypatch.setattr(segment_module, "verify_crc", header_only)


def recovery_point_advances_without_fsync(monkeypatch: pytest.MonkeyPatch) -> None:
    """A flush moves the recovery point but never fsyncs the segment."""
    monkeypatch.setattr(LogSegment, "flush", lambda self: None)


def isr_expands_below_the_epoch_start(monkeypatch: pytest.MonkeyPatch) -> None:
    """A follower rejoins the ISR before reaching the leader's epoch start offset (KAFKA-7128)."""
    original = Partition.apply_metadata

    def apply(self: Partition, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        if self.role is Role.LEADER:
            self.leader_epoch_start_offset = 0

    monkeypatch.setattr(Partition, "apply_metadata", apply)


def fetch_from_a_stale_epoch_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    """The leader serves, and counts, a fetch sent in an older leader epoch or by an earlier
    incarnation of the follower (the fencing of KIP-320 and KIP-903 switched off)."""
    original = Partition.handle_fetch

    def handle(self: Partition, request: FetchRequest, now: float) -> Any:
        current = attrs.evolve(
            request,
            current_leader_epoch=max(request.current_leader_epoch, self.leader_epoch),
            replica_epoch=max(request.replica_epoch, self.broker_epochs.get(request.replica_id, -1)),
        )
        return original(self, current, now)

    monkeypatch.setattr(Partition, "handle_fetch", handle)


MUTANTS: dict[str, Mutant] = {
    "a follower truncates to its HW": follower_truncates_to_its_high_watermark,
    "the HW ignores min.insync.replicas": high_watermark_ignores_min_isr,
    "an ack before the ISR has the record": acknowledged_before_the_isr_has_it,
    "a follower ignores DivergingEpoch": follower_ignores_diverging_epoch,
    "election from outside the ISR": election_from_outside_the_isr,
    "recovery skips the CRC": recovery_skips_the_crc,
    "the recovery point advances before fsync": recovery_point_advances_without_fsync,
    "ISR expansion below the epoch's start offset": isr_expands_below_the_epoch_start,
    "a fetch from a stale epoch accepted": fetch_from_a_stale_epoch_accepted,
}
"""Every mutant by name."""

__all__ = ["MUTANTS", "Mutant"]
