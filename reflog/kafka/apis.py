"""One broker's Kafka API handlers: a decoded request in, a kafka-python response body out (PRO-3..12).

:class:`KafkaApis` translates between the Kafka protocol and the in-process broker
(:class:`reflog.broker.Broker`): Produce, Fetch and ListOffsets go to the broker's own handlers,
partition by partition; Metadata and CreateTopics go through the controller; the group APIs go to
the process's :class:`~reflog.kafka.groups.GroupCoordinator`. Every error is a Kafka error code in
the response; :meth:`KafkaApis.handle` never raises for a request, however wrong its contents.

A Fetch answer carries the batch bytes the log returned, as they are on disk (PRO-6).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Awaitable, Callable, Mapping
from typing import Final, TypeAlias

import attrs
import trio

from reflog.broker import Broker
from reflog.broker.api import (
    EARLIEST_TIMESTAMP,
    LATEST_TIMESTAMP,
    ConsumerFetchRequest,
    ConsumerFetchResponse,
    FetchRead,
    InitProducerIdRequest,
    ListOffsetsRequest,
    ProduceRequest,
)
from reflog.broker.changes import ChangeWatch
from reflog.cluster import Cluster
from reflog.errors import CorruptRecordError, Errors, InvalidConfigError, ReflogError, StorageError
from reflog.kafka.codec import DecodedRequest, KafkaMessage, response_class
from reflog.kafka.groups import GroupCoordinator
from reflog.kafka.transfer import (
    Part,
    TransferMetrics,
    TransferMode,
    count_in_place_check,
    count_storage_read,
    placeholder,
)
from reflog.kafka.versions import ADVERTISED, ApiKey
from reflog.log.config import validate_topic_configs
from reflog.log.log import Log
from reflog.log.reads import TimestampAndOffset
from reflog.net.errors import NetError
from reflog.records import Compression
from reflog.replication.messages import PartitionMetadata
from reflog.replication.partition import Role
from reflog.vocabulary import TopicPartition, topic_name_error

CLUSTER_ID: Final = "reflog-cluster"
MAX_PARTITIONS: Final = 1000
"""Partitions per topic reflog creates (a deviation that bounds memory; Kafka has no fixed limit)."""
_CREATE_ERRORS: Final = frozenset(
    {
        Errors.INVALID_CONFIG,
        Errors.TOPIC_ALREADY_EXISTS,
        Errors.INVALID_REPLICATION_FACTOR,
        Errors.INVALID_PARTITIONS,
    }
)
"""The refusals of a topic creation that CreateTopics and auto-creation pass on as they are."""
CREATE_CONCURRENCY: Final = 32
"""Topics one CreateTopics or Metadata request creates at the same time."""
_NOT_FOUND: Final = TimestampAndOffset(-1, -1, -1)
READ_COMMITTED: Final = 1
"""Fetch's ``isolation_level`` for READ_COMMITTED (0 is READ_UNCOMMITTED)."""
_ATTRIBUTES_AT: Final = 21
"""Where a batch's int16 attributes start (the codec is in the low bits of the second byte)."""

log = logging.getLogger(__name__)

Addresses = Callable[[], Mapping[int, tuple[str, int]]]


class WithPayloads:
    """A response body whose records fields hold placeholders, and what each one stands for.

    The listener encodes ``body`` and splits it around the placeholders
    (:func:`reflog.kafka.transfer.split_payloads`), so records are never copied into the
    encoded response.
    """

    __slots__ = ("body", "payloads")

    def __init__(self, body: KafkaMessage, payloads: dict[bytes, Part]) -> None:
        self.body = body
        self.payloads = payloads


Reply: TypeAlias = "KafkaMessage | WithPayloads | None"
"""What :meth:`KafkaApis.handle` answers: a response body, one with payloads (Fetch), or nothing
(Produce ``acks=0``)."""


"""Broker id -> (host, port) of its Kafka listener, for the brokers that serve clients now."""


def _one_entry_per_partition(topic_data: KafkaMessage) -> dict[tuple[str, int], bytes]:
    """A Produce request's records by partition: one entry each, the last one sent winning.

    Kafka's ``KafkaApis.handleProduceRequest`` collects the partitions into a map, so a
    partition listed twice is appended once, with its last entry, and answered once.
    """
    entries: dict[tuple[str, int], bytes] = {}
    for topic in topic_data:
        for part in topic.partition_data:
            entries[(topic.name, part.index)] = b"" if part.records is None else bytes(part.records)
    return entries


def _is_zstd(records: bytes) -> bool:
    """Whether the first batch names zstd (``ProduceRequest.validateRecords``: zstd needs Produce v7+)."""
    return len(records) > _ATTRIBUTES_AT + 1 and records[_ATTRIBUTES_AT + 1] & 0x07 == Compression.ZSTD


class KafkaApis:
    """The Kafka APIs of broker ``broker_id`` in ``cluster``."""

    def __init__(
        self,
        cluster: Cluster,
        broker_id: int,
        addresses: Addresses,
        groups: GroupCoordinator,
        *,
        auto_create_topics: bool = True,
        default_replication_factor: int = 1,
        num_partitions: int = 1,
        transfer: TransferMode = TransferMode.ZERO_COPY,
        verify_fetches: bool = True,
    ) -> None:
        self.cluster = cluster
        #: How Fetch responses' records leave this listener, and what that has cost.
        self.transfer = transfer
        #: Verify every served batch (reflog's default). ``False`` is Kafka's own behaviour (the
        #: consumer checks CRCs); only the benchmark turns it off, to price the verification.
        self.verify_fetches = verify_fetches
        self.transfer_metrics = TransferMetrics(transfer)
        self._salt = os.urandom(6)
        self.broker_id = broker_id
        self.addresses = addresses
        self.groups = groups
        self.auto_create_topics = auto_create_topics
        self.default_replication_factor = default_replication_factor
        self.num_partitions = num_partitions

    @property
    def broker(self) -> Broker:
        """This listener's broker (the current one: a restart keeps the object)."""
        return self.cluster.broker(self.broker_id).broker

    async def handle(self, request: DecodedRequest) -> Reply:
        """The response body for ``request``, or ``None`` when Kafka sends none (Produce ``acks=0``)."""
        handler = self._HANDLERS[request.api_key]
        return await handler(self, request.version, request.body)

    # ------------------------------------------------------------------ ApiVersions
    async def _api_versions(self, version: int, body: KafkaMessage) -> KafkaMessage:
        cls = response_class(ApiKey.API_VERSIONS, version)
        keys = [
            cls.ApiVersion(api_key=int(k), min_version=lo, max_version=hi)
            for k, (lo, hi) in ADVERTISED.items()
        ]
        return cls(error_code=0, api_keys=keys, throttle_time_ms=0)

    # ------------------------------------------------------------------ Metadata and topics
    def _topic_partitions(self) -> dict[str, list[PartitionMetadata]]:
        topics: dict[str, list[PartitionMetadata]] = {}
        for metadata in self.cluster.controller.partitions():
            topics.setdefault(metadata.topic_partition.topic, []).append(metadata)
        for parts in topics.values():
            parts.sort(key=lambda m: m.topic_partition.partition)
        return topics

    async def _create(
        self, name: str, partitions: int, replication_factor: int, configs: dict[str, int]
    ) -> Errors:
        try:
            await self.cluster.create_topic(
                name, partitions=partitions, replication_factor=replication_factor, configs=configs
            )
        except ReflogError as exc:
            # The controller's refusal (RequestRefusedError) or a config check (InvalidConfigError)
            # carries its Errors member; anything else is an invalid request.
            if exc.error_code in _CREATE_ERRORS:
                return exc.error_code
            return Errors.INVALID_REQUEST
        except (NetError, trio.TooSlowError):
            return Errors.REQUEST_TIMED_OUT
        return Errors.NONE

    async def _create_all(self, wanted: list[tuple[str, int, int, dict[str, int]]]) -> list[Errors]:
        """Create topics ``(name, partitions, replication factor, configs)`` concurrently, at most
        :data:`CREATE_CONCURRENCY` at a time; their errors in order. Each creation waits for its
        leaders (a heartbeat or so), so one request creating hundreds of topics takes seconds, not
        minutes, and never holds the event loop: other brokers' heartbeats go on meanwhile."""
        errors = [Errors.NONE] * len(wanted)
        limiter = trio.CapacityLimiter(CREATE_CONCURRENCY)

        async def one(
            index: int, name: str, partitions: int, replication: int, configs: dict[str, int]
        ) -> None:
            async with limiter:
                errors[index] = await self._create(name, partitions, replication, configs)

        if len(wanted) == 1:
            await one(0, *wanted[0])
        elif wanted:
            async with trio.open_nursery() as nursery:
                for index, args in enumerate(wanted):
                    nursery.start_soon(one, index, *args)
        return errors

    async def _metadata(self, version: int, body: KafkaMessage) -> KafkaMessage:
        cls = response_class(ApiKey.METADATA, version)
        addresses = self.addresses()
        live = {b.broker_id for b in self.cluster.controller.brokers() if b.is_active} & set(addresses)
        brokers = [
            cls.MetadataResponseBroker(node_id=b, host=addresses[b][0], port=addresses[b][1], rack=None)
            for b in sorted(live)
        ]
        known = self._topic_partitions()
        requested = body.topics
        # A topic named twice is answered once (Kafka collects the requested names in a set).
        names = sorted(known) if requested is None else list(dict.fromkeys(t.name for t in requested))
        errors: dict[str, Errors] = {}
        for name in names:
            if topic_name_error(name) is not None:
                errors[name] = Errors.INVALID_TOPIC_EXCEPTION
            elif name not in known:
                errors[name] = Errors.UNKNOWN_TOPIC_OR_PARTITION
            else:
                errors[name] = Errors.NONE
        missing = [n for n, e in errors.items() if e is Errors.UNKNOWN_TOPIC_OR_PARTITION]
        if missing and self.auto_create_topics and getattr(body, "allow_auto_topic_creation", True):
            replication = min(self.default_replication_factor, max(1, len(live)))
            created = await self._create_all([(n, self.num_partitions, replication, {}) for n in missing])
            known = self._topic_partitions()
            for name, outcome in zip(missing, created, strict=True):
                if outcome in (Errors.NONE, Errors.TOPIC_ALREADY_EXISTS):
                    errors[name] = Errors.NONE if name in known else Errors.LEADER_NOT_AVAILABLE
        topics = []
        for name in names:
            await trio.lowlevel.checkpoint()  # one request never holds the loop for all its topics
            error = errors[name]
            partitions = []
            for metadata in known.get(name, []) if error is Errors.NONE else []:
                leader = metadata.leader if metadata.leader in live else -1
                partitions.append(
                    cls.MetadataResponseTopic.MetadataResponsePartition(
                        error_code=int(Errors.NONE if leader >= 0 else Errors.LEADER_NOT_AVAILABLE),
                        partition_index=metadata.topic_partition.partition,
                        leader_id=leader,
                        leader_epoch=metadata.leader_epoch,
                        replica_nodes=list(metadata.replicas),
                        isr_nodes=list(metadata.isr),
                        offline_replicas=[r for r in metadata.replicas if r not in live],
                    )
                )
            topics.append(
                cls.MetadataResponseTopic(
                    error_code=int(error), name=name, is_internal=False, partitions=partitions
                )
            )
        return cls(
            throttle_time_ms=0,
            brokers=brokers,
            cluster_id=CLUSTER_ID,
            controller_id=min(live, default=-1),
            topics=topics,
        )

    async def _create_topics(self, version: int, body: KafkaMessage) -> KafkaMessage:
        cls = response_class(ApiKey.CREATE_TOPICS, version)
        results: list[KafkaMessage] = []
        to_create: list[tuple[int, tuple[str, int, int, dict[str, int]]]] = []
        existing = set(self._topic_partitions())  # once, not per topic: a request may name thousands
        live = len([b for b in self.cluster.controller.brokers() if b.is_active])
        named: dict[str, int] = {}
        for topic in body.topics:
            named[topic.name] = named.get(topic.name, 0) + 1
        for topic in body.topics:
            await trio.lowlevel.checkpoint()  # one request never holds the loop for all its topics
            error, message = Errors.NONE, None
            configs: dict[str, int] = {}
            invalid = topic_name_error(topic.name)
            try:
                configs = validate_topic_configs({c.name: c.value for c in topic.configs or []})
            except InvalidConfigError as exc:
                error, message = Errors.INVALID_CONFIG, str(exc)
            partitions = topic.num_partitions if topic.num_partitions > 0 else self.num_partitions
            replication = (
                topic.replication_factor if topic.replication_factor > 0 else self.default_replication_factor
            )
            if named[topic.name] > 1:  # Kafka refuses every entry of a topic named twice
                error, message = Errors.INVALID_REQUEST, "Found multiple entries for this topic."
            elif invalid is not None:
                error, message = Errors.INVALID_TOPIC_EXCEPTION, invalid
            elif not 1 <= partitions <= MAX_PARTITIONS:
                error, message = Errors.INVALID_PARTITIONS, f"partitions must be in [1, {MAX_PARTITIONS}]"
            elif not 1 <= replication <= live:
                error, message = (
                    Errors.INVALID_REPLICATION_FACTOR,
                    f"replication factor must be in [1, {live}]",
                )
            elif topic.assignments:
                error, message = Errors.INVALID_REQUEST, "manual replica assignments are not supported"
            elif error is Errors.NONE and topic.name in existing:
                error, message = Errors.TOPIC_ALREADY_EXISTS, f"topic {topic.name!r} already exists"
            elif error is Errors.NONE and not body.validate_only:
                to_create.append((len(results), (topic.name, partitions, replication, configs)))
            results.append(
                cls.CreatableTopicResult(name=topic.name, error_code=int(error), error_message=message)
            )
        created = await self._create_all([args for _, args in to_create])
        for (index, _), error in zip(to_create, created, strict=True):
            results[index].error_code = int(error)
            results[index].error_message = None if error is Errors.NONE else error.name
        return cls(throttle_time_ms=0, topics=results)

    # ------------------------------------------------------------------ Produce
    async def _produce(self, version: int, body: KafkaMessage) -> KafkaMessage | None:
        cls = response_class(ApiKey.PRODUCE, version)
        acks = body.acks
        results: dict[tuple[str, int], tuple[Errors, int]] = {}
        if acks not in (0, 1, -1):
            for topic in body.topic_data:
                for part in topic.partition_data:
                    results[(topic.name, part.index)] = (Errors.INVALID_REQUEST, -1)
        else:

            async def one(tp: TopicPartition, records: bytes) -> None:
                response = await self.broker.produce(ProduceRequest(tp, records, acks, body.timeout_ms))
                results[(tp.topic, tp.partition)] = (response.error, response.base_offset)

            appends: list[tuple[TopicPartition, bytes]] = []
            for (name, index), records in _one_entry_per_partition(body.topic_data).items():
                if topic_name_error(name) is not None:
                    results[(name, index)] = (Errors.INVALID_TOPIC_EXCEPTION, -1)
                elif not self.cluster.controller.has_partition(TopicPartition(name, index)):
                    # KafkaApis.handleProduceRequest: not in the metadata cache, before any record check.
                    results[(name, index)] = (Errors.UNKNOWN_TOPIC_OR_PARTITION, -1)
                elif not records:
                    # ProduceRequest.validateRecords: "must have at least one record batch".
                    results[(name, index)] = (Errors.INVALID_RECORD, -1)
                elif version < 7 and _is_zstd(records):
                    results[(name, index)] = (Errors.UNSUPPORTED_COMPRESSION_TYPE, -1)
                else:
                    results[(name, index)] = (Errors.UNKNOWN_SERVER_ERROR, -1)  # one() sets it (order kept)
                    appends.append((TopicPartition(name, index), records))
            if len(appends) == 1:  # the common case: no nursery (it costs ~18 us a request)
                await one(*appends[0])
            elif appends:
                async with trio.open_nursery() as nursery:  # partitions append concurrently
                    for tp, records in appends:
                        nursery.start_soon(one, tp, records)
        if acks == 0:
            return None
        responses = []
        by_topic: dict[str, list[KafkaMessage]] = {}
        for (topic_name, index), (error, base_offset) in results.items():
            by_topic.setdefault(topic_name, []).append(
                cls.TopicProduceResponse.PartitionProduceResponse(
                    index=index,
                    error_code=int(error),
                    base_offset=base_offset,
                    log_append_time_ms=-1,
                    log_start_offset=self._log_start(TopicPartition(topic_name, index)),
                )
            )
        for topic_name, parts in by_topic.items():
            responses.append(cls.TopicProduceResponse(name=topic_name, partition_responses=parts))
        return cls(responses=responses, throttle_time_ms=0)

    def _log_start(self, tp: TopicPartition) -> int:
        partition = self.broker.partitions.get(tp)
        return -1 if partition is None else int(partition.log.log_start_offset)

    # ------------------------------------------------------------------ Fetch
    async def _fetch(self, version: int, body: KafkaMessage) -> WithPayloads:
        cls = response_class(ApiKey.FETCH, version)
        # A partition named twice is fetched once, at its first position with its last offset
        # (Kafka's fetch request builds a LinkedHashMap of its partitions).
        by_partition: dict[TopicPartition, tuple[int, int]] = {}
        for topic in body.topics:
            for p in topic.partitions:
                by_partition[TopicPartition(topic.topic, p.partition)] = (
                    p.fetch_offset,
                    max(0, p.partition_max_bytes),
                )
        wanted = [(tp, offset, max_bytes) for tp, (offset, max_bytes) in by_partition.items()]
        config = self.broker.config
        # Kafka: fetchMaxBytes = min(request max_bytes, fetch.max.bytes), 0 or less still sending
        # the first batch (KIP-74); fetchMinBytes = min(min_bytes, that), 0 or less answering at once.
        max_bytes = max(0, min(body.max_bytes, config.fetch_max_bytes))
        min_bytes = min(body.min_bytes, max_bytes)
        max_wait_ms = min(body.max_wait_ms, config.fetch_max_wait_ms)
        read = self._read_mode()
        long_poll = max_wait_ms > 0 and min_bytes > 0
        # Watched from before the first read: a change while it reads ends the first wait at once.
        with self.broker.watch_changes(by_partition if long_poll else ()) as changes:
            results = await self._read_all(wanted, max_bytes, read)
            if long_poll and sum(r.size for r in results.values()) < min_bytes:
                results = await self._wait_for_data(
                    wanted,
                    results,
                    changes,
                    max_wait_ms=max_wait_ms,
                    limit=max_bytes,
                    min_bytes=min_bytes,
                    read=read,
                )
        by_topic: dict[str, list[KafkaMessage]] = {}
        partition_cls = cls.FetchableTopicResponse.PartitionData
        payloads: dict[bytes, Part] = {}
        # Kafka lists aborted transactions only for READ_COMMITTED (none here: reflog has no
        # transactions); for READ_UNCOMMITTED the field is null.
        aborted: list[KafkaMessage] | None = [] if body.isolation_level == READ_COMMITTED else None
        for tp, _, _ in wanted:
            result = results[tp]
            error = result.error
            records = b""
            if result.size:
                records = placeholder(len(payloads), self._salt)
                payloads[records] = result.region if result.region is not None else result.records
            hw = result.high_watermark
            by_topic.setdefault(tp.topic, []).append(
                partition_cls(
                    partition_index=tp.partition,
                    error_code=int(error),
                    high_watermark=hw,
                    last_stable_offset=hw,
                    log_start_offset=result.log_start_offset,
                    aborted_transactions=aborted,
                    preferred_read_replica=-1,
                    records=records,
                )
            )
        responses = [cls.FetchableTopicResponse(topic=t, partitions=p) for t, p in by_topic.items()]
        return WithPayloads(
            cls(throttle_time_ms=0, error_code=0, session_id=0, responses=responses), payloads
        )

    def _read_mode(self) -> FetchRead:
        """Every path gets the region, verified in place (unless verification is off, as in Kafka).

        The sender then moves it: ``sendfile`` (zero-copy), or chunk by chunk through a small
        reused buffer (copy, TLS), which keeps each chunk in the CPU cache between the read and
        the send.
        """
        return FetchRead.IN_PLACE if self.verify_fetches else FetchRead.REGION

    async def _read_one(
        self, tp: TopicPartition, offset: int, max_bytes: int, read: FetchRead
    ) -> ConsumerFetchResponse:
        """Read one partition as it stands now (a consumer fetch that does not wait)."""
        response = await self.broker.consumer_fetch(ConsumerFetchRequest(tp, offset, max_bytes, 0, read=read))
        if response.region is not None and response.in_place is not None:
            count_in_place_check(self.transfer_metrics, response.in_place.header_bytes_copied)
        elif response.records:
            count_storage_read(self.transfer_metrics, self.broker.fs, len(response.records))
        return response

    async def _read_all(
        self, wanted: list[tuple[TopicPartition, int, int]], limit: int, read: FetchRead
    ) -> dict[TopicPartition, ConsumerFetchResponse]:
        """Read the partitions in order within ``limit`` bytes in all, as Kafka's replica manager
        does: each reads at most what is left (and its own max), the first non-empty one at least a
        batch; once nothing is left the rest only report their state (no records read)."""
        results: dict[TopicPartition, ConsumerFetchResponse] = {}
        left = limit
        nothing_read = True
        for index, (tp, offset, max_bytes) in enumerate(wanted):
            if index and index % 64 == 0:
                await trio.lowlevel.checkpoint()  # thousands of partitions never hold the loop
            if not self.cluster.controller.has_partition(tp):
                # KafkaApis.handleFetchRequest: a partition the metadata does not have.
                results[tp] = ConsumerFetchResponse(tp, Errors.UNKNOWN_TOPIC_OR_PARTITION)
                continue
            want = min(max_bytes, left)
            if want <= 0:
                want = 1 if nothing_read else 0  # nothing read yet: at least one batch
            result = await self._read_one(tp, offset, want, read)
            if result.size > want and not nothing_read:
                # Its first batch does not fit what is left and minOneMessage no longer holds:
                # Kafka reads nothing here and goes on with the next partitions.
                result = attrs.evolve(result, records=b"", region=None, in_place=None)
            results[tp] = result
            left = max(0, left - result.size)
            nothing_read = nothing_read and not result.size
        return results

    async def _wait_for_data(
        self,
        wanted: list[tuple[TopicPartition, int, int]],
        results: dict[TopicPartition, ConsumerFetchResponse],
        changes: ChangeWatch,
        *,
        max_wait_ms: int,
        limit: int,
        min_bytes: int,
        read: FetchRead,
    ) -> dict[TopicPartition, ConsumerFetchResponse]:
        """Long poll, as Kafka's ``DelayedFetch``: wait until the partitions hold ``min_bytes`` in
        all, one of them fails, or ``max_wait_ms`` passes; then read all again.

        The wait is the broker's (:meth:`Broker.watch_changes`, watching every partition of the
        request since before its first read): each change of one of them looks at all again, as
        ``DelayedFetch.tryComplete`` does, and nothing else wakes it, so a partition with too
        little data never spins the loop. The looks read unverified regions, nothing copied, and
        the final read is the real one.
        """
        deadline = trio.current_time() + max_wait_ms / 1000
        looked = results
        while True:
            waiting = [tp for tp, _, _ in wanted if looked[tp].error is Errors.NONE]
            if not waiting or trio.current_time() >= deadline:
                break
            await changes.wait(deadline)
            looked = await self._read_all(wanted, limit, FetchRead.REGION)
            failed = any(looked[tp].error is not Errors.NONE for tp in waiting)
            if failed or sum(r.size for r in looked.values()) >= min_bytes:
                break
        return await self._read_all(wanted, limit, read)

    # ------------------------------------------------------------------ ListOffsets
    async def _list_offsets(self, version: int, body: KafkaMessage) -> KafkaMessage:
        cls = response_class(ApiKey.LIST_OFFSETS, version)
        topics = []
        for topic in body.topics:
            parts = []
            for p in topic.partitions:
                tp = TopicPartition(topic.name, p.partition_index)
                error, found = self._offset_for(tp, p.timestamp)
                parts.append(
                    cls.ListOffsetsTopicResponse.ListOffsetsPartitionResponse(
                        partition_index=p.partition_index,
                        error_code=int(error),
                        timestamp=found.timestamp,
                        offset=found.offset,
                        leader_epoch=found.leader_epoch,
                    )
                )
            topics.append(cls.ListOffsetsTopicResponse(name=topic.name, partitions=parts))
        return cls(throttle_time_ms=0, topics=topics)

    def _leader_epoch(self, tp: TopicPartition) -> int:
        partition = self.broker.partitions.get(tp)
        return -1 if partition is None else int(partition.leader_epoch)

    def _offset_for(self, tp: TopicPartition, timestamp: int) -> tuple[Errors, TimestampAndOffset]:
        """ListOffsets for one partition: earliest, latest, or the first record at or after ``timestamp``.

        A timestamp lookup is Kafka's ``fetchOffsetByTimestamp`` (LOG-25) bounded by the high
        watermark; nothing found is offset and timestamp -1, as in Kafka.
        """
        if not self.cluster.controller.has_partition(tp):  # ReplicaManager.getPartitionOrException
            return Errors.UNKNOWN_TOPIC_OR_PARTITION, _NOT_FOUND
        if timestamp in (EARLIEST_TIMESTAMP, LATEST_TIMESTAMP):
            response = self.broker.list_offsets(ListOffsetsRequest(tp, timestamp))
            return response.error, TimestampAndOffset(-1, response.offset, self._leader_epoch(tp))
        partition = self.broker.partitions.get(tp)
        if partition is None or partition.role is not Role.LEADER:
            return Errors.NOT_LEADER_OR_FOLLOWER, _NOT_FOUND
        leader_log = partition.log
        assert isinstance(leader_log, Log)  # a broker's partitions hold Logs (ReplicaLog: the core's view)
        try:
            found = leader_log.offset_for_timestamp(timestamp, max_offset=partition.high_watermark)
        except CorruptRecordError:
            return Errors.CORRUPT_MESSAGE, _NOT_FOUND
        except StorageError:
            return Errors.KAFKA_STORAGE_ERROR, _NOT_FOUND
        return Errors.NONE, _NOT_FOUND if found is None else found

    # ------------------------------------------------------------------ InitProducerId
    async def _init_producer_id(self, version: int, body: KafkaMessage) -> KafkaMessage:
        cls = response_class(ApiKey.INIT_PRODUCER_ID, version)
        if body.transactional_id is not None:
            return cls(
                throttle_time_ms=0, error_code=int(Errors.INVALID_REQUEST), producer_id=-1, producer_epoch=-1
            )
        try:
            response = await self.cluster.controller_call(InitProducerIdRequest())
        except NetError:
            return cls(
                throttle_time_ms=0,
                error_code=int(Errors.COORDINATOR_NOT_AVAILABLE),
                producer_id=-1,
                producer_epoch=-1,
            )
        return cls(
            throttle_time_ms=0,
            error_code=0,
            producer_id=response.producer_id,
            producer_epoch=response.producer_epoch,
        )

    # ------------------------------------------------------------------ groups
    def coordinator_id(self) -> int:
        """The broker that coordinates every group: the lowest-numbered one serving clients."""
        addresses = self.addresses()
        live = {b.broker_id for b in self.cluster.controller.brokers() if b.is_active} & set(addresses)
        return min(live, default=-1)

    async def _find_coordinator(self, version: int, body: KafkaMessage) -> KafkaMessage:
        cls = response_class(ApiKey.FIND_COORDINATOR, version)
        coordinator = self.coordinator_id()
        if coordinator < 0:
            return cls(
                throttle_time_ms=0,
                error_code=int(Errors.COORDINATOR_NOT_AVAILABLE),
                error_message=None,
                node_id=-1,
                host="",
                port=-1,
            )
        host, port = self.addresses()[coordinator]
        return cls(
            throttle_time_ms=0, error_code=0, error_message=None, node_id=coordinator, host=host, port=port
        )

    def _not_coordinator(self) -> bool:
        return self.coordinator_id() != self.broker_id

    async def _join_group(self, version: int, body: KafkaMessage) -> KafkaMessage:
        cls = response_class(ApiKey.JOIN_GROUP, version)
        if self._not_coordinator():
            return cls(
                throttle_time_ms=0,
                error_code=int(Errors.NOT_COORDINATOR),
                generation_id=-1,
                protocol_name="",
                leader="",
                member_id=body.member_id,
                members=[],
            )
        rebalance_ms = getattr(body, "rebalance_timeout_ms", body.session_timeout_ms)
        if rebalance_ms is None or rebalance_ms < 0:
            rebalance_ms = body.session_timeout_ms
        result = await self.groups.join(
            body.group_id,
            body.member_id or "",
            client_id="client",
            session_timeout_ms=body.session_timeout_ms,
            rebalance_timeout_ms=rebalance_ms,
            protocol_type=body.protocol_type,
            protocols=[(p.name, bytes(p.metadata)) for p in body.protocols],
            require_known_member_id=version >= 4,
        )
        members = [
            cls.JoinGroupResponseMember(member_id=m, group_instance_id=None, metadata=md)
            for m, md in result.members
        ]
        return cls(
            throttle_time_ms=0,
            error_code=int(result.error),
            generation_id=result.generation_id,
            protocol_name=result.protocol_name,
            leader=result.leader_id,
            member_id=result.member_id,
            members=members,
        )

    async def _sync_group(self, version: int, body: KafkaMessage) -> KafkaMessage:
        cls = response_class(ApiKey.SYNC_GROUP, version)
        if self._not_coordinator():
            return cls(throttle_time_ms=0, error_code=int(Errors.NOT_COORDINATOR), assignment=b"")
        error, assignment = await self.groups.sync(
            body.group_id,
            body.generation_id,
            body.member_id,
            [(a.member_id, bytes(a.assignment)) for a in body.assignments],
        )
        return cls(throttle_time_ms=0, error_code=int(error), assignment=assignment)

    async def _heartbeat(self, version: int, body: KafkaMessage) -> KafkaMessage:
        cls = response_class(ApiKey.HEARTBEAT, version)
        if self._not_coordinator():
            return cls(throttle_time_ms=0, error_code=int(Errors.NOT_COORDINATOR))
        error = self.groups.heartbeat(body.group_id, body.generation_id, body.member_id)
        return cls(throttle_time_ms=0, error_code=int(error))

    async def _leave_group(self, version: int, body: KafkaMessage) -> KafkaMessage:
        cls = response_class(ApiKey.LEAVE_GROUP, version)
        if self._not_coordinator():
            return cls(throttle_time_ms=0, error_code=int(Errors.NOT_COORDINATOR), members=[])
        if version >= 3:
            ids = [m.member_id for m in body.members]
            error = self.groups.leave(body.group_id, ids)
            members = [cls.MemberResponse(member_id=m, group_instance_id=None, error_code=0) for m in ids]
            return cls(throttle_time_ms=0, error_code=int(error), members=members)
        return cls(throttle_time_ms=0, error_code=int(self.groups.leave(body.group_id, [body.member_id])))

    async def _offset_commit(self, version: int, body: KafkaMessage) -> KafkaMessage:
        cls = response_class(ApiKey.OFFSET_COMMIT, version)
        generation = getattr(body, "generation_id_or_member_epoch", -1)
        offsets = [
            (topic.name, p.partition_index, p.committed_offset, p.committed_metadata or "")
            for topic in body.topics
            for p in topic.partitions
        ]
        error = (
            Errors.NOT_COORDINATOR
            if self._not_coordinator()
            else self.groups.commit(body.group_id, generation, body.member_id or "", offsets)
        )
        topics = [
            cls.OffsetCommitResponseTopic(
                name=topic.name,
                partitions=[
                    cls.OffsetCommitResponseTopic.OffsetCommitResponsePartition(
                        partition_index=p.partition_index, error_code=int(error)
                    )
                    for p in topic.partitions
                ],
            )
            for topic in body.topics
        ]
        return cls(throttle_time_ms=0, topics=topics)

    async def _offset_fetch(self, version: int, body: KafkaMessage) -> KafkaMessage:
        cls = response_class(ApiKey.OFFSET_FETCH, version)
        if self._not_coordinator():
            return cls(throttle_time_ms=0, topics=[], error_code=int(Errors.NOT_COORDINATOR))
        committed = self.groups.fetch_offsets(body.group_id)
        if body.topics is None:
            wanted: dict[str, list[int]] = {}
            for topic, partition in committed:
                wanted.setdefault(topic, []).append(partition)
        else:
            wanted = {t.name: list(t.partition_indexes) for t in body.topics}
        topic_cls = cls.OffsetFetchResponseTopic
        topics = []
        for name, indexes in wanted.items():
            parts = []
            for index in indexes:
                offset, metadata = committed.get((name, index), (-1, ""))
                parts.append(
                    topic_cls.OffsetFetchResponsePartition(
                        partition_index=index,
                        committed_offset=offset,
                        committed_leader_epoch=-1,
                        metadata=metadata,
                        error_code=0,
                    )
                )
            topics.append(topic_cls(name=name, partitions=parts))
        return cls(throttle_time_ms=0, topics=topics, error_code=0)

    _HANDLERS: Final[dict[ApiKey, Callable[[KafkaApis, int, KafkaMessage], Awaitable[Reply]]]] = {
        ApiKey.API_VERSIONS: _api_versions,
        ApiKey.METADATA: _metadata,
        ApiKey.CREATE_TOPICS: _create_topics,
        ApiKey.PRODUCE: _produce,
        ApiKey.FETCH: _fetch,
        ApiKey.LIST_OFFSETS: _list_offsets,
        ApiKey.INIT_PRODUCER_ID: _init_producer_id,
        ApiKey.FIND_COORDINATOR: _find_coordinator,
        ApiKey.JOIN_GROUP: _join_group,
        ApiKey.SYNC_GROUP: _sync_group,
        ApiKey.HEARTBEAT: _heartbeat,
        ApiKey.LEAVE_GROUP: _leave_group,
        ApiKey.OFFSET_COMMIT: _offset_commit,
        ApiKey.OFFSET_FETCH: _offset_fetch,
    }


__all__ = ["CLUSTER_ID", "KafkaApis"]
