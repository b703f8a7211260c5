"""The group admin APIs of one broker's listener: ListGroups, DescribeGroups, DeleteGroups and
OffsetDelete (PRO-128..PRO-131), over this broker's
:class:`~reflog.kafka.groups.GroupCoordinator` and :class:`~reflog.kafka.group_store.GroupStore`.

Each answers as Kafka 4's classic-group coordinator does, without ACLs: ListGroups lists the
groups of the offsets partitions this broker has loaded (filtered by state from v4, by type from
v5; every group here is ``classic``); DescribeGroups describes each group it coordinates (members'
metadata and assignments only when Stable; authorized operations are every operation a group
supports when asked); DeleteGroups deletes an Empty group (its offsets' and its metadata's
tombstones committed first), ``NON_EMPTY_GROUP`` otherwise, ``GROUP_ID_NOT_FOUND`` for none;
OffsetDelete writes tombstones for committed offsets of topics no member consumes
(``GROUP_SUBSCRIBED_TO_TOPIC`` for the others). A group another broker coordinates is
``NOT_COORDINATOR``; one whose partition is loading ``COORDINATOR_LOAD_IN_PROGRESS``.
No handler raises for a request.
"""

from __future__ import annotations

from typing import Final

from reflog.errors import Errors
from reflog.kafka.codec import KafkaMessage, response_class
from reflog.kafka.group_store import GroupStore
from reflog.kafka.groups import GroupCoordinator, GroupState
from reflog.kafka.versions import ApiKey

GROUP_OPERATIONS: Final = frozenset({3, 6, 8, 10, 11})
"""READ, DELETE, DESCRIBE, DESCRIBE_CONFIGS, ALTER_CONFIGS: what Kafka's ``AclEntry`` supports on a
group, all authorized without an authorizer (``AuthHelper.authorizedOperations``). kafka-python's
codec takes the operation codes and writes the 32-bit field (``1 << code`` each, 3400 here)."""
CLASSIC: Final = "classic"


class GroupAdminApis:
    """ListGroups, DescribeGroups, DeleteGroups and OffsetDelete of one broker."""

    def __init__(self, store: GroupStore) -> None:
        self.store = store

    @property
    def groups(self) -> GroupCoordinator:
        return self.store.coordinator

    async def list_groups(self, version: int, body: KafkaMessage) -> KafkaMessage:
        cls = response_class(ApiKey.LIST_GROUPS, version)
        if self.store.loading():
            return cls(throttle_time_ms=0, error_code=int(Errors.COORDINATOR_LOAD_IN_PROGRESS), groups=[])
        states = {s.lower() for s in (getattr(body, "states_filter", None) or [])}
        types = {t.lower() for t in (getattr(body, "types_filter", None) or [])}
        listed = []
        for group_id, group in sorted(self.groups.groups.items()):
            if self.store.status(group_id) is not Errors.NONE or group.state is GroupState.DEAD:
                continue
            if states and group.state.value.lower() not in states:
                continue
            if types and CLASSIC not in types:
                continue
            listed.append(
                cls.ListedGroup(
                    group_id=group_id,
                    protocol_type=group.protocol_type,
                    group_state=group.state.value,
                    group_type=CLASSIC,
                )
            )
        return cls(throttle_time_ms=0, error_code=0, groups=listed)

    async def describe_groups(self, version: int, body: KafkaMessage) -> KafkaMessage:
        cls = response_class(ApiKey.DESCRIBE_GROUPS, version)
        asked = bool(getattr(body, "include_authorized_operations", False))
        # Not asked for: the schema's default, -2147483648 (kafka-python writes it for None).
        operations = set(GROUP_OPERATIONS) if asked and version >= 3 else None
        described = []
        for group_id in [g or "" for g in body.groups]:
            error = self.store.status(group_id)
            group = self.groups.groups.get(group_id) if error is Errors.NONE else None
            message = None
            state = "Dead" if error is Errors.NONE else ""
            if error is Errors.NONE and group is None and version >= 6:  # KIP-1043
                error, message = Errors.GROUP_ID_NOT_FOUND, f"Group {group_id} not found."
            members = []
            protocol_type = protocol_data = ""
            if group is not None:
                state, protocol_type = group.state.value, group.protocol_type
                stable = group.state is GroupState.STABLE
                protocol_data = group.protocol_name if stable else ""
                for m in group.members.values():
                    metadata = dict(m.protocols).get(group.protocol_name, b"") if stable else b""
                    members.append(
                        cls.DescribedGroup.DescribedGroupMember(
                            member_id=m.member_id,
                            group_instance_id=None,
                            client_id=m.client_id,
                            client_host=m.client_host,
                            member_metadata=metadata,
                            member_assignment=m.assignment if stable else b"",
                        )
                    )
            described.append(
                cls.DescribedGroup(
                    error_code=int(error),
                    error_message=message,
                    group_id=group_id,
                    group_state=state,
                    protocol_type=protocol_type,
                    protocol_data=protocol_data,
                    members=members,
                    authorized_operations=operations,
                )
            )
        return cls(throttle_time_ms=0, groups=described)

    async def delete_groups(self, version: int, body: KafkaMessage) -> KafkaMessage:
        cls = response_class(ApiKey.DELETE_GROUPS, version)
        results = []
        for group_id in dict.fromkeys(g or "" for g in body.groups_names):
            error = self.store.status(group_id)
            if error is Errors.NONE:
                error = self.groups.validate_delete_group(group_id)
            if error is Errors.NONE:
                error = await self.store.delete_group(group_id)
            results.append(cls.DeletableGroupResult(group_id=group_id, error_code=int(error)))
        return cls(throttle_time_ms=0, results=results)

    async def offset_delete(self, version: int, body: KafkaMessage) -> KafkaMessage:
        cls = response_class(ApiKey.OFFSET_DELETE, version)
        group_id = body.group_id or ""
        error = self.store.status(group_id)
        if error is Errors.NONE:
            error = self.groups.validate_offset_delete(group_id)
        if error is not Errors.NONE:
            return cls(error_code=int(error), throttle_time_ms=0, topics=[])
        group = self.groups.groups[group_id]
        answers: dict[tuple[str, int], Errors] = {}
        deleted: list[tuple[str, int]] = []
        for topic in body.topics:
            subscribed = self.groups.subscribed(group_id, topic.name)
            for index in topic.partitions:
                tp = (topic.name, index.partition_index)
                answers[tp] = Errors.GROUP_SUBSCRIBED_TO_TOPIC if subscribed else Errors.NONE
                if not subscribed and tp in group.offsets:
                    deleted.append(tp)
        error = await self.store.delete_offsets(group_id, deleted)
        if error is not Errors.NONE:
            return cls(error_code=int(error), throttle_time_ms=0, topics=[])
        by_topic: dict[str, list[KafkaMessage]] = {}
        part_cls = cls.OffsetDeleteResponseTopic.OffsetDeleteResponsePartition
        for (name, index), answer in answers.items():
            by_topic.setdefault(name, []).append(part_cls(partition_index=index, error_code=int(answer)))
        topics = [cls.OffsetDeleteResponseTopic(name=n, partitions=p) for n, p in by_topic.items()]
        return cls(error_code=0, throttle_time_ms=0, topics=topics)


__all__ = ["GROUP_OPERATIONS", "GroupAdminApis"]
