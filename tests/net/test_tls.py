"""TLS listeners on the simulated network: real TLS over SimStreams, switching, faults, counters."""

from __future__ import annotations

import ssl
from functools import partial

import pytest
import trio
import trio.testing
from trio._core import _run as trio_run_module

from reflog.errors import ReflogUsageError
from reflog.net.errors import ConnectRefusedError, NetError, RpcConnectionError, RpcTimeout
from reflog.net.framing import encode_frame
from reflog.net.rpc import (
    KIND_REQUEST,
    KIND_RESPONSE,
    PICKLE_CODEC,
    RpcClient,
    encode_message,
    serve_rpc_listener,
)
from reflog.net.sim import NetEvent, NetStream, SimListener, SimNetwork, SimStream
from reflog.net.tls import TlsMaterial, TlsStream

BROKER = "broker-1"


async def echo(request: object) -> object:
    return ("echo", request)


async def _serve(net: SimNetwork, nursery: trio.Nursery, node: str = BROKER) -> list[NetError]:
    """An echo RPC server on ``node``; returns the list of connection errors it reports."""
    errors: list[NetError] = []
    await nursery.start(partial(serve_rpc_listener, net.listen(node), echo, on_error=errors.append))
    return errors


async def _open_client(net: SimNetwork, nursery: trio.Nursery, src: str, dst: str = BROKER) -> RpcClient:
    client = RpcClient(await net.connect(src, dst))
    await nursery.start(client.run)
    return client


def _tls(stream: NetStream) -> TlsStream:
    assert isinstance(stream, TlsStream)
    return stream


async def _tls_pair(net: SimNetwork, listener: SimListener, src: str) -> tuple[TlsStream, TlsStream]:
    """A TLS connection from ``src`` to the listener's node, handshake done; (client end, server end)."""
    client = _tls(await net.connect(src, listener.node))
    server = _tls(await listener.accept())
    async with trio.open_nursery() as nursery:
        nursery.start_soon(client.do_handshake)
        nursery.start_soon(server.do_handshake)
    return client, server


async def _receive_exactly(stream: trio.abc.ReceiveStream, size: int) -> bytes:
    data = bytearray()
    while len(data) < size:
        chunk = await stream.receive_some(size - len(data))
        assert chunk, "unexpected EOF"
        data += chunk
    return bytes(data)


# ---- TLS listeners, handshakes, RPC ----------------------------------------------------------


@pytest.mark.req("NET-29", "NET-30")
async def test_rpc_round_trip_over_a_tls_listener(
    net: SimNetwork, nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    assert not net.tls_enabled(BROKER)
    net.enable_tls(BROKER)
    assert net.tls_enabled(BROKER)
    errors = await _serve(net, nursery)
    stream = _tls(await net.connect("client-1", BROKER))
    assert (stream.local, stream.remote, stream.server_side) == ("client-1", BROKER, False)
    assert not stream.handshake_done  # lazy: connect did not wait for the handshake
    async with RpcClient.open(stream) as client:
        assert await client.call({"n": 1}, timeout=1) == ("echo", {"n": 1})
        results = await _gather_calls(client, range(5))
        assert results == [("echo", i) for i in range(5)]
        assert stream.handshake_done
        assert stream.ssl_stream.version() == "TLSv1.3"
        assert stream.ssl_stream.getpeercert()["subjectAltName"] == (("DNS", BROKER),)
    assert errors == []
    assert net.tls_stats(BROKER).handshakes == 1
    assert net.tls_stats(BROKER).broken == 0  # the client's close sent close_notify: a clean EOF


async def _gather_calls(client: RpcClient, requests: range) -> list[object]:
    results: dict[int, object] = {}

    async def one(i: int) -> None:
        results[i] = await client.call(i, timeout=1)

    async with trio.open_nursery() as nursery:
        for i in requests:
            nursery.start_soon(one, i)
    return [results[i] for i in requests]


@pytest.mark.req("NET-30", "NET-33")
async def test_a_client_that_does_not_trust_the_ca_is_refused_and_the_listener_keeps_serving(
    net: SimNetwork, nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    net.enable_tls(BROKER)
    await _serve(net, nursery)
    good = await _open_client(net, nursery, "client-1")
    assert await good.call("before", timeout=1) == ("echo", "before")

    untrusting = TlsMaterial().client_context()  # another CA
    bad_stream = await net.connect("client-2", BROKER, ssl_context=untrusting)
    async with RpcClient.open(bad_stream) as bad:
        with pytest.raises(RpcConnectionError) as caught:
            await bad.call("hello", timeout=1)
    cause = caught.value.__cause__
    assert isinstance(cause, trio.BrokenResourceError)
    assert isinstance(cause.__cause__, ssl.SSLCertVerificationError)

    await trio.sleep(1)
    assert await good.call("after", timeout=1) == ("echo", "after")  # the other connection is fine
    other = await _open_client(net, nursery, "client-3")  # and the listener still accepts
    assert await other.call("new", timeout=1) == ("echo", "new")
    server = net.tls_stats(BROKER)
    assert (server.connections, server.handshakes, server.handshake_failures) == (3, 2, 1)
    client = net.tls_stats("client-2", side="client")
    assert (client.connections, client.handshakes, client.handshake_failures, client.broken) == (1, 0, 1, 1)
    await good.aclose()
    await other.aclose()


# ---- switching ---------------------------------------------------------------------------------


@pytest.mark.req("NET-31", "NET-29")
async def test_enable_tls_resets_plaintext_connections_and_new_ones_are_tls(
    net: SimNetwork, nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    await _serve(net, nursery)
    plain = await _open_client(net, nursery, "client-1")
    assert await plain.call("plain", timeout=1) == ("echo", "plain")

    idle = net.listen("broker-3")  # a listener with a connection still queued
    queued = await net.connect("client-1", "broker-3")
    other = net.listen("broker-2")
    outgoing = await net.connect("broker-3", "broker-2")  # broker-3's own outgoing connection
    outgoing_server = await other.accept()
    assert isinstance(queued, SimStream) and isinstance(outgoing, SimStream)

    net.enable_tls(BROKER)
    net.enable_tls("broker-3")
    with pytest.raises(RpcConnectionError):
        await plain.call("reset", timeout=1)
    queued_server = await idle.accept()
    assert isinstance(queued_server, SimStream)  # made before the switch: plaintext, and reset
    assert await queued_server.receive_some() == b""
    with pytest.raises(trio.BrokenResourceError):
        await queued.send_all(b"x")
    await outgoing.send_all(b"still here")  # not a connection to a switched listener
    assert await _receive_exactly(outgoing_server, 10) == b"still here"

    tls_stream = await net.connect("client-1", BROKER)
    assert isinstance(tls_stream, TlsStream)
    tls_client = RpcClient(tls_stream)
    await nursery.start(tls_client.run)
    assert await tls_client.call("tls", timeout=1) == ("echo", "tls")
    net.enable_tls(BROKER)  # the same material again: nothing changes
    assert await tls_client.call("still", timeout=1) == ("echo", "still")
    net.enable_tls(BROKER, TlsMaterial())  # new certificates: connections reset again
    with pytest.raises(RpcConnectionError):
        await tls_client.call("reset", timeout=1)
    fresh = await _open_client(net, nursery, "client-1")
    assert await fresh.call("fresh", timeout=1) == ("echo", "fresh")
    for stream in (queued, outgoing, outgoing_server, queued_server):
        await stream.aclose()
    await fresh.aclose()


@pytest.mark.req("NET-31", "NET-33")
async def test_disable_tls_goes_back_to_plaintext(
    net: SimNetwork, nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    net.enable_tls(BROKER)
    await _serve(net, nursery)
    tls_client = await _open_client(net, nursery, "client-1")
    assert await tls_client.call(1, timeout=1) == ("echo", 1)
    counted = net.tls_stats(BROKER).snapshot()

    net.disable_tls(BROKER)
    assert not net.tls_enabled(BROKER)
    with pytest.raises(RpcConnectionError):
        await tls_client.call(2, timeout=1)
    stream = await net.connect("client-1", BROKER)
    assert isinstance(stream, SimStream)
    async with RpcClient.open(stream) as plain:
        assert await plain.call(3, timeout=1) == ("echo", 3)
    stats = net.tls_stats(BROKER)
    assert stats.plaintext_bytes_sent == counted.plaintext_bytes_sent  # plaintext passes by TLS
    assert stats.broken == counted.broken + 1  # the reset TLS connection, kept in the totals
    net.disable_tls(BROKER)  # not TLS: nothing happens


@pytest.mark.req("NET-29")
async def test_the_tls_setting_belongs_to_the_node_and_survives_a_restart(
    net: SimNetwork, nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    net.enable_tls(BROKER)
    net.listen(BROKER)
    net.take_down(BROKER)
    net.bring_up(BROKER)
    assert net.tls_enabled(BROKER)
    await _serve(net, nursery)
    stream = await net.connect("client-1", BROKER)
    assert isinstance(stream, TlsStream)
    async with RpcClient.open(stream) as client:
        assert await client.call("x", timeout=1) == ("echo", "x")


@pytest.mark.req("NET-29")
async def test_tls_material_issues_lazily_caches_and_refuses_bad_names(net: SimNetwork) -> None:
    material = TlsMaterial.create(["broker-1", "broker-2"])
    assert material.hostnames == {"broker-1", "broker-2"}
    assert material.server_context("broker-1") is material.server_context("broker-1")
    assert material.client_context() is material.client_context()
    assert material.client_context().check_hostname
    assert material.client_context().verify_mode == ssl.CERT_REQUIRED
    material.server_context("controller")
    assert "controller" in material.hostnames
    with pytest.raises(ReflogUsageError):
        material.server_context("bad name")
    with pytest.raises(ReflogUsageError):
        net.enable_tls("client_7")  # no certificate can name it
    assert not net.tls_enabled("client_7")
    net.enable_tls(BROKER)
    assert net.tls_material.hostnames == {BROKER}  # the network's default material, made on first use


# ---- faults on TLS connections --------------------------------------------------------------


@pytest.mark.req("NET-32", "NET-13", "NET-15")
async def test_a_partition_cuts_tls_connections_and_lost_records_break_them(
    net: SimNetwork, nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    net.enable_tls(BROKER)
    await _serve(net, nursery)
    client = await _open_client(net, nursery, "client-1")
    assert await client.call("a", timeout=1) == ("echo", "a")

    net.isolate(BROKER)  # nothing sent while cut: the TLS stream survives
    await trio.sleep(1)
    net.heal()
    assert await client.call("b", timeout=1) == ("echo", "b")

    net.isolate(BROKER)
    with pytest.raises(RpcTimeout):
        await client.call("lost", timeout=1)  # its record vanished in the cut
    with pytest.raises(ConnectRefusedError):
        await net.connect("client-2", BROKER)
    assert not client.closed  # a blackhole: the connection stays open
    net.heal()
    broken_before = net.tls_stats(BROKER).broken
    with pytest.raises(RpcConnectionError):
        await client.call("c", timeout=1)  # the next record fails authentication: connection lost
    assert net.tls_stats(BROKER).broken == broken_before + 1
    fresh = await _open_client(net, nursery, "client-1")  # the application reconnects
    assert await fresh.call("d", timeout=1) == ("echo", "d")
    await fresh.aclose()


@pytest.mark.req("NET-32")
async def test_a_dropped_or_duplicated_chunk_breaks_the_tls_stream_at_both_ends(
    net: SimNetwork, autojump_clock: trio.testing.MockClock
) -> None:
    net.enable_tls(BROKER)
    listener = net.listen(BROKER)

    client, server = await _tls_pair(net, listener, "client-1")
    await client.send_all(b"first")
    assert await server.receive_some() == b"first"
    net.drop_next("client-1", BROKER, 1)
    await client.send_all(b"lost")
    await client.send_all(b"next")
    with pytest.raises(trio.BrokenResourceError):
        await server.receive_some()
    await server.aclose()
    with pytest.raises(trio.BrokenResourceError):
        await client.receive_some()  # the server went away without close_notify
    await client.aclose()

    client, server = await _tls_pair(net, listener, "client-2")
    net.set_link_faults(BROKER, "client-2", duplicate=1.0)
    await server.send_all(b"twice")
    assert await client.receive_some() == b"twice"
    with pytest.raises(trio.BrokenResourceError):
        await client.receive_some()  # the copy is a replayed record
    await client.aclose()
    with pytest.raises(trio.BrokenResourceError):
        await server.receive_some()
    await server.aclose()
    assert net.tls_stats(BROKER).broken == 2
    assert net.tls_stats("client-1", side="client").broken == 1
    assert net.tls_stats("client-2", side="client").broken == 1


@pytest.mark.req("NET-32")
async def test_tls_connections_are_unframed_whatever_framed_says(
    net: SimNetwork, autojump_clock: trio.testing.MockClock
) -> None:
    net.enable_tls(BROKER)
    listener = net.listen(BROKER)
    client = _tls(await net.connect("client-1", BROKER, framed=True))
    server = _tls(await listener.accept())
    async with trio.open_nursery() as nursery:
        nursery.start_soon(client.do_handshake)
        nursery.start_soon(server.do_handshake)
    before = net.link_stats("client-1", BROKER).snapshot()
    two_frames = encode_frame(b"one") + encode_frame(b"two")
    await client.send_all(two_frames)
    assert await _receive_exactly(server, len(two_frames)) == two_frames
    after = net.link_stats("client-1", BROKER)
    assert after.sent == before.sent + 1  # one chunk (one TLS record), not two frames
    assert after.delivered == before.delivered + 1
    await client.aclose()
    assert await server.receive_some() == b""  # close_notify: a clean EOF
    await server.aclose()


# ---- counters ----------------------------------------------------------------------------------


@pytest.mark.req("NET-33")
async def test_tls_counters_count_the_plaintext_bytes_through_tls(
    net: SimNetwork, nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    net.enable_tls(BROKER)
    await _serve(net, nursery)
    stream = await net.connect("client-1", BROKER)
    async with RpcClient.open(stream) as client:
        assert await client.call("ping", timeout=1) == ("echo", "ping")
    request = encode_frame(encode_message(0, KIND_REQUEST, PICKLE_CODEC.encode("ping")))
    response = encode_frame(encode_message(0, KIND_RESPONSE, PICKLE_CODEC.encode(("echo", "ping"))))
    server = net.tls_stats(BROKER)
    assert (server.plaintext_bytes_received, server.plaintext_bytes_sent) == (len(request), len(response))
    client_side = net.tls_stats("client-1", side="client")
    assert (client_side.plaintext_bytes_sent, client_side.plaintext_bytes_received) == (
        len(request),
        len(response),
    )
    assert (server.connections, server.handshakes, server.broken) == (1, 1, 0)
    assert (client_side.connections, client_side.handshakes, client_side.broken) == (1, 1, 0)

    listener_raw = net.listen("broker-2")
    net.enable_tls("broker-2")
    client_end, server_end = await _tls_pair(net, listener_raw, "client-1")
    payload = bytes(range(256)) * 200  # 51200 bytes: several TLS records
    await client_end.send_all(memoryview(payload))
    assert await _receive_exactly(server_end, len(payload)) == payload
    assert net.tls_stats("broker-2").plaintext_bytes_received == len(payload)
    assert net.tls_stats("client-1", side="client").plaintext_bytes_sent == len(request) + len(payload)
    assert net.tls_stats("broker-2").plaintext_bytes_sent == 0
    assert net.tls_stats("broker-9") == net.tls_stats("nobody", side="client")  # zeros
    await client_end.aclose()
    await server_end.aclose()


# ---- determinism -------------------------------------------------------------------------------

_TlsTrace = tuple[dict[tuple[str, str], list[float]], list[tuple[float, object]], list[tuple[float, object]]]


async def _tls_scenario(seed: int) -> _TlsTrace:
    links: dict[tuple[str, str], list[float]] = {}
    handled: list[tuple[float, object]] = []
    answered: list[tuple[float, object]] = []

    def observe(event: NetEvent) -> None:
        # Chunk sizes are left out: keys and signatures vary the handshake's bytes from run to run.
        links.setdefault((str(event.link), event.kind), []).append(event.time)

    async def handler(request: object) -> object:
        handled.append((trio.current_time(), request))
        await trio.sleep(0.05)
        return ("done", request)

    async with SimNetwork.open(seed, observer=observe) as net:
        net.enable_tls(BROKER)
        for name in ("client-1", "client-2"):
            net.set_link_faults(name, BROKER, delay=(0.0, 0.5))
            net.set_link_faults(BROKER, name, delay=(0.0, 0.3))
        async with trio.open_nursery() as nursery:
            await nursery.start(serve_rpc_listener, net.listen(BROKER), handler)

            async def client(name: str) -> None:
                async with RpcClient.open(await net.connect(name, BROKER)) as rpc:
                    for i in range(8):
                        answered.append((trio.current_time(), await rpc.call(f"{name}/{i}", timeout=5)))
                        await trio.sleep(0.1)

            async with trio.open_nursery() as clients:
                clients.start_soon(client, "client-1")
                clients.start_soon(client, "client-2")
            nursery.cancel_scope.cancel()
    return links, sorted(handled, key=repr), sorted(answered, key=repr)


def _run_tls(seed: int, scheduler_seed: int) -> _TlsTrace:
    trio_run_module._r.seed(scheduler_seed)
    return trio.run(_tls_scenario, seed, clock=trio.testing.MockClock(autojump_threshold=0))


@pytest.mark.req("NET-34", "NET-22")
def test_tls_same_seed_same_application_bytes_at_the_same_times() -> None:
    first = _run_tls(3, scheduler_seed=1)
    links, handled, answered = first
    assert len(handled) == 16 and len(answered) == 16
    assert {kind for _, kind in links} >= {"connect", "send", "deliver", "eof"}
    assert _run_tls(3, scheduler_seed=1) == first
    assert _run_tls(3, scheduler_seed=2) == first
    assert _run_tls(4, scheduler_seed=1) != first
