"""The timeline model of the HTML report: lanes, operation bars and fault markers of one history.

:class:`Timeline` turns a :class:`~faults.history.History` into the lanes of :mod:`faults.report`'s
timeline (see its docstring for the lane order and where each fault goes): fault markers are placed
from each fault's ``brokers`` and its kind's :class:`~faults.kinds.Scope`, never by parsing the
target. It raises nothing for any history (unknown kinds, odd times, completions without an
invocation, unhashable ids).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import attrs

from faults._report_text import MAX_VALUE_CHARS, as_text, as_time, cut, fmt_time, natural_key, show
from faults.history import Fault, History, Operation
from faults.kinds import Scope, kind_of

MAX_SUBROWS = 8
"""At most this many sub-rows per process lane; more overlapping operations share sub-rows."""

MAX_LABEL_CHARS = 40
"""Longer fault labels are cut on the timeline (the tooltip has the whole text)."""

CLUSTER_LANE = "cluster"


@attrs.frozen
class Bar:
    lane: str
    start: float
    end: float
    outcome: str
    """``ok``, ``fail``, ``info`` or ``open`` (never completed)."""
    op_id: str
    tooltip: str


@attrs.frozen
class Marker:
    lane: str
    time: float
    kind: str
    label: str
    tooltip: str


def _broker_lane(broker: int) -> str:
    return f"broker-{broker}"


def _op_tooltip(invoke: Operation | None, done: Operation | None, end_of_run: float) -> str:
    first = invoke if invoke is not None else done
    if first is None:  # pragma: no cover - callers pass at least one
        return ""
    outcome = "never completed" if done is None else as_text(done.type)
    lines = [f"op {as_text(first.op_id)} · {as_text(first.process)} · {as_text(first.f)} · {outcome}"]
    if invoke is None:
        lines.append(f"time {fmt_time(as_time(first.time))} s (no invocation recorded)")
    else:
        finished = (
            fmt_time(as_time(done.time)) if done is not None else f"end of run ({fmt_time(end_of_run)})"
        )
        lines.append(f"time {fmt_time(as_time(invoke.time))} → {finished} s")
        lines.append(f"invoke: {show(invoke.value)}")
    if done is not None:
        lines.append(f"{as_text(done.type)}: {show(done.value)}")
    return "\n".join(lines)


def _fault_tooltip(fault: Fault) -> str:
    detail: object = fault.detail
    if isinstance(detail, Mapping):
        shown = ", ".join(f"{as_text(k)}={show(v)}" for k, v in detail.items())
    else:
        shown = show(detail)
    lines = [
        f"fault {as_text(fault.kind)}",
        f"target {as_text(fault.target)}",
        f"time {fmt_time(as_time(fault.time))} s",
    ]
    if shown:
        lines.append(f"detail {cut(shown, MAX_VALUE_CHARS)}")
    return "\n".join(lines)


def _hashable(value: object) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True


def sort_time(t: float) -> float:
    return -math.inf if math.isnan(t) else t


class Timeline:
    """The lanes, bars and markers of one history, and the time span they cover."""

    def __init__(self, history: History) -> None:
        events: list[object] = list(getattr(history, "events", ()))
        times = [as_time(getattr(e, "time", math.nan)) for e in events]
        finite = [t for t in times if math.isfinite(t)]
        self.start = min(finite) if finite else 0.0
        self.end = max(finite) if finite else 0.0
        self.bars: list[Bar] = []
        self.markers: list[Marker] = []
        processes: dict[str, None] = {}
        brokers: dict[int, None] = {}
        cluster = False
        pending: dict[object, tuple[int, Operation]] = {}
        unfinished: list[tuple[int, Operation]] = []
        for index, event in enumerate(events):
            if isinstance(event, Operation):
                process = as_text(event.process)
                processes.setdefault(process)
                key = event.op_id if _hashable(event.op_id) else ("unhashable", index)
                if event.type == "invoke":
                    earlier = pending.pop(key, None)
                    if earlier is not None:  # the same id invoked twice: the first never completed
                        unfinished.append(earlier)
                    pending[key] = (index, event)
                    continue
                found = pending.pop(key, None)
                invoke = found[1] if found is not None else None
                outcome = event.type if event.type in ("ok", "fail", "info") else "info"
                self.bars.append(
                    Bar(
                        lane=process if invoke is None else as_text(invoke.process),
                        start=as_time(event.time if invoke is None else invoke.time),
                        end=as_time(event.time),
                        outcome=outcome,
                        op_id=as_text(event.op_id),
                        tooltip=_op_tooltip(invoke, event, self.end),
                    )
                )
            elif isinstance(event, Fault):
                target = as_text(event.target)
                kind = as_text(event.kind)
                tooltip = _fault_tooltip(event)
                known = kind_of(event.kind) if isinstance(event.kind, str) else None
                scope = known.scope if known is not None else Scope.BROKERS
                aimed = [b for b in event.brokers if isinstance(b, int)]
                if scope is Scope.CLUSTER or not aimed:
                    cluster = True
                    lanes_hit = [CLUSTER_LANE]
                else:
                    for broker in aimed:
                        brokers.setdefault(broker)
                    lanes_hit = [_broker_lane(b) for b in (aimed[:1] if scope is Scope.LINK else aimed)]
                for lane in dict.fromkeys(lanes_hit):
                    shows_target = scope is Scope.LINK or (
                        lane == CLUSTER_LANE and target.strip() != CLUSTER_LANE
                    )
                    label = f"{kind} {target}" if shows_target else kind
                    self.markers.append(
                        Marker(lane, as_time(event.time), kind, cut(label, MAX_LABEL_CHARS), tooltip)
                    )
        unfinished.extend(pending.values())
        unfinished.sort(key=lambda item: item[0])
        for _, invoke in unfinished:
            self.bars.append(
                Bar(
                    lane=as_text(invoke.process),
                    start=as_time(invoke.time),
                    end=self.end,
                    outcome="open",
                    op_id=as_text(invoke.op_id),
                    tooltip=_op_tooltip(invoke, None, self.end),
                )
            )
        self.lanes: list[str] = []
        seen: set[str] = set()
        ordered = [
            *sorted(processes, key=natural_key),
            *(_broker_lane(b) for b in sorted(brokers)),
            *([CLUSTER_LANE] if cluster else []),
        ]
        for name in ordered:
            if name not in seen:
                seen.add(name)
                self.lanes.append(name)
        self.subrows = self._stack()

    def _stack(self) -> list[int]:
        """Each bar's sub-row: a process's overlapping bars go on different sub-rows (at most
        :data:`MAX_SUBROWS`; beyond that the sub-row that frees up first is shared)."""
        order = sorted(
            range(len(self.bars)), key=lambda i: (self.bars[i].lane, sort_time(self.bars[i].start), i)
        )
        row_ends: dict[str, list[float]] = {}
        subrows = [0] * len(self.bars)
        for i in order:
            bar = self.bars[i]
            ends = row_ends.setdefault(bar.lane, [])
            start = sort_time(bar.start)
            free = next((r for r, end in enumerate(ends) if end < start), None)
            if free is None:
                if len(ends) < MAX_SUBROWS:
                    ends.append(-math.inf)
                    free = len(ends) - 1
                else:
                    free = min(range(len(ends)), key=lambda r: ends[r])
            ends[free] = max(ends[free], start, sort_time(bar.end))
            subrows[i] = free
        return subrows
