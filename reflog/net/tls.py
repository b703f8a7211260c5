"""TLS for the simulated network: certificates from a private CA, and a counting TLS stream.

A node whose listener is switched to TLS (:meth:`reflog.net.sim.SimNetwork.enable_tls`)
speaks real TLS: every connection to it is a :class:`trio.SSLStream` over the in-memory
:class:`~reflog.net._pipe.SimStream`, with certificates that :class:`TlsMaterial` issues
from one ``trustme`` certificate authority, and each end is wrapped in a :class:`TlsStream`
that counts the plaintext bytes it encrypts and decrypts (:class:`TlsStats`), so that a
broker can report the work that took it off the zero-copy path.

Both contexts are TLS 1.3 only and the server sends no session tickets, so the handshake
is the same sequence of messages every time and, for the same plaintext sizes, the records
have the same sizes (the bytes differ from run to run: keys and signatures are random, and
certificate sizes can vary by a few bytes).
"""

from __future__ import annotations

import ssl
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Literal, final

import trio
import trustme

from reflog.errors import ReflogUsageError
from reflog.net._pipe import SimStream

__all__ = ["TlsMaterial", "TlsSide", "TlsStats", "TlsStream"]

#: Which end of a TLS connection a node's counters describe.
TlsSide = Literal["server", "client"]


@final
class TlsMaterial:
    """One private certificate authority and the TLS contexts it backs.

    * :meth:`server_context` ``(hostname)``: a server context presenting a certificate
      issued by the CA for ``hostname`` (in the simulation, the node's name);
    * :meth:`client_context`: a client context that trusts only this CA, requires the
      server's certificate and checks that it names the host the client asked for.

    Everything is generated lazily and cached: the CA key on first need, one certificate
    (and key) per hostname on its first :meth:`server_context`, one client context. Keys are
    ECDSA (``trustme``'s default), so each costs about a millisecond. Contexts are shared by
    every connection that uses them; do not mutate them. A client context from another
    :class:`TlsMaterial` does not trust this one's CA: its handshakes fail certificate
    verification.
    """

    def __init__(self) -> None:
        self._ca: trustme.CA | None = None
        self._servers: dict[str, ssl.SSLContext] = {}
        self._client: ssl.SSLContext | None = None

    @classmethod
    def create(cls, hostnames: Iterable[str] = ()) -> TlsMaterial:
        """A new CA with server certificates issued up front for ``hostnames`` (others come lazily).

        Raises :class:`~reflog.errors.ReflogUsageError` for a hostname no certificate can name.
        """
        material = cls()
        for hostname in hostnames:
            material.server_context(hostname)
        return material

    @property
    def ca(self) -> trustme.CA:
        """The certificate authority (created on first use)."""
        if self._ca is None:
            self._ca = trustme.CA()
        return self._ca

    @property
    def hostnames(self) -> frozenset[str]:
        """The hostnames a server certificate was issued for so far."""
        return frozenset(self._servers)

    def server_context(self, hostname: str) -> ssl.SSLContext:
        """The server context for ``hostname`` (issued on the first call, then cached).

        Raises :class:`~reflog.errors.ReflogUsageError` when ``hostname`` is not a name a
        certificate can carry (an IDNA host name or an IP address; ``_`` and spaces are not).
        """
        context = self._servers.get(hostname)
        if context is not None:
            return context
        try:
            cert = self.ca.issue_cert(hostname)
        except (ValueError, UnicodeError) as exc:  # idna errors are ValueErrors / UnicodeErrors
            raise ReflogUsageError(f"cannot issue a TLS certificate for {hostname!r}: {exc}") from exc
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        _pin_tls13(context)
        context.num_tickets = 0  # no post-handshake messages: the handshake is the same every time
        cert.configure_cert(context)
        self._servers[hostname] = context
        return context

    def client_context(self) -> ssl.SSLContext:
        """The client context: trusts this CA only, verifies the certificate and the hostname."""
        if self._client is None:
            context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
            _pin_tls13(context)
            self.ca.configure_trust(context)
            self._client = context
        return self._client


def _pin_tls13(context: ssl.SSLContext) -> None:
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    context.maximum_version = ssl.TLSVersion.TLSv1_3


@dataclass
class TlsStats:
    """TLS counters of one node on one side (server: its listener's connections; client: its connects).

    * ``connections``: TLS connections made (server side: accepted from the listener);
    * ``handshakes``: of those, handshakes completed (seen by a successful send or receive);
    * ``broken``: TLS streams that raised ``trio.BrokenResourceError`` (a refused handshake,
      a lost, duplicated or reordered record, a reset, or EOF without ``close_notify``),
      of which ``handshake_failures`` broke before their handshake completed;
    * ``plaintext_bytes_sent`` / ``plaintext_bytes_received``: application bytes encrypted
      by ``send_all`` / decrypted and returned by ``receive_some``, in user space.

    The network only increments them; they survive :meth:`~reflog.net.sim.SimNetwork.disable_tls`.
    """

    connections: int = 0
    handshakes: int = 0
    handshake_failures: int = 0
    broken: int = 0
    plaintext_bytes_sent: int = 0
    plaintext_bytes_received: int = 0

    def snapshot(self) -> TlsStats:
        """A copy, for comparing before and after a step."""
        return replace(self)


@final
class TlsStream(trio.abc.Stream):
    """One end of a TLS connection: a :class:`trio.SSLStream` over a :class:`SimStream`, with counters.

    Built by the network (``https_compatible=False``): the client end by
    :meth:`~reflog.net.sim.SimNetwork.connect` (``server_hostname`` = the listening node),
    the server end by the listener's ``accept``. The handshake is lazy: it runs on the first
    ``send_all``, ``receive_some`` or :meth:`do_handshake`, so making the stream never blocks.

    Failure modes, all ``trio.BrokenResourceError`` on this connection only: a handshake the
    peer refuses or that fails verification (an untrusted CA, a wrong hostname); a record
    that fails authentication because a link fault dropped, duplicated or reordered a chunk
    of the TLS byte stream (as a MAC failure on a real network: the connection is lost, not
    the message); the peer closing or the connection being reset without ``close_notify``.
    ``trio.ClosedResourceError`` after this end's :meth:`aclose`.

    :meth:`aclose` sends ``close_notify`` and closes the transport; if the handshake never
    started it only closes the transport. As with any :class:`trio.SSLStream`, a graceful
    ``aclose`` of a stream whose handshake is under way waits for the handshake: use
    ``trio.aclose_forcefully`` when the peer may be unreachable (the RPC layer does; a
    forced close after the handshake still sends ``close_notify``, see :meth:`aclose`).
    Cancelling a send or a handshake midway leaves the stream broken (trio's rule).
    """

    def __init__(
        self,
        transport: SimStream,
        context: ssl.SSLContext,
        *,
        server_side: bool,
        stats: TlsStats,
    ) -> None:
        self._transport = transport
        self._ssl = trio.SSLStream(
            transport,
            context,
            server_side=server_side,
            server_hostname=None if server_side else transport.remote,
            https_compatible=False,
        )
        self._server_side = server_side
        self._stats = stats
        self._started = False
        self._handshaken = False
        self._broken = False
        stats.connections += 1

    @property
    def local(self) -> str:
        """The node this end belongs to."""
        return self._transport.local

    @property
    def remote(self) -> str:
        """The node at the other end."""
        return self._transport.remote

    @property
    def conn_id(self) -> int:
        """The underlying connection's id."""
        return self._transport.conn_id

    @property
    def server_side(self) -> bool:
        """True for the listener's end."""
        return self._server_side

    @property
    def transport(self) -> SimStream:
        """The simulated connection end carrying the TLS records."""
        return self._transport

    @property
    def ssl_stream(self) -> trio.SSLStream[SimStream]:
        """The :class:`trio.SSLStream` (for ``version()``, ``cipher()``, ``getpeercert()``)."""
        return self._ssl

    @property
    def handshake_done(self) -> bool:
        """True once the handshake completed."""
        return self._handshaken

    async def do_handshake(self) -> None:
        """Run the handshake now if not yet done (see :meth:`trio.SSLStream.do_handshake`)."""
        self._started = True
        with self._watch():
            await self._ssl.do_handshake()
        self._handshake_completed()

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        self._started = True
        size = memoryview(data).nbytes
        with self._watch():
            await self._ssl.send_all(data)
        self._handshake_completed()
        self._stats.plaintext_bytes_sent += size

    async def wait_send_all_might_not_block(self) -> None:
        with self._watch():
            await self._ssl.wait_send_all_might_not_block()

    async def receive_some(self, max_bytes: int | None = None) -> bytes | bytearray:
        self._started = True
        with self._watch():
            data = await self._ssl.receive_some(max_bytes)
        self._handshake_completed()
        self._stats.plaintext_bytes_received += len(data)
        return data

    async def aclose(self) -> None:
        """Close this end (idempotent): ``close_notify`` if a handshake started, then close the transport.

        Once the handshake is done, ``close_notify`` is sent even when the close is
        cancelled (``trio.aclose_forcefully``): on the simulated transport it is one send
        that never blocks, and it lets the peer read a clean EOF instead of a broken stream.
        Cancellation: the stream is closed, then ``trio.Cancelled`` propagates.
        """
        if not self._started:
            await trio.aclose_forcefully(self._ssl)  # no session yet: nothing to notify
        elif self._handshaken:
            with trio.CancelScope(shield=True):
                await self._ssl.aclose()
            await trio.lowlevel.checkpoint()
        else:
            await self._ssl.aclose()  # a handshake under way: trio's SSLStream waits for it

    def _handshake_completed(self) -> None:
        if not self._handshaken:
            self._handshaken = True
            self._stats.handshakes += 1

    @contextmanager
    def _watch(self) -> Iterator[None]:
        try:
            yield
        except trio.BrokenResourceError:
            if not self._broken:
                self._broken = True
                self._stats.broken += 1
                if not self._handshaken:
                    self._stats.handshake_failures += 1
            raise

    def __repr__(self) -> str:
        side = "server" if self._server_side else "client"
        return f"<TlsStream #{self.conn_id} {self.local}->{self.remote} {side}>"


@final
class TlsNodes:
    """Which nodes' listeners speak TLS, with what material, and every node's TLS counters.

    The network owns one. The default :attr:`material` is created on first use; counters
    are created on first use and live as long as the network.
    """

    def __init__(self) -> None:
        self._materials: dict[str, TlsMaterial] = {}
        self._default: TlsMaterial | None = None
        self._stats: dict[tuple[str, TlsSide], TlsStats] = {}

    @property
    def material(self) -> TlsMaterial:
        """The default material."""
        if self._default is None:
            self._default = TlsMaterial()
        return self._default

    def enable(self, node: str, material: TlsMaterial | None) -> bool:
        """Make ``node``'s listener TLS with ``material`` (default :attr:`material`); True if that changed.

        The server certificate is issued first, so a node name no certificate can carry
        raises :class:`~reflog.errors.ReflogUsageError` and nothing changes.
        """
        if material is None:
            material = self.material
        material.server_context(node)
        if self._materials.get(node) is material:
            return False
        self._materials[node] = material
        return True

    def disable(self, node: str) -> bool:
        """Make ``node``'s listener plaintext; True if it was TLS."""
        return self._materials.pop(node, None) is not None

    def material_of(self, node: str) -> TlsMaterial | None:
        """The material of ``node``'s TLS listener, ``None`` for plaintext."""
        return self._materials.get(node)

    def stats(self, node: str, side: TlsSide) -> TlsStats:
        """``node``'s live counters for ``side``."""
        stats = self._stats.get((node, side))
        if stats is None:
            stats = self._stats[node, side] = TlsStats()
        return stats

    def wrap_server(self, stream: SimStream, material: TlsMaterial) -> TlsStream:
        """The server-side TLS end over ``stream``, counted in its node's server counters."""
        context = material.server_context(stream.local)
        return TlsStream(stream, context, server_side=True, stats=self.stats(stream.local, "server"))
