"""The nemesis: a seeded schedule of faults over simulated time, random or scripted.

A :class:`Nemesis` drives a :class:`~faults.inject.FaultInjector`. Every fault it starts it also
ends after a hold time (a powered-off or crashed broker restarts, a partition heals, a disk fault
is cleared and its broker restarted), so a run always ends with the cluster able to recover.

* :meth:`Nemesis.run_script` plays a list of :class:`Step` s, each a fault injector method with
  its arguments at a time offset: a reproducible story told by hand.
* :meth:`Nemesis.run_random` draws faults from ``kinds`` with a ``random.Random(seed)`` for
  ``duration`` simulated seconds, at most ``max_concurrent`` at a time. With a
  :class:`~faults.budget.BudgetMonitor` and ``stay_within_budget`` it only picks damaging faults
  that keep the run within its :class:`~faults.budget.FaultBudget`, and never takes down the last
  running in-sync replica (whose unclean restart would leave the partition offline under
  KIP-966); without, it may go beyond it
  (for example several brokers losing power at once), and the monitor records that it did.

Determinism: all choices come from the seed, and time is trio's clock, so under a seeded cluster
and ``MockClock`` the same seed gives the same faults at the same times. Errors:
:class:`~reflog.errors.ReflogUsageError` for an unknown fault kind or step action.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

import attrs
import trio

from faults.budget import BudgetMonitor
from faults.inject import FaultInjector
from faults.kinds import FaultKind
from reflog.errors import ReflogUsageError
from reflog.storage.sim import PowerLossMode
from reflog.vocabulary import TopicPartition

RANDOM_KINDS: tuple[str, ...] = (
    FaultKind.CRASH.value,
    FaultKind.STOP.value,
    FaultKind.POWER_LOSS.value,
    "power_loss_torn",
    FaultKind.ISOLATE.value,
    FaultKind.SPLIT.value,
    FaultKind.BLOCK.value,
    FaultKind.LINK_FAULTS.value,
    FaultKind.SLOW_DISK.value,
    FaultKind.FSYNC_ERROR.value,
    FaultKind.BITFLIP.value,
    FaultKind.REPLACE_DISK.value,
)
"""The names (see :data:`_STARTERS`) :meth:`Nemesis.run_random` draws from by default."""


@attrs.frozen
class Step:
    """At ``at`` seconds after the script starts, call ``FaultInjector.<action>(*args, **kwargs)``."""

    at: float
    action: str
    args: tuple[Any, ...] = ()
    kwargs: Mapping[str, Any] = attrs.field(factory=dict)


@attrs.define
class _Active:
    kind: FaultKind
    brokers: tuple[int, ...]
    ends_at: float


class Nemesis:
    """Seeded fault schedules over one cluster; see the module docstring."""

    def __init__(
        self,
        injector: FaultInjector,
        *,
        seed: int,
        topic_partition: TopicPartition,
        monitor: BudgetMonitor | None = None,
    ) -> None:
        self.injector = injector
        self.rng = random.Random(f"reflog.nemesis/{seed}")
        self.tp = topic_partition
        self.monitor = monitor
        self._active: list[_Active] = []
        self._within_budget = True
        self._isolated: set[int] = set()
        """Brokers isolated since the last heal (an ended isolation lasts until the network heals)."""

    @property
    def brokers(self) -> list[int]:
        return [h.broker_id for h in self.injector.cluster.brokers]

    # ------------------------------------------------------------------ scripted
    async def run_script(self, steps: Sequence[Step]) -> None:
        """Run ``steps`` in time order; each waits for its offset from the start.

        Every action is checked before the first step runs, so a bad one injects nothing.
        """
        start = trio.current_time()
        ordered = sorted(steps, key=lambda s: s.at)
        methods = []
        for step in ordered:
            method = getattr(self.injector, step.action, None)
            if not callable(method) or step.action.startswith("_"):
                raise ReflogUsageError(f"the fault injector has no action {step.action!r}")
            methods.append(method)
        for step, method in zip(ordered, methods, strict=True):
            await trio.sleep_until(start + step.at)
            outcome = method(*step.args, **dict(step.kwargs))
            if isinstance(outcome, Awaitable):
                await outcome

    # ------------------------------------------------------------------ random
    async def run_random(
        self,
        duration: float,
        *,
        kinds: Sequence[str] = RANDOM_KINDS,
        interval: tuple[float, float] = (2.0, 6.0),
        hold: tuple[float, float] = (2.0, 12.0),
        max_concurrent: int = 2,
        stay_within_budget: bool = True,
    ) -> None:
        """Start random faults for ``duration`` seconds, end each after a random hold, then end all."""
        unknown = set(kinds) - set(_STARTERS)
        if unknown:
            raise ReflogUsageError(f"unknown fault kinds {sorted(unknown)}; choose from {sorted(_STARTERS)}")
        self._within_budget = stay_within_budget
        start = trio.current_time()
        next_start = start + self.rng.uniform(*interval)
        while True:
            now = trio.current_time()
            ending = [a for a in self._active if a.ends_at <= now]
            for active in ending:
                self._active.remove(active)
                await self._end(active)
            if now >= start + duration:
                break
            if now >= next_start:
                if len(self._active) < max_concurrent:
                    await self._start_one(kinds, hold, stay_within_budget)
                next_start = now + self.rng.uniform(*interval)
            wake = min([next_start, start + duration, *(a.ends_at for a in self._active)])
            await trio.sleep_until(max(wake, trio.current_time()))
        for active in list(self._active):
            self._active.remove(active)
            await self._end(active)

    def _busy(self) -> set[int]:
        # An isolated broker cannot register with the controller, so a restart ending another fault
        # on it would wait for a heal that this very loop must perform: never pick it until healed.
        return {b for a in self._active for b in a.brokers} | self._isolated

    def _candidates(self, kind: FaultKind, stay_within_budget: bool) -> list[int]:
        free = [b for b in self.brokers if b not in self._busy()]
        if kind.damages_storage and stay_within_budget and self.monitor is not None:
            free = [b for b in free if not self.monitor.would_exceed({b})]
        if kind.takes_broker_down and stay_within_budget:
            free = [b for b in free if not self._leaves_no_live_isr_member(b)]
        if kind.on_disk:  # a disk fault is aimed at a running broker's active segment
            free = [b for b in free if self.injector.cluster.broker(b).running]
        return free

    def _leaves_no_live_isr_member(self, broker: int) -> bool:
        """Whether taking ``broker`` down would leave no running, unfaulted ISR member.

        The last ISR member's restart is unclean, so KIP-966 keeps it from leading again and
        the partition would stay offline (Kafka needs an unclean election or unclean recovery
        then): a run that promises to stay within the guarantee must not do that.
        """
        cluster = self.injector.cluster
        isr = cluster.controller.partition(*self.tp).isr
        busy = self._busy()
        alive = {m for m in isr if m != broker and m not in busy and cluster.broker(m).running}
        return not alive

    async def _start_one(self, kinds: Sequence[str], hold: tuple[float, float], within: bool) -> None:
        kind, start = _STARTERS[self.rng.choice(list(kinds))]
        candidates = self._candidates(kind, within)
        if not candidates:
            return  # nothing this kind may hit now; try again at the next interval
        broker = self.rng.choice(candidates)
        try:
            brokers = await start(self, broker)
        except FileNotFoundError:
            return  # the broker holds no segment of the partition yet
        if not brokers and kind.damages_storage:
            return  # the starter declined: it would have gone beyond the budget
        self._active.append(_Active(kind, brokers, trio.current_time() + self.rng.uniform(*hold)))

    async def _end(self, active: _Active) -> None:
        injector = self.injector
        if active.kind.lasts_until_heal:
            if not any(a.kind.lasts_until_heal for a in self._active):
                injector.heal()
                self._isolated.clear()
            return
        for broker in active.brokers:
            handle = injector.cluster.broker(broker)
            if active.kind.on_disk:
                injector.clear_disk_faults(broker)
                if active.kind.damages_storage and handle.running:
                    await injector.kill(broker)  # the operator restarts the broker on a healthy disk
            if not handle.running:
                await injector.restart(broker)

    # ------------------------------------------------------------------ fault starters
    async def _power_loss(self, broker: int) -> tuple[int, ...]:
        await self.injector.power_off(broker, mode=PowerLossMode.CLEAN)
        return (broker,)

    async def _power_loss_torn(self, broker: int) -> tuple[int, ...]:
        await self.injector.power_off(broker, mode=PowerLossMode.TORN)
        return (broker,)

    async def _correlated_power_loss(self, broker: int) -> tuple[int, ...]:
        others = [b for b in self.brokers if b != broker and b not in self._busy()]
        victims = (broker, *self.rng.sample(others, k=min(len(others), self.rng.randint(1, 2))))
        if self._within_budget and self.monitor is not None and self.monitor.would_exceed(set(victims)):
            return ()
        await self.injector.power_off(*sorted(victims), mode=PowerLossMode.CLEAN)
        return tuple(sorted(victims))

    async def _crash(self, broker: int) -> tuple[int, ...]:
        if self.injector.cluster.broker(broker).running:
            await self.injector.kill(broker)
        return (broker,)

    async def _stop(self, broker: int) -> tuple[int, ...]:
        if self.injector.cluster.broker(broker).running:
            await self.injector.stop(broker)
        return (broker,)

    async def _isolate(self, broker: int) -> tuple[int, ...]:
        self.injector.isolate(broker)
        self._isolated.add(broker)
        return ()

    async def _split(self, broker: int) -> tuple[int, ...]:
        self.injector.split({broker})
        return ()

    async def _block(self, broker: int) -> tuple[int, ...]:
        other = self.rng.choice([b for b in self.brokers if b != broker])
        self.injector.block(broker, other)
        return ()

    async def _link_faults(self, broker: int) -> tuple[int, ...]:
        other = self.rng.choice([b for b in self.brokers if b != broker])
        self.injector.link_faults(
            broker, other, drop=self.rng.choice([0.0, 0.1]), delay=self.rng.choice([0.05, 0.5])
        )
        return ()

    async def _slow_disk(self, broker: int) -> tuple[int, ...]:
        self.injector.slow_disk(broker, per_io_s=0.005)
        return (broker,)

    async def _fsync_error(self, broker: int) -> tuple[int, ...]:
        self.injector.fsync_error(broker, self.tp)
        return (broker,)

    async def _bitflip(self, broker: int) -> tuple[int, ...]:
        self.injector.bitflip(broker, self.tp, offset=self.rng.randrange(0, 512), bit=self.rng.randrange(8))
        return (broker,)

    async def _replace_disk(self, broker: int) -> tuple[int, ...]:
        await self.injector.replace_disk(broker, start=False)
        return (broker,)

    async def _switch_to_tls(self, broker: int) -> tuple[int, ...]:
        self.injector.switch_to_tls(broker)
        return ()


_Starter = Callable[[Nemesis, int], Awaitable[tuple[int, ...]]]
_STARTERS: dict[str, tuple[FaultKind, _Starter]] = {
    FaultKind.CRASH.value: (FaultKind.CRASH, Nemesis._crash),
    FaultKind.STOP.value: (FaultKind.STOP, Nemesis._stop),
    FaultKind.POWER_LOSS.value: (FaultKind.POWER_LOSS, Nemesis._power_loss),
    "power_loss_torn": (FaultKind.POWER_LOSS, Nemesis._power_loss_torn),
    "correlated_power_loss": (FaultKind.POWER_LOSS, Nemesis._correlated_power_loss),
    FaultKind.ISOLATE.value: (FaultKind.ISOLATE, Nemesis._isolate),
    FaultKind.SPLIT.value: (FaultKind.SPLIT, Nemesis._split),
    FaultKind.BLOCK.value: (FaultKind.BLOCK, Nemesis._block),
    FaultKind.LINK_FAULTS.value: (FaultKind.LINK_FAULTS, Nemesis._link_faults),
    FaultKind.SLOW_DISK.value: (FaultKind.SLOW_DISK, Nemesis._slow_disk),
    FaultKind.FSYNC_ERROR.value: (FaultKind.FSYNC_ERROR, Nemesis._fsync_error),
    FaultKind.BITFLIP.value: (FaultKind.BITFLIP, Nemesis._bitflip),
    FaultKind.REPLACE_DISK.value: (FaultKind.REPLACE_DISK, Nemesis._replace_disk),
    FaultKind.SWITCH_TO_TLS.value: (FaultKind.SWITCH_TO_TLS, Nemesis._switch_to_tls),
}
"""What :meth:`Nemesis.run_random` can draw, by name: the :class:`FaultKind` it injects and how.

Two names are variants of a power loss: ``power_loss_torn`` (torn sectors) and
``correlated_power_loss`` (the chosen broker and one or two more at the same instant)."""

__all__ = ["RANDOM_KINDS", "Nemesis", "Step"]
