"""Kafka-protocol listeners on real TCP sockets, one per broker, plain or TLS (PRO-13..PRO-16).

:func:`serve_connection` runs one client connection: it reads one frame at a time (the size
limit ``socket.request.max.bytes`` is checked from the 4-byte prefix, before the payload is
buffered), decodes it, answers it, and only then reads the next, so responses go out in request
order (Kafka mutes a channel while its request is in flight, for the same reason). Whatever goes
wrong with one connection (a malformed, truncated or oversized frame, an unsupported API, a TLS
failure, even a bug in a handler) is logged and closes *that connection only*; the listener and
every other connection keep serving. ApiVersions at an unsupported version is answered in the v0
format with ``UNSUPPORTED_VERSION`` and the table, so clients can step down (KIP-511).

A connection to a broker that is down (killed, powered off, halted) is closed at once: the
process behind the port is gone.

Bounded resources (PRO-40..PRO-47): a request naming more than ``max_partitions_per_request``
partitions closes its connection before it is decoded (:mod:`reflog.kafka.limits`); every
request's bytes are reserved in the process-wide :class:`~reflog.kafka.memory.RequestMemoryPool`
(``queued.max.request.bytes``) from its prefix until it is answered; a connection silent for
``connections.max.idle.ms`` (600000) is closed; a TLS client that does not finish its handshake
within ``tls_handshake_timeout_ms`` is dropped; a Fetch in flight watches its connection, so a
client that disconnects during a long poll releases it at once (the watch reads at most
:data:`READ_AHEAD` bytes of pipelined requests ahead, kept for the next frame). The accept loop
survives every ``accept`` error (``EMFILE``, ``ENFILE``, ``ENOBUFS``...): it logs, backs off
:data:`ACCEPT_BACKOFF` seconds and accepts again; an exception in a connection's task closes that
connection only.

TLS: :func:`server_ssl_context` loads the certificate chain and key from files; with a CA file
it requires client certificates (``ssl.client.auth=required``), so a client without a valid one
fails the handshake before any request is read.
"""

from __future__ import annotations

import collections
import logging
import ssl
import struct
from collections.abc import Awaitable, Callable
from typing import Final

import trio

from reflog.errors import ReflogUsageError
from reflog.kafka.apis import KafkaApis, Reply, WithPayloads
from reflog.kafka.codec import (
    DecodedRequest,
    MalformedRequestError,
    UnsupportedVersionError,
    decode_request,
    encode_response,
    flexible_response,
    unsupported_api_versions_response,
)
from reflog.kafka.limits import MAX_PARTITIONS_PER_REQUEST, TooManyPartitionsError, check_partition_entries
from reflog.kafka.memory import RequestMemoryPool
from reflog.kafka.transfer import (
    CountingSocketStream,
    Part,
    TransferMode,
    TruncatedRegionError,
    frame_parts,
    sender_for,
    split_payloads,
)
from reflog.kafka.versions import ADVERTISED, ApiKey
from reflog.net.errors import FrameSizeError, FrameTruncatedError

log = logging.getLogger(__name__)

#: Kafka's default ``socket.request.max.bytes``.
SOCKET_REQUEST_MAX_BYTES: Final = 100 * 1024 * 1024
#: Kafka's default ``connections.max.idle.ms``.
CONNECTIONS_MAX_IDLE_MS: Final = 600_000
#: reflog's bound on a TLS handshake (Kafka bounds it only by ``connections.max.idle.ms``).
TLS_HANDSHAKE_TIMEOUT_MS: Final = 10_000
#: Bytes of pipelined requests a connection reads ahead while it watches a Fetch in flight.
READ_AHEAD: Final = 8 * 1024
#: Seconds the accept loop waits after an ``accept`` error (trio's ``serve_listeners`` waits 0.1).
ACCEPT_BACKOFF: Final = 0.1
#: Largest single receive.
_RECEIVE_SIZE: Final = 64 * 1024
_SIZE: Final = struct.Struct(">i")


class ConnectionStats:
    """Counters a test or the CLI can read: connections, requests, and why connections closed."""

    def __init__(self) -> None:
        self.connections = 0
        self.requests = 0
        #: Connections open now, and ``accept`` calls that failed (and were retried).
        self.open = 0
        self.accept_errors = 0
        self.closed_for: dict[str, int] = {}
        #: Requests decoded and served, by ``(api_key, version)``: what clients negotiated (PRO-64).
        self.by_api: collections.Counter[tuple[int, int]] = collections.Counter()

    def closed(self, reason: str) -> None:
        self.closed_for[reason] = self.closed_for.get(reason, 0) + 1


class _IdleError(Exception):
    """No byte arrived for ``connections.max.idle.ms``."""


class _RequestReader:
    """Reads request frames from one connection: exact reads, each under the idle timeout.

    :meth:`receive_size` reads and checks the 4-byte prefix (:class:`FrameSizeError` for a
    negative or oversized one, before any payload is read), :meth:`receive_payload` the payload.
    :meth:`watch_for_close` returns when the peer closes; the bytes it reads meanwhile (at most
    :data:`READ_AHEAD`) are the start of the next frame and are read first.
    """

    def __init__(self, stream: trio.abc.ReceiveStream, max_size: int, idle_seconds: float) -> None:
        self._stream = stream
        self._max = max_size
        self._idle = idle_seconds
        self._ahead = bytearray()
        self._eof = False

    async def _receive(self, want: int) -> bytes:
        if self._ahead:
            data = bytes(self._ahead[:want])
            del self._ahead[:want]
            return data
        if self._eof:
            return b""
        with trio.move_on_after(self._idle) as scope:
            data = bytes(await self._stream.receive_some(min(want, _RECEIVE_SIZE)))
        if scope.cancelled_caught:
            raise _IdleError(f"no bytes for {self._idle:g} s")
        return data

    async def _exactly(self, n: int) -> bytes | None:
        """``n`` bytes; ``None`` at EOF before the first; :class:`FrameTruncatedError` after it."""
        if n == 0:
            return b""
        first = await self._receive(n)
        if len(first) == n or not first:  # the common case: one receive, no copy
            return first or None
        chunks = bytearray(first)
        while len(chunks) < n:
            data = await self._receive(n - len(chunks))
            if not data:
                if not chunks:
                    return None
                raise FrameTruncatedError(f"EOF in the middle of a frame ({len(chunks)} of {n} bytes)")
            chunks += data
        return bytes(chunks)

    async def receive_size(self) -> int | None:
        """The next frame's size, or ``None`` on a clean EOF between frames."""
        header = await self._exactly(4)
        if header is None:
            return None
        (size,) = _SIZE.unpack(header)
        if size < 0:
            raise FrameSizeError(f"negative frame size {size}")
        if size > self._max:
            raise FrameSizeError(f"frame size {size} exceeds the maximum of {self._max}")
        return int(size)

    async def receive_payload(self, size: int) -> bytes:
        payload = await self._exactly(size)
        if payload is None and size:
            raise FrameTruncatedError("EOF right after a frame's size")
        return payload or b""

    async def watch_for_close(self) -> None:
        """Return once the peer has closed or broken the connection; never raises."""
        while len(self._ahead) < READ_AHEAD:
            try:
                data = await self._stream.receive_some(READ_AHEAD - len(self._ahead))
            except (trio.BrokenResourceError, trio.ClosedResourceError, ssl.SSLError, OSError):
                return
            if not data:
                self._eof = True
                return
            self._ahead += data
        await trio.sleep_forever()  # too much pipelined to watch further: the wait cap bounds the rest


async def _handle_watching(
    apis: KafkaApis, request: DecodedRequest, reader: _RequestReader
) -> tuple[Reply, bool]:
    """``(response body, client gone)``: a Fetch that may wait is cancelled if its client leaves."""
    if request.api_key is not ApiKey.FETCH or request.body.max_wait_ms <= 0:
        return await apis.handle(request), False
    outcome: list[Reply] = []
    gone = False
    async with trio.open_nursery() as nursery:

        async def run() -> None:
            outcome.append(await apis.handle(request))
            nursery.cancel_scope.cancel()

        async def watch() -> None:
            nonlocal gone
            await reader.watch_for_close()
            gone = True
            nursery.cancel_scope.cancel()

        nursery.start_soon(run)
        nursery.start_soon(watch)
    if outcome:
        return outcome[0], False
    return None, gone


async def serve_connection(
    stream: trio.abc.Stream,
    apis: KafkaApis,
    is_up: Callable[[], bool],
    *,
    max_request_size: int = SOCKET_REQUEST_MAX_BYTES,
    stats: ConnectionStats | None = None,
    connections_max_idle_ms: int = CONNECTIONS_MAX_IDLE_MS,
    max_partitions_per_request: int = MAX_PARTITIONS_PER_REQUEST,
    memory: RequestMemoryPool | None = None,
) -> None:
    """Serve one client connection until it closes or misbehaves; never raises (except Cancelled)."""
    stats = stats or ConnectionStats()
    memory = memory or RequestMemoryPool(-1)
    stats.connections += 1
    stats.open += 1
    reader = _RequestReader(stream, max_request_size, connections_max_idle_ms / 1000)
    sender = sender_for(stream, apis.transfer, apis.transfer_metrics)
    reason = "eof"
    try:
        while True:
            if not is_up():
                reason = "broker down"
                return
            size = await reader.receive_size()
            if size is None:
                return
            async with memory.reserve(size):
                payload = await reader.receive_payload(size)
                if not is_up():
                    reason = "broker down"
                    return
                stats.requests += 1
                check_partition_entries(payload, max_partitions_per_request)
                try:
                    request = decode_request(payload)
                except UnsupportedVersionError as exc:
                    if exc.api_key == ApiKey.API_VERSIONS:
                        await sender.send([unsupported_api_versions_response(exc.correlation_id, ADVERTISED)])
                        continue
                    reason = "unsupported version"
                    log.info("closing a connection: %s", exc)
                    return
                del payload
                stats.by_api[(request.api_key, request.version)] += 1
                body, gone = await _handle_watching(apis, request, reader)
            if gone:
                reason = "client gone"
                return
            if body is not None:
                await sender.send(_response_parts(request.correlation_id, request.version, body))
    except MalformedRequestError as exc:
        reason = "malformed request"
        log.info("closing a connection: %s", exc)
    except TooManyPartitionsError as exc:
        reason = "too many partitions"
        log.info("closing a connection: %s", exc)
    except FrameSizeError as exc:
        reason = "oversized frame"
        log.info("closing a connection: %s", exc)
    except FrameTruncatedError:
        reason = "truncated frame"
    except _IdleError as exc:
        reason = "idle"
        log.info("closing an idle connection: %s", exc)
    except TruncatedRegionError as exc:
        reason = "log truncated under a fetch"
        log.info("closing a connection: %s", exc)
    except (trio.BrokenResourceError, trio.ClosedResourceError, ssl.SSLError, OSError) as exc:
        reason = "transport error"
        log.info("connection lost: %s", exc)
    except Exception:  # a handler bug must not take down the broker; the client sees a closed socket
        reason = "internal error"
        log.exception("closing a connection after an internal error")
    finally:
        stats.open -= 1
        stats.closed(reason)
        await trio.aclose_forcefully(stream)


def _response_parts(correlation_id: int, version: int, body: object) -> list[Part]:
    if isinstance(body, WithPayloads):
        encoded = bytes(body.body.encode(version=version))
        flexible = flexible_response(ApiKey(body.body.API_KEY), version)
        parts = split_payloads(encoded, body.payloads, compact=flexible)
        return frame_parts(correlation_id, parts, flexible=flexible)
    return [encode_response(correlation_id, version, body)]


def server_ssl_context(certfile: str, keyfile: str, cafile: str | None = None) -> ssl.SSLContext:
    """A server TLS context; with ``cafile``, client certificates signed by it are required."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(certfile, keyfile)
    if cafile is not None:
        context.load_verify_locations(cafile)
        context.verify_mode = ssl.CERT_REQUIRED
    return context


async def open_kafka_listener(
    nursery: trio.Nursery,
    apis: KafkaApis,
    is_up: Callable[[], bool],
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    ssl_context: ssl.SSLContext | None = None,
    max_request_size: int = SOCKET_REQUEST_MAX_BYTES,
    stats: ConnectionStats | None = None,
    connections_max_idle_ms: int = CONNECTIONS_MAX_IDLE_MS,
    tls_handshake_timeout_ms: int = TLS_HANDSHAKE_TIMEOUT_MS,
    max_partitions_per_request: int = MAX_PARTITIONS_PER_REQUEST,
    memory: RequestMemoryPool | None = None,
) -> int:
    """Start serving Kafka clients on ``host:port`` in ``nursery``; returns the bound port.

    ``memory`` is shared by every listener of the process (one is made if none is given).
    """
    if (ssl_context is not None) != (apis.transfer is TransferMode.TLS):
        raise ReflogUsageError("a TLS listener needs the tls transfer path, and the tls path a TLS context")
    listeners = await trio.open_tcp_listeners(port, host=host)
    bound = int(listeners[0].socket.getsockname()[1])
    stats = stats if stats is not None else ConnectionStats()
    memory = memory if memory is not None else RequestMemoryPool()

    async def serve(stream: trio.abc.Stream) -> None:
        await serve_connection(
            stream,
            apis,
            is_up,
            max_request_size=max_request_size,
            stats=stats,
            connections_max_idle_ms=connections_max_idle_ms,
            max_partitions_per_request=max_partitions_per_request,
            memory=memory,
        )

    async def handler(stream: trio.SocketStream) -> None:
        if ssl_context is None:
            await serve(stream)
            return
        # TLS over a transport that counts its send calls (the TLS path's metrics).
        transport = CountingSocketStream(stream, apis.transfer_metrics)
        tls = trio.SSLStream(transport, ssl_context, server_side=True, https_compatible=False)
        reason = None
        with trio.move_on_after(tls_handshake_timeout_ms / 1000) as scope:
            try:
                await tls.do_handshake()
            except (trio.BrokenResourceError, trio.ClosedResourceError, ssl.SSLError, OSError) as exc:
                log.info("TLS handshake refused: %s", exc)
                reason = "tls handshake failed"
        if scope.cancelled_caught:
            log.info("TLS handshake not done within %d ms: dropping the connection", tls_handshake_timeout_ms)
            reason = "tls handshake timeout"
        if reason is not None:
            stats.closed(reason)
            await trio.aclose_forcefully(tls)
            return
        await serve(tls)

    for listener in listeners:
        nursery.start_soon(_accept_loop, listener, handler, stats)
    return bound


async def _accept_loop(
    listener: trio.SocketListener,
    handler: Callable[[trio.SocketStream], Awaitable[None]],
    stats: ConnectionStats,
) -> None:
    """Accept connections for ever; an ``accept`` error backs off and retries, never ends the loop."""
    async with listener, trio.open_nursery() as connections:
        while True:
            try:
                stream = await listener.accept()
            except trio.ClosedResourceError:
                return
            except OSError as exc:  # EMFILE, ENFILE, ENOBUFS, ENOMEM, and any other accept error
                stats.accept_errors += 1
                log.warning("accept failed (%s): retrying in %.1f s", exc, ACCEPT_BACKOFF)
                await trio.sleep(ACCEPT_BACKOFF)
                continue
            connections.start_soon(_connection, stream, handler, stats)


async def _connection(
    stream: trio.SocketStream, handler: Callable[[trio.SocketStream], Awaitable[None]], stats: ConnectionStats
) -> None:
    """Run one connection's handler; whatever it raises closes that connection only."""
    try:
        await handler(stream)
    except Exception:
        stats.closed("internal error")
        log.exception("closing a connection after an internal error")
    finally:
        await trio.aclose_forcefully(stream)


__all__ = [
    "CONNECTIONS_MAX_IDLE_MS",
    "SOCKET_REQUEST_MAX_BYTES",
    "TLS_HANDSHAKE_TIMEOUT_MS",
    "ConnectionStats",
    "open_kafka_listener",
    "serve_connection",
    "server_ssl_context",
]
