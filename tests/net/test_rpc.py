"""The RPC layer over the simulated network: pipelining, timeouts, remote errors, malformed input."""

from __future__ import annotations

import pickle
from collections.abc import AsyncIterator
from functools import partial

import pytest
import trio
import trio.testing
from trio.testing import MockClock

from reflog.errors import CorruptRecordError, ReflogUsageError
from reflog.net.errors import (
    NetError,
    RemoteError,
    RpcConnectionError,
    RpcProtocolError,
    RpcTimeout,
)
from reflog.net.framing import FrameReader, encode_frame, send_frame
from reflog.net.rpc import (
    KIND_REQUEST,
    KIND_RESPONSE,
    RpcClient,
    decode_message,
    encode_message,
    serve_rpc,
    serve_rpc_listener,
)
from reflog.net.sim import SimNetwork

SERVER = "broker-1"


async def handler(request: object) -> object:
    """("sleep", s, x) answers x after s seconds; ("raise", exc) raises it; ("echo", x) answers x."""
    match request:
        case ("sleep", float() | int() as seconds, value):
            await trio.sleep(seconds)
            return value
        case ("raise", BaseException() as exc):
            raise exc
        case ("echo", value):
            return value
        case ("unpicklable",):
            return lambda: None
    raise ValueError(f"unknown request {request!r}")


@pytest.fixture
async def errors(net: SimNetwork, nursery: trio.Nursery) -> AsyncIterator[list[NetError]]:
    """An RPC server on SERVER; yields the list of connection errors it reported."""
    found: list[NetError] = []
    await nursery.start(partial(serve_rpc_listener, net.listen(SERVER), handler, on_error=found.append))
    yield found


async def _client(net: SimNetwork, nursery: trio.Nursery, node: str = "client-1") -> RpcClient:
    client = RpcClient(await net.connect(node, SERVER))
    await nursery.start(client.run)
    return client


@pytest.mark.req("NET-23")
def test_envelope_is_correlation_id_kind_body() -> None:
    message = encode_message(42, KIND_REQUEST, b"body")
    assert message == b"\x00\x00\x00\x2a\x00body"
    assert decode_message(message) == (42, KIND_REQUEST, b"body")
    with pytest.raises(RpcProtocolError):
        decode_message(b"\x00\x00")
    with pytest.raises(RpcProtocolError, match="unknown RPC message kind"):
        decode_message(b"\x00\x00\x00\x01\x09")


@pytest.mark.req("NET-23")
async def test_concurrent_calls_pipeline_and_complete_out_of_order(
    autojump_clock: MockClock, net: SimNetwork, nursery: trio.Nursery, errors: list[NetError]
) -> None:
    client = await _client(net, nursery)
    start = trio.current_time()
    finished: list[tuple[str, float]] = []

    async def call(seconds: float, value: str) -> None:
        assert await client.call(("sleep", seconds, value), timeout=10) == value
        finished.append((value, trio.current_time() - start))

    async with trio.open_nursery() as calls:
        for seconds, value in ((3, "c"), (1, "a"), (2, "b")):
            calls.start_soon(call, seconds, value)
    # concurrent on the server, matched by correlation id: done at 1, 2, 3 s (not 3, 4, 6)
    assert finished == [("a", 1.0), ("b", 2.0), ("c", 3.0)]
    assert client.pending == 0 and errors == []


@pytest.mark.req("NET-24")
async def test_call_times_out_after_a_dropped_request_and_the_connection_survives(
    autojump_clock: MockClock, net: SimNetwork, nursery: trio.Nursery, errors: list[NetError]
) -> None:
    client = await _client(net, nursery)
    net.drop_next("client-1", SERVER, 1)
    start = trio.current_time()
    with pytest.raises(RpcTimeout, match=r"within 2\.5 s"):
        await client.call(("echo", 1), timeout=2.5)
    assert trio.current_time() - start == pytest.approx(2.5)
    assert RpcTimeout.error_code == 7 and RpcTimeout.retriable
    assert await client.call(("echo", 2), timeout=2.5) == 2
    assert not client.closed


@pytest.mark.req("NET-24")
async def test_call_times_out_after_a_dropped_response_and_a_late_one_is_discarded(
    autojump_clock: MockClock, net: SimNetwork, nursery: trio.Nursery, errors: list[NetError]
) -> None:
    client = await _client(net, nursery)
    net.drop_next(SERVER, "client-1", 1)
    with pytest.raises(RpcTimeout):
        await client.call(("echo", "lost"), timeout=1)
    net.set_link_faults(SERVER, "client-1", delay=5)
    with pytest.raises(RpcTimeout):
        await client.call(("echo", "late"), timeout=1)
    net.clear_faults()
    await trio.sleep(10)
    assert client.ignored_responses == 1
    assert await client.call(("echo", "fresh"), timeout=1) == "fresh"


@pytest.mark.req("NET-25")
async def test_handler_exception_becomes_remote_error_and_the_server_survives(
    autojump_clock: MockClock, net: SimNetwork, nursery: trio.Nursery, errors: list[NetError]
) -> None:
    client = await _client(net, nursery)
    with pytest.raises(RemoteError) as info:
        await client.call(("raise", KeyError("no such topic")), timeout=1)
    assert info.value.remote_type == "KeyError"
    assert info.value.remote_message == "'no such topic'"
    assert (info.value.remote_error_code, info.value.remote_retriable) == (-1, False)
    with pytest.raises(RemoteError) as info:
        await client.call(("raise", CorruptRecordError("bad crc")), timeout=1)
    assert info.value.remote_type == "CorruptRecordError"
    assert (info.value.remote_error_code, info.value.remote_retriable) == (2, True)
    with pytest.raises(RemoteError, match=r"PicklingError|AttributeError"):
        await client.call(("unpicklable",), timeout=1)
    assert await client.call(("echo", "alive"), timeout=1) == "alive"
    other = await _client(net, nursery, "client-2")
    assert await other.call(("echo", "also alive"), timeout=1) == "also alive"
    assert errors == []


@pytest.mark.req("NET-26")
async def test_malformed_request_closes_only_that_connection(
    autojump_clock: MockClock, net: SimNetwork, nursery: trio.Nursery, errors: list[NetError]
) -> None:
    good = await _client(net, nursery, "client-1")
    bad = await net.connect("client-2", SERVER)
    await send_frame(bad, encode_message(1, KIND_REQUEST, b"\x80\x05not a pickle"))
    assert await FrameReader(bad).receive_frame() is None  # the server closed it
    await trio.testing.wait_all_tasks_blocked()
    assert len(errors) == 1 and isinstance(errors[0], RpcProtocolError)
    assert "undecodable request body" in str(errors[0])
    assert await good.call(("echo", "unaffected"), timeout=1) == "unaffected"


@pytest.mark.req("NET-26")
async def test_bad_framing_from_a_client_closes_only_that_connection(
    autojump_clock: MockClock, net: SimNetwork, nursery: trio.Nursery, errors: list[NetError]
) -> None:
    good = await _client(net, nursery, "client-1")
    bad = await net.connect("client-2", SERVER)
    await bad.send_all(b"\xff\xff\xff\xfe")  # a negative size
    assert await bad.receive_some() == b""
    await trio.testing.wait_all_tasks_blocked()
    assert len(errors) == 1 and "bad framing" in str(errors[0])
    assert await good.call(("echo", 1), timeout=1) == 1


@pytest.mark.req("NET-26")
async def test_malformed_response_fails_the_client_with_a_protocol_error(
    autojump_clock: MockClock, nursery: trio.Nursery
) -> None:
    client_end, server_end = trio.testing.memory_stream_pair()
    client = RpcClient(client_end)
    await nursery.start(client.run)
    result: list[BaseException] = []

    async def call() -> None:
        try:
            await client.call("anything", timeout=5)
        except RpcConnectionError as exc:
            result.append(exc)

    nursery.start_soon(call)
    request = await FrameReader(server_end).receive_frame()
    assert request is not None
    correlation_id, kind, body = decode_message(request)
    assert kind == KIND_REQUEST and pickle.loads(body) == "anything"
    await send_frame(server_end, encode_message(correlation_id, KIND_RESPONSE, b"garbage"))
    await trio.testing.wait_all_tasks_blocked()
    assert len(result) == 1 and isinstance(result[0], RpcProtocolError)
    assert client.closed
    assert await server_end.receive_some() == b""  # the client closed its stream
    with pytest.raises(RpcConnectionError):
        await client.call("again", timeout=5)


@pytest.mark.req("NET-26")
async def test_serve_rpc_raises_a_protocol_error_for_a_response_sent_to_it(autojump_clock: MockClock) -> None:
    client_end, server_end = trio.testing.memory_stream_pair()
    await send_frame(client_end, encode_message(1, KIND_RESPONSE, pickle.dumps("not a request")))
    with pytest.raises(RpcProtocolError, match="expected a request"):
        await serve_rpc(server_end, handler)
    assert await client_end.receive_some() == b""


@pytest.mark.req("NET-27")
async def test_a_broken_connection_fails_pending_and_later_calls(
    autojump_clock: MockClock, net: SimNetwork, nursery: trio.Nursery, errors: list[NetError]
) -> None:
    client = await _client(net, nursery)
    result: list[BaseException] = []

    async def call() -> None:
        try:
            await client.call(("sleep", 100, "never"), timeout=1000)
        except RpcConnectionError as exc:
            result.append(exc)

    nursery.start_soon(call)
    await trio.sleep(1)
    net.take_down(SERVER)
    await trio.testing.wait_all_tasks_blocked()
    assert len(result) == 1 and not isinstance(result[0], RpcProtocolError)
    assert client.closed
    with pytest.raises(RpcConnectionError):
        await client.call(("echo", 1), timeout=1)


@pytest.mark.req("NET-27")
async def test_closing_the_client_fails_pending_calls(
    autojump_clock: MockClock, net: SimNetwork, errors: list[NetError]
) -> None:
    async with RpcClient.open(await net.connect("client-1", SERVER)) as client:
        assert await client.call(("echo", 1), timeout=1) == 1
        with trio.move_on_after(1):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(client.aclose)
                with pytest.raises(RpcConnectionError, match="closed"):
                    await client.call(("sleep", 10, 2), timeout=100)
    assert client.closed


@pytest.mark.req("NET-28")
async def test_unencodable_request_is_a_usage_error_and_sends_nothing(
    autojump_clock: MockClock, net: SimNetwork, nursery: trio.Nursery, errors: list[NetError]
) -> None:
    client = await _client(net, nursery)
    with pytest.raises(ReflogUsageError, match="cannot be encoded"):
        await client.call(("echo", lambda: None), timeout=1)
    with pytest.raises(ReflogUsageError):
        await client.call(("echo", 1), timeout=-1)
    assert net.link_stats("client-1", SERVER).sent == 0
    assert await client.call(("echo", 1), timeout=1) == 1


@pytest.mark.req("NET-28")
async def test_requests_above_the_frame_limit_are_refused_before_sending(
    autojump_clock: MockClock, nursery: trio.Nursery
) -> None:
    client_end, _server_end = trio.testing.memory_stream_pair()
    client = RpcClient(client_end, max_frame_size=64)
    await nursery.start(client.run)
    with pytest.raises(NetError):
        await client.call(b"x" * 100, timeout=1)
    assert encode_frame(b"ok", max_frame_size=64)


@pytest.mark.req("NET-13", "NET-24")
async def test_a_partition_is_seen_by_rpc_as_timeouts_until_healed(
    autojump_clock: MockClock, net: SimNetwork, nursery: trio.Nursery, errors: list[NetError]
) -> None:
    client = await _client(net, nursery)
    net.isolate(SERVER)
    for _ in range(3):
        with pytest.raises(RpcTimeout):
            await client.call(("echo", "lost"), timeout=30)
    assert not client.closed  # a blackhole, not a disconnect
    net.heal()
    assert await client.call(("echo", "back"), timeout=30) == "back"
    assert errors == []
