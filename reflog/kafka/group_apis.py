"""The group APIs of one broker's listener: FindCoordinator, JoinGroup, SyncGroup, Heartbeat,
LeaveGroup, OffsetCommit and OffsetFetch (PRO-9..12, PRO-120..127), over this broker's
:class:`~reflog.kafka.groups.GroupCoordinator` and :class:`~reflog.kafka.group_store.GroupStore`.

A group's coordinator is the leader of its ``__consumer_offsets`` partition
(:meth:`GroupStore.coordinator_for`). Every other broker answers the group's requests
NOT_COORDINATOR, and the leader answers COORDINATOR_LOAD_IN_PROGRESS until it has loaded the
partition (a Heartbeat then answers NONE, as Kafka's does), before the coordinator is touched
(:meth:`GroupStore.status`). An OffsetCommit is answered once its records are committed
(:meth:`GroupStore.commit_offsets`). The coordinator's own refusals (unknown member, illegal
generation, rebalance in progress, ...) come back as the response's error code; no handler raises
for a request.
"""

from __future__ import annotations

from typing import Final

from reflog.cluster import Cluster
from reflog.errors import Errors
from reflog.kafka.codec import KafkaMessage, response_class
from reflog.kafka.group_admin_apis import GroupAdminApis
from reflog.kafka.group_store import GroupStore
from reflog.kafka.groups import Group, GroupCoordinator, JoinResult
from reflog.kafka.listeners import Addresses
from reflog.kafka.versions import ApiKey

GROUP_KEY: Final = 0
TRANSACTION_KEY: Final = 1
"""FindCoordinator's key types (Kafka's ``CoordinatorType``); SHARE (2) is not served."""
BATCHED_COORDINATORS_FROM: Final = 4
"""FindCoordinator answers ``coordinator_keys`` in a batch from v4 (KIP-699)."""
MANY_GROUPS_FROM: Final = 8
"""OffsetFetch asks for many groups at once from v8."""


def inconsistent_protocol(group: Group, body: KafkaMessage) -> bool:
    """SyncGroup v5 (KIP-559): a protocol type or name that is given and not the group's."""
    given = (getattr(body, "protocol_type", None), getattr(body, "protocol_name", None))
    known = (group.protocol_type or None, group.protocol_name or None)
    return any(g is not None and k is not None and g != k for g, k in zip(given, known, strict=True))


class GroupApis:
    """The group APIs of broker ``broker_id`` in ``cluster``, answered by ``groups``.

    Each handler takes a request's version and decoded body and returns the response body
    (kafka-python's class for that version).
    """

    def __init__(
        self, cluster: Cluster, broker_id: int, addresses: Addresses, groups: GroupCoordinator
    ) -> None:
        self.cluster = cluster
        self.broker_id = broker_id
        self.addresses = addresses
        self.groups = groups
        #: This broker's offsets partitions: who coordinates a group, loads, writes.
        self.store = GroupStore(cluster, broker_id, addresses, groups)
        #: ListGroups, DescribeGroups, DeleteGroups, OffsetDelete.
        self.admin = GroupAdminApis(self.store)

    def coordinator_id(self, group_id: str = "") -> int:
        """The broker that coordinates ``group_id`` now, or -1 (FindCoordinator's answer)."""
        error, node = self.store.coordinator_for(group_id)
        return node if error is Errors.NONE else -1

    def _coordinator_for(self, key_type: int, key: str | None) -> tuple[Errors, int, str, int]:
        """``(error, node id, host, port)`` of the coordinator for ``key`` of ``key_type``: a group's
        is its offsets partition's leader (PRO-121); reflog has no transaction coordinator."""
        if key_type not in (GROUP_KEY, TRANSACTION_KEY):  # share groups (2) are not served
            return Errors.INVALID_REQUEST, -1, "", -1
        if key_type == TRANSACTION_KEY:
            return Errors.COORDINATOR_NOT_AVAILABLE, -1, "", -1
        error, node = self.store.coordinator_for(key)
        if error is not Errors.NONE:
            return error, -1, "", -1
        host, port = self.addresses()[node]
        return Errors.NONE, node, host, port

    async def find_coordinator(self, version: int, body: KafkaMessage) -> KafkaMessage:
        cls = response_class(ApiKey.FIND_COORDINATOR, version)
        key_type = getattr(body, "key_type", GROUP_KEY) or GROUP_KEY
        if version >= BATCHED_COORDINATORS_FROM:  # KIP-699: one answer per key
            coordinators = []
            for key in dict.fromkeys(body.coordinator_keys or []):
                error, node, host, port = self._coordinator_for(key_type, key)
                coordinators.append(
                    cls.Coordinator(key=key, node_id=node, host=host, port=port, error_code=int(error))
                )
            return cls(throttle_time_ms=0, coordinators=coordinators)
        error, node, host, port = self._coordinator_for(key_type, body.key)
        return cls(
            throttle_time_ms=0, error_code=int(error), error_message=None, node_id=node, host=host, port=port
        )

    def _refusal(self, group_id: str) -> Errors:
        """``NONE`` if this broker serves ``group_id`` now, else the error to answer."""
        return self.store.status(group_id)

    def _client_host(self) -> str:
        return "/" + self.addresses().get(self.broker_id, ("127.0.0.1", 0))[0]

    async def join_group(self, version: int, body: KafkaMessage) -> KafkaMessage:
        cls = response_class(ApiKey.JOIN_GROUP, version)
        refusal = self._refusal(body.group_id)
        if refusal is not Errors.NONE:
            return cls(
                throttle_time_ms=0,
                error_code=int(refusal),
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
            client_id=getattr(body.header, "client_id", None) or "",
            client_host=self._client_host(),
            session_timeout_ms=body.session_timeout_ms,
            rebalance_timeout_ms=rebalance_ms,
            protocol_type=body.protocol_type,
            protocols=[(p.name, bytes(p.metadata)) for p in body.protocols],
            require_known_member_id=version >= 4,
        )
        if self._refusal(body.group_id) is not Errors.NONE:  # unloaded while it waited
            result = JoinResult(Errors.NOT_COORDINATOR, member_id=result.member_id)
        members = [
            cls.JoinGroupResponseMember(member_id=m, group_instance_id=None, metadata=md)
            for m, md in result.members
        ]
        group = self.groups.groups.get(body.group_id)
        return cls(
            throttle_time_ms=0,
            error_code=int(result.error),
            generation_id=result.generation_id,
            protocol_type=group.protocol_type if group is not None and result.error is Errors.NONE else None,
            protocol_name=result.protocol_name,
            leader=result.leader_id,
            member_id=result.member_id,
            members=members,
        )

    async def sync_group(self, version: int, body: KafkaMessage) -> KafkaMessage:
        cls = response_class(ApiKey.SYNC_GROUP, version)
        refusal = self._refusal(body.group_id)
        if refusal is not Errors.NONE:
            return cls(throttle_time_ms=0, error_code=int(refusal), assignment=b"")
        group = self.groups.groups.get(body.group_id)
        if (
            group is not None
            and body.member_id in group.members
            and body.generation_id == group.generation_id
            and inconsistent_protocol(group, body)
        ):  # KIP-559, after the member and generation checks, as Kafka's validateSyncGroup
            return cls(throttle_time_ms=0, error_code=int(Errors.INCONSISTENT_GROUP_PROTOCOL), assignment=b"")
        error, assignment = await self.groups.sync(
            body.group_id,
            body.generation_id,
            body.member_id,
            [(a.member_id, bytes(a.assignment)) for a in body.assignments],
        )
        if self._refusal(body.group_id) is not Errors.NONE:  # unloaded while it waited
            error, assignment = Errors.NOT_COORDINATOR, b""
        names = {}
        if error is Errors.NONE and group is not None:  # v5 answers the group's type and name
            names = {"protocol_type": group.protocol_type, "protocol_name": group.protocol_name}
        return cls(throttle_time_ms=0, error_code=int(error), assignment=assignment, **names)

    async def heartbeat(self, version: int, body: KafkaMessage) -> KafkaMessage:
        cls = response_class(ApiKey.HEARTBEAT, version)
        refusal = self._refusal(body.group_id)
        if refusal is Errors.COORDINATOR_LOAD_IN_PROGRESS:
            return cls(throttle_time_ms=0, error_code=0)  # Kafka: "the group is still loading"
        if refusal is not Errors.NONE:
            return cls(throttle_time_ms=0, error_code=int(refusal))
        error = self.groups.heartbeat(body.group_id, body.generation_id, body.member_id)
        return cls(throttle_time_ms=0, error_code=int(error))

    async def leave_group(self, version: int, body: KafkaMessage) -> KafkaMessage:
        cls = response_class(ApiKey.LEAVE_GROUP, version)
        refusal = self._refusal(body.group_id)
        if refusal is not Errors.NONE:
            return cls(throttle_time_ms=0, error_code=int(refusal), members=[])
        if version >= 3:  # a batch: one answer per member, as Kafka's classic group leave
            ids = [m.member_id for m in body.members]
            group = self.groups.groups.get(body.group_id)
            known = set() if group is None else set(group.members)
            error = self.groups.leave(body.group_id, ids)
            members = [
                cls.MemberResponse(
                    member_id=m,
                    group_instance_id=None,
                    error_code=int(Errors.NONE if m in known else Errors.UNKNOWN_MEMBER_ID),
                )
                for m in ids
            ]
            top = Errors.UNKNOWN_MEMBER_ID if group is None else Errors.NONE
            return cls(
                throttle_time_ms=0,
                error_code=int(top if error is not Errors.NONE else error),
                members=members,
            )
        return cls(throttle_time_ms=0, error_code=int(self.groups.leave(body.group_id, [body.member_id])))

    async def offset_commit(self, version: int, body: KafkaMessage) -> KafkaMessage:
        cls = response_class(ApiKey.OFFSET_COMMIT, version)
        generation = getattr(body, "generation_id_or_member_epoch", -1)
        offsets = [
            (
                topic.name,
                p.partition_index,
                p.committed_offset,
                p.committed_metadata or "",
                getattr(p, "committed_leader_epoch", -1),
            )
            for topic in body.topics
            for p in topic.partitions
        ]
        error = self._refusal(body.group_id)
        if (
            error is Errors.NONE
            and version >= 9
            and generation >= 0
            and body.group_id
            and body.group_id not in self.groups.groups
        ):
            error = Errors.GROUP_ID_NOT_FOUND  # OffsetCommit v9+ (below: ILLEGAL_GENERATION)
        if error is Errors.NONE:
            error = self.groups.validate_commit(body.group_id, generation, body.member_id or "")
        if error is Errors.NONE:
            error = await self.store.commit_offsets(body.group_id, offsets)
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

    def _fetched(
        self, group_id: str, wanted_topics: KafkaMessage | None
    ) -> dict[str, list[tuple[int, int, str]]]:
        """``topic -> [(partition, committed offset, metadata)]`` of one group (-1: never committed)."""
        committed = self.groups.fetch_offsets(group_id)
        if wanted_topics is None:
            wanted: dict[str, list[int]] = {}
            for topic, partition in committed:
                wanted.setdefault(topic, []).append(partition)
        else:
            wanted = {t.name: list(t.partition_indexes) for t in wanted_topics}
        return {
            name: [(i, *committed.get((name, i), (-1, ""))) for i in indexes]
            for name, indexes in wanted.items()
        }

    async def offset_fetch(self, version: int, body: KafkaMessage) -> KafkaMessage:
        cls = response_class(ApiKey.OFFSET_FETCH, version)
        if version >= MANY_GROUPS_FROM:  # v8+: many groups per request, each with its own error
            group_cls = cls.OffsetFetchResponseGroup
            topic_cls = group_cls.OffsetFetchResponseTopics
            part_cls = topic_cls.OffsetFetchResponsePartitions
            groups = []
            for group in body.groups:
                refusal = self._refusal(group.group_id)  # each group has its own coordinator
                if refusal is not Errors.NONE:
                    groups.append(group_cls(group_id=group.group_id, topics=[], error_code=int(refusal)))
                    continue
                topics = [
                    topic_cls(
                        name=name,
                        partitions=[
                            part_cls(
                                partition_index=i, committed_offset=o, committed_leader_epoch=-1, metadata=m
                            )
                            for i, o, m in parts
                        ],
                    )
                    for name, parts in self._fetched(group.group_id, group.topics).items()
                ]
                groups.append(group_cls(group_id=group.group_id, topics=topics, error_code=0))
            return cls(throttle_time_ms=0, groups=groups)
        refusal = self._refusal(body.group_id)
        if refusal is not Errors.NONE:
            return self._offset_fetch_error(cls, version, body, refusal)
        topic_cls = cls.OffsetFetchResponseTopic
        topics = [
            topic_cls(
                name=name,
                partitions=[
                    topic_cls.OffsetFetchResponsePartition(
                        partition_index=i,
                        committed_offset=o,
                        committed_leader_epoch=-1,
                        metadata=m,
                        error_code=0,
                    )
                    for i, o, m in parts
                ],
            )
            for name, parts in self._fetched(body.group_id, body.topics).items()
        ]
        return cls(throttle_time_ms=0, topics=topics, error_code=0)

    @staticmethod
    def _offset_fetch_error(
        response: KafkaMessage, version: int, body: KafkaMessage, error: Errors
    ) -> KafkaMessage:
        """OffsetFetch refused as a whole (``response`` is the class): the top-level error from v2,
        each partition's before it."""
        if version >= 2 or body.topics is None:
            return response(throttle_time_ms=0, topics=[], error_code=int(error))
        part_cls = response.OffsetFetchResponseTopic.OffsetFetchResponsePartition
        topics = [
            response.OffsetFetchResponseTopic(
                name=t.name,
                partitions=[
                    part_cls(
                        partition_index=i,
                        committed_offset=-1,
                        committed_leader_epoch=-1,
                        metadata="",
                        error_code=int(error),
                    )
                    for i in t.partition_indexes
                ],
            )
            for t in body.topics
        ]
        return response(throttle_time_ms=0, topics=topics, error_code=int(error))


__all__ = ["GroupApis"]
