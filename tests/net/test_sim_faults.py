"""SimNetwork faults, each on its own, under trio's MockClock (autojump): time is simulated seconds."""

from __future__ import annotations

import pytest
import trio
import trio.testing
from trio.testing import MockClock

from reflog.errors import ReflogUsageError
from reflog.net.errors import ConnectRefusedError
from reflog.net.framing import FrameReader, send_frame
from reflog.net.sim import LinkFaults, SimNetwork
from tests.net.helpers import connect_pair, receive_for, send_numbered


@pytest.mark.req("NET-8", "NET-21")
async def test_drop_probability_loses_about_that_share_and_counts_it(
    autojump_clock: MockClock, net: SimNetwork
) -> None:
    listener = net.listen("b")
    client, server = await connect_pair(net, listener, "a")
    net.set_link_faults("a", "b", drop=0.5)
    await send_numbered(client, 400)
    got = await receive_for(FrameReader(server), 1)
    stats = net.link_stats("a", "b")
    assert stats.sent == 400 and stats.delivered == len(got) and stats.dropped == 400 - len(got)
    assert 140 < len(got) < 260
    assert got == sorted(got)  # the survivors keep their order
    # the other direction is a different link and is clean
    await send_numbered(server, 50)
    assert await receive_for(FrameReader(client), 1) == list(range(50))


@pytest.mark.req("NET-8")
async def test_drop_next_n_loses_exactly_the_next_n_frames(
    autojump_clock: MockClock, net: SimNetwork
) -> None:
    listener = net.listen("b")
    client, server = await connect_pair(net, listener, "a")
    net.drop_next("a", "b", 3)
    await send_numbered(client, 10)
    assert await receive_for(FrameReader(server), 1) == list(range(3, 10))
    assert net.link_stats("a", "b").dropped == 3


@pytest.mark.req("NET-9", "NET-21")
async def test_a_five_second_delay_takes_five_simulated_seconds(
    autojump_clock: MockClock, net: SimNetwork
) -> None:
    listener = net.listen("b")
    client, server = await connect_pair(net, listener, "a")
    net.set_link_faults("a", "b", delay=5.0)
    start = trio.current_time()
    await send_frame(client, b"first")
    await trio.sleep(1)
    await send_frame(client, b"second")  # in flight together: arrives 5 s after its own send
    reader = FrameReader(server)
    assert await reader.receive_frame() == b"first"
    assert trio.current_time() - start == pytest.approx(5.0)
    assert await reader.receive_frame() == b"second"
    assert trio.current_time() - start == pytest.approx(6.0)
    assert net.link_stats("a", "b").delayed == 2


@pytest.mark.req("NET-9")
async def test_random_delay_stays_within_bounds(autojump_clock: MockClock, net: SimNetwork) -> None:
    listener = net.listen("b")
    client, server = await connect_pair(net, listener, "a")
    net.set_link_faults("a", "b", delay=(2.0, 4.0))
    reader = FrameReader(server)
    for _ in range(20):
        start = trio.current_time()
        await send_frame(client, b"x")
        await reader.receive_frame()
        assert 2.0 <= trio.current_time() - start <= 4.0


@pytest.mark.req("NET-10")
async def test_links_are_fifo_unless_reordering_is_requested(
    autojump_clock: MockClock, net: SimNetwork
) -> None:
    listener = net.listen("b")
    client, server = await connect_pair(net, listener, "a")
    net.set_link_faults("a", "b", delay=(0.0, 10.0))
    await send_numbered(client, 100)
    assert await receive_for(FrameReader(server), 20) == list(range(100))
    # a short delay set later still waits behind the long one in flight
    net.set_link_faults("a", "b", delay=10.0)
    start = trio.current_time()
    await send_frame(client, b"slow")
    net.set_link_faults("a", "b", delay=0.0)
    await send_frame(client, b"fast")
    reader = FrameReader(server)
    assert await reader.receive_frame() == b"slow"
    assert await reader.receive_frame() == b"fast"
    assert trio.current_time() - start == pytest.approx(10.0)


@pytest.mark.req("NET-12")
async def test_reorder_lets_random_delays_reorder_frames(autojump_clock: MockClock, net: SimNetwork) -> None:
    listener = net.listen("b")
    client, server = await connect_pair(net, listener, "a")
    net.set_link_faults("a", "b", delay=(0.0, 1.0), reorder=True)
    await send_numbered(client, 100)
    got = await receive_for(FrameReader(server), 5)
    assert sorted(got) == list(range(100))
    assert got != list(range(100))


@pytest.mark.req("NET-11", "NET-21")
async def test_duplicate_delivers_a_frame_twice_in_a_row(autojump_clock: MockClock, net: SimNetwork) -> None:
    listener = net.listen("b")
    client, server = await connect_pair(net, listener, "a")
    net.set_link_faults("a", "b", duplicate=1.0)
    await send_numbered(client, 5)
    assert await receive_for(FrameReader(server), 1) == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4]
    stats = net.link_stats("a", "b")
    assert (stats.sent, stats.duplicated, stats.delivered) == (5, 5, 10)


@pytest.mark.req("NET-11")
async def test_duplicate_probability(autojump_clock: MockClock, net: SimNetwork) -> None:
    listener = net.listen("b")
    client, server = await connect_pair(net, listener, "a")
    net.set_link_faults("a", "b", duplicate=0.25)
    await send_numbered(client, 400)
    got = await receive_for(FrameReader(server), 1)
    assert sorted(set(got)) == list(range(400))
    assert len(got) - 400 == net.link_stats("a", "b").duplicated
    assert 60 < net.link_stats("a", "b").duplicated < 140


@pytest.mark.req("NET-8", "NET-9", "NET-11")
async def test_fault_policy_validation_and_clear_faults(autojump_clock: MockClock, net: SimNetwork) -> None:
    for bad in ({"drop": 1.5}, {"duplicate": -0.1}, {"delay": -1.0}, {"delay": (3.0, 2.0)}):
        with pytest.raises(ReflogUsageError):
            net.set_link_faults("a", "b", **bad)
    with pytest.raises(ReflogUsageError):
        net.drop_next("a", "b", -1)
    net.set_link_faults("a", "b", drop=0.1, delay=(1.0, 2.0), duplicate=0.2, reorder=True)
    assert net.link_faults("a", "b") == LinkFaults(drop=0.1, delay=(1.0, 2.0), duplicate=0.2, reorder=True)
    assert net.link_faults("b", "a").is_clean
    net.drop_next("a", "b", 2)
    net.clear_faults()
    assert net.link_faults("a", "b").is_clean
    listener = net.listen("b")
    client, server = await connect_pair(net, listener, "a")
    await send_numbered(client, 3)
    assert await receive_for(FrameReader(server), 1) == [0, 1, 2]


@pytest.mark.req("NET-13", "NET-21")
async def test_partition_blackholes_both_ways_without_closing_then_heals(
    autojump_clock: MockClock, net: SimNetwork
) -> None:
    listener = net.listen("broker-1")
    client, server = await connect_pair(net, listener, "client-1")
    net.partition([{"broker-1"}, {"client-1", "broker-2"}])
    assert net.is_cut("client-1", "broker-1") and net.is_cut("broker-1", "client-1")
    await send_numbered(client, 3)
    await send_numbered(server, 3)
    client_reader, server_reader = FrameReader(client), FrameReader(server)
    # no EOF, no error: only silence until the application's own timeout
    assert await receive_for(server_reader, 30) == []
    assert await receive_for(client_reader, 30) == []
    assert net.link_stats("client-1", "broker-1").blackholed == 3
    net.heal()
    await send_numbered(client, 2, start=10)
    assert await receive_for(server_reader, 1) == [10, 11]


@pytest.mark.req("NET-13")
async def test_partition_makes_frames_in_flight_vanish(autojump_clock: MockClock, net: SimNetwork) -> None:
    listener = net.listen("b")
    client, server = await connect_pair(net, listener, "a")
    net.set_link_faults("a", "b", delay=5.0)
    await send_numbered(client, 4)
    await trio.sleep(1)
    net.partition([{"a"}, {"b"}])
    net.heal()  # healed long before the frames were due: they are lost all the same
    await send_frame(client, b"99")
    assert await receive_for(FrameReader(server), 10) == [99]
    stats = net.link_stats("a", "b")
    assert (stats.sent, stats.blackholed, stats.delivered) == (5, 4, 1)


@pytest.mark.req("NET-13")
async def test_nodes_outside_the_partition_groups_keep_their_links(
    autojump_clock: MockClock, net: SimNetwork
) -> None:
    listener = net.listen("broker-1")
    net.partition([{"broker-1"}, {"broker-2"}])
    with pytest.raises(ReflogUsageError):
        net.partition([{"x"}, {"x", "y"}])
    client, server = await connect_pair(net, listener, "client-1")
    await send_numbered(client, 2)
    assert await receive_for(FrameReader(server), 1) == [0, 1]


@pytest.mark.req("NET-14")
async def test_block_is_one_way(autojump_clock: MockClock, net: SimNetwork) -> None:
    listener = net.listen("b")
    client, server = await connect_pair(net, listener, "a")
    net.block("a", "b")
    assert net.is_cut("a", "b") and not net.is_cut("b", "a")
    await send_numbered(client, 3)
    await send_numbered(server, 3)
    assert await receive_for(FrameReader(server), 10) == []
    assert await receive_for(FrameReader(client), 10) == [0, 1, 2]


@pytest.mark.req("NET-15")
async def test_isolate_cuts_a_node_from_everyone_until_heal(
    autojump_clock: MockClock, net: SimNetwork
) -> None:
    net.listen("controller")
    listener = net.listen("broker-1")
    client, server = await connect_pair(net, listener, "client-1")
    net.isolate("broker-1")
    assert net.is_cut("controller", "broker-1") and net.is_cut("broker-1", "a-node-seen-later")
    with pytest.raises(ConnectRefusedError):
        await net.connect("broker-1", "controller")
    await send_numbered(client, 2)
    assert await receive_for(FrameReader(server), 10) == []
    net.heal()
    await net.connect("broker-1", "controller")
    await send_numbered(client, 2, start=5)
    assert await receive_for(FrameReader(server), 1) == [5, 6]


@pytest.mark.req("NET-16")
async def test_take_down_resets_connections_and_refuses_until_brought_up(
    autojump_clock: MockClock, net: SimNetwork, nursery: trio.Nursery
) -> None:
    listener = net.listen("broker-1")
    client, server = await connect_pair(net, listener, "client-1")
    await send_frame(server, b"delivered")
    await trio.testing.wait_all_tasks_blocked()
    net.set_link_faults("client-1", "broker-1", delay=5.0)
    await send_frame(client, b"in flight")

    accept_result: list[BaseException] = []

    async def blocked_accept() -> None:
        try:
            await listener.accept()
        except trio.ClosedResourceError as exc:
            accept_result.append(exc)

    nursery.start_soon(blocked_accept)
    await trio.testing.wait_all_tasks_blocked()
    net.take_down("broker-1")
    assert net.is_down("broker-1")
    await trio.testing.wait_all_tasks_blocked()
    assert len(accept_result) == 1  # the listener stopped
    # both ends: what was delivered can still be read, then EOF; sends break
    client_reader = FrameReader(client)
    assert await client_reader.receive_frame() == b"delivered"
    assert await client_reader.receive_frame() is None
    assert await FrameReader(server).receive_frame() is None  # the frame in flight vanished
    for end in (client, server):
        with pytest.raises(trio.BrokenResourceError):
            await end.send_all(b"x")
    with pytest.raises(ConnectRefusedError, match="down"):
        await net.connect("client-1", "broker-1")
    with pytest.raises(ConnectRefusedError, match="down"):
        await net.connect("broker-1", "client-1")
    with pytest.raises(ReflogUsageError):
        net.listen("broker-1")
    net.bring_up("broker-1")
    with pytest.raises(ConnectRefusedError, match="not listening"):
        await net.connect("client-1", "broker-1")
    listener = net.listen("broker-1")
    client, server = await connect_pair(net, listener, "client-1")
    net.clear_faults()
    await send_frame(client, b"hello again")
    assert await FrameReader(server).receive_frame() == b"hello again"
