"""Topic deletion and partition addition: the pure halves of the controller's admin calls.

:func:`deleted_topic` and :func:`added_partitions` validate an administrator's request against the
controller's state and return what the controller records, or raise
:class:`~reflog.errors.TopicRefusedError` with Kafka's code (as ``ReplicationControlManager``'s
``deleteTopic`` and ``createPartitions`` answer) and record nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence

from reflog.errors import Errors, TopicRefusedError
from reflog.replication._controller_topics import _assignment
from reflog.replication.messages import PartitionMetadata
from reflog.vocabulary import TopicPartition


def deleted_topic(
    name: str, partitions: Mapping[TopicPartition, PartitionMetadata], topics: Collection[str]
) -> tuple[PartitionMetadata, ...]:
    """The partitions (last states) a deletion of ``name`` removes (CTL-28).

    Raises :class:`TopicRefusedError` ``UNKNOWN_TOPIC_OR_PARTITION`` for a topic that does not exist.
    """
    if name not in topics:
        raise TopicRefusedError(Errors.UNKNOWN_TOPIC_OR_PARTITION, f"topic {name!r} does not exist")
    return tuple(p for tp, p in partitions.items() if tp.topic == name)


def added_partitions(
    name: str,
    existing: Sequence[PartitionMetadata],
    count: int,
    *,
    replication_factor: int,
    registered: Collection[int],
    is_active: Callable[[int], bool],
    assignment: Sequence[Sequence[int]] | None,
) -> tuple[PartitionMetadata, ...]:
    """The initial states of partitions ``len(existing) .. count - 1`` of ``name`` (CTL-29).

    ``existing`` are the topic's partitions (index order). Placement continues the topic's
    round-robin (new partition ``p`` starts at the ``p``-th registered broker) or follows
    ``assignment`` (one replica list per new partition); the ISR is the active replicas, the
    leader the first of them, epochs 0, as for a new topic. Raises :class:`TopicRefusedError`:
    ``INVALID_PARTITIONS`` when ``count`` is not an increase; ``INVALID_REPLICA_ASSIGNMENT`` for an
    assignment of the wrong length, size, with a repeated or unregistered broker, or whose
    brokers are all inactive; ``INVALID_REPLICATION_FACTOR`` when round-robin placement finds too
    few brokers or a new partition without an active replica.
    """
    current = len(existing)
    if count < current:
        raise TopicRefusedError(
            Errors.INVALID_PARTITIONS,
            f"The topic {name} currently has {current} partition(s); {count} would not be an increase.",
        )
    if count == current:
        raise TopicRefusedError(Errors.INVALID_PARTITIONS, f"Topic already has {current} partition(s).")
    added = count - current
    if assignment is not None:
        if len(assignment) != added:
            raise TopicRefusedError(
                Errors.INVALID_REPLICA_ASSIGNMENT,
                f"Attempted to add {added} additional partition(s), but only {len(assignment)}"
                " assignment(s) were specified.",
            )
        placed = _assignment(added, replication_factor, assignment, registered)
    else:
        placed = _assignment(count, replication_factor, None, registered)[current:]
    states: list[PartitionMetadata] = []
    for offset, replicas in enumerate(placed):
        index = current + offset
        isr = tuple(r for r in replicas if is_active(r))
        if not isr:
            code = (
                Errors.INVALID_REPLICATION_FACTOR if assignment is None else Errors.INVALID_REPLICA_ASSIGNMENT
            )
            raise TopicRefusedError(
                code,
                f"All brokers specified in the partition assignment for partition {index} are fenced"
                " or in controlled shutdown.",
            )
        states.append(
            PartitionMetadata(
                topic_partition=TopicPartition(name, index),
                replicas=replicas,
                isr=isr,
                leader=isr[0],
                leader_epoch=0,
                partition_epoch=0,
            )
        )
    return tuple(states)


__all__ = ["added_partitions", "deleted_topic"]
