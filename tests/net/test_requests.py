"""Typed requests: a request names its response class, the RPC client checks it, servers dispatch by class."""

from __future__ import annotations

import pickle
from collections.abc import AsyncIterator
from functools import partial

import attrs
import pytest
import trio
from trio.testing import MockClock

from reflog.broker import Broker, ControllerService, api
from reflog.clock import ManualClock
from reflog.errors import Errors
from reflog.net.errors import RemoteError, RpcProtocolError
from reflog.net.rpc import RpcClient, serve_rpc_listener
from reflog.net.sim import SimNetwork
from reflog.replication import messages
from reflog.replication.controller import Controller
from reflog.replication.messages import FetchRequest, FetchResponse
from reflog.requests import Request, RequestHandlers, expect_response
from reflog.storage.sim import SimFilesystem
from reflog.vocabulary import TopicPartition

SERVER = "server-1"


@attrs.frozen
class Pong:
    n: int


@attrs.frozen
class Ping(Request[Pong]):
    n: int


@attrs.frozen
class LoudPing(Ping):
    """A subclass of a request class keeps its response class."""


@attrs.frozen
class Untyped(Request):  # type: ignore[type-arg]
    pass


@attrs.frozen
class Liar(Request[Pong]):
    """The server answers it with a string: a handler bug the client must not pass on."""


def test_a_request_class_names_its_response_class() -> None:
    assert Ping.response_class() is Pong
    assert LoudPing.response_class() is Pong
    with pytest.raises(TypeError, match="does not name its response class"):
        Untyped.response_class()


@pytest.mark.req("NET-35")
def test_every_cluster_request_names_its_response_and_pickles() -> None:
    requests = [
        cls
        for module in (api, messages)
        for name, cls in vars(module).items()
        if isinstance(cls, type) and name.endswith("Request") and cls.__module__ == module.__name__
    ]
    assert len(requests) == 15  # + AlterTopicConfigs (LOG-28), DeleteTopic, CreatePartitions, ElectLeaders
    for cls in requests:
        assert issubclass(cls, Request), cls
        assert cls.response_class().__name__.endswith(("Response", "Reply")), cls
    request = api.ProduceRequest(TopicPartition("t", 0), b"x", acks=1)
    assert pickle.loads(pickle.dumps(request)) == request
    assert not hasattr(request, "__dict__")  # still a slotted attrs class


@pytest.mark.req("NET-35")
def test_expect_response_checks_the_class() -> None:
    assert expect_response(Ping(1), Pong(1)) == Pong(1)
    with pytest.raises(RpcProtocolError, match="Ping was answered with a str, not a Pong"):
        expect_response(Ping(1), "pong")


async def _ping(request: Ping) -> Pong:
    await trio.lowlevel.checkpoint()
    return Pong(request.n + 1)


async def _lie(request: Liar) -> Pong:
    await trio.lowlevel.checkpoint()
    return "not a pong"  # type: ignore[return-value]


@pytest.mark.req("NET-35")
async def test_request_handlers_dispatch_by_exact_class() -> None:
    handlers = RequestHandlers("test server").on(Ping, _ping).on(Liar, _lie)
    assert handlers.kinds == {Ping, Liar}
    assert await handlers(Ping(1)) == Pong(2)
    with pytest.raises(TypeError, match="test server does not serve LoudPing"):
        await handlers(LoudPing(1))
    with pytest.raises(TypeError, match="test server does not serve tuple"):
        await handlers(("echo", 1))
    with pytest.raises(TypeError, match="answered Liar with a str, not a Pong"):
        await handlers(Liar())
    with pytest.raises(TypeError, match="does not name its response class"):
        RequestHandlers("x").on(Untyped, _ping)  # type: ignore[arg-type]


async def _raw(request: object) -> object:
    """Answers a Ping as a typed server would, a Liar with a string (a server bug)."""
    await trio.lowlevel.checkpoint()
    match request:
        case Ping(n=n):
            return Pong(n + 1)
        case Liar():
            return "not a pong"
    raise ValueError(request)


@pytest.fixture
async def client(net: SimNetwork, nursery: trio.Nursery) -> AsyncIterator[RpcClient]:
    await nursery.start(partial(serve_rpc_listener, net.listen(SERVER), _raw))
    rpc = RpcClient(await net.connect("client-1", SERVER))
    await nursery.start(rpc.run)
    yield rpc


@pytest.mark.req("NET-35")
async def test_the_client_returns_the_typed_response_or_refuses_another_class(
    autojump_clock: MockClock, client: RpcClient
) -> None:
    pong: Pong = await client.call(Ping(41), timeout=1)
    assert pong == Pong(42)
    with pytest.raises(RpcProtocolError, match="Liar was answered with a str, not a Pong"):
        await client.call(Liar(), timeout=1)
    assert not client.closed and await client.call(Ping(1), timeout=1) == Pong(2)  # still usable
    with pytest.raises(RemoteError):  # untyped values still travel as they are
        await client.call(("unknown",), timeout=1)


@pytest.mark.req("NET-35")
async def test_the_broker_serves_its_four_request_classes_over_rpc(
    autojump_clock: MockClock, net: SimNetwork
) -> None:
    broker = Broker(1, SimFilesystem(ManualClock(), seed=1), net)
    handlers = broker.request_handlers()
    assert handlers.kinds == {
        FetchRequest,
        api.ProduceRequest,
        api.ConsumerFetchRequest,
        api.ListOffsetsRequest,
    }
    tp = TopicPartition("none", 0)
    answer = await handlers(FetchRequest(tp, 2, 1, 0, -1, 0, 0, 1024))
    assert answer == FetchResponse(tp, Errors.NOT_LEADER_OR_FOLLOWER)
    assert await handlers(api.ListOffsetsRequest(tp)) == api.ListOffsetsResponse(
        tp, Errors.NOT_LEADER_OR_FOLLOWER
    )
    with pytest.raises(TypeError, match="broker 1 does not serve MetadataRequest"):
        await handlers(api.MetadataRequest())


@pytest.mark.req("NET-35")
async def test_the_controller_serves_its_eleven_request_classes(net: SimNetwork) -> None:
    service = ControllerService(Controller(), net)
    assert {cls.__name__ for cls in service.handlers.kinds} == {
        "HeartbeatRequest",
        "AlterPartitionRequest",
        "RegisterBrokerRequest",
        "ControlledShutdownRequest",
        "MetadataRequest",
        "CreateTopicRequest",
        "AlterTopicConfigsRequest",
        "InitProducerIdRequest",
        "DeleteTopicRequest",
        "CreatePartitionsRequest",
        "ElectLeadersRequest",
    }
    assert await service.handle(api.MetadataRequest()) == api.MetadataResponse((), (), 0)
    with pytest.raises(TypeError, match="the controller does not serve ProduceRequest"):
        await service.handle(api.ProduceRequest(TopicPartition("t", 0), b"", acks=1))
