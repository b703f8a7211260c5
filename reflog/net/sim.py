"""The simulated network: an in-process, deterministic, fault-injecting transport for a reflog cluster.

Nodes are named by strings (``"broker-1"``, ``"controller"``, ``"client-7"``). A node
:meth:`~SimNetwork.listen`\\ s and accepts :class:`~reflog.net._pipe.SimStream`\\ s; another
:meth:`~SimNetwork.connect`\\ s to it. Each direction of a connection is a link
``LinkKey(src, dst)``: its bytes are cut into whole frames (Kafka's length-prefixed
framing, :mod:`reflog.net.framing`), the link's fault policy is applied to each frame as it
enters the link, and a pump task delivers the survivors at their delivery time.

Faults:

* per link (one direction): :meth:`~SimNetwork.set_link_faults` (drop probability, fixed
  or random delay, duplicate probability, reordering), :meth:`~SimNetwork.drop_next`
  (lose exactly the next ``n`` frames); :meth:`~SimNetwork.clear_faults` removes them all;
* cuts: :meth:`~SimNetwork.partition` (symmetric), :meth:`~SimNetwork.isolate`,
  :meth:`~SimNetwork.block` (one way); :meth:`~SimNetwork.heal` removes them all. A cut
  is a *blackhole*, as TCP would see it until its timeouts fire: existing connections
  stay open, frames in flight on a cut link vanish, new frames vanish on entry, and only
  the applications' own timeouts notice. New connects over a cut link (either direction,
  since a TCP handshake needs both) fail at once with
  :class:`~reflog.net.errors.ConnectRefusedError`;
* process death: :meth:`~SimNetwork.take_down` closes the node's listener and resets its
  connections (both ends read EOF, sends raise ``trio.BrokenResourceError``); new
  connects to or from it fail until :meth:`~SimNetwork.bring_up`;
* TLS listeners: :meth:`~SimNetwork.enable_tls` switches a node's listener to real TLS
  (:mod:`reflog.net.tls`): its plaintext connections are reset, and every later connection
  to it is a :class:`~reflog.net.tls.TlsStream` at both ends, carried in chunk mode (TLS
  records are not Kafka frames). Link faults then act on chunks of the encrypted byte
  stream: a dropped, duplicated or reordered chunk (or one blackholed by a cut) breaks the
  TLS stream at the next record that arrives, which both ends see as
  ``trio.BrokenResourceError``, as a TLS record MAC failure would on a real network.
  :meth:`~SimNetwork.disable_tls` switches back; :meth:`~SimNetwork.tls_stats` counts the
  plaintext bytes each node encrypted and decrypted in user space.

Determinism: time is trio's clock (``MockClock`` in tests). Randomness comes only from
the seed: every direction of every connection gets its own ``random.Random`` derived from
``(seed, link, index of the connection on that link)``, so a link's fault decisions depend
only on the frames sent on it, not on how trio interleaves other links. Same seed and same
program, same trace of :class:`~reflog.net._links.NetEvent`\\ s.

Lifecycle: the pumps run in the network's nursery, provided by :meth:`SimNetwork.run`
(``await nursery.start(net.run)``) or by ``async with SimNetwork.open(seed) as net``.
Cancelling that scope stops every pump and resets every connection.
"""

from __future__ import annotations

import random
import ssl
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Set
from contextlib import asynccontextmanager
from typing import final

import trio

from reflog.errors import ReflogUsageError
from reflog.net._links import (
    NO_FAULTS,
    Delay,
    EventKind,
    LinkFaults,
    LinkFaultTable,
    LinkKey,
    LinkStats,
    NetEvent,
)
from reflog.net._listener import NetStream, SimListener
from reflog.net._pipe import Connection, Direction, Mode, SimStream
from reflog.net._topology import Topology
from reflog.net._util import background
from reflog.net.errors import ConnectRefusedError
from reflog.net.framing import DEFAULT_MAX_FRAME_SIZE
from reflog.net.tls import TlsMaterial, TlsNodes, TlsSide, TlsStats, TlsStream

__all__ = [
    "NO_FAULTS",
    "ConnectRefusedError",
    "Delay",
    "EventKind",
    "LinkFaults",
    "LinkKey",
    "LinkStats",
    "NetEvent",
    "NetStream",
    "SimListener",
    "SimNetwork",
    "SimStream",
    "TlsMaterial",
    "TlsStats",
    "TlsStream",
]


@final
class SimNetwork:
    """An in-memory network of named nodes with per-link fault injection (see the module docstring).

    ``observer``, when given, is called synchronously with every :class:`NetEvent` (it must
    not raise). ``max_frame_size`` is the largest frame the pumps parse; bytes after a
    larger or negative size prefix are forwarded unchanged and without faults, so that the
    receiver's own framing reports the violation.
    """

    def __init__(
        self,
        seed: int,
        *,
        max_frame_size: int = DEFAULT_MAX_FRAME_SIZE,
        observer: Callable[[NetEvent], None] | None = None,
    ) -> None:
        self._seed = seed
        self._max_frame_size = max_frame_size
        self._observer = observer
        self._topology = Topology()
        self._listeners: dict[str, SimListener] = {}
        self._connections: dict[int, Connection] = {}
        self._link_faults = LinkFaultTable()
        self._stats: dict[LinkKey, LinkStats] = {}
        self._link_connects: dict[LinkKey, int] = {}
        self._next_conn_id = 1
        self._nursery: trio.Nursery | None = None
        self._fabric = _Fabric(self)
        self._tls = TlsNodes()

    # ---- lifecycle ---------------------------------------------------------------------

    @property
    def seed(self) -> int:
        """The seed all fault randomness derives from."""
        return self._seed

    @property
    def running(self) -> bool:
        """True while :meth:`run` is running."""
        return self._nursery is not None

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Host the pump tasks until cancelled: ``await nursery.start(net.run)``.

        Raises :class:`~reflog.errors.ReflogUsageError` if already running. Cancellation
        stops every pump; every connection is then reset and every listener closed, so no
        task stays blocked on a dead network. A network can be run again afterwards.
        """
        if self._nursery is not None:
            raise ReflogUsageError("the network is already running")
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            try:
                task_status.started()
                await trio.sleep_forever()
            finally:
                # Before the pumps unwind (they deregister their connections as they end).
                self._nursery = None
                for conn_id in list(self._connections):
                    self._reset_connection(conn_id)
                for listener in list(self._listeners.values()):
                    listener.close()

    @classmethod
    @asynccontextmanager
    async def open(
        cls,
        seed: int,
        *,
        max_frame_size: int = DEFAULT_MAX_FRAME_SIZE,
        observer: Callable[[NetEvent], None] | None = None,
    ) -> AsyncIterator[SimNetwork]:
        """``async with SimNetwork.open(seed) as net``: a running network, stopped on exit.

        An exception from the body propagates as itself (not wrapped in an exception group)
        when it is the only one.
        """
        network = cls(seed, max_frame_size=max_frame_size, observer=observer)
        async with background(network.run):
            yield network

    # ---- connections -------------------------------------------------------------------

    def listen(self, node: str) -> SimListener:
        """Start listening as ``node``.

        Raises :class:`~reflog.errors.ReflogUsageError` if ``node`` is down or already has
        an open listener.
        """
        if self._topology.is_down(node):
            raise ReflogUsageError(f"node {node!r} is down; bring_up() it first")
        if node in self._listeners:
            raise ReflogUsageError(f"node {node!r} is already listening")
        listener = SimListener(self._fabric, node)
        self._listeners[node] = listener
        return listener

    async def connect(
        self, src: str, dst: str, *, framed: bool = True, ssl_context: ssl.SSLContext | None = None
    ) -> NetStream:
        """Open a connection from ``src`` to ``dst`` and return the ``src`` end.

        The ``dst`` end is queued on ``dst``'s listener. With ``framed=False`` faults act
        on each ``send_all`` chunk instead of on frames (for non-Kafka byte traffic).
        Connecting takes no simulated time (the handshake is not delayed by link faults).

        When ``dst`` has TLS enabled (:meth:`enable_tls`) the connection is TLS: the
        returned end is a client-side :class:`~reflog.net.tls.TlsStream` (server hostname
        ``dst``) using ``ssl_context``, by default the client context of ``dst``'s
        :class:`~reflog.net.tls.TlsMaterial`; ``framed`` is then ignored (chunk mode, since
        TLS records are not Kafka frames). The TLS handshake runs on the stream's first use,
        over the links and their faults; a failed one raises ``trio.BrokenResourceError``
        there. ``ssl_context`` is ignored for a plaintext listener.

        Raises :class:`~reflog.net.errors.ConnectRefusedError` when either node is down,
        ``dst`` is not listening, or either direction between them is cut; and
        :class:`~reflog.errors.ReflogUsageError` when the network is not running.
        Cancellation: a cancelled connect made no connection.
        """
        await trio.lowlevel.checkpoint()
        nursery = self._nursery
        if nursery is None:
            raise ReflogUsageError("the network is not running (start SimNetwork.run or use SimNetwork.open)")
        link = LinkKey(src, dst)
        reason = self._refusal(link)
        if reason is not None:
            self._emit("refused", link, 0)
            raise ConnectRefusedError(f"connect {link}: {reason}")
        conn_id = self._next_conn_id
        self._next_conn_id += 1
        index = self._link_connects.get(link, 0)
        self._link_connects[link] = index + 1
        material = self._tls.material_of(dst)
        mode: Mode = "frames" if framed and material is None else "chunks"
        up, down = (
            Direction(
                self._fabric,
                key,
                conn_id,
                random.Random(f"reflog.net/{self._seed}/{link}/{index}/{key}"),
                mode=mode,
                max_frame_size=self._max_frame_size,
            )
            for key in (link, link.reverse())
        )
        client = SimStream(local=src, remote=dst, conn_id=conn_id, outbound=up, inbound=down)
        server = SimStream(local=dst, remote=src, conn_id=conn_id, outbound=down, inbound=up)
        connection = Connection(conn_id, client, server, up, down)
        self._connections[conn_id] = connection
        for direction in connection.directions:
            direction.on_finished = self._direction_finished
            nursery.start_soon(direction.pump, name=f"reflog.net pump #{conn_id} {direction.link}")
        self._emit("connect", link, conn_id)
        self._listeners[dst]._enqueue(server, material)
        if material is None:
            return client
        context = material.client_context() if ssl_context is None else ssl_context
        return TlsStream(client, context, server_side=False, stats=self._tls.stats(src, "client"))

    def connections(self, node: str | None = None) -> list[SimStream]:
        """Client ends of the live connections (those touching ``node`` when given), by id.

        These are the simulated transport ends, also for TLS connections (whose records they carry).
        """
        return [c.client for c in self._connections.values() if node is None or node in c.nodes]

    # ---- cuts ------------------------------------------------------------------------------

    def partition(self, groups: Iterable[Set[str]]) -> None:
        """Cut both ways between nodes of different groups (nodes in no group are unaffected).

        Cuts add up until :meth:`heal`. Frames in flight on newly cut links vanish.
        """
        self._topology.partition(groups)
        self._purge_cut_links()

    def isolate(self, node: str) -> None:
        """Cut ``node`` from every other node, both ways, until :meth:`heal`."""
        self._topology.isolate(node)
        self._purge_cut_links()

    def block(self, src: str, dst: str) -> None:
        """Cut only ``src -> dst`` (a one-way partition) until :meth:`heal`."""
        self._topology.block(src, dst)
        self._purge_cut_links()

    def heal(self) -> None:
        """Remove every partition, isolation and block (down nodes stay down)."""
        self._topology.heal()

    def is_cut(self, src: str, dst: str) -> bool:
        """True when frames from ``src`` to ``dst`` are blackholed."""
        return self._topology.is_cut(LinkKey(src, dst))

    # ---- link faults -------------------------------------------------------------------

    def set_link_faults(
        self,
        src: str,
        dst: str,
        *,
        drop: float = 0.0,
        delay: Delay = 0.0,
        duplicate: float = 0.0,
        reorder: bool = False,
    ) -> None:
        """Replace the standing fault policy of the link ``src -> dst`` (see :class:`LinkFaults`).

        It applies to frames that enter the link from now on; frames already in flight keep
        their fate. Raises :class:`~reflog.errors.ReflogUsageError` for invalid values.
        """
        faults = LinkFaults(drop=drop, delay=delay, duplicate=duplicate, reorder=reorder)
        self._link_faults.set(LinkKey(src, dst), faults)

    def link_faults(self, src: str, dst: str) -> LinkFaults:
        """The standing fault policy of ``src -> dst``."""
        return self._link_faults.get(LinkKey(src, dst))

    def drop_next(self, src: str, dst: str, n: int) -> None:
        """Lose exactly the next ``n`` frames that enter ``src -> dst`` (replacing any budget left)."""
        self._link_faults.drop_next(LinkKey(src, dst), n)

    def clear_faults(self) -> None:
        """Remove every link fault policy and drop budget (cuts stay: see :meth:`heal`)."""
        self._link_faults.clear()

    # ---- process death -----------------------------------------------------------------

    def take_down(self, node: str) -> None:
        """``node``'s process died: close its listener, reset its connections, refuse new ones."""
        self._topology.take_down(node)
        listener = self._listeners.get(node)
        if listener is not None:
            listener.close()
        for conn_id, connection in list(self._connections.items()):
            if node in connection.nodes:
                self._reset_connection(conn_id)

    def bring_up(self, node: str) -> None:
        """``node`` is back (it must :meth:`listen` again to accept connections)."""
        self._topology.bring_up(node)

    def is_down(self, node: str) -> bool:
        """True while ``node`` is down."""
        return self._topology.is_down(node)

    # ---- TLS listeners -----------------------------------------------------------------

    @property
    def tls_material(self) -> TlsMaterial:
        """The network's default :class:`~reflog.net.tls.TlsMaterial` (created on first use)."""
        return self._tls.material

    def enable_tls(self, node: str, material: TlsMaterial | None = None) -> None:
        """Switch ``node``'s listener to TLS with ``material``'s certificates (default :attr:`tls_material`).

        From now on every connection to ``node`` is TLS at both ends (see :meth:`connect`
        and :meth:`SimListener.accept`). Every existing connection to ``node``'s listener,
        accepted or still queued, is reset (as when a listener is reconfigured and
        restarted), so clients reconnect and get TLS; ``node``'s own outgoing connections
        are untouched. The setting belongs to the node, not to one listener: it survives
        :meth:`take_down` / :meth:`listen` until :meth:`disable_tls`. Enabling again with
        the same material changes nothing; with another material it resets the connections
        again. The server certificate for ``node`` is issued now, so a node name no
        certificate can carry raises :class:`~reflog.errors.ReflogUsageError` here (and
        nothing changes).
        """
        if self._tls.enable(node, material):
            self._reset_listener_connections(node)

    def disable_tls(self, node: str) -> None:
        """Switch ``node``'s listener back to plaintext: its TLS connections are reset (no-op if not TLS)."""
        if self._tls.disable(node):
            self._reset_listener_connections(node)

    def tls_enabled(self, node: str) -> bool:
        """True while ``node``'s listener is a TLS listener."""
        return self._tls.material_of(node) is not None

    def tls_stats(self, node: str, *, side: TlsSide = "server") -> TlsStats:
        """The live TLS counters of ``node`` (zeros if none): its listener's side, or with
        ``side="client"`` its connections to TLS listeners. They accumulate across switches."""
        return self._tls.stats(node, side)

    # ---- counters ----------------------------------------------------------------------

    def link_stats(self, src: str, dst: str) -> LinkStats:
        """The live counters of ``src -> dst`` (zeros for a link never used)."""
        return self._fabric.stats_for(LinkKey(src, dst))

    @property
    def stats(self) -> Mapping[LinkKey, LinkStats]:
        """Counters of every link used so far."""
        return dict(self._stats)

    # ---- internals ---------------------------------------------------------------------

    def _emit(self, kind: EventKind, link: LinkKey, conn: int, size: int = 0) -> None:
        if self._observer is not None:
            self._observer(NetEvent(trio.current_time(), kind, link, conn, size))

    def _refusal(self, link: LinkKey) -> str | None:
        topology = self._topology
        if topology.is_down(link.src):
            return f"{link.src!r} is down"
        if topology.is_down(link.dst):
            return f"{link.dst!r} is down"
        if link.dst not in self._listeners:
            return f"{link.dst!r} is not listening"
        if topology.is_cut(link) or topology.is_cut(link.reverse()):
            return "the link is cut"
        return None

    def _purge_cut_links(self) -> None:
        for connection in self._connections.values():
            for direction in connection.directions:
                direction.purge_in_flight()

    def _reset_connection(self, conn_id: int) -> None:
        connection = self._connections.get(conn_id)
        if connection is None:
            return
        first = connection.directions[0]
        self._emit("reset", first.link, conn_id)
        connection.reset()

    def _reset_listener_connections(self, node: str) -> None:
        for conn_id, connection in list(self._connections.items()):
            if connection.nodes[1] == node:
                self._reset_connection(conn_id)

    def _direction_finished(self, direction: Direction) -> None:
        connection = self._connections.get(direction.conn_id)
        if connection is not None and connection.finished:
            del self._connections[direction.conn_id]

    def _listener_closed(self, listener: SimListener) -> None:
        if self._listeners.get(listener.node) is listener:
            del self._listeners[listener.node]


@final
class _Fabric:
    """The :class:`~reflog.net._pipe.Fabric` a network gives its pumps and the
    :class:`~reflog.net._listener.ListenerHost` it gives its listeners (kept off the public API)."""

    def __init__(self, network: SimNetwork) -> None:
        self._network = network

    def faults_for(self, link: LinkKey) -> LinkFaults:
        return self._network._link_faults.get(link)

    def take_drop_next(self, link: LinkKey) -> bool:
        return self._network._link_faults.take_drop_next(link)

    def is_cut_link(self, link: LinkKey) -> bool:
        return self._network._topology.is_cut(link)

    def stats_for(self, link: LinkKey) -> LinkStats:
        stats = self._network._stats.get(link)
        if stats is None:
            stats = self._network._stats[link] = LinkStats()
        return stats

    def emit(self, kind: EventKind, link: LinkKey, conn: int, size: int = 0) -> None:
        self._network._emit(kind, link, conn, size)

    # The ListenerHost a network gives its listeners.

    def wrap_server(self, stream: SimStream, material: TlsMaterial) -> TlsStream:
        return self._network._tls.wrap_server(stream, material)

    def reset_connection(self, conn_id: int) -> None:
        self._network._reset_connection(conn_id)

    def listener_closed(self, listener: SimListener) -> None:
        self._network._listener_closed(listener)
