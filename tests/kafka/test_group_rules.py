"""The group coordinator's rules, one per test, on the coordinator alone under trio's mock clock
(PRO-10..PRO-12). The real-client tests (test_interop.py) show the same rules end to end; these pin
each rule down so that breaking it alone fails a test (tests/MUTATION.md)."""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence

import pytest
import trio
import trio.testing

from reflog.errors import Errors
from reflog.kafka.groups import GroupCoordinator, GroupState, JoinResult

GROUP = "g"
SESSION_MS = 10_000
REBALANCE_MS = 5_000


async def join(
    coordinator: GroupCoordinator,
    member_id: str = "",
    *,
    client_id: str = "c",
    protocols: Sequence[tuple[str, bytes]] = (("range", b"meta"),),
    protocol_type: str = "consumer",
    session_timeout_ms: int = SESSION_MS,
    require_known_member_id: bool = False,
    group_id: str = GROUP,
) -> JoinResult:
    return await coordinator.join(
        group_id,
        member_id,
        client_id=client_id,
        session_timeout_ms=session_timeout_ms,
        rebalance_timeout_ms=REBALANCE_MS,
        protocol_type=protocol_type,
        protocols=protocols,
        require_known_member_id=require_known_member_id,
    )


async def ticking(coordinator: GroupCoordinator) -> None:
    await coordinator.run()


async def stable_group(coordinator: GroupCoordinator, nursery: trio.Nursery, n: int) -> list[JoinResult]:
    """``n`` members joined (concurrently, client ids c0, c1, ...) and synced: generation 1, Stable."""
    results: list[JoinResult] = []

    async def one(i: int) -> None:
        results.append(await join(coordinator, client_id=f"c{i}"))

    async with trio.open_nursery() as joins:
        for i in range(n):
            joins.start_soon(one, i)
            await trio.sleep(0.01)  # join in client-id order
    results.sort(key=lambda r: r.member_id)
    leader = next(r for r in results if r.member_id == r.leader_id)

    async def sync(result: JoinResult) -> None:
        given = [(r.member_id, r.member_id.encode()) for r in results] if result is leader else []
        assert await coordinator.sync(GROUP, result.generation_id, result.member_id, given) == (
            Errors.NONE,
            result.member_id.encode(),
        )

    async with trio.open_nursery() as syncs:
        for result in results:
            syncs.start_soon(sync, result)
    assert coordinator.groups[GROUP].state is GroupState.STABLE
    return results


@pytest.fixture
async def coordinator(nursery: trio.Nursery) -> GroupCoordinator:
    coordinator = GroupCoordinator()  # a new group's first rebalance gathers joiners for 3 s
    nursery.start_soon(ticking, coordinator)
    return coordinator


# ---- JoinGroup (PRO-10) ---------------------------------------------------------------------------


@pytest.mark.req("PRO-10")
async def test_join_refuses_an_empty_group_id(autojump_clock: trio.testing.MockClock) -> None:
    assert (await join(GroupCoordinator(), group_id="")).error is Errors.INVALID_GROUP_ID


@pytest.mark.req("PRO-10")
async def test_join_takes_session_timeouts_within_the_broker_bounds_inclusive(
    coordinator: GroupCoordinator, autojump_clock: trio.testing.MockClock
) -> None:
    config = coordinator.config
    for bad in (config.group_min_session_timeout_ms - 1, config.group_max_session_timeout_ms + 1):
        assert (await join(coordinator, session_timeout_ms=bad)).error is Errors.INVALID_SESSION_TIMEOUT
    for good in (config.group_min_session_timeout_ms, config.group_max_session_timeout_ms):
        assert (
            await join(coordinator, "", client_id=str(good), session_timeout_ms=good)
        ).error is Errors.NONE


@pytest.mark.req("PRO-10")
async def test_join_without_protocols_or_with_another_protocol_type_is_inconsistent(
    coordinator: GroupCoordinator, nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    assert (await join(coordinator, protocols=())).error is Errors.INCONSISTENT_GROUP_PROTOCOL
    await stable_group(coordinator, nursery, 1)
    other = await join(coordinator, protocol_type="connect")
    assert other.error is Errors.INCONSISTENT_GROUP_PROTOCOL


@pytest.mark.req("PRO-10")
async def test_an_empty_member_id_gets_member_id_required_and_that_id_joins(
    coordinator: GroupCoordinator, autojump_clock: trio.testing.MockClock
) -> None:
    first = await join(coordinator, client_id="app", require_known_member_id=True)
    assert first.error is Errors.MEMBER_ID_REQUIRED and first.member_id.startswith("app-")
    again = await join(coordinator, first.member_id, client_id="app", require_known_member_id=True)
    assert again.error is Errors.NONE and again.member_id == first.member_id and again.generation_id == 1


@pytest.mark.req("PRO-10")
async def test_join_with_an_unknown_member_id_is_refused(
    coordinator: GroupCoordinator, autojump_clock: trio.testing.MockClock
) -> None:
    result = await join(coordinator, "stranger")
    assert result.error is Errors.UNKNOWN_MEMBER_ID and result.member_id == "stranger"


@pytest.mark.req("PRO-10")
async def test_a_new_group_waits_the_initial_rebalance_delay(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    coordinator = GroupCoordinator()  # group.initial.rebalance.delay.ms = 3000
    nursery.start_soon(ticking, coordinator)
    start = trio.current_time()
    assert (await join(coordinator)).error is Errors.NONE
    assert 3.0 <= trio.current_time() - start < 3.2


@pytest.mark.req("PRO-10")
async def test_the_leader_gets_every_members_metadata_for_the_common_protocol(
    coordinator: GroupCoordinator, autojump_clock: trio.testing.MockClock
) -> None:
    results: dict[str, JoinResult] = {}

    async def one(client: str, protocols: Sequence[tuple[str, bytes]]) -> None:
        results[client] = await join(coordinator, client_id=client, protocols=protocols)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(one, "a", [("range", b"a-range"), ("sticky", b"a-sticky")])
        await trio.sleep(0.01)
        nursery.start_soon(one, "b", [("sticky", b"b-sticky")])
    leader, follower = results["a"], results["b"]
    assert leader.leader_id == follower.leader_id == leader.member_id  # the first member leads
    assert leader.protocol_name == follower.protocol_name == "sticky"  # the leader's first common one
    assert leader.generation_id == follower.generation_id == 1
    assert leader.members == ((leader.member_id, b"a-sticky"), (follower.member_id, b"b-sticky"))
    assert follower.members == ()


@pytest.mark.req("PRO-10")
async def test_with_no_common_protocol_the_leaders_first_is_chosen(
    coordinator: GroupCoordinator, autojump_clock: trio.testing.MockClock
) -> None:
    results: dict[str, JoinResult] = {}

    async def one(client: str, protocols: Sequence[tuple[str, bytes]]) -> None:
        results[client] = await join(coordinator, client_id=client, protocols=protocols)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(one, "a", [("range", b"x"), ("sticky", b"y")])
        await trio.sleep(0.01)
        nursery.start_soon(one, "b", [("roundrobin", b"z")])
    assert results["a"].protocol_name == "range"
    assert results["a"].members[1] == (results["b"].member_id, b"")  # b has no "range" metadata


@pytest.mark.req("PRO-10")
async def test_a_rebalance_waits_for_every_member_and_the_timeout_removes_laggards(
    coordinator: GroupCoordinator, nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    a, b = await stable_group(coordinator, nursery, 2)
    start = trio.current_time()
    rejoined = await join(coordinator, a.member_id)  # b never rejoins
    assert REBALANCE_MS / 1000 <= trio.current_time() - start < REBALANCE_MS / 1000 + 0.2
    assert rejoined.error is Errors.NONE and rejoined.generation_id == 2
    assert list(coordinator.groups[GROUP].members) == [a.member_id]
    assert coordinator.heartbeat(GROUP, 2, b.member_id) is Errors.UNKNOWN_MEMBER_ID


@pytest.mark.req("PRO-10")
async def test_a_rebalance_completes_as_soon_as_every_member_rejoined(
    coordinator: GroupCoordinator, nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    members = await stable_group(coordinator, nursery, 2)
    start = trio.current_time()
    async with trio.open_nursery() as joins:
        for member in members:
            joins.start_soon(join, coordinator, member.member_id)
    assert trio.current_time() - start < 0.2
    assert coordinator.groups[GROUP].generation_id == 2


# ---- SyncGroup (PRO-10) ---------------------------------------------------------------------------


@pytest.mark.req("PRO-10")
async def test_sync_refuses_unknown_members_stale_generations_and_a_rebalance_in_progress(
    coordinator: GroupCoordinator, nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    (a, b) = await stable_group(coordinator, nursery, 2)
    assert await coordinator.sync("nope", 1, a.member_id, []) == (Errors.UNKNOWN_MEMBER_ID, b"")
    assert await coordinator.sync(GROUP, 1, "stranger", []) == (Errors.UNKNOWN_MEMBER_ID, b"")
    assert await coordinator.sync(GROUP, 0, a.member_id, []) == (Errors.ILLEGAL_GENERATION, b"")
    assert await coordinator.sync(GROUP, 1, a.member_id, []) == (Errors.NONE, a.member_id.encode())
    nursery.start_soon(join, coordinator, a.member_id)  # a rebalance starts
    await trio.sleep(0.01)
    assert await coordinator.sync(GROUP, 1, b.member_id, []) == (Errors.REBALANCE_IN_PROGRESS, b"")


@pytest.mark.req("PRO-10")
async def test_a_follower_waits_in_sync_for_the_leaders_assignment(
    coordinator: GroupCoordinator, autojump_clock: trio.testing.MockClock
) -> None:
    results: list[JoinResult] = []

    async def one(i: int) -> None:
        results.append(await join(coordinator, client_id=f"c{i}"))

    async with trio.open_nursery() as nursery:
        for i in range(2):
            nursery.start_soon(one, i)
            await trio.sleep(0.01)
    leader = next(r for r in results if r.member_id == r.leader_id)
    follower = next(r for r in results if r is not leader)
    got: list[tuple[Errors, bytes]] = []

    async def follower_sync() -> None:
        got.append(await coordinator.sync(GROUP, 1, follower.member_id, []))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(follower_sync)
        await trio.sleep(1.0)
        assert got == []  # still waiting for the leader
        given = [(follower.member_id, b"p0"), (leader.member_id, b"p1")]
        assert await coordinator.sync(GROUP, 1, leader.member_id, given) == (Errors.NONE, b"p1")
    assert got == [(Errors.NONE, b"p0")]


@pytest.mark.req("PRO-10")
async def test_a_member_the_leader_left_out_gets_an_empty_assignment(
    coordinator: GroupCoordinator, nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    (only,) = await stable_group(coordinator, nursery, 1)
    rejoined = await join(coordinator, only.member_id)
    assert await coordinator.sync(GROUP, rejoined.generation_id, only.member_id, []) == (Errors.NONE, b"")


# ---- Heartbeat, LeaveGroup, session expiry (PRO-11) -----------------------------------------------


@pytest.mark.req("PRO-11")
async def test_heartbeat_answers_by_membership_rebalance_and_generation(
    coordinator: GroupCoordinator, nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    (a, b) = await stable_group(coordinator, nursery, 2)
    assert coordinator.heartbeat("nope", 1, a.member_id) is Errors.UNKNOWN_MEMBER_ID
    assert coordinator.heartbeat(GROUP, 1, "stranger") is Errors.UNKNOWN_MEMBER_ID
    assert coordinator.heartbeat(GROUP, 0, a.member_id) is Errors.ILLEGAL_GENERATION
    assert coordinator.heartbeat(GROUP, 1, a.member_id) is Errors.NONE
    nursery.start_soon(join, coordinator, a.member_id)
    await trio.sleep(0.01)
    assert coordinator.heartbeat(GROUP, 1, b.member_id) is Errors.REBALANCE_IN_PROGRESS


@pytest.mark.req("PRO-11")
async def test_a_member_silent_past_its_session_timeout_is_removed_and_the_group_rebalances(
    coordinator: GroupCoordinator, nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    (a, b) = await stable_group(coordinator, nursery, 2)
    for _ in range(int(SESSION_MS / 1000) + 1):  # a heartbeats every second, b stays silent
        await trio.sleep(1.0)
        coordinator.heartbeat(GROUP, coordinator.groups[GROUP].generation_id, a.member_id)
    group = coordinator.groups[GROUP]
    assert b.member_id not in group.members and a.member_id in group.members
    assert group.state is GroupState.PREPARING_REBALANCE


@pytest.mark.req("PRO-11")
async def test_heartbeats_keep_a_member_in_the_group(
    coordinator: GroupCoordinator, nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    (a,) = await stable_group(coordinator, nursery, 1)
    for _ in range(3 * int(SESSION_MS / 1000)):
        await trio.sleep(1.0)
        assert coordinator.heartbeat(GROUP, 1, a.member_id) is Errors.NONE
    assert coordinator.groups[GROUP].state is GroupState.STABLE


@pytest.mark.req("PRO-11")
async def test_leave_removes_members_at_once_and_the_group_rebalances_or_empties(
    coordinator: GroupCoordinator, nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    (a, b) = await stable_group(coordinator, nursery, 2)
    assert coordinator.leave("nope", [a.member_id]) is Errors.UNKNOWN_MEMBER_ID
    assert coordinator.leave(GROUP, ["stranger"]) is Errors.UNKNOWN_MEMBER_ID
    assert coordinator.groups[GROUP].state is GroupState.STABLE  # nobody left: no rebalance
    assert coordinator.leave(GROUP, [b.member_id, "stranger"]) is Errors.UNKNOWN_MEMBER_ID  # b did leave
    group = coordinator.groups[GROUP]
    assert list(group.members) == [a.member_id] and group.state is GroupState.PREPARING_REBALANCE
    rejoined = await join(coordinator, a.member_id)
    assert rejoined.generation_id == 2 and rejoined.leader_id == a.member_id
    assert coordinator.leave(GROUP, [a.member_id]) is Errors.NONE
    assert group.state is GroupState.EMPTY and not group.members


# ---- OffsetCommit / OffsetFetch (PRO-12) ----------------------------------------------------------


@pytest.mark.req("PRO-12")
async def test_a_manual_commit_needs_no_member_and_offset_fetch_returns_it(
    coordinator: GroupCoordinator, autojump_clock: trio.testing.MockClock
) -> None:
    assert coordinator.fetch_offsets("unknown") == {}
    assert coordinator.commit("", -1, "", [("t", 0, 5, "")]) is Errors.INVALID_GROUP_ID
    assert coordinator.commit(GROUP, -1, "", [("t", 0, 5, "m"), ("t", 1, 7, "")]) is Errors.NONE
    assert coordinator.commit(GROUP, -1, "", [("t", 0, 6, "n")]) is Errors.NONE  # the last one wins
    assert coordinator.fetch_offsets(GROUP) == {("t", 0): (6, "n"), ("t", 1): (7, "")}


@pytest.mark.req("PRO-12")
async def test_a_member_commit_needs_the_current_member_and_generation(
    coordinator: GroupCoordinator, nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    (a, _b) = await stable_group(coordinator, nursery, 2)
    offsets = [("t", 0, 3, "")]
    assert coordinator.commit(GROUP, 1, "stranger", offsets) is Errors.UNKNOWN_MEMBER_ID
    assert coordinator.commit(GROUP, -1, "stranger", offsets) is Errors.UNKNOWN_MEMBER_ID  # a member id
    assert coordinator.commit(GROUP, -1, "", offsets) is Errors.UNKNOWN_MEMBER_ID  # the group has members
    assert coordinator.commit(GROUP, 0, a.member_id, offsets) is Errors.ILLEGAL_GENERATION
    assert coordinator.commit(GROUP, 1, "", offsets) is Errors.UNKNOWN_MEMBER_ID  # a generation
    assert coordinator.fetch_offsets(GROUP) == {}
    assert coordinator.commit(GROUP, 1, a.member_id, offsets) is Errors.NONE
    assert coordinator.fetch_offsets(GROUP) == {("t", 0): (3, "")}


@pytest.mark.req("PRO-12")
async def test_a_member_commits_while_the_group_prepares_a_rebalance_but_not_while_it_completes_one(
    coordinator: GroupCoordinator, nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    (a, b) = await stable_group(coordinator, nursery, 2)
    group = coordinator.groups[GROUP]
    rejoined: list[JoinResult] = []

    async def rejoin(member_id: str) -> None:
        rejoined.append(await join(coordinator, member_id))

    nursery.start_soon(rejoin, a.member_id)
    await trio.sleep(1)
    assert group.state is GroupState.PREPARING_REBALANCE
    silent_since = group.members[b.member_id].last_heartbeat
    # b commits what it consumed before it rejoins (Kafka's onJoinPrepare): accepted, and it counts
    # as a heartbeat, as Kafka reschedules the member's heartbeat on a commit.
    assert coordinator.commit(GROUP, 1, b.member_id, [("t", 0, 9, "")]) is Errors.NONE
    assert group.members[b.member_id].last_heartbeat == trio.current_time() > silent_since
    nursery.start_soon(rejoin, b.member_id)
    await trio.sleep(0.01)
    assert group.state is GroupState.COMPLETING_REBALANCE and group.generation_id == 2
    assert coordinator.commit(GROUP, 2, b.member_id, [("t", 0, 10, "")]) is Errors.REBALANCE_IN_PROGRESS
    assert coordinator.commit(GROUP, 1, b.member_id, [("t", 0, 10, "")]) is Errors.ILLEGAL_GENERATION
    assert coordinator.fetch_offsets(GROUP) == {("t", 0): (9, "")}


@pytest.mark.req("PRO-12")
async def test_a_manual_commit_to_an_empty_group_may_name_any_member(
    coordinator: GroupCoordinator, autojump_clock: trio.testing.MockClock
) -> None:
    assert coordinator.commit(GROUP, -1, "someone", [("t", 0, 4, "")]) is Errors.NONE
    assert coordinator.fetch_offsets(GROUP) == {("t", 0): (4, "")}


# ---- rules pinned down by mutation testing --------------------------------------------------------


@pytest.mark.req("PRO-10")
async def test_a_joined_member_is_recorded_with_its_settings_in_seconds(
    coordinator: GroupCoordinator, autojump_clock: trio.testing.MockClock
) -> None:
    result = await join(coordinator, client_id="app", protocols=[("range", b"m")])
    member = coordinator.groups[GROUP].members[result.member_id]
    assert (member.member_id, member.client_id, member.protocol_type) == (result.member_id, "app", "consumer")
    assert (member.session_timeout, member.rebalance_timeout) == (SESSION_MS / 1000, REBALANCE_MS / 1000)
    assert member.protocols == [("range", b"m")]
    assert 0 <= trio.current_time() - member.last_heartbeat < 3.2  # joined at the start of the delay


@pytest.mark.req("PRO-10")
async def test_a_member_without_client_id_is_named_member_counting_from_one(
    autojump_clock: trio.testing.MockClock,
) -> None:
    first = await join(GroupCoordinator(), client_id="", require_known_member_id=True)
    assert first.error is Errors.MEMBER_ID_REQUIRED and first.member_id == "member-1"


@pytest.mark.req("PRO-11")
async def test_a_member_id_handed_out_but_never_used_expires_with_the_session(
    coordinator: GroupCoordinator, autojump_clock: trio.testing.MockClock
) -> None:
    pending = await join(coordinator, require_known_member_id=True)
    assert pending.member_id in coordinator.groups[GROUP].members
    await trio.sleep(SESSION_MS / 1000 + 0.5)
    assert pending.member_id not in coordinator.groups[GROUP].members


@pytest.mark.req("PRO-10", "PRO-11")
async def test_a_member_that_leaves_while_waiting_in_join_is_told_unknown_and_the_group_empties(
    coordinator: GroupCoordinator, nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    (a, _b) = await stable_group(coordinator, nursery, 2)
    results: list[JoinResult] = []

    async def rejoin() -> None:
        results.append(await join(coordinator, a.member_id))

    async with trio.open_nursery() as waiting:
        waiting.start_soon(rejoin)  # waits for b to rejoin
        await trio.sleep(0.5)
        assert coordinator.leave(GROUP, [a.member_id]) is Errors.NONE
    assert results == [JoinResult(Errors.UNKNOWN_MEMBER_ID, member_id=a.member_id)]
    group = coordinator.groups[GROUP]
    assert (group.state, group.protocol_name, group.leader_id, group.members) == (
        GroupState.EMPTY,
        "",
        "",
        {},
    )


@pytest.mark.req("PRO-10")
async def test_the_initial_rebalance_delay_ends_exactly_at_its_deadline(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    coordinator = GroupCoordinator()  # no ticker: this test ticks by hand
    results: list[JoinResult] = []
    start = trio.current_time()

    async def joining() -> None:
        results.append(await join(coordinator))

    async with trio.open_nursery() as waiting:
        waiting.start_soon(joining)
        await trio.sleep_until(start + 2.999)
        coordinator.tick()
        await trio.sleep(0)
        assert results == [] and coordinator.groups[GROUP].state is GroupState.PREPARING_REBALANCE
        await trio.sleep_until(start + 3.0)
        coordinator.tick()
        await trio.sleep(0.001)
        assert [r.error for r in results] == [Errors.NONE]
        waiting.cancel_scope.cancel()


@pytest.mark.req("PRO-10")
async def test_the_rebalance_timeout_ends_exactly_at_its_deadline(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    coordinator = GroupCoordinator()
    async with trio.open_nursery() as ticker:
        ticker.start_soon(ticking, coordinator)
        (a, _b) = await stable_group(coordinator, nursery, 2)
        ticker.cancel_scope.cancel()  # tick by hand from here
    results: list[JoinResult] = []

    async def rejoin() -> None:
        results.append(await join(coordinator, a.member_id))

    start = trio.current_time()
    with trio.fail_after(REBALANCE_MS / 1000 + 1):  # a join still waiting fails the test, not hangs it
        async with trio.open_nursery() as waiting:
            waiting.start_soon(rejoin)
            await trio.sleep_until(start + REBALANCE_MS / 1000)
            coordinator.tick()  # exactly at the deadline: the laggard is removed
    assert [r.generation_id for r in results] == [2]
    assert trio.current_time() == start + REBALANCE_MS / 1000


@pytest.mark.req("PRO-10")
async def test_a_follower_waiting_in_sync_learns_of_a_new_rebalance(
    coordinator: GroupCoordinator, autojump_clock: trio.testing.MockClock
) -> None:
    results: list[JoinResult] = []

    async def one(i: int) -> None:
        results.append(await join(coordinator, client_id=f"c{i}"))

    async with trio.open_nursery() as nursery:
        for i in range(2):
            nursery.start_soon(one, i)
            await trio.sleep(0.01)
    follower = next(r for r in results if r.member_id != r.leader_id)
    got: list[tuple[Errors, bytes]] = []

    async def follower_sync() -> None:
        got.append(await coordinator.sync(GROUP, 1, follower.member_id, []))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(follower_sync)
        await trio.sleep(0.5)
        nursery.start_soon(functools.partial(join, coordinator, client_id="late"))  # a rebalance starts
        await trio.sleep(0.5)
        assert got == [(Errors.REBALANCE_IN_PROGRESS, b"")]
        nursery.cancel_scope.cancel()


@pytest.mark.req("PRO-12")
async def test_a_commit_with_generation_zero_is_a_member_commit(
    coordinator: GroupCoordinator, autojump_clock: trio.testing.MockClock
) -> None:
    # No such group: OffsetCommit before v9 answers ILLEGAL_GENERATION and creates nothing.
    assert coordinator.commit(GROUP, 0, "", [("t", 0, 1, "")]) is Errors.ILLEGAL_GENERATION
    assert GROUP not in coordinator.groups
    assert coordinator.commit(GROUP, -1, "", []) is Errors.NONE  # a simple group, empty
    assert coordinator.commit(GROUP, 0, "", [("t", 0, 1, "")]) is Errors.UNKNOWN_MEMBER_ID
    assert coordinator.fetch_offsets(GROUP) == {}


@pytest.mark.req("PRO-11")
async def test_during_a_rebalance_only_members_that_have_not_rejoined_can_expire(
    coordinator: GroupCoordinator, nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    (a, _b) = await stable_group(coordinator, nursery, 2)
    start = trio.current_time()
    result = await coordinator.join(
        GROUP,
        a.member_id,
        client_id="c0",
        session_timeout_ms=SESSION_MS,
        rebalance_timeout_ms=4 * SESSION_MS,  # longer than the session: b's session ends first
        protocol_type="consumer",
        protocols=[("range", b"meta")],
        require_known_member_id=False,
    )
    assert result.error is Errors.NONE and result.generation_id == 2  # a, waiting, did not expire
    assert trio.current_time() - start < 2 * SESSION_MS / 1000  # b expired: no rebalance timeout
    assert list(coordinator.groups[GROUP].members) == [a.member_id]


async def at_a_whole_second() -> float:
    """Sleep to the next whole second, so that ``now - last_heartbeat`` below is exact in floats."""
    await trio.sleep_until(math.floor(trio.current_time()) + 1)
    return trio.current_time()


@pytest.mark.req("PRO-11")
async def test_a_silent_member_expires_exactly_at_its_session_timeout(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    """Kafka's session timer (a TimingWheel task) fires at its deadline: ``deadline <= now``."""
    coordinator = GroupCoordinator()
    async with trio.open_nursery() as ticker:
        ticker.start_soon(ticking, coordinator)
        (a,) = await stable_group(coordinator, nursery, 1)
        ticker.cancel_scope.cancel()  # tick by hand from here
    start = await at_a_whole_second()
    assert coordinator.heartbeat(GROUP, 1, a.member_id) is Errors.NONE
    await trio.sleep_until(start + SESSION_MS / 1000 - 0.005)
    coordinator.tick()
    assert a.member_id in coordinator.groups[GROUP].members
    await trio.sleep_until(start + SESSION_MS / 1000)
    coordinator.tick()
    assert a.member_id not in coordinator.groups[GROUP].members


@pytest.mark.req("PRO-11")
async def test_a_member_id_handed_out_expires_exactly_at_the_session_timeout_it_was_asked_with(
    autojump_clock: trio.testing.MockClock,
) -> None:
    coordinator = GroupCoordinator()  # no ticker: this test ticks by hand
    start = await at_a_whole_second()
    pending = await join(coordinator, require_known_member_id=True)
    assert pending.error is Errors.MEMBER_ID_REQUIRED
    await trio.sleep_until(start + SESSION_MS / 1000 - 0.005)
    coordinator.tick()
    assert pending.member_id in coordinator.groups[GROUP].members
    await trio.sleep_until(start + SESSION_MS / 1000)
    coordinator.tick()
    assert pending.member_id not in coordinator.groups[GROUP].members
