"""A producer: batching (``batch.size``, ``linger.ms``), compression, ``acks``, retries, idempotence.

Every :meth:`Producer.send` resolves to one of four outcomes, which is what a test oracle needs:

* ``OK``: the broker acknowledged the record at ``acks`` 1 or all (with its offset);
* ``SENT``: with ``acks=0`` the request was written to the leader's connection and no response is
  awaited, as in Kafka: the record is *not acknowledged*, its offset is unknown (-1), and it may
  be lost without any error;
* ``FAILED`` (definite): no attempt can have written it (``NOT_ENOUGH_REPLICAS`` before the
  append, a refused batch, or no attempt reached a leader);
* ``INDETERMINATE``: some attempt may have written it (a timeout or broken connection after a
  request was sent, ``NOT_ENOUGH_REPLICAS_AFTER_APPEND``, ...) and no later attempt succeeded.

With ``acks=0`` a batch is sent once: the producer waits (up to ``delivery.timeout.ms``) for a
leader it can connect to, then writes the request and moves on; a connection that breaks during
the write makes the send ``INDETERMINATE``; a batch never written is ``FAILED``.

With ``enable.idempotence`` (the default, as in Kafka 3.0+, but off with ``acks=0`` as Kafka turns
it off when ``acks`` conflicts) each partition's batches carry the producer id, epoch and sequence
numbers; a retried batch keeps its sequence, so the broker writes it at most once. One batch per
partition is in flight at a time (with ``acks=0`` one is written at a time), which keeps order.
"""

from __future__ import annotations

import enum
import zlib
from collections.abc import Mapping

import attrs
import trio

from reflog.broker.api import InitProducerIdRequest, ProduceRequest
from reflog.broker.peers import Peers
from reflog.client._metadata import LeaderCache
from reflog.errors import Errors, ReflogUsageError
from reflog.net.errors import ConnectRefusedError, NetError
from reflog.net.sim import SimNetwork
from reflog.records import Compression, Record, build_batch
from reflog.vocabulary import CONTROLLER_NODE, TopicPartition, node_name

#: Errors that prove the batch was not appended (the request was refused before the append).
_NOT_APPENDED = frozenset(
    {
        Errors.NOT_ENOUGH_REPLICAS,
        Errors.NOT_LEADER_OR_FOLLOWER,
        Errors.CORRUPT_MESSAGE,
        Errors.UNKNOWN_TOPIC_OR_PARTITION,
        Errors.OUT_OF_ORDER_SEQUENCE_NUMBER,
        Errors.INVALID_PRODUCER_EPOCH,
        Errors.MESSAGE_TOO_LARGE,
        Errors.RECORD_LIST_TOO_LARGE,
        Errors.INVALID_RECORD,
        Errors.INVALID_TXN_STATE,
    }
)
# ``KAFKA_STORAGE_ERROR`` is deliberately absent: an fsync (``flush.messages``) fails *after* the
# append reached the leader's page cache, and a crash keeps that cache, so the batch may be in the
# log when the broker comes back. Such a send is indeterminate, never a definite failure.


class SendStatus(enum.Enum):
    OK = "ok"
    SENT = "sent"
    """``acks=0``: written to the network, not acknowledged (no offset)."""
    FAILED = "failed"
    INDETERMINATE = "indeterminate"


@attrs.frozen
class SendResult:
    """The outcome of one :meth:`Producer.send`."""

    status: SendStatus
    topic_partition: TopicPartition
    offset: int = -1
    error: Errors | None = None


def _acks(value: object) -> int:
    if value in ("all", -1, "-1"):
        return -1
    if value in (0, 1, "0", "1"):
        return int(str(value))
    raise ReflogUsageError(f"acks must be 0, 1 or all, got {value!r}")


@attrs.frozen
class ProducerConfig:
    """Kafka's producer settings (``linger.ms`` is ``linger_ms``) with Kafka 3.x defaults."""

    acks: int = attrs.field(default=-1, converter=_acks)
    linger_ms: int = 5
    batch_size: int = 16_384
    compression_type: Compression = Compression.NONE
    retries: int = 2_147_483_647
    delivery_timeout_ms: int = 120_000
    request_timeout_ms: int = 30_000
    retry_backoff_ms: int = 100
    enable_idempotence: bool = True

    @classmethod
    def from_settings(cls, settings: Mapping[str, object]) -> ProducerConfig:
        """From Kafka's names (``"linger.ms"``) or Python names (``linger_ms``)."""
        fields = {f.name for f in attrs.fields(cls)}
        kwargs: dict[str, object] = {}
        for name, value in settings.items():
            field = name.replace(".", "_")
            if field not in fields:
                raise ReflogUsageError(f"unknown producer setting {name!r}")
            kwargs[field] = value
        return cls(**kwargs)  # type: ignore[arg-type]


@attrs.define
class _Pending:
    record: Record
    done: trio.Event = attrs.field(factory=trio.Event)
    result: SendResult | None = None


def _record_size(record: Record) -> int:
    """A record's share of ``batch.size``: its key and value plus a rough per-record overhead."""
    return len(record.value or b"") + len(record.key or b"") + 16


@attrs.define
class _PartitionQueue:
    records: list[_Pending] = attrs.field(factory=list)
    size: int = 0
    ready: trio.Event = attrs.field(factory=trio.Event)
    next_sequence: int = 0
    sender_running: bool = False


class Producer:
    """Sends records to the cluster; build it with :meth:`reflog.cluster.Cluster.producer`."""

    def __init__(self, network: SimNetwork, node: str, nursery: trio.Nursery, config: ProducerConfig) -> None:
        self.config = config
        self.node = node
        self._nursery = nursery
        self._peers = Peers(network, node, nursery)
        self._leaders = LeaderCache(self._peers)
        self._queues: dict[TopicPartition, _PartitionQueue] = {}
        self._producer_id = -1
        self._producer_epoch = -1

    async def send(
        self, topic: str, value: bytes | None, *, key: bytes | None = None, partition: int | None = None
    ) -> SendResult:
        """Send one record and wait for its outcome (see the module docstring)."""
        if partition is None:
            partitions = self._leaders.partitions_of(topic)
            if not partitions:
                await self._leaders.refresh()
                partitions = self._leaders.partitions_of(topic)
            # A stable hash (not Python's salted hash()) so a seeded run replays; Kafka uses murmur2.
            partition = 0 if not partitions or key is None else zlib.crc32(key) % len(partitions)
        tp = TopicPartition(topic, partition)
        queue = self._queues.setdefault(tp, _PartitionQueue())
        pending = _Pending(Record(key=key, value=value, timestamp=int(trio.current_time() * 1000)))
        queue.records.append(pending)
        queue.size += _record_size(pending.record)
        if queue.size >= self.config.batch_size:
            queue.ready.set()
        if not queue.sender_running:
            queue.sender_running = True
            self._nursery.start_soon(self._sender, tp, queue)
        await pending.done.wait()
        assert pending.result is not None
        return pending.result

    async def _producer_identity(self) -> tuple[int, int]:
        if not self.config.enable_idempotence or self.config.acks == 0:
            return -1, -1  # acks=0 never learns of a refused batch, so Kafka turns idempotence off
        while self._producer_id < 0:
            try:
                response = await self._peers.call(CONTROLLER_NODE, InitProducerIdRequest(), timeout=5.0)
            except NetError:
                await trio.sleep(self.config.retry_backoff_ms / 1000)
                continue
            self._producer_id, self._producer_epoch = response.producer_id, response.producer_epoch
        return self._producer_id, self._producer_epoch

    async def _sender(self, tp: TopicPartition, queue: _PartitionQueue) -> None:
        """Drain one partition's queue, one batch in flight at a time."""
        try:
            while queue.records:
                with trio.move_on_after(self.config.linger_ms / 1000):
                    await queue.ready.wait()
                batch = self._take_batch(queue)
                if queue.size < self.config.batch_size:
                    queue.ready = trio.Event()  # else a full batch waits: send it without lingering
                producer_id, epoch = await self._producer_identity()
                sequence = queue.next_sequence if producer_id >= 0 else -1
                if producer_id >= 0:
                    queue.next_sequence += len(batch)
                records = build_batch(
                    [p.record for p in batch],
                    compression=self.config.compression_type,
                    timestamp=int(trio.current_time() * 1000),
                    producer_id=producer_id,
                    producer_epoch=epoch,
                    base_sequence=sequence,
                )
                result = await self._deliver(tp, records)
                if result.error in (Errors.OUT_OF_ORDER_SEQUENCE_NUMBER, Errors.INVALID_PRODUCER_EPOCH):
                    self._producer_id = -1  # start a new producer identity (KIP-360 in spirit)
                    queue.next_sequence = 0
                for i, pending in enumerate(batch):
                    offset = result.offset + i if result.offset >= 0 else -1
                    pending.result = attrs.evolve(result, offset=offset)
                    pending.done.set()
        finally:
            queue.sender_running = False

    def _take_batch(self, queue: _PartitionQueue) -> list[_Pending]:
        """The oldest queued records that fit ``batch.size`` (at least one, as in Kafka)."""
        size = taken = 0
        for pending in queue.records:
            n = _record_size(pending.record)
            if taken and size + n > self.config.batch_size:
                break
            size += n
            taken += 1
        batch = queue.records[:taken]
        del queue.records[:taken]
        queue.size -= size
        return batch

    async def _deliver(self, tp: TopicPartition, records: bytes) -> SendResult:
        """Send one batch with retries until success, a definite failure, or the delivery timeout."""
        if self.config.acks == 0:
            return await self._send_unacknowledged(tp, records)
        deadline = trio.current_time() + self.config.delivery_timeout_ms / 1000
        maybe_written = False
        last_error: Errors | None = None
        attempts = 0
        while attempts <= self.config.retries and trio.current_time() < deadline:
            attempts += 1
            leader = await self._leaders.leader(tp)
            if leader < 0:
                await trio.sleep(self.config.retry_backoff_ms / 1000)
                await self._leaders.refresh()
                continue
            request = ProduceRequest(tp, records, self.config.acks, self.config.request_timeout_ms)
            try:
                response = await self._peers.call(
                    node_name(leader), request, timeout=self.config.request_timeout_ms / 1000
                )
            except NetError as exc:
                # A refused connection sent nothing; a timeout or a broken stream may have.
                if not isinstance(exc, ConnectRefusedError):
                    maybe_written = True
                last_error = Errors.REQUEST_TIMED_OUT
                await self._leaders.refresh()
                await trio.sleep(self.config.retry_backoff_ms / 1000)
                continue
            if response.error is Errors.NONE:
                return SendResult(SendStatus.OK, tp, response.base_offset)
            last_error = response.error
            if response.error not in _NOT_APPENDED:
                maybe_written = True
            if not response.error.retriable or (not self.config.enable_idempotence and maybe_written):
                break
            await self._leaders.refresh()
            await trio.sleep(self.config.retry_backoff_ms / 1000)
        status = SendStatus.INDETERMINATE if maybe_written else SendStatus.FAILED
        return SendResult(status, tp, -1, last_error)

    async def _send_unacknowledged(self, tp: TopicPartition, records: bytes) -> SendResult:
        """``acks=0``: write the batch to the leader once and await no response (Kafka's offset -1).

        ``SENT`` once written; ``FAILED`` when no leader could be reached before the delivery
        timeout (nothing was written); ``INDETERMINATE`` when the connection broke during the write.
        """
        deadline = trio.current_time() + self.config.delivery_timeout_ms / 1000
        while trio.current_time() < deadline:
            leader = await self._leaders.leader(tp)
            if leader >= 0:
                request = ProduceRequest(tp, records, 0, self.config.request_timeout_ms)
                try:
                    await self._peers.send(node_name(leader), request)
                    return SendResult(SendStatus.SENT, tp)
                except ConnectRefusedError:
                    pass  # nothing was written: wait for a leader again
                except NetError:  # broken during the write: some bytes may have gone out
                    return SendResult(SendStatus.INDETERMINATE, tp, -1, Errors.REQUEST_TIMED_OUT)
            await trio.sleep(self.config.retry_backoff_ms / 1000)
            await self._leaders.refresh()
        return SendResult(SendStatus.FAILED, tp, -1, Errors.REQUEST_TIMED_OUT)
