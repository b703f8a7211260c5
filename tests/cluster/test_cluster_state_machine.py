"""The headline property end to end: Hypothesis drives the whole trio cluster (REP-27, REP-28, REP-29).

A :class:`~hypothesis.stateful.RuleBasedStateMachine` over 3 to 5 in-process brokers (simulated
storage, simulated network) hosted in a helper thread by :class:`tests.cluster.trio_host.TrioHost`.
Simulated time moves only in the ``advance`` rule. Rules produce (``acks`` 0, 1 or all, idempotent
or not), consume, let time pass, kill a broker, cut its power (clean, partial, torn), shut it down
cleanly, restart it, isolate it and heal, replace its disk, fsync its log, and inject disk faults.
Compound rules replay the schedules that matter most: the leader faulted right after a write
(while the followers' HWs may lag), a follower cut off until the ISR shrinks, and a torn power loss
under a few KiB of writes.

After every step the machine reads every live replica's log and checks, through
:class:`faults.guarantee.Guarantee`: no committed record is lost while the premise protects it
(REP-27, REP-28); when a record is first seen committed, at least ``min.insync.replicas`` replicas
hold it; below their high watermarks all live replicas hold the same records (log matching); the
leader's high watermark never decreases within a leader epoch; no record a consumer read vanishes
while protected; an idempotent producer's record appears once. The final phase heals every fault,
lets time pass and checks liveness: a leader, every protected record readable, replicas identical
below the high watermark.

Replay: a failure prints the shrunk steps and a ``@reproduce_failure`` blob; under ``--hypothesis-
profile=ci`` the run is derandomized, so ``pytest tests/cluster/test_cluster_state_machine.py
--hypothesis-profile=ci`` repeats it.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping
from functools import partial
from typing import Any

import pytest
import trio
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, initialize, invariant, multiple, rule

from faults.guarantee import Guarantee
from faults.storage_oracle import batch_map, guaranteed_end
from reflog.client import Consumer, Producer, SendStatus
from reflog.cluster import Cluster, open_cluster
from reflog.errors import CorruptRecordError, StorageError
from reflog.log import Log
from reflog.records import decode_batch
from reflog.replication import ControllerConfig
from reflog.replication.controller_events import LeaderElected
from reflog.replication.partition import Role
from reflog.storage.sim import PowerLossMode, SimFilesystem
from reflog.vocabulary import TopicPartition
from tests.cluster.trio_host import TrioHost

TOPIC = "t"
TP = TopicPartition(TOPIC, 0)
PRODUCERS = {  # name -> Kafka settings; idempotence needs acks=all
    "idempotent": {"acks": "all", "enable_idempotence": True},
    "acks-all": {"acks": "all", "enable_idempotence": False},
    "acks-1": {"acks": 1, "enable_idempotence": False},
    "acks-0": {"acks": 0, "enable_idempotence": False},
}


def replica_log(cluster: Cluster, broker: int) -> dict[int, object] | None:
    """``offset -> value`` of a live replica's log, or ``None`` when the broker is down.

    A batch that fails its CRC check ends the log there, and is reported as the value ``"CORRUPT"``.
    """
    handle = cluster.broker(broker)
    partition = handle.broker.partitions.get(TP) if handle.running else None
    if partition is None or partition.log.offline:  # an offline log serves nothing (REP-26)
        return None
    return log_contents(partition.log)


def recovered_log(cluster: Cluster, broker: int) -> dict[int, object] | None:
    """What ``broker`` recovered from its storage at startup, before it fetched anything."""
    manager = cluster.broker(broker).broker.manager
    log = manager.logs.get(TP) if manager is not None else None
    return None if log is None or log.offline else log_contents(log)


def log_contents(log: Log) -> dict[int, object]:
    """``offset -> value`` of ``log``; a batch failing its CRC check ends it as ``"CORRUPT"``."""
    records: dict[int, object] = {}
    batches = log.iter_batches()
    while True:
        try:
            raw = next(batches, None)
        except CorruptRecordError:
            records[max(records, default=-1) + 1] = "CORRUPT"
            return records
        if raw is None:
            return records
        for record in decode_batch(raw).records:
            assert record.offset is not None
            records[record.offset] = (record.value or b"").decode()


class ClusterMachine(RuleBasedStateMachine):
    """See the module docstring."""

    brokers = Bundle("brokers")
    acknowledged = Bundle("acknowledged")

    def __init__(self) -> None:
        super().__init__()
        self.host: TrioHost | None = None
        self.guarantee = Guarantee()
        self.hw_seen: dict[tuple[int, int], int] = {}
        self.sent = 0
        self.acked: dict[str, tuple[str, int]] = {}  # value -> (producer, offset)
        self.new_acks: list[str] = []
        self.consumed: dict[int, str] = {}
        self.faulted_since_observed = False
        self.live_at_last_check: dict[int, int] = {}
        """Broker -> incarnation of those whose log was readable at the last check: a broker gone,
        back or restarted since is an unseen change (a halt on an earlier disk fault, a restart
        completing in the background), and the min-ISR holder check skips that step."""
        self.seen_events = 0
        self.busy: set[int] = set()
        """Brokers with a stop or restart under way in the background."""

    # ------------------------------------------------------------------ setup
    @initialize(
        target=brokers,
        n=st.integers(3, 5),
        seed=st.integers(0, 2**16),
        min_isr=st.sampled_from([1, 2, 2]),
        flush_messages=st.sampled_from([None, None, 1]),
    )
    def setup(self, n: int, seed: int, min_isr: int, flush_messages: int | None) -> Any:
        self.n, self.min_isr = n, min_isr
        self.host = TrioHost()
        ready = trio.Event()
        configs: dict[str, object] = {"min.insync.replicas": min_isr}
        if flush_messages is not None:
            configs["flush.messages"] = flush_messages
        self.replication_factor = 3

        async def run_cluster() -> None:
            host = self.host
            assert host is not None
            async with open_cluster(
                brokers=n, seed=seed, controller_config=ControllerConfig(min_insync_replicas=min_isr)
            ) as cluster:
                await cluster.create_topic(TOPIC, replication_factor=self.replication_factor, configs=configs)
                await cluster.wait_for_leaders(TOPIC)
                self.cluster = cluster
                self.producers: dict[str, Producer] = {
                    name: cluster.producer(linger_ms=0, retries=3, **kafka)
                    for name, kafka in PRODUCERS.items()
                }
                self.consumer: Consumer = cluster.consumer()
                self.consumer.assign([TP])
                self.consumer.seek(TP, 0)
                ready.set()
                await trio.sleep_forever()

        async def start() -> None:
            assert self.host is not None and self.host._nursery is not None
            self.host._nursery.start_soon(run_cluster)
            self.host.clock.autojump_threshold = 0  # opening the cluster takes simulated time
            await ready.wait()
            self.host.clock.autojump_threshold = math.inf

        self.host.call(start)
        return multiple(*range(1, n + 1))

    def teardown(self) -> None:
        host = self.host
        if host is None:
            return
        try:
            if hasattr(self, "cluster"):
                self.final_phase()
        finally:
            host.close()

    # ------------------------------------------------------------------ helpers
    def _call(self, fn: Any, *args: Any) -> Any:
        assert self.host is not None
        return self.host.call(fn, *args)

    def _handle_running(self, broker: int) -> bool:
        return bool(self.cluster.broker(broker).running) and broker not in self.busy

    # ------------------------------------------------------------------ client rules
    @rule(producer=st.sampled_from(sorted(PRODUCERS)), count=st.integers(1, 4))
    def produce(self, producer: str, count: int) -> None:
        """Send ``count`` records; each send completes in the background (maybe much later)."""
        self._produce(producer, count)

    def _produce(self, producer: str, count: int, padding: int = 0) -> None:
        """``produce``, with ``padding`` bytes appended to each value (large batches span sectors)."""
        for _ in range(count):
            value = f"{producer}:{self.sent}" + ":" * min(padding, 1) + "x" * padding
            self.sent += 1

            async def send(value: str = value) -> None:
                result = await self.producers[producer].send(TOPIC, value.encode())
                if result.status is SendStatus.OK and PRODUCERS[producer]["acks"] == "all":
                    self.acked[value] = (producer, result.offset)
                    self.new_acks.append(value)

            assert self.host is not None
            self.host.spawn(send)

    @rule(target=acknowledged)
    def collect_acknowledged(self) -> Any:
        """Move records acknowledged with acks=all since the last collection into the bundle."""
        fresh, self.new_acks = self.new_acks, []
        return multiple(*fresh)

    @rule(value=acknowledged)
    def acknowledged_record_is_where_it_was_acknowledged(self, value: str) -> None:
        """An acks=all acknowledgement means committed: the leader's log holds it at that offset."""
        _, offset = self.acked[value]
        record = self.guarantee.records.get(offset)
        if record is not None and self.guarantee.protected(record):
            assert record.content == value, f"offset {offset} was acknowledged as {value!r}"

    @rule()
    def consume(self) -> None:
        """Poll once in the background; every record read is remembered with its offset."""

        async def poll() -> None:
            for record in await self.consumer.poll():
                self.consumed[record.offset] = (record.value or b"").decode()

        assert self.host is not None
        self.host.spawn(poll)

    @rule(seconds=st.sampled_from([0.1, 0.5, 2.0, 10.0, 31.0]))
    def advance(self, seconds: float) -> None:
        assert self.host is not None
        self.host.advance(seconds)

    # ------------------------------------------------------------------ faults
    @rule(broker=brokers)
    def kill(self, broker: int) -> None:
        """Process crash: the page cache survives."""
        if self._handle_running(broker):
            self._call(self.cluster.broker(broker).kill)
            self.faulted_since_observed = True

    @rule(broker=brokers, mode=st.sampled_from(list(PowerLossMode)))
    def power_loss(self, broker: int, mode: PowerLossMode) -> None:
        """The machine loses power: only what its storage guarantees is still counted as held."""
        self._power_loss(broker, mode)

    def _power_loss(self, broker: int, mode: PowerLossMode, probability: float = 0.5) -> None:
        """``power_loss`` where each unsynced page survives, and is torn, with ``probability``."""
        handle = self.cluster.broker(broker)
        if broker in self.busy:
            return
        manager = handle.broker.manager if handle.running else None
        log = manager.logs.get(TP) if manager is not None else None
        if log is not None and not log.offline:
            positions, durable = batch_map(log), log.recovery_point
        else:  # down, or offline: count nothing as guaranteed (conservative for the premise)
            positions, durable = {}, 0
        report = self._call(
            partial(
                handle.power_off,
                mode,
                survival_probability=probability,
                torn_probability=probability,
                size_probability=probability,
            )
        )
        fs = handle.fs
        assert isinstance(fs, SimFilesystem)
        guaranteed = guaranteed_end(durable, positions, report, fs.failed_writes)
        self.guarantee.power_lost(broker, guaranteed)
        self.faulted_since_observed = True

    @rule(broker=brokers)
    def clean_shutdown(self, broker: int) -> None:
        """Controlled shutdown, flush, clean-shutdown marker; it completes in the background."""
        handle = self.cluster.broker(broker)
        if handle.running and broker not in self.busy:
            self.busy.add(broker)

            async def stop() -> None:
                try:
                    await handle.stop()
                finally:
                    self.busy.discard(broker)

            assert self.host is not None
            self.host.spawn(stop)
            self.faulted_since_observed = True

    @rule(broker=brokers)
    def restart(self, broker: int) -> None:
        """Start a stopped broker; it registers in the background (an isolated one waits)."""
        handle = self.cluster.broker(broker)
        if not handle.running and broker not in self.busy:
            self.busy.add(broker)

            async def start() -> None:
                try:
                    await handle.restart()
                except StorageError:
                    return  # its disk fails during recovery: the broker does not come up (as in Kafka)
                finally:
                    self.busy.discard(broker)
                # What recovery kept, checked before the broker fetches: a holder whose storage
                # guaranteed a protected record must have recovered it (REP-28).
                recovered = recovered_log(self.cluster, broker)
                if recovered is not None:
                    violations = self.guarantee.violations({broker: recovered})
                    assert not violations, f"broker {broker} recovered without them: {violations}"

            assert self.host is not None
            self.host.spawn(start)

    @rule(broker=brokers)
    def isolate(self, broker: int) -> None:
        assert self.host is not None
        self.host.call_sync(self.cluster.network.isolate, f"broker-{broker}")
        self.faulted_since_observed = True

    @rule()
    def heal(self) -> None:
        assert self.host is not None
        self.host.call_sync(self.cluster.network.heal)

    @rule(broker=brokers)
    def replace_disk(self, broker: int) -> None:
        """The replica is lost for good: an empty disk, the same broker id."""
        handle = self.cluster.broker(broker)
        if broker not in self.busy:
            self._call(handle.replace_disk)
            self.guarantee.disk_replaced(broker)
            self.faulted_since_observed = True

    @rule(broker=brokers)
    def fsync(self, broker: int) -> None:
        """The flusher runs on ``broker``: its log's dirty pages are written and fsynced."""
        handle = self.cluster.broker(broker)
        log = handle.broker.manager.logs.get(TP) if handle.running and handle.broker.manager else None
        if log is not None and not log.offline:
            assert self.host is not None

            def flush() -> None:
                try:
                    log.flush()
                except StorageError as exc:  # the log went offline: the broker halts (REP-26)
                    handle.broker._halt_if_log_dir_failed(exc)

            self.host.call_sync(flush)

    @rule(broker=brokers, kind=st.sampled_from(["fsync_error", "enospc"]))
    def disk_fault(self, broker: int, kind: str) -> None:
        """The next fsync fails (EIO) or the disk is full: the log goes offline, the broker halts."""
        fs = self.cluster.broker(broker).fs
        assert isinstance(fs, SimFilesystem)
        directory = f"data/{TP.dir_name}"
        if kind == "enospc":
            fs.faults.enospc_after(0)
        elif fs.exists(directory):
            segments = sorted(n for n in fs.listdir(directory) if n.endswith(".log"))
            if not segments:
                return
            fs.faults.fail_writeback(f"{directory}/{segments[-1]}")
        else:
            return  # not a replica of the partition
        self.faulted_since_observed = True

    @rule(broker=brokers)
    def clear_disk_faults(self, broker: int) -> None:
        fs = self.cluster.broker(broker).fs
        assert isinstance(fs, SimFilesystem)
        fs.faults.clear()

    # ------------------------------------------------------------------ compound steps
    def _leader_id(self) -> int:
        return int(self.cluster.controller.partition(TOPIC, 0).leader)

    @rule(
        how=st.sampled_from(["kill", "power_loss", "torn_power_loss", "clean_shutdown"]),
        count=st.integers(1, 6),
        producer=st.sampled_from(["idempotent", "acks-all", "acks-1"]),
        replication=st.sampled_from([0.02, 0.1, 0.5]),
    )
    def fault_the_leader_under_load(self, how: str, count: int, producer: str, replication: float) -> None:
        """Produce, give replication ``replication`` seconds (the followers' HWs may still lag the
        leader's), then fault the leader, elect, and bring it back."""
        self.produce(producer, count)
        self.advance(replication)
        self.the_guarantee_holds()
        leader = self._leader_id()
        if leader < 0:
            return
        if how == "kill":
            self.kill(leader)
        elif how == "clean_shutdown":
            self.clean_shutdown(leader)
        else:
            self.power_loss(leader, PowerLossMode.TORN if how == "torn_power_loss" else PowerLossMode.CLEAN)
        self.the_guarantee_holds()
        self.advance(10.0)  # broker.session.timeout.ms: the controller fences it and elects
        self.the_guarantee_holds()
        self.restart(leader)
        self.advance(2.0)

    @rule(
        replica=st.integers(0, 2), count=st.integers(4, 12), producer=st.sampled_from(["acks-all", "acks-1"])
    )
    def torn_power_loss_under_load(self, replica: int, count: int, producer: str) -> None:
        """Write a few KiB, cut a replica's power mid write-back (pages torn), restart it, and let
        it rejoin: recovery must cut the log at the first batch that fails its CRC."""
        broker = self.cluster.controller.partition(TOPIC, 0).replicas[replica]
        self._produce(producer, count, padding=400)
        self.advance(0.5)
        self.the_guarantee_holds()
        self._power_loss(broker, PowerLossMode.TORN, probability=1.0)  # every unsynced page torn
        self.the_guarantee_holds()
        self.advance(10.0)
        self.restart(broker)
        self.advance(2.0)
        self.the_guarantee_holds()
        self.advance(10.0)

    @rule(replica=st.integers(0, 2), count=st.integers(1, 6))
    def a_replica_loses_power_after_a_flush(self, replica: int, count: int) -> None:
        """Write, let replication run, flush one replica, cut its power and restart it: what the
        flush made durable must come back from its own disk (checked before it fetches)."""
        broker = self.cluster.controller.partition(TOPIC, 0).replicas[replica]
        self.produce("acks-all", count)
        self.advance(0.5)
        self.the_guarantee_holds()
        self.fsync(broker)
        self.the_guarantee_holds()
        self.power_loss(broker, PowerLossMode.CLEAN)
        self.the_guarantee_holds()
        self.advance(10.0)
        self.restart(broker)
        self.advance(2.0)

    @rule(producer=st.sampled_from(["idempotent", "acks-all", "acks-1"]), then_kill=st.booleans())
    def the_isr_shrinks_to_the_leader(self, producer: str, then_kill: bool) -> None:
        """Cut every follower off until the ISR is the leader alone, write, heal; then maybe kill
        the leader (only it may lead again: the others are out of the ISR) and bring it back."""
        leader = self._leader_id()
        if leader < 0:
            return
        for broker in self.cluster.controller.partition(TOPIC, 0).replicas:
            if broker != leader:
                self.isolate(broker)
        self.advance(31.0)
        self.the_guarantee_holds()
        self.produce(producer, 3)
        self.advance(0.5)
        self.the_guarantee_holds()
        self.heal()
        if then_kill:
            self.kill(leader)
            self.advance(10.0)
            self.the_guarantee_holds()
            self.restart(leader)
            self.advance(2.0)

    @rule(broker=brokers, producer=st.sampled_from(["idempotent", "acks-all", "acks-1"]))
    def a_follower_falls_behind(self, broker: int, producer: str) -> None:
        """Cut a replica off past ``replica.lag.time.max.ms`` (the ISR shrinks), write, then heal."""
        self.isolate(broker)
        self.advance(31.0)
        self.the_guarantee_holds()
        self.produce(producer, 3)
        self.advance(0.5)
        self.the_guarantee_holds()
        self.heal()

    # ------------------------------------------------------------------ invariants
    def _logs(self) -> dict[int, dict[int, object]]:
        logs: dict[int, dict[int, object]] = {}
        for broker in range(1, self.n + 1):
            log = replica_log(self.cluster, broker)
            if log is not None:
                logs[broker] = log
        return logs

    def _leader(self) -> tuple[int, int, int] | None:
        """(leader id, leader epoch, HW) when the controller's leader runs and knows it leads."""
        metadata = self.cluster.controller.partition(TOPIC, 0)
        if metadata.leader < 0 or not self._handle_running(metadata.leader):
            return None
        partition = self.cluster.broker(metadata.leader).broker.partitions.get(TP)
        if partition is None or partition.role is not Role.LEADER:
            return None
        if partition.leader_epoch != metadata.leader_epoch:
            return None
        return metadata.leader, metadata.leader_epoch, partition.high_watermark

    @invariant()
    def the_guarantee_holds(self) -> None:
        if self.host is None or not hasattr(self, "cluster"):
            return
        assert self.host is not None
        self.host.call_sync(self._check)

    def _check(self) -> None:
        events = self.cluster.controller.events
        for event in events[self.seen_events :]:
            if isinstance(event, LeaderElected) and event.unclean:
                self.guarantee.unclean_election()
        self.seen_events = len(events)
        logs = self._logs()
        leader = self._leader()
        if leader is not None and leader[0] in logs:  # (a leader whose log just went offline is halting)
            leader_id, epoch, hw = leader
            seen = self.hw_seen.get((leader_id, epoch))
            previous = 0 if seen is None else seen
            assert hw >= previous, f"leader {leader_id} HW went back from {previous} to {hw} in epoch {epoch}"
            self.hw_seen[(leader_id, epoch)] = hw
            leader_log = logs[leader_id]
            for offset in range(hw):
                if offset not in leader_log:
                    continue  # below the log start (never with these settings) or a gap
                content = leader_log[offset]
                holders = {b for b, log in logs.items() if log.get(offset) == content}
                fresh = offset not in self.guarantee.records
                record = self.guarantee.commit(offset, content, holders)
                # The HW passed it while we watched this leader, with no fault in between (a new
                # leader may inherit a HW its predecessor advanced unobserved).
                watched = (
                    seen is not None
                    and offset >= seen
                    and not self.faulted_since_observed
                    and self.live_at_last_check == self._incarnations(logs)
                )
                if fresh and watched:
                    assert len(holders) >= min(self.min_isr, self.replication_factor), (
                        f"offset {offset} committed on {sorted(holders)} only, "
                        f"below min.insync.replicas={self.min_isr}; "
                        f"{self.cluster.controller.partition(TOPIC, 0)}; logs {logs}"
                    )
                assert content != "CORRUPT", f"leader {leader_id} holds a corrupt batch below its HW"
                if self.guarantee.protected(record):
                    assert record.content == content, (
                        f"committed offset {offset} changed from {record.content!r} to {content!r}"
                    )
            self._check_log_matching(logs, hw)
            self._check_no_duplicates(leader_log)
        self.guarantee.observe(logs)
        violations = self.guarantee.violations(logs)
        assert not violations, violations
        for offset, value in self.consumed.items():
            record = self.guarantee.records.get(offset)
            if record is not None and self.guarantee.protected(record):
                assert record.content == value, (
                    f"a consumer read {value!r} at {offset}, now {record.content!r}"
                )
        self.faulted_since_observed = False

    def _incarnations(self, logs: Mapping[int, object]) -> dict[int, int]:
        return {b: int(self.cluster.broker(b).broker.incarnation) for b in logs}

    def _check_log_matching(self, logs: Mapping[int, Mapping[int, object]], leader_hw: int) -> None:
        if self.guarantee.unclean:
            return
        metadata = self.cluster.controller.partition(TOPIC, 0)
        leader_log = logs[metadata.leader]
        for member in metadata.isr:
            log = logs.get(member)
            partition = self.cluster.broker(member).broker.partitions.get(TP) if member in logs else None
            if log is None or partition is None or partition.leader_epoch != metadata.leader_epoch:
                continue
            end = min(leader_hw, partition.high_watermark)
            for offset in range(end):
                assert log.get(offset) == leader_log.get(offset), (
                    f"ISR member {member} differs from leader {metadata.leader} at {offset} below the HW"
                )

    def _check_no_duplicates(self, leader_log: Mapping[int, object]) -> None:
        counts = Counter(v for v in leader_log.values() if isinstance(v, str) and v.startswith("idempotent:"))
        duplicated = [v for v, n in counts.items() if n > 1]
        assert not duplicated, f"idempotent records written twice: {duplicated}"

    # ------------------------------------------------------------------ final phase
    def final_phase(self) -> None:
        """Heal everything, let time pass, and check the partition converges and serves its records."""
        assert self.host is not None
        self.host.call_sync(self.cluster.network.heal)
        for broker in range(1, self.n + 1):
            fs = self.cluster.broker(broker).fs
            assert isinstance(fs, SimFilesystem)
            fs.faults.clear()
        for _ in range(3):
            for broker in range(1, self.n + 1):
                self.restart(broker)
            self.host.advance(31.0)
        self.host.call_sync(self._check)
        metadata = self.cluster.controller.partition(TOPIC, 0)
        if metadata.leader < 0:
            # KIP-966: every ISR and ELR member restarted uncleanly; Kafka keeps the partition
            # offline until an unclean election. Availability, not durability, is what is lost.
            assert not metadata.elr, metadata
            return
        leader = self._leader()
        assert leader is not None, f"no settled leader after healing: {metadata}"
        logs = self.host.call_sync(self._logs)
        leader_log = logs[leader[0]]
        for member in metadata.isr:
            assert logs[member] == {o: v for o, v in leader_log.items() if o in logs[member]}
        for record in self.guarantee.records.values():
            if self.guarantee.protected(record):
                assert leader_log.get(record.offset) == record.content, f"offset {record.offset} unreadable"


# 30 examples of 25 steps under ci (about 10 s), 3,000 under deep.
ClusterMachine.TestCase.settings = settings(
    ClusterMachine.TestCase.settings,
    stateful_step_count=25,
    max_examples=max(10, settings.default.max_examples * 3 // 10),
)
TestClusterStateMachine = pytest.mark.req("REP-27", "REP-28", "REP-29")(ClusterMachine.TestCase)
