"""The durability guarantee as code: the premise (REP-27) and the property (REP-28).

specs/replication.md states them once; both state machines (the sans-IO one over the
replication core and the end-to-end one over the trio cluster) check them through this module.

* A record is **committed** once a leader's high watermark has passed it. At that moment the
  replicas that hold it are its **holders**. The premise is per committed record, whatever the
  ``acks`` its producer used: an ``acks=0`` or ``acks=1`` record that was committed is protected
  too; what ``acks`` changes is only whether a record was *acknowledged* before it was committed
  (:mod:`faults.checker` judges acknowledged sends, never ``acks=0`` ones).
* **Premise** (REP-27): a committed record is *protected* while at least one of its holders still
  holds it through every fault counted against it: a holder that is killed or shut down cleanly
  stays a holder; a holder that loses power stays one only for records below what its storage
  guaranteed (everything it had fsynced, minus sectors a torn write destroyed); a holder whose
  disk is replaced stops being one; and no unclean leader election has happened. A replica seen
  holding the record again (it caught up) becomes a holder again.
* **Property** (REP-28): while a committed record is protected, it is never lost: every live holder
  keeps it at its offset with the same content, the leader's log holds it whenever the partition has
  a leader that has caught up, and once the faults end it can be read.

:class:`Guarantee` keeps the committed records and their holders. A caller reports what it observes
(:meth:`observe`) and every fault (:meth:`power_lost`, :meth:`disk_replaced`,
:meth:`unclean_election`); :meth:`violations` says which protected records a replica lost.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import attrs


@attrs.define
class CommittedRecord:
    """A record a high watermark passed: its content and the replicas that protect it."""

    offset: int
    content: object
    holders: set[int]


@attrs.define
class Guarantee:
    """Committed records, their holders, and whether the premise still protects each."""

    records: dict[int, CommittedRecord] = attrs.field(factory=dict)
    unclean: bool = False
    """An unclean leader election happened: the premise no longer holds for anything before it."""

    def protected(self, record: CommittedRecord) -> bool:
        """REP-27: at least one holder left, and no unclean election."""
        return bool(record.holders) and not self.unclean

    def commit(self, offset: int, content: object, holders: Iterable[int]) -> CommittedRecord:
        """Record that a high watermark passed ``offset``; returns the (possibly known) record.

        A record committed again with other content while protected is a property violation the
        caller finds through :meth:`violations`; it is not overwritten here.
        """
        known = self.records.get(offset)
        if known is None or not self.protected(known):
            known = CommittedRecord(offset, content, set(holders))
            self.records[offset] = known
        return known

    def observe(self, logs: Mapping[int, Mapping[int, object]]) -> None:
        """A replica seen holding a committed record's content at its offset is a holder again."""
        for record in self.records.values():
            for broker, log in logs.items():
                if log.get(record.offset) == record.content:
                    record.holders.add(broker)

    def power_lost(self, broker: int, guaranteed_below: int) -> None:
        """``broker`` lost power; its storage guarantees every offset below ``guaranteed_below``."""
        for record in self.records.values():
            if record.offset >= guaranteed_below:
                record.holders.discard(broker)

    def disk_replaced(self, broker: int) -> None:
        """``broker`` lost its disk: it holds nothing any more."""
        for record in self.records.values():
            record.holders.discard(broker)

    def unclean_election(self) -> None:
        self.unclean = True

    def violations(self, logs: Mapping[int, Mapping[int, object]]) -> list[str]:
        """REP-28 over the live replicas' logs (offset -> content): what a protected record lost."""
        found: list[str] = []
        for record in sorted(self.records.values(), key=lambda r: r.offset):
            if not self.protected(record):
                continue
            for broker in sorted(record.holders):
                log = logs.get(broker)
                if log is not None and log.get(record.offset) != record.content:
                    found.append(
                        f"committed offset {record.offset} lost on broker {broker}, which still "
                        f"protected it (holders {sorted(record.holders)})"
                    )
        return found


__all__ = ["CommittedRecord", "Guarantee"]
