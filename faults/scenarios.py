"""Running named fault scenarios on an embedded cluster and judging them against their expectation.

A :class:`Scenario` is a short async script over a :class:`ScenarioContext`: the cluster, a
recording producer, the history, the :class:`~faults.inject.FaultInjector` and a
:class:`~faults.budget.BudgetMonitor`. The script injects faults and returns an *excuse* when its
faults go beyond the guarantee (``None`` otherwise). :func:`run_scenario` runs it on a seeded
3-broker cluster, ends every fault (:meth:`~faults.inject.FaultInjector.heal_all`), lets the
replicas converge, checks the final state with :func:`faults.checker.check`, and compares the
outcome with what the scenario expects: ``"no loss"`` (no acknowledged record may be lost, and
nothing may be invalid) or ``"loss allowed"`` (losses are excused and reported, never silent).

The catalogue itself lives in :mod:`faults.catalogue`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Literal

import attrs
import trio

from faults.budget import BudgetMonitor, FaultBudget
from faults.checker import CheckReport, check
from faults.history import History
from faults.inject import FaultInjector
from faults.nemesis import Nemesis
from faults.recording import RecordingConsumer, RecordingProducer, final_state
from reflog.broker.config import BrokerConfig
from reflog.cluster import Cluster, open_cluster
from reflog.replication import ControllerConfig
from reflog.storage.sim import PowerLossMode, WritebackPolicy
from reflog.vocabulary import TopicPartition

TOPIC = "scenario"
TP = TopicPartition(TOPIC, 0)
Expectation = Literal["no loss", "loss allowed"]
CONVERGE_SECONDS = 30.0
"""Simulated seconds a run waits after healing every fault before it reads the final state."""


@attrs.define
class ScenarioContext:
    """What a scenario script works with; fault helpers record into the history."""

    cluster: Cluster
    history: History
    producer: RecordingProducer
    faults: FaultInjector
    monitor: BudgetMonitor
    seed: int
    sent: int = 0
    metrics: dict[str, str] = attrs.field(factory=dict)
    """Figures a script wants reported beside its verdict (label -> value)."""
    _consumers: int = 0

    def leader(self) -> int:
        return self.cluster.controller.partition(*TP).leader

    def followers(self) -> list[int]:
        leader = self.leader()
        return [h.broker_id for h in self.cluster.brokers if h.broker_id != leader]

    async def produce(self, count: int, *, size: int = 0) -> None:
        """Send ``count`` records one after another; ``size`` pads each value to that many bytes."""
        for _ in range(count):
            value = f"r{self.sent}"
            self.sent += 1  # first: a send cancelled half-way must not reuse its value
            if size > len(value):
                value = value + "|" + "x" * (size - len(value) - 1)
            await self.producer.send(TOPIC, value)

    async def produce_for(self, seconds: float, *, pause: float = 0.2) -> None:
        """Send records one after another for ``seconds`` (a send in flight at the end completes)."""
        deadline = trio.current_time() + seconds
        while trio.current_time() < deadline:
            await self.produce(1)
            await trio.sleep(pause)

    def consumer(self) -> RecordingConsumer:
        """A recording consumer of the scenario's partition (assigned, at offset 0)."""
        self._consumers += 1
        consumer = self.cluster.consumer()
        consumer.assign([TP])
        consumer.seek(TP, 0)
        return RecordingConsumer(consumer, self.history, f"consumer-{self._consumers}")

    def nemesis(self) -> Nemesis:
        return Nemesis(self.faults, seed=self.seed, topic_partition=TP, monitor=self.monitor)

    # Short names for the faults scripts use most: the verbs of BrokerHandle and FaultInjector.
    async def power_off(self, broker: int, mode: PowerLossMode = PowerLossMode.CLEAN) -> None:
        await self.faults.power_off(broker, mode=mode)

    async def kill(self, broker: int) -> None:
        await self.faults.kill(broker)

    async def stop(self, broker: int) -> None:
        await self.faults.stop(broker)

    async def restart(self, broker: int) -> None:
        await self.faults.restart(broker)

    def block(self, src: int, dst: int) -> None:
        self.faults.block(src, dst)

    def heal(self) -> None:
        self.faults.heal()


Script = Callable[[ScenarioContext], Awaitable[str | None]]


@attrs.frozen
class Scenario:
    """A named scenario: settings, a script, and the outcome it must have.

    ``protection`` names what makes a "no loss" scenario safe; its test switches that off and
    shows the checker then reports a violation.
    """

    name: str
    description: str
    expected: Expectation
    script: Script
    topic_configs: Mapping[str, int] = attrs.field(factory=dict)
    producer_settings: Mapping[str, Any] = attrs.field(factory=dict)
    eligible_leader_replicas: bool = True
    protection: str = ""
    writeback_policy: WritebackPolicy | None = None
    broker_config: BrokerConfig | None = None

    @property
    def settings(self) -> str:
        parts = [f"{k}={v}" for k, v in sorted({**self.producer_settings, **self.topic_configs}.items())]
        if not self.eligible_leader_replicas:
            parts.append("eligible.leader.replicas.enable=false")
        return ", ".join(parts) or "defaults"

    @property
    def min_insync_replicas(self) -> int:
        return int(self.topic_configs.get("min.insync.replicas", 1))


@attrs.frozen
class ScenarioResult:
    """What one run of a scenario did and whether that was expected."""

    scenario: Scenario
    seed: int
    report: CheckReport
    excuse: str | None
    history: History
    metrics: Mapping[str, str] = attrs.field(factory=dict)

    @property
    def as_expected(self) -> bool:
        if not self.report.valid:
            return False
        return self.scenario.expected == "loss allowed" or not self.report.lost

    @property
    def replay(self) -> str:
        return f"reflog scenarios --seed {self.seed} --only {self.scenario.name}"


async def run_scenario(scenario: Scenario, seed: int) -> ScenarioResult:
    """Run ``scenario`` on a fresh 3-broker cluster seeded with ``seed`` (call under a MockClock)."""
    history = History()
    async with (
        open_cluster(
            brokers=3,
            seed=seed,
            controller_config=ControllerConfig(
                eligible_leader_replicas_enable=scenario.eligible_leader_replicas
            ),
            writeback_policy=scenario.writeback_policy,
            broker_config=scenario.broker_config,
        ) as cluster,
        trio.open_nursery() as nursery,
    ):
        await cluster.create_topic(TOPIC, replication_factor=3, configs=dict(scenario.topic_configs))
        settings = {"linger_ms": 0, **scenario.producer_settings}
        producer = RecordingProducer(cluster.producer(**settings), history, "producer-1")
        injector = FaultInjector(cluster, history)
        monitor = BudgetMonitor(cluster, FaultBudget.for_min_insync_replicas(scenario.min_insync_replicas))
        monitor.attach(injector)
        nursery.start_soon(monitor.watch)
        context = ScenarioContext(cluster, history, producer, injector, monitor, seed)
        excuse = await scenario.script(context)
        await injector.heal_all()
        await cluster.wait_for_leaders(TOPIC, timeout=120)
        await trio.sleep(CONVERGE_SECONDS)
        replicas, leader = final_state(cluster, TP)
        report = check(history, replicas, leader, excuse=excuse)
        nursery.cancel_scope.cancel()
    return ScenarioResult(scenario, seed, report, excuse, history, dict(context.metrics))


__all__ = ["TOPIC", "TP", "Scenario", "ScenarioContext", "ScenarioResult", "run_scenario"]
