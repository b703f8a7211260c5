"""One append pipeline: every append splits its bytes and CRC-checks each batch exactly once.

A counter wraps the codec's CRC-32C function (in every ``reflog.records`` module that calls it)
and records how many bytes each computation covered. Each append path must compute one CRC per
batch, over exactly the bytes the CRC covers (``attributes`` to the end of the batch): a second
check of the same batch anywhere between the Kafka layer and the segment file fails these tests.
"""

from __future__ import annotations

import sys
from collections.abc import Generator, Iterator

import pytest

from reflog.clock import ManualClock
from reflog.log import Log, LogConfig
from reflog.log.validator import ValidatedBatch, client_batch_steps, validate_client_batch
from reflog.records import Record, build_batch, crc32c, parse_header, verify_crc
from reflog.replication.partition import Partition
from reflog.replication.replica_log import MemoryLog
from reflog.storage.sim import SimFilesystem
from tests.replication.cluster_model import EPOCHS, TP, apply, metadata

#: The CRC covers the batch from its ``attributes`` field (byte 21) to its end.
CRC_FROM = 21


def covered(*batches: bytes) -> list[int]:
    """The bytes one CRC computation per batch covers, batch by batch."""
    return [parse_header(raw).size - CRC_FROM for raw in batches]


@pytest.fixture
def crc_calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """The length of the input of every CRC-32C the codec computes while the test runs."""
    calls: list[int] = []

    def counting(data: bytes | bytearray | memoryview) -> int:
        calls.append(memoryview(data).nbytes)
        return crc32c(data)

    patched = 0
    for name, module in list(sys.modules.items()):
        if name.startswith("reflog.records") and getattr(module, "crc32c", None) is crc32c:
            monkeypatch.setattr(module, "crc32c", counting)
            patched += 1
    assert patched, "no reflog.records module calls crc32c: the counter would count nothing"
    yield calls


def one(value: bytes, base_sequence: int = -1, producer_id: int = -1) -> bytes:
    return build_batch(
        [Record(key=None, value=value)],
        producer_id=producer_id,
        producer_epoch=0,
        base_sequence=base_sequence,
    )


def open_log(clock: ManualClock, directory: str = "t-0") -> Log:
    return Log.open(SimFilesystem(clock=clock, seed=0), directory, LogConfig(), clock)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(start=1_000.0)


def test_the_counter_sees_a_crc_check(crc_calls: list[int]) -> None:
    raw = one(b"x")
    crc_calls.clear()  # building the batch computed its CRC
    verify_crc(raw)
    assert crc_calls == covered(raw)


def test_a_leader_append_checks_each_batch_once(clock: ManualClock, crc_calls: list[int]) -> None:
    log = open_log(clock)
    batches = [one(b"a"), build_batch([Record(key=None, value=b"b")] * 3), one(b"c")]
    crc_calls.clear()
    log.append_as_leader(b"".join(batches), leader_epoch=4)
    assert crc_calls == covered(*batches)


def test_a_follower_append_checks_each_batch_once(clock: ManualClock, crc_calls: list[int]) -> None:
    log = open_log(clock)
    batches = [
        build_batch([Record(key=None, value=b"a")], base_offset=0, partition_leader_epoch=1),
        build_batch([Record(key=None, value=b"b")] * 2, base_offset=1, partition_leader_epoch=1),
    ]
    crc_calls.clear()
    log.append_as_follower(b"".join(batches))
    assert crc_calls == covered(*batches)


@pytest.mark.parametrize("path", ["bytes", "validated", "stepped"])
def test_a_produce_through_the_partition_checks_the_batch_once(
    path: str, clock: ManualClock, crc_calls: list[int]
) -> None:
    """Partition.append_records with raw bytes, and the broker's way: validated first, then appended."""
    leader = Partition(TP, 1, open_log(clock))
    apply({1: leader}, metadata(leader=1, epoch=0, isr=(1,), replicas=(1,)))
    raw = one(b"x", base_sequence=0, producer_id=7)
    crc_calls.clear()
    if path == "bytes":
        result = leader.append_records(raw, acks=1, now=0)
    else:
        if path == "validated":
            validated = validate_client_batch(raw, leader.log.config)
        else:
            steps = client_batch_steps(raw, leader.log.config, records_per_step=1)
            validated = drain(steps)
        result = leader.append_records(validated, acks=1, now=0)
    assert result.base_offset == 0
    assert crc_calls == covered(raw)


def drain(steps: Generator[int, None, ValidatedBatch]) -> ValidatedBatch:
    """Run the broker's stepped validation to its end, as Broker._validate does between checkpoints."""
    while True:
        try:
            next(steps)
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]


def test_a_follower_fetch_response_is_checked_once(clock: ManualClock, crc_calls: list[int]) -> None:
    leader, follower = Partition(TP, 1, MemoryLog()), Partition(TP, 2, open_log(clock))
    apply({1: leader, 2: follower}, metadata(leader=1, epoch=0, isr=(1, 2), replicas=(1, 2)))
    for value in (b"a", b"b", b"c"):
        leader.append_records(one(value), acks=1, now=0)
    request = follower.fetch_request(EPOCHS[2])
    assert request is not None
    response = leader.handle_fetch(request, 0)
    assert response.records
    crc_calls.clear()
    outcome = follower.handle_fetch_response(request, response)
    assert outcome.appended_records == 3
    assert crc_calls == covered(*[raw for raw in split(response.records)])


def test_the_memory_log_checks_each_batch_once(crc_calls: list[int]) -> None:
    log = MemoryLog()
    batches = [one(b"a"), one(b"b")]
    crc_calls.clear()
    log.append_as_leader(b"".join(batches), leader_epoch=2)
    assert crc_calls == covered(*batches)


def split(records: bytes) -> list[bytes]:
    out, position = [], 0
    while position < len(records):
        size = parse_header(records, position).size
        out.append(records[position : position + size])
        position += size
    return out
