"""Length-prefixed framing: round trips, every error path, arbitrary chunking, cancellation."""

from __future__ import annotations

import struct

import pytest
import trio
import trio.testing
from hypothesis import given
from hypothesis import strategies as st
from trio.testing import MockClock

from reflog.errors import ReflogError, ReflogUsageError
from reflog.net.errors import FrameError, FrameSizeError, FrameTruncatedError
from reflog.net.framing import (
    DEFAULT_MAX_FRAME_SIZE,
    FrameDecoder,
    FrameReader,
    encode_frame,
    send_frame,
)


class ChunkedStream(trio.abc.ReceiveStream):
    """Serves fixed bytes in chunks of the given sizes (cut further by ``max_bytes``), then EOF.

    Records each ``max_bytes`` it was asked for, to check the reader never over-reads.
    """

    def __init__(self, data: bytes, chunks: list[int]) -> None:
        self._data = data
        self._chunks = [c for c in chunks if c > 0]
        self.requests: list[int | None] = []

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        await trio.lowlevel.checkpoint()
        self.requests.append(max_bytes)
        size = self._chunks.pop(0) if self._chunks else len(self._data)
        if max_bytes is not None:
            size = min(size, max_bytes)
        chunk, self._data = self._data[:size], self._data[size:]
        return chunk

    async def aclose(self) -> None:
        await trio.lowlevel.checkpoint()


@pytest.mark.req("NET-1")
def test_encode_frame_is_int32_big_endian_size_then_payload() -> None:
    assert encode_frame(b"abc") == b"\x00\x00\x00\x03abc"
    assert encode_frame(b"") == b"\x00\x00\x00\x00"
    assert encode_frame(bytearray(b"x" * 300)) == b"\x00\x00\x01\x2c" + b"x" * 300


@pytest.mark.req("NET-1", "NET-3")
async def test_frames_round_trip_over_a_memory_stream_then_clean_eof(autojump_clock: MockClock) -> None:
    left, right = trio.testing.memory_stream_pair()
    payloads = [b"", b"a", b"hello world", bytes(range(256)) * 100]
    for payload in payloads:
        await send_frame(left, payload)
    await left.send_eof()
    reader = FrameReader(right)
    assert [await reader.receive_frame() for _ in payloads] == payloads
    assert await reader.receive_frame() is None
    assert await reader.receive_frame() is None  # EOF stays EOF


@pytest.mark.req("NET-2")
@pytest.mark.parametrize("size", [DEFAULT_MAX_FRAME_SIZE + 1, 2**31 - 1])
async def test_oversized_prefix_is_refused_before_any_payload_is_read(
    autojump_clock: MockClock, size: int
) -> None:
    # Only the prefix is ever sent: the reader must fail on it, not wait for (or buffer) a payload.
    left, right = trio.testing.memory_stream_pair()
    await left.send_all(struct.pack(">i", size))
    with trio.fail_after(1), pytest.raises(FrameSizeError, match="exceeds the maximum"):
        await FrameReader(right).receive_frame()


@pytest.mark.req("NET-2")
async def test_negative_prefix_is_refused(autojump_clock: MockClock) -> None:
    left, right = trio.testing.memory_stream_pair()
    await left.send_all(struct.pack(">i", -1) + b"junk")
    with pytest.raises(FrameSizeError, match="negative"):
        await FrameReader(right).receive_frame()


@pytest.mark.req("NET-2")
async def test_custom_maximum_is_enforced_on_both_sides(autojump_clock: MockClock) -> None:
    assert encode_frame(b"x" * 10, max_frame_size=10)
    with pytest.raises(FrameSizeError):
        encode_frame(b"x" * 11, max_frame_size=10)
    left, right = trio.testing.memory_stream_pair()
    with pytest.raises(FrameSizeError):
        await send_frame(left, b"x" * 11, max_frame_size=10)
    await send_frame(left, b"x" * 11)
    with pytest.raises(FrameSizeError):
        await FrameReader(right, max_frame_size=10).receive_frame()
    with pytest.raises(ReflogUsageError):
        FrameDecoder(max_frame_size=-1)
    with pytest.raises(ReflogUsageError):
        FrameReader(right, receive_size=0)


@pytest.mark.req("NET-2")
def test_decoder_fails_on_the_prefix_alone_and_stays_failed() -> None:
    decoder = FrameDecoder(max_frame_size=100)
    decoder.feed(encode_frame(b"ok"))
    decoder.feed(struct.pack(">i", 101))
    assert decoder.next_frame() == b"ok"
    with pytest.raises(FrameSizeError):
        decoder.next_frame()
    with pytest.raises(FrameSizeError):
        decoder.bytes_needed()
    assert decoder.take_raw() == struct.pack(">i", 101)
    with pytest.raises(FrameSizeError):
        decoder.next_frame()


@pytest.mark.req("NET-2")
def test_frame_errors_are_typed_reflog_errors() -> None:
    assert issubclass(FrameSizeError, FrameError)
    assert issubclass(FrameTruncatedError, FrameError)
    assert issubclass(FrameError, ReflogError)
    assert FrameError.error_code == 13 and FrameError.retriable


@pytest.mark.req("NET-3")
@pytest.mark.parametrize("cut", [1, 3, 4, 5, 9])
async def test_eof_in_the_middle_of_a_frame_is_an_error(autojump_clock: MockClock, cut: int) -> None:
    data = encode_frame(b"0123456789")[:cut]  # 14 bytes in all: cut in the prefix or in the payload
    left, right = trio.testing.memory_stream_pair()
    await left.send_all(data)
    await left.send_eof()
    with pytest.raises(FrameTruncatedError, match="EOF in the middle of a frame"):
        await FrameReader(right).receive_frame()


@pytest.mark.req("NET-3")
def test_decoder_check_eof() -> None:
    decoder = FrameDecoder()
    decoder.check_eof()
    decoder.feed(b"\x00\x00")
    with pytest.raises(FrameTruncatedError):
        decoder.check_eof()


payload_lists = st.lists(st.binary(max_size=300), max_size=12)
chunkings = st.lists(st.integers(min_value=1, max_value=50), max_size=200)


@pytest.mark.req("NET-4")
@given(payloads=payload_lists, chunks=chunkings)
def test_decoder_survives_arbitrary_chunking(payloads: list[bytes], chunks: list[int]) -> None:
    data = b"".join(encode_frame(p) for p in payloads)
    decoder = FrameDecoder()
    got: list[bytes] = []
    position = 0
    for size in [*chunks, len(data)]:
        decoder.feed(data[position : position + size])
        position += size
        while (frame := decoder.next_frame()) is not None:
            got.append(frame)
    assert got == payloads
    decoder.check_eof()


@pytest.mark.req("NET-4", "NET-2")
@given(payloads=payload_lists, chunks=chunkings, receive_size=st.integers(min_value=1, max_value=64))
async def test_reader_survives_arbitrary_chunking_and_never_over_reads(
    payloads: list[bytes], chunks: list[int], receive_size: int
) -> None:
    # No clock fixture here (Hypothesis reruns the body; function fixtures are not reset): nothing sleeps.
    data = b"".join(encode_frame(p) for p in payloads)
    stream = ChunkedStream(data, chunks)
    reader = FrameReader(stream, receive_size=receive_size)
    got: list[bytes] = []
    while (frame := await reader.receive_frame()) is not None:
        got.append(frame)
        # exact reads: once a frame is returned, nothing of the next frame has been read
        assert reader._decoder.buffered == 0
    assert got == payloads
    assert all(r is not None and 1 <= r <= receive_size for r in stream.requests)


@pytest.mark.req("NET-5")
async def test_cancelled_receive_frame_loses_nothing(autojump_clock: trio.testing.MockClock) -> None:
    left, right = trio.testing.memory_stream_pair()
    reader = FrameReader(right)
    frame = encode_frame(b"partial then whole")
    await left.send_all(frame[:7])
    with trio.move_on_after(1) as scope:
        await reader.receive_frame()
    assert scope.cancelled_caught
    await left.send_all(frame[7:])
    assert await reader.receive_frame() == b"partial then whole"
