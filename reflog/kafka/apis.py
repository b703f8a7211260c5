"""One broker's Kafka API handlers: a decoded request in, a kafka-python response body out (PRO-3..12).

:class:`KafkaApis` dispatches by API key and translates between the Kafka protocol and the
in-process broker (:class:`reflog.broker.Broker`): Produce, Fetch and ListOffsets go to the
broker's own handlers, partition by partition, here; Metadata and CreateTopics go through the
controller (:class:`reflog.kafka.topic_apis.TopicApis`); the group APIs go to the process's
:class:`~reflog.kafka.groups.GroupCoordinator` (:class:`reflog.kafka.group_apis.GroupApis`).
Every error is a Kafka error code in the response; :meth:`KafkaApis.handle` never raises for a
request, however wrong its contents.

A Fetch answer carries the batch bytes the log returned, as they are on disk (PRO-6).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Awaitable, Callable
from typing import Final, TypeAlias

import attrs
import trio

from reflog.broker import Broker
from reflog.broker.api import (
    ConsumerFetchRequest,
    ConsumerFetchResponse,
    FetchRead,
    InitProducerIdRequest,
    ProduceRequest,
    ProduceResponse,
)
from reflog.broker.changes import ChangeWatch
from reflog.cluster import Cluster
from reflog.errors import Errors
from reflog.kafka.admin_apis import AdminApis
from reflog.kafka.api_versions import api_versions
from reflog.kafka.codec import DecodedRequest, KafkaMessage, response_class
from reflog.kafka.config_apis import ConfigApis
from reflog.kafka.fetch_fields import (
    EpochAnswer,
    check_epochs,
    epoch_answer,
    fetch_positions,
    unknown_topic_ids,
)
from reflog.kafka.group_apis import GroupApis
from reflog.kafka.groups import GroupCoordinator
from reflog.kafka.list_offsets_api import ListOffsetsApi
from reflog.kafka.listeners import Addresses
from reflog.kafka.offsets_records import OFFSETS_TOPIC
from reflog.kafka.partition_apis import PartitionApis
from reflog.kafka.topic_apis import TopicApis
from reflog.kafka.transfer import (
    Part,
    TransferMetrics,
    TransferMode,
    count_in_place_check,
    count_storage_read,
    placeholder,
)
from reflog.kafka.versions import ApiKey
from reflog.log.reads import TimestampAndOffset
from reflog.net.errors import NetError
from reflog.records import Compression
from reflog.vocabulary import TopicPartition, topic_name_error

_NOT_FOUND: Final = TimestampAndOffset(-1, -1, -1)
READ_COMMITTED: Final = 1
"""Fetch's ``isolation_level`` for READ_COMMITTED (0 is READ_UNCOMMITTED)."""
_ATTRIBUTES_AT: Final = 21
"""Where a batch's int16 attributes start (the codec is in the low bits of the second byte)."""

log = logging.getLogger(__name__)


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

Handler: TypeAlias = Callable[[int, KafkaMessage], Awaitable[Reply]]
"""One API's handler: the request's version and decoded body in, its reply out."""


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


def _record_errors(cls: type[KafkaMessage], refused: ProduceResponse | None) -> dict[str, object]:
    """A partition response's ``RecordErrors`` and ``ErrorMessage`` (v8+; older versions drop them)."""
    if refused is None:
        return {}
    entry = cls.TopicProduceResponse.PartitionProduceResponse.BatchIndexAndErrorMessage
    errors = [entry(batch_index=i, batch_index_error_message=m) for i, m in refused.record_errors]
    return {"record_errors": errors, "error_message": refused.error_message}


def _is_zstd(records: bytes) -> bool:
    """Whether the first batch names zstd (``ProduceRequest.validateRecords``: zstd needs Produce v7+)."""
    return len(records) > _ATTRIBUTES_AT + 1 and records[_ATTRIBUTES_AT + 1] & 0x07 == Compression.ZSTD


class KafkaApis:
    """The Kafka APIs of broker ``broker_id`` in ``cluster``.

    ``addresses`` lists the listeners serving clients now (Metadata, FindCoordinator);
    ``groups`` is the process's group coordinator; ``auto_create_topics``,
    ``default_replication_factor`` and ``num_partitions`` are Metadata's and CreateTopics'
    (:class:`~reflog.kafka.topic_apis.TopicApis`); ``transfer`` and ``verify_fetches`` are Fetch's.
    """

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
        #: Metadata and CreateTopics.
        self.topic_apis = TopicApis(
            cluster,
            addresses,
            auto_create_topics=auto_create_topics,
            default_replication_factor=default_replication_factor,
            num_partitions=num_partitions,
        )
        #: FindCoordinator, JoinGroup, SyncGroup, Heartbeat, LeaveGroup, OffsetCommit, OffsetFetch.
        self.group_apis = GroupApis(cluster, broker_id, addresses, groups)
        #: DescribeConfigs, AlterConfigs, IncrementalAlterConfigs.
        serve_settings: dict[str, int | bool] = {"auto.create.topics.enable": auto_create_topics}
        serve_settings["default.replication.factor"] = default_replication_factor
        self.config_apis = ConfigApis(cluster, broker_id, groups.config, serve_settings)
        #: DeleteTopics, CreatePartitions, ElectLeaders, DescribeCluster, DescribeTopicPartitions.
        self.admin_apis = AdminApis(cluster, addresses)
        #: OffsetForLeaderEpoch, DescribeProducers, DeleteRecords.
        self.partition_apis = PartitionApis(cluster, broker_id)
        self.list_offsets_api = ListOffsetsApi(cluster, broker_id)
        self._handlers: dict[ApiKey, Handler] = {
            ApiKey.API_VERSIONS: api_versions,
            ApiKey.METADATA: self.topic_apis.metadata,
            ApiKey.CREATE_TOPICS: self.topic_apis.create_topics,
            ApiKey.PRODUCE: self._produce,
            ApiKey.FETCH: self._fetch,
            ApiKey.LIST_OFFSETS: self.list_offsets_api.list_offsets,
            ApiKey.INIT_PRODUCER_ID: self._init_producer_id,
            ApiKey.FIND_COORDINATOR: self.group_apis.find_coordinator,
            ApiKey.JOIN_GROUP: self.group_apis.join_group,
            ApiKey.SYNC_GROUP: self.group_apis.sync_group,
            ApiKey.HEARTBEAT: self.group_apis.heartbeat,
            ApiKey.LEAVE_GROUP: self.group_apis.leave_group,
            ApiKey.OFFSET_COMMIT: self.group_apis.offset_commit,
            ApiKey.OFFSET_FETCH: self.group_apis.offset_fetch,
            ApiKey.LIST_GROUPS: self.group_apis.admin.list_groups,
            ApiKey.DESCRIBE_GROUPS: self.group_apis.admin.describe_groups,
            ApiKey.DELETE_GROUPS: self.group_apis.admin.delete_groups,
            ApiKey.OFFSET_DELETE: self.group_apis.admin.offset_delete,
            ApiKey.DESCRIBE_CONFIGS: self.config_apis.describe_configs,
            ApiKey.ALTER_CONFIGS: self.config_apis.alter_configs,
            ApiKey.INCREMENTAL_ALTER_CONFIGS: self.config_apis.incremental_alter_configs,
            ApiKey.DELETE_TOPICS: self.admin_apis.delete_topics,
            ApiKey.CREATE_PARTITIONS: self.admin_apis.create_partitions,
            ApiKey.ELECT_LEADERS: self.admin_apis.elect_leaders,
            ApiKey.DESCRIBE_CLUSTER: self.admin_apis.describe_cluster,
            ApiKey.DESCRIBE_TOPIC_PARTITIONS: self.admin_apis.describe_topic_partitions,
            ApiKey.OFFSET_FOR_LEADER_EPOCH: self.partition_apis.offset_for_leader_epoch,
            ApiKey.DESCRIBE_PRODUCERS: self.partition_apis.describe_producers,
            ApiKey.DELETE_RECORDS: self.partition_apis.delete_records,
        }

    @property
    def broker(self) -> Broker:
        """This listener's broker (the current one: a restart keeps the object)."""
        return self.cluster.broker(self.broker_id).broker

    async def handle(self, request: DecodedRequest) -> Reply:
        """The response body for ``request``, or ``None`` when Kafka sends none (Produce ``acks=0``)."""
        return await self._handlers[request.api_key](request.version, request.body)

    @property
    def auto_create_topics(self) -> bool:
        """Whether Metadata creates a missing topic (``auto.create.topics.enable``)."""
        return self.topic_apis.auto_create_topics

    @property
    def default_replication_factor(self) -> int:
        """Replicas of an auto-created topic, and of a CreateTopics entry asking for -1."""
        return self.topic_apis.default_replication_factor

    @property
    def num_partitions(self) -> int:
        """Partitions of an auto-created topic, and of a CreateTopics entry asking for -1."""
        return self.topic_apis.num_partitions

    def coordinator_id(self) -> int:
        """The broker that coordinates every group (:meth:`GroupApis.coordinator_id`)."""
        return self.group_apis.coordinator_id()

    # ------------------------------------------------------------------ Produce
    async def _produce(self, version: int, body: KafkaMessage) -> KafkaMessage | None:
        cls = response_class(ApiKey.PRODUCE, version)
        acks = body.acks
        results: dict[tuple[str, int], tuple[Errors, int]] = {}
        refused: dict[tuple[str, int], ProduceResponse] = {}  # with record errors (KIP-467)
        append_times: dict[tuple[str, int], int] = {}  # LogAppendTime topics (LOG-29)
        if acks not in (0, 1, -1):
            for topic in body.topic_data:
                for part in topic.partition_data:
                    results[(topic.name, part.index)] = (Errors.INVALID_REQUEST, -1)
        else:

            async def one(tp: TopicPartition, records: bytes) -> None:
                response = await self.broker.produce(ProduceRequest(tp, records, acks, body.timeout_ms))
                results[(tp.topic, tp.partition)] = (response.error, response.base_offset)
                if response.record_errors:
                    refused[(tp.topic, tp.partition)] = response
                append_times[(tp.topic, tp.partition)] = response.log_append_time_ms

            appends: list[tuple[TopicPartition, bytes]] = []
            for (name, index), records in _one_entry_per_partition(body.topic_data).items():
                if topic_name_error(name) is not None or name == OFFSETS_TOPIC:
                    # ReplicaManager.appendRecords: "Cannot append to internal topic" from a client.
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
                    log_append_time_ms=append_times.get((topic_name, index), -1),
                    log_start_offset=self._log_start(TopicPartition(topic_name, index)),
                    **_record_errors(cls, refused.get((topic_name, index))),
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
        by_partition, unknown_ids = fetch_positions(body, version, self.cluster.topic_ids)
        answered: dict[TopicPartition, EpochAnswer] = {}  # fenced or diverging: not read (PRO-66)
        for tp, position in by_partition.items():
            if self.cluster.controller.has_partition(tp):
                answer = check_epochs(self.broker.partitions.get(tp), position)
                if answer is not None:
                    answered[tp] = answer
        wanted = [(tp, p.fetch_offset, p.max_bytes) for tp, p in by_partition.items() if tp not in answered]
        config = self.broker.config
        # Kafka: fetchMaxBytes = min(request max_bytes, fetch.max.bytes), 0 or less still sending
        # the first batch (KIP-74); fetchMinBytes = min(min_bytes, that), 0 or less answering at once.
        max_bytes = max(0, min(body.max_bytes, config.fetch_max_bytes))
        min_bytes = min(body.min_bytes, max_bytes)
        max_wait_ms = min(body.max_wait_ms, config.fetch_max_wait_ms)
        read = self._read_mode()
        # An epoch answer or an unknown topic id answers at once, as Kafka's DelayedFetch does.
        long_poll = max_wait_ms > 0 and min_bytes > 0 and not answered and not unknown_ids
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
        for tp in by_partition:
            early = answered.get(tp)
            if early is not None:
                by_topic.setdefault(tp.topic, []).append(epoch_answer(partition_cls, tp.partition, early))
                continue
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
        ids = self.cluster.topic_ids
        responses = [
            cls.FetchableTopicResponse(topic=t, topic_id=ids.id_of(t), partitions=p)
            for t, p in by_topic.items()
        ]
        responses += unknown_topic_ids(cls, unknown_ids)
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


__all__ = ["KafkaApis", "Reply", "WithPayloads"]
