"""What a leader accepts from a producer: idempotence that cannot be spoofed into a false
acknowledgement, transactional and control batches, and min ISR above the replication factor
(REP-2, REP-31, REP-32)."""

from __future__ import annotations

import pytest

from reflog.errors import Errors
from reflog.records import Record, build_batch, parse_header
from reflog.replication.partition import Partition, PartitionConfig, ProduceResult
from reflog.replication.producer_state import SEQUENCE_MAX
from tests.records._helpers import forge_batch, raw_record
from tests.replication.cluster_model import apply, fetch, log_bytes, make_replicas, metadata


def leader(config: PartitionConfig | None = None, isr: tuple[int, ...] = (1, 2, 3)) -> Partition:
    replicas = make_replicas(config or PartitionConfig())
    apply(replicas, metadata(leader=1, epoch=0, isr=isr))
    return replicas[1]


def idempotent(
    value: bytes, sequence: int, *, producer_id: int = 7, epoch: int = 0, count: int = 1, txn: bool = False
) -> bytes:
    return build_batch(
        [Record(key=None, value=value)] * count,
        producer_id=producer_id,
        producer_epoch=epoch,
        base_sequence=sequence,
        is_transactional=txn,
    )


def stored_at(partition: Partition, offset: int) -> bytes | None:
    for raw in log_bytes(partition):
        if parse_header(raw).base_offset == offset:
            return raw
    return None


def assert_ok_means_stored(partition: Partition, sent: bytes, result: ProduceResult) -> None:
    """An acknowledged batch is in the log at the answered offsets, from the same producer state."""
    assert result.error is Errors.NONE
    raw = stored_at(partition, result.base_offset)
    assert raw is not None
    stored, wanted = parse_header(raw), parse_header(sent)
    identity = ("producer_id", "producer_epoch", "base_sequence", "last_offset_delta")
    assert [getattr(stored, f) for f in identity] == [getattr(wanted, f) for f in identity]


@pytest.mark.req("REP-31")
def test_no_spoofed_batch_is_acknowledged_without_being_stored() -> None:
    partition = leader()

    def send(records: bytes) -> ProduceResult:
        result = partition.append_records(records, acks=1, now=0)
        if result.error is Errors.NONE:
            assert_ok_means_stored(partition, records, result)
        return result

    first = idempotent(b"a", 0)
    assert send(first).error is Errors.NONE
    # The same batch again is a retry: the original offsets, nothing written.
    assert (send(first).base_offset, partition.log_end_offset) == (0, 1)
    # Same producer id and sequence, another epoch: a new epoch must start at 0, and once it has,
    # the old epoch is fenced. Neither is taken for the retained batch.
    assert send(idempotent(b"s", 1, epoch=1)).error is Errors.OUT_OF_ORDER_SEQUENCE_NUMBER
    assert send(idempotent(b"b", 0, epoch=1)).error is Errors.NONE
    assert send(first).error is Errors.INVALID_PRODUCER_EPOCH
    # A producer id never issued: unknown to the partition, so written (Kafka 4 answers no produce
    # with UNKNOWN_PRODUCER_ID), never answered from another producer's batches.
    assert send(idempotent(b"z", 0, producer_id=999)).error is Errors.NONE
    # One request holding a retry and a new batch, or the same new batch twice: Kafka takes exactly
    # one batch per partition (INVALID_RECORD), so neither can slip a second copy into the log.
    end = partition.log_end_offset
    assert send(first + idempotent(b"c", 1, epoch=1)).error is Errors.INVALID_RECORD
    twice = idempotent(b"c", 1, epoch=1)
    assert send(twice + twice).error is Errors.INVALID_RECORD
    assert partition.log_end_offset == end
    # A sequence number wraps from 2**31 - 1 to 0, as Kafka's incrementSequence.
    assert send(idempotent(b"w", SEQUENCE_MAX - 1, producer_id=8, count=3)).error is Errors.NONE
    assert send(idempotent(b"x", 1, producer_id=8)).error is Errors.NONE
    assert partition.log_end_offset == end + 4


@pytest.mark.req("REP-32")
def test_transactional_and_control_batches_from_a_client_are_refused() -> None:
    partition = leader()
    # reflog has no transactions, so no transaction is ever ongoing: INVALID_TXN_STATE, as Kafka 4
    # with transaction verification answers ("Record was not part of an ongoing transaction").
    result = partition.append_records(idempotent(b"t", 0, txn=True), acks=1, now=0)
    assert result.error is Errors.INVALID_TXN_STATE
    control = forge_batch(raw_record(key=b"\x00\x00\x00\x00", value=b""), records_count=1, attributes=0x30)
    assert partition.append_records(control, acks=1, now=0).error is Errors.INVALID_RECORD
    assert partition.log_end_offset == 0
    # The producer's next, plain batch is not out of order: nothing of the refused one was kept.
    assert partition.append_records(idempotent(b"p", 0), acks=1, now=0).error is Errors.NONE


@pytest.mark.req("REP-2")
def test_min_isr_above_the_replication_factor_is_the_effective_value_as_in_kafka_4() -> None:
    # Kafka 3.7+ (KAFKA-15583): Partition.appendRecordsToLeader compares the ISR with
    # min(min.insync.replicas, replicas); min.insync.replicas=3 on two replicas acts as 2.
    replicas = make_replicas(PartitionConfig(min_insync_replicas=3), ids=(1, 2))
    apply(replicas, metadata(leader=1, epoch=0, isr=(1, 2), replicas=(1, 2)))
    first = replicas[1].append_records(build_batch([Record(key=None, value=b"a")]), acks=-1, now=0)
    assert first.error is None
    fetch(replicas[1], replicas[2])
    fetch(replicas[1], replicas[2])
    assert replicas[1].produce_status(first.required_offset) is Errors.NONE
    apply(replicas, metadata(leader=1, epoch=0, isr=(1,), replicas=(1, 2), partition_epoch=1))
    refused = replicas[1].append_records(build_batch([Record(key=None, value=b"b")]), acks=-1, now=0)
    assert refused.error is Errors.NOT_ENOUGH_REPLICAS
