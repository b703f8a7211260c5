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

from reflog.cluster import Cluster
from reflog.errors import Errors
from reflog.kafka.codec import KafkaMessage, response_class
from reflog.kafka.group_admin_apis import GroupAdminApis
from reflog.kafka.group_store import GroupStore
from reflog.kafka.groups import GroupCoordinator, JoinResult
from reflog.kafka.listeners import Addresses
from reflog.kafka.versions import ApiKey


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

    async def find_coordinator(self, version: int, body: KafkaMessage) -> KafkaMessage:
        cls = response_class(ApiKey.FIND_COORDINATOR, version)
        if getattr(body, "key_type", 0) != 0:  # a transaction coordinator: reflog has none
            error, node = Errors.COORDINATOR_NOT_AVAILABLE, -1
        else:
            error, node = self.store.coordinator_for(body.key)
        if error is not Errors.NONE:
            return cls(
                throttle_time_ms=0, error_code=int(error), error_message=None, node_id=-1, host="", port=-1
            )
        host, port = self.addresses()[node]
        return cls(throttle_time_ms=0, error_code=0, error_message=None, node_id=node, host=host, port=port)

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
        return cls(
            throttle_time_ms=0,
            error_code=int(result.error),
            generation_id=result.generation_id,
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
        error, assignment = await self.groups.sync(
            body.group_id,
            body.generation_id,
            body.member_id,
            [(a.member_id, bytes(a.assignment)) for a in body.assignments],
        )
        if self._refusal(body.group_id) is not Errors.NONE:  # unloaded while it waited
            error, assignment = Errors.NOT_COORDINATOR, b""
        return cls(throttle_time_ms=0, error_code=int(error), assignment=assignment)

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
        if version >= 3:
            ids = [m.member_id for m in body.members]
            error = self.groups.leave(body.group_id, ids)
            members = [cls.MemberResponse(member_id=m, group_instance_id=None, error_code=0) for m in ids]
            return cls(throttle_time_ms=0, error_code=int(error), members=members)
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

    async def offset_fetch(self, version: int, body: KafkaMessage) -> KafkaMessage:
        cls = response_class(ApiKey.OFFSET_FETCH, version)
        refusal = self._refusal(body.group_id)
        if refusal is not Errors.NONE:
            return self._offset_fetch_error(cls, version, body, refusal)
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
