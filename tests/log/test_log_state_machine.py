"""The log over simulated storage, against a simple model, under crashes and power loss (LOG-21).

The model is the list of batches the log has acknowledged (offsets and values), plus the
offset below which they were fsynced. Rules append, read, flush, roll, truncate, apply
retention, let time pass (write-back happens), crash the process, cut the power in each of
the three modes, and recover. Properties:

* after a process crash nothing visible is lost (the log equals the model);
* after power loss the recovered log is a prefix of the model and holds every fsynced batch;
* every batch the log serves passes its CRC and offsets strictly increase, contiguously;
* recovering twice (with a crash in the middle of the first recovery, or after it) gives
  the same log as recovering once.

Replay a failure with the ``@reproduce_failure`` blob Hypothesis prints, or rerun
``pytest tests/log/test_log_state_machine.py --hypothesis-profile=ci`` (derandomized).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import pytest
from hypothesis import event
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from faults.storage_oracle import batch_map, guaranteed_end
from reflog.clock import ManualClock
from reflog.errors import CorruptRecordError
from reflog.log import LONG_MAX, Log, LogConfig, LogManager, TopicPartition
from reflog.records import verify_crc
from reflog.storage.sim import PowerLossMode, SimFilesystem, SimulatedCrash, WritebackPolicy
from tests.log.helpers import batch, values_of

TP = TopicPartition("t", 0)
VALUES = st.lists(st.binary(min_size=0, max_size=300), min_size=1, max_size=3)


@dataclass(frozen=True)
class ModelBatch:
    base_offset: int
    values: tuple[bytes, ...]

    @property
    def next_offset(self) -> int:
        return self.base_offset + len(self.values)


def log_contents(log: Log) -> list[tuple[int, tuple[bytes | None, ...]]]:
    """Every batch the log serves, as (base offset, values), checking CRC and contiguity."""
    out: list[tuple[int, tuple[bytes | None, ...]]] = []
    expected = log.log_start_offset
    for raw in log.iter_batches():
        header = verify_crc(raw)
        assert header.base_offset == expected, "offsets must be contiguous and strictly increasing"
        expected = header.next_offset
        out.append((header.base_offset, tuple(values_of(raw))))
    assert expected == log.log_end_offset
    return out


def segment_bytes_of(fs: SimFilesystem, log: Log) -> list[tuple[str, bytes]]:
    return [(s.log_path, fs.visible_bytes(s.log_path)) for s in log.segments]


class LogMachine(RuleBasedStateMachine):
    """One partition log on a SimFilesystem; see the module docstring."""

    @initialize(
        seed=st.integers(0, 2**32 - 1),
        segment_bytes=st.sampled_from([3000, 20_000, 1 << 20]),
        flush_messages=st.sampled_from([LONG_MAX, LONG_MAX, LONG_MAX, 8]),
        index_interval=st.sampled_from([1, 300, 4096]),
        retention_bytes=st.sampled_from([-1, -1, 30_000]),
    )
    def setup(
        self, seed: int, segment_bytes: int, flush_messages: int, index_interval: int, retention_bytes: int
    ) -> None:
        self.clock = ManualClock(start=1_000.0)
        policy = WritebackPolicy(memory_bytes=256 * 1024)
        self.fs = SimFilesystem(clock=self.clock, seed=seed, policy=policy)
        self.config = LogConfig(
            segment_bytes=segment_bytes,
            flush_messages=flush_messages,
            index_interval_bytes=index_interval,
            retention_bytes=retention_bytes,
        )
        self.manager = LogManager(self.fs, "data", self.clock, default_config=self.config)
        self.manager.startup()
        self.log = self.manager.create_log(TP.topic, TP.partition)
        self.batches: list[ModelBatch] = []
        self.durable_end = 0  # every offset below this was fsynced
        self.epoch = 0

    # ------------------------------------------------------------------ helpers
    @property
    def model_end(self) -> int:
        return self.batches[-1].next_offset if self.batches else self.log.log_start_offset

    def recovered_log(self, fs: SimFilesystem) -> Log:
        manager = LogManager(fs, "data", self.clock, default_config=self.config)
        manager.startup()
        return manager.logs[TP]

    def reopen(self) -> LogManager:
        manager = LogManager(self.fs, "data", self.clock, default_config=self.config)
        manager.startup()
        return manager

    def adopt(self, manager: LogManager) -> None:
        self.manager = manager
        self.log = manager.logs[TP]

    def check_matches_model(self) -> None:
        served = log_contents(self.log)
        assert served == [(b.base_offset, b.values) for b in self.batches]

    def lose_power(self, mode: PowerLossMode, *, worst_case: bool = False) -> None:
        positions = batch_map(self.log)
        if worst_case:  # every unsynced page lands, torn; every pending size change lands
            report = self.fs.power_loss(
                mode, survival_probability=1.0, torn_probability=1.0, size_probability=1.0
            )
        else:
            report = self.fs.power_loss(mode)
        self.must_survive_below = guaranteed_end(self.durable_end, positions, report)
        if self.must_survive_below < self.durable_end:
            event("a torn write destroyed bytes that were already durable")

    def check_prefix_after_power_loss(self) -> None:
        served = log_contents(self.log)
        expected = [(b.base_offset, b.values) for b in self.batches]
        assert served == expected[: len(served)], "recovered log must be a prefix of what was appended"
        assert self.log.log_end_offset >= self.must_survive_below, "a fsynced batch was lost"
        kept = "all" if len(served) == len(self.batches) else "a strict prefix"
        event(f"power loss kept {kept} of the batches")
        self.batches = self.batches[: len(served)]
        self.durable_end = self.log.log_end_offset  # recovery fsyncs what it kept

    # ------------------------------------------------------------------ rules
    @rule(values=VALUES)
    def append(self, values: list[bytes]) -> None:
        ts = int(self.clock.now() * 1000)
        info = self.log.append_as_leader(batch(values, timestamp=ts), leader_epoch=self.epoch)
        assert info.first_offset == self.model_end
        self.batches.append(ModelBatch(info.first_offset, tuple(values)))
        self.durable_end = max(self.durable_end, self.log.recovery_point)

    @rule(count=st.integers(1, 25), size=st.integers(0, 2500))
    def append_many(self, count: int, size: int) -> None:
        """Several batches in a row (so unflushed data spans pages), values derived from their offsets."""
        for _ in range(count):
            value = (b"%08d" % self.model_end) * (size // 8 + 1)
            self.append([value[:size]])

    @rule()
    def new_leader_epoch(self) -> None:
        self.epoch += 1

    @precondition(lambda self: self.batches)
    @rule(data=st.data(), max_bytes=st.sampled_from([1, 500, 1 << 20]))
    def read(self, data: st.DataObject, max_bytes: int) -> None:
        offset = data.draw(st.integers(self.log.log_start_offset, self.log.log_end_offset - 1))
        fetched = self.log.read(offset, max_bytes)
        assert fetched.records is not None
        first = next(i for i, b in enumerate(self.batches) if b.next_offset > offset)
        got = values_of(fetched.records)
        expected = [v for b in self.batches[first:] for v in b.values]
        assert got == expected[: len(got)] and got

    @rule()
    def flush(self) -> None:
        self.log.flush()
        self.durable_end = self.log.log_end_offset

    @rule()
    def roll(self) -> None:
        self.log.roll()
        self.durable_end = max(self.durable_end, self.log.recovery_point)

    @precondition(lambda self: self.batches)
    @rule(data=st.data())
    def truncate(self, data: st.DataObject) -> None:
        keep = data.draw(st.integers(0, len(self.batches) - 1))
        offset = self.batches[keep].base_offset
        self.log.truncate_to(offset)
        self.batches = self.batches[:keep]
        self.durable_end = min(self.durable_end, offset)

    @rule()
    def apply_retention(self) -> None:
        self.log.delete_retention_segments()
        self.batches = [b for b in self.batches if b.base_offset >= self.log.log_start_offset]

    @rule(seconds=st.sampled_from([1.0, 6.0, 31.0]))
    def time_passes(self, seconds: float) -> None:
        self.clock.advance(seconds)
        self.fs.writeback_tick()
        self.manager.tick()

    @rule()
    def checkpoint(self) -> None:
        self.manager.checkpoint_recovery_points()

    @rule()
    def process_crash(self) -> None:
        self.fs.crash_process()
        self.adopt(self.reopen())
        self.check_matches_model()

    @rule()
    def clean_restart(self) -> None:
        self.manager.shutdown()
        self.adopt(self.reopen())
        self.check_matches_model()
        self.durable_end = self.log.log_end_offset

    @rule(mode=st.sampled_from(list(PowerLossMode)))
    def power_loss(self, mode: PowerLossMode) -> None:
        self.lose_power(mode)
        self.adopt(self.reopen())
        self.check_prefix_after_power_loss()

    @rule()
    def power_loss_tearing_every_unsynced_page(self) -> None:
        """The worst torn tail: every page not yet fsynced lands, each torn at sector boundaries."""
        self.lose_power(PowerLossMode.TORN, worst_case=True)
        self.adopt(self.reopen())
        self.check_prefix_after_power_loss()

    @rule(
        mode=st.sampled_from(list(PowerLossMode)),
        op=st.sampled_from(["truncate", "fsync", "delete", "pwrite"]),
        occurrence=st.integers(1, 3),
        then_power_loss=st.booleans(),
    )
    def crash_during_recovery(
        self, mode: PowerLossMode, op: str, occurrence: int, then_power_loss: bool
    ) -> None:
        self.lose_power(mode)
        reference = copy.deepcopy(self.fs)
        expected = segment_bytes_of(reference, self.recovered_log(reference))
        self.fs.faults.crash_at(op, "data/*", occurrence=occurrence)
        try:
            self.reopen()
            event("recovery finished before the crash point")
        except SimulatedCrash:
            event(f"recovery crashed at {op}")
        self.fs.faults.clear()
        if then_power_loss:
            self.fs.power_loss(mode)
        else:
            self.fs.crash_process()
        self.adopt(self.reopen())
        assert segment_bytes_of(self.fs, self.log) == expected, "recovery is not idempotent"
        self.check_prefix_after_power_loss()

    # ------------------------------------------------------------------ invariants
    @invariant()
    def served_batches_match_the_model(self) -> None:
        try:
            self.check_matches_model()
        except CorruptRecordError as exc:  # pragma: no cover - a failure, reported clearly
            pytest.fail(f"the log served a corrupt batch: {exc}")

    @invariant()
    def epoch_cache_matches_the_batches(self) -> None:
        derived: list[tuple[int, int]] = []
        for raw in self.log.iter_batches():
            header = verify_crc(raw)
            if header.partition_leader_epoch >= 0 and (
                not derived or header.partition_leader_epoch > derived[-1][0]
            ):
                derived.append((header.partition_leader_epoch, header.base_offset))
        cached = [
            (e.epoch, e.start_offset) for e in self.log.epoch_cache.entries if e.start_offset < self.model_end
        ]
        assert cached == derived

    @invariant()
    def recovery_point_is_within_the_log(self) -> None:
        assert self.log.recovery_point <= self.log.log_end_offset


TestLogStateMachine = pytest.mark.req(
    "LOG-21", "LOG-13", "LOG-16", "LOG-18", "FLT-1", "FLT-2", "FLT-3", "FLT-16"
)(LogMachine.TestCase)
