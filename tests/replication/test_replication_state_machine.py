"""Hypothesis state machine over the sans-IO replication core and the controller (REP-13).

Three replicas of one partition (``MemoryLog`` each), the real :class:`Controller`, and a network
the test controls: fetch requests and responses are messages the machine delivers, drops,
duplicates or reorders; metadata reaches each broker only when the machine propagates it (so a
deposed leader can keep believing it leads). Brokers are killed (page cache kept), lose power
(unflushed suffix lost), flush, and restart with a new incarnation. Time passes: heartbeats,
session expiry and ``replica.lag.time.max.ms``.

Invariants after every step:

* the controller's own invariants; the controller's leader is in its ISR;
* StrongIsr: every running member of the controller's ISR holds, below the current leader's HW,
  exactly the leader's batches;
* LogMatching: below both of their HWs, any two running replicas hold the same batch bytes;
* a leader's HW never decreases while it leads in one epoch; a committed offset never changes content,
  and when it first becomes committed at least ``min.insync.replicas`` replicas hold it;
* durability, the guarantee of specs/replication.md as :class:`faults.guarantee.Guarantee` states it:
  while the premise protects a committed batch (REP-27) no holder loses it (REP-28); a holder that
  loses power keeps protecting only what it had flushed;
* every running ISR member holds every protected committed batch the leader holds (a replica joins
  the ISR only past the leader epoch's start offset: KAFKA-7128).

Two compound rules replay schedules behind real Kafka bugs: a leader failing while a lagging
replica catches up (KAFKA-7128), and a follower's fetch read by the leader after the follower
restarted (KIP-903).

At the end, every fault is healed and time passes: the partition must converge (every replica
byte-identical to the leader, all back in the ISR) unless it has no eligible leader left.

Failures print a replayable step list and a ``@reproduce_failure`` blob; the ``ci`` profile is
derandomized (same examples every run).
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from hypothesis import event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from faults.guarantee import Guarantee
from reflog.errors import Errors
from reflog.records import Record, build_batch
from reflog.replication.controller import Controller
from reflog.replication.controller_config import ControllerConfig
from reflog.replication.controller_values import DuplicateBrokerRegistrationError
from reflog.replication.messages import FetchRequest, FetchResponse
from reflog.replication.partition import Partition, PartitionConfig, Role
from reflog.replication.replica_log import MemoryLog
from reflog.vocabulary import TopicPartition

TP = TopicPartition("t", 0)
BROKERS = (1, 2, 3)


@dataclass
class Message:
    """A fetch request (to the leader) or response (to the follower) in flight."""

    follower: int
    leader: int
    request: FetchRequest
    response: FetchResponse | None = None
    incarnation: int = 0
    """The follower's incarnation that sent the request; a response reaches only that one."""


@dataclass
class Pending:
    leader: int
    incarnation: int
    leader_epoch: int
    required_offset: int


class ReplicationMachine(RuleBasedStateMachine):
    """See the module docstring."""

    legacy_truncation = False

    @initialize(min_isr=st.sampled_from([1, 2, 2]))
    def setup(self, min_isr: int) -> None:
        self.now = 0.0
        self.controller = Controller(ControllerConfig(min_insync_replicas=min_isr))
        self.config = PartitionConfig(
            min_insync_replicas=min_isr, legacy_truncate_to_high_watermark=self.legacy_truncation
        )
        self.logs = {b: MemoryLog() for b in BROKERS}
        self.incarnation = dict.fromkeys(BROKERS, 0)
        self.broker_epoch: dict[int, int] = {}
        self.alive = dict.fromkeys(BROKERS, True)
        for b in BROKERS:
            self.broker_epoch[b] = self.controller.register_broker(
                b, f"{b}-0", clean_shutdown=True, now=0
            ).broker_epoch
            self.controller.heartbeat(b, self.broker_epoch[b], 0)
        self.controller.create_topic(TP.topic, 1, 3, now=0)
        self.partitions = {b: Partition(TP, b, self.logs[b], self.config) for b in BROKERS}
        for b in BROKERS:
            self.propagate(b)
        self.inflight: list[Message] = []
        self.pending: list[Pending] = []
        self.guarantee = Guarantee()
        self.hw_seen: dict[tuple[int, int, int], int] = {}
        self.value = 0
        self.acknowledged = 0
        self.shut_down_cleanly: set[int] = set()
        self.ever_held: dict[tuple[int, bytes], set[int]] = {}

    # ------------------------------------------------------------------ helpers
    def propagate(self, broker: int) -> None:
        metadata = self.controller.metadata_for_broker(broker)
        self.partitions[broker].apply_metadata(
            self.controller.partition(*TP), self.now, metadata.broker_epochs
        )

    def leaders(self) -> list[int]:
        return [b for b in BROKERS if self.alive[b] and self.partitions[b].role is Role.LEADER]

    def settle_produces(self) -> None:
        still = []
        for p in self.pending:
            partition = self.partitions[p.leader]
            if not self.alive[p.leader] or self.incarnation[p.leader] != p.incarnation:
                event("acks=all produce indeterminate: its leader died")
                continue
            if partition.leader_epoch != p.leader_epoch:
                event("acks=all produce indeterminate: leadership moved")
                continue
            status = partition.produce_status(p.required_offset)
            if status is None:
                still.append(p)
            elif status is Errors.NONE:
                event("acks=all produce acknowledged")
                self.acknowledged += 1
                assert partition.high_watermark >= p.required_offset
        self.pending = still

    def batches_below(self, broker: int, end: int) -> dict[int, bytes]:
        log = self.logs[broker]
        return {h.base_offset: raw for raw, h in log.batches if h.next_offset <= end}

    def holds(self, broker: int, offset: int, data: bytes) -> bool:
        return self.logs[broker].batch_at(offset) == data

    def forget_messages_of(self, broker: int) -> None:
        """``broker`` stopped: its connections close, but a request it already sent to a live
        leader may still be read and served there (KIP-903's stale fetch)."""
        self.inflight = [
            m
            for m in self.inflight
            if broker not in (m.follower, m.leader)
            or (m.follower == broker and m.response is None and m.leader != broker)
        ]

    # ------------------------------------------------------------------ rules: clients
    @rule(acks=st.sampled_from([-1, -1, 1]), data=st.data())
    def produce(self, acks: int, data: st.DataObject) -> None:
        leaders = self.leaders()
        if not leaders:
            return
        broker = data.draw(st.sampled_from(leaders))
        self.value += 1
        result = self.partitions[broker].append_records(
            build_batch([Record(key=None, value=b"v%d" % self.value)]), acks, self.now
        )
        if result.error is None:
            self.pending.append(
                Pending(
                    broker,
                    self.incarnation[broker],
                    self.partitions[broker].leader_epoch,
                    result.required_offset,
                )
            )
        elif result.error is Errors.NOT_ENOUGH_REPLICAS:
            event("NOT_ENOUGH_REPLICAS before the append")

    @rule(acks=st.sampled_from([-1, 1]), count=st.integers(1, 4))
    def produce_and_replicate(self, acks: int, count: int) -> None:
        """Produce to the controller's leader, then let two healthy fetch rounds run."""
        leader = self.current_leader()
        if leader is None:
            return
        for _ in range(count):
            self.value += 1
            result = leader.append_records(
                build_batch([Record(key=None, value=b"v%d" % self.value)]), acks, self.now
            )
            if result.error is None:
                self.pending.append(
                    Pending(
                        leader.broker_id,
                        self.incarnation[leader.broker_id],
                        leader.leader_epoch,
                        result.required_offset,
                    )
                )
        self.replicate(2)

    # ------------------------------------------------------------------ rules: replication traffic
    @rule(follower=st.sampled_from(BROKERS))
    def send_fetch(self, follower: int) -> None:
        partition = self.partitions[follower]
        if not self.alive[follower] or partition.role is not Role.FOLLOWER or len(self.inflight) > 12:
            return
        request = partition.fetch_request(self.broker_epoch[follower])
        assert request is not None
        self.inflight.append(
            Message(follower, partition.leader_id, request, None, self.incarnation[follower])
        )

    @rule(rounds=st.integers(1, 3))
    def replicate(self, rounds: int) -> None:
        """Healthy rounds: every running follower fetches and gets its answer at once."""
        for _ in range(rounds):
            for follower in BROKERS:
                partition = self.partitions[follower]
                if not self.alive[follower] or partition.role is not Role.FOLLOWER:
                    continue
                if not self.alive[partition.leader_id]:
                    continue
                request = partition.fetch_request(self.broker_epoch[follower])
                assert request is not None
                response = self.partitions[partition.leader_id].handle_fetch(request, self.now)
                if partition.handle_fetch_response(request, response).truncated_to is not None:
                    event("follower truncated on proof of divergence")

    @precondition(lambda self: self.inflight)
    @rule(data=st.data())
    def deliver(self, data: st.DataObject) -> None:
        message = self.inflight.pop(data.draw(st.integers(0, len(self.inflight) - 1)))
        if message.response is None:
            if self.alive[message.leader]:
                message.response = self.partitions[message.leader].handle_fetch(message.request, self.now)
                self.inflight.append(message)
        elif self.alive[message.follower] and self.incarnation[message.follower] == message.incarnation:
            outcome = self.partitions[message.follower].handle_fetch_response(
                message.request, message.response
            )
            if outcome.truncated_to is not None:
                event("follower truncated on proof of divergence")

    @precondition(lambda self: self.inflight)
    @rule(data=st.data())
    def drop(self, data: st.DataObject) -> None:
        self.inflight.pop(data.draw(st.integers(0, len(self.inflight) - 1)))

    @precondition(lambda self: self.inflight and len(self.inflight) < 12)
    @rule(data=st.data())
    def duplicate(self, data: st.DataObject) -> None:
        original = self.inflight[data.draw(st.integers(0, len(self.inflight) - 1))]
        self.inflight.append(
            Message(
                original.follower, original.leader, original.request, original.response, original.incarnation
            )
        )

    @rule(broker=st.sampled_from(BROKERS))
    def propagate_metadata(self, broker: int) -> None:
        if self.alive[broker]:
            self.propagate(broker)

    @rule(broker=st.sampled_from(BROKERS))
    def isr_change(self, broker: int) -> None:
        partition = self.partitions[broker]
        if not self.alive[broker]:
            return
        request = (
            partition.isr_shrink(self.now)
            or partition.isr_expansion(self.now)
            or partition.recovered_request()
        )
        if request is None:
            return
        response = self.controller.alter_partition(request, self.now)
        event(f"AlterPartition answered {response.error.name}")
        partition.on_alter_partition_response(response, self.now)

    # ------------------------------------------------------------------ rules: time and failures
    @rule(seconds=st.sampled_from([1.0, 5.0, 31.0]))
    def time_passes(self, seconds: float) -> None:
        self.now += seconds
        for b in BROKERS:
            if self.alive[b]:
                self.controller.heartbeat(b, self.broker_epoch[b], self.now)
        if self.controller.tick(self.now):
            event("controller fenced a broker")

    @rule(broker=st.sampled_from(BROKERS))
    def flush(self, broker: int) -> None:
        if self.alive[broker]:
            self.logs[broker].flush()

    @rule(broker=st.sampled_from(BROKERS))
    def kill(self, broker: int) -> None:
        if self.alive[broker]:
            self.alive[broker] = False
            self.forget_messages_of(broker)

    @rule(broker=st.sampled_from(BROKERS))
    def power_loss(self, broker: int) -> None:
        if sum(self.alive.values()) == 0:
            return
        self.alive[broker] = False
        self.shut_down_cleanly.discard(broker)
        self.forget_messages_of(broker)
        self.guarantee.power_lost(broker, guaranteed_below=self.logs[broker].flushed_offset)
        self.logs[broker].lose_power()

    @rule(broker=st.sampled_from(BROKERS))
    def clean_shutdown(self, broker: int) -> None:
        """Controlled shutdown: leadership moves away, the log is flushed, the marker written."""
        if not self.alive[broker]:
            return
        self.controller.controlled_shutdown(broker, self.broker_epoch[broker], self.now)
        self.logs[broker].flush()
        self.alive[broker] = False
        self.shut_down_cleanly.add(broker)
        self.forget_messages_of(broker)

    @rule(broker=st.sampled_from(BROKERS))
    def restart(self, broker: int) -> None:
        if self.alive[broker]:
            return
        self.incarnation[broker] += 1
        try:
            registration = self.controller.register_broker(
                broker,
                f"{broker}-{self.incarnation[broker]}",
                clean_shutdown=broker in self.shut_down_cleanly,
                now=self.now,
            )
        except DuplicateBrokerRegistrationError:
            self.incarnation[broker] -= 1  # its old session has not expired yet: try later
            return
        self.shut_down_cleanly.discard(broker)
        self.broker_epoch[broker] = registration.broker_epoch
        self.controller.heartbeat(broker, registration.broker_epoch, self.now)
        self.alive[broker] = True
        self.partitions[broker] = Partition(TP, broker, self.logs[broker], self.config)
        self.propagate(broker)

    @rule(how=st.sampled_from(["kill", "power_loss", "clean"]), unreplicated=st.integers(0, 3))
    def bounce_leader(self, how: str, unreplicated: int) -> None:
        """The leader takes ``unreplicated`` acks=1 writes, stops, is replaced, and comes back."""
        leader = self.current_leader()
        if leader is None:
            return
        broker = leader.broker_id
        for _ in range(unreplicated):
            self.value += 1
            leader.append_records(build_batch([Record(key=None, value=b"v%d" % self.value)]), 1, self.now)
        {"kill": self.kill, "power_loss": self.power_loss, "clean": self.clean_shutdown}[how](broker)
        self.time_passes(31.0)
        self.restart(broker)
        for b in BROKERS:
            self.propagate_metadata(b)
        self.replicate(2)

    def fetch_round(self, followers: tuple[int, ...]) -> None:
        """One healthy fetch by each of ``followers`` that runs and follows a running leader."""
        for follower in followers:
            partition = self.partitions[follower]
            if not self.alive[follower] or partition.role is not Role.FOLLOWER:
                continue
            if not self.alive[partition.leader_id]:
                continue
            request = partition.fetch_request(self.broker_epoch[follower])
            assert request is not None
            response = self.partitions[partition.leader_id].handle_fetch(request, self.now)
            partition.handle_fetch_response(request, response)

    @rule(
        lagging=st.sampled_from(BROKERS),
        count=st.integers(1, 3),
        how=st.sampled_from(["kill", "power_loss"]),
    )
    def leader_fails_while_a_replica_catches_up(self, lagging: int, count: int, how: str) -> None:
        """KAFKA-7128's schedule: a replica out of the ISR catches up part way, the leader fails,
        and the new leader (whose HW lags the old one's) sees the replica fetch from its HW."""
        leader = self.current_leader()
        if leader is None or lagging == leader.broker_id:
            return
        others = tuple(b for b in BROKERS if b not in (leader.broker_id, lagging))
        self.fetch_round(others)
        self.time_passes(31.0)  # the lagging replica has not fetched for replica.lag.time.max.ms
        self.fetch_round(others)
        self.isr_change(leader.broker_id)
        self.produce_to(leader, count)
        self.fetch_round(others)
        self.fetch_round(others)
        self.fetch_round((lagging,))  # it catches up to here, and no further
        self.produce_to(leader, count)
        self.fetch_round(others)
        self.fetch_round(others)  # the leader's HW passes the second batch; the followers' lags
        self.settle_produces()
        self.committed_records_survive()
        {"kill": self.kill, "power_loss": self.power_loss}[how](leader.broker_id)
        self.time_passes(31.0)  # the controller fences it and elects from the ISR
        for b in BROKERS:
            self.propagate_metadata(b)
        new_leader = self.current_leader()
        partition = self.partitions[lagging]
        if new_leader is None or not self.alive[lagging] or partition.role is not Role.FOLLOWER:
            return
        request = partition.fetch_request(self.broker_epoch[lagging])
        assert request is not None
        new_leader.handle_fetch(request, self.now)  # its answer is still on the wire
        self.isr_change(new_leader.broker_id)

    @rule(follower=st.sampled_from(BROKERS), how=st.sampled_from(["kill", "power_loss"]))
    def follower_restarts_with_a_fetch_on_the_wire(self, follower: int, how: str) -> None:
        """KIP-903's schedule: a follower's fetch is still queued at the leader when the follower
        fails; it restarts (maybe with less data) and the leader reads the old fetch afterwards."""
        leader = self.current_leader()
        partition = self.partitions[follower]
        if leader is None or not self.alive[follower] or partition.role is not Role.FOLLOWER:
            return
        self.produce_to(leader, 2)
        self.replicate(2)
        self.committed_records_survive()  # note who holds what before the failure
        request = partition.fetch_request(self.broker_epoch[follower])
        assert request is not None
        {"kill": self.kill, "power_loss": self.power_loss}[how](follower)
        self.time_passes(31.0)
        self.restart(follower)
        for b in BROKERS:
            self.propagate_metadata(b)
        leader = self.current_leader()
        if leader is None or not self.alive[follower]:
            return
        leader.handle_fetch(request, self.now)  # the stale fetch, read after the restart
        self.isr_change(leader.broker_id)

    def produce_to(self, leader: Partition, count: int) -> None:
        for _ in range(count):
            self.value += 1
            result = leader.append_records(
                build_batch([Record(key=None, value=b"v%d" % self.value)]), -1, self.now
            )
            if result.error is None:
                self.pending.append(
                    Pending(
                        leader.broker_id,
                        self.incarnation[leader.broker_id],
                        leader.leader_epoch,
                        result.required_offset,
                    )
                )

    # ------------------------------------------------------------------ liveness
    def teardown(self) -> None:
        """Heal every fault, let time pass, and check the partition converges (when it has a leader)."""
        if not hasattr(self, "controller"):
            return
        self.inflight.clear()
        for _ in range(3):
            self.time_passes(31.0)
            for b in BROKERS:
                self.restart(b)
        for _ in range(8):
            for b in BROKERS:
                self.propagate_metadata(b)
            self.replicate(3)
            for b in BROKERS:
                self.isr_change(b)
            self.time_passes(1.0)
        leader = self.current_leader()
        if leader is None:
            event("after healing the partition has no leader (every eligible replica was lost)")
            return
        expected = self.batches_below(leader.broker_id, leader.log_end_offset)
        for b in BROKERS:
            assert self.alive[b], f"broker {b} could not restart"
            assert self.batches_below(b, leader.log_end_offset) == expected, f"broker {b} did not converge"
            assert self.logs[b].log_end_offset == leader.log_end_offset
        assert set(self.controller.partition(*TP).isr) == set(BROKERS), "the ISR did not recover"
        event("converged after healing")

    # ------------------------------------------------------------------ invariants
    @invariant()
    def settle(self) -> None:
        self.settle_produces()

    @invariant()
    def controller_is_consistent(self) -> None:
        assert self.controller.invariant_violations() == ()
        md = self.controller.partition(*TP)
        if md.leader >= 0:
            assert md.leader in md.isr, "the leader is in the ISR"

    def current_leader(self) -> Partition | None:
        md = self.controller.partition(*TP)
        if md.leader < 0 or not self.alive[md.leader]:
            return None
        partition = self.partitions[md.leader]
        if partition.role is not Role.LEADER or partition.leader_epoch != md.leader_epoch:
            return None
        return partition

    @invariant()
    def strong_isr(self) -> None:
        """Every running ISR member holds the leader's batches below the HW, and every committed
        batch the leader holds (a replica joins the ISR only past the epoch's start: KAFKA-7128)."""
        leader = self.current_leader()
        if leader is None:
            return
        expected = self.batches_below(leader.broker_id, leader.high_watermark)
        committed = {
            offset: record.content
            for offset, record in self.guarantee.records.items()
            if self.guarantee.protected(record) and self.holds(leader.broker_id, offset, record.content)
        }
        for member in self.controller.partition(*TP).isr:
            if self.alive[member]:
                got = self.batches_below(member, leader.high_watermark)
                assert got == expected, (
                    f"ISR member {member} differs from leader {leader.broker_id} below the HW"
                )
                missing = sorted(o for o, data in committed.items() if not self.holds(member, o, data))
                assert not missing, f"ISR member {member} lacks committed offsets {missing}"

    @invariant()
    def log_matching(self) -> None:
        running = [b for b in BROKERS if self.alive[b]]
        for i, a in enumerate(running):
            for b in running[i + 1 :]:
                end = min(self.partitions[a].high_watermark, self.partitions[b].high_watermark)
                assert self.batches_below(a, end) == self.batches_below(b, end), (
                    f"replicas {a} and {b} diverge"
                )

    @invariant()
    def leader_high_watermark_is_monotonic(self) -> None:
        for b in self.leaders():
            p = self.partitions[b]
            key = (b, self.incarnation[b], p.leader_epoch)
            assert p.high_watermark >= self.hw_seen.get(key, 0), "the leader's HW went down"
            self.hw_seen[key] = p.high_watermark
            assert p.high_watermark <= p.log_end_offset

    def replica_logs(self) -> dict[int, dict[int, bytes]]:
        """Every replica's batches by base offset (a stopped broker's log is what it will recover)."""
        return {b: {h.base_offset: raw for raw, h in self.logs[b].batches} for b in BROKERS}

    @invariant()
    def committed_records_survive(self) -> None:
        """REP-28 under REP-27, through :class:`faults.guarantee.Guarantee`."""
        for b in BROKERS:
            for raw, header in self.logs[b].batches:
                self.ever_held.setdefault((header.base_offset, raw), set()).add(b)
        logs = self.replica_logs()
        leader = self.current_leader()
        if leader is not None:
            for offset, data in self.batches_below(leader.broker_id, leader.high_watermark).items():
                if offset not in self.guarantee.records:
                    # KIP-966 / 3.7: a batch becomes committed only once min.insync.replicas held it
                    # (one may have lost power since it reported its LEO: the leader cannot know).
                    holders = self.ever_held.get((offset, data), set())
                    assert len(holders) >= leader.effective_min_isr, (
                        f"offset {offset} committed on {sorted(holders)}, below min.insync.replicas"
                    )
                record = self.guarantee.commit(
                    offset, data, (b for b in BROKERS if logs[b].get(offset) == data)
                )
                if self.guarantee.protected(record):
                    assert record.content == data, f"committed offset {offset} changed content"
        self.guarantee.observe(logs)
        violations = self.guarantee.violations(logs)
        assert not violations, violations


# At least 500 examples under the ci profile (five times the profile's count: 50,000 under deep).
ReplicationMachine.TestCase.settings = settings(
    ReplicationMachine.TestCase.settings,
    stateful_step_count=80,
    max_examples=settings.default.max_examples * 5,
)
TestReplicationStateMachine = pytest.mark.req("REP-13", "REP-27", "REP-28")(ReplicationMachine.TestCase)
