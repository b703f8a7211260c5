"""Length-prefixed frames over any byte stream: Kafka's framing.

A frame is a signed 32-bit big-endian size followed by that many payload bytes, exactly
as every Kafka request and response travels over TCP. Three pieces:

* :func:`encode_frame` / :func:`send_frame`: build one frame and write it with a single
  ``send_all``;
* :class:`FrameDecoder`: the sans-IO parser (feed it bytes in any chunking, take whole
  payloads out); it checks the size prefix the moment its 4 bytes are present, before any
  payload is buffered;
* :class:`FrameReader`: reads frames from a :class:`trio.abc.ReceiveStream` with exact
  reads (never more than the current frame still needs, at most ``receive_size`` at a
  time), like Kafka's ``NetworkReceive``, so nothing beyond the current frame is ever
  buffered.

Errors are peer errors: :class:`~reflog.net.errors.FrameSizeError` for a negative or
oversized prefix, :class:`~reflog.net.errors.FrameTruncatedError` for EOF mid-frame. A
clean EOF between frames is not an error: :meth:`FrameReader.receive_frame` returns
``None``.
"""

from __future__ import annotations

import struct
from typing import Final

import trio

from reflog.errors import ReflogUsageError
from reflog.net.errors import FrameSizeError, FrameTruncatedError

#: Kafka's default ``socket.request.max.bytes`` (100 MiB).
DEFAULT_MAX_FRAME_SIZE: Final = 100 * 1024 * 1024
#: The largest size a signed 32-bit prefix can express.
MAX_INT32: Final = 2**31 - 1
#: Bytes in the size prefix.
HEADER_SIZE: Final = 4
#: Largest single ``receive_some`` a :class:`FrameReader` issues by default.
DEFAULT_RECEIVE_SIZE: Final = 64 * 1024

_HEADER: Final = struct.Struct(">i")

Buffer = bytes | bytearray | memoryview


def _check_max(max_frame_size: int) -> int:
    if not 0 <= max_frame_size <= MAX_INT32:
        raise ReflogUsageError(f"max_frame_size must be in [0, {MAX_INT32}], got {max_frame_size}")
    return max_frame_size


def encode_frame(payload: Buffer, *, max_frame_size: int = DEFAULT_MAX_FRAME_SIZE) -> bytes:
    """The frame carrying ``payload``: its 4-byte big-endian size, then the payload.

    Raises :class:`FrameSizeError` if the payload is longer than ``max_frame_size`` (the
    sender refuses what a receiver with the same limit would refuse).
    """
    size = len(payload)
    if size > _check_max(max_frame_size):
        raise FrameSizeError(f"frame of {size} bytes exceeds the maximum of {max_frame_size}")
    return _HEADER.pack(size) + bytes(payload)


async def send_frame(
    stream: trio.abc.SendStream, payload: Buffer, *, max_frame_size: int = DEFAULT_MAX_FRAME_SIZE
) -> None:
    """Write one frame to ``stream`` with a single ``send_all``.

    Raises :class:`FrameSizeError` (before writing anything) for an oversized payload, and
    whatever ``stream.send_all`` raises (``trio.BrokenResourceError``,
    ``trio.ClosedResourceError``, ``trio.BusyResourceError`` if another task is sending).

    Cancellation: as ``send_all``'s. For a general stream a cancelled send may have written
    part of the frame, so the stream must then be treated as broken; the simulated network's
    streams are atomic (a cancelled send writes nothing).
    """
    await stream.send_all(encode_frame(payload, max_frame_size=max_frame_size))


class FrameDecoder:
    """Sans-IO frame parser: :meth:`feed` bytes in any chunks, :meth:`next_frame` payloads out.

    The size prefix is validated as soon as its 4 bytes are buffered, before waiting for
    (or counting on) any payload, so a hostile prefix never makes the caller accumulate a
    huge buffer. After a :class:`FrameSizeError` the decoder is failed: every further
    :meth:`next_frame` raises the same kind of error; :meth:`take_raw` still hands out the
    unparsed bytes (the simulated network forwards them unchanged so that the receiver sees
    the violation too).
    """

    def __init__(self, *, max_frame_size: int = DEFAULT_MAX_FRAME_SIZE) -> None:
        self._max = _check_max(max_frame_size)
        self._buf = bytearray()
        self._pos = 0  # bytes of _buf already consumed
        self._failed: str | None = None

    @property
    def max_frame_size(self) -> int:
        """The largest payload this decoder accepts."""
        return self._max

    @property
    def buffered(self) -> int:
        """Bytes fed but not yet returned in a frame."""
        return len(self._buf) - self._pos

    @property
    def at_boundary(self) -> bool:
        """True when no partial frame is buffered (an EOF here is clean)."""
        return self.buffered == 0

    def bytes_needed(self) -> int:
        """How many more bytes complete the prefix or, once it is known, the current frame (>= 1).

        Raises :class:`FrameSizeError` if the buffered prefix is invalid.
        """
        have = self.buffered
        if have < HEADER_SIZE:
            return HEADER_SIZE - have
        size = self._frame_size()
        return max(1, HEADER_SIZE + size - have)

    def feed(self, data: Buffer) -> None:
        """Append received bytes (any chunking; empty is fine)."""
        if self._pos and self._pos * 2 >= len(self._buf):
            del self._buf[: self._pos]
            self._pos = 0
        self._buf += data

    def next_frame(self) -> bytes | None:
        """The next complete payload, or ``None`` if more bytes are needed.

        Raises :class:`FrameSizeError` when the next prefix is negative or above the maximum.
        """
        if self.buffered < HEADER_SIZE:
            if self._failed is not None:
                raise FrameSizeError(self._failed)
            return None
        size = self._frame_size()
        start = self._pos + HEADER_SIZE
        if len(self._buf) - start < size:
            return None
        payload = bytes(self._buf[start : start + size])
        self._pos = start + size
        return payload

    def take_raw(self) -> bytes:
        """Remove and return every buffered byte, parsed or not (prefix included)."""
        raw = bytes(self._buf[self._pos :])
        self._buf.clear()
        self._pos = 0
        return raw

    def check_eof(self) -> None:
        """Declare the end of input; raises :class:`FrameTruncatedError` if a frame is partial."""
        if not self.at_boundary:
            raise FrameTruncatedError(f"EOF in the middle of a frame ({self.buffered} bytes buffered)")

    def _frame_size(self) -> int:
        if self._failed is not None:
            raise FrameSizeError(self._failed)
        (size,) = _HEADER.unpack_from(self._buf, self._pos)
        if size < 0:
            self._failed = f"negative frame size {size}"
        elif size > self._max:
            self._failed = f"frame size {size} exceeds the maximum of {self._max}"
        if self._failed is not None:
            raise FrameSizeError(self._failed)
        return int(size)


class FrameReader:
    """Reads whole frames from a receive stream.

    Promise: each :meth:`receive_frame` returns exactly one payload, whatever chunking the
    stream delivers; nothing past the current frame is read from the stream, and no more
    than ``receive_size`` bytes are requested per call.

    Cancellation: safe. A cancelled :meth:`receive_frame` keeps the bytes it already read in
    the reader, and the next call resumes the same frame.
    """

    def __init__(
        self,
        stream: trio.abc.ReceiveStream,
        *,
        max_frame_size: int = DEFAULT_MAX_FRAME_SIZE,
        receive_size: int = DEFAULT_RECEIVE_SIZE,
    ) -> None:
        if receive_size < 1:
            raise ReflogUsageError(f"receive_size must be >= 1, got {receive_size}")
        self._stream = stream
        self._decoder = FrameDecoder(max_frame_size=max_frame_size)
        self._receive_size = receive_size

    @property
    def stream(self) -> trio.abc.ReceiveStream:
        """The stream frames are read from."""
        return self._stream

    async def receive_frame(self) -> bytes | None:
        """The next frame's payload, or ``None`` on a clean EOF between frames.

        Raises :class:`FrameSizeError` (oversized or negative prefix, raised before the
        payload is read), :class:`FrameTruncatedError` (EOF mid-frame), and whatever the
        stream's ``receive_some`` raises (``trio.BrokenResourceError``,
        ``trio.ClosedResourceError``). Frame errors leave the stream unusable: close it.
        """
        while True:
            frame = self._decoder.next_frame()
            if frame is not None:
                return frame
            want = min(self._decoder.bytes_needed(), self._receive_size)
            data = await self._stream.receive_some(want)
            if not data:
                self._decoder.check_eof()
                return None
            self._decoder.feed(data)
