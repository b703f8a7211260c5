"""Idempotent-producer state: which batches each producer id has written (Kafka's ProducerStateManager).

A producer with ``enable.idempotence`` numbers its batches per partition; the leader keeps, per
producer id, its epoch and the last five batches' sequence ranges and offsets. A batch whose
sequence range is already there is a *duplicate* (a retry of a batch that was written): the
leader answers with the original offsets and writes nothing. A batch whose first sequence is not
the last one plus one is *out of order* (``OUT_OF_ORDER_SEQUENCE_NUMBER``). A batch from an older
producer epoch is refused (``INVALID_PRODUCER_EPOCH``).

The rules are Kafka's (``ProducerAppendInfo.checkProducerEpoch``/``checkSequence`` and
``ProducerStateEntry.findDuplicateBatch``, 4.x):

* a batch is a duplicate only when its producer id *and* epoch are the entry's and its sequence
  range (first and last) is one of the retained batches';
* a producer id the partition has no entry for may start at any sequence: Kafka 4 answers
  ``UNKNOWN_PRODUCER_ID`` to no produce request (the entry may have been removed by retention);
* a new (higher) epoch must start at sequence 0; within an epoch the next batch starts at the
  last sequence plus one, and sequences wrap from ``2**31 - 1`` to 0 (``incrementSequence``);
* a replicated batch (follower) is recorded whatever its epoch; a different epoch replaces the
  entry (``maybeUpdateProducerEpoch`` clears the retained batches).

Every replica keeps the table from the batches it appends (leader and follower), so a new
leader can still recognise retries. After a truncation the table is rebuilt from the log.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable

import attrs

from reflog.records import BatchHeader

NO_PRODUCER_ID = -1
BATCHES_REMEMBERED = 5  # Kafka's ProducerStateEntry.NUM_BATCHES_TO_RETAIN
SEQUENCE_MAX = 2**31 - 1
"""The largest sequence number; the next one is 0 (Kafka's ``DefaultRecordBatch.incrementSequence``)."""


def last_sequence(header: BatchHeader) -> int:
    """The sequence number of the batch's last record, wrapping past :data:`SEQUENCE_MAX`."""
    return (header.base_sequence + header.last_offset_delta) % (SEQUENCE_MAX + 1)


@attrs.frozen
class BatchMetadata:
    """One remembered batch of a producer."""

    first_sequence: int
    last_sequence: int
    base_offset: int
    last_offset: int


@attrs.define
class ProducerEntry:
    """A producer id's epoch and its last batches, oldest first."""

    producer_epoch: int
    batches: deque[BatchMetadata] = attrs.field(factory=lambda: deque(maxlen=BATCHES_REMEMBERED))
    last_timestamp: int = -1
    """The max timestamp of its last batch (Kafka's ``lastTimestamp``, DescribeProducers)."""

    @property
    def last_sequence(self) -> int:
        return self.batches[-1].last_sequence if self.batches else -1


@attrs.frozen
class Duplicate:
    """The batch was written before, at these offsets."""

    original: BatchMetadata


@attrs.frozen
class Refused:
    """The batch must not be written: ``reason`` is ``"out_of_order"`` or ``"fenced_epoch"``."""

    reason: str


class ProducerStateTable:
    """Per producer id: the epoch and the last five batches (see the module docstring)."""

    def __init__(self) -> None:
        self._entries: dict[int, ProducerEntry] = {}

    def check(self, header: BatchHeader) -> Duplicate | Refused | None:
        """Classify an incoming batch: ``None`` (write it), :class:`Duplicate` or :class:`Refused`."""
        if header.producer_id == NO_PRODUCER_ID:
            return None
        entry = self._entries.get(header.producer_id)
        if entry is None:
            return (
                None  # a producer id new to this partition may start at any sequence (Kafka: 0 after reset)
            )
        if header.producer_epoch < entry.producer_epoch:
            return Refused("fenced_epoch")
        if header.producer_epoch > entry.producer_epoch:
            return None if header.base_sequence == 0 else Refused("out_of_order")
        last = last_sequence(header)
        for batch in entry.batches:
            if batch.first_sequence == header.base_sequence and batch.last_sequence == last:
                return Duplicate(batch)
        wrapped = header.base_sequence == 0 and entry.last_sequence == SEQUENCE_MAX
        if header.base_sequence != entry.last_sequence + 1 and not wrapped:
            return Refused("out_of_order")
        return None

    def record(self, header: BatchHeader) -> None:
        """Remember a batch that was appended (with its final offsets)."""
        if header.producer_id == NO_PRODUCER_ID:
            return
        entry = self._entries.get(header.producer_id)
        if entry is None or header.producer_epoch != entry.producer_epoch:
            entry = ProducerEntry(header.producer_epoch)
            self._entries[header.producer_id] = entry
        entry.batches.append(
            BatchMetadata(
                header.base_sequence,
                last_sequence(header),
                header.base_offset,
                header.last_offset,
            )
        )
        entry.last_timestamp = header.max_timestamp

    def rebuild(self, headers: Iterable[BatchHeader]) -> None:
        """Forget everything and replay ``headers`` (after a truncation or at load)."""
        self._entries = {}
        for header in headers:
            self.record(header)

    def entry(self, producer_id: int) -> ProducerEntry | None:
        return self._entries.get(producer_id)

    def producers(self) -> dict[int, ProducerEntry]:
        """Every producer id this partition remembers and its entry (a copy of the table)."""
        return dict(self._entries)
