"""One broker's share of the group coordinator: the ``__consumer_offsets`` partitions it leads
(PRO-120..PRO-127).

:class:`GroupStore` decides, for a group, whether this broker coordinates it
(:meth:`GroupStore.status`), and keeps the broker's :class:`~reflog.kafka.groups.GroupCoordinator`
holding exactly the groups of the offsets partitions it leads and has loaded:

* The coordinator of a group is the leader of partition
  :func:`~reflog.kafka.offsets_records.partition_for` of ``__consumer_offsets`` (Kafka's hash).
  The topic is created on first use (:meth:`GroupStore.coordinator_for`, as FindCoordinator does
  in Kafka) with ``offsets.topic.num.partitions`` partitions, ``offsets.topic.replication.factor``
  replicas capped to the brokers serving clients, and ``cleanup.policy=compact`` where the log
  layer has it; until its partition has a live leader the answer is ``COORDINATOR_NOT_AVAILABLE``.
* A broker that becomes leader of an offsets partition (a new :class:`Partition` object or leader
  epoch) loads it in the background: every record to the log end, Kafka's offset-commit and
  group-metadata records, tombstones removing what they name. Until the load is done the group
  APIs answer ``COORDINATOR_LOAD_IN_PROGRESS``. A broker that is not (or no longer) the
  partition's leader unloads its groups at once and answers ``NOT_COORDINATOR``; this check runs on
  every request, so a broker that lost power and came back never serves what it held before.
* :meth:`GroupStore.append` writes records as a leader with ``acks=-1`` and waits until they are
  committed (the high watermark passed them, ``offsets.commit.timeout.ms``), then runs the caller's
  in-memory change; append errors become the group coordinator's (Kafka's
  ``GroupCoordinatorService`` mapping, :data:`APPEND_ERRORS`).

Committed offsets and group metadata thus live in a replicated log: they survive what an
``acks=all`` record survives (the guarantee, REP-*), including a process restart with
``--storage os``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Final

import trio

from reflog.broker import Broker
from reflog.broker.api import ProduceRequest
from reflog.cluster import Cluster
from reflog.errors import Errors, ReflogError
from reflog.kafka.groups import Group, GroupCoordinator, GroupState, Member
from reflog.kafka.listeners import Addresses, live_brokers
from reflog.kafka.offsets_records import (
    OFFSETS_TOPIC,
    GroupKey,
    GroupValue,
    MemberValue,
    OffsetKey,
    OffsetValue,
    decode_record,
    encode_group_key,
    encode_group_value,
    encode_offset_key,
    encode_offset_value,
    partition_for,
)
from reflog.log.config import validate_topic_configs
from reflog.log.log import Log
from reflog.net.errors import NetError
from reflog.records import Record, build_batch, decode_batch
from reflog.replication.partition import Partition, Role
from reflog.vocabulary import TopicPartition

log = logging.getLogger(__name__)

APPEND_ERRORS: Final[dict[Errors, Errors]] = {
    Errors.UNKNOWN_TOPIC_OR_PARTITION: Errors.COORDINATOR_NOT_AVAILABLE,
    Errors.NOT_ENOUGH_REPLICAS: Errors.COORDINATOR_NOT_AVAILABLE,
    Errors.NOT_ENOUGH_REPLICAS_AFTER_APPEND: Errors.COORDINATOR_NOT_AVAILABLE,
    Errors.REQUEST_TIMED_OUT: Errors.COORDINATOR_NOT_AVAILABLE,
    Errors.NOT_LEADER_OR_FOLLOWER: Errors.NOT_COORDINATOR,
    Errors.KAFKA_STORAGE_ERROR: Errors.NOT_COORDINATOR,
    Errors.MESSAGE_TOO_LARGE: Errors.UNKNOWN_SERVER_ERROR,
    Errors.RECORD_LIST_TOO_LARGE: Errors.UNKNOWN_SERVER_ERROR,
    Errors.INVALID_FETCH_SIZE: Errors.UNKNOWN_SERVER_ERROR,
}
"""The append's error -> the group API's error, as Kafka's group coordinator maps them."""

Write = tuple[bytes, bytes | None]
"""One record to append: key and value (``None``: a tombstone)."""


def offsets_topic_configs() -> dict[str, str]:
    """The topic configs of ``__consumer_offsets``: ``cleanup.policy=compact``, as in Kafka."""
    return validate_topic_configs({"cleanup.policy": "compact"})


def group_value(group: Group, now_ms: int) -> GroupValue:
    """The ``GroupMetadataValue`` of ``group`` as it stands at ``now_ms``."""
    members = tuple(
        MemberValue(
            m.member_id,
            None,
            m.client_id,
            m.client_host,
            int(m.rebalance_timeout * 1000),
            int(m.session_timeout * 1000),
            dict(m.protocols).get(group.protocol_name, b""),
            m.assignment,
        )
        for m in group.members.values()
    )
    return GroupValue(
        group.protocol_type,
        group.generation_id,
        group.protocol_name or None,
        group.leader_id or None,
        now_ms,
        members,
    )


class GroupStore:
    """Broker ``broker_id``'s offsets partitions and the groups of ``coordinator``; see the module."""

    def __init__(
        self, cluster: Cluster, broker_id: int, addresses: Addresses, coordinator: GroupCoordinator
    ) -> None:
        self.cluster = cluster
        self.broker_id = broker_id
        self.addresses = addresses
        self.coordinator = coordinator
        self.config = coordinator.config
        coordinator.persistence = self
        self._loaded: dict[int, tuple[Partition, int]] = {}
        self._loading: dict[int, tuple[Partition, int]] = {}
        self._locks: dict[int, trio.Lock] = {}
        self._nursery: trio.Nursery | None = None
        self._creating = False

    @property
    def broker(self) -> Broker:
        return self.cluster.broker(self.broker_id).broker

    def _now_ms(self) -> int:
        """The commit and group-metadata timestamps: the broker's clock (``append_time_ms``: epoch
        milliseconds under ``reflog serve``, simulated time in tests), never the wall clock here."""
        return self.broker.append_time_ms()

    def partition_of(self, group_id: str | None) -> int:
        """The group's offsets partition (a null id, which only a malformed request sends, is "")."""
        return partition_for(group_id or "", self.config.offsets_topic_num_partitions)

    def _tp(self, index: int) -> TopicPartition:
        return TopicPartition(OFFSETS_TOPIC, index)

    def topic_exists(self) -> bool:
        return self.cluster.controller.has_partition(self._tp(0))

    # ------------------------------------------------------------------ who coordinates
    def coordinator_for(self, group_id: str | None) -> tuple[Errors, int]:
        """FindCoordinator: the leader of the group's offsets partition, if it serves clients.

        Creates ``__consumer_offsets`` in the background on first use (``COORDINATOR_NOT_AVAILABLE``
        meanwhile, as Kafka answers while it auto-creates the topic).
        """
        if not self.topic_exists():
            self._create_topic()
            return Errors.COORDINATOR_NOT_AVAILABLE, -1
        index = self.partition_of(group_id)
        if index >= len(self._partition_count()):
            return Errors.COORDINATOR_NOT_AVAILABLE, -1
        metadata = self.cluster.controller.partition(OFFSETS_TOPIC, index)
        leader = metadata.leader
        if leader not in live_brokers(self.cluster, self.addresses()):
            return Errors.COORDINATOR_NOT_AVAILABLE, -1
        led = self.cluster.broker(leader).broker.partitions.get(self._tp(index))
        if led is None or led.role is not Role.LEADER or led.leader_epoch != metadata.leader_epoch:
            # The election is decided but the leader has not applied it: as in Kafka, where a
            # broker's metadata cache names a leader only once the leader change is published,
            # nobody is named yet (the client retries), so no client is sent to a broker that
            # would still answer NOT_COORDINATOR.
            return Errors.COORDINATOR_NOT_AVAILABLE, -1
        return Errors.NONE, leader

    def _partition_count(self) -> list[int]:
        return [
            m.topic_partition.partition
            for m in self.cluster.controller.partitions()
            if m.topic_partition.topic == OFFSETS_TOPIC
        ]

    def _create_topic(self) -> None:
        if self._creating or self._nursery is None:
            return
        self._creating = True
        self._nursery.start_soon(self._create_topic_task)

    async def _create_topic_task(self) -> None:
        live = len(live_brokers(self.cluster, self.addresses()))
        replication = max(1, min(self.config.offsets_topic_replication_factor, live))
        try:
            await self.cluster.create_topic(
                OFFSETS_TOPIC,
                partitions=self.config.offsets_topic_num_partitions,
                replication_factor=replication,
                configs=offsets_topic_configs(),
            )
        except (ReflogError, NetError, trio.TooSlowError) as exc:
            log.info("creating %s: %s", OFFSETS_TOPIC, exc)
        finally:
            self._creating = False

    def status(self, group_id: str | None) -> Errors:
        """``NONE`` if this broker coordinates ``group_id`` now and has loaded its partition;
        else ``NOT_COORDINATOR`` or ``COORDINATOR_LOAD_IN_PROGRESS`` (the load is started)."""
        return self.partition_status(self.partition_of(group_id))

    def partition_status(self, index: int) -> Errors:
        partition = self._led(index)
        if partition is None:
            self._unload(index)
            return Errors.NOT_COORDINATOR
        key = (partition, partition.leader_epoch)
        loaded = self._loaded.get(index)
        if loaded is not None and loaded[0] is partition and loaded[1] == key[1]:
            return Errors.NONE
        if loaded is not None:
            self._unload(index)
        self._start_load(index, key)
        return Errors.COORDINATOR_LOAD_IN_PROGRESS

    def _led(self, index: int) -> Partition | None:
        broker = self.broker
        if not broker.running:
            return None
        partition = broker.partitions.get(self._tp(index))
        if partition is None or partition.role is not Role.LEADER:
            return None
        return partition

    def led_partitions(self) -> list[int]:
        """The offsets partitions this broker leads now (loaded or not)."""
        broker = self.broker
        if not broker.running:
            return []
        return sorted(
            tp.partition
            for tp, p in broker.partitions.items()
            if tp.topic == OFFSETS_TOPIC and p.role is Role.LEADER
        )

    def loading(self) -> bool:
        """Whether a partition this broker leads is still loading."""
        return any(
            self.partition_status(i) is Errors.COORDINATOR_LOAD_IN_PROGRESS for i in self.led_partitions()
        )

    def maintain(self) -> None:
        """Unload what this broker no longer leads; start loading what it newly leads."""
        for index in list(self._loaded):
            self.partition_status(index)
        for index in self.led_partitions():
            self.partition_status(index)

    # ------------------------------------------------------------------ loading
    def _unload(self, index: int) -> None:
        if self._loaded.pop(index, None) is None:
            return
        for group_id in [g for g in self.coordinator.groups if self.partition_of(g) == index]:
            self.coordinator.remove_group(group_id)

    def _start_load(self, index: int, key: tuple[Partition, int]) -> None:
        current = self._loading.get(index)
        if current is not None and current[0] is key[0] and current[1] == key[1]:
            return
        self._loading[index] = key
        if self._nursery is not None:
            self._nursery.start_soon(self._load, index, key)

    async def _load(self, index: int, key: tuple[Partition, int]) -> None:
        partition, _ = key
        groups: dict[str, Group] = {}
        try:
            leader_log = partition.log
            assert isinstance(leader_log, Log)  # a broker's partitions hold Logs
            for count, batch in enumerate(leader_log.iter_batches()):
                if count % 16 == 0:
                    await trio.lowlevel.checkpoint()
                for record in decode_batch(batch).records:
                    self._replay(groups, record.key, record.value)
            await trio.lowlevel.checkpoint()
        except ReflogError as exc:
            log.warning("loading %s: %s", self._tp(index), exc)
            if self._loading.get(index) is key:
                del self._loading[index]
            return
        if self._loading.get(index) is not key:
            return  # superseded
        del self._loading[index]
        if self._led(index) is not partition or partition.leader_epoch != key[1]:
            return
        for group_id, group in groups.items():
            self.coordinator.groups[group_id] = group
        self._loaded[index] = key

    def _replay(self, groups: dict[str, Group], key: bytes | None, value: bytes | None) -> None:
        decoded = decode_record(key, value)
        if decoded is None:
            return
        parsed, payload = decoded
        if isinstance(parsed, OffsetKey):
            group = groups.setdefault(parsed.group_id, Group(parsed.group_id))
            tp = (parsed.topic, parsed.partition)
            if payload is None:
                group.offsets.pop(tp, None)
            elif isinstance(payload, OffsetValue):
                group.offsets[tp] = (payload.offset, payload.metadata)
            return
        if payload is None:
            groups.pop(parsed.group_id, None)
            return
        assert isinstance(payload, GroupValue)
        group = groups.setdefault(parsed.group_id, Group(parsed.group_id))
        now = trio.current_time()
        group.generation_id = payload.generation
        group.protocol_type = payload.protocol_type
        group.protocol_name = payload.protocol or ""
        group.leader_id = payload.leader or ""
        group.members = {
            m.member_id: Member(
                m.member_id,
                m.client_id,
                m.session_timeout_ms / 1000,
                m.rebalance_timeout_ms / 1000,
                payload.protocol_type,
                [(group.protocol_name, m.subscription)],
                now,
                m.assignment,
                client_host=m.client_host,
            )
            for m in payload.members
        }
        group.state = GroupState.STABLE if group.members else GroupState.EMPTY

    # ------------------------------------------------------------------ writing
    async def append(
        self,
        group_id: str,
        writes: Sequence[Write],
        applied: Callable[[], None],
        *,
        wanted: Callable[[], bool] | None = None,
    ) -> Errors:
        """Append ``writes`` to the group's partition (``acks=-1``) and wait until committed; then
        call ``applied`` (still in append order). Answers the mapped error if it was not.
        ``wanted`` is asked once the partition's earlier appends are done: false skips this one."""
        if not writes:
            applied()
            return Errors.NONE
        index = self.partition_of(group_id)
        batch = build_batch([Record(k, v) for k, v in writes], timestamp=self._now_ms())
        lock = self._locks.setdefault(index, trio.Lock())
        async with lock:
            if self.status(group_id) is not Errors.NONE:
                return Errors.NOT_COORDINATOR
            if wanted is not None and not wanted():
                return Errors.NONE
            response = await self.broker.produce(
                ProduceRequest(self._tp(index), batch, -1, self.config.offsets_commit_timeout_ms)
            )
            error = APPEND_ERRORS.get(response.error, response.error)
            if error is Errors.NONE:
                applied()
        return error

    async def commit_offsets(
        self, group_id: str, offsets: Sequence[tuple[str, int, int, str, int]]
    ) -> Errors:
        """Write ``(topic, partition, offset, metadata, leader epoch)`` commits; apply them once committed."""
        now = self._now_ms()
        writes = [
            (encode_offset_key(OffsetKey(group_id, t, p)), encode_offset_value(OffsetValue(o, e, m, now)))
            for t, p, o, m, e in offsets
        ]
        done = [(t, p, o, m) for t, p, o, m, _ in offsets]
        return await self.append(group_id, writes, lambda: self.coordinator.apply_commit(group_id, done))

    async def delete_offsets(self, group_id: str, partitions: Sequence[tuple[str, int]]) -> Errors:
        """Write tombstones for these committed offsets; forget them once committed."""
        writes: list[Write] = [(encode_offset_key(OffsetKey(group_id, t, p)), None) for t, p in partitions]
        return await self.append(
            group_id, writes, lambda: self.coordinator.delete_offsets(group_id, partitions)
        )

    async def delete_group(self, group_id: str) -> Errors:
        """Write tombstones for the group's offsets and metadata; forget the group once committed."""
        group = self.coordinator.groups.get(group_id)
        offsets = [] if group is None else list(group.offsets)
        writes: list[Write] = [(encode_offset_key(OffsetKey(group_id, t, p)), None) for t, p in offsets]
        writes.append((encode_group_key(GroupKey(group_id)), None))
        return await self.append(group_id, writes, lambda: self.coordinator.remove_group(group_id))

    async def write_group(self, group: Group) -> Errors:
        """:class:`~reflog.kafka.groups.GroupPersistence`: the group's metadata, committed."""
        writes = [
            (
                encode_group_key(GroupKey(group.group_id)),
                encode_group_value(group_value(group, self._now_ms())),
            )
        ]
        return await self.append(group.group_id, writes, lambda: None, wanted=lambda: self._current(group))

    def _current(self, group: Group) -> bool:
        """Whether ``group`` is still the coordinator's (not deleted or unloaded meanwhile)."""
        return self.coordinator.groups.get(group.group_id) is group

    def group_emptied(self, group: Group) -> None:
        """:class:`~reflog.kafka.groups.GroupPersistence`: write the empty group in the background."""
        if self._nursery is not None:
            self._nursery.start_soon(self._write_emptied, group)

    async def _write_emptied(self, group: Group) -> None:
        writes = [
            (
                encode_group_key(GroupKey(group.group_id)),
                encode_group_value(group_value(group, self._now_ms())),
            )
        ]
        await self.append(
            group.group_id,
            writes,
            lambda: None,
            wanted=lambda: self._current(group) and not group.members,
        )

    # ------------------------------------------------------------------ timers
    def attach(self, nursery: trio.Nursery) -> None:
        """Run loads, background writes and the topic's creation in ``nursery`` (:meth:`run` does)."""
        self._nursery = nursery

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """The coordinator's timers and :meth:`maintain` every 100 ms, and :meth:`maintain` at once
        whenever an offsets partition of this broker changes (a leadership applied: the load
        starts then, as Kafka's coordinator loads on election); loads run here too."""
        async with trio.open_nursery() as nursery:
            self.attach(nursery)
            task_status.started()
            next_tick = trio.current_time()
            while True:
                next_tick += 0.1
                offsets = [self._tp(i) for i in range(self.config.offsets_topic_num_partitions)]
                if self.broker.running:
                    await self.broker.wait_for_change(offsets, next_tick)
                else:
                    await trio.sleep_until(next_tick)
                if trio.current_time() >= next_tick:
                    self.coordinator.tick()
                else:
                    next_tick -= 0.1  # woken by a change: the tick stays due at its time
                self.maintain()


__all__ = ["APPEND_ERRORS", "GroupStore", "group_value", "offsets_topic_configs"]
