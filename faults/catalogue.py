"""The scenario catalogue: each entry is a short script a user can copy and change.

Every script works on the partition ``scenario-0`` (replication factor 3) of a fresh 3-broker
cluster, through :class:`~faults.scenarios.ScenarioContext`. A script returns an excuse when its
faults go beyond the guarantee (so losses are *allowed* and reported), or ``None`` when no
acknowledged record may be lost. Each "no loss" entry names its ``protection``: the test suite
switches it off and shows that the checker then reports a violation.
"""

from __future__ import annotations

import trio

from faults.nemesis import Step
from faults.scenarios import TP, Scenario, ScenarioContext
from reflog.storage.sim import PowerLossMode, SimFilesystem, WritebackPolicy

ACKS_ALL = {"acks": "all"}
MIN_ISR_2 = {"min.insync.replicas": 2}
SLOW_FOLLOWERS_S = 0.5
"""Delay on every leader -> follower link in scenarios that open a replication window."""


def slow_down_followers(ctx: ScenarioContext) -> None:
    """Delay the leader's fetch responses, so followers trail the leader by about that much."""
    leader = ctx.leader()
    for follower in ctx.followers():
        ctx.faults.link_faults(leader, follower, delay=SLOW_FOLLOWERS_S)


async def _acks1_leader_power_loss(ctx: ScenarioContext) -> str | None:
    await ctx.produce(5)
    await trio.sleep(2)
    leader = ctx.leader()
    for follower in ctx.followers():
        ctx.block(follower, leader)
    await ctx.produce(10)  # acknowledged by the leader alone
    await ctx.power_off(leader)
    ctx.heal()
    await trio.sleep(15)
    return "acks=1: records acknowledged before any follower had them"


async def _acks_all_leader_power_loss(ctx: ScenarioContext) -> str | None:
    slow_down_followers(ctx)  # with acks=1 the leader would acknowledge ahead of its followers
    await ctx.produce(30)
    await ctx.power_off(ctx.leader())
    ctx.heal()
    await trio.sleep(15)
    await ctx.produce(10)
    return None


async def _torn_tail(ctx: ScenarioContext) -> str | None:
    await ctx.produce(30, size=1_000)  # about eight pages of unflushed tail on every replica
    leader = ctx.leader()
    reports = await ctx.faults.power_off(  # every in-flight page lands, and lands torn
        leader,
        mode=PowerLossMode.TORN,
        survival_probability=1.0,
        torn_probability=1.0,
        size_probability=1.0,
    )
    ctx.metrics["torn pages on the leader"] = str(len(reports[leader].torn_pages))
    await trio.sleep(15)
    await ctx.restart(leader)  # recovery cuts the log at the first torn batch; the replica re-syncs
    recovery = ctx.cluster.broker(leader).last_startup
    assert recovery is not None
    ctx.metrics["bytes recovery cut"] = str(sum(r.truncated_bytes for r in recovery.logs.values()))
    await ctx.produce(10)
    return None


async def _every_replica_loses_power(ctx: ScenarioContext) -> str | None:
    await ctx.produce(30)
    await ctx.faults.power_off(1, 2, 3)
    return "every replica lost power before flushing (the documented default trade-off)"


async def _every_replica_loses_power_flushed(ctx: ScenarioContext) -> str | None:
    await ctx.produce(30)
    await ctx.faults.power_off(1, 2, 3)
    return None


async def _unclean_election(ctx: ScenarioContext) -> str | None:
    await ctx.produce(5)
    await trio.sleep(2)
    leader = ctx.leader()
    for follower in ctx.followers():
        ctx.block(follower, leader)
    await ctx.produce(5)  # min ISR 1: acknowledged once the ISR shrank to the leader (after 30 s)
    await ctx.kill(leader)
    ctx.heal()
    await trio.sleep(15)
    return ctx.monitor.excuse  # the monitor reports the unclean election


async def _last_isr_replica_power_loss(ctx: ScenarioContext) -> str | None:
    await ctx.produce(10)
    await trio.sleep(2)
    leader = ctx.leader()
    for follower in ctx.followers():
        ctx.block(follower, leader)
    with trio.move_on_after(40):  # min ISR 2: this write waits while the ISR shrinks to the leader
        await ctx.produce(1)
    await ctx.power_off(leader)  # the last ISR member loses power; KIP-966 keeps it from leading
    ctx.heal()
    await trio.sleep(15)
    return None


async def _isr_shrinks_to_one_then_power_loss(ctx: ScenarioContext) -> str | None:
    await ctx.produce(10)
    await trio.sleep(2)
    leader = ctx.leader()
    for follower in ctx.followers():
        ctx.block(follower, leader)
    await ctx.produce(10)  # min ISR 1: acknowledged by the leader alone once the ISR is {leader}
    await ctx.power_off(leader)  # the only in-sync replica loses its unflushed tail
    ctx.heal()
    await trio.sleep(15)
    await ctx.restart(leader)  # the last ISR member leads again, with what was durable
    await trio.sleep(15)
    return "every in-sync replica (the leader alone) lost power before flushing"


async def _fsync_eio_on_leader(ctx: ScenarioContext) -> str | None:
    await ctx.produce(5)
    await trio.sleep(2)
    leader = ctx.leader()
    for follower in ctx.followers():
        ctx.block(follower, leader)
    await ctx.produce(1)  # the followers now lag behind the leader's log end...
    await trio.sleep(35)  # ...so after replica.lag.time.max.ms the ISR shrinks to the leader
    await ctx.produce(5)  # flush.messages=1: each acknowledged only after its fsync
    ctx.faults.fsync_error(leader, TP, persistent=True)  # a dying disk: every write-back fails
    await ctx.produce(3)  # the append's fsync fails: the log goes offline, the broker halts
    handle = ctx.cluster.broker(leader)
    ctx.metrics["leader halted"] = "yes" if handle.exit_reason else "no"
    await ctx.faults.power_off(leader)  # the pages whose write-back failed are gone for good
    ctx.heal()
    await ctx.restart(leader)
    await trio.sleep(15)
    return None


async def _replica_lost_for_good(ctx: ScenarioContext) -> str | None:
    await ctx.produce(20)
    await trio.sleep(2)
    leader = ctx.leader()
    for follower in ctx.followers():
        ctx.block(follower, leader)
    with trio.move_on_after(40):  # min ISR 2: this write waits while the ISR shrinks to the leader
        await ctx.produce(1)
    await ctx.faults.replace_disk(leader)  # the last ISR member's disk dies; it returns empty
    ctx.heal()
    await trio.sleep(15)  # it must not lead: its restart was unclean, so it left the ISR
    await ctx.produce(10)
    return None


async def _zombie_leader(ctx: ScenarioContext) -> str | None:
    slow_down_followers(ctx)
    await ctx.produce(10)
    leader = ctx.leader()
    ctx.faults.isolate(leader)
    await ctx.produce(10)  # the producer moves to the new leader; the zombie cannot acknowledge
    return None


LAGGING_POLICY = WritebackPolicy(memory_bytes=2 * 1024 * 1024)
"""A 2 MiB page cache, so a 6 MiB log does not fit and cold reads evict hot pages."""


def _read_hit_rate(fs: SimFilesystem, hits0: int, misses0: int) -> str:
    hits, misses = fs.stats.cache_hits - hits0, fs.stats.cache_misses - misses0
    return f"{hits / (hits + misses):.2f}" if hits + misses else "n/a"


async def _lagging_consumer(ctx: ScenarioContext) -> str | None:
    await ctx.produce(600, size=10_000)  # 6 MiB: the head of the log falls out of the page cache
    leader = ctx.leader()
    fs = ctx.cluster.broker(leader).fs
    assert isinstance(fs, SimFilesystem)
    tail = ctx.consumer()
    await tail.consumer.seek_to_end(TP)

    async def tail_phase(seconds: float) -> str:
        hits0, misses0 = fs.stats.cache_hits, fs.stats.cache_misses
        with trio.move_on_after(seconds):
            while True:  # a producer writing 5 records every half second, a consumer at the tail
                await ctx.produce(5, size=10_000)
                await tail.poll()
                await trio.sleep(0.5)
        return _read_hit_rate(fs, hits0, misses0)

    ctx.metrics["leader read hit rate, tail readers only"] = await tail_phase(10)
    lagging = ctx.consumer()  # starts at offset 0: cold data from the device
    async with trio.open_nursery() as nursery:

        async def catch_up() -> None:
            while True:
                await lagging.poll()

        nursery.start_soon(catch_up)
        ctx.metrics["leader read hit rate, with a lagging consumer"] = await tail_phase(10)
        nursery.cancel_scope.cancel()
    slow_down_followers(ctx)
    await ctx.produce(10, size=10_000)
    await ctx.power_off(leader)  # and the leader loses power while hot pages were evicted
    await trio.sleep(15)
    await ctx.produce(10)
    return None


async def _tls_switch(ctx: ScenarioContext) -> str | None:
    await ctx.produce(10)
    leader = ctx.leader()
    ctx.faults.switch_to_tls(leader)  # connections reset; clients and followers reconnect over TLS
    await ctx.produce(10)
    for follower in ctx.followers():
        ctx.faults.switch_to_tls(follower)
    await ctx.produce(10)
    stats = ctx.cluster.network.tls_stats(f"broker-{leader}")
    ctx.metrics["bytes the leader encrypted in user space"] = str(stats.plaintext_bytes_sent)
    slow_down_followers(ctx)
    await ctx.produce(10)
    await ctx.power_off(leader)
    ctx.heal()
    await trio.sleep(15)
    await ctx.produce(10)
    return None


async def _scripted_nemesis(ctx: ScenarioContext) -> str | None:
    nemesis = ctx.nemesis()
    slow_down_followers(ctx)
    leader = ctx.leader()
    a, b = ctx.followers()
    steps = [
        Step(5, "isolate", (leader,)),
        Step(15, "heal"),
        Step(20, "power_off", (a,), {"mode": PowerLossMode.TORN}),
        Step(30, "restart", (a,)),
        Step(60, "slow_disk", (b,), {"per_io_s": 0.02}),
        Step(70, "kill", (leader,)),
        Step(75, "restart", (leader,)),
        Step(80, "clear_disk_faults", (b,)),
    ]
    async with trio.open_nursery() as nursery:
        nursery.start_soon(ctx.produce_for, 90.0)
        await nemesis.run_script(steps)
    return ctx.monitor.excuse


async def _random_nemesis_within_budget(ctx: ScenarioContext) -> str | None:
    nemesis = ctx.nemesis()
    slow_down_followers(ctx)
    async with trio.open_nursery() as nursery:
        for _ in range(4):  # four sends in flight at a time, so faults land mid-request
            nursery.start_soon(ctx.produce_for, 120.0)
        await nemesis.run_random(120.0, stay_within_budget=True)
    ctx.metrics["faults injected"] = str(len(ctx.history.faults()))
    return ctx.monitor.excuse


async def _random_nemesis_beyond_budget(ctx: ScenarioContext) -> str | None:
    nemesis = ctx.nemesis()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(ctx.produce_for, 120.0)
        await nemesis.run_random(
            120.0,
            kinds=("correlated_power_loss", "power_loss", "crash", "isolate"),
            stay_within_budget=False,
            max_concurrent=3,
        )
    ctx.metrics["faults injected"] = str(len(ctx.history.faults()))
    ctx.metrics["within budget"] = "yes" if ctx.monitor.within_budget else "no"
    return ctx.monitor.excuse


CATALOGUE: tuple[Scenario, ...] = (
    Scenario(
        "acks1-leader-power-loss",
        "acks=1; the followers are cut off; the leader loses power before replicating",
        "loss allowed",
        _acks1_leader_power_loss,
        producer_settings={"acks": 1, "enable_idempotence": False},
    ),
    Scenario(
        "acks-all-leader-power-loss",
        "acks=all, RF 3, min ISR 2; followers trail by 0.5 s; the leader loses power",
        "no loss",
        _acks_all_leader_power_loss,
        topic_configs=MIN_ISR_2,
        producer_settings=ACKS_ALL,
        protection="acks=all",
    ),
    Scenario(
        "torn-tail-recovered",
        "the leader loses power with torn sectors in its tail, recovers by CRC and re-syncs",
        "no loss",
        _torn_tail,
        topic_configs=MIN_ISR_2,
        producer_settings=ACKS_ALL,
        protection="recovery checks every batch's CRC",
    ),
    Scenario(
        "all-replicas-power-loss",
        "every replica loses power at once; Kafka's flush defaults",
        "loss allowed",
        _every_replica_loses_power,
        topic_configs=MIN_ISR_2,
        producer_settings=ACKS_ALL,
        eligible_leader_replicas=False,
    ),
    Scenario(
        "all-replicas-power-loss-flush-every-message",
        "every replica loses power at once; flush.messages=1",
        "no loss",
        _every_replica_loses_power_flushed,
        topic_configs={**MIN_ISR_2, "flush.messages": 1},
        producer_settings=ACKS_ALL,
        eligible_leader_replicas=False,
        protection="flush.messages=1",
    ),
    Scenario(
        "unclean-election",
        "unclean.leader.election.enable, min ISR 1; the lone ISR leader dies while followers lag",
        "loss allowed",
        _unclean_election,
        topic_configs={"min.insync.replicas": 1, "unclean.leader.election.enable": 1},
        producer_settings=ACKS_ALL,
    ),
    Scenario(
        "last-isr-replica-power-loss",
        "the ISR shrinks to the leader (min ISR 2), which then loses power: KIP-966 keeps it from leading",
        "no loss",
        _last_isr_replica_power_loss,
        topic_configs=MIN_ISR_2,
        producer_settings=ACKS_ALL,
        protection="eligible leader replicas (KIP-966)",
    ),
    Scenario(
        "isr-shrinks-to-one-power-loss",
        "min ISR 1: the ISR shrinks to the leader, which acknowledges alone and then loses power",
        "loss allowed",
        _isr_shrinks_to_one_then_power_loss,
        topic_configs={"min.insync.replicas": 1},
        producer_settings=ACKS_ALL,
        eligible_leader_replicas=False,
    ),
    Scenario(
        "fsync-eio-on-leader",
        "acks=1 + flush.messages=1, the ISR is the leader alone; its fsync fails with EIO, then power loss",
        "no loss",
        _fsync_eio_on_leader,
        topic_configs={"min.insync.replicas": 1, "flush.messages": 1},
        producer_settings={"acks": 1},
        eligible_leader_replicas=False,
        protection="an fsync error takes the log offline and is never retried",
    ),
    Scenario(
        "replica-lost-for-good",
        "the ISR shrinks to the leader (min ISR 2), whose disk then dies; it comes back empty",
        "no loss",
        _replica_lost_for_good,
        topic_configs=MIN_ISR_2,
        producer_settings=ACKS_ALL,
        protection="an unclean restart leaves the ISR (KIP-966)",
    ),
    Scenario(
        "partitioned-zombie-leader",
        "the leader is cut off from everyone while producing with acks=all",
        "no loss",
        _zombie_leader,
        topic_configs=MIN_ISR_2,
        producer_settings=ACKS_ALL,
        protection="acks=all",
    ),
    Scenario(
        "lagging-consumer-page-cache",
        "a consumer reading from offset 0 evicts the tail from a 2 MiB page cache; then leader power loss",
        "no loss",
        _lagging_consumer,
        topic_configs=MIN_ISR_2,
        producer_settings=ACKS_ALL,
        writeback_policy=LAGGING_POLICY,
        protection="acks=all",
    ),
    Scenario(
        "tls-copy-path-switch",
        "listeners switch to TLS mid-stream (fetches leave the zero-copy path); then leader power loss",
        "no loss",
        _tls_switch,
        topic_configs=MIN_ISR_2,
        producer_settings=ACKS_ALL,
        protection="acks=all",
    ),
    Scenario(
        "scripted-nemesis",
        "a scripted schedule: isolate the leader, torn power loss of a follower, slow disk, leader crash",
        "no loss",
        _scripted_nemesis,
        topic_configs=MIN_ISR_2,
        producer_settings=ACKS_ALL,
        protection="acks=all",
    ),
    Scenario(
        "random-nemesis-within-budget",
        "120 s of seeded random faults that never damage more than min ISR - 1 brokers at once",
        "no loss",
        _random_nemesis_within_budget,
        topic_configs=MIN_ISR_2,
        producer_settings=ACKS_ALL,
        protection="acks=all",
    ),
    Scenario(
        "random-nemesis-beyond-budget",
        "120 s of seeded random faults including correlated power loss of several brokers",
        "loss allowed",
        _random_nemesis_beyond_budget,
        topic_configs=MIN_ISR_2,
        producer_settings=ACKS_ALL,
        eligible_leader_replicas=False,
    ),
)


def scenario(name: str) -> Scenario:
    """The catalogue entry called ``name``; raises ``KeyError`` for an unknown name."""
    for entry in CATALOGUE:
        if entry.name == name:
            return entry
    raise KeyError(name)


__all__ = ["CATALOGUE", "scenario", "slow_down_followers"]
