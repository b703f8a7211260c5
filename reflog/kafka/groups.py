"""The group coordinator: Kafka's classic consumer-group protocol (JoinGroup, SyncGroup, Heartbeat,
LeaveGroup) and committed offsets (OffsetCommit, OffsetFetch), PRO-9..PRO-12.

The broker only relays: members join with their protocols' metadata, the group's leader member
computes the assignment in the client, and SyncGroup hands every member its share. A rebalance
moves a group through Kafka's states: ``Empty`` -> ``PreparingRebalance`` (members (re)join;
it completes when every member of the previous generation has rejoined, or when the rebalance
timeout removes the laggards) -> ``CompletingRebalance`` (waiting for the leader's SyncGroup) ->
``Stable``. JoinGroup v4+ with an empty member id is answered ``MEMBER_ID_REQUIRED`` with an id
to rejoin with (KIP-394). A member whose heartbeats stop for ``session.timeout.ms`` is removed
at the first tick at or after that deadline (Kafka's session timer fires at its deadline).

Each broker has one coordinator, holding the groups of the ``__consumer_offsets`` partitions it
leads (:mod:`reflog.kafka.group_store` loads, writes and unloads them, PRO-120..PRO-127): a
commit is validated here (:meth:`GroupCoordinator.validate_commit`), written to the log, and
applied (:meth:`GroupCoordinator.apply_commit`) once committed; the leader's SyncGroup writes the
group's metadata (``persistence``) before the group is Stable.

Every method answers with a Kafka error code; none raises for a bad request.
"""

from __future__ import annotations

import enum
import itertools
from collections.abc import Sequence
from typing import Protocol

import attrs
import trio

from reflog.errors import Errors
from reflog.kafka.offsets_records import subscribed_topics


class GroupState(enum.Enum):
    EMPTY = "Empty"
    PREPARING_REBALANCE = "PreparingRebalance"
    COMPLETING_REBALANCE = "CompletingRebalance"
    STABLE = "Stable"
    DEAD = "Dead"


@attrs.define
class Member:
    member_id: str
    client_id: str
    session_timeout: float
    rebalance_timeout: float
    protocol_type: str
    protocols: list[tuple[str, bytes]]
    last_heartbeat: float
    assignment: bytes = b""
    client_host: str = ""
    joined: bool = False
    """It has sent JoinGroup in the rebalance under way."""


@attrs.frozen
class JoinResult:
    error: Errors
    generation_id: int = -1
    protocol_name: str = ""
    leader_id: str = ""
    member_id: str = ""
    members: tuple[tuple[str, bytes], ...] = ()
    """``(member id, protocol metadata)`` of every member; only the leader receives them."""


@attrs.define
class Group:
    group_id: str
    state: GroupState = GroupState.EMPTY
    generation_id: int = 0
    protocol_type: str = ""
    protocol_name: str = ""
    leader_id: str = ""
    members: dict[str, Member] = attrs.field(factory=dict)
    offsets: dict[tuple[str, int], tuple[int, str]] = attrs.field(factory=dict)
    rebalance_done: trio.Event = attrs.field(factory=trio.Event)
    sync_done: trio.Event = attrs.field(factory=trio.Event)
    join_results: dict[str, JoinResult] = attrs.field(factory=dict)
    delay_until: float = 0.0
    """group.initial.rebalance.delay.ms: a new group's first rebalance waits for more joiners."""
    join_deadline: float = 0.0
    """The rebalance timeout: members that have not rejoined by then are removed."""


@attrs.frozen
class GroupConfig:
    """Kafka's broker settings for groups (milliseconds in, seconds kept)."""

    group_initial_rebalance_delay_ms: int = 3000
    group_min_session_timeout_ms: int = 6000
    group_max_session_timeout_ms: int = 1_800_000
    offsets_topic_num_partitions: int = 50
    offsets_topic_replication_factor: int = 3
    """Capped to the brokers serving clients when the topic is created, as Kafka 4 does."""
    offsets_commit_timeout_ms: int = 5000
    """How long a commit (or a group's metadata) waits for its record to be committed."""


class GroupPersistence(Protocol):
    """Where a group's metadata goes before the group is Stable (``__consumer_offsets``)."""

    async def write_group(self, group: Group) -> Errors:
        """Write ``group``'s metadata and wait until it is committed; the error if it is not."""

    def group_emptied(self, group: Group) -> None:
        """``group`` lost its last member: write its (empty) metadata in the background."""


class GroupCoordinator:
    """Every consumer group of the process; see the module docstring."""

    def __init__(self, config: GroupConfig | None = None) -> None:
        self.config = config or GroupConfig()
        self.groups: dict[str, Group] = {}
        self._ids = itertools.count(1)
        #: Writes group metadata (``None``: in memory only, for rule tests).
        self.persistence: GroupPersistence | None = None

    def _group(self, group_id: str) -> Group:
        group = self.groups.get(group_id)
        if group is None:
            group = self.groups[group_id] = Group(group_id)
        return group

    # ------------------------------------------------------------------ membership
    async def join(
        self,
        group_id: str,
        member_id: str,
        *,
        client_id: str,
        client_host: str = "",
        session_timeout_ms: int,
        rebalance_timeout_ms: int,
        protocol_type: str,
        protocols: Sequence[tuple[str, bytes]],
        require_known_member_id: bool,
    ) -> JoinResult:
        """JoinGroup: wait for the rebalance to complete, then return this member's view."""
        if not group_id:
            return JoinResult(Errors.INVALID_GROUP_ID)
        low, high = self.config.group_min_session_timeout_ms, self.config.group_max_session_timeout_ms
        if not low <= session_timeout_ms <= high:
            return JoinResult(Errors.INVALID_SESSION_TIMEOUT)
        group = self._group(group_id)
        if not protocols or (group.protocol_type and protocol_type != group.protocol_type and group.members):
            return JoinResult(Errors.INCONSISTENT_GROUP_PROTOCOL)
        now = trio.current_time()

        def new_member(member_id: str) -> Member:
            return Member(
                member_id,
                client_id,
                session_timeout_ms / 1000,
                rebalance_timeout_ms / 1000,
                protocol_type,
                list(protocols),
                now,
                client_host=client_host,
            )

        if not member_id:
            member_id = f"{client_id or 'member'}-{next(self._ids)}"
            if require_known_member_id:
                group.members[member_id] = new_member(member_id)
                return JoinResult(Errors.MEMBER_ID_REQUIRED, member_id=member_id)
        elif member_id not in group.members:
            return JoinResult(Errors.UNKNOWN_MEMBER_ID, member_id=member_id)
        member = group.members.get(member_id)
        if member is None:
            member = group.members[member_id] = new_member(member_id)
        member.protocols = list(protocols)
        member.protocol_type = protocol_type
        member.session_timeout = session_timeout_ms / 1000
        member.rebalance_timeout = rebalance_timeout_ms / 1000
        member.last_heartbeat = now
        member.joined = True
        group.protocol_type = protocol_type
        done = self._prepare_rebalance(group)
        self._maybe_complete_join(group)
        await done.wait()
        result = group.join_results.get(member_id)
        if result is None:  # removed while waiting (rebalance timeout, or it left)
            return JoinResult(Errors.UNKNOWN_MEMBER_ID, member_id=member_id)
        return result

    def _prepare_rebalance(self, group: Group) -> trio.Event:
        if group.state is not GroupState.PREPARING_REBALANCE:
            now = trio.current_time()
            initial = group.state is GroupState.EMPTY
            group.state = GroupState.PREPARING_REBALANCE
            group.rebalance_done = trio.Event()
            group.join_results = {}
            group.sync_done.set()  # members waiting in SyncGroup learn of the rebalance
            delay = self.config.group_initial_rebalance_delay_ms / 1000 if initial else 0.0
            timeout = max((m.rebalance_timeout for m in group.members.values()), default=0.0)
            group.delay_until = now + delay
            group.join_deadline = now + max(timeout, delay)
        return group.rebalance_done

    def _maybe_complete_join(self, group: Group, *, force: bool = False) -> None:
        if group.state is not GroupState.PREPARING_REBALANCE:
            return
        waiting = [m for m in group.members.values() if not m.joined]
        if not force and (waiting or trio.current_time() < group.delay_until):
            return
        for member in waiting:
            del group.members[member.member_id]
        done = group.rebalance_done
        group.generation_id += 1
        if not group.members:
            group.state = GroupState.EMPTY
            group.protocol_name = ""
            group.leader_id = ""
            done.set()
            self._emptied(group)
            return
        members = list(group.members.values())
        group.leader_id = group.leader_id if group.leader_id in group.members else members[0].member_id
        leader = group.members[group.leader_id]
        common = [name for name, _ in leader.protocols if all(name in dict(m.protocols) for m in members)]
        group.protocol_name = common[0] if common else leader.protocols[0][0]
        metadata = tuple((m.member_id, dict(m.protocols).get(group.protocol_name, b"")) for m in members)
        for member in members:
            member.joined = False
            member.assignment = b""
            group.join_results[member.member_id] = JoinResult(
                Errors.NONE,
                group.generation_id,
                group.protocol_name,
                group.leader_id,
                member.member_id,
                metadata if member.member_id == group.leader_id else (),
            )
        group.state = GroupState.COMPLETING_REBALANCE
        group.sync_done = trio.Event()
        done.set()

    async def sync(
        self, group_id: str, generation_id: int, member_id: str, assignments: Sequence[tuple[str, bytes]]
    ) -> tuple[Errors, bytes]:
        """SyncGroup: the leader hands out assignments; every member waits for its own."""
        group = self.groups.get(group_id)
        if group is None or member_id not in group.members:
            return Errors.UNKNOWN_MEMBER_ID, b""
        if generation_id != group.generation_id:
            return Errors.ILLEGAL_GENERATION, b""
        if group.state is GroupState.PREPARING_REBALANCE:
            return Errors.REBALANCE_IN_PROGRESS, b""
        group.members[member_id].last_heartbeat = trio.current_time()
        if group.state is GroupState.COMPLETING_REBALANCE:
            if member_id == group.leader_id:
                given = dict(assignments)
                for member in group.members.values():
                    member.assignment = given.get(member.member_id, b"")
                if self.persistence is not None:
                    # GroupMetadataManager.storeGroup: Stable only once the metadata is committed.
                    error = await self.persistence.write_group(group)
                    if (
                        group.state is not GroupState.COMPLETING_REBALANCE
                        or generation_id != group.generation_id
                    ):
                        return Errors.REBALANCE_IN_PROGRESS, b""
                    if error is not Errors.NONE:
                        for member in group.members.values():
                            member.assignment = b""
                        self._prepare_rebalance(group)
                        return error, b""
                group.state = GroupState.STABLE
                group.sync_done.set()
            else:
                await group.sync_done.wait()
        if group.state is not GroupState.STABLE or generation_id != group.generation_id:
            return Errors.REBALANCE_IN_PROGRESS, b""
        current = group.members.get(member_id)
        if current is None:
            return Errors.UNKNOWN_MEMBER_ID, b""
        return Errors.NONE, current.assignment

    def heartbeat(self, group_id: str, generation_id: int, member_id: str) -> Errors:
        group = self.groups.get(group_id)
        if group is None or member_id not in group.members:
            return Errors.UNKNOWN_MEMBER_ID
        group.members[member_id].last_heartbeat = trio.current_time()
        if group.state is GroupState.PREPARING_REBALANCE:
            return Errors.REBALANCE_IN_PROGRESS
        if generation_id != group.generation_id:
            return Errors.ILLEGAL_GENERATION
        return Errors.NONE

    def leave(self, group_id: str, member_ids: Sequence[str]) -> Errors:
        group = self.groups.get(group_id)
        if group is None:
            return Errors.UNKNOWN_MEMBER_ID
        unknown = [m for m in member_ids if m not in group.members]
        for member_id in member_ids:
            group.members.pop(member_id, None)
        if len(unknown) < len(member_ids):
            self._rebalance_after_change(group)
        return Errors.UNKNOWN_MEMBER_ID if unknown else Errors.NONE

    def _emptied(self, group: Group) -> None:
        if self.persistence is not None:
            self.persistence.group_emptied(group)

    def _rebalance_after_change(self, group: Group) -> None:
        if group.state is GroupState.PREPARING_REBALANCE:
            self._maybe_complete_join(group)
        elif not group.members:
            group.state = GroupState.EMPTY
            group.sync_done.set()
            self._emptied(group)
        else:
            self._prepare_rebalance(group)

    # ------------------------------------------------------------------ offsets
    def commit(
        self, group_id: str, generation_id: int, member_id: str, offsets: Sequence[tuple[str, int, int, str]]
    ) -> Errors:
        """:meth:`validate_commit`, then :meth:`apply_commit` if it is valid (in memory only)."""
        error = self.validate_commit(group_id, generation_id, member_id)
        if error is Errors.NONE:
            self.apply_commit(group_id, offsets)
        return error

    def validate_commit(self, group_id: str, generation_id: int, member_id: str) -> Errors:
        """Whether an OffsetCommit may be written, as Kafka's
        ``OffsetMetadataManager.validateOffsetCommit`` and ``ClassicGroup.validateOffsetCommit`` decide.

        Generation -1 on an empty (or new) group is a manual commit: the admin client's, or a
        consumer's without group management, whatever member id it names. Otherwise the member
        must be current (``UNKNOWN_MEMBER_ID``; a generation -1 commit naming no member of a group
        that has members is refused so too) and its generation the group's (``ILLEGAL_GENERATION``,
        also for a generation >= 0 on a group that does not exist); during CompletingRebalance a
        member's commit is ``REBALANCE_IN_PROGRESS``, while during PreparingRebalance it is
        accepted (a consumer commits before it rejoins) and, as a heartbeat would, keeps the
        member's session alive.
        """
        if not group_id:
            return Errors.INVALID_GROUP_ID
        group = self.groups.get(group_id)
        if group is None:
            if generation_id >= 0:
                return Errors.ILLEGAL_GENERATION  # GROUP_ID_NOT_FOUND from OffsetCommit v9, not served
            group = self._group(group_id)
        if generation_id < 0 and group.state is GroupState.EMPTY:
            return Errors.NONE
        if generation_id >= 0 or member_id:
            member = group.members.get(member_id)
            if member is None:
                return Errors.UNKNOWN_MEMBER_ID
            if generation_id != group.generation_id:
                return Errors.ILLEGAL_GENERATION
            if group.state is GroupState.COMPLETING_REBALANCE:
                return Errors.REBALANCE_IN_PROGRESS
            member.last_heartbeat = trio.current_time()
            return Errors.NONE
        return Errors.UNKNOWN_MEMBER_ID

    def apply_commit(self, group_id: str, offsets: Sequence[tuple[str, int, int, str]]) -> None:
        """Record committed offsets ``(topic, partition, offset, metadata)`` (the write succeeded)."""
        group = self._group(group_id)
        for topic, partition, offset, metadata in offsets:
            group.offsets[(topic, partition)] = (offset, metadata)

    # ------------------------------------------------------------------ admin
    def validate_delete_group(self, group_id: str) -> Errors:
        """DeleteGroups: ``GROUP_ID_NOT_FOUND`` for no such group, ``NON_EMPTY_GROUP`` unless Empty
        (Kafka's ``ClassicGroup.validateDeleteGroup``)."""
        group = self.groups.get(group_id)
        if group is None:
            return Errors.GROUP_ID_NOT_FOUND
        if group.state is not GroupState.EMPTY:
            return Errors.NON_EMPTY_GROUP
        return Errors.NONE

    def remove_group(self, group_id: str) -> None:
        """Forget ``group_id`` (deleted, or its partition unloaded); waiting members wake up."""
        group = self.groups.pop(group_id, None)
        if group is not None:
            group.state = GroupState.DEAD
            group.members.clear()
            group.rebalance_done.set()
            group.sync_done.set()

    def validate_offset_delete(self, group_id: str) -> Errors:
        """OffsetDelete on the whole group (Kafka's ``ClassicGroup.validateOffsetDelete``): no such
        group is ``GROUP_ID_NOT_FOUND``; a group with members not of protocol type ``consumer``
        is ``NON_EMPTY_GROUP``."""
        group = self.groups.get(group_id)
        if group is None:
            return Errors.GROUP_ID_NOT_FOUND
        if group.members and group.protocol_type != "consumer":
            return Errors.NON_EMPTY_GROUP
        return Errors.NONE

    def subscribed(self, group_id: str, topic: str) -> bool:
        """Whether a member of the group still consumes ``topic`` (``GROUP_SUBSCRIBED_TO_TOPIC``):
        by the members' ``consumer`` subscriptions in the group's protocol; an unreadable one counts
        every topic, as Kafka's ``ClassicGroup.isSubscribedToTopic`` does."""
        group = self.groups.get(group_id)
        if group is None or not group.members:
            return False
        for member in group.members.values():
            metadata = dict(member.protocols).get(group.protocol_name)
            if metadata is None and member.protocols:
                metadata = member.protocols[0][1]
            topics = subscribed_topics(metadata or b"")
            if topics is None or topic in topics:
                return True
        return False

    def delete_offsets(self, group_id: str, partitions: Sequence[tuple[str, int]]) -> None:
        """Forget these committed offsets (their tombstones were written)."""
        group = self.groups.get(group_id)
        if group is not None:
            for tp in partitions:
                group.offsets.pop(tp, None)

    def fetch_offsets(self, group_id: str) -> dict[tuple[str, int], tuple[int, str]]:
        group = self.groups.get(group_id)
        return {} if group is None else dict(group.offsets)

    # ------------------------------------------------------------------ timers
    def tick(self) -> None:
        """End rebalances whose delay or timeout passed; remove members whose session expired."""
        now = trio.current_time()
        for group in list(self.groups.values()):
            if group.state is GroupState.PREPARING_REBALANCE:
                self._maybe_complete_join(group, force=now >= group.join_deadline)
            expired = [
                m.member_id
                for m in group.members.values()
                if now - m.last_heartbeat >= m.session_timeout  # Kafka's timer fires at its deadline
                and not (group.state is GroupState.PREPARING_REBALANCE and m.joined)
            ]
            if expired:
                for member_id in expired:
                    del group.members[member_id]
                self._rebalance_after_change(group)

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Call :meth:`tick` every 100 ms until cancelled."""
        task_status.started()
        while True:
            await trio.sleep(0.1)
            self.tick()


__all__ = [
    "Group",
    "GroupConfig",
    "GroupCoordinator",
    "GroupPersistence",
    "GroupState",
    "JoinResult",
    "Member",
]
