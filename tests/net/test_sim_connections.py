"""SimNetwork connections without faults: listen/connect/accept, refusals, stream semantics, lifecycle."""

from __future__ import annotations

import pytest
import trio
import trio.testing
from trio.testing import MockClock

from reflog.errors import ReflogUsageError
from reflog.net.errors import ConnectRefusedError, FrameSizeError, FrameTruncatedError
from reflog.net.framing import FrameReader, encode_frame, send_frame
from reflog.net.sim import SimNetwork, SimStream
from tests.net.helpers import connect_pair


@pytest.mark.req("NET-6")
async def test_connect_and_accept_carry_frames_both_ways(autojump_clock: MockClock, net: SimNetwork) -> None:
    listener = net.listen("broker-1")
    client, server = await connect_pair(net, listener, "client-7")
    assert (client.local, client.remote) == ("client-7", "broker-1")
    assert (server.local, server.remote) == ("broker-1", "client-7")
    await send_frame(client, b"request")
    assert await FrameReader(server).receive_frame() == b"request"
    await send_frame(server, b"response")
    assert await FrameReader(client).receive_frame() == b"response"
    assert net.link_stats("client-7", "broker-1").delivered == 1
    assert net.link_stats("broker-1", "client-7").delivered == 1
    assert client in net.connections("broker-1")


@pytest.mark.req("NET-6")
async def test_sim_listener_works_with_trio_serve_listeners(
    autojump_clock: MockClock, net: SimNetwork, nursery: trio.Nursery
) -> None:
    async def echo(stream: trio.abc.Stream) -> None:
        reader = FrameReader(stream)
        while (frame := await reader.receive_frame()) is not None:
            await send_frame(stream, frame.upper())

    await nursery.start(trio.serve_listeners, echo, [net.listen("controller")])
    for node in ("broker-1", "broker-2"):
        stream = await net.connect(node, "controller")
        await send_frame(stream, node.encode())
        assert await FrameReader(stream).receive_frame() == node.upper().encode()


@pytest.mark.req("NET-6")
async def test_listen_and_connect_usage_errors(autojump_clock: MockClock, net: SimNetwork) -> None:
    listener = net.listen("broker-1")
    with pytest.raises(ReflogUsageError):
        net.listen("broker-1")
    await listener.aclose()
    with pytest.raises(trio.ClosedResourceError):
        await listener.accept()
    net.listen("broker-1")  # may listen again once closed
    with pytest.raises(ReflogUsageError):
        await SimNetwork(0).connect("a", "broker-1")  # not running
    with pytest.raises(ReflogUsageError):
        await net.run()  # already running


@pytest.mark.req("NET-7")
async def test_connect_is_refused_when_nobody_listens(autojump_clock: MockClock, net: SimNetwork) -> None:
    with pytest.raises(ConnectRefusedError, match="not listening"):
        await net.connect("client-1", "broker-9")


@pytest.mark.req("NET-7", "NET-13", "NET-14")
async def test_connect_is_refused_over_a_cut_link_in_either_direction(
    autojump_clock: MockClock, net: SimNetwork
) -> None:
    net.listen("broker-1")
    net.listen("broker-2")
    net.block("broker-2", "client-1")  # the handshake's reply could not come back
    with pytest.raises(ConnectRefusedError, match="cut"):
        await net.connect("client-1", "broker-2")
    net.partition([{"broker-1"}, {"client-1"}])
    with pytest.raises(ConnectRefusedError, match="cut"):
        await net.connect("client-1", "broker-1")
    net.heal()
    await net.connect("client-1", "broker-1")
    await net.connect("client-1", "broker-2")


@pytest.mark.req("NET-17")
async def test_close_is_a_fin_delivered_after_pending_frames(
    autojump_clock: MockClock, net: SimNetwork
) -> None:
    listener = net.listen("b")
    client, server = await connect_pair(net, listener, "a")
    net.set_link_faults("a", "b", delay=3)
    start = trio.current_time()
    await send_frame(client, b"last words")
    await client.aclose()
    reader = FrameReader(server)
    assert await reader.receive_frame() == b"last words"
    assert trio.current_time() - start == 3
    assert await reader.receive_frame() is None
    # the closed end's receiving side is gone: the peer's sends break
    with pytest.raises(trio.BrokenResourceError):
        await server.send_all(b"anyone?")
    with pytest.raises(trio.ClosedResourceError):
        await client.send_all(b"x")


@pytest.mark.req("NET-17")
async def test_send_eof_half_closes(autojump_clock: MockClock, net: SimNetwork) -> None:
    listener = net.listen("b")
    client, server = await connect_pair(net, listener, "a")
    await send_frame(client, b"q")
    await client.send_eof()
    reader = FrameReader(server)
    assert await reader.receive_frame() == b"q"
    assert await reader.receive_frame() is None
    await send_frame(server, b"still open this way")
    assert await FrameReader(client).receive_frame() == b"still open this way"


@pytest.mark.req("NET-18")
async def test_framing_violations_are_forwarded_for_the_receiver_to_report(
    autojump_clock: MockClock, net: SimNetwork
) -> None:
    listener = net.listen("b")
    client, server = await connect_pair(net, listener, "a")
    await send_frame(client, b"fine")
    await client.send_all((-5).to_bytes(4, "big", signed=True) + b"garbage")
    reader = FrameReader(server)
    assert await reader.receive_frame() == b"fine"
    with pytest.raises(FrameSizeError):
        await reader.receive_frame()

    client, server = await connect_pair(net, listener, "a")
    await client.send_all(encode_frame(b"cut short")[:6])
    await client.aclose()
    with pytest.raises(FrameTruncatedError):
        await FrameReader(server).receive_frame()


@pytest.mark.req("NET-19")
async def test_sim_stream_passes_trio_stream_conformance(autojump_clock: MockClock, net: SimNetwork) -> None:
    listener = net.listen("b")

    async def maker() -> tuple[SimStream, SimStream]:
        return await connect_pair(net, listener, "a", framed=False)

    await trio.testing.check_half_closeable_stream(maker, None)


@pytest.mark.req("NET-19")
async def test_cancelled_send_sends_nothing(autojump_clock: MockClock, net: SimNetwork) -> None:
    listener = net.listen("b")
    client, server = await connect_pair(net, listener, "a")
    with trio.CancelScope() as scope:
        scope.cancel()
        await send_frame(client, b"never")
    await send_frame(client, b"sent")
    assert await FrameReader(server).receive_frame() == b"sent"


@pytest.mark.req("NET-20")
async def test_stopping_the_network_resets_connections_and_closes_listeners(
    autojump_clock: MockClock,
) -> None:
    network = SimNetwork(1)
    async with trio.open_nursery() as nursery:
        await nursery.start(network.run)
        listener = network.listen("b")
        client, server = await connect_pair(network, listener, "a")
        await send_frame(client, b"delivered before the stop")
        await trio.testing.wait_all_tasks_blocked()
        nursery.cancel_scope.cancel()
    assert not network.running
    reader = FrameReader(server)
    assert await reader.receive_frame() == b"delivered before the stop"
    assert await reader.receive_frame() is None
    with pytest.raises(trio.BrokenResourceError):
        await client.send_all(b"x")
    with pytest.raises(trio.ClosedResourceError):
        await listener.accept()
    with pytest.raises(ReflogUsageError):
        await network.connect("a", "b")


@pytest.mark.req("NET-20")
async def test_open_context_manager_runs_and_stops_the_network(autojump_clock: MockClock) -> None:
    async with SimNetwork.open(3) as network:
        assert network.running and network.seed == 3
        listener = network.listen("b")
        _client, server = await connect_pair(network, listener, "a")
    assert not network.running
    assert await server.receive_some() == b""
    with pytest.raises(KeyError):  # the body's own exception is not wrapped in a group
        async with SimNetwork.open(3):
            raise KeyError("boom")
