"""A new topic's resolved configuration, replica placement and initial partition states.

:func:`new_topic` is the pure half of :meth:`~reflog.replication.controller.Controller.create_topic`:
it validates the arguments against the registered brokers and returns what the controller
records, or raises :class:`ReflogUsageError` (naming the first problem found) and records nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence

from reflog.errors import Errors, TopicRefusedError
from reflog.replication.controller_config import ControllerConfig, TopicConfig
from reflog.replication.messages import PartitionMetadata
from reflog.vocabulary import TopicPartition


def new_topic(
    name: str,
    partitions: int,
    replication_factor: int,
    *,
    cluster: ControllerConfig,
    registered: Collection[int],
    is_active: Callable[[int], bool],
    min_insync_replicas: int | None,
    unclean_leader_election_enable: bool | None,
    replica_assignment: Sequence[Sequence[int]] | None,
) -> tuple[TopicConfig, tuple[PartitionMetadata, ...]]:
    """The topic's config (``cluster``'s settings with the overrides) and its partitions' first states.

    ``registered`` are the registered broker ids, ``is_active`` says which may be in an ISR.
    Placement and initial states are those :meth:`Controller.create_topic` documents. Raises
    :class:`~reflog.errors.TopicRefusedError` (a :class:`ReflogUsageError` with Kafka's code) for a
    count below 1, a ``min_insync_replicas`` below 1, too few registered brokers, an assignment
    that does not match the counts, repeats or names an unregistered broker, or a partition
    without an active replica.
    """
    if partitions < 1:
        raise TopicRefusedError(Errors.INVALID_PARTITIONS, "partitions must be at least 1")
    if replication_factor < 1:
        raise TopicRefusedError(Errors.INVALID_REPLICATION_FACTOR, "replication_factor must be at least 1")
    if min_insync_replicas is not None and min_insync_replicas < 1:
        raise TopicRefusedError(
            Errors.INVALID_CONFIG, f"min_insync_replicas must be at least 1, got {min_insync_replicas}"
        )
    assignment = _assignment(partitions, replication_factor, replica_assignment, registered)
    config = TopicConfig(
        min_insync_replicas=(
            cluster.min_insync_replicas if min_insync_replicas is None else min_insync_replicas
        ),
        unclean_leader_election_enable=(
            cluster.unclean_leader_election_enable
            if unclean_leader_election_enable is None
            else unclean_leader_election_enable
        ),
        replication_factor=replication_factor,
    )
    states: list[PartitionMetadata] = []
    for index, replicas in enumerate(assignment):
        isr = tuple(r for r in replicas if is_active(r))
        if not isr:
            raise TopicRefusedError(
                Errors.INVALID_REPLICATION_FACTOR,
                f"no replica of {name}-{index} is active:"
                f" brokers {list(replicas)} are fenced or shutting down",
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
    return config, tuple(states)


def _assignment(
    partitions: int,
    replication_factor: int,
    explicit: Sequence[Sequence[int]] | None,
    registered: Collection[int],
) -> list[tuple[int, ...]]:
    """Round-robin over ``registered`` in id order, or ``explicit`` once it is checked."""
    if explicit is None:
        brokers = sorted(registered)
        if len(brokers) < replication_factor:
            raise TopicRefusedError(
                Errors.INVALID_REPLICATION_FACTOR,
                f"replication factor {replication_factor} is larger than the {len(brokers)}"
                " registered broker(s)",
            )
        return [
            tuple(brokers[(p + j) % len(brokers)] for j in range(replication_factor))
            for p in range(partitions)
        ]
    result = [tuple(replicas) for replicas in explicit]
    if len(result) != partitions:
        raise TopicRefusedError(
            Errors.INVALID_REPLICA_ASSIGNMENT,
            f"replica_assignment has {len(result)} partitions, not {partitions}",
        )
    for replicas in result:
        if len(replicas) != replication_factor or len(set(replicas)) != len(replicas):
            raise TopicRefusedError(
                Errors.INVALID_REPLICA_ASSIGNMENT,
                f"assignment {list(replicas)} must have {replication_factor} distinct brokers",
            )
        unknown = [r for r in replicas if r not in registered]
        if unknown:
            raise TopicRefusedError(
                Errors.INVALID_REPLICA_ASSIGNMENT, f"assignment names unregistered broker(s) {unknown}"
            )
    return result
