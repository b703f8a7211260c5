"""The fault budget: how much a run may break and still be owed reflog's guarantee.

The guarantee (specs/faults.md, HAR-10): with ``acks=all``, ``min.insync.replicas = m`` and no
unclean leader election, an acknowledged record survives as long as **at most m - 1 brokers are
damaged at the same time**. A broker is *damaged* from the moment a damaging fault hits it
(:attr:`faults.kinds.FaultKind.damages_storage`: power loss, a replaced disk, any data-corrupting
or failing disk fault) until it has restarted after that fault *and* is back in the ISR of every partition it
replicates, so it again holds everything committed. Process crashes, clean stops, network faults,
a slow disk and a TLS switch never damage a broker: they may stop progress, never lose data.

:class:`BudgetMonitor` watches a run through the fault injector and the controller's metadata and
says whether the run stayed within a :class:`FaultBudget`; when it did not, :attr:`excuse` says
why, and the checker then classifies losses as allowed instead of as violations.
"""

from __future__ import annotations

import attrs
import trio

from faults.inject import FaultInjector
from faults.kinds import FaultKind
from reflog.cluster import Cluster
from reflog.errors import ReflogUsageError
from reflog.replication.controller_events import LeaderElected


@attrs.frozen
class FaultBudget:
    """At most ``max_damaged`` brokers damaged at once; unclean elections forbidden unless allowed."""

    max_damaged: int
    allow_unclean_election: bool = False

    def __attrs_post_init__(self) -> None:
        if self.max_damaged < 0:
            raise ReflogUsageError("a fault budget cannot be negative")

    @classmethod
    def for_min_insync_replicas(cls, min_insync_replicas: int) -> FaultBudget:
        """The budget the guarantee grants a topic with this ``min.insync.replicas``."""
        return cls(max_damaged=min_insync_replicas - 1)


class BudgetMonitor:
    """Tracks damaged brokers during a run and records every moment the budget was exceeded.

    Subscribe it to an injector (:meth:`attach`) and run :meth:`watch` in the run's nursery (it
    polls the controller's metadata every ``interval`` simulated seconds to see damaged brokers
    return to their ISRs). Call :meth:`refresh` before reading :attr:`damaged` for a fresh view.
    """

    def __init__(self, cluster: Cluster, budget: FaultBudget, *, interval: float = 0.5) -> None:
        self.cluster = cluster
        self.budget = budget
        self.interval = interval
        self._damaged_at: dict[int, tuple[int, int]] = {}
        """Damaged broker -> the incarnation that was current (or last) when the damage struck, and
        the broker epoch of its registration at the controller then (-1: none)."""
        self.breaches: list[str] = []
        self._seen_events = 0

    def attach(self, injector: FaultInjector) -> None:
        injector.listeners.append(self._on_fault)

    @property
    def damaged(self) -> frozenset[int]:
        return frozenset(self._damaged_at)

    @property
    def within_budget(self) -> bool:
        self.refresh()
        return not self.breaches

    @property
    def excuse(self) -> str | None:
        """Why losses are allowed in this run (the budget was exceeded), or ``None``."""
        self.refresh()
        if not self.breaches:
            return None
        more = len(self.breaches) - 1
        return self.breaches[0] + (f" (and {more} more breach{'es' if more > 1 else ''})" if more else "")

    def would_exceed(self, brokers: set[int]) -> bool:
        """Whether damaging ``brokers`` now would take the run beyond its budget."""
        self.refresh()
        return len(self.damaged | brokers) > self.budget.max_damaged

    def _on_fault(self, kind: FaultKind, brokers: tuple[int, ...]) -> None:
        if not kind.damages_storage:
            return
        for broker in brokers:
            registration = self.cluster.controller.broker(broker)
            self._damaged_at[broker] = (
                self.cluster.broker(broker).incarnation,
                -1 if registration is None else registration.broker_epoch,
            )
        if len(self._damaged_at) > self.budget.max_damaged:
            self.breaches.append(
                f"fault budget exceeded at t={trio.current_time():.1f}s: brokers "
                f"{sorted(self._damaged_at)} damaged at once (budget {self.budget.max_damaged})"
            )

    def refresh(self) -> None:
        """Clear brokers that restarted and rejoined every ISR; note any unclean election."""
        events = self.cluster.controller.events
        for event in events[self._seen_events :]:
            if not isinstance(event, LeaderElected) or self.budget.allow_unclean_election:
                continue
            if event.unclean:
                self.breaches.append(
                    f"unclean leader election of {event.topic_partition} at t={event.time:.1f}s"
                )
        self._seen_events = len(events)
        partitions = self.cluster.controller.partitions()
        for broker, (incarnation, epoch) in list(self._damaged_at.items()):
            handle = self.cluster.broker(broker)
            registration = self.cluster.controller.broker(broker)
            # Restarted *and registered again*: until the new incarnation registers, the controller's
            # ISR may still list the damaged incarnation (its session has not expired yet).
            restarted = (
                handle.running
                and handle.incarnation > incarnation
                and registration is not None
                and registration.broker_epoch > epoch
            )
            back_in_isr = all(broker in p.isr for p in partitions if broker in p.replicas)
            if restarted and back_in_isr:
                del self._damaged_at[broker]

    async def watch(self) -> None:
        """Refresh forever (run it in the run's nursery; cancel it at the end)."""
        while True:
            self.refresh()
            await trio.sleep(self.interval)


__all__ = ["BudgetMonitor", "FaultBudget"]
