"""The history of a fault run: every client operation as invoke then ok / fail / info, plus faults.

As in Jepsen, an operation is recorded twice: when a client *invokes* it, and when it completes
as ``ok`` (it happened), ``fail`` (it definitely did not happen) or ``info`` (indeterminate: it
may or may not have happened). A ``send`` records the producer's ``acks`` ("0", "1" or "all") when
invoked: an ``acks=0`` send is never acknowledged (Kafka returns no offset), so it completes as
``info`` at best and no checker counts it as acknowledged. Faults are recorded as they are
injected. Times are simulated seconds (trio's clock). A history saves to JSON lines and loads back
unchanged, so the same seed gives a byte-identical file.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Literal

import attrs

from reflog.errors import ReflogUsageError

OpType = Literal["invoke", "ok", "fail", "info"]


@attrs.frozen
class Operation:
    """One line of the history: an invocation or a completion of client operation ``op_id``."""

    op_id: int
    process: str
    type: OpType
    f: str
    """What the operation does: ``"send"`` or ``"poll"``."""
    value: dict[str, Any]
    time: float


#: The ``acks`` values a send records, in Kafka's spelling.
Acks = Literal["0", "1", "all"]


def acks_name(acks: int) -> Acks:
    """Kafka's spelling of a producer's ``acks`` setting (-1 is ``"all"``); raises for anything else."""
    names: dict[int, Acks] = {0: "0", 1: "1", -1: "all"}
    if acks not in names:
        raise ReflogUsageError(f"acks must be 0, 1 or -1 (all), got {acks!r}")
    return names[acks]


def send_acks(invocation: Operation) -> str:
    """The ``acks`` a ``send`` invocation recorded; ``"all"`` for a history that predates the field."""
    return str(invocation.value.get("acks", "all"))


def _int_tuple(values: Iterable[int]) -> tuple[int, ...]:
    return tuple(int(v) for v in values)


@attrs.frozen
class Fault:
    """A fault injected at ``time`` on ``target`` (its display name: a broker, a link, "cluster").

    ``kind`` is a :class:`~faults.kinds.FaultKind` value (a history written by hand may hold any
    string). ``brokers`` are the brokers the fault is aimed at, as data: for a link fault, source
    then destination; for a split, the side that was cut off.
    """

    kind: str
    target: str
    time: float
    detail: dict[str, Any] = attrs.field(factory=dict)
    brokers: tuple[int, ...] = attrs.field(default=(), converter=_int_tuple)


_BROKER_NODE = re.compile(r"broker-(\d+)")


def brokers_in_target(target: str) -> tuple[int, ...]:
    """Every ``broker-N`` a target names (``"broker-1,broker-2"``, ``"broker-1->broker-3"``), in order.

    Only for faults recorded without ``brokers`` (histories written by hand, or saved before the
    field existed); the injector always records them.
    """
    found: list[int] = []
    for part in target.split(","):
        for node in part.split("->"):
            match = _BROKER_NODE.fullmatch(node.strip())
            if match and int(match.group(1)) not in found:
                found.append(int(match.group(1)))
    return tuple(found)


Event = Operation | Fault


class History:
    """An append-only list of operations and faults, in the order they happened."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self._open: dict[int, Operation] = {}
        self._next_id = 0

    def invoke(self, process: str, f: str, value: dict[str, Any], time: float) -> int:
        """Record that ``process`` starts operation ``f``; returns its id for :meth:`complete`."""
        op_id = self._next_id
        self._next_id += 1
        operation = Operation(op_id, process, "invoke", f, dict(value), time)
        self._open[op_id] = operation
        self.events.append(operation)
        return op_id

    def complete(self, op_id: int, type: OpType, value: dict[str, Any], time: float) -> None:
        """Record the outcome of operation ``op_id``. Raises :class:`ReflogUsageError` if it is not open."""
        if type == "invoke":
            raise ReflogUsageError("an operation completes as ok, fail or info")
        invoked = self._open.pop(op_id, None)
        if invoked is None:
            raise ReflogUsageError(f"operation {op_id} is not open")
        self.events.append(Operation(op_id, invoked.process, type, invoked.f, dict(value), time))

    def fault(
        self, kind: str, target: str, time: float, *, brokers: Iterable[int] | None = None, **detail: Any
    ) -> None:
        """Record a fault; without ``brokers`` they are the brokers ``target`` names."""
        aimed = brokers_in_target(target) if brokers is None else tuple(brokers)
        self.events.append(Fault(kind, target, time, detail, aimed))

    def completions(self) -> Iterator[tuple[Operation, Operation]]:
        """Each completed operation as (invocation, completion), in completion order."""
        invocations = {e.op_id: e for e in self.events if isinstance(e, Operation) and e.type == "invoke"}
        for event in self.events:
            if isinstance(event, Operation) and event.type != "invoke":
                yield invocations[event.op_id], event

    def faults(self) -> list[Fault]:
        return [e for e in self.events if isinstance(e, Fault)]

    # ------------------------------------------------------------------ JSON lines
    def to_jsonl(self) -> str:
        """One JSON object per line, keys sorted, so equal histories give identical bytes."""
        lines = []
        for event in self.events:
            record = attrs.asdict(event)
            record["event"] = "op" if isinstance(event, Operation) else "fault"
            lines.append(json.dumps(record, sort_keys=True, separators=(",", ":")))
        return "\n".join(lines) + ("\n" if lines else "")

    def save(self, path: str | Path) -> None:
        Path(path).write_text(self.to_jsonl(), encoding="utf-8")

    @classmethod
    def from_jsonl(cls, text: str) -> History:
        """Parse :meth:`to_jsonl` output. Raises :class:`ReflogUsageError` on a malformed line."""
        history = cls()
        for number, line in enumerate(text.splitlines(), start=1):
            try:
                record = json.loads(line)
                kind = record.pop("event")
                if kind != "op" and "brokers" not in record:  # saved before faults carried brokers
                    record["brokers"] = brokers_in_target(str(record["target"]))
                event: Event = Operation(**record) if kind == "op" else Fault(**record)
            except (ValueError, TypeError, KeyError) as exc:
                raise ReflogUsageError(f"history line {number} is malformed: {exc}") from exc
            history.events.append(event)
            if isinstance(event, Operation):
                history._next_id = max(history._next_id, event.op_id + 1)
        return history

    @classmethod
    def load(cls, path: str | Path) -> History:
        return cls.from_jsonl(Path(path).read_text(encoding="utf-8"))
