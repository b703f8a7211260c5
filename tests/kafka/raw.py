"""A raw Kafka-protocol client for tests: one blocking socket, kafka-python's message classes."""

from __future__ import annotations

import socket
import ssl
import struct
import warnings
from typing import Any

from reflog.bench.fetch import fetch_message

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    from kafka.protocol.metadata import ApiVersionsRequest  # type: ignore[import-untyped]  # noqa: F401


class RawClient:
    def __init__(
        self, address: tuple[str, int], timeout: float = 10.0, tls: ssl.SSLContext | None = None
    ) -> None:
        sock = socket.create_connection(address, timeout=timeout)
        self.sock = sock if tls is None else tls.wrap_socket(sock, server_hostname="localhost")
        self.correlation = 0

    def send_bytes(self, data: bytes) -> None:
        self.sock.sendall(data)

    def request(self, message: Any, version: int) -> bytes:
        """Send ``message`` at ``version``; return the response payload after the correlation id."""
        self.correlation += 1
        message.with_header(correlation_id=self.correlation, client_id="raw")
        self.sock.sendall(bytes(message.encode(version=version, header=True, framed=True)))
        payload = self.receive()
        assert payload is not None, "connection closed"
        (correlation,) = struct.unpack_from(">i", payload)
        assert correlation == self.correlation
        return payload[4:]

    def receive(self) -> bytes | None:
        """One response frame's payload, or ``None`` if the broker closed the connection."""
        header = self._exactly(4)
        if header is None:
            return None
        (size,) = struct.unpack(">i", header)
        return self._exactly(size)

    def _exactly(self, n: int) -> bytes | None:
        chunks = b""
        while len(chunks) < n:
            try:
                chunk = self.sock.recv(n - len(chunks))
            except ConnectionResetError:
                return None
            if not chunk:
                return None
            chunks += chunk
        return chunks

    def closed_by_peer(self) -> bool:
        return self.receive() is None

    def close(self) -> None:
        self.sock.close()


def fetch_request(topic: str, offset: int = 0, max_bytes: int = 1 << 20) -> Any:
    """A consumer's Fetch v11 request for partition 0 of ``topic`` (no waiting)."""
    return fetch_message(topic, offset, max_bytes)
