"""A small request/response layer over a framed stream, for the in-process simulated cluster.

Every message is one frame (:mod:`reflog.net.framing`) holding an envelope: a signed
32-bit big-endian correlation id, one kind byte (request, response, error), then the body
encoded by a :class:`Codec`. As in Kafka, the client picks the correlation id and the
server echoes it, so requests pipeline on one connection; unlike Kafka's broker, this
server answers in completion order, not request order (the client matches by id).

* :class:`RpcClient` ``call``\\ s with a timeout in (simulated) seconds; a missing response
  raises :class:`~reflog.net.errors.RpcTimeout`, a broken connection
  :class:`~reflog.net.errors.RpcConnectionError`, a remote handler's exception
  :class:`~reflog.net.errors.RemoteError`.
* :func:`serve_rpc` serves one connection, running each request's handler concurrently;
  a handler exception becomes an error response and never ends the server.
  :func:`serve_rpc_listener` serves every connection a listener accepts, each isolated.

Malformed input (bad framing, a body the codec cannot decode, an unknown kind) raises
:class:`~reflog.net.errors.RpcProtocolError` on the receiving side, which closes that
connection and only it.

The codec: :class:`PickleCodec` (the default) is acceptable only because every peer is
in the same process: unpickling runs arbitrary code, so it must never face a real socket.
The TCP path will speak the Kafka wire protocol instead (a separate issue).
"""

from __future__ import annotations

import itertools
import logging
import pickle
import struct
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Final, Protocol, TypeVar, final, overload

import trio

from reflog.errors import ReflogError, ReflogUsageError, error_code_for
from reflog.net._util import background
from reflog.net.errors import (
    FrameError,
    NetError,
    RemoteError,
    RpcConnectionError,
    RpcProtocolError,
    RpcTimeout,
)
from reflog.net.framing import DEFAULT_MAX_FRAME_SIZE, FrameReader, encode_frame
from reflog.requests import Request, expect_response

logger = logging.getLogger(__name__)
R = TypeVar("R")

#: A request handler: takes the decoded request, returns the response object.
Handler = Callable[[object], Awaitable[object]]

KIND_REQUEST: Final = 0
KIND_RESPONSE: Final = 1
KIND_ERROR: Final = 2
_KINDS: Final = frozenset({KIND_REQUEST, KIND_RESPONSE, KIND_ERROR})
_ENVELOPE: Final = struct.Struct(">iB")
_MAX_CORRELATION_ID: Final = 2**31 - 1


class Codec(Protocol):
    """Turns request and response objects into bytes and back."""

    def encode(self, obj: object) -> bytes:
        """The bytes for ``obj``; may raise any exception for an object it cannot encode."""
        ...

    def decode(self, data: bytes) -> object:
        """The object for ``data``; may raise any exception for malformed bytes."""
        ...


@final
class PickleCodec:
    """``pickle`` at the highest protocol: in-process simulation only (never decode untrusted bytes)."""

    def encode(self, obj: object) -> bytes:
        return pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)

    def decode(self, data: bytes) -> object:
        return pickle.loads(data)  # in-process peers only: see the module docstring


PICKLE_CODEC: Final = PickleCodec()


def encode_message(correlation_id: int, kind: int, body: bytes) -> bytes:
    """An envelope's bytes (the frame payload, without the size prefix)."""
    return _ENVELOPE.pack(correlation_id, kind) + body


def decode_message(payload: bytes) -> tuple[int, int, bytes]:
    """``(correlation id, kind, body)`` of a frame payload; raises :class:`RpcProtocolError`."""
    if len(payload) < _ENVELOPE.size:
        raise RpcProtocolError(f"RPC message of {len(payload)} bytes is shorter than its header")
    correlation_id, kind = _ENVELOPE.unpack_from(payload)
    if kind not in _KINDS:
        raise RpcProtocolError(f"unknown RPC message kind {kind} (correlation id {correlation_id})")
    return int(correlation_id), int(kind), payload[_ENVELOPE.size :]


def _decode_body(codec: Codec, body: bytes, what: str) -> object:
    try:
        return codec.decode(body)
    except Exception as exc:
        raise RpcProtocolError(f"undecodable {what} body ({type(exc).__name__}: {exc})") from exc


#: Longest remote error message sent back (longer ones are cut).
MAX_ERROR_MESSAGE: Final = 4096


def _error_body(exc: BaseException) -> tuple[str, str, int, bool]:
    retriable = exc.retriable if isinstance(exc, ReflogError) else False
    return (type(exc).__name__, str(exc)[:MAX_ERROR_MESSAGE], int(error_code_for(exc)), retriable)


def _remote_error(value: object) -> RemoteError:
    match value:
        case (str() as name, str() as message, int() as code, bool() as retriable):
            return RemoteError(name, message, remote_error_code=code, remote_retriable=retriable)
    raise RpcProtocolError(f"malformed error response body {value!r:.80}")


# ---- server ------------------------------------------------------------------------------


async def serve_rpc(
    stream: trio.abc.Stream,
    handler: Handler,
    *,
    codec: Codec = PICKLE_CODEC,
    max_frame_size: int = DEFAULT_MAX_FRAME_SIZE,
) -> None:
    """Serve requests arriving on ``stream`` until the peer goes away; always closes ``stream``.

    Each request runs ``await handler(request)`` in its own task, so requests are handled
    concurrently and answered as they complete, each response carrying its request's
    correlation id. An ``Exception`` from the handler (or a response that cannot be encoded
    or framed) is sent back as an error response, which the client raises as
    :class:`RemoteError`; it never ends the server.

    Returns normally when the peer closes the connection (EOF) or it breaks; handlers still
    running are then cancelled. Raises :class:`RpcProtocolError` (after closing ``stream``)
    when the peer breaks the framing or sends a malformed envelope or body; only this
    connection is affected.

    Cancellation: cancels the running handlers, closes ``stream`` and propagates.
    """
    reader = FrameReader(stream, max_frame_size=max_frame_size)
    send_lock = trio.Lock()
    protocol_error: RpcProtocolError | None = None

    async def respond(nursery: trio.Nursery, correlation_id: int, request: object) -> None:
        try:
            message = encode_message(correlation_id, KIND_RESPONSE, codec.encode(await handler(request)))
            frame = encode_frame(message, max_frame_size=max_frame_size)
        except Exception as exc:
            try:
                message = encode_message(correlation_id, KIND_ERROR, codec.encode(_error_body(exc)))
                frame = encode_frame(message, max_frame_size=max_frame_size)
            except Exception as fatal:  # a codec that cannot encode four plain values, or a tiny limit
                logger.error("cannot send the error response to request #%d: %r", correlation_id, fatal)
                return
        try:
            async with send_lock:
                await stream.send_all(frame)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            nursery.cancel_scope.cancel()  # the peer is gone: stop serving

    try:
        async with trio.open_nursery() as nursery:
            while True:
                try:
                    payload = await reader.receive_frame()
                except FrameError as exc:
                    protocol_error = RpcProtocolError(f"bad framing from the client: {exc}")
                    protocol_error.__cause__ = exc
                    break
                except (trio.BrokenResourceError, trio.ClosedResourceError):
                    break
                if payload is None:
                    break
                try:
                    correlation_id, kind, body = decode_message(payload)
                    if kind != KIND_REQUEST:
                        raise RpcProtocolError(f"client sent message kind {kind}, expected a request")
                    request = _decode_body(codec, body, "request")
                except RpcProtocolError as exc:
                    protocol_error = exc
                    break
                nursery.start_soon(respond, nursery, correlation_id, request)
            nursery.cancel_scope.cancel()
    finally:
        with trio.CancelScope(shield=True):
            await trio.aclose_forcefully(stream)
    if protocol_error is not None:
        raise protocol_error


async def serve_rpc_listener(
    listener: trio.abc.Listener[trio.abc.Stream],
    handler: Handler,
    *,
    codec: Codec = PICKLE_CODEC,
    max_frame_size: int = DEFAULT_MAX_FRAME_SIZE,
    on_error: Callable[[NetError], None] | None = None,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Accept connections from ``listener`` and :func:`serve_rpc` each in its own task.

    A connection that breaks the protocol is closed alone: its :class:`NetError` goes to
    ``on_error`` (default: logged as a warning) and the other connections and the accept
    loop carry on. Stops accepting when the listener is closed (``trio.ClosedResourceError``
    from ``accept``), then waits for the open connections to end. Use with
    ``await nursery.start(serve_rpc_listener, listener, handler)``; cancellation closes
    every connection.
    """

    async def serve_one(stream: trio.abc.Stream) -> None:
        try:
            await serve_rpc(stream, handler, codec=codec, max_frame_size=max_frame_size)
        except NetError as exc:
            if on_error is not None:
                on_error(exc)
            else:
                logger.warning("closed an RPC connection: %s", exc)

    async with trio.open_nursery() as nursery:
        task_status.started()
        while True:
            try:
                stream = await listener.accept()
            except trio.ClosedResourceError:
                return
            nursery.start_soon(serve_one, stream)


# ---- client ------------------------------------------------------------------------------


@final
class _Call:
    __slots__ = ("done", "error", "result")

    def __init__(self) -> None:
        self.done = trio.Event()
        self.result: object = None
        self.error: BaseException | None = None


@final
class RpcClient:
    """The client end of an RPC connection over ``stream`` (which it owns and closes).

    A reader task, :meth:`run`, must be running for responses to be read: use
    ``async with RpcClient.open(stream) as client`` or ``await nursery.start(client.run)``.
    Any number of tasks may :meth:`call` concurrently; requests pipeline and responses are
    matched by correlation id, in any order. Once the connection fails (EOF, broken stream,
    protocol error, :meth:`aclose`, the reader task ending), every pending and future call
    raises :class:`RpcConnectionError` (or its subclass :class:`RpcProtocolError`) and the
    stream is closed. A response to a call that already timed out is discarded and
    counted in :attr:`ignored_responses`.
    """

    def __init__(
        self,
        stream: trio.abc.Stream,
        *,
        codec: Codec = PICKLE_CODEC,
        max_frame_size: int = DEFAULT_MAX_FRAME_SIZE,
    ) -> None:
        self._stream = stream
        self._codec = codec
        self._max_frame_size = max_frame_size
        self._send_lock = trio.Lock()
        self._pending: dict[int, _Call] = {}
        self._ids = itertools.count()
        self._failure: tuple[type[RpcConnectionError], str, BaseException | None] | None = None
        self._reader_scope: trio.CancelScope | None = None
        self._running = False
        self.ignored_responses = 0

    @classmethod
    @asynccontextmanager
    async def open(
        cls,
        stream: trio.abc.Stream,
        *,
        codec: Codec = PICKLE_CODEC,
        max_frame_size: int = DEFAULT_MAX_FRAME_SIZE,
    ) -> AsyncIterator[RpcClient]:
        """A client with its reader running for the block; closed (and its stream) on exit."""
        client = cls(stream, codec=codec, max_frame_size=max_frame_size)
        async with background(client.run):
            yield client

    @property
    def closed(self) -> bool:
        """True once the connection failed or was closed."""
        return self._failure is not None

    @property
    def pending(self) -> int:
        """Calls waiting for their response."""
        return len(self._pending)

    @overload
    async def call(self, request: Request[R], *, timeout: float) -> R: ...
    @overload
    async def call(self, request: object, *, timeout: float) -> object: ...
    async def call(self, request: object, *, timeout: float) -> object:
        """Send ``request`` and return the response object.

        A typed :class:`~reflog.requests.Request` returns its response class, checked:
        a response of another class raises :class:`RpcProtocolError` (the connection stays
        usable). Any other picklable value is sent and answered as is.

        Raises :class:`RpcTimeout` when no response arrived within ``timeout`` seconds of
        trio's clock (the connection stays usable), :class:`RemoteError` when the handler
        raised, :class:`RpcConnectionError` when the connection failed before the response,
        :class:`~reflog.net.errors.FrameSizeError` for a request above ``max_frame_size``,
        and :class:`~reflog.errors.ReflogUsageError` for a negative timeout or a request the
        codec cannot encode (nothing is sent then).

        Cancellation: the call is abandoned (a late response is discarded). If the
        cancellation interrupts the stream's ``send_all`` midway, the stream may hold half
        a frame, so the connection is failed and closed; the simulated network's streams
        are atomic, so there a cancelled send sent nothing.
        """
        if not timeout >= 0:
            raise ReflogUsageError(f"timeout must be >= 0 seconds, got {timeout}")
        correlation_id, frame = await self._request_frame(request)
        call = self._pending[correlation_id] = _Call()
        try:
            with trio.move_on_after(timeout):
                await self._send(frame)
                await call.done.wait()
            if not call.done.is_set():
                raise RpcTimeout(f"no response to request #{correlation_id} within {timeout} s")
            if call.error is not None:
                raise call.error
            if isinstance(request, Request):
                return expect_response(request, call.result)
            return call.result
        finally:
            self._pending.pop(correlation_id, None)

    async def send(self, request: object) -> None:
        """Send ``request`` without waiting for a response (Kafka's ``acks=0`` produce).

        Returns once the frame is written to the stream. A response the server sends anyway is
        discarded and counted in :attr:`ignored_responses`. Raises :class:`RpcConnectionError`
        when the connection has failed or breaks during the write, and
        :class:`~reflog.errors.ReflogUsageError` for a request the codec cannot encode.
        """
        _, frame = await self._request_frame(request)
        await self._send(frame)

    async def _request_frame(self, request: object) -> tuple[int, bytes]:
        """A new correlation id and the framed request; raises as :meth:`call` and :meth:`send` say."""
        if self._failure is not None:
            await trio.lowlevel.checkpoint()
            raise self._failure_error()
        try:
            body = self._codec.encode(request)
        except Exception as exc:
            raise ReflogUsageError(f"the request cannot be encoded: {type(exc).__name__}: {exc}") from exc
        correlation_id = self._next_id()
        frame = encode_frame(
            encode_message(correlation_id, KIND_REQUEST, body), max_frame_size=self._max_frame_size
        )
        return correlation_id, frame

    async def aclose(self) -> None:
        """Fail every pending call with :class:`RpcConnectionError` and close the stream (idempotent)."""
        self._fail(RpcConnectionError, "the RPC client was closed", None)
        await trio.aclose_forcefully(self._stream)

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Read responses until the connection fails; then fail pending calls and close the stream.

        Returns normally in every case (the failure is reported to the callers). Raises
        :class:`~reflog.errors.ReflogUsageError` if started twice. Cancellation ends it the
        same way (pending calls get :class:`RpcConnectionError`).
        """
        if self._running:
            raise ReflogUsageError("RpcClient.run is already running")
        self._running = True
        failure: tuple[type[RpcConnectionError], str, BaseException | None] = (
            RpcConnectionError,
            "the RPC client's reader stopped",
            None,
        )
        try:
            with trio.CancelScope() as scope:
                self._reader_scope = scope
                task_status.started()
                failure = await self._read_loop(
                    FrameReader(self._stream, max_frame_size=self._max_frame_size)
                )
        finally:
            self._fail(*failure)
            with trio.CancelScope(shield=True):
                await trio.aclose_forcefully(self._stream)

    # ---- internals ---------------------------------------------------------------------

    def _next_id(self) -> int:
        while True:
            correlation_id = next(self._ids) % (_MAX_CORRELATION_ID + 1)
            if correlation_id not in self._pending:
                return correlation_id

    async def _send(self, frame: bytes) -> None:
        async with self._send_lock:
            if self._failure is not None:
                raise self._failure_error()
            # Any cancellation lands here, before a single byte is written.
            await trio.lowlevel.checkpoint_if_cancelled()
            try:
                await self._stream.send_all(frame)
            except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
                self._fail(RpcConnectionError, "the connection broke while sending", exc)
                raise self._failure_error() from exc
            except trio.Cancelled:
                self._fail(
                    RpcConnectionError, "a send was cancelled midway; the stream state is unknown", None
                )
                with trio.CancelScope(shield=True):
                    await trio.aclose_forcefully(self._stream)
                raise

    async def _read_loop(
        self, reader: FrameReader
    ) -> tuple[type[RpcConnectionError], str, BaseException | None]:
        while True:
            try:
                payload = await reader.receive_frame()
            except FrameError as exc:
                return (RpcProtocolError, f"bad framing from the server: {exc}", exc)
            except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
                return (RpcConnectionError, "the connection broke", exc)
            if payload is None:
                return (RpcConnectionError, "the server closed the connection", None)
            try:
                self._dispatch(payload)
            except RpcProtocolError as exc:
                return (RpcProtocolError, str(exc), exc)

    def _dispatch(self, payload: bytes) -> None:
        correlation_id, kind, body = decode_message(payload)
        if kind == KIND_REQUEST:
            raise RpcProtocolError(f"server sent a request (correlation id {correlation_id})")
        value = _decode_body(self._codec, body, "response")
        error = _remote_error(value) if kind == KIND_ERROR else None
        call = self._pending.get(correlation_id)
        if call is None or call.done.is_set():
            self.ignored_responses += 1
            return
        call.result, call.error = value, error
        call.done.set()

    def _fail(self, kind: type[RpcConnectionError], message: str, cause: BaseException | None) -> None:
        if self._failure is not None:
            return
        self._failure = (kind, message, cause)
        for call in self._pending.values():
            if not call.done.is_set():
                call.error = self._failure_error()
                call.done.set()
        if self._reader_scope is not None:
            self._reader_scope.cancel()

    def _failure_error(self) -> RpcConnectionError:
        assert self._failure is not None
        kind, message, cause = self._failure
        error = kind(message)
        error.__cause__ = cause
        return error


__all__ = [
    "KIND_ERROR",
    "KIND_REQUEST",
    "KIND_RESPONSE",
    "PICKLE_CODEC",
    "Codec",
    "Handler",
    "PickleCodec",
    "RemoteError",
    "RpcClient",
    "RpcConnectionError",
    "RpcProtocolError",
    "RpcTimeout",
    "decode_message",
    "encode_message",
    "serve_rpc",
    "serve_rpc_listener",
]
