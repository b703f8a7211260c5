"""The checker: what a history and the final cluster state say about every acknowledged record.

Input: a :class:`~faults.history.History` whose ``send`` operations carry ``{"partition",
"value"}`` when invoked and ``{"offset"}`` when ``ok``, and whose ``poll`` completions carry
``{"records": [[partition, offset, value], ...]}``; and the final state of one partition: each
replica's log as ``(offset, value)`` pairs with its high watermark, and the leader's id.

For every acknowledged record the checker says whether it survived (the leader's log holds the
value at the acknowledged offset). A lost record is *allowed* when ``excuse`` names why the run
went beyond the guarantee (every in-sync replica lost power before flushing, an unclean election,
``acks=1``...), otherwise it is a *violation*. It also reports duplicates (a value twice in the
log), reordering (a producer's later acknowledged send at a lower offset, both surviving), reads
that vanished (a
consumer saw a record the final log does not hold at that offset), replicas that diverge
below their high watermarks, and replicas whose log holds a batch that fails its CRC check
(corrupt bytes a recovery kept, which a fetch would refuse to serve). Indeterminate (``info``)
and failed sends are never counted lost, nor is any ``acks=0`` send (Kafka acknowledges none: even
a history that completes one as ``ok`` does not make it an acknowledged record); they are counted in
``unacknowledged``. A record a consumer read is judged whatever its ``acks``: a read record was
committed, and the guarantee covers committed records.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Mapping, Sequence

import attrs

from faults.history import History, Operation, send_acks


@attrs.frozen
class Lost:
    value: str
    offset: int
    allowed: bool
    reason: str


@attrs.frozen
class ReplicaState:
    """One replica's final log (``(offset, value)`` pairs, in order) and high watermark."""

    records: Sequence[tuple[int, str]]
    high_watermark: int
    corrupt_at: int | None = None
    """The offset of the first batch that fails its CRC check (``records`` stop there), if any."""


@attrs.frozen
class CheckReport:
    """The checker's verdict on one partition."""

    acknowledged: int
    survived: int
    lost: tuple[Lost, ...]
    duplicates: tuple[str, ...]
    reordered: tuple[tuple[str, str], ...]
    vanished_reads: tuple[tuple[int, str], ...]
    divergent: tuple[tuple[int, int, int], ...]
    """(replica a, replica b, first offset where they differ below both HWs)."""
    corrupt: tuple[tuple[int, int], ...] = ()
    """(replica, offset of its first batch that fails the CRC check)."""
    unacknowledged: int = 0
    """Completed ``acks=0`` sends: never acknowledged, so never judged lost."""

    @property
    def violations(self) -> tuple[Lost, ...]:
        return tuple(lost for lost in self.lost if not lost.allowed)

    @property
    def valid(self) -> bool:
        """No violation: no unexcused loss, duplicate, reordering, vanished read, divergence or corruption."""
        return not (
            self.violations
            or self.duplicates
            or self.reordered
            or self.vanished_reads
            or self.divergent
            or self.corrupt
        )


def _sends(history: History, partition: int) -> list[tuple[Operation, Operation]]:
    return [
        (invoke, done)
        for invoke, done in history.completions()
        if done.f == "send" and invoke.value.get("partition", 0) == partition
    ]


def _acknowledged(invoke: Operation, done: Operation) -> bool:
    """Completed ``ok`` by a producer whose ``acks`` waits for the broker (1 or all, never 0)."""
    return done.type == "ok" and send_acks(invoke) != "0"


def check(
    history: History,
    replicas: Mapping[int, ReplicaState],
    leader: int,
    *,
    partition: int = 0,
    excuse: str | None = None,
) -> CheckReport:
    """Check one partition; see the module docstring. ``leader`` must be a key of ``replicas``."""
    final = dict(replicas[leader].records)
    sends = _sends(history, partition)
    acked = [(invoke, done) for invoke, done in sends if _acknowledged(invoke, done)]
    lost: list[Lost] = []
    for invoke, done in acked:
        value, offset = str(invoke.value["value"]), int(done.value["offset"])
        if final.get(offset) != value:
            reason = excuse or "no fault in this run excuses it"
            lost.append(Lost(value, offset, excuse is not None, reason))
    counts = Counter(value for _, value in replicas[leader].records)
    duplicates = tuple(sorted(value for value, n in counts.items() if n > 1))
    reordered: list[tuple[str, str]] = []
    by_process: dict[str, list[tuple[Operation, Operation]]] = {}
    for invoke, done in acked:
        by_process.setdefault(invoke.process, []).append((invoke, done))
    position = {id(event): n for n, event in enumerate(history.events)}  # history order, not time
    for process_sends in by_process.values():
        for (i1, d1), (i2, d2) in itertools.pairwise(process_sends):
            # d1 completed before i2 was invoked (earlier in the history, even at the same simulated
            # instant): the later send must land at a higher offset.
            # A lost record's offset may be reused after a truncation; its loss is reported above.
            both_survived = all(
                final.get(int(d.value["offset"])) == i.value["value"] for i, d in ((i1, d1), (i2, d2))
            )
            sequential = d1.time < i2.time or (d1.time == i2.time and position[id(d1)] < position[id(i2)])
            if both_survived and sequential and int(d2.value["offset"]) < int(d1.value["offset"]):
                reordered.append((str(i1.value["value"]), str(i2.value["value"])))
    vanished: list[tuple[int, str]] = []
    if excuse is None:
        for _, done in history.completions():
            if done.f != "poll" or done.type != "ok":
                continue
            for record_partition, offset, value in done.value.get("records", []):
                if record_partition == partition and final.get(offset) != value:
                    vanished.append((offset, value))
    divergent: list[tuple[int, int, int]] = []
    ids = sorted(replicas)
    for i, a in enumerate(ids):
        for b in ids[i + 1 :]:
            end = min(replicas[a].high_watermark, replicas[b].high_watermark)
            left = [r for r in replicas[a].records if r[0] < end]
            right = [r for r in replicas[b].records if r[0] < end]
            if left != right:
                first = next(
                    (x[0] for x, y in zip(left, right, strict=False) if x != y), min(len(left), len(right))
                )
                divergent.append((a, b, first))
    return CheckReport(
        acknowledged=len(acked),
        survived=len(acked) - len(lost),
        lost=tuple(lost),
        duplicates=duplicates,
        reordered=tuple(reordered),
        vanished_reads=tuple(sorted(set(vanished))),
        divergent=tuple(divergent),
        corrupt=tuple(
            (broker, state.corrupt_at)
            for broker, state in sorted(replicas.items())
            if state.corrupt_at is not None
        ),
        unacknowledged=sum(1 for invoke, _ in sends if send_acks(invoke) == "0"),
    )
