"""Named fault scenarios on an embedded cluster, each with its expected outcome.

A :class:`Scenario` is a short async script over a :class:`ScenarioContext` (the cluster, a
recording producer, the history). The script injects faults and returns an *excuse* when its
faults go beyond the guarantee (``None`` otherwise). :func:`run_scenario` runs it under a
seeded cluster, checks the final state with :func:`faults.checker.check`, and compares the
outcome with what the scenario expects: ``"no loss"`` (no acknowledged record may be lost) or
``"loss allowed"`` (losses are excused and reported, never silent).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Literal

import attrs
import trio

from faults.checker import CheckReport, check
from faults.history import History
from faults.recording import RecordingProducer, final_state
from reflog.cluster import Cluster, open_cluster
from reflog.replication import ControllerConfig
from reflog.replication.controller import LeaderElected
from reflog.replication.messages import TopicPartition
from reflog.storage.sim import PowerLossMode

TOPIC = "scenario"
TP = TopicPartition(TOPIC, 0)
Expectation = Literal["no loss", "loss allowed"]


@attrs.define
class ScenarioContext:
    """What a scenario script works with."""

    cluster: Cluster
    history: History
    producer: RecordingProducer
    sent: int = 0

    def leader(self) -> int:
        return self.cluster.controller.partition(*TP).leader

    async def produce(self, count: int) -> None:
        """Send ``count`` records, one after another."""
        for _ in range(count):
            await self.producer.send(TOPIC, f"r{self.sent}")
            self.sent += 1

    async def power_off(self, broker: int, mode: PowerLossMode = PowerLossMode.CLEAN) -> None:
        self.history.fault("power_loss", f"broker-{broker}", trio.current_time(), mode=mode.value)
        await self.cluster.broker(broker).power_off(mode)

    async def kill(self, broker: int) -> None:
        self.history.fault("kill", f"broker-{broker}", trio.current_time())
        await self.cluster.broker(broker).kill()

    async def restart(self, broker: int) -> None:
        self.history.fault("restart", f"broker-{broker}", trio.current_time())
        await self.cluster.broker(broker).restart()

    def block(self, src: int, dst: int) -> None:
        self.history.fault("block", f"broker-{src}->broker-{dst}", trio.current_time())
        self.cluster.network.block(f"broker-{src}", f"broker-{dst}")

    def heal(self) -> None:
        self.history.fault("heal", "network", trio.current_time())
        self.cluster.network.heal()


Script = Callable[[ScenarioContext], Awaitable[str | None]]


@attrs.frozen
class Scenario:
    """A named scenario: settings, a script, and the outcome it must have."""

    name: str
    description: str
    expected: Expectation
    script: Script
    topic_configs: Mapping[str, int] = attrs.field(factory=dict)
    producer_settings: Mapping[str, Any] = attrs.field(factory=dict)
    eligible_leader_replicas: bool = True

    @property
    def settings(self) -> str:
        parts = [f"{k}={v}" for k, v in sorted({**self.producer_settings, **self.topic_configs}.items())]
        return ", ".join(parts) or "defaults"


@attrs.frozen
class ScenarioResult:
    """What one run of a scenario did and whether that was expected."""

    scenario: Scenario
    seed: int
    report: CheckReport
    excuse: str | None
    history: History

    @property
    def as_expected(self) -> bool:
        if not self.report.valid:
            return False
        return self.scenario.expected == "loss allowed" or not self.report.lost


async def run_scenario(scenario: Scenario, seed: int) -> ScenarioResult:
    """Run ``scenario`` on a fresh 3-broker cluster seeded with ``seed`` (call under a MockClock)."""
    history = History()
    async with open_cluster(
        brokers=3,
        seed=seed,
        controller_config=ControllerConfig(eligible_leader_replicas_enable=scenario.eligible_leader_replicas),
    ) as cluster:
        await cluster.create_topic(TOPIC, replication_factor=3, configs=dict(scenario.topic_configs))
        settings = {"linger_ms": 0, **scenario.producer_settings}
        producer = RecordingProducer(cluster.producer(**settings), history, "producer-1")
        context = ScenarioContext(cluster, history, producer)
        excuse = await scenario.script(context)
        for handle in cluster.brokers:
            if not handle.running:
                await context.restart(handle.broker_id)
        context.heal()
        await cluster.wait_for_leaders(TOPIC, timeout=120)
        await trio.sleep(30)  # let the followers converge
        replicas, leader = final_state(cluster, TP)
        report = check(history, replicas, leader, excuse=excuse)
    return ScenarioResult(scenario, seed, report, excuse, history)


# ---------------------------------------------------------------------------------- the catalogue
async def _acks1_leader_power_loss(ctx: ScenarioContext) -> str | None:
    await ctx.produce(5)
    await trio.sleep(2)
    leader = ctx.leader()
    for follower in (b for b in (1, 2, 3) if b != leader):
        ctx.block(follower, leader)
    await ctx.produce(10)  # acknowledged by the leader alone
    await ctx.power_off(leader)
    ctx.heal()
    await trio.sleep(15)
    return "acks=1: records acknowledged before any follower had them"


async def _acks_all_leader_power_loss(ctx: ScenarioContext) -> str | None:
    await ctx.produce(30)
    await ctx.power_off(ctx.leader())
    await trio.sleep(15)
    await ctx.produce(10)
    return None


async def _torn_tail(ctx: ScenarioContext) -> str | None:
    await ctx.produce(30)
    leader = ctx.leader()
    await ctx.power_off(leader, PowerLossMode.TORN)  # torn sectors in its unflushed tail
    await trio.sleep(15)
    await ctx.restart(leader)  # recovery cuts the torn tail; the replica re-syncs
    await ctx.produce(10)
    return None


async def _every_replica_loses_power(ctx: ScenarioContext) -> str | None:
    await ctx.produce(30)
    for broker in (1, 2, 3):
        await ctx.power_off(broker)
    return "every replica lost power before flushing (the documented default trade-off)"


async def _every_replica_loses_power_flushed(ctx: ScenarioContext) -> str | None:
    await ctx.produce(30)
    for broker in (1, 2, 3):
        await ctx.power_off(broker)
    return None


async def _unclean_election(ctx: ScenarioContext) -> str | None:
    await ctx.produce(5)
    await trio.sleep(2)
    leader = ctx.leader()
    for follower in (b for b in (1, 2, 3) if b != leader):
        ctx.block(follower, leader)
    await ctx.produce(5)  # min ISR 1: acknowledged once the ISR shrank to the leader (after 30 s)
    await ctx.kill(leader)
    ctx.heal()
    await trio.sleep(15)
    unclean = [e for e in ctx.cluster.controller.events if isinstance(e, LeaderElected) and e.unclean]
    return "unclean leader election (reported by the controller)" if unclean else None


async def _last_isr_replica_power_loss(ctx: ScenarioContext) -> str | None:
    await ctx.produce(10)
    await trio.sleep(2)
    leader = ctx.leader()
    for follower in (b for b in (1, 2, 3) if b != leader):
        ctx.block(follower, leader)
    with trio.move_on_after(40):  # min ISR 2: this write waits while the ISR shrinks to the leader
        await ctx.produce(1)
    await ctx.power_off(leader)  # the last ISR member loses power; KIP-966 keeps it from leading
    ctx.heal()
    await trio.sleep(15)
    return None


async def _zombie_leader(ctx: ScenarioContext) -> str | None:
    await ctx.produce(10)
    leader = ctx.leader()
    ctx.cluster.network.isolate(f"broker-{leader}")
    ctx.history.fault("isolate", f"broker-{leader}", trio.current_time())
    await ctx.produce(10)  # the producer moves to the new leader; the zombie cannot acknowledge
    return None


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
        "acks=all, RF 3, min ISR 2; the leader loses power",
        "no loss",
        _acks_all_leader_power_loss,
        topic_configs={"min.insync.replicas": 2},
        producer_settings={"acks": "all"},
    ),
    Scenario(
        "torn-tail-recovered",
        "acks=all, RF 3; the leader loses power with torn sectors, recovers and re-syncs",
        "no loss",
        _torn_tail,
        topic_configs={"min.insync.replicas": 2},
        producer_settings={"acks": "all"},
    ),
    Scenario(
        "all-replicas-power-loss",
        "every replica loses power at once; Kafka's flush defaults",
        "loss allowed",
        _every_replica_loses_power,
        topic_configs={"min.insync.replicas": 2},
        producer_settings={"acks": "all"},
        eligible_leader_replicas=False,
    ),
    Scenario(
        "all-replicas-power-loss-flush-every-message",
        "every replica loses power at once; flush.messages=1",
        "no loss",
        _every_replica_loses_power_flushed,
        topic_configs={"min.insync.replicas": 2, "flush.messages": 1},
        producer_settings={"acks": "all"},
        eligible_leader_replicas=False,
    ),
    Scenario(
        "unclean-election",
        "unclean.leader.election.enable, min ISR 1; the lone ISR leader dies while followers lag",
        "loss allowed",
        _unclean_election,
        topic_configs={"min.insync.replicas": 1, "unclean.leader.election.enable": 1},
        producer_settings={"acks": "all"},
    ),
    Scenario(
        "last-isr-replica-power-loss",
        "the ISR shrinks to the leader (min ISR 2), which then loses power: KIP-966 keeps it from leading",
        "no loss",
        _last_isr_replica_power_loss,
        topic_configs={"min.insync.replicas": 2},
        producer_settings={"acks": "all"},
    ),
    Scenario(
        "partitioned-zombie-leader",
        "the leader is cut off from everyone while producing with acks=all",
        "no loss",
        _zombie_leader,
        topic_configs={"min.insync.replicas": 2},
        producer_settings={"acks": "all"},
    ),
)
