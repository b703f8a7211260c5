"""The requests a broker serves: a follower's fetch, produce, a consumer's fetch, ListOffsets.

:class:`BrokerRequests` is a base class of :class:`reflog.broker.broker.Broker` (its request
path; the Broker provides the partitions, the change notifications and the halting below).
Every handler answers errors as codes and never raises for a bad request; a storage error also
halts the broker (:meth:`Broker._halt_if_log_dir_failed`). Work per request is bounded: see
:mod:`reflog.broker.broker`.
"""

from __future__ import annotations

import abc
import functools
from collections.abc import Callable, Iterable

import attrs
import trio

from reflog.broker.api import (
    ConsumerFetchRequest,
    ConsumerFetchResponse,
    ListOffsetsRequest,
    ListOffsetsResponse,
    ProduceRequest,
    ProduceResponse,
)
from reflog.broker.changes import PartitionChanges
from reflog.broker.config import BrokerConfig
from reflog.broker.reads import list_offsets, read_for_consumer
from reflog.broker.validation import validate_in_steps
from reflog.errors import Errors, ReflogError, StorageError
from reflog.log.rewrite import leader_rewrite
from reflog.log.validator import keyless_record_errors, record_errors_message
from reflog.replication.messages import FetchRequest, FetchResponse
from reflog.replication.partition import Partition, Role
from reflog.requests import RequestHandlers
from reflog.vocabulary import TopicPartition


class BrokerRequests(abc.ABC):
    """The request handlers of a broker (see the module docstring)."""

    broker_id: int
    config: BrokerConfig
    partitions: dict[TopicPartition, Partition]
    append_time_ms: Callable[[], int]
    _changes: PartitionChanges

    @abc.abstractmethod
    def _halt_if_log_dir_failed(self, error: BaseException | None = None) -> bool: ...

    @abc.abstractmethod
    async def wait_for_change(self, tps: Iterable[TopicPartition], deadline: float) -> None: ...

    @abc.abstractmethod
    async def _throttle(self) -> None: ...

    @abc.abstractmethod
    def _maybe_expand_isr(self, partition: Partition) -> None: ...

    def request_handlers(self) -> RequestHandlers:
        """The RPC dispatch of this broker: one typed handler per request class it serves.

        The RPC listener serves it (a request of another class is answered with an error
        response); in-process callers call :meth:`fetch`, :meth:`produce`,
        :meth:`consumer_fetch` and :meth:`list_offsets` directly.
        """
        return (
            RequestHandlers(f"broker {self.broker_id}")
            .on(FetchRequest, self.fetch)
            .on(ProduceRequest, self.produce)
            .on(ConsumerFetchRequest, self.consumer_fetch)
            .on(ListOffsetsRequest, self._list_offsets_rpc)
        )

    async def _list_offsets_rpc(self, request: ListOffsetsRequest) -> ListOffsetsResponse:
        return self.list_offsets(request)  # no checkpoint: answered at once, as it always was

    async def fetch(self, request: FetchRequest) -> FetchResponse:
        """A follower's fetch (Kafka's Fetch from a replica): served from the leader's log, long
        polling up to ``replica.fetch.wait.max.ms`` when the follower is caught up. Errors are codes
        (``NOT_LEADER_OR_FOLLOWER``, ``FENCED_LEADER_EPOCH``, ``KAFKA_STORAGE_ERROR``, ...)."""
        tp = request.topic_partition
        partition = self.partitions.get(tp)
        if partition is None:
            return FetchResponse(tp, Errors.NOT_LEADER_OR_FOLLOWER)
        if (
            partition.role is Role.LEADER
            and request.fetch_offset == partition.log_end_offset
            and request.current_leader_epoch == partition.leader_epoch
        ):
            # Long poll (replica.fetch.wait.max.ms): nothing new yet, wait for an append. As in
            # Kafka, the fetch first updates what the leader knows of the follower (its LEO, so the
            # HW, and acks=all waiters, move now, not after the wait).
            first = self._serve_replica_fetch(partition, request)
            if first.error is not Errors.NONE or first.diverging_epoch is not None or first.records:
                return first
            await self.wait_for_change(
                [tp], trio.current_time() + self.config.replica_fetch_wait_max_ms / 1000
            )
        return self._serve_replica_fetch(partition, request)

    def _serve_replica_fetch(self, partition: Partition, request: FetchRequest) -> FetchResponse:
        tp = request.topic_partition
        hw_before = partition.high_watermark
        if request.max_bytes > self.config.fetch_max_bytes:
            request = attrs.evolve(request, max_bytes=self.config.fetch_max_bytes)
        try:
            response = partition.handle_fetch(request, trio.current_time())
        except StorageError as exc:  # a read error: the log went offline
            self._halt_if_log_dir_failed(exc)
            return FetchResponse(tp, Errors.KAFKA_STORAGE_ERROR)
        if response.error is Errors.NONE and response.diverging_epoch is None:
            self._maybe_expand_isr(partition)
        if partition.high_watermark != hw_before:
            self._changes.notify(tp)
        return response

    async def produce(self, request: ProduceRequest) -> ProduceResponse:
        """Validate and append a client's batch as leader, then wait for its ``acks`` (at most
        ``timeout_ms``: ``REQUEST_TIMED_OUT``). Errors are codes; never raises for a bad batch."""
        tp = request.topic_partition
        partition = self.partitions.get(tp)
        if partition is None or partition.role is not Role.LEADER:
            return ProduceResponse(tp, Errors.NOT_LEADER_OR_FOLLOWER)
        validated = await validate_in_steps(request.records, partition.log.config)
        if isinstance(validated, Errors):
            return ProduceResponse(tp, validated)
        if partition.log.config.compact and (
            keyless := keyless_record_errors(validated, f"{tp.topic}-{tp.partition}")
        ):
            return ProduceResponse(tp, Errors.INVALID_RECORD, -1, record_errors_message(keyless), keyless)
        try:  # compression.type and message.timestamp.type (LOG-29)
            validated, append_time = leader_rewrite(validated, partition.log.config, self.append_time_ms())
        except ReflogError as exc:
            return ProduceResponse(tp, Errors.of(exc.error_code))
        result = partition.append_records(validated, request.acks, trio.current_time())
        if result.error is Errors.KAFKA_STORAGE_ERROR:
            self._halt_if_log_dir_failed()
            return ProduceResponse(tp, result.error, result.base_offset)
        await self._throttle()
        ok = functools.partial(ProduceResponse, tp, log_append_time_ms=append_time)
        self._changes.notify(tp)
        if result.error is not None:
            return ok(result.error, result.base_offset)
        deadline = trio.current_time() + request.timeout_ms / 1000
        while (status := partition.produce_status(result.required_offset)) is None:
            if trio.current_time() >= deadline:
                return ok(Errors.REQUEST_TIMED_OUT, result.base_offset)
            await self.wait_for_change([tp], deadline)
        return ok(status, result.base_offset)

    async def consumer_fetch(self, request: ConsumerFetchRequest) -> ConsumerFetchResponse:
        """A consumer's fetch of one partition, up to the high watermark (:func:`read_for_consumer`),
        waiting (at most :attr:`BrokerConfig.fetch_max_wait_ms`) for ``min_bytes``, a failure or a
        change of leadership. Errors are codes; a storage error also halts the broker."""
        tp = request.topic_partition
        partition = self.partitions.get(tp)
        if partition is None or partition.role is not Role.LEADER:
            return ConsumerFetchResponse(tp, Errors.NOT_LEADER_OR_FOLLOWER)
        max_wait_ms = min(request.max_wait_ms, self.config.fetch_max_wait_ms)
        max_bytes = min(request.max_bytes, self.config.fetch_max_bytes)
        deadline = trio.current_time() + max_wait_ms / 1000
        while True:
            try:
                response = read_for_consumer(partition, request, max_bytes)
            except ReflogError as exc:
                self._halt_if_log_dir_failed(exc)
                return ConsumerFetchResponse(tp, Errors.of(exc.error_code))
            if (
                response.error is not Errors.NONE
                or response.size >= request.min_bytes
                or trio.current_time() >= deadline
                or partition.role is not Role.LEADER
            ):
                return response
            await self.wait_for_change([tp], deadline)

    def list_offsets(self, request: ListOffsetsRequest) -> ListOffsetsResponse:
        """ListOffsets as leader (:func:`reflog.broker.reads.list_offsets`), else
        ``NOT_LEADER_OR_FOLLOWER``. Errors are codes. Synchronous: it never waits."""
        partition = self.partitions.get(request.topic_partition)
        if partition is None or partition.role is not Role.LEADER:
            return ListOffsetsResponse(request.topic_partition, Errors.NOT_LEADER_OR_FOLLOWER)
        return list_offsets(partition, request)


__all__ = ["BrokerRequests"]
