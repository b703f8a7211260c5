"""How a Fetch response's records leave the broker: zero-copy, copy, or TLS (PERF-1..PERF-4).

Kafka's on-disk format is its wire format, so the records of a Fetch response are a slice of a
segment file sent as they are. A response is encoded once with a 16-byte *placeholder* where
each partition's records go; the encoded bytes are then split (:func:`split_payloads`)
around the placeholders into *parts*: small framing byte strings and, between them, the payloads
themselves. A :class:`Sender` writes the parts in order, each path in its own way:

* **zero-copy** (:class:`ZeroCopySender`): framing goes out with ``sendmsg``; a region of a real
  segment file goes out with ``os.sendfile`` from the kernel's page cache to the socket; a region
  of the simulated page cache goes out as views of its pages in one ``sendmsg`` (the kernel
  copies them, reflog does not). The region was verified in place beforehand
  (:meth:`reflog.log.Log.read` with ``in_place``): only batch headers were copied.
* **copy** (:class:`CopySender`): the region, verified in place like the zero-copy one, is read
  chunk by chunk (``pread``, :data:`COPY_CHUNK`) into the connection's small reused buffer and
  each chunk is sent with ``sendmsg`` while it is still in the CPU cache (the framing rides with
  the first chunk).
* **TLS** (:class:`TlsSender`): the same chunked reads (:data:`TLS_CHUNK`), each handed to the
  ``ssl`` module, which copies it into OpenSSL and encrypts it; the ciphertext goes out with
  ``send``.
  Zero-copy is impossible over user-space TLS, as in Kafka (KAFKA-13799).

Every path counts, per listener, the payload bytes it copies through user space and the system
calls it makes (:class:`TransferMetrics`); ``reflog serve`` and ``reflog bench`` report them.

Failure modes: a socket error raises ``OSError``/``trio.BrokenResourceError`` out of
:meth:`Sender.send` (the caller closes the connection); a region that shrank while being sent
(the log was truncated under it) raises :class:`TruncatedRegionError`, and the caller must close
the connection, since the response's length prefix has already gone out.
"""

from __future__ import annotations

import abc
import enum
import errno
import os
import socket
import struct
from collections import Counter
from collections.abc import Iterator, Sequence
from typing import Final

import attrs
import trio

from reflog.errors import ReflogError
from reflog.log import FileRegion
from reflog.storage import Filesystem, OsFilesystem

#: Bytes of a placeholder; it starts with two bytes no topic name can hold.
PLACEHOLDER_SIZE: Final = 16
_SIZE: Final = struct.Struct(">i")
#: Largest single ``os.sendfile`` call (Linux caps one call near 2 GiB anyway).
_SENDFILE_CHUNK: Final = 1 << 30
#: Bytes the copy path reads and sends at a time: the chunk stays in the CPU's L2 cache between
#: the read and the kernel's copy into the socket.
COPY_CHUNK: Final = 256 * 1024
#: Plaintext the TLS path reads and hands to ``ssl`` at a time: cache-resident like the copy
#: path's chunks (1 MiB chunks measured no better on this machine, 64 KiB ones a third worse).
TLS_CHUNK: Final = 256 * 1024


class TransferMode(enum.Enum):
    """The transfer path of a listener."""

    ZERO_COPY = "zero-copy"
    COPY = "copy"
    TLS = "tls"


class TruncatedRegionError(ReflogError):
    """A segment region ended early while being sent (the file shrank under the fetch)."""


@attrs.define
class TransferMetrics:
    """What one listener's responses cost, by transfer path.

    ``responses`` counts every response the listener sent; ``payload_bytes`` counts the record
    bytes of Fetch responses; ``payload_bytes_copied`` counts every copy of a
    record byte made in reflog's process (a read into a buffer, a copy into OpenSSL), so it is
    0 for zero-copy, ``payload_bytes`` for copy and at least that for TLS.
    ``header_bytes_copied`` counts batch headers copied out to verify a region in place.
    ``syscalls`` counts the system calls the path made, by name (``sendfile``, ``sendmsg``,
    ``send``, ``pread``); simulated storage makes none for reads.
    """

    mode: TransferMode
    responses: int = 0
    payload_bytes: int = 0
    payload_bytes_copied: int = 0
    header_bytes_copied: int = 0
    framing_bytes: int = 0
    syscalls: Counter[str] = attrs.field(factory=Counter)

    def as_dict(self) -> dict[str, str | int | dict[str, int]]:
        """The metrics as plain values, under Kafka-style dashed names."""
        return {
            "transfer-mode": self.mode.value,
            "responses": self.responses,
            "payload-bytes-sent": self.payload_bytes,
            "payload-bytes-copied": self.payload_bytes_copied,
            "header-bytes-copied": self.header_bytes_copied,
            "framing-bytes-sent": self.framing_bytes,
            "syscalls": dict(sorted(self.syscalls.items())),
        }


# ====================================================================================== encoding
Part = bytes | memoryview | FileRegion


class PlaceholderError(ReflogError):
    """A placeholder was not found exactly once in an encoded response (a bug, not bad input)."""


def placeholder(index: int, salt: bytes) -> bytes:
    """The ``index``-th placeholder of a response: ``\\xff\\x00``, 6 salt bytes, the index."""
    return b"\xff\x00" + salt[:6] + index.to_bytes(8, "big")


def split_payloads(encoded: bytes, payloads: dict[bytes, Part], *, compact: bool = False) -> list[Part]:
    """``encoded`` cut around each placeholder, whose length-prefixed slot takes its payload.

    A placeholder stands where a records field was encoded: ``NULLABLE_BYTES`` (``int32``
    length, then bytes) below an API's flexible versions, ``COMPACT_RECORDS`` (unsigned varint
    of length + 1, KIP-482) when ``compact``; the prefix is replaced by the payload's. Raises
    :class:`PlaceholderError` unless each placeholder occurs exactly once after its prefix.
    """
    found: list[tuple[int, int, bytes]] = []
    for token in payloads:
        at = encoded.find(token)
        expected = _compact_size(len(token)) if compact else _SIZE.pack(len(token))
        width = len(expected)
        if at < width or encoded.find(token, at + 1) != -1 or encoded[at - width : at] != expected:
            raise PlaceholderError(f"placeholder {token.hex()} not found exactly once")
        found.append((at, width, token))
    found.sort()
    parts: list[Part] = []
    cursor = 0
    for at, width, token in found:
        payload = payloads[token]
        size = part_size(payload)
        parts.append(encoded[cursor : at - width] + (_compact_size(size) if compact else _SIZE.pack(size)))
        parts.append(payload)
        cursor = at + len(token)
    parts.append(encoded[cursor:])
    return parts


def _compact_size(length: int) -> bytes:
    """The ``COMPACT_*`` length prefix of ``length`` bytes: unsigned varint of ``length + 1``."""
    value = length + 1
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def part_size(part: Part) -> int:
    if isinstance(part, FileRegion):
        return part.length
    return memoryview(part).nbytes


def frame_parts(correlation_id: int, parts: list[Part], *, flexible: bool = False) -> list[Part]:
    """Prefix the frame size and the response header to ``parts``.

    Response header v0 is the correlation id; v1 (``flexible``, KIP-482) adds an empty
    tagged-field section (one zero byte).
    """
    header = struct.pack(">i", correlation_id) + (b"\x00" if flexible else b"")
    total = len(header) + sum(part_size(p) for p in parts)
    head = struct.pack(">i", total) + header
    if parts and not isinstance(parts[0], FileRegion):
        return [head + bytes(parts[0]), *parts[1:]]
    return [head, *parts]


# ====================================================================================== sending
class Sender(abc.ABC):
    """Writes the parts of one response to a client connection, counting its copies."""

    def __init__(self, stream: trio.abc.Stream, metrics: TransferMetrics) -> None:
        self.stream = stream
        self.metrics = metrics

    @abc.abstractmethod
    async def send(self, parts: Sequence[Part]) -> None:
        """Write ``parts`` in order; see the module docstring for each path's failure modes."""

    def _count_response(self, parts: Sequence[Part], payloads: int) -> None:
        self.metrics.responses += 1
        total = sum(part_size(p) for p in parts)
        self.metrics.payload_bytes += payloads
        self.metrics.framing_bytes += total - payloads


def _payload_bytes(parts: Sequence[Part]) -> int:
    # Framing parts alternate with payloads: parts[1], parts[3], ... are payloads.
    return sum(part_size(p) for p in parts[1::2])


class _SocketSender(Sender):
    """Shared by zero-copy and copy: gathered ``sendmsg`` on the raw trio socket."""

    def __init__(self, stream: trio.SocketStream, metrics: TransferMetrics) -> None:
        super().__init__(stream, metrics)
        self.socket = raw_socket(stream)

    async def _sendmsg(self, buffers: list[memoryview]) -> None:
        # No MSG_MORE on framing: corking it in front of a sendfile stalled each response by up
        # to the kernel's 200 ms cork timeout on loopback (measured: 92 against 1,062 MiB/s).
        pending = [b for b in buffers if b.nbytes]
        while pending:
            try:
                sent = self.socket.sendmsg(pending)  # one system call
            except BlockingIOError:
                await trio.lowlevel.wait_writable(self.socket)
                continue
            finally:
                self.metrics.syscalls["sendmsg"] += 1
            await trio.lowlevel.checkpoint_if_cancelled()
            while sent and pending:
                head = pending[0]
                if sent >= head.nbytes:
                    sent -= head.nbytes
                    pending.pop(0)
                else:
                    pending[0] = head[sent:]
                    sent = 0


class ZeroCopySender(_SocketSender):
    """Framing by ``sendmsg``; segment regions by ``os.sendfile`` (or page views in simulation)."""

    async def send(self, parts: Sequence[Part]) -> None:
        self._count_response(parts, _payload_bytes(parts))
        pending: list[memoryview] = []
        for part in parts:
            if not isinstance(part, FileRegion):
                pending.append(memoryview(part))
                continue
            fd = part.fs.sendfile_fd(part.handle)
            if fd is None:
                with part.fs.read_views(part.handle, part.position, part.length) as views:
                    if sum(v.nbytes for v in views) != part.length:
                        raise TruncatedRegionError(f"region of {part.length} bytes shrank")
                    await self._sendmsg([*pending, *views])
                pending = []
                continue
            if pending:
                await self._sendmsg(pending)
                pending = []
            await self._sendfile(fd, part)
        if pending:
            await self._sendmsg(pending)

    async def _sendfile(self, fd: int, region: FileRegion) -> None:
        out = self.socket.fileno()
        offset, remaining = region.position, region.length
        while remaining:
            try:
                n = os.sendfile(out, fd, offset, min(remaining, _SENDFILE_CHUNK))
            except BlockingIOError:
                await trio.lowlevel.wait_writable(self.socket)
                continue
            except OSError as exc:
                if exc.errno == errno.EINTR:
                    continue
                raise
            finally:
                self.metrics.syscalls["sendfile"] += 1
            if n == 0:
                raise TruncatedRegionError(f"segment ended {remaining} bytes early while sending a fetch")
            offset += n
            remaining -= n
            await trio.lowlevel.checkpoint_if_cancelled()


def _read_chunks(region: FileRegion, buffer: memoryview, metrics: TransferMetrics) -> Iterator[memoryview]:
    """The region's bytes, ``buffer.nbytes`` at a time, each read into ``buffer`` (one counted copy).

    Raises :class:`TruncatedRegionError` if the file ends before the region does.
    """
    position, remaining = region.position, region.length
    counts_syscalls = isinstance(region.fs, OsFilesystem)
    while remaining:
        n = region.fs.pread_into(region.handle, position, buffer[: min(remaining, buffer.nbytes)])
        if counts_syscalls:
            metrics.syscalls["pread"] += 1
        if n == 0:
            raise TruncatedRegionError(f"segment ended {remaining} bytes early while sending a fetch")
        metrics.payload_bytes_copied += n
        position += n
        remaining -= n
        yield buffer[:n]


class CopySender(_SocketSender):
    """Regions read chunk by chunk into a reused buffer, each chunk sent with ``sendmsg``."""

    def __init__(self, stream: trio.SocketStream, metrics: TransferMetrics) -> None:
        super().__init__(stream, metrics)
        #: The connection's reused chunk buffer: fresh multi-MiB buffers cost a page fault per
        #: 4 KiB (``../shared/reference/performance.md`` B0).
        self.buffer = memoryview(bytearray(COPY_CHUNK))

    async def send(self, parts: Sequence[Part]) -> None:
        self._count_response(parts, _payload_bytes(parts))
        pending: list[memoryview] = []
        for part in parts:
            if not isinstance(part, FileRegion):
                if part_size(part):
                    pending.append(memoryview(part))
                continue
            for chunk in _read_chunks(part, self.buffer, self.metrics):
                await self._sendmsg([*pending, chunk])
                pending = []
        if pending:
            await self._sendmsg(pending)


class TlsSender(Sender):
    """Regions read chunk by chunk, each chunk copied into ``ssl`` and encrypted, sent by ``send``.

    ``stream`` is a :class:`trio.SSLStream` whose transport is a :class:`CountingSocketStream`
    sharing this sender's metrics, so its ``send`` calls are counted.
    """

    def __init__(self, stream: trio.abc.Stream, metrics: TransferMetrics) -> None:
        super().__init__(stream, metrics)
        self.buffer = memoryview(bytearray(TLS_CHUNK))  # reused, as CopySender's

    async def send(self, parts: Sequence[Part]) -> None:
        self._count_response(parts, _payload_bytes(parts))
        for index, part in enumerate(parts):
            if not isinstance(part, FileRegion):
                if part_size(part):
                    if index % 2 == 1:  # records already in memory: ssl copies them
                        self.metrics.payload_bytes_copied += part_size(part)
                    await self.stream.send_all(part)
                continue
            for chunk in _read_chunks(part, self.buffer, self.metrics):
                self.metrics.payload_bytes_copied += chunk.nbytes  # ssl copies it into OpenSSL
                await self.stream.send_all(chunk)


class CountingSocketStream(trio.abc.HalfCloseableStream):
    """A socket stream whose ``send_all`` counts its ``send`` system calls (the TLS transport)."""

    def __init__(self, stream: trio.SocketStream, metrics: TransferMetrics) -> None:
        self.stream = stream
        self._socket = raw_socket(stream)
        self._metrics = metrics

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        view = memoryview(data)
        while view.nbytes:
            try:
                sent = self._socket.send(view)
            except BlockingIOError:
                await trio.lowlevel.wait_writable(self._socket)
                continue
            except OSError as exc:
                raise trio.BrokenResourceError(str(exc)) from exc
            finally:
                self._metrics.syscalls["send"] += 1
            view = view[sent:]
        await trio.lowlevel.checkpoint()

    async def wait_send_all_might_not_block(self) -> None:
        await self.stream.wait_send_all_might_not_block()

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        return await self.stream.receive_some(max_bytes)

    async def send_eof(self) -> None:
        await self.stream.send_eof()

    async def aclose(self) -> None:
        await self.stream.aclose()


def raw_socket(stream: trio.SocketStream) -> socket.socket:
    """The standard-library socket under a trio socket stream (non-blocking), to count syscalls.

    trio keeps it as the private ``_sock`` of its socket wrapper; raises :class:`TypeError` if a
    future trio moves it, rather than silently sending by another path.
    """
    sock = getattr(stream.socket, "_sock", None)
    if not isinstance(sock, socket.socket):
        raise TypeError("this trio version does not expose the socket under a SocketStream")
    return sock


def sender_for(stream: trio.abc.Stream, mode: TransferMode, metrics: TransferMetrics) -> Sender:
    """The sender of ``mode`` on ``stream`` (a socket stream, or an SSL stream for TLS)."""
    if mode is TransferMode.TLS:
        return TlsSender(stream, metrics)
    if not isinstance(stream, trio.SocketStream):
        raise TypeError(f"the {mode.value} path needs a socket stream, got {type(stream).__name__}")
    if mode is TransferMode.ZERO_COPY:
        return ZeroCopySender(stream, metrics)
    return CopySender(stream, metrics)


def count_storage_read(metrics: TransferMetrics, fs: Filesystem, copied: int) -> None:
    """Record that a fetch read ``copied`` record bytes into user space (copy and TLS paths)."""
    metrics.payload_bytes_copied += copied
    if isinstance(fs, OsFilesystem):
        metrics.syscalls["pread"] += 1


def count_in_place_check(metrics: TransferMetrics, header_bytes: int) -> None:
    """Record a region verified in place: the batch headers copied out to parse them.

    The reads go through a mapping the OS filesystem keeps per segment (counted there, as
    ``OsFilesystem.mappings``), so the check itself makes no system call.
    """
    metrics.header_bytes_copied += header_bytes


__all__ = [
    "PLACEHOLDER_SIZE",
    "COPY_CHUNK",
    "TLS_CHUNK",
    "CopySender",
    "CountingSocketStream",
    "Part",
    "PlaceholderError",
    "Sender",
    "TlsSender",
    "TransferMetrics",
    "TransferMode",
    "TruncatedRegionError",
    "ZeroCopySender",
    "count_in_place_check",
    "count_storage_read",
    "frame_parts",
    "placeholder",
    "sender_for",
    "split_payloads",
]
