"""A read-only view of one replica of a partition on a running broker, for observers.

Observers (the fault harness's recording and checking code, users' tests) read what a replica
holds through :class:`ReplicaView`, which :meth:`reflog.cluster.BrokerHandle.replica` returns,
instead of reaching into ``handle.broker.partitions[tp].log``. A view promises only reads: it has
no method that changes the replica, and each property reads the replica's state at the moment it
is called (a view of a broker that has since stopped still reads the last incarnation's state;
ask the handle again for a fresh one). Failure modes: :meth:`ReplicaView.batches` raises
:class:`reflog.errors.CorruptRecordError` at the first batch that fails its CRC check.
"""

from __future__ import annotations

from collections.abc import Iterator

import attrs

from reflog.replication.partition import Partition
from reflog.vocabulary import TopicPartition


@attrs.frozen
class ReplicaView:
    """What one replica of a partition holds: its log's batches, offsets and high watermark."""

    _partition: Partition

    @property
    def topic_partition(self) -> TopicPartition:
        return self._partition.topic_partition

    @property
    def broker_id(self) -> int:
        return self._partition.broker_id

    @property
    def leader_epoch(self) -> int:
        """The leader epoch this replica last learned."""
        return self._partition.leader_epoch

    @property
    def high_watermark(self) -> int:
        """HW: this replica's view of the offset below which records are committed."""
        return self._partition.high_watermark

    @property
    def log_start_offset(self) -> int:
        return self._partition.log.log_start_offset

    @property
    def log_end_offset(self) -> int:
        """LEO: the offset the next appended record will get."""
        return self._partition.log_end_offset

    def batches(self) -> Iterator[bytes]:
        """Every verified batch of the log, from its start to its end (raw record batch v2 bytes).

        Raises :class:`reflog.errors.CorruptRecordError` at the first batch that fails its CRC.
        """
        return self._partition.log.iter_batches()


__all__ = ["ReplicaView"]
