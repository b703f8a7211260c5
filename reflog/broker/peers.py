"""Lazily opened, reused RPC connections from one node to others on the simulated network.

A :class:`Peers` belongs to one process incarnation (a broker or a client): it opens a
connection to a destination on first use, keeps its :class:`RpcClient` reader running in
the owner's nursery, and forgets a connection as soon as it fails, so the next call
reconnects. Calls raise :class:`reflog.net.errors.NetError` subclasses: refused
connections, broken connections and timeouts. Requests are typed
(:class:`reflog.requests.Request`): a call returns the request's response class, checked.
"""

from __future__ import annotations

from typing import TypeVar

import trio

from reflog.net.errors import NetError
from reflog.net.rpc import RpcClient
from reflog.net.sim import SimNetwork
from reflog.requests import Request

R = TypeVar("R")


class Peers:
    """RPC clients from ``node`` to other nodes, one connection per destination."""

    def __init__(self, network: SimNetwork, node: str, nursery: trio.Nursery) -> None:
        self.network = network
        self.node = node
        self._nursery = nursery
        self._clients: dict[str, RpcClient] = {}
        self._locks: dict[str, trio.Lock] = {}

    async def _client(self, dst: str) -> RpcClient:
        client = self._clients.get(dst)
        if client is not None and not client.closed:
            return client
        lock = self._locks.setdefault(dst, trio.Lock())
        async with lock:
            client = self._clients.get(dst)
            if client is not None and not client.closed:
                return client
            stream = await self.network.connect(self.node, dst)
            client = RpcClient(stream)
            await self._nursery.start(client.run)
            self._clients[dst] = client
            return client

    async def call(self, dst: str, request: Request[R], *, timeout: float) -> R:
        """Send ``request`` to ``dst`` and return its response.

        Raises :class:`NetError` (refused, broken, timed out; a response of the wrong class is
        an :class:`~reflog.net.errors.RpcProtocolError`); the failed connection is dropped so
        that the next call reconnects.
        """
        client = await self._client(dst)
        try:
            return await client.call(request, timeout=timeout)
        except NetError:
            if client.closed:
                self._clients.pop(dst, None)
            raise

    async def send(self, dst: str, request: Request[object]) -> None:
        """Send ``request`` to ``dst`` without waiting for a response; returns once it is written.

        Raises :class:`NetError` (refused, broken); the failed connection is dropped.
        """
        client = await self._client(dst)
        try:
            await client.send(request)
        except NetError:
            if client.closed:
                self._clients.pop(dst, None)
            raise

    async def aclose(self) -> None:
        for client in self._clients.values():
            await client.aclose()
        self._clients.clear()
