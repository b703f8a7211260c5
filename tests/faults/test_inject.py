"""The fault primitives act through reflog's seams, are recorded, and do what the fault model says (HAR-8).

Every test runs an embedded 3-broker cluster under ``trio.testing.MockClock(autojump_threshold=0)``:
all waiting is simulated time, never wall-clock sleeps.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Literal

import attrs
import pytest
import trio
import trio.testing

from faults.budget import BudgetMonitor, FaultBudget
from faults.checker import check
from faults.history import History
from faults.inject import DAMAGING, FaultInjector
from faults.recording import RecordingProducer, final_state
from faults.scenarios import TOPIC, TP, ScenarioContext
from reflog.client import SendStatus
from reflog.cluster import Cluster, open_cluster
from reflog.errors import CorruptRecordError, ReflogUsageError
from reflog.replication.partition import Role
from reflog.storage.sim import PowerLossMode, SimFilesystem
from reflog.vocabulary import CONTROLLER_NODE

FLUSH_EVERY_MESSAGE = {"min.insync.replicas": 2, "flush.messages": 1}


def run(main: Callable[[], Awaitable[None]]) -> None:
    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))


@asynccontextmanager
async def rig(
    seed: int = 1,
    *,
    topic_configs: Mapping[str, int] | None = None,
    producer_settings: Mapping[str, Any] | None = None,
    storage: Literal["sim", "os"] = "sim",
    directory: Path | None = None,
) -> AsyncIterator[ScenarioContext]:
    """A 3-broker cluster with the RF 3 topic of faults.scenarios, a recording producer and an injector."""
    configs = dict({"min.insync.replicas": 2} if topic_configs is None else topic_configs)
    history = History()
    async with open_cluster(brokers=3, seed=seed, storage=storage, directory=directory) as cluster:
        await cluster.create_topic(TOPIC, replication_factor=3, configs=configs)
        settings = {"acks": "all", "linger_ms": 0, **(producer_settings or {})}
        producer = RecordingProducer(cluster.producer(**settings), history, "producer-1")
        injector = FaultInjector(cluster, history)
        monitor = BudgetMonitor(
            cluster, FaultBudget.for_min_insync_replicas(int(configs.get("min.insync.replicas", 1)))
        )
        monitor.attach(injector)
        yield ScenarioContext(cluster, history, producer, injector, monitor, seed)


async def wait_until(predicate: Callable[[], bool], timeout: float = 60.0) -> None:
    """Poll ``predicate`` every 0.1 simulated seconds; fail after ``timeout`` simulated seconds."""
    with trio.fail_after(timeout):
        while not predicate():
            await trio.sleep(0.1)


def log_end_offset(cluster: Cluster, broker: int) -> int:
    return cluster.broker(broker).broker.partitions[TP].log.log_end_offset


def isr(cluster: Cluster) -> tuple[int, ...]:
    return cluster.controller.partition(*TP).isr


def sim_fs(cluster: Cluster, broker: int) -> SimFilesystem:
    fs = cluster.broker(broker).fs
    assert isinstance(fs, SimFilesystem)
    return fs


def node(broker: int) -> str:
    return f"broker-{broker}"


# ------------------------------------------------------------------ every primitive is recorded
@attrs.frozen
class Case:
    """One primitive: what to set up, the call, the kind it records and the brokers listeners hear."""

    act: Callable[[ScenarioContext, int, int, int], Awaitable[None]]
    kind: str
    hit: Callable[[int, int, int], tuple[int, ...]]
    """The brokers listeners must hear, from (leader, follower a, follower b)."""
    effect: Callable[[ScenarioContext, int, int, int], bool]
    """What the seam shows afterwards (leader, a, b): the primitive really acted."""
    prepare: Callable[[ScenarioContext, int, int, int], Awaitable[None]] | None = None


async def _sync_segment(ctx: ScenarioContext, leader: int, a: int, b: int) -> None:
    sim_fs(ctx.cluster, a).sync()  # make the segment durable so a flip at rest is visible there


async def _crash_a(ctx: ScenarioContext, leader: int, a: int, b: int) -> None:
    await ctx.faults.kill(a)


async def _isolate_a(ctx: ScenarioContext, leader: int, a: int, b: int) -> None:
    ctx.faults.isolate(a)


async def _fault_disk_of_a(ctx: ScenarioContext, leader: int, a: int, b: int) -> None:
    ctx.faults.slow_disk(a, per_io_s=0.01)
    ctx.faults.fsync_error(a, TP)


def _cut(ctx: ScenarioContext, src: str, dst: str) -> bool:
    return ctx.cluster.network.is_cut(src, dst)


def _fault_inodes(ctx: ScenarioContext, broker: int) -> set[int]:
    return sim_fs(ctx.cluster, broker).faults.inodes()


def _segment_ino(ctx: ScenarioContext, broker: int) -> int:
    return sim_fs(ctx.cluster, broker).ino_of(ctx.faults.active_segment(broker, TP))


def acting(
    fn: Callable[[ScenarioContext, int, int, int], object],
) -> Callable[[ScenarioContext, int, int, int], Awaitable[None]]:
    """Wrap a primitive call (sync or async) as an awaitable step."""

    async def step(ctx: ScenarioContext, leader: int, a: int, b: int) -> None:
        outcome = fn(ctx, leader, a, b)
        if isinstance(outcome, Awaitable):
            await outcome

    return step


CASES: dict[str, Case] = {
    "crash": Case(
        acting(lambda c, ld, a, b: c.faults.kill(a)),
        "crash",
        lambda ld, a, b: (a,),
        lambda c, ld, a, b: not c.cluster.broker(a).running,
    ),
    "stop": Case(
        acting(lambda c, ld, a, b: c.faults.stop(a)),
        "stop",
        lambda ld, a, b: (a,),
        lambda c, ld, a, b: not c.cluster.broker(a).running and c.cluster.broker(a).exit_reason is None,
    ),
    "restart": Case(
        acting(lambda c, ld, a, b: c.faults.restart(a)),
        "restart",
        lambda ld, a, b: (a,),
        lambda c, ld, a, b: c.cluster.broker(a).running and c.cluster.broker(a).broker.incarnation == 2,
        prepare=_crash_a,
    ),
    "power_loss": Case(
        acting(lambda c, ld, a, b: c.faults.power_off(a, mode=PowerLossMode.TORN)),
        "power_loss",
        lambda ld, a, b: (a,),
        lambda c, ld, a, b: not c.cluster.broker(a).running,
    ),
    "correlated power_loss": Case(
        acting(lambda c, ld, a, b: c.faults.power_off(ld, b)),
        "power_loss",
        lambda ld, a, b: (ld, b),
        lambda c, ld, a, b: not c.cluster.broker(ld).running and not c.cluster.broker(b).running,
    ),
    "replace_disk": Case(
        acting(lambda c, ld, a, b: c.faults.replace_disk(a, start=False)),
        "replace_disk",
        lambda ld, a, b: (a,),
        lambda c, ld, a, b: not c.cluster.broker(a).running and not sim_fs(c.cluster, a).exists("data"),
    ),
    "isolate": Case(
        acting(lambda c, ld, a, b: c.faults.isolate(a)),
        "isolate",
        lambda ld, a, b: (a,),
        lambda c, ld, a, b: _cut(c, node(a), CONTROLLER_NODE) and _cut(c, node(ld), node(a)),
    ),
    "split": Case(
        acting(lambda c, ld, a, b: c.faults.split({a})),
        "split",
        lambda ld, a, b: (a,),
        lambda c, ld, a, b: _cut(c, node(a), node(ld)) and not _cut(c, node(ld), node(b)),
    ),
    "block": Case(
        acting(lambda c, ld, a, b: c.faults.block(a, ld)),
        "block",
        lambda ld, a, b: (),
        lambda c, ld, a, b: _cut(c, node(a), node(ld)) and not _cut(c, node(ld), node(a)),
    ),
    "heal": Case(
        acting(lambda c, ld, a, b: c.faults.heal()),
        "heal",
        lambda ld, a, b: (),
        lambda c, ld, a, b: not _cut(c, node(a), node(ld)) and not _cut(c, node(ld), node(a)),
        prepare=_isolate_a,
    ),
    "link_faults": Case(
        acting(lambda c, ld, a, b: c.faults.link_faults(ld, a, delay=0.3, drop=0.1)),
        "link_faults",
        lambda ld, a, b: (),
        lambda c, ld, a, b: c.cluster.network.link_faults(node(ld), node(a)).delay == 0.3,
    ),
    "switch_to_tls": Case(
        acting(lambda c, ld, a, b: c.faults.switch_to_tls(a)),
        "switch_to_tls",
        lambda ld, a, b: (),
        lambda c, ld, a, b: c.cluster.network.tls_enabled(node(a)),
    ),
    "fsync_error": Case(
        acting(lambda c, ld, a, b: c.faults.fsync_error(a, TP)),
        "fsync_error",
        lambda ld, a, b: (a,),
        lambda c, ld, a, b: _segment_ino(c, a) in _fault_inodes(c, a),
    ),
    "enospc": Case(
        acting(lambda c, ld, a, b: c.faults.enospc(a, extra_bytes=8192)),
        "enospc",
        lambda ld, a, b: (a,),
        lambda c, ld, a, b: sim_fs(c.cluster, a).faults.capacity_bytes is not None,
    ),
    "bitflip": Case(
        acting(lambda c, ld, a, b: c.faults.bitflip(a, TP, offset=40, bit=3)),
        "bitflip",
        lambda ld, a, b: (a,),
        lambda c, ld, a, b: (
            sim_fs(c.cluster, a).durable_bytes(c.faults.active_segment(a, TP))[40]
            != sim_fs(c.cluster, a).visible_bytes(c.faults.active_segment(a, TP))[40]
        ),
        prepare=_sync_segment,
    ),
    "latent_read_error": Case(
        acting(lambda c, ld, a, b: c.faults.latent_read_error(a, TP, 0)),
        "latent_read_error",
        lambda ld, a, b: (a,),
        lambda c, ld, a, b: _segment_ino(c, a) in _fault_inodes(c, a),
    ),
    "misdirected_write": Case(
        acting(lambda c, ld, a, b: c.faults.misdirected_write(a, TP, 2)),
        "misdirected_write",
        lambda ld, a, b: (a,),
        lambda c, ld, a, b: _segment_ino(c, a) in _fault_inodes(c, a),
    ),
    "slow_disk": Case(
        acting(lambda c, ld, a, b: c.faults.slow_disk(a, per_io_s=0.02)),
        "slow_disk",
        lambda ld, a, b: (),
        lambda c, ld, a, b: sim_fs(c.cluster, a).faults.io_cost(0) == 0.02,
    ),
    "clear_disk_faults": Case(
        acting(lambda c, ld, a, b: c.faults.clear_disk_faults(a)),
        "clear_disk_faults",
        lambda ld, a, b: (),
        lambda c, ld, a, b: not _fault_inodes(c, a) and sim_fs(c.cluster, a).faults.io_cost(0) == 0,
        prepare=_fault_disk_of_a,
    ),
}


@pytest.mark.req("HAR-8")
@pytest.mark.parametrize("name", sorted(CASES))
def test_each_primitive_acts_is_recorded_at_its_simulated_time_and_tells_listeners(name: str) -> None:
    """The primitive changes the seam, writes one Fault (kind, time) and calls every listener once."""
    case = CASES[name]

    async def main() -> None:
        async with rig(topic_configs={"min.insync.replicas": 2}) as ctx:
            await ctx.produce(3)
            leader = ctx.leader()
            a, b = ctx.followers()
            if case.prepare is not None:
                await case.prepare(ctx, leader, a, b)
            heard: list[tuple[str, tuple[int, ...]]] = []
            ctx.faults.listeners.append(lambda kind, brokers: heard.append((kind, brokers)))
            await trio.sleep(12.25)  # an arbitrary moment, well after the set-up
            recorded_before = len(ctx.history.faults())
            start = trio.current_time()
            await case.act(ctx, leader, a, b)
            end = trio.current_time()

            new = ctx.history.faults()[recorded_before:]
            assert [f.kind for f in new] == [case.kind]
            assert start >= 12.25 and start <= new[0].time <= end
            assert heard == [(case.kind, case.hit(leader, a, b))]
            if case.kind in DAMAGING:  # what a budget counts must name the damaged brokers
                assert heard[0][1] and all(node(broker) in new[0].target for broker in heard[0][1])
            assert case.effect(ctx, leader, a, b)

    run(main)


@pytest.mark.req("HAR-8")
def test_every_damaging_kind_has_a_case() -> None:
    """The parametrized test above covers every kind a budget counts."""
    assert set(DAMAGING) <= {case.kind for case in CASES.values()}


@pytest.mark.req("HAR-8")
def test_disk_faults_record_what_they_hit() -> None:
    """Disk faults name the segment path; a power loss records its mode and what it lost."""

    async def main() -> None:
        async with rig() as ctx:
            await ctx.produce(5)
            a, b = ctx.followers()
            path = ctx.faults.active_segment(a, TP)
            ctx.faults.fsync_error(a, TP)
            ctx.faults.bitflip(a, TP, 30, bit=1)
            reports = await ctx.faults.power_off(b, mode=PowerLossMode.CLEAN)
            fsync, flip, power = ctx.history.faults()
            assert fsync.detail == {"path": path, "errno": "EIO"}
            assert flip.detail == {"path": path, "offset": 30, "bit": 1}
            assert power.detail["mode"] == "clean"
            assert power.detail["lost_pages"] == len(reports[b].lost_pages) > 0  # the unflushed tail

    run(main)


# ------------------------------------------------------------------ crash versus power loss
async def follower_end_offset_after(fault: str) -> tuple[int, int, int]:
    """Acknowledge 10 records, hit a follower with ``fault``, restart it cut off from the leader.

    Returns the acknowledged count, the follower's recovered log end offset, and its end offset once
    it may fetch again.
    """
    async with rig() as ctx:
        await ctx.produce(10)
        acked = sum(1 for _, done in ctx.history.completions() if done.type == "ok")
        leader = ctx.leader()
        a, _ = ctx.followers()
        assert log_end_offset(ctx.cluster, a) == 10
        ctx.faults.block(a, leader)  # it must not re-fetch what it lost before we look
        if fault == "crash":
            await ctx.faults.kill(a)
        else:
            await ctx.faults.power_off(a, mode=PowerLossMode.CLEAN)
        await ctx.faults.restart(a)
        startup = ctx.cluster.broker(a).broker.last_startup
        assert startup is not None
        recovered = startup.logs[TP].log_end_offset
        assert log_end_offset(ctx.cluster, a) == recovered
        ctx.faults.heal()
        await wait_until(lambda: log_end_offset(ctx.cluster, a) == 10)
        return acked, recovered, log_end_offset(ctx.cluster, a)


@pytest.mark.req("HAR-8")
def test_a_crash_keeps_the_page_cache_and_a_clean_power_loss_loses_the_unflushed_tail() -> None:
    """A SIGKILL keeps unflushed acknowledged records; a power loss of the same broker loses them."""
    outcomes: dict[str, tuple[int, int, int]] = {}

    async def main() -> None:
        for fault in ("crash", "power_loss"):
            outcomes[fault] = await follower_end_offset_after(fault)

    run(main)
    acked, after_crash, caught_up = outcomes["crash"]
    assert acked == 10 and after_crash == 10 and caught_up == 10
    acked, after_power_loss, caught_up = outcomes["power_loss"]
    assert acked == 10 and after_power_loss < 10  # nothing was flushed: Kafka's default trade-off
    assert caught_up == 10  # and the replica re-fetched it from the leader


# ------------------------------------------------------------------ failing disks halt the broker
async def halt_on_disk_fault(ctx: ScenarioContext, inject: Callable[[int], None], size: int) -> None:
    """Inject a disk fault on the leader, send once (no retries): never OK, and the leader halts."""
    await ctx.produce(3)
    leader = ctx.leader()
    handle = ctx.cluster.broker(leader)
    inject(leader)
    result = await ctx.producer.send(TOPIC, "doomed" + "x" * size)
    assert result.status is not SendStatus.OK, result
    await wait_until(lambda: not handle.running, timeout=10)
    assert handle.exit_reason is not None and "log directory" in handle.exit_reason
    await wait_until(lambda: ctx.leader() != leader, timeout=30)  # the controller fences it
    assert leader not in isr(ctx.cluster)

    ctx.faults.clear_disk_faults(leader)  # the operator replaces the disk's failing part
    await ctx.faults.restart(leader)
    assert handle.running and handle.exit_reason is None
    await wait_until(lambda: leader in isr(ctx.cluster))
    replicas, final_leader = final_state(ctx.cluster, TP)
    report = check(ctx.history, replicas, final_leader)
    assert report.valid and report.acknowledged == 3, report


@pytest.mark.req("HAR-8")
def test_a_persistent_fsync_error_halts_the_leader_without_acknowledging() -> None:
    """flush.messages=1: the failed fsync is not acknowledged, the log goes offline, the broker halts."""

    async def main() -> None:
        async with rig(topic_configs=FLUSH_EVERY_MESSAGE, producer_settings={"retries": 0}) as ctx:

            def inject(leader: int) -> None:
                ctx.faults.fsync_error(leader, TP, persistent=True)

            await halt_on_disk_fault(ctx, inject, 0)

    run(main)


@pytest.mark.req("HAR-8")
def test_a_full_disk_halts_the_leader_without_acknowledging() -> None:
    """ENOSPC on the leader: the append fails, nothing is acknowledged, the broker halts."""

    async def main() -> None:
        async with rig(topic_configs=FLUSH_EVERY_MESSAGE, producer_settings={"retries": 0}) as ctx:

            def inject(leader: int) -> None:
                ctx.faults.enospc(leader, extra_bytes=0)

            await halt_on_disk_fault(ctx, inject, 10_000)  # more than the last page's free space

    run(main)


# ------------------------------------------------------------------ a replaced disk
@pytest.mark.req("HAR-8")
def test_a_replaced_disk_comes_back_empty_and_catches_up_from_the_leader() -> None:
    """replace_disk: same broker id, no data at start-up, then a full copy and back in the ISR."""

    async def main() -> None:
        async with rig() as ctx:
            await ctx.produce(10)
            a, _ = ctx.followers()
            old_fs = ctx.cluster.broker(a).fs
            incarnation = ctx.cluster.broker(a).broker.incarnation
            await ctx.faults.replace_disk(a)
            handle = ctx.cluster.broker(a)
            assert handle.running and handle.fs is not old_fs
            assert handle.broker.incarnation == incarnation + 1
            startup = handle.broker.last_startup
            assert startup is not None and TP not in startup.logs  # it recovered nothing
            assert [f.kind for f in ctx.history.faults()][:1] == ["replace_disk"]
            await wait_until(lambda: a in isr(ctx.cluster) and log_end_offset(ctx.cluster, a) == 10)
            replicas, leader = final_state(ctx.cluster, TP)
            assert replicas[a].records == replicas[leader].records
            assert [value for _, value in replicas[a].records] == [f"r{i}" for i in range(10)]

    run(main)


# ------------------------------------------------------------------ a slow disk
@pytest.mark.req("HAR-8")
def test_a_slow_disk_slows_flushed_appends_in_simulated_time() -> None:
    """With flush.messages=1 every append waits for its fsync's device I/O, which a slow disk stretches."""
    durations: list[float] = []

    async def main() -> None:
        async with rig(topic_configs=FLUSH_EVERY_MESSAGE, producer_settings={"acks": 1}) as ctx:
            leader = ctx.leader()

            async def timed(count: int) -> None:
                start = trio.current_time()
                await ctx.produce(count)
                durations.append(trio.current_time() - start)

            await timed(10)
            ctx.faults.slow_disk(leader, per_io_s=0.05)
            await timed(10)
            ctx.faults.clear_disk_faults(leader)
            await timed(10)
            assert all(done.type == "ok" for _, done in ctx.history.completions())

    run(main)
    fast, slow, healed = durations
    assert slow >= fast + 10 * 0.05  # at least one slow device I/O per acknowledged append
    assert healed < slow and healed == pytest.approx(fast, abs=0.05)


# ------------------------------------------------------------------ network: isolate and heal
@pytest.mark.req("HAR-8")
def test_an_isolated_leader_loses_leadership_and_the_cluster_converges_after_heal() -> None:
    """The controller elects another leader; acks=all writes go on; after heal all replicas agree."""

    async def main() -> None:
        async with rig() as ctx:
            await ctx.produce(5)
            old = ctx.leader()
            ctx.faults.isolate(old)
            await wait_until(lambda: ctx.leader() != old, timeout=30)
            assert old not in isr(ctx.cluster)
            await ctx.produce(5)  # to the new leader and the other follower
            ctx.faults.heal()
            await wait_until(lambda: set(isr(ctx.cluster)) == {1, 2, 3})
            await wait_until(lambda: ctx.cluster.broker(old).broker.partitions[TP].role is Role.FOLLOWER)
            await wait_until(lambda: log_end_offset(ctx.cluster, old) == 10)
            replicas, leader = final_state(ctx.cluster, TP)
            report = check(ctx.history, replicas, leader)
            assert report.valid and report.acknowledged == report.survived == 10, report
            assert len({tuple(r.records) for r in replicas.values()}) == 1

    run(main)


# ------------------------------------------------------------------ bit flip at rest
@pytest.mark.req("HAR-8")
def test_a_bit_flipped_at_rest_on_a_follower_is_never_served() -> None:
    """After a flip on the media and a cold read, the CRC check refuses the batch; no wrong bytes leave."""

    async def main() -> None:
        async with rig(topic_configs=FLUSH_EVERY_MESSAGE) as ctx:
            await ctx.produce(5)
            leader = ctx.leader()
            a, b = ctx.followers()
            log = ctx.cluster.broker(a).broker.partitions[TP].log
            good = log.read_records(0, 1 << 20)
            ctx.faults.bitflip(a, TP, offset=40, bit=2)  # inside the first batch's CRC-covered bytes
            assert log.read_records(0, 1 << 20) == good  # the page cache still holds the good copy
            sim_fs(ctx.cluster, a).drop_clean()  # evict it: the next read is cold, from the media
            with pytest.raises(CorruptRecordError):
                log.read_records(0, 1 << 20)
            replicas, _ = final_state(ctx.cluster, TP)
            assert replicas[a].corrupt_at == 0 and replicas[a].records == []

            # Make the damaged follower the leader: a consumer still never sees a corrupted record.
            await ctx.faults.kill(leader)
            await ctx.faults.kill(b)
            await wait_until(lambda: ctx.leader() == a, timeout=30)
            consumer = ctx.consumer()
            seen = []
            for _ in range(3):
                seen.extend(await consumer.poll())
            sent = {f"r{i}" for i in range(5)}
            assert all((r.value or b"").decode(errors="replace") in sent for r in seen)
            assert not any(r.offset == 0 for r in seen)  # the corrupt batch is refused, not served

    run(main)


# ------------------------------------------------------------------ usage errors
@pytest.mark.req("HAR-8")
def test_disk_faults_on_real_storage_are_usage_errors(tmp_path: Path) -> None:
    """storage='os' has no fault hooks: every disk fault and power loss is refused, nothing recorded."""

    async def main() -> None:
        async with rig(storage="os", directory=tmp_path) as ctx:
            await ctx.produce(2)
            f = ctx.followers()[0]
            refused: list[Callable[[], object]] = [
                lambda: ctx.faults.fsync_error(f, TP),
                lambda: ctx.faults.enospc(f),
                lambda: ctx.faults.bitflip(f, TP, 0),
                lambda: ctx.faults.latent_read_error(f, TP, 0),
                lambda: ctx.faults.misdirected_write(f, TP, 1),
                lambda: ctx.faults.slow_disk(f),
                lambda: ctx.faults.clear_disk_faults(f),
            ]
            for call in refused:
                with pytest.raises(ReflogUsageError):
                    call()
            with pytest.raises(ReflogUsageError):
                await ctx.faults.power_off(f)
            with pytest.raises(ReflogUsageError):
                await ctx.faults.replace_disk(f)
            assert ctx.history.faults() == []
            assert ctx.cluster.broker(f).running  # a refused power loss did not halt it either
            await ctx.faults.kill(f)  # process faults work on any storage
            await ctx.faults.restart(f)
            assert [x.kind for x in ctx.history.faults()] == ["crash", "restart"]

    run(main)


@pytest.mark.req("HAR-8")
def test_faults_the_cluster_cannot_take_are_usage_errors() -> None:
    """An unknown broker, a power loss of no broker, a restart of a running broker: refused, unrecorded."""

    async def main() -> None:
        async with rig() as ctx:
            await ctx.produce(2)
            leader = ctx.leader()
            with pytest.raises(ReflogUsageError):
                await ctx.faults.power_off()
            with pytest.raises(ReflogUsageError):
                await ctx.faults.restart(leader)
            for lifecycle in (ctx.faults.kill, ctx.faults.stop, ctx.faults.restart, ctx.faults.replace_disk):
                with pytest.raises(ReflogUsageError):
                    await lifecycle(9)
            with pytest.raises(ReflogUsageError):
                await ctx.faults.power_off(1, 9)
            unknown: list[Callable[[], object]] = [
                lambda: ctx.faults.isolate(9),
                lambda: ctx.faults.split({9}),
                lambda: ctx.faults.block(1, 9),
                lambda: ctx.faults.block(9, 1),
                lambda: ctx.faults.link_faults(1, 9, drop=0.5),
                lambda: ctx.faults.switch_to_tls(9),
                lambda: ctx.faults.fsync_error(9, TP),
                lambda: ctx.faults.enospc(9),
                lambda: ctx.faults.bitflip(9, TP, 0),
                lambda: ctx.faults.slow_disk(9),
                lambda: ctx.faults.clear_disk_faults(9),
                lambda: ctx.faults.active_segment(9, TP),
            ]
            for call in unknown:
                with pytest.raises(ReflogUsageError):
                    call()
            assert ctx.history.faults() == []
            assert all(h.running for h in ctx.cluster.brokers)  # power_loss(1, 9) touched nobody
            assert not ctx.cluster.network.is_cut(node(1), "broker-9")

    run(main)


# ------------------------------------------------------------------ heal_all
@pytest.mark.req("HAR-8")
def test_heal_all_ends_every_fault_and_restarts_every_broker_that_is_down() -> None:
    """Network cut, disk faults and down brokers all end; every acknowledged record is still there."""

    async def main() -> None:
        async with rig() as ctx:
            await ctx.produce(5)
            leader = ctx.leader()
            a, b = ctx.followers()
            ctx.faults.block(a, leader)
            ctx.faults.link_faults(leader, b, delay=0.5)
            ctx.faults.slow_disk(leader, per_io_s=0.01)
            ctx.faults.fsync_error(leader, TP)
            await ctx.faults.kill(a)
            await ctx.faults.power_off(b)
            await ctx.faults.heal_all()
            assert all(h.running for h in ctx.cluster.brokers)
            assert not ctx.cluster.network.is_cut(node(a), node(leader))
            assert ctx.cluster.network.link_faults(node(leader), node(b)).delay == 0
            assert not _fault_inodes(ctx, leader) and sim_fs(ctx.cluster, leader).faults.io_cost(0) == 0
            ended = [f.kind for f in ctx.history.faults()][-3:]
            assert ended == ["heal", "restart", "restart"]
            await wait_until(lambda: set(isr(ctx.cluster)) == {1, 2, 3})
            replicas, final_leader = final_state(ctx.cluster, TP)
            assert check(ctx.history, replicas, final_leader).valid

    run(main)
