"""What a leader answers a consumer from its log, as it stands now: a fetch's read and ListOffsets.

Plain synchronous functions of one leader :class:`~reflog.replication.partition.Partition`; they
never wait (the consumer fetch's long poll is the broker's, :meth:`Broker.consumer_fetch`) and
never change the partition. Consumers see only records below the high watermark. Errors are
Kafka codes in the response (``OFFSET_OUT_OF_RANGE``, ``CORRUPT_MESSAGE``,
``KAFKA_STORAGE_ERROR``), except where a function says it raises.
"""

from __future__ import annotations

from reflog.broker.api import (
    EARLIEST_TIMESTAMP,
    ConsumerFetchRequest,
    ConsumerFetchResponse,
    FetchRead,
    ListOffsetsRequest,
    ListOffsetsResponse,
)
from reflog.errors import CorruptRecordError, Errors, StorageError
from reflog.log import FetchData, Log
from reflog.replication.partition import Partition


def read_for_consumer(
    partition: Partition, request: ConsumerFetchRequest, max_bytes: int
) -> ConsumerFetchResponse:
    """Read at most ``max_bytes`` from ``request.fetch_offset`` up to the high watermark.

    ``max_bytes`` 0 reads nothing and answers the partition's state only. A fetch offset outside
    the log answers ``OFFSET_OUT_OF_RANGE``, a corrupt batch ``CORRUPT_MESSAGE``. The read is the
    one ``request.read`` asks for: copied records, or the region in place (verified for
    ``IN_PLACE``). Raises :class:`~reflog.errors.ReflogError` when the storage fails the read
    (the log goes offline; the caller halts the broker and answers the error's code).
    """
    tp = request.topic_partition
    log = partition.log
    if request.fetch_offset < log.log_start_offset or request.fetch_offset > log.log_end_offset:
        return ConsumerFetchResponse(
            tp, Errors.OFFSET_OUT_OF_RANGE, partition.high_watermark, log.log_start_offset
        )
    records = b""
    in_place: FetchData | None = None
    if request.fetch_offset < partition.high_watermark and max_bytes > 0:
        try:
            if request.read is not FetchRead.COPY and isinstance(log, Log):
                in_place = log.read(
                    request.fetch_offset,
                    max_bytes,
                    max_offset=partition.high_watermark,
                    verify=request.read is FetchRead.IN_PLACE,
                    in_place=True,
                )
            else:
                records = log.read_records(request.fetch_offset, max_bytes, partition.high_watermark)
        except CorruptRecordError:
            return ConsumerFetchResponse(tp, Errors.CORRUPT_MESSAGE)
    return ConsumerFetchResponse(
        tp,
        Errors.NONE,
        partition.high_watermark,
        log.log_start_offset,
        records,
        None if in_place is None else in_place.region,
        None if in_place is None else in_place.in_place,
    )


def list_offsets(partition: Partition, request: ListOffsetsRequest) -> ListOffsetsResponse:
    """ListOffsets: the log start offset (``EARLIEST_TIMESTAMP``), the high watermark
    (``LATEST_TIMESTAMP``), or the first offset at or after a timestamp below the high watermark
    (-1: none). A corrupt index or batch answers ``CORRUPT_MESSAGE``, a read error
    ``KAFKA_STORAGE_ERROR``; never raises for a request."""
    tp = request.topic_partition
    log = partition.log
    if request.timestamp == EARLIEST_TIMESTAMP:
        return ListOffsetsResponse(tp, Errors.NONE, log.log_start_offset)
    if request.timestamp >= 0 and isinstance(log, Log):  # the first record at or after it (LOG-25)
        try:
            found = log.offset_for_timestamp(request.timestamp, partition.high_watermark)
        except CorruptRecordError:
            return ListOffsetsResponse(tp, Errors.CORRUPT_MESSAGE)
        except StorageError:
            return ListOffsetsResponse(tp, Errors.KAFKA_STORAGE_ERROR)
        return ListOffsetsResponse(tp, Errors.NONE, -1 if found is None else found.offset)
    return ListOffsetsResponse(tp, Errors.NONE, partition.high_watermark)


__all__ = ["list_offsets", "read_for_consumer"]
