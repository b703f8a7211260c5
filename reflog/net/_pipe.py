"""One simulated connection: two :class:`Direction` pipes with their pumps, and two :class:`SimStream` ends.

Bytes a :class:`SimStream` sends go into its outbound :class:`Direction`, which cuts them
into frames with the framing decoder and, as each frame enters the link (when its last byte
is sent), applies the link's current policy to it (blackhole, drop, delay, duplicate),
keeping the survivors in a schedule ordered by delivery time. The direction's pump task
(running in the network's nursery) sleeps until the next delivery time and appends the
frame's bytes to the receiving end's buffer, which the receiving :class:`SimStream` reads.

Connection teardown:

* ``aclose`` / ``send_eof`` on one end is a FIN: frames already sent are still delivered
  (with their faults), then the peer reads EOF. ``aclose`` also closes the receiving side:
  what the peer sends afterwards raises ``trio.BrokenResourceError`` in the peer (TCP's RST).
  The FIN itself is not subject to faults.
* :meth:`Connection.reset` (node down, listener closed with pending connections, network
  stopped): frames in flight vanish, both ends read what was already delivered and then
  EOF, and every send raises ``trio.BrokenResourceError``.
"""

from __future__ import annotations

import heapq
import math
import operator
import random
from collections.abc import Callable
from types import TracebackType
from typing import Literal, Protocol, final

import trio

from reflog.net._links import EventKind, LinkFaults, LinkKey, LinkStats
from reflog.net.errors import FrameSizeError
from reflog.net.framing import FrameDecoder, encode_frame

#: How a direction cuts bytes into units for faults: Kafka frames, ``send_all`` chunks
#: (an unframed connection), or raw bytes forwarded without faults after a framing violation.
Mode = Literal["frames", "chunks", "passthrough"]


class Fabric(Protocol):
    """What a direction needs from its network: policies, cuts, counters, the trace."""

    def faults_for(self, link: LinkKey) -> LinkFaults:
        """The link's current standing fault policy."""
        ...

    def take_drop_next(self, link: LinkKey) -> bool:
        """Consume one frame of the link's "drop the next n frames" budget, if any is left."""
        ...

    def is_cut_link(self, link: LinkKey) -> bool:
        """True when the link is blackholed by a partition, isolation or block."""
        ...

    def stats_for(self, link: LinkKey) -> LinkStats:
        """The link's counters."""
        ...

    def emit(self, kind: EventKind, link: LinkKey, conn: int, size: int = 0) -> None:
        """Record a trace event."""
        ...


class _Conflict:
    """Raises ``trio.BusyResourceError`` when two tasks use the same side of a stream at once."""

    def __init__(self, message: str) -> None:
        self._message = message
        self._held = False

    def __enter__(self) -> None:
        if self._held:
            raise trio.BusyResourceError(self._message)
        self._held = True

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._held = False


# A scheduled unit: (due time, tie-break sequence, bytes, payload size or -1 when not a counted frame).
_Unit = tuple[float, int, bytes, int]


class Direction:
    """One direction of a connection: the sender's queue, the frames in flight, the receiver's buffer."""

    def __init__(
        self,
        fabric: Fabric,
        link: LinkKey,
        conn_id: int,
        rng: random.Random,
        *,
        mode: Mode,
        max_frame_size: int,
    ) -> None:
        self.link = link
        self.conn_id = conn_id
        self._fabric = fabric
        self._rng = rng
        self._mode: Mode = mode
        self._decoder = FrameDecoder(max_frame_size=max_frame_size)
        # sender side
        self._fin = False
        # in flight
        self._schedule: list[_Unit] = []
        self._seq = 0
        self._last_due = -math.inf
        # receiver side
        self._inbox = bytearray()
        self._eof = False
        self._receiver_closed = False
        self._reset = False
        self._pump_lot = trio.lowlevel.ParkingLot()
        self._reader_lot = trio.lowlevel.ParkingLot()
        #: Called once when the pump task ends.
        self.on_finished: Callable[[Direction], None] | None = None
        self.finished = False

    # ---- sender side -------------------------------------------------------------------

    @property
    def shut(self) -> bool:
        """True once the sender shut down its side (``send_eof`` or ``aclose``)."""
        return self._fin

    @property
    def broken(self) -> bool:
        """True when sending is pointless: the receiver closed or the connection was reset."""
        return self._receiver_closed or self._reset

    def push(self, data: bytes) -> None:
        """Take bytes from ``send_all`` into the link: cut them into frames and decide each frame's fate now.

        A frame enters the link when its last byte is sent, and its fate (blackhole, drop,
        delay, duplicate) is decided then, with the link's policy current at that moment.
        """
        self._intake(trio.current_time(), data)
        self._pump_lot.unpark_all()

    def shutdown(self) -> None:
        """The sender is done (FIN): deliver what is in flight, then EOF."""
        if not self._fin and not self.broken and self._mode == "frames" and not self._decoder.at_boundary:
            # A partial frame at FIN: forward it, so the receiver sees EOF mid-frame.
            self._schedule_unit(trio.current_time(), self._decoder.take_raw(), -1)
        self._fin = True
        self._pump_lot.unpark_all()

    # ---- receiver side -----------------------------------------------------------------

    def readable(self) -> bool:
        """True when a read would not block (data buffered, or EOF reached)."""
        return bool(self._inbox) or self._eof

    def read(self, max_bytes: int | None) -> bytes:
        """Take up to ``max_bytes`` delivered bytes (``b""`` at EOF)."""
        if max_bytes is None:
            max_bytes = len(self._inbox)
        chunk = bytes(self._inbox[:max_bytes])
        del self._inbox[:max_bytes]
        return chunk

    async def wait_readable(self) -> None:
        """Block until something is delivered, EOF, or the reading end closes (cancellable)."""
        await self._reader_lot.park()

    def close_receiver(self) -> None:
        """The receiving end closed: discard everything not yet read; the sender's sends now break."""
        self._receiver_closed = True
        self._discard_in_flight()
        self._inbox.clear()
        self._pump_lot.unpark_all()
        self._reader_lot.unpark_all()

    # ---- network side ------------------------------------------------------------------

    def reset(self) -> None:
        """Tear down: in-flight frames vanish; the receiver reads what it has, then EOF."""
        if self._reset:
            return
        self._reset = True
        self._eof = True
        self._discard_in_flight()
        self._pump_lot.unpark_all()
        self._reader_lot.unpark_all()

    def purge_in_flight(self) -> None:
        """Blackhole every frame in flight, if the link is now cut (called when a partition starts)."""
        if not self._fabric.is_cut_link(self.link):
            return
        for _, _, _, size in self._schedule:
            if size >= 0:
                self._count_blackhole(size)
        self._schedule.clear()

    async def pump(self) -> None:
        """Deliver scheduled frames at their due times, then EOF after a FIN; ends at EOF or teardown.

        Runs in the network's nursery. Cancellation (stopping the network) ends it and
        resets this direction, so no reader or sender waits on a pump that is gone.
        """
        try:
            while not self.broken:
                self._deliver_due(trio.current_time())
                if self._fin and not self._schedule:
                    self._eof = True
                    self._fabric.emit("eof", self.link, self.conn_id)
                    self._reader_lot.unpark_all()
                    return
                deadline = self._schedule[0][0] if self._schedule else math.inf
                with trio.move_on_at(deadline):
                    await self._pump_lot.park()
        finally:
            if not self._eof:
                self.reset()  # cancelled (network stopped): never leave a reader waiting on a dead pump
            self.finished = True
            if self.on_finished is not None:
                self.on_finished(self)

    # ---- internals ---------------------------------------------------------------------

    def _discard_in_flight(self) -> None:
        self._schedule.clear()
        self._decoder.take_raw()

    def _intake(self, sent_at: float, data: bytes) -> None:
        if self._mode == "chunks":
            self._admit(sent_at, data, len(data))
            return
        if self._mode == "passthrough":
            self._schedule_unit(sent_at, data, -1)
            return
        self._decoder.feed(data)
        try:
            while (payload := self._decoder.next_frame()) is not None:
                frame = encode_frame(payload, max_frame_size=self._decoder.max_frame_size)
                self._admit(sent_at, frame, len(payload))
        except FrameSizeError:
            # Not our job to judge: forward the rest unchanged so the receiver's framing sees it.
            self._mode = "passthrough"
            self._schedule_unit(sent_at, self._decoder.take_raw(), -1)

    def _admit(self, sent_at: float, data: bytes, size: int) -> None:
        fabric, link = self._fabric, self.link
        stats = fabric.stats_for(link)
        stats.sent += 1
        fabric.emit("send", link, self.conn_id, size)
        if fabric.is_cut_link(link):
            self._count_blackhole(size)
            return
        faults = fabric.faults_for(link)
        if fabric.take_drop_next(link) or (faults.drop > 0 and self._rng.random() < faults.drop):
            stats.dropped += 1
            fabric.emit("drop", link, self.conn_id, size)
            return
        due = sent_at + faults.sample_delay(self._rng)
        if not faults.reorder:
            due = max(due, self._last_due)
        if due > sent_at:
            stats.delayed += 1
        self._push_unit(due, data, size)
        if faults.duplicate > 0 and self._rng.random() < faults.duplicate:
            stats.duplicated += 1
            fabric.emit("duplicate", link, self.conn_id, size)
            self._push_unit(due, data, size)

    def _schedule_unit(self, sent_at: float, data: bytes, size: int) -> None:
        if data:
            self._push_unit(max(sent_at, self._last_due), data, size)

    def _push_unit(self, due: float, data: bytes, size: int) -> None:
        self._last_due = max(self._last_due, due)
        self._seq += 1
        heapq.heappush(self._schedule, (due, self._seq, data, size))

    def _deliver_due(self, now: float) -> None:
        delivered = False
        while self._schedule and self._schedule[0][0] <= now:
            _, _, data, size = heapq.heappop(self._schedule)
            if self._fabric.is_cut_link(self.link):
                if size >= 0:
                    self._count_blackhole(size)
                continue
            self._inbox += data
            delivered = True
            if size >= 0:
                self._fabric.stats_for(self.link).delivered += 1
                self._fabric.emit("deliver", self.link, self.conn_id, size)
        if delivered:
            self._reader_lot.unpark_all()

    def _count_blackhole(self, size: int) -> None:
        stats = self._fabric.stats_for(self.link)
        stats.dropped += 1
        stats.blackholed += 1
        self._fabric.emit("blackhole", self.link, self.conn_id, size)


@final
class SimStream(trio.abc.HalfCloseableStream):
    """One end of a simulated connection: a :class:`trio.abc.HalfCloseableStream` with unbounded buffers.

    * ``send_all`` never blocks (no flow control is modelled) and is atomic under
      cancellation: a cancelled call sent nothing, a call that returned queued every byte.
      It raises ``trio.ClosedResourceError`` after this end's ``aclose``/``send_eof``, and
      ``trio.BrokenResourceError`` once the peer closed or the connection was reset.
    * ``receive_some`` returns delivered bytes (never more than ``max_bytes``), ``b""`` at
      EOF (peer's FIN, or reset after the delivered bytes are read), raises
      ``trio.ClosedResourceError`` after this end's ``aclose`` (also waking a blocked reader).
      Cancelling it loses no bytes.
    * Concurrent use of one side by two tasks raises ``trio.BusyResourceError``.
    """

    def __init__(
        self, *, local: str, remote: str, conn_id: int, outbound: Direction, inbound: Direction
    ) -> None:
        self._local = local
        self._remote = remote
        self._conn_id = conn_id
        self._out = outbound
        self._in = inbound
        self._closed = False
        self._send_conflict = _Conflict("another task is sending on this stream")
        self._receive_conflict = _Conflict("another task is receiving on this stream")

    @property
    def local(self) -> str:
        """The node this end belongs to."""
        return self._local

    @property
    def remote(self) -> str:
        """The node at the other end."""
        return self._remote

    @property
    def conn_id(self) -> int:
        """The connection's id (shared by both ends, unique within the network)."""
        return self._conn_id

    def _check_send(self) -> None:
        if self._closed or self._out.shut:
            raise trio.ClosedResourceError("this end of the connection is closed for sending")
        if self._out.broken:
            raise trio.BrokenResourceError("connection reset or closed by the peer")

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        with self._send_conflict:
            await trio.lowlevel.checkpoint_if_cancelled()
            self._check_send()
            if data:
                self._out.push(bytes(data))
            await trio.lowlevel.cancel_shielded_checkpoint()

    async def wait_send_all_might_not_block(self) -> None:
        with self._send_conflict:
            await trio.lowlevel.checkpoint_if_cancelled()
            self._check_send()
            await trio.lowlevel.cancel_shielded_checkpoint()

    async def send_eof(self) -> None:
        with self._send_conflict:
            await trio.lowlevel.checkpoint_if_cancelled()
            if self._closed:
                raise trio.ClosedResourceError("this end of the connection is closed")
            self._out.shutdown()
            await trio.lowlevel.cancel_shielded_checkpoint()

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        if max_bytes is not None:
            max_bytes = operator.index(max_bytes)
            if max_bytes < 1:
                raise ValueError("max_bytes must be >= 1")
        with self._receive_conflict:
            await trio.lowlevel.checkpoint()
            while True:
                if self._closed:
                    raise trio.ClosedResourceError("this end of the connection is closed")
                if self._in.readable():
                    return self._in.read(max_bytes)
                await self._in.wait_readable()

    async def aclose(self) -> None:
        """Close this end (FIN out, RST in); idempotent. Cancellation: still closes, then raises."""
        if not self._closed:
            self._closed = True
            self._out.shutdown()
            self._in.close_receiver()
        await trio.lowlevel.checkpoint()

    def __repr__(self) -> str:
        return (
            f"<SimStream #{self._conn_id} {self._local}->{self._remote}{' closed' if self._closed else ''}>"
        )


@final
class Connection:
    """Both directions and both ends of one simulated connection."""

    def __init__(
        self, conn_id: int, client: SimStream, server: SimStream, up: Direction, down: Direction
    ) -> None:
        self.conn_id = conn_id
        self.client = client
        self.server = server
        self.directions = (up, down)

    @property
    def nodes(self) -> tuple[str, str]:
        """(connecting node, accepting node)."""
        return (self.client.local, self.server.local)

    @property
    def finished(self) -> bool:
        """True when both pumps have ended."""
        return all(d.finished for d in self.directions)

    def reset(self) -> None:
        """Tear the connection down at once (see the module docstring)."""
        for direction in self.directions:
            direction.reset()
