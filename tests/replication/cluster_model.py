"""A few replicas of one partition wired together by hand, for tests of the sans-IO core."""

from __future__ import annotations

from reflog.records import Record, build_batch
from reflog.replication.messages import FetchResponse, PartitionMetadata
from reflog.replication.partition import FollowerFetchOutcome, Partition, PartitionConfig
from reflog.replication.replica_log import MemoryLog
from reflog.vocabulary import TopicPartition

TP = TopicPartition("t", 0)
EPOCHS = {1: 101, 2: 102, 3: 103}


def records(*values: bytes) -> bytes:
    return build_batch([Record(key=None, value=v) for v in values])


def metadata(
    leader: int,
    epoch: int,
    isr: tuple[int, ...] = (1, 2, 3),
    partition_epoch: int | None = None,
    replicas: tuple[int, ...] = (1, 2, 3),
) -> PartitionMetadata:
    return PartitionMetadata(
        TP, replicas, isr, leader, epoch, epoch if partition_epoch is None else partition_epoch
    )


def make_replicas(
    config: PartitionConfig | None = None, ids: tuple[int, ...] = (1, 2, 3)
) -> dict[int, Partition]:
    return {b: Partition(TP, b, MemoryLog(), config) for b in ids}


def apply(replicas: dict[int, Partition], md: PartitionMetadata, now: float = 0.0) -> None:
    for partition in replicas.values():
        partition.apply_metadata(md, now, EPOCHS)


def fetch(
    leader: Partition, follower: Partition, now: float = 0.0
) -> tuple[FetchResponse, FollowerFetchOutcome]:
    request = follower.fetch_request(EPOCHS[follower.broker_id])
    assert request is not None
    response = leader.handle_fetch(request, now)
    return response, follower.handle_fetch_response(request, response)


def log_bytes(partition: Partition) -> list[bytes]:
    log = partition.log
    assert isinstance(log, MemoryLog)
    return [raw for raw, _ in log.batches]
