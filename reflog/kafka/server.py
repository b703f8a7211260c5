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

TLS: :func:`server_ssl_context` loads the certificate chain and key from files; with a CA file
it requires client certificates (``ssl.client.auth=required``), so a client without a valid one
fails the handshake before any request is read.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Callable
from typing import Final

import trio

from reflog.errors import ReflogUsageError
from reflog.kafka.apis import KafkaApis, WithPayloads
from reflog.kafka.codec import (
    MalformedRequestError,
    UnsupportedVersionError,
    decode_request,
    encode_response,
    unsupported_api_versions_response,
)
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
from reflog.net.framing import FrameReader

log = logging.getLogger(__name__)

#: Kafka's default ``socket.request.max.bytes``.
SOCKET_REQUEST_MAX_BYTES: Final = 100 * 1024 * 1024


class ConnectionStats:
    """Counters a test or the CLI can read: connections, requests, and why connections closed."""

    def __init__(self) -> None:
        self.connections = 0
        self.requests = 0
        self.closed_for: dict[str, int] = {}

    def closed(self, reason: str) -> None:
        self.closed_for[reason] = self.closed_for.get(reason, 0) + 1


async def serve_connection(
    stream: trio.abc.Stream,
    apis: KafkaApis,
    is_up: Callable[[], bool],
    *,
    max_request_size: int = SOCKET_REQUEST_MAX_BYTES,
    stats: ConnectionStats | None = None,
) -> None:
    """Serve one client connection until it closes or misbehaves; never raises (except Cancelled)."""
    stats = stats or ConnectionStats()
    stats.connections += 1
    reader = FrameReader(stream, max_frame_size=max_request_size)
    sender = sender_for(stream, apis.transfer, apis.transfer_metrics)
    reason = "eof"
    try:
        while True:
            if not is_up():
                reason = "broker down"
                return
            payload = await reader.receive_frame()
            if payload is None:
                return
            if not is_up():
                reason = "broker down"
                return
            stats.requests += 1
            try:
                request = decode_request(payload)
            except UnsupportedVersionError as exc:
                if exc.api_key == ApiKey.API_VERSIONS:
                    await sender.send([unsupported_api_versions_response(exc.correlation_id, ADVERTISED)])
                    continue
                reason = "unsupported version"
                log.info("closing a connection: %s", exc)
                return
            body = await apis.handle(request)
            if body is not None:
                await sender.send(_response_parts(request.correlation_id, request.version, body))
    except MalformedRequestError as exc:
        reason = "malformed request"
        log.info("closing a connection: %s", exc)
    except FrameSizeError as exc:
        reason = "oversized frame"
        log.info("closing a connection: %s", exc)
    except FrameTruncatedError:
        reason = "truncated frame"
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
        stats.closed(reason)
        await trio.aclose_forcefully(stream)


def _response_parts(correlation_id: int, version: int, body: object) -> list[Part]:
    if isinstance(body, WithPayloads):
        encoded = bytes(body.body.encode(version=version))
        return frame_parts(correlation_id, split_payloads(encoded, body.payloads))
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
) -> int:
    """Start serving Kafka clients on ``host:port`` in ``nursery``; returns the bound port."""
    if (ssl_context is not None) != (apis.transfer is TransferMode.TLS):
        raise ReflogUsageError("a TLS listener needs the tls transfer path, and the tls path a TLS context")
    listeners = await trio.open_tcp_listeners(port, host=host)
    bound = int(listeners[0].socket.getsockname()[1])

    async def handler(stream: trio.SocketStream) -> None:
        if ssl_context is None:
            await serve_connection(stream, apis, is_up, max_request_size=max_request_size, stats=stats)
            return
        # TLS over a transport that counts its send calls (the TLS path's metrics).
        transport = CountingSocketStream(stream, apis.transfer_metrics)
        tls = trio.SSLStream(transport, ssl_context, server_side=True, https_compatible=False)
        try:
            await tls.do_handshake()
        except (trio.BrokenResourceError, ssl.SSLError, OSError) as exc:
            log.info("TLS handshake refused: %s", exc)
            if stats is not None:
                stats.closed("tls handshake failed")
            await trio.aclose_forcefully(tls)
            return
        await serve_connection(tls, apis, is_up, max_request_size=max_request_size, stats=stats)

    nursery.start_soon(trio.serve_listeners, handler, listeners)
    return bound


__all__ = [
    "SOCKET_REQUEST_MAX_BYTES",
    "ConnectionStats",
    "open_kafka_listener",
    "serve_connection",
    "server_ssl_context",
]
