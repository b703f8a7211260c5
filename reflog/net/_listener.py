"""A node's listening endpoint on the simulated network: :class:`SimListener`, and :data:`NetStream`.

A listener queues the server ends of incoming connections until they are accepted, and
wraps those made while the node had TLS enabled in a server-side
:class:`~reflog.net.tls.TlsStream` at accept time. It knows its network only through
:class:`ListenerHost` (which :class:`~reflog.net.sim.SimNetwork` provides), so it can reset
queued connections, wrap TLS ones and deregister itself, and nothing else.
"""

from __future__ import annotations

from collections import deque
from typing import Protocol, final

import trio

from reflog.net._pipe import SimStream
from reflog.net.tls import TlsMaterial, TlsStream

#: What :meth:`~reflog.net.sim.SimNetwork.connect` and :meth:`SimListener.accept` return: a
#: plaintext end, or a TLS end when the listening node has TLS enabled.
NetStream = SimStream | TlsStream


class ListenerHost(Protocol):
    """What a listener needs from its network."""

    def wrap_server(self, stream: SimStream, material: TlsMaterial) -> TlsStream:
        """The server-side TLS end over ``stream`` with ``material``'s certificate for its node."""
        ...

    def reset_connection(self, conn_id: int) -> None:
        """Reset connection ``conn_id`` (both ends read EOF; a no-op if it is gone)."""
        ...

    def listener_closed(self, listener: SimListener) -> None:
        """Forget ``listener`` as its node's listener (if it still is)."""
        ...


@final
class SimListener(trio.abc.Listener[NetStream]):
    """A node's listening endpoint; works with ``trio.serve_listeners``.

    Connections are queued without limit until accepted. A connection made while the node
    had TLS enabled is accepted as a server-side :class:`~reflog.net.tls.TlsStream` (wrapped
    at accept time; its handshake runs on first use), any other as a :class:`SimStream`.
    :meth:`accept` raises
    ``trio.ClosedResourceError`` once the listener is closed (by :meth:`aclose` or because
    the node was taken down), waking a blocked ``accept``; connections still queued then are
    reset. Concurrent ``accept`` calls are served in arrival order.
    """

    def __init__(self, host: ListenerHost, node: str) -> None:
        self._host = host
        self._node = node
        self._queue: deque[tuple[SimStream, TlsMaterial | None]] = deque()
        self._lot = trio.lowlevel.ParkingLot()
        self._closed = False

    @property
    def node(self) -> str:
        """The listening node."""
        return self._node

    @property
    def closed(self) -> bool:
        """True once closed."""
        return self._closed

    async def accept(self) -> NetStream:
        """The next incoming connection's server end (blocks until one arrives; cancellable).

        A TLS connection is returned before its handshake: a failing handshake breaks that
        connection alone (``trio.BrokenResourceError`` on its first use), never the listener.
        """
        await trio.lowlevel.checkpoint()
        while True:
            if self._closed:
                raise trio.ClosedResourceError(f"listener of {self._node!r} is closed")
            if self._queue:
                stream, material = self._queue.popleft()
                if material is None:
                    return stream
                return self._host.wrap_server(stream, material)
            await self._lot.park()

    async def aclose(self) -> None:
        """Stop listening (idempotent); the node may ``listen`` again afterwards."""
        self.close()
        await trio.lowlevel.checkpoint()

    def close(self) -> None:
        """Synchronous :meth:`aclose`."""
        if self._closed:
            return
        self._closed = True
        while self._queue:
            self._host.reset_connection(self._queue.popleft()[0].conn_id)
        self._lot.unpark_all()
        self._host.listener_closed(self)

    def _enqueue(self, stream: SimStream, material: TlsMaterial | None) -> None:
        self._queue.append((stream, material))
        self._lot.unpark_all()
