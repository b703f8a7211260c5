"""The group APIs of one broker's listener: FindCoordinator, JoinGroup, SyncGroup, Heartbeat,
LeaveGroup, OffsetCommit and OffsetFetch (PRO-9..12), over the process's
:class:`~reflog.kafka.groups.GroupCoordinator`.

One broker coordinates every group: the lowest-numbered one serving clients
(:meth:`GroupApis.coordinator_id`). Any other broker answers every group request but
FindCoordinator with NOT_COORDINATOR, as Kafka does for a group it does not own, and never touches
the coordinator. The coordinator's own refusals (unknown member, illegal generation, rebalance in
progress, ...) come back as the response's error code; no handler raises for a request.
"""

from __future__ import annotations

from reflog.cluster import Cluster
from reflog.errors import Errors
from reflog.kafka.codec import KafkaMessage, response_class
from reflog.kafka.groups import GroupCoordinator
from reflog.kafka.listeners import Addresses, live_brokers
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

    def coordinator_id(self) -> int:
        """The broker that coordinates every group: the lowest-numbered one serving clients."""
        return min(live_brokers(self.cluster, self.addresses()), default=-1)

    async def find_coordinator(self, version: int, body: KafkaMessage) -> KafkaMessage:
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

    async def join_group(self, version: int, body: KafkaMessage) -> KafkaMessage:
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

    async def sync_group(self, version: int, body: KafkaMessage) -> KafkaMessage:
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

    async def heartbeat(self, version: int, body: KafkaMessage) -> KafkaMessage:
        cls = response_class(ApiKey.HEARTBEAT, version)
        if self._not_coordinator():
            return cls(throttle_time_ms=0, error_code=int(Errors.NOT_COORDINATOR))
        error = self.groups.heartbeat(body.group_id, body.generation_id, body.member_id)
        return cls(throttle_time_ms=0, error_code=int(error))

    async def leave_group(self, version: int, body: KafkaMessage) -> KafkaMessage:
        cls = response_class(ApiKey.LEAVE_GROUP, version)
        if self._not_coordinator():
            return cls(throttle_time_ms=0, error_code=int(Errors.NOT_COORDINATOR), members=[])
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

    async def offset_fetch(self, version: int, body: KafkaMessage) -> KafkaMessage:
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


__all__ = ["GroupApis"]
